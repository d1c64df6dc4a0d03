"""The sidebar's layer tree on a deep transformer (issue 11, "Deep models") and the row of the
root module's own parameters, against a real TensorBoard and real Chromium."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import open_dashboard, save_artifact

OWN = f"{netviz_logs.MODEL_LAYER} (own parameters)"
BLOCK = "encoder.layers.2"


def group(page, prefix: str):
    return page.locator(f".layer-group[data-group='{prefix}']")


def test_a_deep_model_is_a_tree_of_collapsible_groups_by_module_prefix(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    names = netviz_logs.TRANSFORMER_LAYERS
    top = page.locator(".layer-list > li")
    assert [
        li.get_attribute("data-group") or li.locator(".layer-item").get_attribute("data-layer")
        for li in top.all()
    ] == [netviz_logs.MODEL_LAYER, "embed", "encoder.layers", "head"]
    encoder = group(page, "encoder.layers")
    expect(encoder.locator(".layer-group-count").first).to_have_text(f"({len(names) - 3})")
    blocks = encoder.locator(":scope > .layer-sublist > .layer-group")
    assert [b.get_attribute("data-group") for b in blocks.all()] == [f"encoder.layers.{n}" for n in range(4)]
    block = group(page, BLOCK)
    toggle = block.locator(":scope > .layer-group-head .layer-group-toggle")
    assert toggle.get_attribute("aria-expanded") == "true"
    linear = page.locator(f".layer-item[data-layer='{BLOCK}.linear1']")
    expect(linear).to_be_visible()
    expect(linear.locator(".layer-name")).to_have_text("linear1")
    assert linear.locator(".layer-name").get_attribute("title") == f"{BLOCK}.linear1"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "false"
    expect(linear).to_be_hidden()
    expect(page.locator(".layer-item[data-layer='encoder.layers.1.linear1']")).to_be_visible()
    # the arrow keys skip the collapsed block's layers
    page.locator(".layer-item[data-layer='encoder.layers.1.norm2']").click()
    page.keyboard.press("ArrowDown")
    expect(page.locator(".layer-item.selected")).to_have_attribute("data-layer", "encoder.layers.3.self_attn")
    # a layer chosen elsewhere (the bars) opens its group again
    page.locator(f".bar-row[data-layer='{BLOCK}.linear1']").click()
    expect(linear).to_be_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    # the whole encoder collapses to one line, and expands again
    encoder_toggle = encoder.locator(":scope > .layer-group-head .layer-group-toggle")
    encoder_toggle.click()
    expect(page.locator(".layer-item:visible")).to_have_count(3)
    encoder_toggle.click()
    expect(page.locator(".layer-item:visible")).to_have_count(len(names))
    assert watched.errors == []


def test_group_badges_show_the_worst_state_and_alerts_of_their_layers(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer_nan")
    page.locator(".alert-link[data-kind='nonfinite']").first.click()
    expect(page.locator(".bars-panel h2")).to_have_text(
        f"Gradient flow at step {netviz_logs.TRANSFORMER_NAN_STEP}"
    )
    broken = len(netviz_logs.TRANSFORMER_NAN_LAYERS)
    alerts = page.locator(".alert-link").all()
    per_block = sum(1 for a in alerts if a.get_attribute("data-layer").startswith(f"{BLOCK}."))
    assert per_block >= broken
    badge = group(page, BLOCK).locator(":scope > .layer-group-head .group-badge")
    expect(badge).to_have_text(f"✕{broken} ⚑{per_block}")
    assert "nonfinite" in badge.get_attribute("class").split()
    assert badge.get_attribute("title").startswith(f"{broken} of 6 layers non-finite at this step")
    # the enclosing group counts the same layers; a healthy block has no badge
    expect(group(page, "encoder.layers").locator(":scope > .layer-group-head .group-badge")).to_have_text(
        f"✕{broken} ⚑{per_block}"
    )
    expect(group(page, "encoder.layers.1").locator(":scope > .layer-group-head .group-badge")).to_have_text(
        ""
    )
    # each layer's own badge agrees
    for name in netviz_logs.TRANSFORMER_NAN_LAYERS:
        expect(page.locator(f".layer-item[data-layer='{name}'] .badge")).to_contain_text("✕")
    assert watched.errors == []


def test_the_filter_applies_in_the_tree(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    page.fill("#nv-filter", "layers.2 linear")
    expected = [f"{BLOCK}.linear1", f"{BLOCK}.linear2"]
    expect(page.locator(".layer-item:visible")).to_have_count(2)
    assert [i.get_attribute("data-layer") for i in page.locator(".layer-item:visible").all()] == expected
    # groups without a match are hidden; the ones holding a match show how many of theirs match
    assert [g.get_attribute("data-group") for g in page.locator(".layer-group:visible").all()] == [
        "encoder.layers",
        BLOCK,
    ]
    expect(group(page, BLOCK).locator(".layer-group-count").first).to_have_text("(2/6)")
    expect(page.locator(".layer-item[data-layer='head']")).to_be_hidden()
    page.fill("#nv-filter", "no_such_layer")
    expect(page.locator(".layers-panel .empty-note")).to_contain_text("No layer matches")
    expect(page.locator(".layer-group:visible")).to_have_count(0)
    page.fill("#nv-filter", "")
    expect(page.locator(".layer-item:visible")).to_have_count(len(netviz_logs.TRANSFORMER_LAYERS))
    assert watched.errors == []


def test_a_flat_model_is_not_made_a_tree(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "diverged")
    expect(page.locator(".layer-item")).to_have_count(len(netviz_logs.DIVERGED_LAYERS))
    assert page.locator(".layer-group").count() == 0
    assert page.locator(".layer-item .layer-name").all_inner_texts() == netviz_logs.DIVERGED_LAYERS
    assert watched.errors == []


def test_the_root_modules_row_is_labelled_as_its_own_parameters_in_every_view(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    row = page.locator(f".layer-item[data-layer='{netviz_logs.MODEL_LAYER}']")
    expect(row.locator(".layer-name")).to_have_text(OWN)
    explained = row.locator(".layer-name").get_attribute("title")
    assert "holds itself" in explained and "not a total" in explained
    bar = page.locator(f".bar-row[data-layer='{netviz_logs.MODEL_LAYER}'] .bar-label")
    # the bars and the heatmap say it in full or, where that does not fit, as "(own)"
    short = f"{netviz_logs.MODEL_LAYER} (own)"
    assert bar.inner_text() in (OWN, short)
    assert bar.get_attribute("title") == explained
    labels = json.loads(page.locator(".heatmap-canvas").get_attribute("data-row-labels"))
    assert labels[0] in (OWN, short)
    # a run whose metadata does not name the model's row (older logs) labels nothing
    page = open_dashboard(watched, tensorboard, "diverged")
    assert "own parameters" not in page.locator(".layers-panel").inner_text()
    assert "own parameters" not in page.locator(".bars-panel").inner_text()
    assert watched.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [900, 1440])
def test_layer_tree_screenshots(new_page, tensorboard, scheme, width):
    watched = new_page(color_scheme=scheme)
    page = open_dashboard(watched, tensorboard, "transformer_nan")
    page.set_viewport_size({"width": width, "height": 1100})
    page.locator(".alert-link[data-kind='nonfinite']").first.click()
    group(page, "encoder.layers.0").locator(":scope > .layer-group-head .layer-group-toggle").click()
    expect(page.locator(".layer-item[data-layer='encoder.layers.0.linear1']")).to_be_hidden()
    panel = page.locator(".layers-panel")
    assert panel.bounding_box()["width"] > 150
    save_artifact(panel, f"layer_tree_{scheme}_{width}.png")
    save_artifact(page, f"layer_tree_page_{scheme}_{width}.png")
    assert watched.errors == []
