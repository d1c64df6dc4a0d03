"""Benchmark: time to render the NetViz heatmap for 500 layers x 1,000 steps in headless Chromium.

Measured in the browser (Debian's Chromium driven by Playwright), on the dashboard's
real heatmap view (``frontend/views_heatmap.js``): one ``update`` that rebuilds the
layers x steps matrix of a statistic, paints it with one ``putImageData`` and draws
it scaled with labels and selection. The baseline, timed in the same page and
interleaved with it, is the obvious canvas approach: one ``fillRect`` per cell with
its own colour. Each round times both (order alternating); the report gives the
median, the spread (min / max) and the ratio of medians. Decoding the route's JSON
(``shape.decodeTable``) is reported apart: it happens once per load, not per render.

Usage:
    .venv/bin/python bench/bench_frontend.py [--layers 500] [--steps 1000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from playwright.sync_api import sync_playwright

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
