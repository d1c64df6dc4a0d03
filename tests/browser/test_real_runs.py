"""The dashboard on the two situations it exists for, a run that diverged and a deep model
(issue 11's defects 1-6 and 11), against a real TensorBoard and real Chromium."""

from __future__ import annotations

import json
import math
import re

import pytest
from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import open_dashboard, save_artifact

NONFINITE_RGB = [0xE4, 0x00, 0x7C]


def route_json(server, path):
    status, body, _ = server.get(f"/data/plugin/netviz/{path}")
    assert status == 200, body
    return json.loads(body)


def cell_rgb(page, layer_row: int, step_index: int) -> list[int]:
    """The colour the heatmap canvas shows in one cell (off its centre, where a glyph may be)."""
    return page.evaluate(
        """([row, col]) => {
            const c = document.querySelector('.heatmap-canvas');
            const d = c.dataset;
            const x = Number(d.plotLeft) + (col + 0.5) * Number(d.plotWidth) / Number(d.cols);
            const y = Number(d.plotTop) + (row + 0.3) * Number(d.plotHeight) / Number(d.rows);
            const r = window.devicePixelRatio || 1;
            const pixel = c.getContext('2d').getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1);
            return Array.from(pixel.data.slice(0, 3));
        }""",
        [layer_row, step_index],
    )


def set_width(page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_timeout(300)


@pytest.mark.parametrize("width", [900, 1440])
def test_diverged_run_shows_nan_cells_in_their_own_colour_and_opens_where_it_blew_up(
    new_page, tensorboard, width
):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "diverged")
    set_width(page, width)
    # opens at the first step of the final non-finite stretch, not at the all-NaN last step
    expect(page.locator(".bars-panel h2")).to_have_text(f"Gradient flow at step {netviz_logs.DIVERGE_STEP}")
    last = len(netviz_logs.DIVERGED_STEPS) - 1
    panel_rgb = page.evaluate(
        "getComputedStyle(document.querySelector('.heatmap-panel')).backgroundColor.match(/\\d+/g).map(Number)"
    )
    for row in range(len(netviz_logs.DIVERGED_LAYERS)):
        for col in (netviz_logs.DIVERGE_STEP + 1, last - 1):
            assert cell_rgb(page, row, col) == NONFINITE_RGB
    assert NONFINITE_RGB != panel_rgb[:3]
    legend = page.locator(".heatmap-panel .legend-nonfinite")
    assert "NaN" in legend.inner_text()
    # the colour axis keeps the healthy steps' contrast: they are not one flat colour
    healthy = {tuple(cell_rgb(page, 0, col)) for col in range(0, 24)}
    assert len(healthy) >= 6, f"the first 24 steps show only {len(healthy)} colours"
    save_artifact(page, f"diverged_{width}.png")
    assert watched.errors == []


def scale_places(page, colours: list[list[int]]) -> list[int]:
    """Where on the dashboard's colour scale (index 0..255 of its lookup table) each colour lies."""
    return page.evaluate(
        """async (colours) => {
            const { VIRIDIS } = await import('./static/colors.js');
            return colours.map(([r, g, b]) => {
                let best = -1, distance = Infinity;
                for (let i = 0; i < VIRIDIS.length / 3; i++) {
                    const d = (VIRIDIS[3 * i] - r) ** 2 + (VIRIDIS[3 * i + 1] - g) ** 2
                        + (VIRIDIS[3 * i + 2] - b) ** 2;
                    if (d < distance) { best = i; distance = d; }
                }
                return distance <= 12 ? best : -1;
            });
        }""",
        colours,
    )


@pytest.mark.parametrize("width", [900, 1440])
def test_diverged_run_default_range_shows_each_step_of_the_growth_before_the_blow_up(
    new_page, tensorboard, width
):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "diverged")
    set_width(page, width)
    expect(page.locator(".heatmap-panel .legend-mode")).to_have_text("robust (no extreme outliers)")
    growth = range(24, netviz_logs.DIVERGE_STEP)  # the last flat step, then six decades a step
    for row in range(len(netviz_logs.DIVERGED_LAYERS)):
        places = scale_places(page, [cell_rgb(page, row, col) for col in growth])
        assert -1 not in places, f"row {row}: a cell off the colour scale {places}"
        assert all(b - a >= 8 for a, b in zip(places, places[1:], strict=False)), (
            f"row {row}: {places} not increasing"
        )
    # nothing finite is clipped: the top of the axis is the largest finite value, the legend says why
    flow = route_json(tensorboard, "gradient_flow?run=diverged&stats=grad_l2")
    largest = max(v[0] for row in flow["values"] for v in row if isinstance(v[0], float))
    shown_max = page.locator(".heatmap-panel .legend-max").inner_text()
    assert not shown_max.startswith("≥") and math.isclose(float(shown_max), largest, rel_tol=5e-3)
    assert page.locator(".heatmap-panel .legend-clipped").count() == 0
    assert "growth into NaN/∞ kept" in page.locator(".heatmap-panel .legend-growth").inner_text()
    expect(page.locator(".heatmap-panel .legend-knee")).to_have_count(1)
    save_artifact(page.locator(".heatmap-panel"), f"diverged_growth_{width}.png")
    assert watched.errors == []


def test_an_isolated_spike_is_still_left_out_of_the_default_range(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "spiked")
    expect(page.locator(".heatmap-panel .legend-clipped")).to_contain_text(
        "beyond the range, drawn at its ends"
    )
    assert page.locator(".heatmap-panel .legend-max").inner_text().startswith("≥ ")
    assert page.locator(".heatmap-panel .legend-growth").count() == 0
    # the healthy cells keep the scale's contrast: not squeezed to its bottom by the spike
    row = netviz_logs.DIVERGED_LAYERS.index(netviz_logs.SPIKE_LAYER)
    places = scale_places(page, [cell_rgb(page, row, col) for col in range(0, 30)])
    assert max(places) - min(places) > 60, places
    assert scale_places(page, [cell_rgb(page, row, netviz_logs.SPIKE_STEP)]) == [255]
    assert watched.errors == []


def test_diverged_run_full_range_and_per_layer_colours_are_offered(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "diverged")
    page.select_option("#nv-range", "full")
    expect(page.locator(".heatmap-panel .legend-mode")).to_have_text("full range")
    assert page.locator(".heatmap-panel .legend-clipped").count() == 0
    assert not page.locator(".heatmap-panel .legend-max").inner_text().startswith("≥")
    page.select_option("#nv-range", "layer")
    expect(page.locator(".heatmap-panel .legend-min")).to_have_text("each layer: its min")
    assert cell_rgb(page, 0, len(netviz_logs.DIVERGED_STEPS) - 1) == NONFINITE_RGB
    assert watched.errors == []


@pytest.mark.parametrize("width", [900, 1440, 1920])
def test_deep_layer_names_never_look_the_same_in_any_view(new_page, tensorboard, width):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    set_width(page, width)
    names = netviz_logs.TRANSFORMER_LAYERS
    page.wait_for_timeout(200)
    sidebar = page.locator(".layer-item .layer-name")
    assert sidebar.count() == len(names)
    assert [sidebar.nth(i).get_attribute("data-full") for i in range(len(names))] == names
    # in the layer tree a row reads with the groups it sits in; that path tells every row apart
    paths = page.evaluate(
        """() => [...document.querySelectorAll('.layer-item')].map((item) => {
            const parts = [item.querySelector('.layer-name').textContent];
            for (let g = item.closest('.layer-group'); g; g = g.parentElement.closest('.layer-group')) {
                parts.unshift(g.querySelector('.layer-group-name').textContent);
            }
            return parts.join(' > ');
        })"""
    )
    assert len(set(paths)) == len(names), f"sidebar rows repeat: {paths}"
    bars = page.locator(".bar-row .bar-label")
    shown = bars.all_inner_texts()
    assert len(set(shown)) == len(names), f"bar labels repeat: {shown}"
    titles = [bars.nth(i).get_attribute("title") for i in range(len(names))]
    assert titles[1:] == names[1:] and titles[0].startswith(f"{netviz_logs.MODEL_LAYER}: the parameters")
    rows = json.loads(page.locator(".heatmap-canvas").get_attribute("data-row-labels"))
    assert len(rows) == len(names) and len(set(rows)) == len(names), f"heatmap labels repeat: {rows}"
    # the model's own row says so, in full or short; every other label is the name itself or a cut
    # of it that keeps the end that tells layers apart
    own = netviz_logs.MODEL_LAYER
    assert {rows[0], shown[0]} <= {f"{own} (own parameters)", f"{own} (own)"}
    for label, name in zip(rows[1:] + shown[1:], names[1:] + names[1:], strict=True):
        if label != name:
            assert "…" in label and name.endswith(label.split("…")[-1]), (label, name)
    save_artifact(page, f"transformer_names_{width}.png")
    assert watched.errors == []


def test_layer_filter_applies_to_every_view_with_alternatives_and_globs(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    names = netviz_logs.TRANSFORMER_LAYERS
    canvas = page.locator(".heatmap-canvas")
    for query, expected in [
        ("linear|norm", [n for n in names if "linear" in n or "norm" in n]),
        ("linear*", [n for n in names if "linear" in n]),
        ("layers.? out_proj", [n for n in names if n.endswith("out_proj")]),
    ]:
        page.fill("#nv-filter", query)
        expect(page.locator(".bar-row")).to_have_count(len(expected))
        assert [r.get_attribute("data-layer") for r in page.locator(".bar-row").all()] == expected
        assert page.locator(".layer-item:visible").count() == len(expected)
        assert canvas.get_attribute("data-rows") == str(len(expected))
        expect(page.locator(".layers-panel h2")).to_have_text(f"Layers ({len(expected)}/{len(names)})")
    page.fill("#nv-filter", "no_such_layer")
    for panel in (".layers-panel", ".heatmap-panel", ".bars-panel"):
        expect(page.locator(f"{panel} .empty-note")).to_contain_text("No layer matches")
    page.fill("#nv-filter", "")
    expect(page.locator(".bar-row")).to_have_count(len(names))
    assert watched.errors == []


def test_attention_and_feature_maps_follow_the_one_step_control_and_keys_work_anywhere(dashboard):
    page = dashboard.page
    panel = page.locator(".attention-panel")
    panel.locator(".att-label").first.wait_for()
    expect(panel.locator("#nv-att-step")).to_have_attribute("data-step", "290")
    assert page.locator(".attention-panel select#nv-att-step, select#nv-fm-step").count() == 0
    page.locator(".bars-panel h2").click()  # focus on no control: the keys still step
    page.keyboard.press("Home")
    expect(page.locator(".bars-panel h2")).to_have_text("Gradient flow at step 0")
    expect(panel.locator("#nv-att-step")).to_have_attribute("data-step", "0")
    for _ in range(netviz_logs.STEPS.index(120)):
        page.keyboard.press("ArrowRight")
    expect(page.locator(".bars-panel h2")).to_have_text("Gradient flow at step 120")
    # 120 has no attention: the nearest recorded step (100) is shown, and said to be the nearest
    expect(panel.locator("#nv-att-step")).to_have_attribute("data-step", "100")
    assert "nearest recorded to 120" in panel.locator("#nv-att-step").inner_text()
    expect(panel).to_have_attribute("data-step", "100")
    page.keyboard.press("End")
    expect(page.locator(".bars-panel h2")).to_have_text("Gradient flow at step 290")
    assert dashboard.errors == []


def test_numbers_use_one_format_everywhere(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "diverged")
    page.select_option("#nv-stat", "grad_nonfinite")
    expect(page.locator(".bar-row").first.locator(".bar-value")).to_have_text("1105")
    assert page.locator("#nv-log").is_disabled()
    assert not page.locator("#nv-log").is_checked()
    page.select_option("#nv-stat", "grad_l2")
    expect(page.locator(".bar-row").first).to_have_attribute("data-kind", "nonfinite")
    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    for _ in range(29):
        page.keyboard.press("ArrowRight")
    expect(page.locator(".bars-panel h2")).to_have_text("Gradient flow at step 29")
    texts = page.locator(".bar-value, .chart-box figcaption, .legend, .tick, .bar-key").all_inner_texts()
    joined = "\n".join(texts)
    assert "Infinity" not in joined
    assert not re.search(r"\d{6,}", joined), joined
    assert not re.search(r"\.\d{4,}", joined), joined
    flow = route_json(tensorboard, "gradient_flow?run=diverged&stats=grad_l2")
    value = flow["values"][29][0][0]
    shown = page.locator(".bar-row").first.locator(".bar-value").inner_text()
    mantissa, exponent = shown.split("e")
    assert math.isclose(float(shown), value, rel_tol=5e-3) and len(mantissa) <= 4, shown
    assert watched.errors == []


def exploding_thresholds(values: list[float | None], step_index: int, factor: float, patience: int):
    """The exploding rule's threshold (factor x EMA, decay 0.9, of the finite values before)."""
    average, count = None, 0
    for v in values[:step_index]:
        if v is None or isinstance(v, str) or not math.isfinite(v):
            continue
        average = v if average is None else 0.9 * average + 0.1 * v
        count += 1
    return None if count < patience or not average or average <= 0 else average * factor


def test_bands_mark_each_layers_own_exploding_threshold_and_say_what_vanishing_is(dashboard, tensorboard):
    page = dashboard.page
    flow = route_json(tensorboard, "gradient_flow?run=deep&stats=grad_l2,has_grad")
    thresholds = flow["alert_thresholds"]
    step_index = len(flow["steps"]) - 1
    key = page.locator(".bar-key").inner_text()
    assert "vanishing_ratio" in key and "largest layer" in key
    band = page.locator(".bar-row .band-vanishing").first
    band_width = float(re.search(r"width:\s*([\d.]+)%", band.get_attribute("style")).group(1))
    checked = 0
    for j, layer in enumerate(flow["layers"]):
        series = [row[j][0] if row[j][1] != 0 else None for row in flow["values"]]
        expected = exploding_thresholds(
            series, step_index, thresholds["exploding_factor"], thresholds["patience"]
        )
        marker = page.locator(f".bar-row[data-layer='{layer}'] .threshold-exploding")
        if expected is None:
            assert marker.count() == 0
            continue
        assert math.isclose(float(marker.get_attribute("data-threshold")), expected, rel_tol=1e-5)
        left = float(re.search(r"left:\s*([\d.]+)%", marker.get_attribute("style")).group(1))
        if layer in netviz_logs.VANISHING_LAYERS:
            # a vanishing layer's own threshold lies inside the vanishing band, where it belongs
            assert left < band_width, (layer, left, band_width)
        checked += 1
    assert checked >= 20
    # no shading of whole row halves for exploding: one marker per row
    assert page.locator(".bars-panel .band-exploding").count() == 0


def test_layer_detail_charts_fill_the_panel_read_out_on_hover_and_keep_zero_on_the_floor(
    new_page, tensorboard
):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "deep")
    for width in (1440, 1920):
        set_width(page, width)
        page.locator(".layer-item[data-layer='classifier.2']").click()
        panel = page.locator(".detail-panel")
        charts = panel.locator("svg.chart")
        expect(charts.first).to_be_visible()
        expect(panel.locator(".chart-title", has_text="grad_max_abs")).to_have_count(1)
        inner = panel.locator(".chart-grid").first.evaluate("e => e.clientWidth")
        width = float(charts.first.get_attribute("width"))
        per_row = int((inner + 8) // (width + 8))
        # the charts grow with the window: two or more a row, filling most of it
        assert per_row >= 2 and per_row * width >= 0.85 * inner, (width, inner)
        font = panel.locator(".chart-tick").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert font >= 11
    flow = json.loads(tensorboard.get("/data/plugin/netviz/gradient_flow?run=deep&layers=classifier.2")[1])
    chart = panel.locator(".chart-box", has=page.locator(".chart-title", has_text="grad_l2"))
    svg = chart.locator("svg")
    svg.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = svg.bounding_box()
    i = flow["steps"].index(150)
    left, right = 62, 10
    x = box["x"] + left + i / (len(flow["steps"]) - 1) * (box["width"] - left - right)
    page.mouse.move(x, box["y"] + box["height"] / 2)
    hover = chart.locator(".chart-hover")
    expect(hover).to_have_attribute("data-step", "150")
    assert float(hover.get_attribute("data-value")) == flow["values"][i][0][flow["stats"].index("grad_l2")]
    # grad_nonfinite is 0 throughout for this layer: its axis is 0…1 with 0 at the bottom
    zero = panel.locator(".chart-box", has=page.locator(".chart-title", has_text="grad_nonfinite"))
    ticks = zero.locator(".chart-tick").all_text_contents()
    assert ticks[:3] == ["1", "0.5", "0"], ticks
    assert watched.errors == []


def test_alerts_show_their_message_put_the_cause_first_and_filter_by_kind(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "diverged")
    alerts = json.loads(tensorboard.get("/data/plugin/netviz/alerts?run=diverged")[1])["alerts"]
    kinds = {a["kind"] for a in alerts}
    assert "nonfinite" in kinds and len(kinds) >= 2
    links = page.locator(".alert-link")
    expect(links).to_have_count(len(alerts))
    assert links.first.get_attribute("data-kind") == "nonfinite"
    first = next(a for a in alerts if a["kind"] == "nonfinite")
    assert first["message"] in links.first.locator(".alert-message").inner_text()
    assert links.first.locator(".alert-message").is_visible()
    other = next(k for k in kinds if k != "nonfinite")
    page.locator(f".alert-kind-toggle[data-kind='{other}']").click()
    expect(links).to_have_count(sum(1 for a in alerts if a["kind"] != other))
    assert page.locator(f".alert-link[data-kind='{other}']").count() == 0
    page.locator(f".alert-kind-toggle[data-kind='{other}']").click()
    expect(links).to_have_count(len(alerts))
    badge = page.locator(".layer-item[data-layer='fc1'] .badge").inner_text()
    assert "!" not in badge
    assert watched.errors == []


def test_attention_heads_share_a_fixed_scale_and_the_hovered_cell_is_outlined(dashboard, tensorboard):
    page = dashboard.page
    panel = page.locator(".attention-panel")
    panel.locator(".att-label").first.wait_for()
    legend = panel.locator(".legend")
    expect(legend).to_have_attribute("data-range", "0,1")
    page.select_option("#nv-att-head", "1")
    expect(legend).to_have_attribute("data-range", "0,1")
    page.select_option("#nv-att-scale", "auto")
    step = panel.locator("#nv-att-step").get_attribute("data-step")
    layer = netviz_logs.ATTENTION_LAYER
    answer = json.loads(
        tensorboard.get(f"/data/plugin/netviz/attention?run=deep&layer={layer}&step={step}")[1]
    )
    top = max(v for row in answer["values"][1] for v in row if isinstance(v, (int, float)))
    low, high = (float(x) for x in legend.get_attribute("data-range").split(","))
    assert low == 0 and math.isclose(high, top, rel_tol=1e-6)
    canvas = panel.locator(".attention-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    n = len(netviz_logs.TOKENS)
    canvas.hover(position={"x": (2.5 / n) * box["width"], "y": (5.5 / n) * box["height"]})
    highlight = panel.locator(".att-highlight")
    expect(highlight).to_be_visible()
    assert (highlight.get_attribute("data-row"), highlight.get_attribute("data-col")) == ("5", "2")
    assert panel.locator(".att-rows .att-label.hot").inner_text() == netviz_logs.TOKENS[5]
    assert dashboard.errors == []


def test_at_900px_the_sidebar_stays_below_the_wrapped_toolbar(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    set_width(page, 900)
    page.mouse.wheel(0, 900)
    page.wait_for_timeout(300)
    toolbar = page.locator(".toolbar").bounding_box()
    sidebar = page.locator(".sidebar").bounding_box()
    assert sidebar["y"] >= toolbar["y"] + toolbar["height"] - 1, (toolbar, sidebar)
    assert watched.errors == []


def test_dragging_across_the_heatmap_zooms_every_step_view_and_reset_goes_back(dashboard):
    page = dashboard.page
    canvas = page.locator(".heatmap-canvas")
    box = canvas.bounding_box()
    data = canvas.evaluate("c => ({...c.dataset})")
    cols = len(netviz_logs.STEPS)

    def x_of(step):
        i = netviz_logs.STEPS.index(step)
        return box["x"] + float(data["plotLeft"]) + (i + 0.5) * float(data["plotWidth"]) / cols

    y = box["y"] + float(data["plotTop"]) + float(data["plotHeight"]) / 2
    page.mouse.move(x_of(100), y)
    page.mouse.down()
    page.mouse.move(x_of(150), y, steps=5)
    page.mouse.move(x_of(200), y, steps=5)
    page.mouse.up()
    expect(page.locator(".zoom-label")).to_have_text("steps 100–200")
    expect(canvas).to_have_attribute("data-cols", "11")
    ticks = [int(t) for t in canvas.get_attribute("data-step-ticks").split(",")]
    assert ticks and min(ticks) >= 100 and max(ticks) <= 200
    page.locator(".layer-item[data-layer='classifier.2']").click()
    first = page.locator(".detail-panel svg.chart").first
    ends = first.locator(".chart-tick").all_text_contents()[-2:]
    assert ends == ["100", "200"], ends
    page.wait_for_timeout(300)
    assert "zoom=100-200" in page.url
    page.locator("#nv-zoom-reset").click()
    expect(canvas).to_have_attribute("data-cols", str(cols))
    expect(page.locator(".zoom-bar")).to_be_hidden()
    assert dashboard.errors == []


def test_step_axis_ticks_are_round_steps_and_the_colour_bar_labels_its_decades(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "deep")
    for width in (900, 1440):
        set_width(page, width)
        ticks = [int(t) for t in page.locator(".heatmap-canvas").get_attribute("data-step-ticks").split(",")]
        assert len(ticks) >= 3, ticks
        spacing = {b - a for a, b in zip(ticks, ticks[1:], strict=False)}
        assert len(spacing) == 1 and spacing.pop() % 50 == 0, ticks  # 0, 50, 100… (not 0, 11, 22…)
    decades = page.locator(".heatmap-panel .legend-tick").all_inner_texts()
    exponents = [math.log10(float(t)) for t in decades]
    assert len(decades) >= 3 and all(abs(e - round(e)) < 1e-9 for e in exponents), decades
    assert watched.errors == []
