"""The partial sums of ``ShardedGradientStatistics`` in one process equal ``GradientStatistics``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tensorboard.util import tensor_util
from torch import nn

from tb_netviz.summary.columns import GRADIENT_STATS
from tb_netviz.summary.encoders import histogram_value
from tb_netviz.torch.distributed import sharding_of
from tb_netviz.torch.gradient_stats import GradientStatistics
from tb_netviz.torch.layers import discover_layers
from tb_netviz.torch.sharded_stats import ShardedGradientStatistics, ShardedStatisticsError
from tb_netviz.torch.shards import flat_piece

COL = {name: index for index, name in enumerate(GRADIENT_STATS)}


def tables(model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    layers = discover_layers(model)
    sharded = ShardedGradientStatistics(layers, read_piece=flat_piece)
    plain = GradientStatistics(layers)
    return sharded.finish(sharded.measure()).values, plain.finish(plain.measure()).values


def model_with_gradients(*grads: torch.Tensor) -> nn.Module:
    model = nn.Sequential(*(nn.Linear(g.shape[1], g.shape[0], bias=False) for g in grads))
    for layer, grad in zip(model, grads, strict=True):
        layer.weight.grad = grad
    return model


def test_a_large_tensor_read_in_chunks_gives_the_float64_statistics():
    torch.manual_seed(0)
    grads = (torch.randn(1500, 1000), torch.randn(3, 5))  # 1.5M entries: several workspace chunks
    model = model_with_gradients(*grads)
    sharded, _ = tables(model)
    for row, (grad, layer) in enumerate(zip(grads, model, strict=True)):
        values = grad.double().numpy().ravel()
        assert math.isclose(sharded[row, COL["grad_l2"]], np.sqrt((values**2).sum()), rel_tol=1e-6)
        assert math.isclose(sharded[row, COL["grad_mean_abs"]], np.abs(values).mean(), rel_tol=1e-6)
        assert sharded[row, COL["grad_max_abs"]] == np.abs(values).max()
        weights = layer.weight.detach().double().numpy()
        assert math.isclose(sharded[row, COL["param_l2"]], np.sqrt((weights**2).sum()), rel_tol=1e-6)


def test_non_finite_entries_are_counted_and_a_huge_finite_gradient_keeps_its_norm():
    huge = torch.full((2, 2), 1e22)
    broken = torch.tensor([[1.0, math.inf], [math.nan, 2.0]])
    sharded, plain = tables(model_with_gradients(huge, broken))
    assert sharded[0, COL["grad_l2"]] == pytest.approx(2 * float(np.float32(1e22)), rel=1e-12)
    assert sharded[0, COL["grad_nonfinite"]] == 0
    assert sharded[1, COL["grad_nonfinite"]] == 2 == plain[1, COL["grad_nonfinite"]]
    np.testing.assert_allclose(sharded[0], plain[0], rtol=1e-6)


def test_a_layer_without_gradient_is_told_apart_from_a_zero_one():
    model = model_with_gradients(torch.zeros(2, 3), torch.ones(1, 2))
    model[1].weight.grad = None
    sharded, plain = tables(model)
    assert sharded[0, COL["has_grad"]] == 1 and sharded[0, COL["grad_l2"]] == 0
    assert sharded[1, COL["has_grad"]] == 0 and math.isnan(sharded[1, COL["grad_l2"]])
    np.testing.assert_array_equal(np.isnan(sharded), np.isnan(plain))
    np.testing.assert_allclose(sharded, plain, rtol=1e-6)


def decoded_histogram(values: np.ndarray) -> np.ndarray:
    return tensor_util.make_ndarray(histogram_value("h", values).tensor)


def test_histograms_of_the_pieces_equal_the_histogram_of_the_whole_tensor_with_one_collective_more():
    constant = torch.full((2, 2), 0.25)  # one value: the buckets span +-0.5 around it
    broken = torch.tensor([[1.0, math.inf], [math.nan, -2.0]])  # non-finite entries left out
    model = model_with_gradients(torch.randn(40, 30), constant, broken, torch.ones(3, 2))
    model[3].weight.grad = None  # no gradient: a weight histogram only
    layers = discover_layers(model)
    sharded = ShardedGradientStatistics(layers, [0, 1, 2, 3], read_piece=flat_piece, histograms=True)
    measured = sharded.measure()
    sharded.finish(measured)
    written = {(kind, layer): buckets for kind, layer, buckets in sharded.histograms(measured)}
    assert sharded.collectives == 2
    expected_kinds = [(kind, str(i)) for i in range(4) for kind in ("weights", "gradients")][:-1]
    assert list(written) == expected_kinds
    for index, layer in enumerate(model):
        expected = decoded_histogram(layer.weight.detach().numpy())
        np.testing.assert_array_equal(written["weights", str(index)], expected)
        if layer.weight.grad is not None:
            expected = decoded_histogram(layer.weight.grad.numpy())
            np.testing.assert_array_equal(written["gradients", str(index)], expected)
    assert written["gradients", "1"][:, 2].sum() == 4 and written["gradients", "1"][0, 0] == -0.25
    assert written["gradients", "2"][:, 2].sum() == 2  # of 4 entries, 2 finite


def test_a_rank_without_finite_entries_gets_no_buckets_and_without_histograms_nothing_is_gathered():
    model = model_with_gradients(torch.full((2, 2), math.nan))
    sharded = ShardedGradientStatistics(discover_layers(model), read_piece=flat_piece, histograms=True)
    measured = sharded.measure()
    sharded.finish(measured)
    gradients = [buckets for kind, _, buckets in sharded.histograms(measured) if kind == "gradients"]
    assert [b.shape for b in gradients] == [(0, 3)]
    plain = ShardedGradientStatistics(discover_layers(model), read_piece=flat_piece)
    measured = plain.measure()
    plain.finish(measured)
    assert plain.histograms(measured) == [] and plain.collectives == 1


def test_a_rank_that_cannot_count_its_entries_still_joins_the_second_collective_and_the_step_is_dropped(
    monkeypatch,
):
    from tb_netviz.torch import sharded_stats

    def unreadable(*args, **kwargs):
        raise RuntimeError("entries unreadable")

    model = model_with_gradients(torch.ones(2, 2))
    stats = ShardedGradientStatistics(discover_layers(model), read_piece=flat_piece, histograms=True)
    measured = stats.measure()
    stats.finish(measured)
    monkeypatch.setattr(sharded_stats, "histogram_counts", unreadable)
    with pytest.raises(ShardedStatisticsError, match=r"rank\(s\) \[0\].*entries unreadable"):
        stats.histograms(measured)
    assert stats.collectives == 2


def test_a_deepspeed_module_in_fp16_is_refused_at_construction_since_its_gradients_are_loss_scaled(tmp_path):
    from tb_netviz.torch import NetViz

    model = nn.Linear(3, 2).half()
    for parameter in model.parameters():
        parameter.ds_tensor = parameter.detach().reshape(-1)  # what ZeRO-3 attaches to each parameter
    with pytest.raises(ValueError, match="multiplied by the loss scale"):
        NetViz(model, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written
    float32 = nn.Linear(3, 2)
    for parameter in float32.parameters():
        parameter.ds_tensor = parameter.detach().reshape(-1)
    assert sharding_of(float32).loss_scaled is False
