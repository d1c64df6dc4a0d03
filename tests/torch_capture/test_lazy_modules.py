"""Models with lazy modules (``nn.LazyLinear``): parameters without a shape until a forward pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tb_netviz.summary import GRADIENT_FLOW_TAG, GRADIENT_STATS, NetVizWriteWarning
from tb_netviz.torch import NetViz
from tests.torch_capture.events import Run
from tests.torch_capture.models import reference_gradient_rows

torch.manual_seed(0)


def lazy_model() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.LazyLinear(2))


def train_step(model: nn.Module) -> None:
    model(torch.randn(5, 3)).sum().backward()


def assert_logged_matches_reference(log_dir, step: int, reference: dict) -> None:
    logged = Run(log_dir).table(GRADIENT_FLOW_TAG, step)
    assert list(logged) == ["0", "2"]
    for layer, row in logged.items():
        for stat in GRADIENT_STATS:
            if stat in reference[layer]:
                assert row[stat] == pytest.approx(reference[layer][stat], rel=1e-5), (layer, stat)


def test_lazy_model_without_sample_batch_is_measured_once_its_first_forward_pass_ran(tmp_path):
    model = lazy_model()
    with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
        train_step(model)
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    assert_logged_matches_reference(tmp_path, 0, reference)


def test_lazy_model_initialised_by_the_sample_batch_is_measured(tmp_path):
    model = lazy_model()
    with NetViz(model, tmp_path, sample_batch=torch.randn(2, 3), log_every_n_steps=1) as viz:
        assert model[0].weight.shape == (6, 3)
        train_step(model)
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    assert_logged_matches_reference(tmp_path, 0, reference)


def test_gradients_logged_before_lazy_layers_are_initialised_warn_with_the_fix_and_training_goes_on(
    tmp_path,
):
    model = lazy_model()
    with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
        with pytest.warns(NetVizWriteWarning, match=r"lazy layers \['0', '2'\].*forward pass.*sample_batch"):
            viz.log_gradients(0)
        train_step(model)
        viz.log_gradients(1)
        reference = reference_gradient_rows(model)
    assert [step for step, _ in Run(tmp_path).values(GRADIENT_FLOW_TAG)] == [1]
    assert_logged_matches_reference(tmp_path, 1, reference)
