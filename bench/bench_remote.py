"""Benchmark: NetVizWriter to a local S3-protocol server (moto) against the same writer on local disk.

In one process and in interleaved rounds (the order alternates each round, so
drift on a shared machine hits both alike), for two payloads:

- ``attention``: 1 MiB float32 ``[4, 256, 256]`` tensors (as bench_writer.py);
- ``table``: gradient-flow tables of 200 layers (the common call, every step);

it measures

- blocking: how long the calling thread spends inside each log call, back to
  back (burst) and between GIL-free pauses like a training step's (paced);
- throughput: MB per second from the first call until ``flush()`` returned, that
  is until everything is on disk or, for S3, in the store.

The S3 server is ``python -m moto.server`` started on a free port of 127.0.0.1
and stopped by its PID; it stores objects in memory, so the S3 numbers are an
upper bound for a real store over a network (whose latency the background
thread hides from the caller, which is what the blocking numbers show).

Run from the repository root:

    .venv/bin/python bench/bench_remote.py [--rounds 5] [--calls 24]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tb_netviz.summary import GRADIENT_STATS, NetVizWriter  # noqa: E402
from tests.remote.s3_server import S3Server  # noqa: E402

BUCKET = "bench"
ATTENTION = np.random.default_rng(0).random((4, 256, 256), dtype=np.float32)
LAYERS = [f"blocks.{i}.linear" for i in range(200)]
TABLE = np.random.default_rng(1).random((len(LAYERS), len(GRADIENT_STATS)), dtype=np.float32)
PAYLOADS = {
    "attention": (
        lambda writer, step: writer.attention(step, "encoder.self_attn", ATTENTION),
        ATTENTION.nbytes,
    ),
    "table": (lambda writer, step: writer.gradient_flow(step, LAYERS, TABLE), TABLE.nbytes),
}


def one_round(log_dir: str, payload: str, calls: int, pause: float) -> tuple[float, list[float]]:
    """(MB/s until flushed, seconds blocked per call) for ``calls`` calls of ``payload``."""
    log, nbytes = PAYLOADS[payload]
    writer = NetVizWriter(log_dir)
    blocked = []
    start = time.perf_counter()
    for step in range(calls):
        before = time.perf_counter()
        queued = log(writer, step)
        blocked.append(time.perf_counter() - before)
        assert queued, "a summary was dropped"
        if pause:
            time.sleep(pause)
    writer.events.flush(timeout=300)
    elapsed = time.perf_counter() - start
    writer.close()
    assert writer.dropped == 0
    return calls * nbytes / 2**20 / elapsed, blocked


def measure(rounds: int, calls: int, pause_ms: float) -> dict:
    results: dict = {}
    with S3Server() as server, tempfile.TemporaryDirectory(prefix="bench-remote-") as local:
        os.environ.update(server.env)
        server.create_bucket(BUCKET)
        targets = {
            "local disk": lambda r, name: os.path.join(local, f"{name}-{r}"),
            "s3 (moto)": lambda r, name: f"s3://{BUCKET}/{name}-{r}",
        }
        for where in targets.values():  # warm-up: imports, first file system, threads
            one_round(where(-1, "warm"), "table", 4, 0.0)
        for payload in PAYLOADS:
            for scenario, pause in (("burst", 0.0), ("paced", pause_ms / 1e3)):
                entry = {t: {"mb_per_s": [], "blocked": [], "round_medians": []} for t in targets}
                order = list(targets)
                for r in range(rounds):
                    for target in order if r % 2 == 0 else order[::-1]:
                        mb_per_s, blocked = one_round(
                            targets[target](r, f"{payload}-{scenario}"), payload, calls, pause
                        )
                        entry[target]["mb_per_s"].append(mb_per_s)
                        entry[target]["blocked"] += blocked
                        entry[target]["round_medians"].append(statistics.median(blocked))
                results[payload, scenario] = entry
    return results


def summary_row(payload: str, scenario: str, target: str, data: dict, local: dict) -> str:
    ms = [1e3 * b for b in data["blocked"]]
    ratio = [s / d for s, d in zip(data["mb_per_s"], local["mb_per_s"], strict=True)]
    rates = data["mb_per_s"]
    return (
        f"| {payload} | {scenario} | {target} | {statistics.median(ms):.3f} / {np.percentile(ms, 90):.3f} / "
        f"{max(ms):.2f} | {', '.join(f'{1e3 * m:.3f}' for m in data['round_medians'])} | "
        f"{statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f}) | "
        f"{statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=24, help="log calls per writer per round")
    parser.add_argument("--pause-ms", type=float, default=20.0, help="GIL-free step between paced calls")
    args = parser.parse_args()
    results = measure(args.rounds, args.calls, args.pause_ms)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.rounds} interleaved rounds of {args.calls} calls; paced = {args.pause_ms:g} ms steps; "
        f"load average after the run {load} on {os.cpu_count()} cores\n"
    )
    print(
        "| payload | calls | writer | blocked ms per call: median / p90 / max | per-round medians (ms) | "
        "MB/s until flushed: median (min-max) | throughput / local disk, per round |"
    )
    print("|---|---|---|---|---|---|---|")
    for (payload, scenario), entry in results.items():
        for target, data in entry.items():
            print(summary_row(payload, scenario, target, data, entry["local disk"]))


if __name__ == "__main__":
    main()
