"""Vanishing and exploding gradients are detected where the statistics are computed."""

from __future__ import annotations

import json
import warnings

import torch
from torch import nn

from tb_netviz.summary import (
    ACTIVATIONS_TAG,
    ALERTS_TAG,
    GRADIENT_FLOW_TAG,
    AlertThresholds,
    NetVizAlertWarning,
)
from tb_netviz.torch import NetViz
from tests.torch_capture.events import Run


def alerts_of(log_dir) -> list[dict]:
    values = Run(log_dir).values(ALERTS_TAG)
    return json.loads(values[-1][1][0]) if values else []


def test_deep_sigmoid_stack_raises_vanishing_alerts_for_early_layers(tmp_path):
    torch.manual_seed(0)
    blocks = []
    for _ in range(10):
        blocks += [nn.Linear(16, 16), nn.Sigmoid()]
    model = nn.Sequential(*blocks, nn.Linear(16, 1))
    x = torch.randn(32, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with NetViz(
            model,
            tmp_path,
            log_every_n_steps=1,
            alert_thresholds=AlertThresholds(vanishing_ratio=1e-3, patience=3),
        ) as viz:
            for step in range(5):
                model.zero_grad()
                model(x).pow(2).mean().backward()
                viz.log_gradients(step)
    vanishing = [a for a in alerts_of(tmp_path) if a["kind"] == "vanishing"]
    assert {a["layer"] for a in vanishing} >= {"0", "2"}
    assert "20" not in {a["layer"] for a in vanishing}
    assert all(a["step"] == 2 for a in vanishing)  # after `patience` logged steps
    warned = [str(w.message) for w in caught if issubclass(w.category, NetVizAlertWarning)]
    assert len(warned) == len(vanishing) and all("vanishing" in m for m in warned)


def test_sudden_gradient_growth_raises_an_exploding_alert_once(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(16, 8)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with NetViz(model, tmp_path, log_every_n_steps=2) as viz:
            for step in range(16):
                model.zero_grad()
                scale = 1e4 if step >= 10 else 1.0
                (scale * model(x).pow(2).mean()).backward()
                viz.log_gradients(step)
    exploding = [a for a in alerts_of(tmp_path) if a["kind"] == "exploding"]
    assert {a["layer"] for a in exploding} == {"0", "2"}
    assert {a["step"] for a in exploding} == {10}


def test_the_thresholds_in_force_are_written_with_both_tables(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    thresholds = AlertThresholds(vanishing_ratio=1e-3, exploding_factor=4.0, dead_fraction=0.9, patience=2)
    with NetViz(model, tmp_path, torch.randn(2, 4), log_every_n_steps=1, alert_thresholds=thresholds) as viz:
        model(torch.randn(8, 4)).sum().backward()
        viz.log_gradients(0)
        viz.log_sample(0)
    expected = {"vanishing_ratio": 1e-3, "exploding_factor": 4.0, "dead_fraction": 0.9, "patience": 2}
    run = Run(tmp_path)
    assert run.content(GRADIENT_FLOW_TAG)["alert_thresholds"] == expected
    assert run.content(ACTIVATIONS_TAG)["alert_thresholds"] == expected
    assert run.content(GRADIENT_FLOW_TAG)["log_every_n_steps"] == 1
