"""A real ``tensorboard --logdir`` process, with each loader, serves the NetViz tab and every route."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from tb_netviz.summary import GRADIENT_STATS
from tb_netviz.summary.images import feature_map_grid
from tests.plugin_backend import netviz_logs as logs
from tests.summary_format.png_decode import decode_png
from tests.tb_server import TensorBoardServer

ROUTES = "/data/plugin/netviz/"
COLUMN = {name: i for i, name in enumerate(GRADIENT_STATS)}
# TensorBoard keeps 10 events per netviz tag with --load_fast=false, 100 with the Rust loader.
KEPT = {False: 10, True: len(logs.STEPS)}


@pytest.fixture(scope="module", params=[False, True], ids=["load_fast_false", "rust_loader"])
def server(request, tmp_path_factory):
    logdir = logs.write_logdir(tmp_path_factory.mktemp("tb_process_logs"))
    with TensorBoardServer(logdir, load_fast=request.param) as tensorboard:
        tensorboard.load_fast = request.param
        tensorboard.wait_for(lambda: _exp1_loaded(tensorboard), "the netviz runs to load")
        yield tensorboard


def _exp1_loaded(server) -> bool:
    status, body, _ = server.get(ROUTES + "runs")
    runs = {r["run"]: r for r in json.loads(body)["runs"]} if status == 200 else {}
    exp1 = runs.get("exp1", {})
    return (
        set(runs) == {"exp1", "future", "nested/exp2"}
        and exp1["sampling"].get("gradient_flow", {}).get("kept") == KEPT[server.load_fast]
        and exp1["alerts"] == 2
        and exp1["feature_map_layers"] == ["conv1"]
        and runs["nested/exp2"]["attention_layers"] == ["cross"]
    )


def get_json(server, route: str, **params):
    status, body, content_type = server.get(ROUTES + route + "?" + urllib.parse.urlencode(params))
    assert content_type.startswith("application/json"), content_type
    return status, json.loads(body, parse_constant=lambda name: 1 / 0)


def test_plugins_listing_shows_the_netviz_tab(server):
    status, body, _ = server.get("/data/plugins_listing")
    entry = json.loads(body)["netviz"]
    assert status == 200 and entry["enabled"] is True and entry["tab_name"] == "NetViz"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/netviz/static/index.js",
    }


def test_runs_route_describes_the_written_runs(server):
    _, body = get_json(server, "runs")
    exp1 = body["runs"][0]
    assert (exp1["gradient_flow"], exp1["activations"], exp1["attention_layers"]) == (
        True,
        True,
        ["enc.attn"],
    )
    flow = exp1["sampling"]["gradient_flow"]
    assert flow["last_step"] == 240 and flow["log_every_n_steps"] == 10
    assert flow["sampled"] is (KEPT[server.load_fast] < len(logs.STEPS))


def test_gradient_flow_route_returns_the_written_values(server):
    status, body = get_json(server, "gradient_flow", run="exp1")
    assert status == 200 and body["layers"] == logs.LAYERS and body["stats"] == list(GRADIENT_STATS)
    assert len(body["steps"]) == KEPT[server.load_fast] and body["steps"][-1] == 240
    for i, step in enumerate(body["steps"]):
        for j, layer in enumerate(body["layers"]):
            row, expected = body["values"][i][j], logs.gradient_row(step, layer)
            if (step, layer) == logs.NO_GRADIENT:
                assert row[COLUMN["grad_l2"]] is None and row[COLUMN["param_l2"]] == 3.0
            elif (step, layer) == logs.NON_FINITE:
                assert row[COLUMN["grad_l2"]] == "NaN" and row[COLUMN["grad_max_abs"]] == "Infinity"
            else:
                np.testing.assert_allclose(row, expected, rtol=1e-6, atol=1e-12)


def test_step_cap_keeps_the_alert_steps_that_tensorboard_kept(server):
    _, full = get_json(server, "gradient_flow", run="exp1")
    _, capped = get_json(server, "gradient_flow", run="exp1", max_steps=1, stats="grad_l2")
    kept_alerts = [s for s in logs.ALERT_STEPS if s in full["steps"]]
    assert capped["steps"] == sorted({full["steps"][0], 240, *kept_alerts})
    assert capped["stats"] == ["grad_l2"]


def test_activations_attention_feature_maps_and_alerts_routes(server):
    _, activations = get_json(server, "activations", run="exp1")
    assert activations["steps"] == logs.PROBE_STEPS
    np.testing.assert_allclose(activations["values"][1][2], logs.activation_row(100, "head"), rtol=1e-6)

    _, attention_index = get_json(server, "attention", run="exp1", layer="enc.attn")
    assert (attention_index["steps"], attention_index["heads"]) == (logs.PROBE_STEPS, 2)
    _, attention = get_json(server, "attention", run="exp1", layer="enc.attn", step=200)
    np.testing.assert_allclose(attention["values"], logs.attention_weights(200), rtol=1e-6)
    assert attention["tokens"] == logs.TOKENS

    _, maps = get_json(server, "feature_maps", run="exp1", layer="conv1")
    assert maps["steps"] == logs.PROBE_STEPS
    status, png, content_type = server.get(ROUTES + "feature_maps?run=exp1&layer=conv1&step=0")
    assert (status, content_type) == (200, "image/png") and png.startswith(b"\x89PNG")
    maps_at_0 = np.random.default_rng(0).random((4, 5, 6)).astype(np.float32)  # as netviz_logs wrote it
    np.testing.assert_array_equal(decode_png(png), feature_map_grid(maps_at_0))
    assert maps["layout"] == {
        "channels": 4,
        "total_channels": 4,
        "columns": 2,
        "rows": 2,
        "tile_height": 5,
        "tile_width": 6,
        "pad": 1,
    }
    # TensorBoard's own Images tab serves the same RGB PNG
    images_tag = urllib.parse.quote("netviz/feature_maps/conv1")
    status, body, _ = server.get(f"/data/plugin/images/images?run=exp1&tag={images_tag}&sample=0")
    assert status == 200, body
    blob = json.loads(body)[0]["query"]
    status, image, content_type = server.get(f"/data/plugin/images/individualImage?{blob}")
    assert status == 200 and content_type == "image/png"
    assert decode_png(image).shape == (11, 13, 3)

    _, alerts = get_json(server, "alerts", run="exp1")
    assert alerts["alerts"] == logs.alert_history(70)


def test_static_entry_module_is_served_as_javascript(server):
    status, body, content_type = server.get(ROUTES + "static/index.js")
    assert status == 200 and content_type.startswith("application/javascript")
    assert b"render" in body
    assert server.get(ROUTES + "static/%2e%2e/loader.py")[0] == 404


def test_errors_over_http(server):
    assert get_json(server, "gradient_flow")[0] == 400
    assert get_json(server, "gradient_flow", run="nope")[0] == 404
    assert get_json(server, "attention", run="exp1", layer="enc.attn", step=5)[0] == 404
    request = urllib.request.Request(server.url + ROUTES + "runs", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 405
