"""A view you can share: the runs, statistic, step, layer, filter and scales live in the URL, and a
reload or a pasted link reopens the same view (real TensorBoard, real Chromium)."""

from __future__ import annotations

from urllib.parse import quote

from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import netviz_frame, open_dashboard

LAYER = "encoder.layers.2.self_attn.out_proj"


def wait_ready(target, run: str) -> None:
    target.wait_for_function(
        "run => document.body.dataset.netvizPhase === 'ready'"
        " && document.querySelector('#nv-run').value === run",
        arg=run,
        timeout=30_000,
    )


def choose_a_view(target) -> None:
    """Change every part of the view that the URL holds."""
    target.select_option("#nv-stat", "grad_max_abs")
    expect(target.locator(".heatmap-panel h2")).to_contain_text("max |g|")
    target.locator(f".layer-item[data-layer='{LAYER}']").click()
    slider = target.locator("#nv-step")
    slider.press("Home")
    for _ in range(netviz_logs.TRANSFORMER_STEPS.index(70)):
        slider.press("ArrowRight")
    target.fill("#nv-filter", "layers.2|head")
    target.select_option("#nv-range", "layer")
    target.locator("#nv-log").uncheck()


def assert_the_view_is_back(target) -> None:
    expect(target.locator("#nv-run")).to_have_value("transformer")
    expect(target.locator("#nv-stat")).to_have_value("grad_max_abs")
    expect(target.locator(".bars-panel h2")).to_have_text("Gradient flow at step 70")
    expect(target.locator(".detail-panel")).to_have_attribute("data-layer", LAYER)
    expect(target.locator("#nv-filter")).to_have_value("layers.2|head")
    expect(target.locator("#nv-range")).to_have_value("layer")
    assert not target.locator("#nv-log").is_checked()
    expect(target.locator(".bar-row")).to_have_count(7)


def test_reloading_the_dashboard_restores_the_whole_view(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    choose_a_view(page)
    page.wait_for_timeout(200)
    assert "#" in page.url and "run=transformer" in page.url
    page.reload()
    wait_ready(page, "transformer")
    assert_the_view_is_back(page)
    assert watched.errors == []


def test_a_link_copied_from_tensorboards_page_opens_the_same_view(new_page, tensorboard):
    first = new_page()
    first.page.goto(f"{tensorboard.url}/#netviz")
    frame = netviz_frame(first.page)
    frame.wait_for_function("document.body.dataset.netvizPhase === 'ready'", timeout=30_000)
    frame.select_option("#nv-run", "transformer")
    wait_ready(frame, "transformer")
    choose_a_view(frame)
    first.page.wait_for_timeout(200)
    link = first.page.url
    assert link.startswith(f"{tensorboard.url}/#netviz&nv="), link
    # a new browser context: nothing but the pasted link
    second = new_page()
    second.page.goto(link)
    frame = netviz_frame(second.page)
    wait_ready(frame, "transformer")
    assert_the_view_is_back(frame)
    # the reload of TensorBoard's page keeps it too
    second.page.reload()
    frame = netviz_frame(second.page)
    wait_ready(frame, "transformer")
    assert_the_view_is_back(frame)
    assert first.errors == [] and second.errors == []


def test_a_link_to_a_run_that_is_gone_says_so_and_shows_another(new_page, tensorboard):
    watched = new_page()
    page = watched.page
    page.goto(f"{tensorboard.url}/data/plugin_entry.html?name=netviz#run={quote('<b>gone</b>')}&step=5")
    page.wait_for_function("document.body.dataset.netvizPhase === 'ready'", timeout=30_000)
    notes = page.locator(".notes").inner_text()
    assert "The linked run “<b>gone</b>” is not in this log directory" in notes
    assert page.locator(".notes b").count() == 0
    assert page.locator(".bar-row").count() > 0
    assert watched.errors == []


def group_toggle(target, prefix: str):
    return target.locator(f".layer-group[data-group='{prefix}'] > .layer-group-head .layer-group-toggle")


def test_collapsed_layer_groups_come_back_on_reload_and_from_a_pasted_link(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "transformer")
    closed = ["encoder.layers.1", "encoder.layers.3"]
    for prefix in closed:
        group_toggle(page, prefix).click()
    shown = len(netviz_logs.TRANSFORMER_LAYERS) - 12
    expect(page.locator(".layer-item:visible")).to_have_count(shown)
    page.wait_for_timeout(300)
    assert "collapsed=" in page.url
    link = page.url
    page.reload()
    wait_ready(page, "transformer")
    for prefix in closed:
        expect(group_toggle(page, prefix)).to_have_attribute("aria-expanded", "false")
    expect(group_toggle(page, "encoder.layers.0")).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".layer-item:visible")).to_have_count(shown)
    # choosing a layer inside a collapsed group opens that group, and the URL forgets it
    page.locator(".bar-row[data-layer='encoder.layers.3.linear1']").click()
    expect(group_toggle(page, "encoder.layers.3")).to_have_attribute("aria-expanded", "true")
    page.wait_for_timeout(300)
    page.reload()
    wait_ready(page, "transformer")
    expect(group_toggle(page, "encoder.layers.3")).to_have_attribute("aria-expanded", "true")
    expect(group_toggle(page, "encoder.layers.1")).to_have_attribute("aria-expanded", "false")
    # a pasted link, in a browser context of its own
    other = new_page()
    other.page.goto(link)
    wait_ready(other.page, "transformer")
    for prefix in closed:
        expect(group_toggle(other.page, prefix)).to_have_attribute("aria-expanded", "false")
    expect(other.page.locator(f".layer-item[data-layer='{LAYER}']")).to_be_visible()
    assert watched.errors == [] and other.errors == []
