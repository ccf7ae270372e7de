"""Benchmark ``parse_message`` against the full ``email`` parser.

Usage: ``python bench/bench_parse.py [--count 10000] [--full-count 1000]``

The corpus is generated in memory first (not timed). The fast parser runs
over all ``--count`` messages; the full ``email`` parser (policy.default,
walking parts and decoding bodies with the same rules) runs over the first
``--full-count`` messages because it is far slower. Throughput figures are
comparable since both subsets share the same mix.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import generate
from postkamer.mail.mime import parse_message, parse_message_full


def _run(fn, msgs: list[bytes]) -> tuple[float, Counter[str], float]:
    """Parse all ``msgs``; return (wall seconds, problem counts, CPU seconds)."""
    problems: Counter[str] = Counter()
    gc.collect()
    c = time.process_time()
    t = time.perf_counter()
    for raw in msgs:
        problems.update(fn(raw).problems)
    return time.perf_counter() - t, problems, time.process_time() - c


def main() -> None:
    """Run the benchmark and print messages/s, MB/s and the speed ratio."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--full-count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="fast-path runs; best is reported")
    args = ap.parse_args()

    t = time.perf_counter()
    msgs = list(generate(args.count, args.seed))
    size = sum(map(len, msgs))
    print(
        f"corpus: {len(msgs)} messages, {size / 1e6:.1f} MB, generated in {time.perf_counter() - t:.1f} s"
    )

    runs = [_run(parse_message, msgs) for _ in range(max(1, args.repeat))]
    fast_s, problems, _ = min(runs, key=lambda r: r[0])
    # The machine is shared, so report the best run, the spread and CPU time.
    print(f"fast runs (wall): {', '.join(f'{r[0]:.2f}' for r in runs)} s")
    print(f"fast runs (cpu) : {', '.join(f'{r[2]:.2f}' for r in runs)} s")
    print(
        f"fast  : {len(msgs) / fast_s:9.0f} msg/s {size / 1e6 / fast_s:8.1f} MB/s "
        f"{fast_s * 1e3 / len(msgs):.3f} ms/msg  total {fast_s:.2f} s"
    )
    print(f"        problems: {dict(problems.most_common())}")

    sub = msgs[: args.full_count]
    sub_size = sum(map(len, sub))
    fast_sub, _, fast_sub_cpu = _run(parse_message, sub)
    full_s, _, full_cpu = _run(parse_message_full, sub)
    print(
        f"full  : {len(sub) / full_s:9.0f} msg/s {sub_size / 1e6 / full_s:8.1f} MB/s "
        f"{full_s * 1e3 / len(sub):.3f} ms/msg  on first {len(sub)} ({sub_size / 1e6:.1f} MB)"
    )
    print(
        f"ratio : fast is {full_s / fast_sub:.0f}x faster (wall), {full_cpu / fast_sub_cpu:.0f}x"
        f" (cpu) than full on the same {len(sub)} messages"
    )
    print(f"        full parse of whole corpus extrapolated: {full_s / sub_size * size:.0f} s")


if __name__ == "__main__":
    main()
