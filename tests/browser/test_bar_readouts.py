"""Hover read-outs on the bar charts (issue 11: "Hover readouts on every chart and bar (value, step,
layer), and a highlighted cell"): the gradient-flow bars and the comparison's bars show the hovered
row's layer, step and values as the rest of the dashboard formats them (real TensorBoard, real
Chromium)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import open_dashboard, save_artifact
from tests.browser.test_compare import compare_with

LAYER = "encoder.layers.2.linear1"


def route_json(server, path):
    status, body, _ = server.get(f"/data/plugin/netviz/{path}")
    assert status == 200, body
    return json.loads(body)


def format_short(page, value) -> str:
    return page.evaluate("async v => (await import('./static/shape.js')).formatShort(v)", value)


def point_at(page, locator) -> None:
    box = locator.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_hovering_a_bar_reads_out_layer_step_and_value_and_outlines_the_row(new_page, tensorboard, theme):
    watched = new_page(color_scheme=theme)
    page = open_dashboard(watched, tensorboard, "transformer")
    flow = route_json(tensorboard, "gradient_flow?run=transformer&stats=grad_l2")
    step = page.locator(".bars-panel").get_attribute("data-step")
    row = page.locator(f".bar-row[data-layer='{LAYER}']")
    row.scroll_into_view_if_needed()
    point_at(page, row.locator(".bar"))
    readout = page.locator(".bars-panel .bar-readout")
    expect(readout).to_be_visible()
    expect(readout).to_have_attribute("data-layer", LAYER)
    value = flow["values"][flow["steps"].index(int(step))][flow["layers"].index(LAYER)][0]
    lines = readout.locator("div").all_inner_texts()
    assert lines == [LAYER, f"step {step}", f"grad_l2 = {format_short(page, value)}"], lines
    expect(row).to_have_class("bar-row hovered")
    expect(row.locator(".bar.hot")).to_have_count(1)
    # the box sits by the row, inside the panel
    box, at = readout.bounding_box(), row.bounding_box()
    assert abs(box["y"] - (at["y"] + at["height"])) < 4 or abs(box["y"] + box["height"] - at["y"]) < 4
    save_artifact(page.locator(".bars-panel"), f"bar_readout_{theme}.png")
    # another row takes the outline; leaving the chart hides the box
    other = page.locator(".bar-row[data-layer='head']")
    point_at(page, other)
    expect(readout).to_have_attribute("data-layer", "head")
    expect(page.locator(".bar-row.hovered")).to_have_count(1)
    page.mouse.move(2, 2)
    expect(readout).to_be_hidden()
    expect(page.locator(".bar-row.hovered")).to_have_count(0)
    assert watched.errors == []


def test_the_read_out_follows_a_step_change_and_names_non_finite_values(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer_nan")
    layer = netviz_logs.TRANSFORMER_NAN_LAYERS[0]
    row = page.locator(f".bar-row[data-layer='{layer}']")
    row.scroll_into_view_if_needed()
    point_at(page, row)
    readout = page.locator(".bars-panel .bar-readout")
    expect(readout).to_contain_text("grad_l2 = NaN")
    page.keyboard.press("Home")
    expect(readout).to_have_attribute("data-step", "0")
    flow = route_json(tensorboard, "gradient_flow?run=transformer_nan&stats=grad_l2")
    value = flow["values"][0][flow["layers"].index(layer)][0]
    expect(readout).to_contain_text(f"grad_l2 = {format_short(page, value)}")
    assert watched.errors == []


def test_the_comparison_bars_read_out_every_run_and_mark_the_hovered_one(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    compare_with(page, "transformer_b")
    a = route_json(tensorboard, "gradient_flow?run=transformer&stats=grad_l2")
    b = route_json(tensorboard, "gradient_flow?run=transformer_b&stats=grad_l2")
    row = page.locator(f".compare-bars .cmp-row[data-layer='{LAYER}']")
    row.scroll_into_view_if_needed()
    bar_b = row.locator(".cmp-bar[data-run='transformer_b']")
    point_at(page, bar_b)
    readout = page.locator(".compare-panel .bar-readout")
    expect(readout).to_be_visible()
    step = a["steps"][-1]
    b_step = int(bar_b.get_attribute("data-step"))
    value_a = a["values"][-1][a["layers"].index(LAYER)][0]
    value_b = b["values"][b["steps"].index(b_step)][b["layers"].index(LAYER)][0]
    lines = readout.locator("div").all_inner_texts()
    b_note = "" if b_step == step else f" (step {b_step})"
    assert lines == [
        LAYER,
        f"step {step}",
        f"transformer: {format_short(page, value_a)}",
        f"transformer_b: {format_short(page, value_b)}{b_note}",
    ], lines
    expect(readout.locator(".tt-hot")).to_have_text(f"transformer_b: {format_short(page, value_b)}{b_note}")
    expect(bar_b).to_have_class("cmp-bar hot")
    expect(row).to_have_class("cmp-row hovered")
    save_artifact(page.locator(".compare-panel"), "compare_bar_readout.png")
    assert watched.errors == []
