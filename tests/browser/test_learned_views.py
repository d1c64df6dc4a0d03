"""The weights and embedding views in real Chromium over a real TensorBoard serving a real training run.

The run: a small CNN trained on scikit-learn's digits with ``NetViz`` (weights and the
embedding at steps 0, 10, 20 and 29, true labels given). Screenshots at 900 and 1440 px,
light and dark, go to test-artifacts/browser/{weights,embedding}_*.png.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from playwright.sync_api import expect
from torch import nn

from tb_netviz.torch import NetViz
from tests.browser.conftest import Watched, save_artifact
from tests.browser.digits_runs import SAMPLE_STEPS, open_view, plugin_json, screenshot_panels, train_digits
from tests.tb_server import TensorBoardServer

RUN = "digits"
PROBE = 40
SIZE_PX, PAD_PX = 420, 12


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 64, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


def _train_rgb(run_dir) -> None:
    """A first layer with 3 input channels, whose kernels can be drawn as colour pictures."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 6 * 6, 3))
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 3, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with NetViz(model, run_dir, sample_batch=x[:6], log_every_n_steps=1, sample_every_n_steps=2) as viz:
        for step in range(3):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)


@pytest.fixture(scope="module")
def learned_server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("learned-logs")
    train_digits(logdir / RUN, _cnn, samples=512, probe=PROBE)
    _train_rgb(logdir / "rgb")
    with TensorBoardServer(logdir) as server:
        server.wait_for(
            lambda: (
                b'"embedding_layers": ["7"]' in server.get("/data/plugin/netviz/runs")[1]
                and b'"rgb"' in server.get("/data/plugin/netviz/runs")[1]
            ),
            "the run's weights and embedding to load",
        )
        yield server


def open_learned(new_page, server, color_scheme="light", width=1400, run=RUN) -> Watched:
    drawn = (
        "() => document.querySelector('.weights-panel').dataset.step"
        " && /^[0-9]+$/.test(document.querySelector('.embedding-panel').dataset.step || '')"
    )
    return open_view(new_page, server, run, drawn, color_scheme, width)


def weight_pixels(page) -> np.ndarray:
    size, data = page.evaluate(
        """() => { const c = document.querySelector('#nv-w-canvas');
                   const image = c.getContext('2d').getImageData(0, 0, c.width, c.height);
                   return [[c.height, c.width], Array.from(image.data)]; }"""
    )
    return np.array(data, np.uint8).reshape(*size, 4)


def diverging(value: float, scale: float) -> list[int]:
    t = max(-1.0, min(1.0, value / scale))
    end = np.array([33, 102, 172]) if t < 0 else np.array([178, 24, 43])
    zero = np.array([247, 247, 247])
    return [int(np.floor(c + 0.5)) for c in zero + (end - zero) * abs(t)]


def test_kernel_grid_draws_the_routes_values_on_one_zero_centred_scale(new_page, learned_server):
    watched = open_learned(new_page, learned_server)
    page = watched.page
    page.select_option("#nv-w-layer", "2")
    # The canvas label is set with its pixels: wait for layer 2 at the step the route is asked for.
    page.wait_for_function(
        "(label) => document.querySelector('#nv-w-canvas').getAttribute('aria-label') === label"
        " && document.querySelector('.w-caption').textContent.startsWith('16 of 16')",
        arg=f"weights of 2 at step {SAMPLE_STEPS[-1]}",
        timeout=60_000,
    )
    answer = plugin_json(learned_server, "weights", run=RUN, layer=2, step=SAMPLE_STEPS[-1])
    values, scale = np.array(answer["values"]), answer["scale"]
    pixels = weight_pixels(page)
    assert pixels.shape[:2] == (16 * 4 - 1, 8 * 4 - 1)  # rows = 16 outputs, columns = 8 inputs, 3x3 tiles
    for o, i, y, x in [(0, 0, 0, 0), (5, 3, 1, 2), (15, 7, 2, 2)]:
        assert pixels[o * 4 + y, i * 4 + x, :3].tolist() == diverging(values[o, i, y, x], scale)
    assert pixels[3, 0, 3] == 0  # the gap between output rows is transparent
    assert page.locator(".w-caption").inner_text() == (
        "16 of 16 output channels (rows) × 8 of 8 input channels (columns), 3×3 kernels"
    )
    ends = page.locator(".weights-panel .w-scale-end").all_inner_texts()
    assert ends[1] == f"{float(f'{scale:.3g}'):g}" and ends[0].startswith("-")
    assert watched.errors == []


def test_kernels_of_one_input_channel_are_a_grid_of_tiles_not_one_tall_column(new_page, learned_server):
    watched = open_learned(new_page, learned_server)
    page = watched.page
    page.select_option("#nv-w-layer", "0")  # Conv2d(1, 8, 3): [8, 1, 3, 3]
    page.wait_for_function(
        "(label) => document.querySelector('#nv-w-canvas').getAttribute('aria-label') === label"
        " && document.querySelector('.w-caption').textContent.startsWith('8 of 8')",
        arg=f"weights of 0 at step {SAMPLE_STEPS[-1]}",
        timeout=60_000,
    )
    answer = plugin_json(learned_server, "weights", run=RUN, layer=0, step=SAMPLE_STEPS[-1])
    values, scale = np.array(answer["values"]), answer["scale"]
    assert values.shape == (8, 1, 3, 3)
    pixels = weight_pixels(page)
    assert pixels.shape[:2] == (3 * 4 - 1, 3 * 4 - 1)  # 8 tiles of 3x3, three a row
    for o, y, x in [(0, 0, 0), (5, 1, 2), (7, 2, 1)]:
        row, column = divmod(o, 3)
        assert pixels[row * 4 + y, column * 4 + x, :3].tolist() == diverging(values[o, 0, y, x], scale)
    assert pixels[8:, 8:, 3].max() == 0  # the ninth slot is empty
    assert page.locator(".w-caption").inner_text() == (
        "8 of 8 output channels, 3 a row (one input channel), 3×3 kernels"
    )
    canvas = page.locator("#nv-w-canvas").bounding_box()
    assert 0.8 < canvas["width"] / canvas["height"] < 1.25
    save_artifact(page.locator(".weights-panel"), "weights_one_input_channel.png")
    assert watched.errors == []


def test_the_change_toggle_shows_w_t_minus_w_0_and_the_pooled_matrix_its_two_pools(new_page, learned_server):
    watched = open_learned(new_page, learned_server)
    page = watched.page
    page.check("#nv-w-change")
    page.wait_for_function("() => document.querySelector('.weights-panel').dataset.view === 'change'")
    change = plugin_json(learned_server, "weights", run=RUN, layer=0, step=29, view="change")
    pixels = weight_pixels(page)
    assert pixels[0, 0, :3].tolist() == diverging(change["values"][0][0][0][0], change["scale"])
    page.locator("#nv-step").focus()
    page.keyboard.press("Home")  # at the first step nothing has changed: every tile is white
    page.wait_for_function("() => document.querySelector('.weights-panel').dataset.step === '0'")
    first = weight_pixels(page)
    drawn = first[..., 3] == 255
    assert (first[drawn][:, :3] == 247).all()
    page.select_option("#nv-w-layer", "5")  # Linear(1024 -> 32): pooled in blocks of 1 x 4
    page.wait_for_function(
        "() => document.querySelector('.w-caption').textContent.includes('pooled in blocks of 1×4')"
    )
    assert page.locator("#nv-w-pool").is_visible()
    page.uncheck("#nv-w-change")
    page.wait_for_function("() => document.querySelector('.weights-panel').dataset.view === 'weights'")
    extreme = weight_pixels(page)
    assert extreme.shape[:2] == (32, 256)
    page.select_option("#nv-w-pool", "1")
    page.wait_for_function(
        "before => document.querySelector('#nv-w-canvas').getContext('2d')"
        ".getImageData(0, 0, 1, 1).data[0] !== before",
        arg=int(extreme[0, 0, 0]),
    )
    assert not np.array_equal(weight_pixels(page), extreme)
    assert watched.errors == []


def test_kernels_of_three_input_channels_can_be_drawn_as_colour_pictures(new_page, learned_server):
    watched = open_learned(new_page, learned_server, run="rgb")
    page = watched.page
    page.wait_for_selector("#nv-w-rgb", state="visible")  # once the rgb run's layer index is loaded
    assert page.locator("#nv-w-layer").input_value() == "0"
    page.check("#nv-w-rgb")
    page.wait_for_function("() => document.querySelector('.weights-panel').dataset.rgb === 'true'")
    values = np.array(
        plugin_json(learned_server, "weights", run="rgb", layer=0, step=2)["values"]
    )  # [5, 3, 3, 3]
    top = np.abs(values).max()
    pixels = weight_pixels(page)
    assert pixels.shape[:2] == (3, 5 * 4 - 1)  # one colour picture per output channel, in a row
    for o, y, x in [(0, 0, 0), (4, 2, 1)]:
        expected = np.floor((0.5 + values[o, :, y, x] / (2 * top)) * 255 + 0.5).astype(int)
        assert np.abs(pixels[y, o * 4 + x, :3].astype(int) - expected).max() <= 1
    assert page.locator(".weights-panel .legend").is_hidden()  # the diverging colour bar does not apply
    assert watched.errors == []


def pixel_positions(answer, frame: int) -> np.ndarray:
    """Where the 2-D view must draw each point: one square box around every step's points."""
    every = np.array([p for step in answer["points"] for p in step], np.float64)[:, :2]
    low, high = every.min(axis=0), every.max(axis=0)
    half = max(high - low) / 2
    centre = (low + high) / 2
    span = (SIZE_PX - 2 * PAD_PX) / (2 * half)
    points = np.array(answer["points"][frame], np.float64)[:, :2]
    x = PAD_PX + (points[:, 0] - centre[0] + half) * span
    y = SIZE_PX - PAD_PX - (points[:, 1] - centre[1] + half) * span
    return np.stack([x, y], axis=1)


def test_embedding_scatter_has_a_legend_and_hover_names_the_sample_and_its_label(new_page, learned_server):
    watched = open_learned(new_page, learned_server)
    page = watched.page
    answer = plugin_json(learned_server, "embedding", run=RUN, layer=7)
    labels = answer["labels"][-1]
    legend = page.locator(".e-legend li").all_inner_texts()
    counts = {label: labels.count(label) for label in sorted(set(labels))}
    assert legend == [f"{label} ({count})" for label, count in counts.items()]
    assert page.locator(".e-legend-title").inner_text() == "Colour: true class (sample_labels)"
    assert page.locator(".e-variance").inner_text().startswith("explained variance: pc1 ")
    positions = pixel_positions(answer, len(SAMPLE_STEPS) - 1) + 1  # inside the canvas's 1 px border
    page.locator("#nv-e-canvas").scroll_into_view_if_needed()
    box = page.locator("#nv-e-canvas").bounding_box()
    # a point with no other point within 8 px, so the hover is unambiguous
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=2) + np.eye(len(positions)) * 1e9
    alone = int(np.argmax(distance.min(axis=1)))
    page.mouse.move(box["x"] + positions[alone, 0], box["y"] + positions[alone, 1])
    tooltip = page.locator("#nv-e-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text() == f"sample #{alone} · class {labels[alone]}"
    assert watched.errors == []


def test_the_dashboards_step_moves_the_points_with_an_animation(new_page, learned_server):
    watched = open_learned(new_page, learned_server)
    page = watched.page
    panel = page.locator(".embedding-panel")
    assert panel.get_attribute("data-step") == "29"
    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('.embedding-panel').dataset.step === 'moving'")
    page.wait_for_function("() => document.querySelector('.embedding-panel').dataset.step === '0'")
    assert page.locator(".embedding-panel .gc-step").inner_text() == "step 0"
    page.select_option("#nv-e-mode", "3d")
    page.locator("#nv-e-canvas").scroll_into_view_if_needed()
    box = page.locator("#nv-e-canvas").bounding_box()
    before = page.evaluate("() => document.querySelector('#nv-e-canvas').toDataURL()")
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 260, box["y"] + 210, steps=4)
    page.mouse.up()
    assert page.evaluate("() => document.querySelector('#nv-e-canvas').toDataURL()") != before
    assert watched.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [900, 1440])
def test_view_screenshots_at_two_widths_in_both_themes(new_page, learned_server, scheme, width):
    watched = open_learned(new_page, learned_server, color_scheme=scheme, width=width)
    screenshot_panels(watched, scheme, width, {"weights": ".weights-panel", "embedding": ".embedding-panel"})


def test_weights_and_embedding_captions_follow_the_dashboards_step_between_kept_steps(
    new_page, learned_server
):
    watched = open_learned(new_page, learned_server)
    page = watched.page
    captions = {panel: page.locator(f".{panel}-panel .gc-step") for panel in ("weights", "embedding")}
    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    for caption in captions.values():
        expect(caption).to_have_text("step 0", timeout=30_000)
    page.keyboard.press("ArrowRight")  # step 1: still the kept step 0, now "nearest to step 1"
    for caption in captions.values():
        expect(caption).to_have_text("step 0 (nearest to step 1)", timeout=30_000)
    page.keyboard.press("ArrowRight")  # step 2: the same kept step; the caption must move on
    for caption in captions.values():
        expect(caption).to_have_text("step 0 (nearest to step 2)", timeout=30_000)
    page.keyboard.press("Home")
    for caption in captions.values():
        expect(caption).to_have_text("step 0", timeout=30_000)
    assert watched.errors == []
