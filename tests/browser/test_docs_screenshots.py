"""The README's screenshots, one per view, taken in TensorBoard's own page by a real Chromium.

Gradient flow, layer detail, alerts, attention and the dark theme come from the demo's logs
(``python -m demo --quick``); the comparison (two runs of one model) and the feature maps come
from the browser tests' logs (``netviz_logs``: the demo has neither two runs of one model nor a
convolutional torch run). Each test checks what the picture must show before taking it.
``NETVIZ_UPDATE_DOCS_SCREENSHOT=1`` writes them to ``docs/screenshots/``; otherwise they go to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import ARTIFACTS, REPO, Watched, netviz_frame

DOCS = REPO / "docs" / "screenshots"
MAX_BYTES = 400_000
VIEWPORT = {"width": 1440, "height": 1000}


def publish(target, name: str) -> None:
    """Screenshot `target` to the artifacts, and to docs/screenshots/ when asked."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"docs_{name}"
    if not hasattr(target, "goto"):
        # A picture of one panel: the sticky toolbar would otherwise cover the panel's top.
        target.evaluate("el => { el.ownerDocument.querySelector('.toolbar').style.position = 'static'; }")
    target.screenshot(path=str(shot))
    assert shot.stat().st_size < MAX_BYTES, f"{shot} is {shot.stat().st_size} bytes"
    if os.environ.get("NETVIZ_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS / name)


def open_tab(browser, server, run: str, scheme: str = "light", view: str = "", alone: bool = False):
    """TensorBoard's page on the NetViz tab, or (`alone`) the tab's own page, for pictures of one
    panel taller than the window (an element inside TensorBoard's iframe is cut at its edge)."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
    watched = Watched(context.new_page())
    if alone:
        watched.page.goto(f"{server.url}/data/plugin_entry.html?name=netviz" + (f"#{view}" if view else ""))
        frame = watched.page.main_frame
    else:
        watched.page.goto(f"{server.url}/#netviz" + (f"&nv={view}" if view else ""))
        frame = netviz_frame(watched.page)
    frame.wait_for_function("document.body.dataset.netvizPhase === 'ready'", timeout=60_000)
    if frame.locator("#nv-run").input_value() != run:
        frame.select_option("#nv-run", run)
    frame.wait_for_function(
        "run => document.body.dataset.netvizPhase === 'ready'"
        " && document.querySelector('#nv-run').value === run",
        arg=run,
        timeout=60_000,
    )
    if scheme == "dark" and not alone:
        watched.page.evaluate("document.body.classList.add('dark-mode')")
    return context, watched, frame


@pytest.fixture
def contexts():
    opened = []
    yield opened
    for context in opened:
        context.close()


def test_gradient_flow_and_layer_detail_screenshots(browser, demo_tensorboard, contexts):
    context, watched, frame = open_tab(browser, demo_tensorboard, "torch_vanishing_mlp")
    contexts.append(context)
    expect(frame.locator(".bars-panel .band-vanishing").first).to_be_visible()
    content = frame.locator(".heatmap-panel, .bars-panel")
    assert content.count() == 2
    publish(watched.page, "gradient_flow.png")
    context, watched, frame = open_tab(browser, demo_tensorboard, "torch_vanishing_mlp", alone=True)
    contexts.append(context)
    frame.locator(".layer-item[data-layer='fc03']").click()
    detail = frame.locator(".detail-panel")
    expect(detail).to_have_attribute("data-layer", "fc03")
    expect(detail.locator(".chart-title", has_text="grad_max_abs")).to_have_count(1)
    detail.scroll_into_view_if_needed()
    publish(detail, "layer_detail.png")
    assert watched.errors == []


def test_alerts_and_dark_theme_screenshots_of_the_diverged_demo(browser, demo_tensorboard, contexts):
    context, watched, frame = open_tab(browser, demo_tensorboard, "torch_exploding_lr")
    contexts.append(context)
    expect(frame.locator(".alert-link").first).to_have_attribute("data-kind", "nonfinite")
    publish(watched.page, "diverged.png")
    context, watched, frame = open_tab(browser, demo_tensorboard, "torch_exploding_lr", alone=True)
    contexts.append(context)
    expect(frame.locator(".alert-link").first).to_have_attribute("data-kind", "nonfinite")
    publish(frame.locator(".alerts-panel"), "alerts.png")
    context, watched, frame = open_tab(browser, demo_tensorboard, "torch_exploding_lr", "dark")
    contexts.append(context)
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    publish(watched.page, "dark_theme.png")
    assert watched.errors == []


def test_attention_screenshot_of_the_reversal_transformer(browser, demo_tensorboard, contexts):
    context, watched, frame = open_tab(browser, demo_tensorboard, "lightning_reversal", alone=True)
    contexts.append(context)
    panel = frame.locator(".attention-panel")
    panel.locator(".att-rows .att-label").first.wait_for(timeout=30_000)
    panel.scroll_into_view_if_needed()
    canvas = panel.locator(".attention-canvas")
    box = canvas.bounding_box()
    watched.page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6)
    expect(panel.locator(".att-highlight")).to_be_visible()
    publish(panel, "attention.png")
    assert watched.errors == []


def test_comparison_and_feature_map_screenshots(browser, tensorboard, contexts):
    view = "run=transformer&compare=%5B%22transformer_b%22%5D&layer=head"
    context, watched, frame = open_tab(browser, tensorboard, "transformer", view=view, alone=True)
    contexts.append(context)
    panel = frame.locator(".compare-panel")
    expect(panel.locator(".compare-heatmap")).to_have_count(2)
    expect(panel.locator(".compare-line")).to_have_count(2)
    publish(panel, "comparison.png")
    context, watched, frame = open_tab(browser, tensorboard, "deep", alone=True)
    contexts.append(context)
    frame.locator(f".layer-item[data-layer='{netviz_logs.FEATURE_MAP_LAYER}']").click()
    frame.wait_for_function("document.querySelector('img.feature-maps').naturalWidth > 0")
    maps = frame.locator(".feature-maps-box")
    maps.scroll_into_view_if_needed()
    publish(maps, "feature_maps.png")
    assert watched.errors == []
