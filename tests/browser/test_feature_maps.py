"""The layer detail's feature maps against a real TensorBoard: channel indices on the tiles,
a colour legend, and NaN drawn apart from a dead channel (screenshots at 900 and 1440 px,
light and dark, under test-artifacts/browser/feature_maps_*)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import netviz_logs
from tests.browser.conftest import open_dashboard, save_artifact
from tests.summary_format.png_decode import decode_png

MAGENTA = (0xE4, 0x00, 0x7C)


def show_feature_maps(page):
    page.locator(f".layer-item[data-layer='{netviz_logs.FEATURE_MAP_LAYER}']").click()
    box = page.locator(".feature-maps-box")
    box.wait_for(state="visible")
    page.wait_for_function("document.querySelector('img.feature-maps').naturalWidth > 0")
    expect(box.locator(".fm-label")).to_have_count(netviz_logs.FEATURE_MAP_CHANNELS)
    return box


def png_pixel(page, x: int, y: int) -> tuple[int, int, int]:
    """The feature-map PNG's own pixel at (x, y) of its natural size (read in a canvas)."""
    return tuple(
        page.evaluate(
            """([x, y]) => {
              const img = document.querySelector('img.feature-maps');
              const canvas = document.createElement('canvas');
              canvas.width = img.naturalWidth;
              canvas.height = img.naturalHeight;
              const ctx = canvas.getContext('2d');
              ctx.drawImage(img, 0, 0);
              return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
            }""",
            [x, y],
        )
    )


def pixel_under(page, label) -> tuple[int, int, int]:
    """The PNG's own pixel just inside the corner of the tile a label sits on."""
    width, height = page.evaluate(
        "() => { const i = document.querySelector('img.feature-maps');"
        " return [i.naturalWidth, i.naturalHeight]; }"
    )
    left, top = label.evaluate("e => [parseFloat(e.style.left), parseFloat(e.style.top)]")
    return png_pixel(page, int(left / 100 * width) + 1, int(top / 100 * height) + 1)


def test_each_tile_is_labelled_with_its_channel_index_on_its_own_tile(dashboard, tensorboard):
    page = dashboard.page
    box = show_feature_maps(page)
    labels = box.locator(".fm-label")
    assert labels.all_inner_texts() == [str(i) for i in range(netviz_logs.FEATURE_MAP_CHANNELS)]
    assert box.locator(".fm-channels").inner_text() == (
        "Showing channels 0–7 (all); each tile is labelled with its channel index."
    )
    # 8 channels tile as 3 columns: channel 4 is in the second row, second column
    image = box.locator("img.feature-maps").bounding_box()
    four = labels.nth(4).bounding_box()
    tile = image["width"] / 3
    assert tile * 0.9 < four["x"] - image["x"] < tile * 1.2
    assert tile * 0.9 < four["y"] - image["y"] < tile * 1.2
    # the label of the NaN channel sits on magenta, the dead channel's on mid-grey
    assert pixel_under(page, labels.nth(netviz_logs.NAN_CHANNEL)) == MAGENTA
    assert pixel_under(page, labels.nth(netviz_logs.DEAD_CHANNEL)) == (128, 128, 128)
    assert dashboard.errors == []


def test_the_legend_says_magenta_is_nan_and_mid_grey_a_dead_channel(dashboard):
    page = dashboard.page
    legend = show_feature_maps(page).locator(".fm-legend")
    assert legend.locator("li").all_inner_texts() == [
        "black → white: the channel's own minimum → maximum",
        "mid-grey: a constant (dead) channel",
        "magenta: NaN / ±Inf",
    ]
    colour = legend.locator(".fm-nonfinite").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == f"rgb({MAGENTA[0]}, {MAGENTA[1]}, {MAGENTA[2]})"
    dead = legend.locator(".fm-constant").evaluate("e => getComputedStyle(e).backgroundColor")
    assert dead == "rgb(128, 128, 128)"


def test_channel_labels_follow_the_step_and_stay_text(dashboard):
    page = dashboard.page
    box = show_feature_maps(page)
    page.locator("#nv-step").focus()
    page.keyboard.press("Home")
    expect(box.locator("#nv-fm-step")).to_have_attribute("data-step", "0")
    page.wait_for_function("document.querySelector('img.feature-maps').complete")
    expect(box.locator(".fm-label")).to_have_count(netviz_logs.FEATURE_MAP_CHANNELS)
    assert box.locator(".fm-labels *:not(.fm-label)").count() == 0
    assert dashboard.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", [900, 1440])
def test_feature_maps_screenshot(new_page, tensorboard, theme, width):
    watched = new_page(color_scheme=theme)
    watched.page.set_viewport_size({"width": width, "height": 1000})
    page = open_dashboard(watched, tensorboard, "deep")
    box = show_feature_maps(page)
    labels = box.locator(".fm-label")
    image = box.locator("img.feature-maps").bounding_box()
    for i in range(labels.count()):
        label = labels.nth(i).bounding_box()
        assert image["x"] <= label["x"] and label["x"] + label["width"] <= image["x"] + image["width"] + 1
    box.scroll_into_view_if_needed()
    save_artifact(box, f"feature_maps_{width}_{theme}.png")
    assert watched.errors == []


def screen_pixel(page, x: float, y: float) -> tuple[int, int, int]:
    """The colour the page shows at (x, y) CSS pixels: what the user sees, overlays included."""
    shot = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1})
    return tuple(int(v) for v in decode_png(shot)[0, 0, :3])


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_gaps_between_tiles_show_the_panel_colour_not_black(new_page, tensorboard, theme):
    watched = new_page(color_scheme=theme)
    page = open_dashboard(watched, tensorboard, "deep")
    box = show_feature_maps(page)
    box.scroll_into_view_if_needed()
    panel = page.locator(".detail-panel").evaluate("e => getComputedStyle(e).backgroundColor")
    panel_rgb = tuple(int(v) for v in re.findall(r"\d+", panel)[:3])
    frame = box.locator(".fm-frame").bounding_box()
    inner = {k: frame[k] + 1 for k in ("x", "y")} | {k: frame[k] - 2 for k in ("width", "height")}
    # 8 channels of 12 x 12 in a 3 x 3 grid with 1-pixel gaps: a 38 x 38 image, slot 8 unused
    scale = inner["width"] / 38
    gap_x = inner["x"] + 12.5 * scale  # the gap between columns 0 and 1
    gap_y = inner["y"] + 25.5 * scale  # the gap between rows 1 and 2
    tile = (inner["x"] + 6 * scale, inner["y"] + 6 * scale)  # inside channel 0
    unused = (inner["x"] + 32 * scale, inner["y"] + 32 * scale)
    assert screen_pixel(page, gap_x, inner["y"] + 6 * scale) == panel_rgb
    assert screen_pixel(page, inner["x"] + 6 * scale, gap_y) == panel_rgb
    assert screen_pixel(page, *unused) == panel_rgb
    # the tiles themselves are untouched: channel 0 is the PNG's own grey there
    assert screen_pixel(page, *tile) == png_pixel(page, 6, 6)
    save_artifact(box.locator(".fm-frame"), f"feature_map_gaps_{theme}.png")
    assert watched.errors == []
