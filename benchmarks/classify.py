"""The intake classifier: classify latency on one core, and training on 100,000 tickets.

    DATABASE_URL=postgres://hotline@127.0.0.1:54329/hotline \\
        .venv/bin/python -m benchmarks.classify --calls 2000 --train 100000

1. a fresh database ``hotline_bench_classify`` with the demo's category tree, areas,
   departments and dispatch rules, and the bootstrap model trained into it;
2. ``routing.intelligence.classify`` (what POST /api/v1/classify/ and intake call: the
   active-version check, features, the model, leaf, type, area, the dispatch rules) on
   the real bootstrap messages, after a warm-up, pinned to one core with one BLAS thread;
   and the model's ``predict`` alone;
3. training on ``--train`` examples made from the real messages (each a sentence-shuffled,
   sentence-dropped copy with a district appended, so no two are the same text), in a
   child process, timed, with its peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from benchmarks import harness  # noqa: E402

DATABASE = "hotline_bench_classify"
DISTRICTS = ["东城区", "西城区", "南湖区", "北山区", "高新区", "东华街道", "月坛街道", "湖滨街道"]


def prepare() -> float:
    harness.recreate_database(DATABASE)
    harness.migrate(DATABASE)
    harness.setup_django(DATABASE)
    from routing import demo
    from routing.intelligence import training

    demo.load_categories()
    demo.load_rules(demo.load_departments(demo.load_areas()))
    started = time.monotonic()
    training.train(include_tickets=False)
    return time.monotonic() - started


def messages() -> list[tuple[str, str]]:
    from routing.intelligence import training

    _, _, topic_ids = training.tree()
    examples, _ = training.bootstrap_examples(topic_ids)
    return [(e.title, e.text) for e in examples]


def latency(calls: int) -> dict:
    from routing import intelligence
    from routing.intelligence import store

    os.sched_setaffinity(0, {0})
    texts = messages()
    rng = random.Random(1)
    for title, text in rng.sample(texts, 50):  # warm-up: jieba's dictionary, the model, the gazetteer
        intelligence.classify(text, title)
    full, model_only = [], []
    model, _ = store.active()
    for i in range(calls):
        title, text = texts[i % len(texts)]
        started = time.perf_counter()
        intelligence.classify(text, title)
        full.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.predict(title, text, explain=6)
        model_only.append(time.perf_counter() - started)
    chars = sum(len(t) + len(x) for t, x in texts) / len(texts)
    return {"classify": harness.summarize(full).__dict__, "predict": harness.summarize(model_only).__dict__, "mean_chars": round(chars)}


def synthetic(n: int, seed: int = 7):
    from routing.intelligence import model as topic_model
    from routing.intelligence import training

    _, _, topic_ids = training.tree()
    base, _ = training.bootstrap_examples(topic_ids)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        e = base[i % len(base)]
        parts = [p for p in re.split(r"(?<=[。！？!?；;])", e.text) if p.strip()]
        rng.shuffle(parts)
        if len(parts) > 2:
            parts.pop(rng.randrange(len(parts)))
        out.append(topic_model.Example(e.title, "".join(parts) + f"（{rng.choice(DISTRICTS)}{i}）", e.topic, None, "synthetic"))
    return out


def train_child(n: int) -> None:
    """Run in a child process: build the examples, train, print seconds and peak RSS."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))  # the latency run pinned the parent to one core; training uses all
    harness.setup_django(DATABASE)
    from routing.intelligence import model as topic_model
    from routing.intelligence import training

    leaves, names, _ = training.tree()
    examples = synthetic(n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    fitted = topic_model.train(examples, leaves, names, progress=lambda m: print(f"  {time.monotonic() - started:6.1f} s  {m}", flush=True))
    took = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"RESULT seconds={took:.1f} peak_rss_mb={peak / 1024:.0f} before_mb={before / 1024:.0f} held_out_macro_f1={fitted.metrics.get('macro_f1', 0):.3f} artifact_mb={len(fitted.to_bytes()) / 1e6:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--train", type=int, default=100_000, help="examples for the training run (0: skip)")
    parser.add_argument("--child-train", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_train:
        train_child(args.child_train)
        return
    bootstrap_seconds = prepare()
    print(f"bootstrap model (2,218 messages) trained in {bootstrap_seconds:.1f} s")
    result = {"machine": harness.machine(), "bootstrap_training_s": round(bootstrap_seconds, 1), "latency": latency(args.calls)}
    c, p = result["latency"]["classify"], result["latency"]["predict"]
    print(f"classify ({args.calls} calls, one core): p50 {c['p50_ms']:.1f} ms  p95 {c['p95_ms']:.1f} ms  p99 {c['p99_ms']:.1f} ms")
    print(f"model.predict alone:                 p50 {p['p50_ms']:.1f} ms  p95 {p['p95_ms']:.1f} ms  p99 {p['p99_ms']:.1f} ms")
    if args.train:
        out = subprocess.run([sys.executable, "-m", "benchmarks.classify", "--child-train", str(args.train)], cwd=harness.ROOT, capture_output=True, text=True, check=True)
        print(out.stdout)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][-1]
        result["training"] = {"examples": args.train, **{k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}}
    print("saved", harness.save("classify", result))


if __name__ == "__main__":
    main()
