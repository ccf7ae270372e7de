"""A throwaway PostgreSQL cluster for the fetch benchmark (``run.py --postgres private``).

A server of its own, with PostgreSQL's stock settings, measures the fetch alone:
on a shared server other clients' WAL writes, commits and checkpoints land in
the same log and on the same disk, and its background processes work for them
too. ``initdb`` into a temp directory, ``postgres`` in the foreground on one
port, removed on :meth:`PrivatePostgres.close`. PostgreSQL refuses to run as
root: then the commands run as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def _bindir() -> Path:
    """The newest installed server's bin directory (Debian keeps them per version)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if not initdb:
        raise RuntimeError("PostgreSQL's initdb was not found")
    return Path(initdb).parent


class PrivatePostgres:
    """One PostgreSQL server on 127.0.0.1:``port`` in a temp directory."""

    def __init__(self, port: int, settings: list[str] | None = None) -> None:
        self.port = port
        #: Extra server settings, ``name=value`` each (``postgres -c``).
        self.settings = settings or []
        self.bindir = _bindir()
        self.workdir = Path(tempfile.mkdtemp(prefix="postkamer-bench-pg-"))
        self.data = self.workdir / "data"
        self._as_postgres = os.geteuid() == 0
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self, *args: str) -> list[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *command] if self._as_postgres else command

    def start(self, timeout: float = 30.0) -> None:
        """initdb (stock settings, trust on loopback) and start; waits until it answers."""
        if self._as_postgres:
            shutil.chown(self.workdir, "postgres")
        subprocess.run(
            self._command("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N"),
            check=True,
            capture_output=True,
        )
        self._proc = subprocess.Popen(
            self._command(
                "postgres",
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.workdir),
                "-c",
                "listen_addresses=127.0.0.1",
                *(arg for setting in self.settings for arg in ("-c", setting)),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if self._as_postgres:
            # runuser forks: the postmaster is its child.
            time.sleep(0.2)
        deadline = time.monotonic() + timeout
        while True:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the private PostgreSQL did not start")
            time.sleep(0.2)

    def close(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self._proc is not None:
            subprocess.run(
                self._command("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
                capture_output=True,
            )
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)
