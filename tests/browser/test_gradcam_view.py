"""The Grad-CAM view in real Chromium over a real TensorBoard serving a real training run.

The run: a small CNN trained on scikit-learn's digits with ``NetViz(gradcam=True)``,
Grad-CAM at steps 0, 10, 20 and 29, true labels given. Screenshots at 900 and
1440 px, light and dark, go to test-artifacts/browser/gradcam_*.png.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from torch import nn

from tests.browser.conftest import Watched
from tests.browser.digits_runs import SAMPLE_STEPS, open_view, plugin_json, screenshot_panels, train_digits
from tests.tb_server import TensorBoardServer

RUN = "digits"
# The explained layer's name is hostile HTML: it must show as text and never run.
LAYER = "<img src=x onerror=alert(1)>"
PROBE = 6


def _cnn() -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(1, 8, 3, padding=1)),
                ("relu1", nn.ReLU()),
                (LAYER, nn.Conv2d(8, 16, 3, padding=1)),
                ("relu2", nn.ReLU()),
                ("flatten", nn.Flatten()),
                ("head", nn.Linear(16 * 64, 10)),
            ]
        )
    )


@pytest.fixture(scope="module")
def gradcam_server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("gradcam-logs")
    train_digits(logdir / RUN, _cnn, samples=256, probe=PROBE, gradcam=True)
    with TensorBoardServer(logdir) as server:
        server.wait_for(
            lambda: b'"gradcam_layers": ["<img' in server.get("/data/plugin/netviz/runs")[1],
            "the Grad-CAM run to load",
        )
        yield server


def open_gradcam(new_page, server, color_scheme="light", width=1400) -> Watched:
    drawn = "() => document.querySelectorAll('.gradcam-panel .gc-canvas').length > 0"
    return open_view(new_page, server, RUN, drawn, color_scheme, width)


def canvas_pixels(page, index: int) -> np.ndarray:
    data = page.evaluate(
        """i => { const c = document.querySelectorAll('.gradcam-panel .gc-canvas')[i];
                  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""",
        index,
    )
    return np.array(data, np.uint8).reshape(8, 8, 4)


def shown_step(page) -> int:
    return int(page.locator(".gradcam-panel").get_attribute("data-step"))


def wait_for_step(page, step: int) -> None:
    page.wait_for_function(
        "s => document.querySelector('.gradcam-panel').dataset.step === String(s)", arg=step, timeout=15_000
    )


def test_overlay_is_drawn_over_each_probe_image_with_its_labels_as_text(new_page, gradcam_server):
    watched = open_gradcam(new_page, gradcam_server)
    page = watched.page
    assert shown_step(page) == SAMPLE_STEPS[-1]  # the dashboard opens on the latest step
    answer = plugin_json(gradcam_server, "gradcam", run=RUN, layer=LAYER, step=SAMPLE_STEPS[-1])
    cards = page.locator(".gradcam-panel .gc-card")
    assert cards.count() == PROBE
    for n in range(PROBE):
        caption = cards.nth(n).locator("figcaption")
        cls, label = answer["classes"][n], answer["labels"][n]
        probability = float(f"{answer['probabilities'][n]:.3g}")
        assert caption.locator(".gc-explains").inner_text() == f"explains class {cls} (p = {probability:g})"
        mark = "✓" if cls == label else "✗"
        assert caption.locator(".gc-truth").inner_text() == f"true class {label} · predicted {cls} {mark}"
        assert caption.locator("*").count() == 3  # spans of text, nothing parsed from the data
    pixels = canvas_pixels(page, 0)[..., :3].astype(int)
    assert (np.abs(pixels[..., 0] - pixels[..., 2]) > 10).any()  # coloured by the map, not the grey image
    assert page.locator("#nv-gc-layer").input_value() == LAYER
    assert page.locator("#nv-gc-layer option").inner_text() == LAYER
    assert page.locator(".gradcam-panel img").count() == 0 and watched.dialogs == []
    assert "explains the class the model predicts" in page.locator(".gradcam-panel .gc-note").inner_text()
    assert watched.errors == []


def test_step_control_moves_the_dashboards_step_and_the_maps(new_page, gradcam_server):
    watched = open_gradcam(new_page, gradcam_server)
    page = watched.page
    last = canvas_pixels(page, 0)
    page.click("#nv-gc-prev")
    wait_for_step(page, 20)
    assert page.locator(".bars-panel h2").inner_text() == "Gradient flow at step 20"
    assert not np.array_equal(canvas_pixels(page, 0), last)
    page.click("#nv-gc-prev")
    wait_for_step(page, 10)
    page.locator("#nv-step").focus()  # the dashboard's own step control moves the maps too
    page.keyboard.press("Home")
    wait_for_step(page, 0)
    assert page.locator(".gradcam-panel .gc-step").inner_text() == "step 0"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('.gradcam-panel .gc-step').textContent.includes('nearest to step 2')"
    )
    assert shown_step(page) == 0
    page.click("#nv-gc-play")
    wait_for_step(page, SAMPLE_STEPS[-1])
    assert page.locator("#nv-gc-play").inner_text() == "Play"
    assert watched.errors == []


def test_opacity_and_scale_controls_change_the_drawing(new_page, gradcam_server):
    watched = open_gradcam(new_page, gradcam_server)
    page = watched.page
    images = plugin_json(gradcam_server, "probe_inputs", run=RUN)
    maps = np.array(
        plugin_json(gradcam_server, "gradcam", run=RUN, layer=LAYER, step=SAMPLE_STEPS[-1])["values"]
    )
    peaks = maps.max(axis=(1, 2))
    n = int(np.argmax(np.where(peaks < peaks.max(), peaks, 0)))  # a lit map below the run's peak
    assert peaks[n] > 0
    page.locator("#nv-gc-opacity").fill("0")
    grey = canvas_pixels(page, n)[..., :3]
    expected = np.rint(np.array(images["values"][n])[..., 0] * 255).astype(np.uint8)
    np.testing.assert_array_equal(grey, np.repeat(expected[..., None], 3, axis=-1))
    page.locator("#nv-gc-opacity").fill("100")
    fixed = canvas_pixels(page, n)
    legend = page.locator(".gradcam-panel .legend span").last.inner_text()
    run_max = plugin_json(gradcam_server, "gradcam", run=RUN, layer=LAYER)["max"]
    shown = page.evaluate("async v => (await import('./static/shape.js')).formatShort(v)", run_max)
    assert legend == shown and float(legend) == pytest.approx(run_max, rel=5e-3)
    page.select_option("#nv-gc-scale", "image")
    assert page.locator(".gradcam-panel .legend span").last.inner_text() == "each image’s max"
    assert page.locator(".gradcam-panel .gc-max").count() == PROBE
    assert not np.array_equal(canvas_pixels(page, n), fixed)
    assert watched.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [900, 1440])
def test_view_screenshots_at_two_widths_in_both_themes(new_page, gradcam_server, scheme, width):
    watched = open_gradcam(new_page, gradcam_server, color_scheme=scheme, width=width)
    screenshot_panels(watched, scheme, width, {"gradcam": ".gradcam-panel"})
