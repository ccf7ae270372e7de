"""Smoke test: the checker against a real authoritative server (Debian nsd).

Skipped when nsd is not installed. Everything else runs against the
in-process dnslib server, which is much faster to start and to change.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import pytest

from postkamer.mail.dnsauth import check_domain, make_resolver
from tests.mail.dnsauth_zones import CASES, SMTP_IP, _zone_text, make_keys
from tests.servers.dns import worker_port

NSD = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)
DOMAIN = "good-imap.nl"

CONFIG = """\
server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    xfrdfile: "{d}/xfrd.state"
    zonelistfile: "{d}/zone.list"
    xfrdir: "{d}/xfr"
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: "{domain}"
    zonefile: "{domain}.zone"
"""


@pytest.fixture
def nsd_spec(tmp_path: Path) -> Iterator[str]:
    if NSD is None:
        pytest.skip("nsd is not installed")
    port = worker_port(54)
    keys = make_keys()
    case = next(c for c in CASES if c.domain == DOMAIN)

    def fill(text: str) -> str:
        for name, value in keys.items():
            text = text.replace("{" + name + "}", value)
        return text

    zone = (
        f"$ORIGIN {DOMAIN}.\n$TTL 300\n"
        f"@ IN SOA ns1.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 86400 300\n"
        f"@ IN NS ns1.{DOMAIN}.\nns1 IN A 127.0.0.1\n" + _zone_text(case, fill)
    )
    (tmp_path / f"{DOMAIN}.zone").write_text(zone)
    (tmp_path / "xfr").mkdir()
    config = tmp_path / "nsd.conf"
    config.write_text(CONFIG.format(port=port, d=tmp_path, domain=DOMAIN))
    process = subprocess.Popen(
        [NSD, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        resolver = make_resolver(f"127.0.0.1:{port}", timeout=0.2)
        deadline = time.monotonic() + 5
        while True:
            try:
                resolver.resolve(DOMAIN, "SOA")
                break
            except dns.exception.DNSException:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (tmp_path / "nsd.log").read_text()
                        if (tmp_path / "nsd.log").exists()
                        else ""
                    )
                    pytest.skip(f"nsd did not start: {log[-500:]}")
                time.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_good_domain_on_real_nsd(nsd_spec: str) -> None:
    report = check_domain(DOMAIN, smtp_host_ips=[SMTP_IP], resolver=make_resolver(nsd_spec))
    assert (report.spf.status, report.dkim.status, report.dmarc.status) == ("ok",) * 3, (
        report.to_dict()
    )
    assert report.spf.record == f"v=spf1 ip4:{SMTP_IP} -all"
