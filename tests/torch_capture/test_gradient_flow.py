"""Gradient flow from a plain PyTorch loop, checked against statistics computed here."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tb_netviz.summary import (
    ALERTS_TAG,
    CLIPPED_GRAD_NORM_TAG,
    GLOBAL_GRAD_NORM_TAG,
    GRADIENT_FLOW_TAG,
    GRADIENT_STATS,
    NetVizAlertWarning,
)
from tb_netviz.torch import NetViz
from tests.torch_capture.events import Run
from tests.torch_capture.models import SmallCNN, TinyTransformer, reference_gradient_rows

torch.manual_seed(0)


def assert_rows_match(logged: dict, reference: dict, rtol: float = 1e-5) -> None:
    assert list(logged) == [name for name in logged if name in reference]
    for layer, row in logged.items():
        expected = reference[layer]
        assert row["has_grad"] == expected["has_grad"], layer
        for stat in GRADIENT_STATS:
            if stat != "has_grad" and stat in expected:
                assert row[stat] == pytest.approx(expected[stat], rel=rtol, abs=1e-7), (layer, stat)


def cnn_step(model: nn.Module) -> None:
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    nn.functional.cross_entropy(model(x), y).backward()


def test_cnn_layer_statistics_match_independent_reference(tmp_path):
    model = SmallCNN()
    with NetViz(model, tmp_path, sample_batch=torch.randn(2, 1, 8, 8), log_every_n_steps=1) as viz:
        cnn_step(model)
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    logged = Run(tmp_path).table(GRADIENT_FLOW_TAG, 0)
    assert list(logged) == ["features.0", "features.1", "features.3", "classifier"]
    assert_rows_match(logged, reference)
    global_norm = math.sqrt(sum(row["grad_l2"] ** 2 for row in reference.values()))
    assert Run(tmp_path).scalars(GLOBAL_GRAD_NORM_TAG)[0] == pytest.approx(global_norm, rel=1e-5)


def test_transformer_statistics_match_reference_and_columns_follow_the_format(tmp_path):
    model = TinyTransformer()
    tokens = torch.randint(0, 11, (6, 5))
    with NetViz(model, tmp_path, sample_batch=tokens[:2], log_every_n_steps=1) as viz:
        nn.functional.cross_entropy(model(tokens).reshape(-1, 11), tokens.reshape(-1)).backward()
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    run = Run(tmp_path)
    content = run.content(GRADIENT_FLOW_TAG)
    assert content["stats"] == list(GRADIENT_STATS)
    assert content["log_every_n_steps"] == 1
    assert content["layers"][:3] == [
        "embed",
        "encoder.layers.0.self_attn",
        "encoder.layers.0.self_attn.out_proj",
    ]
    assert content["layers"][-1] == "head"
    assert_rows_match(run.table(GRADIENT_FLOW_TAG, 0), reference)


def test_rows_follow_forward_order_not_registration_order(tmp_path):
    class Backwards(nn.Module):
        def __init__(self):
            super().__init__()
            self.last = nn.Linear(4, 2)
            self.first = nn.Linear(3, 4)

        def forward(self, x):
            return self.last(self.first(x))

    with NetViz(Backwards(), tmp_path, sample_batch=torch.randn(2, 3)) as viz:
        assert viz.layers == ["first", "last"]
    with NetViz(Backwards(), tmp_path) as viz:
        assert viz.layers == ["last", "first"]  # no sample batch: registration order


def test_layer_without_gradient_is_recorded_as_no_gradient_not_zero(tmp_path):
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen = nn.Linear(4, 4).requires_grad_(False)
            self.used = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 4)
            self.zeroed = nn.Linear(4, 1)

        def forward(self, x):
            return self.used(self.frozen(x)).sum(-1, keepdim=True) + 0 * self.zeroed(x)

    model = Branches()
    with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
        model(torch.randn(3, 4)).sum().backward()
        viz.log_gradients(0)
    rows = Run(tmp_path).table(GRADIENT_FLOW_TAG, 0)
    for layer in ("frozen", "unused"):
        assert rows[layer]["has_grad"] == 0
        assert math.isnan(rows[layer]["grad_l2"]) and rows[layer]["grad_nonfinite"] == 0
        assert rows[layer]["param_l2"] == pytest.approx(
            torch.cat([p.reshape(-1) for p in getattr(model, layer).parameters()]).norm().item(), rel=1e-6
        )
    assert rows["zeroed"]["has_grad"] == 1 and rows["zeroed"]["grad_l2"] == 0
    assert rows["used"]["has_grad"] == 1 and rows["used"]["grad_l2"] > 0


def test_nonfinite_gradient_entries_are_counted_alerted_and_warned_once(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
            for step in range(3):
                model.zero_grad()
                model(torch.randn(3, 4)).sum().backward()
                model[1].weight.grad[0, :3] = torch.tensor([math.nan, math.inf, -math.inf])
                viz.log_gradients(step)
    run = Run(tmp_path)
    rows = run.table(GRADIENT_FLOW_TAG, 0)
    assert rows["1"]["grad_nonfinite"] == 3 and rows["0"]["grad_nonfinite"] == 0
    alerts = [a for step, value in run.values(ALERTS_TAG) for a in __import__("json").loads(value[0])]
    assert {(a["kind"], a["layer"], a["step"]) for a in alerts} == {("nonfinite", "1", 0)}
    nonfinite_warnings = [w for w in caught if issubclass(w.category, NetVizAlertWarning)]
    assert len(nonfinite_warnings) == 1 and "'1'" in str(nonfinite_warnings[0].message)


def test_statistics_of_all_layers_reach_the_host_in_one_transfer(tmp_path):
    model = nn.Sequential(*[nn.Linear(8, 8) for _ in range(30)])
    host_calls = []

    class CountHostTransfers(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            # On a CPU-only machine every tensor is already on the host, so count the calls
            # that would move data to the host (or wait for it) from any device.
            if name in ("cpu", "item", "tolist", "__float__", "__int__", "__bool__"):
                host_calls.append(name)
            return func(*args, **(kwargs or {}))

    with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
        for step in range(3):
            model(torch.randn(4, 8)).sum().backward()
            with CountHostTransfers():
                viz.log_gradients(step)
            assert host_calls == ["cpu"]
            host_calls.clear()
    assert len(Run(tmp_path).table(GRADIENT_FLOW_TAG, 2)) == 30


def test_gradients_are_logged_every_n_steps_with_the_step_number(tmp_path):
    model = nn.Linear(3, 1)
    with NetViz(model, tmp_path, log_every_n_steps=3) as viz:
        for step in range(10):
            model.zero_grad()
            model(torch.randn(2, 3)).sum().backward()
            viz.log_gradients(step)
    assert [step for step, _ in Run(tmp_path).values(GRADIENT_FLOW_TAG)] == [0, 3, 6, 9]


def test_accumulated_gradients_are_the_ones_logged(tmp_path):
    mlp = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    reference_mlp = copy.deepcopy(mlp)
    data, target = torch.randn(8, 5), torch.randn(8, 2)
    with NetViz(mlp, tmp_path / "mlp", log_every_n_steps=1) as viz:
        for half in (slice(0, 4), slice(4, 8)):
            (nn.functional.mse_loss(mlp(data[half]), target[half]) / 2).backward()
        viz.log_gradients(0)
    nn.functional.mse_loss(reference_mlp(data), target).backward()
    assert_rows_match(
        Run(tmp_path / "mlp").table(GRADIENT_FLOW_TAG, 0), reference_gradient_rows(reference_mlp)
    )


def test_clipping_logs_unclipped_statistics_and_the_clipped_global_norm(tmp_path):
    model = TinyTransformer()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    tokens = torch.randint(0, 11, (4, 5))
    totals, references = [], []
    with NetViz(model, tmp_path, log_every_n_steps=1, optimizer=optimizer) as viz:
        for step in range(3):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(tokens).reshape(-1, 11), tokens.reshape(-1)).backward()
            reference = reference_gradient_rows(model)
            viz.log_gradients(step)
            totals.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.25)))
            optimizer.step()
            references.append(reference)
    run = Run(tmp_path)
    for step, reference in enumerate(references):
        assert_rows_match(run.table(GRADIENT_FLOW_TAG, step), reference)
    assert run.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(dict(enumerate(totals)), rel=1e-5)
    assert all(total > 0.25 for total in totals)
    assert run.scalars(CLIPPED_GRAD_NORM_TAG) == pytest.approx({0: 0.25, 1: 0.25, 2: 0.25}, rel=1e-4)
    assert not optimizer._optimizer_step_post_hooks


def test_bf16_autocast_on_cpu_logs_the_float32_gradients(tmp_path):
    model = SmallCNN()
    with NetViz(model, tmp_path, sample_batch=torch.randn(2, 1, 8, 8), log_every_n_steps=1) as viz:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.randint(0, 3, (8,)))
        loss.backward()
        viz.log_gradients(0)
        viz.log_sample(0)
        reference = reference_gradient_rows(model)
    logged = Run(tmp_path).table(GRADIENT_FLOW_TAG, 0)
    assert_rows_match(logged, reference)
    assert all(np.isfinite(row["grad_l2"]) and row["grad_l2"] > 0 for row in logged.values())


def test_bfloat16_parameters_are_measured_in_float32(tmp_path):
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 1)).to(torch.bfloat16)
    with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
        model(torch.randn(16, 64, dtype=torch.bfloat16)).sum().backward()
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    assert_rows_match(Run(tmp_path).table(GRADIENT_FLOW_TAG, 0), reference, rtol=1e-3)


def test_model_with_500_parameter_tensors_and_long_names(tmp_path):
    depth = 130
    blocks = nn.ModuleDict(
        {
            f"residual_block_with_a_rather_long_descriptive_name_{i:03d}": nn.Sequential(
                nn.Linear(8, 8), nn.LayerNorm(8)
            )
            for i in range(depth)
        }
    )

    class Deep(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = blocks

        def forward(self, x):
            for block in self.blocks.values():
                x = x + block(x)
            return x

    model = Deep()
    assert len(list(model.parameters())) >= 500
    with NetViz(model, tmp_path, sample_batch=torch.randn(2, 8), log_every_n_steps=1) as viz:
        model(torch.randn(4, 8)).sum().backward()
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    logged = Run(tmp_path).table(GRADIENT_FLOW_TAG, 0)
    assert len(logged) == 2 * depth
    assert_rows_match(logged, reference, rtol=1e-4)


def test_sparse_embedding_gradient_is_measured_over_the_whole_table(tmp_path):
    model = nn.Embedding(20, 4, sparse=True)
    with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
        model(torch.tensor([1, 5, 5])).sum().backward()
        viz.log_gradients(0)
        dense = model.weight.grad.to_dense()
    row = Run(tmp_path).table(GRADIENT_FLOW_TAG, 0)["Embedding"]
    assert row["grad_l2"] == pytest.approx(dense.norm().item(), rel=1e-5)
    assert row["grad_mean_abs"] == pytest.approx(dense.abs().mean().item(), rel=1e-5)
    assert row["grad_max_abs"] == pytest.approx(dense.abs().max().item(), rel=1e-5)


def test_huge_finite_gradients_report_finite_float64_norms_and_no_nonfinite_entries(tmp_path):
    # Entries of 1e20 fit float32, but their squares (1e40) do not: a float32 sum of
    # squares would report an infinite norm for a finite gradient.
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 3))  # a large and a small tensor path
    with NetViz(model, tmp_path, log_every_n_steps=1) as viz:
        model(torch.randn(4, 100)).sum().backward()
        for parameter in model.parameters():
            parameter.grad.fill_(1e20)
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    logged = Run(tmp_path).table(GRADIENT_FLOW_TAG, 0)
    assert_rows_match(logged, reference)
    for layer, row in logged.items():
        assert np.isfinite([row["grad_l2"], row["grad_to_param"]]).all(), layer
        assert row["grad_nonfinite"] == 0, layer
    assert logged["0"]["grad_l2"] == pytest.approx(1e20 * math.sqrt(100 * 100 + 100), rel=1e-6)


def test_float64_model_with_large_tensors_matches_float64_reference(tmp_path):
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 3)).double()
    with NetViz(model, tmp_path, log_every_n_steps=1, layers=["1"]) as viz:
        model(torch.randn(4, 100, dtype=torch.float64)).sum().backward()
        viz.log_gradients(0)
        reference = reference_gradient_rows(model)
    assert_rows_match(Run(tmp_path).table(GRADIENT_FLOW_TAG, 0), reference)
    assert Run(tmp_path).values(GLOBAL_GRAD_NORM_TAG)[0][1] == pytest.approx(
        math.sqrt(sum(p.grad.double().square().sum().item() for p in model.parameters())), rel=1e-5
    )


def test_clipped_global_norm_beyond_float32_squares_is_finite(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with NetViz(model, tmp_path, log_every_n_steps=1, optimizer=optimizer) as viz:
        model(torch.ones(2, 4)).sum().backward()
        for parameter in model.parameters():
            parameter.grad.fill_(1e20)  # finite, but the square of the norm is not in float32
        viz.log_gradients(0)
        optimizer.step()
    entries = sum(p.numel() for p in model.parameters())
    expected = 1e20 * math.sqrt(entries)
    run = Run(tmp_path)
    assert run.scalars(CLIPPED_GRAD_NORM_TAG)[0] == pytest.approx(expected, rel=1e-5)
    assert run.scalars(GLOBAL_GRAD_NORM_TAG)[0] == pytest.approx(expected, rel=1e-5)
