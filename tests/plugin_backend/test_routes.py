"""The routes of ``http_api.md`` over a real data provider reading real event files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tb_netviz.summary import GRADIENT_STATS
from tests.plugin_backend import netviz_logs as logs

COLUMN = {name: i for i, name in enumerate(GRADIENT_STATS)}


def strict_json(text: str):
    """Decode JSON that must not use the NaN/Infinity extensions."""

    def refuse(name):
        raise AssertionError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def assert_table_matches(values, steps, layers, row_of, stats):
    for i, step in enumerate(steps):
        for j, layer in enumerate(layers):
            expected = row_of(step, layer)
            for k, name in enumerate(stats):
                got = values[i][j][k]
                if isinstance(got, (int, float)):
                    assert got == pytest.approx(expected[k], rel=1e-6, abs=1e-12), (step, layer, name)


# --- runs -------------------------------------------------------------------


def test_runs_lists_only_runs_holding_netviz_data(netviz):
    names = [run["run"] for run in netviz.json("runs")["runs"]]
    assert names == ["exp1", "future", "nested/exp2"]


def test_runs_describe_what_each_run_holds(netviz):
    exp1 = netviz.json("runs")["runs"][0]
    assert exp1 == {
        "run": "exp1",
        "gradient_flow": True,
        "activations": True,
        "attention_layers": ["enc.attn"],
        "feature_map_layers": ["conv1"],
        "gradcam_layers": ["conv1"],
        "weight_layers": [],
        "embedding_layers": [],
        "alerts": 2,
        "sampling": {
            "gradient_flow": {
                "kept": 25,
                "first_step": 0,
                "last_step": 240,
                "log_every_n_steps": 10,
                "expected": 25,
                "sampled": False,
            },
            "activations": {
                "kept": 3,
                "first_step": 0,
                "last_step": 200,
                "log_every_n_steps": 100,
                "expected": 3,
                "sampled": False,
            },
        },
    }


def test_sampling_without_a_recorded_interval_is_unknown_unless_all_is_kept(netviz, sampled_netviz):
    def exp2_flow(client):
        return client.json("runs")["runs"][2]["sampling"]["gradient_flow"]

    assert exp2_flow(netviz)["expected"] is None and exp2_flow(netviz)["sampled"] is False
    assert exp2_flow(sampled_netviz)["sampled"] is None


def test_run_written_by_a_newer_format_is_listed_with_the_problem(netviz):
    future = netviz.json("runs")["runs"][1]
    assert future["gradient_flow"] is False
    assert "newer tb-netviz" in future["problems"][0]


def test_runs_report_sampling_when_tensorboard_kept_only_some_steps(sampled_netviz):
    flow = sampled_netviz.json("runs")["runs"][0]["sampling"]["gradient_flow"]
    assert flow["kept"] == 10
    assert flow["last_step"] == 240
    assert flow["expected"] == (240 - flow["first_step"]) // 10 + 1
    assert flow["sampled"] is True


def test_tab_is_listed_as_an_iframe_module_named_netviz(netviz):
    response = netviz.client.get("/data/plugins_listing")
    entry = json.loads(response.get_data(as_text=True))["netviz"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "NetViz"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/netviz/static/index.js",
    }


# --- gradient_flow ----------------------------------------------------------


def test_gradient_flow_returns_every_step_layer_and_column_in_flow_order(netviz):
    body = netviz.json("gradient_flow", run="exp1")
    assert body["layers"] == logs.LAYERS
    assert body["stats"] == list(GRADIENT_STATS)
    assert body["steps"] == logs.STEPS
    assert len(body["wall_times"]) == len(logs.STEPS)
    assert np.shape(np.array(body["values"], dtype=object)) == (len(logs.STEPS), 3, len(GRADIENT_STATS))
    assert body["total_steps"] == len(logs.STEPS) and body["downsampled"] is False
    assert_table_matches(body["values"], body["steps"], body["layers"], logs.gradient_row, GRADIENT_STATS)


def test_tables_carry_the_alert_thresholds_the_run_was_checked_with(netviz):
    assert netviz.json("gradient_flow", run="exp1")["alert_thresholds"] == logs.EXP1_THRESHOLDS
    assert netviz.json("activations", run="exp1")["alert_thresholds"] == logs.EXP1_THRESHOLDS
    assert netviz.json("gradient_flow", run="nested/exp2")["alert_thresholds"] is None  # written without


def test_layer_without_gradient_is_null_except_param_norm_and_flag(netviz):
    body = netviz.json("gradient_flow", run="exp1")
    step, layer = logs.NO_GRADIENT
    row = body["values"][body["steps"].index(step)][body["layers"].index(layer)]
    assert row[COLUMN["param_l2"]] == 3.0
    assert row[COLUMN["has_grad"]] == 0
    assert [v for k, v in enumerate(row) if k not in (COLUMN["param_l2"], COLUMN["has_grad"])] == [None] * 5


def test_zero_gradient_is_zero_not_null(netviz):
    body = netviz.json("gradient_flow", run="exp1")
    step, layer = logs.ZERO_GRADIENT
    row = body["values"][body["steps"].index(step)][body["layers"].index(layer)]
    assert row[COLUMN["grad_l2"]] == 0
    assert row[COLUMN["has_grad"]] == 1


def test_non_finite_gradient_is_encoded_as_strings_in_valid_json(netviz):
    response = netviz.get("gradient_flow", run="exp1")
    body = strict_json(response.get_data(as_text=True))
    step, layer = logs.NON_FINITE
    row = body["values"][body["steps"].index(step)][body["layers"].index(layer)]
    assert row[COLUMN["grad_l2"]] == "NaN"
    assert row[COLUMN["grad_max_abs"]] == "Infinity"
    assert row[COLUMN["grad_nonfinite"]] == 5


def test_stats_parameter_returns_only_the_named_columns_in_that_order(netviz):
    body = netviz.json("gradient_flow", run="exp1", stats="has_grad,grad_l2")
    assert body["stats"] == ["has_grad", "grad_l2"]
    assert {len(row) for step in body["values"] for row in step} == {2}
    assert_table_matches(
        body["values"],
        body["steps"],
        body["layers"],
        lambda s, layer: [logs.gradient_row(s, layer)[COLUMN[c]] for c in body["stats"]],
        body["stats"],
    )


def test_layers_parameter_returns_all_columns_of_the_named_layers_in_that_order(netviz):
    body = netviz.json("gradient_flow", run="exp1", layers="head,conv1,head")
    assert body["layers"] == ["head", "conv1"]
    assert body["stats"] == list(GRADIENT_STATS) and body["steps"] == logs.STEPS
    assert {len(step) for step in body["values"]} == {2}
    assert_table_matches(body["values"], body["steps"], body["layers"], logs.gradient_row, GRADIENT_STATS)
    step, layer = logs.NO_GRADIENT
    row = body["values"][body["steps"].index(step)][body["layers"].index(layer)]
    assert row[COLUMN["grad_l2"]] is None and row[COLUMN["param_l2"]] == 3.0


def test_layers_and_stats_parameters_combine(netviz):
    body = netviz.json("gradient_flow", run="exp1", layers="enc.attn", stats="grad_l2", max_steps=3)
    assert body["layers"] == ["enc.attn"] and body["stats"] == ["grad_l2"]
    assert [[row[0] for row in step] for step in body["values"]] == [
        [pytest.approx(logs.gradient_row(s, "enc.attn")[COLUMN["grad_l2"]], rel=1e-6)] for s in body["steps"]
    ]


def test_activations_of_named_layers(netviz):
    body = netviz.json("activations", run="exp1", layers="head")
    assert body["layers"] == ["head"]
    assert_table_matches(body["values"], body["steps"], body["layers"], logs.activation_row, body["stats"])


def test_step_range_is_inclusive(netviz):
    body = netviz.json("gradient_flow", run="exp1", min_step=50, max_step=100)
    assert body["steps"] == [50, 60, 70, 80, 90, 100]
    assert body["total_steps"] == 6


def test_empty_step_range_answers_no_steps(netviz):
    body = netviz.json("gradient_flow", run="exp1", min_step=241)
    assert body["steps"] == [] and body["values"] == [] and body["total_steps"] == 0


def test_step_cap_keeps_first_last_and_alert_steps(netviz):
    body = netviz.json("gradient_flow", run="exp1", max_steps=6)
    assert len(body["steps"]) <= 6
    assert {0, 30, 70, 240} <= set(body["steps"])
    assert body["steps"] == sorted(body["steps"])
    assert body["downsampled"] is True and body["total_steps"] == len(logs.STEPS)
    assert_table_matches(body["values"], body["steps"], body["layers"], logs.gradient_row, GRADIENT_STATS)


def test_alert_steps_are_kept_even_when_they_exceed_the_cap(netviz):
    body = netviz.json("gradient_flow", run="exp1", max_steps=1)
    assert body["steps"] == [0, 30, 70, 240]


def test_gradient_flow_of_a_run_with_sampled_steps_keeps_the_newest(sampled_netviz):
    body = sampled_netviz.json("gradient_flow", run="exp1")
    assert len(body["steps"]) == 10 and body["steps"][-1] == 240
    assert set(body["steps"]) <= set(logs.STEPS)
    assert_table_matches(body["values"], body["steps"], body["layers"], logs.gradient_row, GRADIENT_STATS)


@pytest.mark.parametrize(
    "params, named",
    [
        ({}, "run"),
        ({"run": ""}, "run"),
        ({"run": "exp1", "max_steps": "0"}, "max_steps"),
        ({"run": "exp1", "max_steps": "10001"}, "max_steps"),
        ({"run": "exp1", "max_steps": "ten"}, "max_steps"),
        ({"run": "exp1", "min_step": "1.5"}, "min_step"),
        ({"run": "exp1", "max_step": "99999999999999999999"}, "max_step"),
        ({"run": "exp1", "min_step": "9", "max_step": "3"}, "min_step"),
        ({"run": "exp1", "stats": "grad_l2,bogus"}, "stats"),
        ({"run": "exp1", "stats": ""}, "stats"),
        ({"run": "exp1", "layers": "conv1,bogus"}, "layers"),
        ({"run": "exp1", "layers": ""}, "layers"),
        ({"run": "exp1", "layers": "conv1,"}, "layers"),
    ],
)
def test_bad_parameter_is_400_with_a_json_error_naming_it(netviz, params, named):
    response = netviz.get("gradient_flow", **params)
    assert response.status_code == 400
    assert f"'{named}'" in strict_json(response.get_data(as_text=True))["error"]


@pytest.mark.parametrize(
    "run, says",
    [("nope", "'nope'"), ("scalars_only", "scalars_only"), ("future", "newer tb-netviz")],
)
def test_run_without_readable_gradient_flow_is_404(netviz, run, says):
    response = netviz.get("gradient_flow", run=run)
    assert response.status_code == 404
    assert says in strict_json(response.get_data(as_text=True))["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD"])
def test_methods_other_than_get_are_405(netviz, method):
    response = netviz.client.open("/data/plugin/netviz/gradient_flow?run=exp1", method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


# --- activations ------------------------------------------------------------


def test_activations_have_the_gradient_flow_shape_without_nulls(netviz):
    body = netviz.json("activations", run="exp1")
    assert body["layers"] == logs.LAYERS
    assert body["stats"] == logs.ACTIVATION_STAT_NAMES
    assert body["steps"] == logs.PROBE_STEPS
    assert_table_matches(body["values"], body["steps"], body["layers"], logs.activation_row, body["stats"])
    assert all(isinstance(v, (int, float)) for step in body["values"] for row in step for v in row)


def test_activations_of_a_run_without_them_is_404(netviz):
    assert netviz.get("activations", run="nested/exp2").status_code == 404


# --- attention --------------------------------------------------------------


def test_attention_index_lists_steps_heads_and_tokens(netviz):
    body = netviz.json("attention", run="exp1", layer="enc.attn")
    assert body["steps"] == logs.PROBE_STEPS
    assert body["heads"] == 2
    assert body["tokens"] == logs.TOKENS


def test_attention_at_a_step_is_the_head_query_key_matrix(netviz):
    body = netviz.json("attention", run="exp1", layer="enc.attn", step=100)
    assert (body["step"], body["heads"], body["queries"], body["keys"]) == (100, 2, 3, 3)
    np.testing.assert_allclose(np.array(body["values"]), logs.attention_weights(100), rtol=1e-6)
    assert body["tokens"] == logs.TOKENS and isinstance(body["wall_time"], float)


def test_cross_attention_has_query_and_key_tokens(netviz):
    body = netviz.json("attention", run="nested/exp2", layer="cross", step=7)
    assert body["tokens"] is None
    assert (body["query_tokens"], body["key_tokens"]) == logs.CROSS_TOKENS
    assert np.shape(body["values"]) == (1, 2, 4)


@pytest.mark.parametrize(
    "params, status",
    [
        ({"run": "exp1", "layer": "nope"}, 404),
        ({"run": "exp1", "layer": "enc.attn", "step": "50"}, 404),
        ({"run": "nope", "layer": "enc.attn"}, 404),
        ({"run": "exp1"}, 400),
        ({"run": "exp1", "layer": "enc.attn", "step": "x"}, 400),
    ],
)
def test_attention_errors(netviz, params, status):
    response = netviz.get("attention", **params)
    assert response.status_code == status
    assert strict_json(response.get_data(as_text=True))["error"]


# --- feature maps -----------------------------------------------------------


def test_feature_map_index_lists_the_steps(netviz):
    body = netviz.json("feature_maps", run="exp1", layer="conv1")
    assert body["steps"] == logs.PROBE_STEPS
    assert len(body["wall_times"]) == 3


def test_feature_map_at_a_step_is_the_png(netviz):
    response = netviz.get("feature_maps", run="exp1", layer="conv1", step=100)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.get_data().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "params, status",
    [
        ({"run": "exp1", "layer": "head"}, 404),
        ({"run": "exp1", "layer": "conv1", "step": "10"}, 404),
        ({"layer": "conv1"}, 400),
        ({"run": "exp1", "layer": "conv1", "step": "-"}, 400),
    ],
)
def test_feature_map_errors(netviz, params, status):
    assert netviz.get("feature_maps", **params).status_code == status


# --- alerts -----------------------------------------------------------------


def test_alerts_are_the_whole_history_oldest_first(netviz):
    body = netviz.json("alerts", run="exp1")
    assert body == {"run": "exp1", "alerts": logs.alert_history(70), "omitted": logs.ALERTS_OMITTED}


def test_alerts_survive_step_sampling(sampled_netviz):
    assert sampled_netviz.json("alerts", run="exp1")["alerts"] == logs.alert_history(70)


def test_run_without_alerts_has_an_empty_list(netviz):
    assert netviz.json("alerts", run="nested/exp2")["alerts"] == []


def test_alerts_of_unknown_run_is_404(netviz):
    assert netviz.get("alerts", run="nope").status_code == 404


def test_numbers_keep_float32_precision(netviz):
    body = netviz.json("gradient_flow", run="exp1", stats="grad_l2")
    value = body["values"][body["steps"].index(240)][2][0]
    assert value == pytest.approx(np.float32(0.003 * 241), rel=1e-7)
    assert not math.isnan(value)


def test_samples_per_plugin_hint_limits_what_is_read(logdir):
    from tests.plugin_backend.conftest import NetVizClient

    five = NetVizClient(logdir, {"netviz": 5})
    body = five.json("gradient_flow", run="exp1")
    assert len(body["steps"]) == 5 and body["steps"][-1] == 240
    flow = five.json("runs")["runs"][0]["sampling"]["gradient_flow"]
    assert (flow["kept"], flow["sampled"]) == (5, True)
    assert five.json("alerts", run="exp1")["alerts"] == logs.alert_history(70)


def test_gzip_accepting_clients_get_the_same_json_compressed(netviz):
    import gzip

    plain = netviz.get("gradient_flow", run="exp1", max_steps=7).get_data()
    packed = netviz.client.get(
        "/data/plugin/netviz/gradient_flow?run=exp1&max_steps=7", headers={"Accept-Encoding": "gzip"}
    )
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.get_data()) == plain


def test_a_table_too_large_for_one_read_is_sampled_not_refused(logdir, monkeypatch):
    from tb_netviz.plugin import reader
    from tests.plugin_backend.conftest import NetVizClient

    monkeypatch.setattr(reader, "MAX_TABLE_BYTES", 8 * len(logs.LAYERS) * len(GRADIENT_STATS) * 4)
    capped = NetVizClient(logdir, {"netviz": 0})
    body = capped.json("gradient_flow", run="exp1")
    assert len(body["steps"]) == 8 and body["steps"][-1] == 240
    flow = capped.json("runs")["runs"][0]["sampling"]["gradient_flow"]
    assert (flow["kept"], flow["sampled"]) == (8, True)


def test_events_loaded_after_a_first_request_are_served(tmp_path):
    from tb_netviz.summary import NetVizWriter
    from tests.plugin_backend.conftest import NetVizClient

    def write(steps):
        with NetVizWriter(tmp_path / "growing") as writer:
            for step in steps:
                table = np.array([logs.gradient_row(step, layer) for layer in logs.LAYERS], np.float32)
                writer.gradient_flow(step, logs.LAYERS, table, log_every_n_steps=10)

    write([0, 10])
    growing = NetVizClient(tmp_path, {"netviz": 0})
    assert growing.json("gradient_flow", run="growing")["steps"] == [0, 10]
    write([20, 30])
    growing.reload()
    body = growing.json("gradient_flow", run="growing")
    assert body["steps"] == [0, 10, 20, 30]
    assert_table_matches(body["values"], body["steps"], body["layers"], logs.gradient_row, GRADIENT_STATS)
    assert growing.json("runs")["runs"][0]["sampling"]["gradient_flow"]["kept"] == 4
