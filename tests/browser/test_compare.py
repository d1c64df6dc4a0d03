"""Comparing runs: heatmaps aligned by layer, one bar per run, the ratio of grad_l2, one line per run
in TensorBoard's run colours, and a note naming the layers only some runs have (real TensorBoard,
real Chromium, logs written by NetVizWriter)."""

from __future__ import annotations

import json
import math

from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import open_dashboard, save_artifact

# TensorBoard's default run palette (light theme), in its order: what the Scalars tab uses.
TB_PALETTE = ["#425066", "#12b5cb", "#e52592", "#f9ab00", "#9334e6", "#7cb342", "#e8710a"]


def route_json(server, path):
    status, body, _ = server.get(path)
    assert status == 200, body
    return json.loads(body)


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def compare_with(page, *runs: str) -> None:
    page.locator(".compare-picker summary").click()
    for run in runs:
        page.locator(f"#nv-compare input[data-run='{run}']").check()
    page.locator(".compare-picker summary").click()
    expect(page.locator(".compare-panel")).to_be_visible()


def flow(server, run: str):
    return route_json(server, f"/data/plugin/netviz/gradient_flow?run={run}&stats=grad_l2")


def test_two_runs_are_compared_over_the_layers_they_share(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    shared = [n for n in netviz_logs.TRANSFORMER_LAYERS if n in netviz_logs.TRANSFORMER_B_LAYERS]
    note = page.locator(".compare-note")
    expect(note).to_have_attribute("data-shared", str(len(shared)))
    assert "Not in transformer: final_norm." in note.inner_text()
    assert "Not in transformer_b: encoder.layers.3.norm2." in note.inner_text()
    heatmaps = page.locator(".compare-heatmap")
    expect(heatmaps).to_have_count(2)
    assert [c.get_attribute("data-run") for c in heatmaps.all()] == ["transformer", "transformer_b"]
    assert {c.get_attribute("data-rows") for c in heatmaps.all()} == {str(len(shared))}
    labels = json.loads(heatmaps.first.get_attribute("data-row-labels"))
    assert len(set(labels)) == len(shared)

    # the bar chart of the chosen step: one bar per run, each run at its own nearest logged step
    a, b = flow(tensorboard, "transformer"), flow(tensorboard, "transformer_b")
    order = route_json(tensorboard, "/data/runs")
    step = a["steps"][-1]
    b_step = min(b["steps"], key=lambda s: (abs(s - step), s))
    rows = page.locator(".compare-bars .cmp-row[data-layer]")
    expect(rows).to_have_count(len(shared))
    for layer in ("embed", "encoder.layers.3.self_attn.out_proj", "head"):
        row = page.locator(f".compare-bars .cmp-row[data-layer='{layer}']")
        bar_a = row.locator(".cmp-bar[data-run='transformer']")
        bar_b = row.locator(".cmp-bar[data-run='transformer_b']")
        assert float(bar_a.get_attribute("data-value")) == a["values"][-1][a["layers"].index(layer)][0]
        assert bar_b.get_attribute("data-step") == str(b_step)
        expected = b["values"][b["steps"].index(b_step)][b["layers"].index(layer)][0]
        assert float(bar_b.get_attribute("data-value")) == expected
        for bar, run in ((bar_a, "transformer"), (bar_b, "transformer_b")):
            colour = bar.evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour == rgb(TB_PALETTE[order.index(run) % len(TB_PALETTE)])
    save_artifact(page.locator(".compare-panel"), "compare_transformers.png")
    assert watched.errors == []


def test_the_difference_view_shows_the_ratio_of_grad_l2_on_shared_steps(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    a, b = flow(tensorboard, "transformer"), flow(tensorboard, "transformer_b")
    shared_steps = [s for s in a["steps"] if s in b["steps"]]
    shared = [n for n in a["layers"] if n in b["layers"]]
    ratio = page.locator(".compare-ratio[data-run='transformer_b']")
    expect(ratio).to_have_attribute("data-cols", str(len(shared_steps)))
    ratio.scroll_into_view_if_needed()
    box = ratio.bounding_box()
    gutter = 170
    plot_w, plot_h = box["width"] - gutter - 8, box["height"] - 4
    readout = page.locator(".compare-ratios .compare-readout").first
    for layer, step in (("embed", 100), ("encoder.layers.2.linear1", 0), ("head", 180)):
        r, c = shared.index(layer), shared_steps.index(step)
        page.mouse.move(
            box["x"] + gutter + (c + 0.5) * plot_w / len(shared_steps),
            box["y"] + 2 + (r + 0.5) * plot_h / len(shared),
        )
        expect(readout).to_have_attribute("data-layer", layer)
        assert readout.get_attribute("data-step") == str(step)
        va = a["values"][a["steps"].index(step)][a["layers"].index(layer)][0]
        vb = b["values"][b["steps"].index(step)][b["layers"].index(layer)][0]
        assert math.isclose(float(readout.get_attribute("data-value")), vb / va, rel_tol=1e-5)
    assert watched.errors == []


def test_layer_detail_draws_one_line_per_run_and_the_comparison_is_in_the_url(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    page.locator(".layer-item[data-layer='head']").click()
    lines = page.locator(".compare-lines .compare-line")
    expect(lines).to_have_count(2)
    assert [line.get_attribute("data-run") for line in lines.all()] == ["transformer", "transformer_b"]
    page.wait_for_timeout(300)
    page.reload()
    page.wait_for_function("document.body.dataset.netvizPhase === 'ready'", timeout=30_000)
    expect(page.locator(".compare-heatmap")).to_have_count(2)
    expect(page.locator(".compare-picker summary")).to_have_text("Compare runs (1)")
    expect(page.locator(".detail-panel")).to_have_attribute("data-layer", "head")
    # a third run that shares no layer with them: the view says so instead of drawing nothing
    compare_with(page, "diverged")
    expect(page.locator(".compare-heatmaps .empty-note")).to_have_text(
        "The runs share no layer: there is nothing to align."
    )
    assert "Not in diverged" in page.locator(".compare-note").inner_text()
    assert watched.errors == []


def test_a_run_name_with_html_is_shown_as_text_in_the_comparison(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "growing")
    hostile = netviz_logs.HOSTILE_RUN
    compare_with(page, hostile)
    expect(page.locator(".compare-heatmap")).to_have_count(2)
    assert hostile in page.locator(".compare-panel h2").inner_text()
    assert page.locator(f".compare-key [data-run='{hostile}']").inner_text() == hostile
    assert page.locator(".compare-panel img").count() == 0
    assert page.locator("[onerror]").count() == 0
    page.wait_for_timeout(300)
    assert watched.dialogs == []
    assert watched.errors == []


def test_a_compared_run_that_fails_to_load_says_so_and_the_rest_still_shows(new_page, tensorboard):
    watched = new_page()
    page = watched.page
    page.route(
        "**/data/plugin/netviz/gradient_flow?run=transformer_b*",
        lambda route: route.fulfill(status=404, content_type="application/json", body='{"error": "gone"}'),
    )
    open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    expect(page.locator(".compare-error")).to_contain_text("Could not load run “transformer_b”: gone")
    expect(page.locator(".compare-heatmap")).to_have_count(1)
    assert page.locator(".bar-row").count() == len(netviz_logs.TRANSFORMER_LAYERS)


def drag_across(page, canvas, first: int, last: int) -> None:
    """Drag across a comparison heatmap from column ``first`` to column ``last``."""
    box = canvas.bounding_box()
    data = canvas.evaluate("c => ({...c.dataset})")
    cols = int(data["cols"])

    def x_of(col):
        return box["x"] + float(data["plotLeft"]) + (col + 0.5) * float(data["plotWidth"]) / cols

    y = box["y"] + float(data["plotTop"]) + float(data["plotHeight"]) / 2
    page.mouse.move(x_of(first), y)
    page.mouse.down()
    page.mouse.move(x_of((first + last) / 2), y, steps=4)
    page.mouse.move(x_of(last), y, steps=4)
    page.mouse.up()


def test_dragging_across_a_compared_heatmap_zooms_every_run_and_the_link_keeps_it(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    heatmaps = page.locator(".compare-heatmap")
    steps_a = netviz_logs.TRANSFORMER_STEPS
    expect(heatmaps.first).to_have_attribute("data-cols", str(len(steps_a)))
    heatmaps.first.scroll_into_view_if_needed()
    drag_across(page, heatmaps.first, steps_a.index(40), steps_a.index(120))
    expect(page.locator(".compare-zoom-label")).to_have_text("steps 40–120")
    # every run shows its own logged steps of that range (transformer_b logs every 20 steps)
    expect(heatmaps.first).to_have_attribute("data-steps", "40-120")
    expect(heatmaps.first).to_have_attribute("data-cols", "9")
    expect(heatmaps.nth(1)).to_have_attribute("data-steps", "40-120")
    expect(heatmaps.nth(1)).to_have_attribute("data-cols", "5")
    ratio = page.locator(".compare-ratio")
    expect(ratio).to_have_attribute("data-cols", "5")
    # the single-run heatmap follows the one zoom too
    expect(page.locator(".heatmap-canvas")).to_have_attribute("data-cols", "9")
    page.wait_for_timeout(300)
    assert "zoom=40-120" in page.url
    link = page.url
    save_artifact(page.locator(".compare-panel"), "compare_zoomed.png")
    # Esc on the comparison heatmap goes back
    heatmaps.first.focus()
    page.keyboard.press("Escape")
    expect(heatmaps.first).to_have_attribute("data-cols", str(len(steps_a)))
    expect(page.locator(".compare-zoom")).to_be_hidden()
    # a pasted link opens the comparison zoomed; Reset zoom goes back
    other = new_page()
    other.page.goto(link)
    other.page.wait_for_function("document.body.dataset.netvizPhase === 'ready'", timeout=30_000)
    again = other.page.locator(".compare-heatmap")
    expect(again).to_have_count(2)
    expect(again.nth(1)).to_have_attribute("data-steps", "40-120")
    other.page.locator("#nv-compare-zoom-reset").click()
    expect(again.nth(1)).to_have_attribute("data-cols", str(len(netviz_logs.TRANSFORMER_B_STEPS)))
    assert watched.errors == [] and other.errors == []


def test_a_click_on_a_compared_heatmap_still_selects_a_layer_and_step(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    canvas = page.locator(".compare-heatmap").first
    canvas.scroll_into_view_if_needed()
    data = canvas.evaluate("c => ({...c.dataset})")
    rows = int(data["rows"])
    col = netviz_logs.TRANSFORMER_STEPS.index(60)
    x = float(data["plotLeft"]) + (col + 0.5) * float(data["plotWidth"]) / int(data["cols"])
    y = float(data["plotTop"]) + 2.5 * float(data["plotHeight"]) / rows
    canvas.click(position={"x": x, "y": y})
    expect(page.locator(".bars-panel h2")).to_have_text("Gradient flow at step 60")
    expect(page.locator(".compare-zoom")).to_be_hidden()
    assert watched.errors == []


def test_the_comparison_bars_show_their_last_tick_and_every_label_whole_and_distinct(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    for width in (900, 1440):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        axis = page.locator(".compare-bars .cmp-axis")
        axis.scroll_into_view_if_needed()
        last = axis.locator(".tick").last
        tick, row, panel = (
            last.bounding_box(),
            axis.bounding_box(),
            page.locator(".compare-panel").bounding_box(),
        )
        # the row paints nothing outside itself (content-visibility), so the label must lie inside it
        assert tick["x"] + tick["width"] <= row["x"] + row["width"] + 0.5, (width, tick, row)
        assert tick["x"] + tick["width"] <= panel["x"] + panel["width"], (width, tick, panel)
        # the labels fit their column (no ellipsis of the browser's own) and never repeat
        labels = page.locator(".compare-bars .cmp-row[data-layer] .bar-label")
        texts = labels.all_inner_texts()
        assert len(set(texts)) == len(texts), (width, texts)
        cut = labels.evaluate_all(
            "els => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent)"
        )
        assert cut == [], (width, cut)
        save_artifact(page.locator(".compare-bars"), f"compare_axis_{width}.png")
    assert watched.errors == []


def test_a_step_change_refills_the_comparison_in_place(new_page, tensorboard):
    """Every run's bar shows the new step in the same row elements, the heatmaps are drawn again on the
    same canvases and the lines' cursor moves over the same lines."""
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    a, b = flow(tensorboard, "transformer"), flow(tensorboard, "transformer_b")
    shared = [n for n in a["layers"] if n in b["layers"]]
    rows = page.locator(".compare-bars .cmp-row[data-layer]")
    expect(rows).to_have_count(len(shared))
    page.locator(".compare-bars .cmp-row[data-layer='head']").click()
    expect(page.locator(".compare-chart .compare-line")).to_have_count(2)
    cursor = page.locator(".compare-chart .chart-cursor")
    end = float(cursor.get_attribute("x1"))
    kept = (
        "() => [...document.querySelectorAll('.compare-heatmap, .compare-bars :is(.cmp-row, .cmp-bar),"
        " .compare-chart :is(.compare-line, .chart-cursor)')]"
    )
    page.evaluate(f"() => {{ window.keptRows = ({kept})(); }}")

    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    step = a["steps"][0]
    b_step = min(b["steps"], key=lambda s: (abs(s - step), s))
    expect(page.locator(".compare-panel h3", has_text="one bar per run")).to_contain_text(f"at step {step},")
    expected = {
        layer: {
            "transformer": a["values"][0][a["layers"].index(layer)][0],
            "transformer_b": b["values"][b["steps"].index(b_step)][b["layers"].index(layer)][0],
        }
        for layer in shared
    }
    steps = {"transformer": str(step), "transformer_b": str(b_step)}
    # every row (those out of view too) shows each run's value at the new step, bounded wait
    page.wait_for_function(
        """([expected, steps]) => [...document.querySelectorAll('.compare-bars .cmp-row[data-layer]')]
          .every((row) => [...row.querySelectorAll('.cmp-bar')].length === 2
            && [...row.querySelectorAll('.cmp-bar')].every((bar) =>
              bar.dataset.step === steps[bar.dataset.run]
              && Math.abs(Number(bar.dataset.value) - expected[row.dataset.layer][bar.dataset.run])
                 <= 1e-6 * Math.abs(expected[row.dataset.layer][bar.dataset.run])))""",
        arg=[expected, steps],
        timeout=5_000,
    )
    for layer in ("embed", "head"):
        row = page.locator(f".compare-bars .cmp-row[data-layer='{layer}']")
        for run, value in expected[layer].items():
            assert float(row.locator(f".cmp-bar[data-run='{run}']").get_attribute("data-value")) == value
    # the cursor moved from the last step to the first, the chart's left end
    page.wait_for_function(
        "end => Number(document.querySelector('.compare-chart .chart-cursor').getAttribute('x1')) < end",
        arg=end,
        timeout=5_000,
    )
    assert float(cursor.get_attribute("x1")) == float(
        page.locator(".compare-chart .compare-line").first.get_attribute("d")[1:].split(",")[0]
    )
    # the same canvases (drawn at the new step), rows, bars and lines, refilled in place: none was rebuilt
    for run, shown in steps.items():
        caption = page.locator(".compare-figure", has=page.locator(f".compare-heatmap[data-run='{run}']"))
        expect(caption.locator("figcaption")).to_contain_text(f" · step {shown}")
    assert page.evaluate(
        f"() => {{ const now = ({kept})();"
        " return now.length === window.keptRows.length && now.every((e, i) => e === window.keptRows[i]); }"
    )
    assert watched.errors == []
