"""With TensorBoard's default sampling, the newest alerts event, and with it every alert, survives.

TensorBoard keeps a sample of each tag's events (10 with ``--load_fast=false``,
more with the Rust loader) but always the newest. Each ``netviz/alerts`` event
carries the run's whole history, so no alert can be sampled away.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tb_netviz import summary
from tests.summary_format.tb_readers import python_provider, read_run, rust_provider, wait_until

STEPS = 300


@pytest.fixture(scope="module")
def alerting_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("sampling")
    detector = summary.AlertDetector(warn=False)
    layers = [f"layer{i}" for i in range(3)]
    with summary.NetVizWriter(logdir / "run") as writer:
        for step in range(STEPS):
            # one layer turns non-finite at every other step: a new alert every other step
            table = np.ones((3, len(summary.GRADIENT_STATS)), np.float32)
            table[step % 3, summary.GRADIENT_STATS.index("grad_nonfinite")] = step % 2
            writer.gradient_flow(step, layers, table)
            if detector.check_gradients(step, layers, table):
                writer.alerts(step, detector.history)
    return logdir, detector.history


def newest_alerts(data):
    step, value = data.tensors[summary.ALERTS_TAG][-1]
    return step, json.loads(value.item().decode("utf-8"))


def test_python_loader_keeps_the_newest_alerts_event_with_the_whole_history(alerting_run):
    logdir, history = alerting_run
    data = read_run(python_provider(str(logdir), keep_all=False), "run")
    assert len(data.tensors[summary.GRADIENT_FLOW_TAG]) < STEPS  # sampling did happen
    assert newest_alerts(data) == (history[-1]["step"], history)


def test_rust_loader_keeps_the_newest_alerts_event_with_the_whole_history(alerting_run):
    logdir, history = alerting_run
    with rust_provider(str(logdir), keep_all=False) as provider:
        snapshot = {}

        def loaded() -> bool:
            snapshot["data"] = read_run(provider, "run")
            points = snapshot["data"].tensors.get(summary.ALERTS_TAG, [])
            return bool(points) and points[-1][0] == history[-1]["step"]

        wait_until(loaded, "the Rust data server to load the run")
    data = snapshot["data"]
    assert len(data.tensors[summary.GRADIENT_FLOW_TAG]) < STEPS
    assert newest_alerts(data) == (history[-1]["step"], history)
