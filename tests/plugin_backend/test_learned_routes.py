"""The ``weights`` and ``embedding`` routes over real event files, and the Projector export read back
by TensorBoard's own projector plugin in a real ``tensorboard`` process."""

from __future__ import annotations

import json
import time
import urllib.parse

import numpy as np
import pytest

from tb_netviz.summary import NetVizWriter
from tb_netviz.summary.embedding import EmbeddingProjection
from tb_netviz.summary.learned import EmbeddingSeries, WeightSeries
from tb_netviz.summary.weights import block_pool
from tests.plugin_backend.conftest import NetVizClient
from tests.tb_server import TensorBoardServer

STEPS = [0, 100, 200]
RNG = np.random.default_rng(21)
KERNELS = {step: RNG.normal(size=(8, 3, 3, 3)).astype(np.float32) for step in STEPS}
MATRICES = {step: RNG.normal(size=(600, 40)).astype(np.float32) for step in STEPS}
FEATURES = {step: RNG.normal(size=(12, 6)).astype(np.float32) for step in STEPS}
LABELS = np.arange(12) % 3


def write_run(run_dir, projector: bool = True) -> None:
    kernels = WeightSeries("conv1", "kernel", "oik")
    matrix = WeightSeries("fc", "matrix", "oi")
    embedding = EmbeddingSeries("fc", "input", str(run_dir) if projector else None)
    with NetVizWriter(run_dir) as writer:
        for step in STEPS:
            writer.weights(step, kernels, KERNELS[step])
            writer.weights(step, matrix, MATRICES[step])
            writer.embedding(step, embedding, FEATURES[step], LABELS, "sample_labels")


@pytest.fixture(scope="module")
def learned_logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("learned_logs")
    write_run(root / "exp")
    return root


@pytest.mark.parametrize("samples", [{"netviz": 0}, {}], ids=["all_kept", "default_sampling"])
def test_runs_list_the_weight_and_embedding_layers(learned_logdir, samples):
    [run] = NetVizClient(learned_logdir, samples).json("runs")["runs"]
    assert run["weight_layers"] == ["conv1", "fc"] and run["embedding_layers"] == ["fc"]


def test_weights_steps_and_layout_of_a_kernel_layer(learned_logdir):
    body = NetVizClient(learned_logdir, {"netviz": 0}).json("weights", run="exp", layer="conv1")
    assert body["steps"] == STEPS and body["layout"] == "kernel" and body["views"] == ["weights", "change"]
    assert (body["out_channels"], body["in_channels"], body["shown"]) == (8, 3, [8, 3])
    assert body["first_step"] == 0 and body["kernel_size"] == [3, 3]


def test_one_step_of_a_kernel_and_its_change_with_the_layer_scale(learned_logdir):
    client = NetVizClient(learned_logdir, {"netviz": 0})
    now = client.json("weights", run="exp", layer="conv1", step=100)
    np.testing.assert_allclose(np.array(now["values"]), KERNELS[100], rtol=1e-6)
    assert now["scale"] == pytest.approx(float(np.abs(KERNELS[100]).max()))
    change = client.json("weights", run="exp", layer="conv1", step=200, view="change")
    np.testing.assert_allclose(np.array(change["values"]), KERNELS[200] - KERNELS[0], rtol=1e-5, atol=1e-6)
    assert change["shape"] == [8, 3, 3, 3] and change["view"] == "change"


def test_a_pooled_matrix_is_served_as_extreme_and_mean_with_its_block(learned_logdir):
    body = NetVizClient(learned_logdir, {"netviz": 0}).json("weights", run="exp", layer="fc", step=200)
    assert body["block"] == [3, 1] and body["pools"] == ["extreme", "mean"] and body["shape"] == [2, 200, 40]
    np.testing.assert_allclose(
        np.array(body["values"]), block_pool(MATRICES[200].astype(np.float64), (3, 1)), rtol=1e-5, atol=1e-6
    )


def test_embedding_points_labels_and_variance_for_every_kept_step(learned_logdir):
    body = NetVizClient(learned_logdir, {"netviz": 0}).json("embedding", run="exp", layer="fc")
    projection = EmbeddingProjection()
    expected = [projection.project(FEATURES[step].astype(np.float64)) for step in STEPS]
    assert body["steps"] == STEPS and body["label_source"] == "sample_labels" and body["of"] == "input"
    for (coords, ratio), points, labels, variance in zip(
        expected, body["points"], body["labels"], body["explained_variance"], strict=True
    ):
        np.testing.assert_allclose(np.array(points), coords, rtol=1e-4, atol=1e-5)
        assert labels == LABELS.tolist()
        assert variance == pytest.approx(ratio.tolist(), rel=1e-5)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"run": "exp"}, 400),
        ({"run": "exp", "layer": "conv1", "view": "delta"}, 400),
        ({"run": "exp", "layer": "conv1", "step": "x"}, 400),
        ({"run": "exp", "layer": "nope"}, 404),
        ({"run": "nope", "layer": "conv1"}, 404),
        ({"run": "exp", "layer": "conv1", "step": 5}, 404),
    ],
)
def test_bad_weights_requests_are_400_or_404_with_a_json_error(learned_logdir, params, status):
    response = NetVizClient(learned_logdir, {"netviz": 0}).get("weights", **params)
    assert response.status_code == status
    assert "error" in json.loads(response.get_data(as_text=True))


def test_an_unknown_embedding_layer_is_a_404(learned_logdir):
    response = NetVizClient(learned_logdir, {"netviz": 0}).get("embedding", run="exp", layer="conv1")
    assert response.status_code == 404 and "embedding" in json.loads(response.get_data(as_text=True))["error"]


def projector_json(server: TensorBoardServer, route: str, **params):
    status, body, _ = server.get(f"/data/plugin/projector/{route}?{urllib.parse.urlencode(params)}")
    assert status == 200, body[:300]
    return body


def wait_for_projector_run(server: TensorBoardServer, run: str, timeout: float = 60.0) -> None:
    """The projector finds runs on a thread of its own, after TensorBoard answers: poll, bounded."""
    deadline = time.monotonic() + timeout
    while run not in json.loads(projector_json(server, "runs")):
        assert time.monotonic() < deadline, f"TensorBoard's projector did not list run {run!r} in {timeout} s"
        time.sleep(0.5)


def test_tensorboards_projector_lists_and_serves_the_export_of_two_writers(tmp_path):
    run_dir = tmp_path / "exp"
    write_run(run_dir)
    second = EmbeddingSeries("other/layer", "output", str(run_dir))  # a second writer on the same run
    with NetVizWriter(run_dir) as writer:
        writer.embedding(300, second, FEATURES[0][:, :4], LABELS, "predicted")
    with TensorBoardServer(tmp_path) as server:
        wait_for_projector_run(server, "exp")
        config = json.loads(projector_json(server, "info", run="exp"))
        names = [e["tensorName"] for e in config["embeddings"]]
        assert names == ["fc @ step 0", "fc @ step 100", "fc @ step 200", "other/layer @ step 300"]
        tensor = projector_json(server, "tensor", run="exp", name="fc @ step 100")
        np.testing.assert_allclose(np.frombuffer(tensor, "<f4").reshape(12, 6), FEATURES[100], rtol=1e-6)
        metadata = projector_json(server, "metadata", run="exp", name="other/layer @ step 300").decode()
        lines = metadata.splitlines()
        assert lines[0] == "sample\tpredicted" and lines[1:3] == ["0\t0", "1\t1"] and len(lines) == 13
        # the netviz plugin reads the same run through the default (Rust) loader
        status, body, _ = server.get("/data/plugin/netviz/embedding?run=exp&layer=fc")
        assert status == 200 and json.loads(body)["steps"] == STEPS
