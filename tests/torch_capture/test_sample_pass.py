"""The sample pass: activation statistics, feature maps, and leaving the model as it was found."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from tb_netviz.summary import ACTIVATION_STATS, ACTIVATIONS_TAG, GRADIENT_FLOW_TAG, feature_maps_tag
from tb_netviz.torch import NetViz, histogram_tag
from tests.torch_capture.events import Run
from tests.torch_capture.models import SmallCNN, TinyTransformer

torch.manual_seed(0)


def all_hooks(model: nn.Module) -> list:
    found = []
    for module in model.modules():
        for attribute in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_state_dict_hooks",
            "_load_state_dict_pre_hooks",
            "_forward_hooks_with_kwargs",
            "_forward_pre_hooks_with_kwargs",
        ):
            found += list(getattr(module, attribute, {}).values())
    for parameter in model.parameters():
        found += list((parameter._backward_hooks or {}).values())
    return found


def reference_activation(output: torch.Tensor, units_dim: int) -> list[float]:
    """The ACTIVATION_STATS row as columns.py defines it, computed with numpy in float64."""
    x = output.detach().double().numpy()
    finite = x[np.isfinite(x)]
    zero = x == 0
    units = np.moveaxis(zero, units_dim, -1).reshape(-1, x.shape[units_dim])
    return [
        float(finite.mean()) if finite.size else float("nan"),
        float(np.std(finite, ddof=0)) if finite.size else float("nan"),
        float(zero.mean()),
        float(units.all(0).mean()),
        float(np.abs(finite).max()) if finite.size else float("nan"),
        float(x.size - finite.size),
    ]


def test_activation_statistics_match_reference_after_the_following_activation(tmp_path):
    model = SmallCNN()
    batch = torch.randn(4, 1, 8, 8)
    with NetViz(model, tmp_path, sample_batch=batch) as viz:
        viz.log_sample(0)
    model.eval()
    with torch.no_grad():
        conv0 = model.features[0](batch)
        bn_relu = torch.relu(model.features[1](conv0))
        conv1_relu = torch.relu(model.features[3](bn_relu))
        logits = model.classifier(model.features[5](conv1_relu).flatten(1))
    expected = {
        "features.0": reference_activation(conv0, 1),
        "features.1": reference_activation(bn_relu, 1),
        "features.3": reference_activation(conv1_relu, 1),
        "classifier": reference_activation(logits, -1),
    }
    logged = Run(tmp_path).table(ACTIVATIONS_TAG, 0)
    assert list(logged) == list(expected)
    for layer, values in expected.items():
        assert [logged[layer][stat] for stat in ACTIVATION_STATS] == pytest.approx(values, rel=1e-4, abs=1e-6)


def test_dead_relu_units_are_counted_and_alerted(tmp_path):
    model = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 1))
    with torch.no_grad():
        model[0].bias[:8] = -100.0  # 8 of 10 units never fire, the other 2 always do
        model[0].bias[8:] = 100.0
    with pytest.warns(UserWarning, match="dead units in layer '0'"):
        with NetViz(model, tmp_path, sample_batch=torch.randn(16, 4)) as viz:
            viz.log_sample(0)
    run = Run(tmp_path)
    assert run.table(ACTIVATIONS_TAG, 0)["0"]["act_dead_frac"] == pytest.approx(0.8)
    assert any("dead_units" in alert.decode() for _, value in run.values("netviz/alerts") for alert in value)


class FunctionalActivations(nn.Module):
    """Activations called as functions and methods, as most hand-written forwards do."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 10)
        self.fc2 = nn.Linear(10, 6)
        self.fc3 = nn.Linear(6, 6)
        self.head = nn.Linear(6, 1)

    def forward(self, x):
        x = nn.functional.relu(self.fc1(x))
        x = self.fc2(x).tanh()
        skip = self.fc3(x)
        return self.head(torch.sigmoid(skip + 1.0))  # the sum is not a layer's output


def test_functional_activations_are_described_like_activation_modules(tmp_path):
    model = FunctionalActivations()
    with torch.no_grad():
        model.fc1.bias[:8] = -100.0  # 8 of 10 units never fire after F.relu
        model.fc1.bias[8:] = 100.0
    batch = torch.randn(16, 4)
    with pytest.warns(UserWarning, match="dead units in layer 'fc1'"):
        with NetViz(model, tmp_path, sample_batch=batch) as viz:
            viz.log_sample(0)
    with torch.no_grad():
        fc1 = torch.relu(model.fc1(batch))
        fc2 = torch.tanh(model.fc2(fc1))
        fc3 = model.fc3(fc2)
        head = model.head(torch.sigmoid(fc3 + 1.0))
    expected = {
        "fc1": reference_activation(fc1, -1),
        "fc2": reference_activation(fc2, -1),
        "fc3": reference_activation(fc3, -1),
        "head": reference_activation(head, -1),
    }
    logged = Run(tmp_path).table(ACTIVATIONS_TAG, 0)
    assert logged["fc1"]["act_dead_frac"] == pytest.approx(0.8)
    for layer, values in expected.items():
        assert [logged[layer][stat] for stat in ACTIVATION_STATS] == pytest.approx(values, rel=1e-4, abs=1e-6)
    assert not torch.overrides._get_current_function_mode_stack()


def test_nonfinite_activations_are_counted_and_excluded_from_mean(tmp_path):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3)

        def forward(self, x):
            return self.fc(x)

    model = Broken()
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([1.0, float("nan"), 3.0]))
    with NetViz(model, tmp_path, sample_batch=torch.randn(2, 2)) as viz:
        viz.log_sample(0)
    row = Run(tmp_path).table(ACTIVATIONS_TAG, 0)["fc"]
    assert row["act_nonfinite"] == 2 and row["act_mean"] == pytest.approx(2.0) and row["act_max_abs"] == 3.0


def test_feature_maps_are_png_images_in_the_images_plugin_format(tmp_path):
    model = nn.Sequential(nn.Conv1d(2, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 6, 2))
    with NetViz(model, tmp_path, sample_batch=torch.randn(3, 2, 8), max_channels=4) as viz:
        viz.log_sample(0)
    run = Run(tmp_path)
    tag = feature_maps_tag("0")
    assert run.metadata[tag].plugin_data.plugin_name == "images"
    width, height, png = dict(run.values(tag))[0]
    assert png.startswith(b"\x89PNG") and int(width) > 0 and int(height) > 0
    assert not any(t.startswith("netviz/feature_maps/3") for t in run.tags)


def test_sample_pass_restores_modes_rng_hooks_and_functions(tmp_path):
    model = TinyTransformer()
    model.train()
    model.encoder.layers[1].eval()  # a submodule the user keeps in eval mode
    modes = [m.training for m in model.modules()]
    hooks_before = all_hooks(model)
    batch = torch.randint(0, 11, (2, 5))
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    sdpa = nn.functional.scaled_dot_product_attention
    with NetViz(model, tmp_path, sample_batch=batch, sample_every_n_steps=1) as viz:
        viz.log_sample(0)
        assert torch.is_grad_enabled()
        assert [m.training for m in model.modules()] == modes
        assert torch.equal(torch.rand(3), expected_next)
        assert all_hooks(model) == hooks_before == []
        assert nn.functional.scaled_dot_product_attention is sdpa
    assert all_hooks(model) == []


def test_model_pickles_and_saves_as_before_after_close(tmp_path):
    model = SmallCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    keys = list(model.state_dict())
    with NetViz(
        model,
        tmp_path / "run",
        sample_batch=torch.randn(2, 1, 8, 8),
        optimizer=optimizer,
        log_every_n_steps=1,
        histograms=True,
    ) as viz:
        for step in range(2):
            optimizer.zero_grad()
            model(torch.randn(4, 1, 8, 8)).sum().backward()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)
    assert all_hooks(model) == []
    assert not optimizer._optimizer_step_post_hooks
    restored = pickle.loads(pickle.dumps(model))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    assert list(restored.state_dict()) == keys
    assert torch.equal(restored.features[0].weight, model.features[0].weight)


def test_sample_pass_runs_first_every_n_and_at_the_last_step(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3))
    with NetViz(model, tmp_path, sample_batch=torch.randn(2, 3), sample_every_n_steps=4) as viz:
        for step in range(2, 10):
            viz.log_sample(step)
    assert [step for step, _ in Run(tmp_path).values(ACTIVATIONS_TAG)] == [2, 4, 8, 9]


def test_layer_patterns_choose_the_layers_of_every_view(tmp_path):
    model = TinyTransformer()
    patterns = ["encoder.layers.0.*", "!encoder.layers.0.norm*", "head"]
    with NetViz(
        model,
        tmp_path,
        sample_batch=torch.randint(0, 11, (2, 4)),
        layers=patterns,
        log_every_n_steps=1,
        histograms=True,
    ) as viz:
        model(torch.randint(0, 11, (2, 4))).sum().backward()
        viz.log_gradients(0)
        viz.log_sample(0)
    run = Run(tmp_path)
    expected = [
        "encoder.layers.0.self_attn",
        "encoder.layers.0.self_attn.out_proj",
        "encoder.layers.0.linear1",
        "encoder.layers.0.linear2",
        "head",
    ]
    assert run.content(GRADIENT_FLOW_TAG)["layers"] == expected
    assert run.content(ACTIVATIONS_TAG)["layers"] == [
        n for n in expected if n != "encoder.layers.0.self_attn.out_proj"
    ]
    assert {t for t in run.tags if t.startswith("netviz/attention/")} == {
        "netviz/attention/encoder.layers.0.self_attn"
    }
    assert histogram_tag("weights", "head") in run.tags and histogram_tag("gradients", "head") in run.tags
    assert histogram_tag("activations", "head") in run.tags
    layer_tags = [t for t in run.tags if t.startswith(("netviz/attention/", "netviz/histograms/"))]
    assert not any("layers.1" in t or "norm" in t for t in layer_tags)
    buckets = dict(run.values(histogram_tag("weights", "head")))[0]
    assert buckets.shape[1] == 3 and buckets[:, 2].sum() == sum(p.numel() for p in model.head.parameters())


def test_activation_rows_are_computed_on_device_and_reach_host_in_one_transfer(tmp_path):
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(10)])
    with NetViz(model, tmp_path, sample_batch=torch.randn(2, 4), sample_every_n_steps=1) as viz:
        viz.log_sample(0)
        viz.log_sample(1)
    values = dict(Run(tmp_path).values(ACTIVATIONS_TAG))
    assert values[0].shape == (10, len(ACTIVATION_STATS))
    np.testing.assert_array_equal(values[0], values[1])


def test_activation_std_is_the_population_std_of_the_finite_entries(tmp_path):
    class WithNaN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 5)

        def forward(self, x):
            return self.fc(x)

    model = WithNaN()
    with torch.no_grad():
        model.fc.bias[2] = float("nan")  # one output unit is NaN for every sample
    batch = torch.randn(3, 3)  # few entries: n and n - 1 differ by a fifth
    with NetViz(model, tmp_path, sample_batch=batch) as viz:
        viz.log_sample(0)
    with torch.no_grad():
        expected = reference_activation(model.fc(batch), -1)
    row = Run(tmp_path).table(ACTIVATIONS_TAG, 0)["fc"]
    assert row["act_nonfinite"] == 3
    assert [row[stat] for stat in ACTIVATION_STATS] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_activation_statistics_of_an_output_without_finite_entries_are_nan(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].bias.fill_(float("inf"))
    with NetViz(model, tmp_path, sample_batch=torch.randn(4, 2)) as viz:
        viz.log_sample(0)
    row = Run(tmp_path).table(ACTIVATIONS_TAG, 0)["0"]
    assert np.isnan([row["act_mean"], row["act_std"], row["act_max_abs"]]).all()
    assert row["act_nonfinite"] == 8 and row["act_zero_frac"] == 0.0
