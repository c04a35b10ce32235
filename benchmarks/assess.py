"""Reply review latency: ``routing.intelligence.review.assess`` (what POST /api/v1/replies/assess/ and every
department reply run) on one core.

    DATABASE_URL=postgres://hotline@127.0.0.1:54329/hotline .venv/bin/python -m benchmarks.assess --calls 2000

Each call assesses a real-length reply against its message, taken in turn from the shipped
pairs (``routing/fixtures/reply_pairs.jsonl``) and the held-out pairs; half of the calls pair
a message with the reply to another message, as an unrelated draft would. After a warm-up
(jieba's dictionary, the idf), pinned to one core with one BLAS thread. The database is only
named for Django's settings; nothing is read from it.
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from benchmarks import harness  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "true")
    harness.setup_django("hotline_bench_assess")
    from routing.intelligence import review

    os.sched_setaffinity(0, {0})
    pairs = review.load_pairs() + review.load_pairs(harness.ROOT / "tests" / "fixtures" / "replies_heldout.jsonl")
    rng = random.Random(3)
    started = time.perf_counter()
    review.assess(pairs[0]["message"], pairs[0]["reply"])
    first = time.perf_counter() - started
    for pair in rng.sample(pairs, 30):
        review.assess(pair["message"], pair["reply"])
    times = []
    chars = 0
    for i in range(args.calls):
        pair = pairs[i % len(pairs)]
        reply = pair["reply"] if i % 2 == 0 else pairs[(i * 7 + 3) % len(pairs)]["reply"]
        chars += len(pair["message"]) + len(reply)
        started = time.perf_counter()
        review.assess(pair["message"], reply)
        times.append(time.perf_counter() - started)
    summary = harness.summarize(times)
    print(f"first call (loads jieba and the idf): {first * 1000:.0f} ms")
    print(f"assess ({args.calls} calls, one core, {chars / args.calls:.0f} characters of message + reply): p50 {summary.p50_ms:.1f} ms  p95 {summary.p95_ms:.1f} ms  p99 {summary.p99_ms:.1f} ms")
    print("saved", harness.save("assess", {"machine": harness.machine(), "calls": args.calls, "first_call_ms": round(first * 1000), "assess": summary.__dict__}))


if __name__ == "__main__":
    main()
