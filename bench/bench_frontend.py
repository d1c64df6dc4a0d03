"""Benchmark: time to render the NetViz heatmap for 500 layers x 1,000 steps in headless Chromium.

Measured in the browser (Debian's Chromium driven by Playwright), on the dashboard's
real heatmap view (``frontend/views_heatmap.js``): one ``update`` that rebuilds the
layers x steps matrix of a statistic, paints it with one ``putImageData`` and draws
it scaled with labels and selection. The baseline, timed in the same page and
interleaved with it, is the obvious canvas approach: one ``fillRect`` per cell with
its own colour. Each round times both (order alternating); the report gives the
median, the spread (min / max) and the ratio of medians. Decoding the route's JSON
(``shape.decodeTable``) is reported apart: it happens once per load, not per render.

With ``--load LOGDIR`` it measures instead what opening the dashboard costs on a
real TensorBoard (``--samples_per_plugin=netviz=0``) serving a run of ``--layers``
x ``--steps`` written with ``NetVizWriter`` (written first if LOGDIR has no run):
the bytes of the plugin's JSON answers (as transferred, gzip, and decoded) and
the time from navigation to the first drawn heatmap, for the dashboard of git
revision ``--before`` (served from git in place of ``frontend/``) and the working
tree's, interleaved, each round in a fresh browser context (empty HTTP cache).
In each opened page it then times a step change (the step slider moved, every view
redrawn, canvases flushed), and for the working tree also a zoom (a drag across the
heatmap) and its reset, and the first paint of a two-run comparison (a second run,
``bench_b``, of the same size: the link ``#run=bench&compare=["bench_b"]`` opened
until both runs' heatmaps are drawn), against the single-run first paint; in that comparison,
for both revisions, a step change until both heatmaps are flushed and until the comparison's
bars (drawn after that paint) show the new step.

Usage:
    .venv/bin/python bench/bench_frontend.py [--layers 500] [--steps 1000] [--rounds 15]
    .venv/bin/python bench/bench_frontend.py --load /tmp/nv_load --layers 500 --steps 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
FRONTEND = REPO / "frontend"
# The dashboard before it fetched only the shown columns (the commit before that change).
BEFORE_PAYLOAD_CHANGE = "4da2620"
# The dashboard before issue 11 (diverged runs, filter everywhere, comparison, URL state, zoom).
BEFORE_ISSUE_11 = "a9ecd75"
ORIGIN = "http://netviz.bench"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PAGE = """<!DOCTYPE html><html><head><link rel="stylesheet" href="/static/style.css"></head>
<body><div id="host" style="width:1200px"></div>
<script type="module" src="/static/bench_page.js"></script></body></html>"""

# The bench page's module: builds a gradient_flow answer as the route would send it,
# then exposes the two renderers to Python.
BENCH_MODULE = """
import { decodeTable } from './shape.js';
import { createHeatmap } from './views_heatmap.js';
import { VIRIDIS } from './colors.js';

function answer(L, S) {
  const stats = ['grad_l2', 'grad_mean_abs', 'grad_max_abs', 'param_l2', 'grad_to_param',
    'grad_nonfinite', 'has_grad'];
  const values = [];
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < S; i++) {
    const row = [];
    for (let j = 0; j < L; j++) {
      const g = Math.pow(10, -8 + 7 * (j / L) + rand());
      if (j === 3) row.push([null, null, null, 1, null, 0, 0]);
      else if (i === 500 && j === 100) row.push(['NaN', 'NaN', 'Infinity', 1, 'NaN', 9, 1]);
      else row.push([g, g / 30, g * 4, 1 + j, g / (1 + j), 0, 1]);
    }
    values.push(row);
  }
  return { run: 'bench', layers: Array.from({ length: L }, (_, j) => `layer.${j}`), stats,
    steps: Array.from({ length: S }, (_, i) => i * 10), wall_times: [], total_steps: S,
    downsampled: false, values };
}

window.setup = (L, S) => {
  const text = JSON.stringify(answer(L, S));
  const t0 = performance.now();
  const table = decodeTable(JSON.parse(text));
  const decodeMs = performance.now() - t0;
  const view = createHeatmap({ selectCell() {} });
  document.getElementById('host').appendChild(view.element);
  const alerts = Array.from({ length: 20 }, (_, n) => ({ kind: 'vanishing', layer: `layer.${n}`,
    step: n * 400 }));
  const state = { table, stat: 'grad_l2', log: true, stepIndex: S - 1, layerIndex: 0, version: 1,
    alerts: { alerts, byLayer: new Map(), omitted: 0 } };
  window.bench = { table, view, state, flip: 0 };
  view.update(state);
  return { decodeMs, jsonMB: text.length / 1e6 };
};

// Force the canvas to finish drawing before the clock stops.
function flush(canvas) {
  canvas.getContext('2d').getImageData(0, 0, 1, 1);
}

window.renderView = () => {
  const b = window.bench;
  b.flip ^= 1;
  b.state = { ...b.state, stat: b.flip ? 'grad_max_abs' : 'grad_l2' };
  const t0 = performance.now();
  b.view.update(b.state);
  flush(b.view.element.querySelector('canvas'));
  return performance.now() - t0;
};

window.renderBaseline = () => {
  const { table } = window.bench;
  const L = table.layers.length;
  const S = table.steps.length;
  const K = table.stats.length;
  const canvas = window.baselineCanvas || (window.baselineCanvas = document.createElement('canvas'));
  canvas.width = 1000;
  canvas.height = 520;
  document.body.appendChild(canvas);
  const t0 = performance.now();
  const ctx = canvas.getContext('2d');
  const w = canvas.width / S;
  const h = canvas.height / L;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < S * L; i++) {
    const v = table.values[i * K];
    if (v > 0 && Number.isFinite(v)) { const l = Math.log10(v); lo = Math.min(lo, l); hi = Math.max(hi, l); }
  }
  for (let j = 0; j < L; j++) {
    for (let i = 0; i < S; i++) {
      const v = table.values[(i * L + j) * K];
      let colour = '#9a9a9a';
      if (Number.isFinite(v) && v > 0) {
        const k = Math.round(((Math.log10(v) - lo) / (hi - lo)) * 255);
        colour = `rgb(${VIRIDIS[k * 3]},${VIRIDIS[k * 3 + 1]},${VIRIDIS[k * 3 + 2]})`;
      }
      ctx.fillStyle = colour;
      ctx.fillRect(i * w, j * h, Math.ceil(w), Math.ceil(h));
    }
  }
  flush(canvas);
  return performance.now() - t0;
};
window.benchReady = true;
"""


def serve(route) -> None:
    path = route.request.url[len(ORIGIN) :].split("?")[0]
    if path == "/":
        route.fulfill(status=200, body=PAGE, content_type="text/html")
    elif path == "/static/bench_page.js":
        route.fulfill(status=200, body=BENCH_MODULE, content_type="application/javascript")
    elif path.startswith("/static/") and (FRONTEND / path[len("/static/") :]).is_file():
        name = path[len("/static/") :]
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        route.fulfill(status=200, body=(FRONTEND / name).read_bytes(), content_type=kind)
    else:
        route.fulfill(status=404, body="not found")


def summary(times: list[float]) -> str:
    return f"{statistics.median(times):.1f} ms (min {min(times):.1f}, max {max(times):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=500)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--load", type=Path, help="measure opening the dashboard over this logdir")
    parser.add_argument("--before", default=BEFORE_PAYLOAD_CHANGE, help="git revision of the baseline")
    args = parser.parse_args()
    if args.load:
        print(json.dumps(measure_load(args), indent=2))
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.route(f"{ORIGIN}/**", serve)
        page.goto(f"{ORIGIN}/")
        page.wait_for_function("window.benchReady === true")
        loaded = page.evaluate("([L, S]) => window.setup(L, S)", [args.layers, args.steps])
        for _ in range(3):  # warm-up: JIT, canvas allocation
            page.evaluate("window.renderView()")
            page.evaluate("window.renderBaseline()")
        ours: list[float] = []
        baseline: list[float] = []
        for round_ in range(args.rounds):
            order = ("view", "baseline") if round_ % 2 == 0 else ("baseline", "view")
            for which in order:
                if which == "view":
                    ours.append(page.evaluate("window.renderView()"))
                else:
                    baseline.append(page.evaluate("window.renderBaseline()"))
        version = browser.version
        browser.close()
    ratios = [a / b for a, b in zip(ours, baseline, strict=True)]
    report = {
        "chromium": version,
        "layers": args.layers,
        "steps": args.steps,
        "rounds": args.rounds,
        "heatmap_view_ms": summary(ours),
        "baseline_fillrect_ms": summary(baseline),
        "ratio_of_medians": round(statistics.median(ours) / statistics.median(baseline), 4),
        "median_pair_ratio": round(statistics.median(ratios), 4),
        "decode_json_ms_once": round(loaded["decodeMs"], 1),
        "json_mb": round(loaded["jsonMB"], 1),
    }
    print(json.dumps(report, indent=2))


# ---- Opening the dashboard on a real TensorBoard (--load) ----

LOAD_RUN = "bench"
COMPARE_RUN = "bench_b"
INTERACTIONS = 15

# Records when the dashboard first reports itself ready, i.e. right after its first
# render with the heatmap drawn (the phase attribute is set in the same render).
READY_PROBE = """
new MutationObserver(() => {
  if (!window.__netvizReadyMs && document.body && document.body.dataset.netvizPhase === 'ready')
    window.__netvizReadyMs = performance.now();
}).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-netviz-phase'] });
"""

# Reads the heatmap back and forces layout, so that the timed drawing has finished (the
# other canvases, the sidebar's sparklines, are not redrawn by a step change or a zoom).
FLUSH = """
const flush = () => {
  document.querySelector('.heatmap-canvas').getContext('2d').getImageData(0, 0, 1, 1);
  return document.body.offsetHeight;
};
"""

# Times one step change: the slider moved as a user would, which redraws every view at once
# (the dashboard renders synchronously).
STEP_CHANGE = (
    """(count) => {"""
    + FLUSH
    + """
  const slider = document.querySelector('#nv-step');
  const times = [];
  for (let n = 0; n < count; n++) {
    const t0 = performance.now();
    slider.value = String(Number(slider.value) - 1);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    flush();
    times.push(performance.now() - t0);
  }
  return times;
}"""
)

# Times a step change in a comparison: the slider moved; the clock stops once both runs'
# heatmaps are flushed (`heatmaps`, the synchronous render) and once the comparison's bars, drawn
# after that paint, show the new step with their rows laid out (`bars`, what the user waits for).
COMPARE_STEP_CHANGE = """async (count) => {
  const flush = () => {
    for (const canvas of document.querySelectorAll('.compare-heatmap'))
      canvas.getContext('2d').getImageData(0, 0, 1, 1);
    return document.body.offsetHeight;
  };
  const frame = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  const slider = document.querySelector('#nv-step');
  const head = [...document.querySelectorAll('.compare-panel h3')]
    .find((e) => /one bar per run/.test(e.textContent));
  const heatmaps = [];
  const bars = [];
  for (let n = 0; n < count; n++) {
    const t0 = performance.now();
    slider.value = String(Number(slider.value) - 1);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    flush();
    heatmaps.push(performance.now() - t0);
    const step = document.querySelector('.bars-panel').dataset.step;
    for (let wait = 0; !head.textContent.includes(`at step ${step},`); wait++) {
      if (wait > 100) throw new Error(`the comparison bars never showed step ${step}`);
      await frame();
    }
    document.querySelector('.compare-bars .cmp-row[data-layer]').getBoundingClientRect();
    flush();
    bars.push(performance.now() - t0);
    await frame(); // the rows out of view are refilled in slices before the next change
  }
  return { heatmaps, bars };
}"""

# Times a zoom (a drag over the middle half of the heatmap's steps) and its reset.
ZOOM = (
    """([count, cols]) => {"""
    + FLUSH
    + """
  const canvas = document.querySelector('.heatmap-canvas');
  const d = canvas.dataset;
  const box = canvas.getBoundingClientRect();
  const at = (f) => ({ clientX: box.left + Number(d.plotLeft) + f * Number(d.plotWidth),
    clientY: box.top + Number(d.plotTop) + Number(d.plotHeight) / 2, bubbles: true, buttons: 1 });
  const zoom = [];
  const reset = [];
  for (let n = 0; n < count; n++) {
    canvas.dispatchEvent(new MouseEvent('mousedown', at(0.25)));
    canvas.dispatchEvent(new MouseEvent('mousemove', at(0.75)));
    const t0 = performance.now();
    window.dispatchEvent(new MouseEvent('mouseup', at(0.75)));
    flush();
    zoom.push(performance.now() - t0);
    if (Number(d.cols) >= cols) throw new Error('the drag did not zoom');
    const t1 = performance.now();
    document.querySelector('#nv-zoom-reset').click();
    flush();
    reset.push(performance.now() - t1);
  }
  return { zoom, reset };
}"""
)


def write_load_run(run_dir: Path, layers: int, steps: int) -> None:
    """A run of ``layers`` x ``steps`` gradient statistics, one logged step each, via NetVizWriter."""
    from tb_netviz.summary import NetVizWriter

    rng = np.random.default_rng(0)
    names = [f"block.{j // 4}.{('conv', 'norm', 'proj', 'mlp')[j % 4]}" for j in range(layers)]
    depth = np.arange(layers, dtype=np.float32) / layers
    with NetVizWriter(run_dir, max_queue=4096) as writer:
        for step in range(steps):
            l2 = 10 ** (-6 + 5 * depth + 0.3 * rng.standard_normal(layers).astype(np.float32))
            param = 1 + depth * 10
            table = np.stack([l2, l2 / 30, l2 * 4, param, l2 / param, 0 * l2, 1 + 0 * l2], axis=1)
            table[3] = [np.nan, np.nan, np.nan, 1.0, np.nan, 0.0, 0.0]  # a layer without gradient
            writer.gradient_flow(step, names, table.astype(np.float32), log_every_n_steps=1)
            if step % 500 == 499:
                writer.flush()
        writer.flush()
        assert writer.dropped == 0, f"{writer.dropped} summaries were dropped"


def frontend_files(revision: str | None) -> dict[str, bytes]:
    """The dashboard's files: of a git revision, or of the working tree when None."""
    if revision is None:
        return {p.name: p.read_bytes() for p in FRONTEND.iterdir() if p.suffix in (".js", ".css")}
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", revision, "frontend/"], cwd=REPO, check=True, capture_output=True
    ).stdout.decode()
    return {
        Path(name).name: subprocess.run(
            ["git", "show", f"{revision}:{name}"], cwd=REPO, check=True, capture_output=True
        ).stdout
        for name in listing.split()
    }


def is_data(url: str) -> bool:
    """Whether a URL is one of the plugin's data routes (not its static files)."""
    return "/data/plugin/netviz/" in url and "/static/" not in url


def variant_context(browser, files: dict[str, bytes], probe: str):
    """A fresh browser context (empty HTTP cache) serving the dashboard's ``files``, ``probe`` run first."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(probe)

    def serve_static(route) -> None:
        name = route.request.url.split("/static/", 1)[1].split("?")[0]
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        route.fulfill(status=200, body=files[name], content_type=kind)

    context.route("**/data/plugin/netviz/static/*", serve_static)
    return context


def open_once(browser, url: str, files: dict[str, bytes], layers: int) -> dict:
    """Open the dashboard in a fresh context; returns its time to first heatmap and payload."""
    context = variant_context(browser, files, READY_PROBE)
    page = context.new_page()
    responses = []
    page.on(
        "response",
        lambda r: "/data/plugin/netviz/" in r.url and "/static/" not in r.url and responses.append(r),
    )
    page.goto(f"{url}/data/plugin_entry.html?name=netviz")
    page.wait_for_function("window.__netvizReadyMs > 0", timeout=600_000, polling=100)
    ready_ms = page.evaluate("window.__netvizReadyMs")
    rows = int(page.locator(".heatmap-canvas").get_attribute("data-rows"))
    assert rows == layers, f"the heatmap has {rows} rows, not {layers}"
    page.wait_for_load_state("networkidle")
    transferred = sum(r.request.sizes()["responseBodySize"] for r in responses)
    decoded = sum(len(r.body()) for r in responses)
    flow = [r.url.split("?", 1)[1] for r in responses if "/gradient_flow?" in r.url]
    step_ms = page.evaluate(STEP_CHANGE, INTERACTIONS)
    zoom = None
    if page.locator("#nv-zoom-reset").count():
        cols = int(page.locator(".heatmap-canvas").get_attribute("data-cols"))
        zoom = page.evaluate(ZOOM, [INTERACTIONS, cols])
    context.close()
    return {
        "ready_ms": ready_ms,
        "transferred": transferred,
        "decoded": decoded,
        "gradient_flow": flow,
        "step_ms": step_ms,
        "zoom": zoom,
    }


# Records when both runs' heatmaps of a comparison are first on the page.
COMPARE_PROBE = """
new MutationObserver(() => {
  if (!window.__netvizCompareMs && document.querySelectorAll('.compare-heatmap').length >= 2)
    window.__netvizCompareMs = performance.now();
}).observe(document, { childList: true, subtree: true });
"""


def open_compare(browser, url: str) -> float:
    """Open a link to the two-run comparison in a fresh context; ms until both heatmaps are drawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(COMPARE_PROBE)
    page = context.new_page()
    page.goto(f'{url}/data/plugin_entry.html?name=netviz#run={LOAD_RUN}&compare=["{COMPARE_RUN}"]')
    page.wait_for_function("window.__netvizCompareMs > 0", timeout=600_000, polling=100)
    ms = page.evaluate("window.__netvizCompareMs")
    context.close()
    return ms


def compare_step_change(browser, url: str, files: dict[str, bytes], layers: int) -> dict:
    """Open the two-run comparison with ``files`` and time step changes in it (COMPARE_STEP_CHANGE)."""
    context = variant_context(browser, files, COMPARE_PROBE)
    page = context.new_page()
    page.goto(f'{url}/data/plugin_entry.html?name=netviz#run={LOAD_RUN}&compare=["{COMPARE_RUN}"]')
    page.wait_for_function("window.__netvizCompareMs > 0", timeout=600_000, polling=100)
    page.wait_for_function(
        "n => document.querySelectorAll('.compare-bars .cmp-row[data-layer]').length === n",
        arg=layers,
        timeout=120_000,
    )
    page.wait_for_load_state("networkidle")
    times = page.evaluate(COMPARE_STEP_CHANGE, INTERACTIONS)
    context.close()
    return times


def measure_load(args) -> dict:
    from tests.tb_server import TensorBoardServer

    for run in (LOAD_RUN, COMPARE_RUN):
        run_dir = args.load / run
        if not run_dir.is_dir():
            started = time.monotonic()
            write_load_run(run_dir, args.layers, args.steps)
            print(f"wrote {run_dir} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    variants = {"before": frontend_files(args.before), "after": frontend_files(None)}
    with TensorBoardServer(args.load, extra_args=["--samples_per_plugin=netviz=0"], timeout=900) as server:

        def loaded() -> bool:
            runs = json.loads(server.get("/data/plugin/netviz/runs")[1])["runs"]
            kept = [r["sampling"]["gradient_flow"]["kept"] for r in runs]
            return len(kept) == 2 and all(k == args.steps for k in kept)

        started = time.monotonic()
        server.wait_for(loaded, f"TensorBoard to load all {args.steps} steps")
        load_s = time.monotonic() - started
        # Read the table once, so that no variant pays TensorBoard's first read of it.
        started = time.monotonic()
        for run in (LOAD_RUN, COMPARE_RUN):
            server.get(f"/data/plugin/netviz/gradient_flow?run={run}&stats=has_grad&max_steps=1")
        table_read_s = time.monotonic() - started
        results: dict[str, list[dict]] = {name: [] for name in variants}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            compare_ms: list[float] = []
            compare_steps: dict[str, list[dict]] = {name: [] for name in variants}
            for round_ in range(args.rounds):
                order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                for name in order:
                    results[name].append(open_once(browser, server.url, variants[name], args.layers))
                compare_ms.append(open_compare(browser, server.url))
                for name in order:
                    timed = compare_step_change(browser, server.url, variants[name], args.layers)
                    compare_steps[name].append(timed)
            version = browser.version
            browser.close()
    report = {
        "chromium": version,
        "layers": args.layers,
        "steps": args.steps,
        "rounds": args.rounds,
        "tensorboard_load_s": round(load_s, 1),
        "first_table_read_s": round(table_read_s, 1),
    }

    def of(timed: list[dict], which: str) -> list[float]:
        return [t for r in timed for t in r[which]]

    for name, rounds in results.items():
        # The first visit of each variant includes the server encoding its answer; later ones are
        # answered from the plugin's response cache, as a reload or a second user would be.
        warm = [r["ready_ms"] for r in rounds[1:]] or [rounds[0]["ready_ms"]]
        report[name] = {
            "gradient_flow_requests": rounds[0]["gradient_flow"],
            "json_mb_decoded": round(rounds[0]["decoded"] / 1e6, 2),
            "mb_transferred_gzip": round(rounds[0]["transferred"] / 1e6, 2),
            "first_heatmap_ms_first_visit": round(rounds[0]["ready_ms"]),
            "first_heatmap_ms_cached": summary(warm),
            "step_change_ms": summary([t for r in rounds for t in r["step_ms"]]),
            "compare_step_change_heatmaps_ms": summary(of(compare_steps[name], "heatmaps")),
            "compare_step_change_bars_ms": summary(of(compare_steps[name], "bars")),
        }
        if rounds[0]["zoom"]:
            report[name]["zoom_ms"] = summary([t for r in rounds for t in r["zoom"]["zoom"]])
            report[name]["zoom_reset_ms"] = summary([t for r in rounds for t in r["zoom"]["reset"]])
    before = statistics.median(r["ready_ms"] for r in results["before"][1:] or results["before"])
    after = statistics.median(r["ready_ms"] for r in results["after"][1:] or results["after"])
    report["ratio_first_heatmap_after_over_before"] = round(after / before, 3)
    warm_compare = compare_ms[1:] or compare_ms
    report["compare_two_runs_first_paint_ms_cached"] = summary(warm_compare)
    report["ratio_compare_over_single_first_paint"] = round(statistics.median(warm_compare) / after, 3)
    report["ratio_json_after_over_before"] = round(
        results["after"][0]["decoded"] / results["before"][0]["decoded"], 4
    )
    return report


if __name__ == "__main__":
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    main()
