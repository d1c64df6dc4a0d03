"""Server time and payload size of the netviz ``gradient_flow`` route on a large run.

The run: ``--layers`` x ``--steps`` gradient statistics (default 500 x 10,000,
all 7 columns, about 140 MB of events) with a few alerts, read with every event
kept (``--samples_per_plugin=netviz=0``). Requests (all columns, one column,
all columns of three layers with ``layers=``) use the default step cap (500
steps) and accept gzip, as a browser does.

Two servers are measured:
- in process: the plugin inside TensorBoard's WSGI app over the Python data
  provider (what ``--load_fast=false`` uses), timed around the WSGI call. "cold"
  is a fresh plugin (empty table cache: read through the provider, shape,
  encode); "warm" reuses the table cache (shape and encode only).
- a real ``tensorboard`` process with its default Rust loader, timed around
  the HTTP request on 127.0.0.1. Only a process's first request is cold, so
  the process is started ``--process-starts`` times, and each start's first
  request is in turn ``runs`` (what the dashboard asks first: it reads the
  tables for the sampling summary), all columns, one column.

The baseline, interleaved with the plugin requests in the same server, is
TensorBoard's own Scalars route reading the run's ``netviz/global_grad_norm``
scalar (10,000 steps): each plugin time is also given as a ratio to it.

Usage:
    .venv/bin/python bench/bench_plugin.py [--layers 500] [--steps 10000] [--repeats 11]
        [--process-starts 9] [--logdir /tmp/netviz_bench_logs] [--skip-process]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tensorboard.backend import application  # noqa: E402
from tensorboard.context import RequestContext  # noqa: E402
from tensorboard.data import server_ingester  # noqa: E402
from tensorboard.data.provider import RunTagFilter  # noqa: E402
from tensorboard.plugins import base_plugin  # noqa: E402
from tensorboard.plugins.scalar import scalars_plugin  # noqa: E402
from tensorboard.util import grpc_util  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from tb_netviz.plugin import data  # noqa: E402
from tb_netviz.plugin.gc_pause import paused_gc  # noqa: E402
from tb_netviz.plugin.loader import NetVizLoader  # noqa: E402
from tb_netviz.plugin.reader import ALL_KEPT  # noqa: E402
from tb_netviz.summary import GRADIENT_STATS, NetVizWriter, metadata  # noqa: E402
from tests.plugin_backend.conftest import python_data_provider  # noqa: E402
from tests.tb_server import TensorBoardServer  # noqa: E402

RUN = "big"
RUNS = "/data/plugin/netviz/runs"
FLOW_ALL = "/data/plugin/netviz/gradient_flow?run=big"
FLOW_ONE = "/data/plugin/netviz/gradient_flow?run=big&stats=grad_l2"
FLOW_FEW = "/data/plugin/netviz/gradient_flow?run=big&layers=block0.layer0,block62.layer2,block124.layer3"
COLD = {"runs": RUNS, "all": FLOW_ALL, "one": FLOW_ONE}
TABLE_REQUESTS = {
    "all": ("all 7 columns", FLOW_ALL),
    "one": ("stats=grad_l2", FLOW_ONE),
    "few": ("layers= 3 layers, all columns", FLOW_FEW),
}
BASELINE = "/data/plugin/scalars/scalars?run=big&tag=netviz/global_grad_norm"
GZIP = {"Accept-Encoding": "gzip"}
BASELINE_LABEL = "Scalars route, global_grad_norm, 1,000 kept points (baseline)"
TABLE_HEAD = "| request | median ms | min-max ms | n | ratio to baseline (median) |"


def write_run(logdir: Path, layers: int, steps: int) -> None:
    """Write the benchmark run once; a complete earlier one is reused."""
    done = logdir / RUN / "complete"
    if done.exists() and done.read_text() == f"{layers}x{steps}":
        return
    names = [f"block{i // 4}.layer{i % 4}" for i in range(layers)]
    rng = np.random.default_rng(0)
    base = rng.lognormal(-6, 2, size=(layers, 1)).astype(np.float32)
    alert_steps = {steps // 3, steps // 2, (2 * steps) // 3}
    history = []
    with NetVizWriter(logdir / RUN, max_queue=steps + 16) as writer:
        for step in range(steps):
            table = np.repeat(base, len(GRADIENT_STATS), axis=1) * (1 + 0.01 * (step % 100))
            table[:, GRADIENT_STATS.index("has_grad")] = 1.0
            table[:, GRADIENT_STATS.index("grad_nonfinite")] = 0.0
            writer.gradient_flow(step, names, table, log_every_n_steps=1)
            writer.scalar(step, "netviz/global_grad_norm", float(np.linalg.norm(table[:, 0])))
            if step in alert_steps:
                history.append(
                    {
                        "kind": "exploding",
                        "layer": names[7],
                        "step": step,
                        "value": 12.0,
                        "threshold": 10.0,
                        "message": f"exploding gradient at step {step}",
                    }
                )
                writer.alerts(step, history)
            if step % 1000 == 999:
                writer.flush()
    assert writer.dropped == 0, f"{writer.dropped} summaries dropped while writing the benchmark run"
    done.write_text(f"{layers}x{steps}")


def timed_wsgi(client, path: str) -> tuple[float, int]:
    start = time.perf_counter()
    response = client.get(path, headers=GZIP)
    body = response.get_data()
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, body[:300]
    return elapsed, len(body)


def timed_http(url: str) -> tuple[float, int]:
    request = urllib.request.Request(url, headers=GZIP)
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - start, len(body)


def summarize(label: str, times: list[float], baseline: list[float]) -> str:
    ms = [t * 1000 for t in times]
    ratios = [t / b for t, b in zip(times, baseline, strict=False)] if baseline else []
    ratio = f"{statistics.median(ratios):.1f}x" if ratios else "-"
    spread = f"{min(ms):.0f}-{max(ms):.0f}"
    return f"| {label} | {statistics.median(ms):.0f} | {spread} | {len(ms)} | {ratio} |"


def wsgi_client(provider):
    """TensorBoard's WSGI app with a fresh netviz plugin (empty cache) and the Scalars plugin."""
    context = base_plugin.TBContext(data_provider=provider, sampling_hints={"netviz": 0})
    plugins = [NetVizLoader().load(context), scalars_plugin.ScalarsPlugin(context)]
    return Client(application.TensorBoardWSGI(plugins, data_provider=provider))


def interleaved(get, repeats: int) -> dict[str, list[float]]:
    """Times of a new request on a cached table and of a repeated request, each after its own baseline."""
    times: dict[str, list[float]] = {}
    for label, (_, path) in TABLE_REQUESTS.items():
        for kind in ("new", "repeat"):
            times[f"{label} {kind}"], times[f"{label} {kind} baseline"] = [], []
        get(path)  # so that "repeat" always finds the body kept
    for i in range(repeats):
        for label, (_, path) in TABLE_REQUESTS.items():
            times[f"{label} new baseline"].append(get(BASELINE)[0])
            # A step range that changes nothing but the request: the table is cached, the body is not.
            times[f"{label} new"].append(get(f"{path}&min_step=-{i + 1}")[0])
            times[f"{label} repeat baseline"].append(get(BASELINE)[0])
            times[f"{label} repeat"].append(get(path)[0])
    return times


def rows(
    times: dict[str, list[float]], cold: dict[str, list[float]], cold_base: dict[str, list[float]]
) -> list[str]:
    baselines = [t for key, ts in times.items() if key.endswith(" baseline") for t in ts]
    lines = [TABLE_HEAD, "|---|---|---|---|---|", summarize(BASELINE_LABEL, baselines, [])]
    lines.append(
        summarize("runs, cold: reads the tables through the provider", cold["runs"], cold_base["runs"])
    )
    for label, (name, _) in TABLE_REQUESTS.items():
        if label in cold:
            lines.append(
                summarize(
                    f"gradient_flow, {name}, cold: read through the provider", cold[label], cold_base[label]
                )
            )
        for kind, what in (("new", "new request, table cached"), ("repeat", "same request again")):
            lines.append(
                summarize(
                    f"gradient_flow, {name}, {what}",
                    times[f"{label} {kind}"],
                    times[f"{label} {kind} baseline"],
                )
            )
    return lines


def bench_in_process(logdir: Path, repeats: int) -> list[str]:
    started = time.perf_counter()
    provider = python_data_provider(logdir, {"netviz": 0})
    load_seconds = time.perf_counter() - started
    cold: dict[str, list[float]] = {label: [] for label in COLD}
    cold_base: dict[str, list[float]] = {label: [] for label in COLD}
    for _ in range(max(3, repeats // 3)):
        for label, path in COLD.items():
            fresh = wsgi_client(provider)
            cold_base[label].append(timed_wsgi(fresh, BASELINE)[0])
            cold[label].append(timed_wsgi(fresh, path)[0])
    client = wsgi_client(provider)
    times = interleaved(lambda path: timed_wsgi(client, path), repeats)
    gzipped = {path: timed_wsgi(client, path)[1] for _, path in TABLE_REQUESTS.values()}
    raw = {path: len(client.get(path).get_data()) for _, path in TABLE_REQUESTS.values()}
    return [
        f"In process, Python data provider (the event files took {load_seconds:.0f} s to load):",
        "",
        *rows(times, cold, cold_base),
        "",
        _size_table(raw, gzipped),
    ]


def _size_table(raw: dict[str, int], gzipped: dict[str, int]) -> str:
    rows = ["| response | JSON bytes | gzip bytes (as sent to a browser) |", "|---|---|---|"]
    for label, path in TABLE_REQUESTS.values():
        rows.append(
            f"| {label}, default step cap | {raw[path] / 1e6:.3f} MB | {gzipped[path] / 1e6:.3f} MB |"
        )
    return "\n".join(rows)


def bench_process(logdir: Path, repeats: int, steps: int, starts: int) -> list[str]:
    args = ["--samples_per_plugin=netviz=0"]
    cold: dict[str, list[float]] = {label: [] for label in COLD}
    cold_base: dict[str, list[float]] = {label: [] for label in COLD}
    for start in range(starts):
        label = list(COLD)[start % len(COLD)]
        with TensorBoardServer(logdir, extra_args=args, timeout=600) as server:
            server.wait_for(lambda: _fully_loaded(server, steps), "the benchmark run to load", timeout=600)
            cold_base[label].append(timed_http(server.url + BASELINE)[0])
            cold[label].append(timed_http(server.url + COLD[label])[0])
            runs = json.loads(server.get(RUNS)[1])["runs"]
            kept = next(r for r in runs if r["run"] == RUN)["sampling"]["gradient_flow"]["kept"]
            assert kept == steps, f"TensorBoard kept {kept} of {steps} steps"
            if start == starts - 1:
                times = interleaved(lambda path: timed_http(server.url + path), repeats)
    return [
        f"Real `tensorboard` process, default Rust loader, `--samples_per_plugin=netviz=0`, "
        f"HTTP on 127.0.0.1 (cold: the first request after loading, over {starts} starts of the process):",
        "",
        *rows(times, cold, cold_base),
    ]


def provider_floor(provider, repeats: int) -> dict[str, list[float]]:
    """Times of the provider's read of every gradient-flow event alone, and of shaping them into a table.

    The read is what a cold request cannot avoid: the response must hold the
    first, the last and every alert step, which a sampled read may drop.
    """
    ctx = RequestContext()
    only_run = RunTagFilter(runs=[RUN], tags=[metadata.GRADIENT_FLOW_TAG])
    listing = provider.list_tensors(
        ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME, run_tag_filter=only_run
    )
    content = metadata.parse_plugin_metadata(listing[RUN][metadata.GRADIENT_FLOW_TAG].plugin_content)
    times: dict[str, list[float]] = {"read": [], "table": []}
    for _ in range(repeats):
        with paused_gc():
            start = time.perf_counter()
            stored = provider.read_tensors(
                ctx,
                experiment_id="",
                plugin_name=metadata.PLUGIN_NAME,
                downsample=ALL_KEPT,
                run_tag_filter=only_run,
            )[RUN][metadata.GRADIENT_FLOW_TAG]
            read = time.perf_counter()
            data.layer_table(content, stored)
            times["read"].append(read - start)
            times["table"].append(time.perf_counter() - read)
        del stored
    return times


def rust_data_provider(logdir: Path, steps: int):
    """The gRPC provider over TensorBoard's Rust data server, as ``tensorboard`` starts it, fully loaded.

    The server exits with this process (TensorBoard starts it with ``--die-after-stdin``).
    """
    ingester = server_ingester.SubprocessServerDataIngester(
        server_ingester.get_server_binary(),
        str(logdir),
        reload_interval=5,
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin={"netviz": 0},
    )
    ingester.start()
    provider = ingester.data_provider
    only_run = RunTagFilter(runs=[RUN], tags=[metadata.GRADIENT_FLOW_TAG])
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        listing = provider.list_tensors(
            RequestContext(), experiment_id="", plugin_name=metadata.PLUGIN_NAME, run_tag_filter=only_run
        )
        series = listing.get(RUN, {}).get(metadata.GRADIENT_FLOW_TAG)
        if series is not None and series.max_step == steps - 1:
            return provider
        time.sleep(0.5)
    raise TimeoutError("the Rust data server did not load the benchmark run in 600 s")


def floor_rows(python_floor: dict[str, list[float]], rust_floor: dict[str, list[float]]) -> list[str]:
    lines = ["| step of a cold read | median ms | min-max ms | n |", "|---|---|---|---|"]
    for name, floor in (("Python provider", python_floor), ("Rust data server (gRPC)", rust_floor)):
        for key, what in (("read", "read_tensors of all 10,000 steps"), ("table", "data.layer_table")):
            ms = [t * 1000 for t in floor[key]]
            spread = f"{min(ms):.0f}-{max(ms):.0f}"
            lines.append(f"| {name}: {what} | {statistics.median(ms):.0f} | {spread} | {len(ms)} |")
    return lines


def _fully_loaded(server, steps: int) -> bool:
    """The scalar of the last step is written after its gradient flow: once it is read, all is."""
    status, body, _ = server.get(BASELINE)
    return status == 200 and bool(json.loads(body)) and json.loads(body)[-1][1] == steps - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--logdir", type=Path, default=Path("/tmp/netviz_bench_logs"))
    parser.add_argument(
        "--process-starts", type=int, default=9, help="real tensorboard starts (cold samples)"
    )
    parser.add_argument("--skip-process", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    write_run(args.logdir, args.layers, args.steps)
    print(f"benchmark run ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    lines = [f"{args.layers} layers x {args.steps} steps, default step cap (500).", ""]
    lines += bench_in_process(args.logdir, args.repeats)
    if not args.skip_process:
        lines += [""] + bench_process(args.logdir, args.repeats, args.steps, max(1, args.process_starts))
        python_floor = provider_floor(python_data_provider(args.logdir, {"netviz": 0}), args.repeats)
        rust_floor = provider_floor(rust_data_provider(args.logdir, args.steps), args.repeats)
        lines += [
            "",
            "The floor of a cold request: the provider's read alone, then the table built from it:",
            "",
        ]
        lines += floor_rows(python_floor, rust_floor)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
