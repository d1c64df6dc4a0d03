"""A run with more layers than the bar list shows at once (real TensorBoard, real Chromium, logs
written by NetVizWriter): a step change refills the rows in view at once and the others right
after, in place, so that every row ends up showing the new step."""

from __future__ import annotations

import json

import numpy as np
import pytest
from playwright.sync_api import expect

from tb_netviz.summary import GRADIENT_STATS, NetVizWriter
from tests.browser.conftest import open_dashboard
from tests.tb_server import TensorBoardServer

WIDE_LAYERS = [f"layer{j:03d}" for j in range(150)]
WIDE_STEPS = list(range(0, 120, 10))


def wide_table(step: int) -> np.ndarray:
    """grad_l2 of layer j at `step`: (j + 1) * (step + 1) / 1000, every layer with a gradient."""
    table = np.zeros((len(WIDE_LAYERS), len(GRADIENT_STATS)), np.float32)
    l2 = (np.arange(len(WIDE_LAYERS), dtype=np.float32) + 1) * (step + 1) / 1000
    table[:, GRADIENT_STATS.index("grad_l2")] = l2
    table[:, GRADIENT_STATS.index("grad_mean_abs")] = l2 / 30
    table[:, GRADIENT_STATS.index("grad_max_abs")] = l2 * 4
    table[:, GRADIENT_STATS.index("param_l2")] = 1.0
    table[:, GRADIENT_STATS.index("grad_to_param")] = l2
    table[:, GRADIENT_STATS.index("has_grad")] = 1.0
    return table


@pytest.fixture(scope="module")
def wide_tensorboard(tmp_path_factory):
    """TensorBoard over one run, ``wide``: 150 layers, 12 logged steps."""
    root = tmp_path_factory.mktemp("wide-logs")
    with NetVizWriter(root / "wide") as writer:
        for step in WIDE_STEPS:
            writer.gradient_flow(step, WIDE_LAYERS, wide_table(step), log_every_n_steps=10)
    with TensorBoardServer(root, extra_args=["--samples_per_plugin=netviz=0"]) as server:
        server.wait_for(lambda: b'"wide"' in server.get("/data/plugin/netviz/runs")[1], "the wide run to load")
        yield server


def shown_values(page) -> list[float]:
    return page.evaluate(
        "() => [...document.querySelectorAll('.bar-row')].map((row) => Number(row.dataset.value))"
    )


def test_a_step_change_refills_every_bar_row_in_place_also_those_out_of_view(new_page, wide_tensorboard):
    watched = new_page()
    page = open_dashboard(watched, wide_tensorboard, "wide")
    rows = page.locator(".bar-row")
    expect(rows).to_have_count(len(WIDE_LAYERS))
    _, body, _ = wide_tensorboard.get("/data/plugin/netviz/gradient_flow?run=wide&stats=grad_l2")
    flow = json.loads(body)
    last = [v[0] for v in flow["values"][-1]]
    assert shown_values(page) == pytest.approx(last, rel=1e-6)
    # most rows lie below the list's scrolled view
    out_of_view = page.evaluate(
        """() => {
      const list = document.querySelector('.bar-rows').getBoundingClientRect();
      return [...document.querySelectorAll('.bar-row')].filter((row) => row.getBoundingClientRect().top > list.bottom).length;
    }"""
    )
    assert out_of_view > len(WIDE_LAYERS) / 2, out_of_view
    page.evaluate("() => { window.keptBars = [...document.querySelectorAll('.bar-row .bar')]; }")

    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    expect(page.locator(".bars-panel h2")).to_have_text(f"Gradient flow at step {WIDE_STEPS[0]}")
    first = [v[0] for v in flow["values"][0]]
    page.wait_for_function(
        "expected => [...document.querySelectorAll('.bar-row')].every((row, j) =>"
        " Math.abs(Number(row.dataset.value) - expected[j]) <= 1e-6 * expected[j])",
        arg=first,
        timeout=5_000,
    )
    # the same row and bar elements, refilled: none was rebuilt
    assert page.evaluate(
        "() => window.keptBars.length === document.querySelectorAll('.bar-row .bar').length"
        " && window.keptBars.every((bar) => bar.isConnected)"
    )
    bottom = rows.nth(len(WIDE_LAYERS) - 1)
    bottom.scroll_into_view_if_needed()
    expect(bottom.locator(".bar-value")).to_have_text(f"{first[-1]:.3g}")
    assert watched.errors == []
