"""The dashboard over the demo's own logs, and the README's screenshot taken from it.

The demo (``python -m demo --quick``) trains the vanishing MLP, the exploding
learning rate and the Lightning reversal transformer; a real TensorBoard keeps
every step (``--samples_per_plugin=netviz=0``) and the NetViz tab is opened in
TensorBoard's own page, as a user would.

``NETVIZ_DEMO_LOGDIR=DIR`` uses the runs already in DIR (e.g. written by the full
demo, ``python -m demo --only vanishing exploding lightning --logdir DIR``)
instead of running the quick demo. ``NETVIZ_UPDATE_DOCS_SCREENSHOT=1`` writes
the vanishing run's screenshot to ``docs/screenshots/netviz.png``.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, REPO, Watched, netviz_frame

VANISHING = "torch_vanishing_mlp"
EXPLODING = "torch_exploding_lr"
REVERSAL = "lightning_reversal"
DEMO_RUNS = (VANISHING, EXPLODING, REVERSAL)
DOCS_SCREENSHOT = REPO / "docs" / "screenshots" / "netviz.png"
DOCS_SCREENSHOT_MAX_BYTES = 300_000
# Tall enough that TensorBoard's page shows the toolbar, the alerts, the heatmap and the bar chart.
SCREENSHOT_VIEWPORT = {"width": 1400, "height": 1150}


@pytest.fixture
def netviz_tab(browser, demo_tensorboard):
    """Open TensorBoard's page on the NetViz tab; returns (watched page, the tab's frame)."""
    context = browser.new_context(viewport=SCREENSHOT_VIEWPORT, color_scheme="light")
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{demo_tensorboard.url}/#netviz")
    page.get_by_role("tab", name="NetViz").wait_for(timeout=60_000)
    frame = netviz_frame(page)
    frame.wait_for_function("document.body.dataset.netvizPhase === 'ready'", timeout=60_000)
    yield watched, frame
    context.close()


def route_json(server, path: str):
    status, body, _ = server.get(f"/data/plugin/netviz/{path}")
    assert status == 200, body
    return json.loads(body)


def select_run(frame, run: str) -> None:
    if frame.locator("#nv-run").input_value() != run:
        frame.select_option("#nv-run", run)
    frame.wait_for_function(
        "run => document.body.dataset.netvizPhase === 'ready'"
        " && document.querySelector('#nv-run').value === run"
        " && document.querySelector('.detail-panel').dataset.layer !== undefined",
        arg=run,
        timeout=60_000,
    )


def step_label(frame) -> str:
    return frame.locator(".step-label").inner_text().split()[0]


def test_vanishing_run_lists_its_alerts_and_one_heatmap_row_per_layer(netviz_tab, demo_tensorboard):
    watched, frame = netviz_tab
    select_run(frame, VANISHING)
    flow = route_json(demo_tensorboard, f"gradient_flow?run={VANISHING}&stats=grad_l2&max_steps=1")
    alerts = route_json(demo_tensorboard, f"alerts?run={VANISHING}")["alerts"]
    vanishing = [a for a in alerts if a["kind"] == "vanishing"]
    assert vanishing, "the vanishing demo raised no vanishing alert"

    links = frame.locator(".alert-link.kind-vanishing")
    expect(links).to_have_count(len(vanishing))
    listed = {(int(a.get_attribute("data-step")), a.get_attribute("data-layer")) for a in links.all()}
    assert listed == {(a["step"], a["layer"]) for a in vanishing}
    canvas = frame.locator(".heatmap-canvas")
    assert int(canvas.get_attribute("data-rows")) == len(flow["layers"])
    assert frame.locator(".bar-row").count() == len(flow["layers"])
    assert frame.locator(".heatmap-panel h2").inner_text().startswith("Layers × steps: gradient L2 norm")

    # The deepest-from-the-output layer's alert: clicking it selects that layer.
    first = min(vanishing, key=lambda a: (flow["layers"].index(a["layer"]), a["step"]))
    frame.locator(f".alert-link[data-step='{first['step']}'][data-layer='{first['layer']}']").click()
    expect(frame.locator(".bar-row.selected")).to_have_attribute("data-layer", first["layer"])
    expect(frame.locator(".detail-panel h2")).to_have_text(f"Layer detail: {first['layer']}")
    assert step_label(frame) == str(first["step"])

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "demo_vanishing_tab.png"
    watched.page.screenshot(path=str(shot))
    assert shot.stat().st_size < DOCS_SCREENSHOT_MAX_BYTES, f"{shot} is {shot.stat().st_size} bytes"
    if os.environ.get("NETVIZ_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    assert watched.errors == []


def test_exploding_run_lists_the_non_finite_alert_and_clicking_it_selects_its_step(
    netviz_tab, demo_tensorboard
):
    watched, frame = netviz_tab
    select_run(frame, EXPLODING)
    alerts = route_json(demo_tensorboard, f"alerts?run={EXPLODING}")["alerts"]
    nonfinite = [a for a in alerts if a["kind"] == "nonfinite"]
    assert nonfinite, "the exploding demo raised no non-finite alert"
    first = nonfinite[0]

    links = frame.locator(".alert-link.kind-nonfinite")
    expect(links).to_have_count(len(nonfinite))
    expect(links.first.locator(".alert-kind")).to_have_text("non-finite gradient")
    # Leave the step the dashboard opened at, so that the click visibly moves it.
    frame.locator("#nv-step").focus()
    frame.page.keyboard.press("End")
    links.first.click()
    expect(frame.locator(".bars-panel h2")).to_have_text(f"Gradient flow at step {first['step']}")
    assert step_label(frame) == str(first["step"])
    expect(frame.locator(".bar-row.selected")).to_have_attribute("data-layer", first["layer"])
    selected = frame.locator(".bar-row.selected")
    assert "nonfinite" in selected.get_attribute("data-kind")
    watched.page.screenshot(path=str(ARTIFACTS / "demo_exploding_tab.png"))
    assert watched.errors == []


def test_reversal_attention_is_labelled_with_the_probe_digits(netviz_tab, demo_tensorboard):
    watched, frame = netviz_tab
    select_run(frame, REVERSAL)
    panel = frame.locator(".attention-panel")
    panel.locator(".att-rows .att-label").first.wait_for(timeout=30_000)
    layer = panel.locator("#nv-att-layer").input_value()
    step = panel.locator("#nv-att-step").get_attribute("data-step")
    answer = route_json(demo_tensorboard, f"attention?run={REVERSAL}&layer={layer}&step={step}")
    tokens = answer["tokens"]
    assert tokens and all(token.isdigit() for token in tokens), tokens
    expect(panel.locator(".att-rows .att-label")).to_have_text(tokens)
    expect(panel.locator(".att-cols .att-label")).to_have_text(tokens)
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(ARTIFACTS / "demo_reversal_attention.png"))
    assert watched.errors == []
