"""Export: the current view's data as CSV and JSON (equal to the route's values) and the heatmap,
bar chart and attention matrix as PNG, with file names that no run name can break."""

from __future__ import annotations

import csv
import io
import json
import math

from tests.browser import netviz_logs
from tests.browser.conftest import open_dashboard

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def export(page, button: str):
    page.locator(".export-menu summary").click()
    with page.expect_download() as info:
        page.locator(f"#{button}").click()
    download = info.value
    data = open(download.path(), "rb").read()
    page.locator(".export-menu summary").click()
    return download.suggested_filename, data


def same(exported, routed) -> bool:
    if routed is None:
        return exported in (None, "")
    if isinstance(routed, str):
        return exported == routed
    return math.isclose(float(exported), routed, rel_tol=0, abs_tol=0)


def test_exported_csv_and_json_hold_the_routes_values_for_the_filtered_view(dashboard, tensorboard):
    page = dashboard.page
    page.fill("#nv-filter", "encoder.layers.1|frozen")
    layers = [n for n in netviz_logs.LAYERS if "encoder.layers.1" in n or "frozen" in n]
    status, body, _ = tensorboard.get("/data/plugin/netviz/gradient_flow?run=deep&stats=grad_l2,has_grad")
    flow = json.loads(body)
    name, data = export(page, "nv-export-json")
    assert name == "deep-grad_l2-heatmap-step290.json"
    exported = json.loads(data)
    assert exported["layers"] == layers and exported["steps"] == flow["steps"]
    for i, _ in enumerate(flow["steps"]):
        for n, layer in enumerate(layers):
            cell = flow["values"][i][flow["layers"].index(layer)]
            routed = None if cell[1] == 0 else cell[0]
            assert same(exported["values"][i][n], routed), (layer, i, exported["values"][i][n], routed)
    # the NaN of the deep run's broken layer survives as the route writes it
    nan_row = flow["steps"].index(netviz_logs.NAN_STEP)
    assert exported["values"][nan_row][layers.index(netviz_logs.NAN_LAYER)] == "NaN"

    name, data = export(page, "nv-export-csv")
    assert name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["step", *layers]
    for i, row in enumerate(rows[1:]):
        assert int(row[0]) == flow["steps"][i]
        for n, layer in enumerate(layers):
            cell = flow["values"][i][flow["layers"].index(layer)]
            routed = None if cell[1] == 0 else cell[0]
            assert same(row[n + 1], routed)
    assert dashboard.errors == []


def test_heatmap_bar_chart_and_attention_export_as_png(dashboard):
    page = dashboard.page
    page.locator(".attention-panel .att-label").first.wait_for()
    for button, what in (
        ("nv-export-heatmap", "heatmap"),
        ("nv-export-bars", "bars"),
        ("nv-export-attention", "attention"),
    ):
        name, data = export(page, button)
        assert name == f"deep-grad_l2-{what}-step290.png"
        assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert dashboard.errors == []


def test_exported_file_names_from_an_html_run_name_are_plain(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, netviz_logs.HOSTILE_RUN)
    name, data = export(page, "nv-export-csv")
    assert all(c.isalnum() or c in "._-" for c in name), name
    assert name.startswith("zz_img_src_x_onerror_alert_2_") and name.endswith(".csv")
    assert data.decode().splitlines()[0] == "step,input.proj,block.0,output.head"
    assert watched.dialogs == []
    assert watched.errors == []
