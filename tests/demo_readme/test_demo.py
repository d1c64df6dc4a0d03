"""The demo, run with its short setting, writes every kind of data it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

from tb_netviz.summary import metadata
from tb_netviz.summary.columns import GRADIENT_STATS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory) -> data_provider.MultiplexerDataProvider:
    logdir = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--quick", "--logdir", str(logdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "all demos done" in result.stdout
    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"netviz": 0})
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, str(logdir))


def _tensors(provider, run: str) -> dict:
    read = provider.read_tensors(
        context.RequestContext(), experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=10**6
    )
    assert run in read, f"run {run} wrote no netviz data; runs: {sorted(read)}"
    return read[run]


def _alerts(provider, run: str) -> list[dict]:
    events = _tensors(provider, run).get(metadata.ALERTS_TAG, [])
    return json.loads(events[-1].numpy.item()) if events else []


def _tags_with_prefix(provider, run: str, prefix: str, plugin: str) -> list[str]:
    ctx = context.RequestContext()
    if plugin == "images":
        listing = provider.list_blob_sequences(ctx, experiment_id="", plugin_name=plugin)
    else:
        listing = provider.list_tensors(ctx, experiment_id="", plugin_name=plugin)
    return [tag for tag in listing.get(run, {}) if tag.startswith(prefix)]


RUNS = ["keras_digits_cnn", "lightning_reversal", "torch_vanishing_mlp", "torch_exploding_lr"]


@pytest.mark.parametrize("run", RUNS)
def test_every_run_has_gradient_flow_and_activation_statistics(demo_logs, run):
    tensors = _tensors(demo_logs, run)
    flow = tensors[metadata.GRADIENT_FLOW_TAG]
    assert len(flow) >= 3
    assert flow[0].numpy.shape[1] == len(GRADIENT_STATS)
    assert metadata.ACTIVATIONS_TAG in tensors


def test_keras_run_has_feature_maps_of_both_convolutions(demo_logs):
    tags = _tags_with_prefix(demo_logs, "keras_digits_cnn", metadata.FEATURE_MAPS_TAG_PREFIX, "images")
    assert len(tags) == 2, tags


def test_keras_run_has_gradcam_maps_of_both_convolutions_over_training_with_the_true_digits(demo_logs):
    from tb_netviz.summary import gradcam

    tensors = _tensors(demo_logs, "keras_digits_cnn")
    for layer in ("conv1", "conv2"):
        maps = tensors[gradcam.gradcam_tag(layer)]
        assert len(maps) >= 2 and maps[-1].numpy.shape == (16, 8, 8)
        assert np.all(maps[-1].numpy >= 0) and maps[-1].numpy.max() > 0
    listing = demo_logs.list_tensors(context.RequestContext(), experiment_id="", plugin_name="netviz")
    content = metadata.parse_plugin_metadata(
        listing["keras_digits_cnn"][gradcam.GRADCAM_TARGETS_TAG].plugin_content
    )
    assert content["labels"] == [int(d) for d in load_digits().target[:16]]
    assert tensors[gradcam.PROBE_INPUTS_TAG][0].numpy.shape == (16, 8, 8, 1)
    overlays = _tags_with_prefix(demo_logs, "keras_digits_cnn", gradcam.GRADCAM_OVERLAY_TAG_PREFIX, "images")
    assert sorted(overlays) == [gradcam.gradcam_overlay_tag("conv1"), gradcam.gradcam_overlay_tag("conv2")]


def test_lightning_run_has_attention_labelled_with_the_sample_tokens(demo_logs):
    tags = _tags_with_prefix(demo_logs, "lightning_reversal", metadata.ATTENTION_TAG_PREFIX, "netviz")
    assert tags, "no attention written"
    listing = demo_logs.list_tensors(context.RequestContext(), experiment_id="", plugin_name="netviz")
    content = metadata.parse_plugin_metadata(listing["lightning_reversal"][tags[0]].plugin_content)
    attention = _tensors(demo_logs, "lightning_reversal")[tags[0]][-1].numpy
    assert len(content["tokens"]) == attention.shape[1] == attention.shape[2]
    assert all(token.isdigit() for token in content["tokens"])
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, atol=1e-4)


def test_vanishing_alert_fires_for_the_first_layer_of_the_sigmoid_mlp(demo_logs):
    alerts = _alerts(demo_logs, "torch_vanishing_mlp")
    vanishing_layers = {a["layer"] for a in alerts if a["kind"] == "vanishing"}
    first_layer = json.loads(
        demo_logs.list_tensors(context.RequestContext(), experiment_id="", plugin_name="netviz")[
            "torch_vanishing_mlp"
        ][metadata.GRADIENT_FLOW_TAG].plugin_content
    )["layers"][0]
    assert first_layer in vanishing_layers, alerts


def test_exploding_run_alerts_exploding_then_nonfinite(demo_logs):
    alerts = _alerts(demo_logs, "torch_exploding_lr")
    first = {
        kind: min(a["step"] for a in alerts if a["kind"] == kind)
        for kind in ("exploding", "nonfinite")
        if any(a["kind"] == kind for a in alerts)
    }
    assert set(first) == {"exploding", "nonfinite"}, alerts
    assert first["exploding"] < first["nonfinite"]
    assert 20 <= first["exploding"] <= 40  # the learning rate starts rising at step 20 in --quick
