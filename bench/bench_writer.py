"""Benchmark: NetVizWriter against TensorBoard's EventFileWriter and torch's SummaryWriter.

For 1 MB float32 tensors it measures, in one process and in interleaved
rounds (the order rotates each round, so drift in a shared machine hits every
writer alike):

- throughput: MB written per second, from the first log call until ``flush()``
  has put everything on disk;
- blocking: how long the calling thread spends inside each log call (wall
  time), for a burst of back-to-back calls (the worst case for a writer with a
  short queue) and for calls between GIL-free pauses; for the burst also the
  calling thread's own CPU time per call, which tells the writer's cost apart
  from waiting for a core on a busy machine.

Every writer gets the same ``Summary.Value`` (a float32 ``[4, 256, 256]``
tensor); NetVizWriter is called through its public ``attention`` call, which
also validates and copies the array on the caller's thread.

TensorBoard's TF-free writer always computes the record checksum with the
pure-Python crc32c of ``tensorboard.compat.tensorflow_stub``, TensorFlow or
not; what TensorFlow changes is the file layer (``tf.io.gfile``). So the run
is made twice: here with TensorFlow importable, then in a child process with
TensorFlow hidden.

Run from the repository root:

    .venv/bin/python bench/bench_writer.py [--rounds 5] [--calls 12]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HIDE_TENSORFLOW = "--hide-tensorflow"
if HIDE_TENSORFLOW in sys.argv:
    sys.modules["tensorflow"] = None  # makes tensorboard.compat fall back to its stub

import numpy as np  # noqa: E402
from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.summary.writer import record_writer  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tb_netviz.summary import NetVizWriter, encoders, records  # noqa: E402

SHAPE = (4, 256, 256)  # float32: exactly 1 MiB
PAYLOAD_MB = np.prod(SHAPE) * 4 / 2**20


class NetViz:
    name = "NetVizWriter (tb-netviz)"

    def __init__(self, log_dir: str, weights: np.ndarray, value: summary_pb2.Summary.Value) -> None:
        self.writer = NetVizWriter(log_dir)
        self.weights = weights

    def log(self, step: int) -> None:
        self.writer.attention(step, "encoder.self_attn", self.weights)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
        assert self.writer.dropped == 0


class TensorBoardEventFileWriter:
    name = "tensorboard EventFileWriter"

    def __init__(self, log_dir: str, weights: np.ndarray, value: summary_pb2.Summary.Value) -> None:
        self.writer = EventFileWriter(log_dir)
        self.summary = summary_pb2.Summary(value=[value])

    def log(self, step: int) -> None:
        self.writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=self.summary))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TorchSummaryWriter:
    name = "torch SummaryWriter"

    def __init__(self, log_dir: str, weights: np.ndarray, value: summary_pb2.Summary.Value) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir)
        self.summary = summary_pb2.Summary(value=[value])

    def log(self, step: int) -> None:
        # SummaryWriter has no call for a raw tensor summary; its file writer takes one as is.
        self.writer._get_file_writer().add_summary(self.summary, global_step=step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    @staticmethod
    def file_layer() -> str:
        from torch.utils.tensorboard import SummaryWriter

        with tempfile.TemporaryDirectory() as log_dir:
            writer = SummaryWriter(log_dir)
            gfile = type(writer._get_file_writer().event_writer._general_file_writer)
            writer.close()
        return f"{gfile.__module__}.{gfile.__qualname__}"


def one_round(kind, calls: int, weights, value, pause: float) -> tuple[float, list[float], list[float]]:
    """(MB/s until flushed, seconds blocked per call, caller CPU seconds per call) for ``calls`` 1 MB calls.

    ``pause`` seconds of GIL-free waiting follow each call (0: back to back), like a
    training step whose kernels run outside the interpreter.
    """
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as log_dir:
        writer = kind(log_dir, weights, value)
        blocked, cpu = [], []
        start = time.perf_counter()
        for step in range(calls):
            before, cpu_before = time.perf_counter(), time.thread_time()
            writer.log(step)
            blocked.append(time.perf_counter() - before)
            cpu.append(time.thread_time() - cpu_before)
            if pause:
                time.sleep(pause)
        writer.flush()
        elapsed = time.perf_counter() - start
        writer.close()
        written = sum(os.path.getsize(os.path.join(log_dir, n)) for n in os.listdir(log_dir))
        assert written >= calls * PAYLOAD_MB * 2**20, f"{kind.name} wrote only {written} bytes"
    return calls * PAYLOAD_MB / elapsed, blocked, cpu


def blocking_summary(seconds: list[float], round_medians: list[float]) -> dict[str, object]:
    return {
        "median": 1e3 * statistics.median(seconds),
        "p90": 1e3 * float(np.percentile(seconds, 90)),
        "max": 1e3 * max(seconds),
        "round_medians": [1e3 * m for m in round_medians],
    }


def measure(rounds: int, calls: int, pause_ms: float) -> dict:
    weights = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    value = encoders.attention_value("encoder.self_attn", weights)
    kinds = [NetViz, TensorBoardEventFileWriter, TorchSummaryWriter]
    scenarios = {"burst": 0.0, "paced": pause_ms / 1e3}
    throughput = {k.name: [] for k in kinds}
    blocked = {(k.name, s): [] for k in kinds for s in scenarios}
    round_medians = {(k.name, s): [] for k in kinds for s in scenarios}
    caller_cpu = {k.name: [] for k in kinds}
    for kind in kinds:  # warm-up: imports, first file, thread start
        one_round(kind, 2, weights, value, 0.0)
    for r in range(rounds):
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            for scenario, pause in scenarios.items():
                mb_per_s, per_call, cpu = one_round(kind, calls, weights, value, pause)
                if scenario == "burst":
                    throughput[kind.name].append(mb_per_s)
                    caller_cpu[kind.name].extend(cpu)
                blocked[kind.name, scenario].extend(per_call)
                round_medians[kind.name, scenario].append(statistics.median(per_call))
    baseline = TensorBoardEventFileWriter.name
    ratios = [n / b for n, b in zip(throughput[NetViz.name], throughput[baseline], strict=True)]
    return {
        "tensorflow_visible": HIDE_TENSORFLOW not in sys.argv,
        "torch_file_layer": TorchSummaryWriter.file_layer(),
        "crc_used_by_tensorboard": record_writer.masked_crc32c.__module__,
        "crc_ms_per_mb": crc_ms_per_mb(),
        "rounds": rounds,
        "calls": calls,
        "pause_ms": pause_ms,
        "load_average": os.getloadavg(),
        "results": {
            name: {
                "mb_per_s_median": statistics.median(values),
                "mb_per_s_min": min(values),
                "mb_per_s_max": max(values),
                **{
                    f"blocked_ms_{s}": blocking_summary(blocked[name, s], round_medians[name, s])
                    for s in scenarios
                },
                "caller_cpu_ms_burst_median": 1e3 * statistics.median(caller_cpu[name]),
                "caller_cpu_ms_burst_p90": 1e3 * float(np.percentile(caller_cpu[name], 90)),
            }
            for name, values in throughput.items()
        },
        "netviz_over_eventfilewriter_median": statistics.median(ratios),
        "netviz_over_eventfilewriter_min": min(ratios),
        "netviz_over_eventfilewriter_max": max(ratios),
    }


def crc_ms_per_mb() -> dict[str, float]:
    """Milliseconds to checksum 1 MB: TensorBoard's pure-Python crc32c against google-crc32c."""
    data = np.random.default_rng(1).bytes(2**20)
    timings = {}
    for name, function in (
        ("tensorboard pure Python", record_writer.masked_crc32c),
        ("google-crc32c (tb-netviz)", records.masked_crc32c),
    ):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            function(data)
            runs.append(time.perf_counter() - start)
        timings[name] = 1e3 * statistics.median(runs)
    assert records.native_crc32c(), "google-crc32c fell back to its pure-Python implementation"
    return timings


def table(result: dict) -> str:
    load = ", ".join(f"{x:.1f}" for x in result["load_average"])
    lines = [
        f"TensorFlow importable: {result['tensorflow_visible']}; torch SummaryWriter file layer: "
        f"`{result['torch_file_layer']}`; TensorBoard record checksum: "
        f"`{result['crc_used_by_tensorboard']}`; load average after the run: {load} "
        f"on {os.cpu_count()} cores",
        "",
        f"| writer | MB/s, burst: median (min-max) | blocked ms, burst: median / p90 / max | "
        f"blocked ms, {result['pause_ms']:g} ms steps: median / p90 / max | per-round medians, burst | "
        "caller CPU ms per call, burst: median / p90 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["results"].items():
        burst, paced = r["blocked_ms_burst"], r["blocked_ms_paced"]
        lines.append(
            f"| {name} | {r['mb_per_s_median']:.1f} ({r['mb_per_s_min']:.1f}-{r['mb_per_s_max']:.1f}) | "
            f"{burst['median']:.2f} / {burst['p90']:.2f} / {burst['max']:.1f} | "
            f"{paced['median']:.2f} / {paced['p90']:.2f} / {paced['max']:.1f} | "
            + ", ".join(f"{m:.2f}" for m in burst["round_medians"])
            + f" | {r['caller_cpu_ms_burst_median']:.2f} / {r['caller_cpu_ms_burst_p90']:.2f} |"
        )
    lines += [
        "",
        f"NetVizWriter / EventFileWriter throughput, per round: median "
        f"{result['netviz_over_eventfilewriter_median']:.0f}x "
        f"(min {result['netviz_over_eventfilewriter_min']:.0f}x, "
        f"max {result['netviz_over_eventfilewriter_max']:.0f}x)",
        "",
        "crc32c of 1 MB: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in result["crc_ms_per_mb"].items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=12, help="1 MB log calls per writer per round")
    parser.add_argument("--pause-ms", type=float, default=20.0, help="GIL-free step between paced calls")
    parser.add_argument(HIDE_TENSORFLOW, action="store_true", help="(internal) run with TensorFlow hidden")
    parser.add_argument("--json", action="store_true", help="(internal) print one JSON line")
    args = parser.parse_args()
    result = measure(args.rounds, args.calls, args.pause_ms)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"## {PAYLOAD_MB:.0f} MB float32 tensors, {args.rounds} interleaved rounds of {args.calls} calls, "
        f"back to back (burst) and after {args.pause_ms:g} ms steps (paced)\n"
    )
    print("### TensorFlow importable\n")
    print(table(result))
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            HIDE_TENSORFLOW,
            "--json",
            f"--rounds={args.rounds}",
            f"--calls={args.calls}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print("\n### TensorFlow hidden (child process)\n")
    print(table(json.loads(child.stdout.strip().splitlines()[-1])))


if __name__ == "__main__":
    main()
