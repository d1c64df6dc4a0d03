"""The gradient-flow metadata names the row of the model's own parameters (``model_layer``)."""

from __future__ import annotations

import torch
from torch import nn

from tb_netviz.summary.metadata import GRADIENT_FLOW_TAG, MODEL_LAYER_KEY
from tb_netviz.torch import NetViz
from tests.torch_capture.events import Run


class Reverser(nn.Module):
    """A model that owns a parameter itself (a positional embedding) besides its submodules'."""

    def __init__(self) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.zeros(3, 4))
        self.fc = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x + self.position)


def logged_content(model: nn.Module, log_dir, x: torch.Tensor) -> dict:
    with NetViz(model, log_dir, log_every_n_steps=1) as viz:
        model(x).sum().backward()
        viz.log_gradients(0)
    return Run(log_dir).content(GRADIENT_FLOW_TAG)


def test_the_row_of_the_models_own_parameters_is_named_in_the_metadata(tmp_path):
    content = logged_content(Reverser(), tmp_path, torch.randn(2, 3, 4))
    assert content[MODEL_LAYER_KEY] == "Reverser"
    assert content["layers"][0] == "Reverser"


def test_a_model_without_parameters_of_its_own_names_a_row_it_does_not_have(tmp_path):
    content = logged_content(nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 1)), tmp_path, torch.randn(2, 4))
    assert content[MODEL_LAYER_KEY] == "Sequential"
    assert "Sequential" not in content["layers"]
