"""The ``gradcam`` and ``probe_inputs`` routes over real event files, with both of TensorBoard's samplings."""

from __future__ import annotations

import numpy as np
import pytest

from tb_netviz.summary import NetVizWriter
from tests.plugin_backend import netviz_logs as logs
from tests.plugin_backend.conftest import NetVizClient


def test_steps_of_a_layer_with_the_scale_over_all_of_them(netviz):
    body = netviz.json("gradcam", run="exp1", layer="conv1")
    assert body["steps"] == logs.PROBE_STEPS
    assert (body["samples"], body["height"], body["width"]) == (3, 4, 5)
    assert body["target"] == "label" and body["labels"] == logs.GRADCAM_LABELS.tolist()
    peaks = [float(logs.gradcam_maps(step).max()) for step in logs.PROBE_STEPS]
    assert body["step_max"] == pytest.approx(peaks) and body["max"] == pytest.approx(max(peaks))


def test_one_step_holds_the_raw_maps_classes_and_probabilities(netviz):
    body = netviz.json("gradcam", run="exp1", layer="conv1", step=100)
    assert body["step"] == 100
    np.testing.assert_allclose(np.array(body["values"], np.float64), logs.gradcam_maps(100), rtol=1e-6)
    classes, probabilities = logs.gradcam_targets(100)
    assert body["classes"] == classes.tolist()
    assert body["probabilities"] == pytest.approx(probabilities.tolist(), rel=1e-6)
    assert body["labels"] == logs.GRADCAM_LABELS.tolist()
    assert body["max"] == pytest.approx(float(logs.gradcam_maps(100).max()), rel=1e-6)
    assert body["run_max"] == pytest.approx(float(logs.gradcam_maps(200).max()), rel=1e-6)


def test_probe_images_are_served_as_written(netviz):
    body = netviz.json("probe_inputs", run="exp1")
    assert (body["step"], body["samples"], body["height"], body["width"], body["channels"]) == (0, 3, 4, 5, 1)
    written = logs.PROBE_IMAGES
    scaled = (written - written.min(axis=(1, 2, 3), keepdims=True)) / np.ptp(
        written, axis=(1, 2, 3), keepdims=True
    )
    np.testing.assert_allclose(np.array(body["values"]), scaled, rtol=1e-6, atol=1e-7)


def test_default_python_sampling_keeps_maps_and_targets_of_the_same_steps(tmp_path):
    with NetVizWriter(tmp_path / "long") as writer:
        for step in range(0, 400, 10):
            maps = {"conv": np.full((2, 3, 3), step, np.float32)}
            writer.gradcam(step, maps, [step % 3, 1], [0.5, 0.5], np.zeros((2, 3, 3)), target="predicted")
    client = NetVizClient(tmp_path, {})  # 10 events per netviz tag, as tensorboard --load_fast=false
    body = client.json("gradcam", run="long", layer="conv")
    assert len(body["steps"]) == 10 and body["steps"][-1] == 390
    for step in body["steps"]:
        one = client.json("gradcam", run="long", layer="conv", step=step)
        assert one["classes"] == [step % 3, 1] and one["values"][0][0][0] == step
    assert client.json("probe_inputs", run="long")["step"] == 0


@pytest.mark.parametrize(
    ("route", "params", "status", "message"),
    [
        ("gradcam", {"run": "exp1"}, 400, "missing parameter 'layer'"),
        ("gradcam", {"layer": "conv1"}, 400, "missing parameter 'run'"),
        ("gradcam", {"run": "exp1", "layer": "conv1", "step": "x"}, 400, "'step' must be an integer"),
        ("gradcam", {"run": "exp1", "layer": "head"}, 404, "run 'exp1' has no Grad-CAM layer 'head'"),
        (
            "gradcam",
            {"run": "exp1", "layer": "conv1", "step": 5},
            404,
            "no Grad-CAM maps for layer 'conv1' at step 5",
        ),
        ("gradcam", {"run": "nope", "layer": "conv1"}, 404, "run 'nope' holds no netviz data"),
        ("probe_inputs", {"run": "nested/exp2"}, 404, "run 'nested/exp2' has no probe images"),
        ("probe_inputs", {}, 400, "missing parameter 'run'"),
    ],
)
def test_bad_or_unknown_parameters_answer_400_or_404_naming_them(netviz, route, params, status, message):
    response = netviz.get(route, **params)
    assert response.status_code == status
    assert message in response.get_json()["error"]
