"""Each view of the dashboard against a real TensorBoard serving real netviz logs."""

from __future__ import annotations

import json
import math
import re

from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import save_artifact

DEEP = netviz_logs.LAYERS


def route_json(server, path):
    status, body, _ = server.get(f"/data/plugin/netviz/{path}")
    assert status == 200, body
    return json.loads(body)


def selected_layer(page) -> str:
    return page.locator(".bar-row.selected").get_attribute("data-layer")


def test_bar_chart_has_one_bar_per_layer_in_flow_order(dashboard):
    page = dashboard.page
    rows = page.locator(".bar-row")
    assert rows.count() == len(DEEP)
    assert [rows.nth(i).get_attribute("data-layer") for i in range(rows.count())] == DEEP
    assert page.locator(".bars-panel .band-vanishing").count() > 0
    save_artifact(page.locator(".bars-panel"), "view_bar_chart.png")
    assert dashboard.errors == []


def test_no_gradient_and_non_finite_layers_are_marked_distinctly(dashboard):
    page = dashboard.page
    frozen = page.locator(f".bar-row[data-layer='{netviz_logs.NO_GRADIENT_LAYER}']")
    assert frozen.get_attribute("data-kind") == "none"
    assert frozen.locator(".glyph.none").inner_text() == "∅"
    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    for _ in range(netviz_logs.STEPS.index(netviz_logs.NAN_STEP)):
        page.keyboard.press("ArrowRight")
    assert page.locator(".bars-panel h2").inner_text() == f"Gradient flow at step {netviz_logs.NAN_STEP}"
    broken = page.locator(f".bar-row[data-layer='{netviz_logs.NAN_LAYER}']")
    assert broken.get_attribute("data-kind") == "nonfinite"
    assert broken.locator(".glyph.nonfinite").inner_text() == "✕"


def test_hovering_a_heatmap_cell_shows_the_exact_value_the_route_returned(dashboard, tensorboard):
    page = dashboard.page
    flow = route_json(tensorboard, "gradient_flow?run=deep&max_steps=1000")
    canvas = page.locator(".heatmap-canvas")
    box = canvas.bounding_box()
    data = canvas.evaluate("c => ({...c.dataset})")
    left, top = float(data["plotLeft"]), float(data["plotTop"])
    width, height = float(data["plotWidth"]), float(data["plotHeight"])
    stat = flow["stats"].index("grad_l2")
    for layer, step in [("encoder.layers.2.linear1", 120), ("features.3", 290), ("classifier.2", 0)]:
        j, i = flow["layers"].index(layer), flow["steps"].index(step)
        page.mouse.move(
            box["x"] + left + (i + 0.5) * width / len(flow["steps"]),
            box["y"] + top + (j + 0.5) * height / len(flow["layers"]),
        )
        tooltip = page.locator(".heatmap-panel .tooltip")
        tooltip.wait_for(state="visible")
        assert tooltip.locator(".tt-layer").inner_text() == layer
        assert tooltip.get_attribute("data-step") == str(step)
        value = tooltip.locator(".tt-value")
        exact = flow["values"][i][j][stat]
        assert float(value.get_attribute("data-value")) == exact
        # on screen: the dashboard's one number format (three significant digits), not the raw float
        assert math.isclose(float(value.inner_text()), exact, rel_tol=5e-3)
        assert len(value.inner_text()) <= 8
    save_artifact(page.locator(".heatmap-panel"), "view_heatmap_hover.png")
    assert dashboard.errors == []


def test_clicking_a_heatmap_cell_selects_its_layer_and_arrow_keys_move(dashboard):
    page = dashboard.page
    canvas = page.locator(".heatmap-canvas")
    box = canvas.bounding_box()
    data = canvas.evaluate("c => ({...c.dataset})")
    j = DEEP.index("pool.proj")
    i = netviz_logs.STEPS.index(200)
    page.mouse.click(
        box["x"] + float(data["plotLeft"]) + (i + 0.5) * float(data["plotWidth"]) / len(netviz_logs.STEPS),
        box["y"] + float(data["plotTop"]) + (j + 0.5) * float(data["plotHeight"]) / len(DEEP),
    )
    assert selected_layer(page) == "pool.proj"
    assert page.locator(".detail-panel h2").inner_text() == "Layer detail: pool.proj"
    assert page.locator(".bars-panel h2").inner_text() == "Gradient flow at step 200"
    canvas.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")
    assert selected_layer(page) == DEEP[j - 1]
    assert page.locator(".bars-panel h2").inner_text() == "Gradient flow at step 190"


def test_attention_viewer_shows_the_token_labels_and_the_hovered_weight(dashboard, tensorboard):
    page = dashboard.page
    panel = page.locator(".attention-panel")
    panel.locator(".att-label").first.wait_for()
    assert panel.locator(".att-rows .att-label").all_inner_texts() == netviz_logs.TOKENS
    assert panel.locator(".att-cols .att-label").all_inner_texts() == netviz_logs.TOKENS
    assert panel.locator("#nv-att-head option").count() == 1 + 4
    page.select_option("#nv-att-head", "2")
    step = int(panel.locator("#nv-att-step").get_attribute("data-step"))
    answer = route_json(tensorboard, f"attention?run=deep&layer={netviz_logs.ATTENTION_LAYER}&step={step}")
    canvas = panel.locator(".attention-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    n = len(netviz_logs.TOKENS)
    canvas.hover(position={"x": (1.5 / n) * box["width"], "y": (3.5 / n) * box["height"]})
    readout = panel.locator(".att-readout")
    assert readout.inner_text().startswith("query 3 “sat” → key 1 “the”: ")
    assert float(readout.get_attribute("data-value")) == answer["values"][2][3][1]
    save_artifact(panel, "view_attention.png")
    assert dashboard.errors == []


def test_clicking_an_alert_selects_its_layer_and_step(dashboard, tensorboard):
    page = dashboard.page
    alerts = route_json(tensorboard, "alerts?run=deep")["alerts"]
    nonfinite = next(a for a in alerts if a["kind"] == "nonfinite")
    assert (nonfinite["layer"], nonfinite["step"]) == (netviz_logs.NAN_LAYER, netviz_logs.NAN_STEP)
    assert page.locator(".alert-link").count() == len(alerts)
    page.locator(f".alert-link[data-step='{nonfinite['step']}'][data-layer='{nonfinite['layer']}']").click()
    assert selected_layer(page) == netviz_logs.NAN_LAYER
    assert page.locator(".bars-panel h2").inner_text() == f"Gradient flow at step {netviz_logs.NAN_STEP}"
    assert page.locator(".step-label").inner_text().startswith(f"{netviz_logs.NAN_STEP} ")
    assert page.locator(".detail-panel h2").inner_text() == f"Layer detail: {netviz_logs.NAN_LAYER}"
    save_artifact(page.locator(".alerts-panel"), "view_alerts.png")

    vanishing = next(a for a in alerts if a["kind"] == "vanishing")
    button = page.locator(f".alert-link[data-step='{vanishing['step']}'][data-layer='{vanishing['layer']}']")
    button.focus()
    page.keyboard.press("Enter")
    assert selected_layer(page) == vanishing["layer"]
    assert page.locator(".bars-panel h2").inner_text() == f"Gradient flow at step {vanishing['step']}"


def test_hostile_layer_name_is_shown_as_text_and_runs_nothing(dashboard):
    page = dashboard.page
    hostile = netviz_logs.HOSTILE_LAYER
    assert page.locator(f".bar-row[data-layer='{hostile}'] .bar-label").inner_text() == hostile
    page.locator(f".layer-item[data-layer='{hostile}']").click()
    assert page.locator(".detail-panel h2").inner_text() == f"Layer detail: {hostile}"
    page.fill("#nv-filter", "onerror")
    shown = page.locator(".layer-item:visible .layer-name")
    assert shown.count() == 1
    assert shown.get_attribute("title") == hostile
    label = shown.inner_text()
    assert label == hostile or ("…" in label and hostile.startswith(label.split("…")[0]))
    page.wait_for_timeout(300)
    assert page.locator("img:not(.feature-maps)").count() == 0
    assert page.locator("[onerror]").count() == 0
    assert dashboard.dialogs == []
    assert dashboard.errors == []


def test_layer_detail_shows_statistics_activations_and_feature_maps(dashboard):
    page = dashboard.page
    page.locator(f".layer-item[data-layer='{netviz_logs.FEATURE_MAP_LAYER}']").click()
    detail = page.locator(".detail-panel")
    assert detail.locator("h2").inner_text() == f"Layer detail: {netviz_logs.FEATURE_MAP_LAYER}"
    # every gradient column of the layer, fetched for it alone, not only the one the heatmap shows
    expect(detail.locator(".chart-title", has_text="grad_max_abs")).to_have_count(1)
    titles = detail.locator(".chart-title").all_text_contents()
    assert {"grad_l2 (log)", "grad_mean_abs (log)", "param_l2 (log)", "grad_nonfinite"} <= set(titles)
    assert "has_grad" not in " ".join(titles)
    assert "act_dead_frac" in titles
    assert detail.locator(".other-stats").count() == 0
    image = detail.locator("img.feature-maps")
    image.wait_for(state="visible")
    page.wait_for_function("document.querySelector('img.feature-maps').naturalWidth > 0")
    assert "step=290" in image.get_attribute("src")
    # the feature maps follow the dashboard's one step control
    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    for _ in range(netviz_logs.STEPS.index(100)):
        page.keyboard.press("ArrowRight")
    expect(detail.locator("#nv-fm-step")).to_have_attribute("data-step", "100")
    assert "step=100" in image.get_attribute("src")
    save_artifact(detail, "view_layer_detail.png")
    assert dashboard.errors == []


def test_statistic_selector_and_log_scale_redraw_the_views(dashboard):
    page = dashboard.page
    assert page.locator("#nv-log").is_checked()
    assert "(log10)" in page.locator(".heatmap-panel h2").inner_text()
    page.select_option("#nv-stat", "grad_to_param")
    title = page.locator(".heatmap-panel h2")
    expect(title).to_have_text(re.compile("^Layers × steps: gradient / parameter norm"))
    page.locator("#nv-log").uncheck()
    assert "(log10)" not in page.locator(".heatmap-panel h2").inner_text()
    page.locator("#nv-log").check()
    # param_l2 is kept where no gradient came: the dashboard fetches has_grad to mark those layers.
    page.select_option("#nv-stat", "param_l2")
    expect(title).to_have_text(re.compile("^Layers × steps: parameter L2 norm"))
    frozen = page.locator(f".bar-row[data-layer='{netviz_logs.NO_GRADIENT_LAYER}']")
    assert frozen.get_attribute("data-kind") == "none"
    page.select_option("#nv-stat", "grad_l2")
    expect(title).to_have_text(re.compile("^Layers × steps: gradient L2 norm"))
    page.locator("#nv-pair").check()
    expect(page.locator("#nv-pair")).to_be_checked()
    first = page.locator(".bar-row").first
    expect(first.locator(".bar.series-1, .glyph")).not_to_have_count(0)
    # the pair's columns load asynchronously: wait for both series in the key
    expect(page.locator(".bar-key")).to_have_text(re.compile(r"\|g\|[\s\S]*\|g\|"))
    save_artifact(page, "view_whole_tab.png")
    assert not math.isnan(float(page.locator(".heatmap-canvas").get_attribute("data-render-ms")))


def test_layer_list_and_bar_rows_follow_the_arrow_keys_and_keep_focus(dashboard):
    page = dashboard.page
    page.fill("#nv-filter", "encoder.layers.1")
    first = page.locator(".layer-item:visible").first
    first.focus()
    page.keyboard.press("Enter")
    assert selected_layer(page) == "encoder.layers.1.self_attn"
    page.keyboard.press("ArrowDown")
    assert selected_layer(page) == "encoder.layers.1.linear1"
    focused = page.evaluate("document.activeElement.dataset.layer")
    assert focused == "encoder.layers.1.linear1"
    row = page.locator(".bar-row[data-layer='encoder.layers.1.linear1']")
    row.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert selected_layer(page) == "encoder.layers.1.norm1"
    assert page.evaluate("document.activeElement.dataset.layer") == "encoder.layers.1.norm1"
    save_artifact(page.locator(".layers-panel"), "view_layer_list.png")
    assert dashboard.errors == []
