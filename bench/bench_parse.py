"""Benchmark ``parse_message`` against Python's own ``email`` package.

Usage: ``python bench/bench_parse.py [--count 10000] [--full-count 1000] [--broken 2000]``

Three parsers read the same messages and give the same fields:

- ``fast``: ``postkamer.mail.mime.parse_message``;
- ``email``: the standard library alone (``bench/stdlib_reference.py``: ``email``
  with ``policy.default``, fields through its own API; the peer of the
  differential test), the figure to compare with;
- ``full``: ``parse_message_full``, our fallback (``email``'s MIME tree, our
  header rules).

Two corpora, each built in memory first (not timed):

1. Generated mail (``bench/corpus.py``, ~97 KB a message, mostly base64
   attachments): ``fast`` runs over all ``--count`` messages, the slow ones over
   the first ``--full-count``; throughput figures are comparable since both
   subsets share the same mix.
2. Mail nobody here wrote (``bench/thirdparty.py``: the messages in
   ``tests/mail/corpus/`` plus ``--broken`` seeded damaged copies of them): all
   three run over all of it.

Every figure is the best of ``--repeat`` runs (the machine is shared); ratios
are given for wall-clock and CPU time.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import thirdparty
from bench.corpus import generate
from bench.stdlib_reference import reference
from postkamer.mail.mime import parse_message, parse_message_full


def _email(raw: bytes) -> Any:
    reference(raw)
    return SimpleNamespace(problems=[])


PARSERS: dict[str, Callable[[bytes], Any]] = {
    "fast": parse_message,
    "email": _email,
    "full": parse_message_full,
}


def _run(fn: Callable[[bytes], Any], msgs: list[bytes]) -> tuple[float, Counter[str], float]:
    """Parse all ``msgs``; return (wall seconds, problem counts, CPU seconds)."""
    problems: Counter[str] = Counter()
    gc.collect()
    c = time.process_time()
    t = time.perf_counter()
    for raw in msgs:
        problems.update(fn(raw).problems)
    return time.perf_counter() - t, problems, time.process_time() - c


def _best(fn: Callable[[bytes], Any], msgs: list[bytes], repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeat`` runs."""
    runs = [_run(fn, msgs) for _ in range(max(1, repeat))]
    return min(r[0] for r in runs), min(r[2] for r in runs)


def _compare(msgs: list[bytes], repeat: int, note: str) -> None:
    size = sum(map(len, msgs))
    times = {name: _best(fn, msgs, repeat) for name, fn in PARSERS.items()}
    for name, (wall, cpu) in times.items():
        print(
            f"{name:6}: {len(msgs) / wall:9.0f} msg/s {size / 1e6 / wall:8.1f} MB/s "
            f"{wall * 1e3 / len(msgs):.3f} ms/msg  cpu {cpu:.2f} s  {note}"
        )
    fast = times["fast"]
    for peer in ("email", "full"):
        wall, cpu = times[peer]
        print(
            f"ratio : fast is {wall / fast[0]:.0f}x faster (wall), {cpu / fast[1]:.0f}x (cpu)"
            f" than {peer} on the same {len(msgs)} messages"
        )


def generated(args: argparse.Namespace) -> None:
    """The parsers over the generated corpus."""
    t = time.perf_counter()
    msgs = list(generate(args.count, args.seed))
    size = sum(map(len, msgs))
    print(
        f"generated corpus: {len(msgs)} messages, {size / 1e6:.1f} MB, "
        f"made in {time.perf_counter() - t:.1f} s"
    )
    runs = [_run(parse_message, msgs) for _ in range(max(1, args.repeat))]
    fast_s = min(r[0] for r in runs)
    print(f"fast runs (wall): {', '.join(f'{r[0]:.2f}' for r in runs)} s")
    print(f"fast runs (cpu) : {', '.join(f'{r[2]:.2f}' for r in runs)} s")
    print(
        f"fast  : {len(msgs) / fast_s:9.0f} msg/s {size / 1e6 / fast_s:8.1f} MB/s "
        f"{fast_s * 1e3 / len(msgs):.3f} ms/msg  total {fast_s:.2f} s"
    )
    print(f"        problems: {dict(runs[0][1].most_common())}")
    sub = msgs[: args.full_count]
    _compare(sub, args.repeat, f"(first {len(sub)}, {sum(map(len, sub)) / 1e6:.1f} MB)")


def third_party(args: argparse.Namespace) -> None:
    """The parsers over the third-party corpus and damaged copies of it."""
    named = thirdparty.real()
    real = [raw for _, raw in named]
    broken = [raw for _, raw in thirdparty.broken(named, args.broken, seed=1)]
    msgs = real + broken
    print(
        f"\nthird-party corpus: {len(real)} real messages + {len(broken)} damaged copies, "
        f"{sum(map(len, msgs)) / 1e6:.1f} MB"
    )
    _compare(msgs, args.repeat, "")


def main() -> None:
    """Run the benchmark and print messages/s, MB/s and the speed ratios."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--full-count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; best is reported")
    ap.add_argument("--broken", type=int, default=2000, help="damaged third-party copies")
    args = ap.parse_args()
    generated(args)
    third_party(args)


if __name__ == "__main__":
    main()
