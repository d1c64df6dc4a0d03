"""Kernels, weight matrices and the embedding written by a real torch training loop, against numpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tb_netviz.summary import NetVizWriteWarning
from tb_netviz.summary.embedding import principal_components
from tb_netviz.summary.weights import block_pool
from tb_netviz.torch import NetViz, NetVizCallback
from tests.torch_capture.events import Run
from tests.torch_capture.lightning_models import Classifier, classifier_data, trainer


class ManyConvs(nn.Module):
    """Conv1d, Conv2d, Conv3d and a transposed conv side by side, then two Linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(3, 5, 4)
        self.c2 = nn.Conv2d(3, 20, 3)
        self.c3 = nn.Conv3d(2, 4, (3, 2, 3))
        self.up = nn.ConvTranspose2d(20, 6, 2)
        self.fc = nn.Linear(5 * 5 + 6 * 7 * 7 + 4 * 2 * 1 * 6, 300)
        self.head = nn.Linear(300, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        a = self.c1(x[:, :3, 0, :8]).flatten(1)
        b = self.up(torch.relu(self.c2(x[:, :3]))).flatten(1)
        c = self.c3(x[:, 3:5].reshape(n, 2, 4, 2, 8)).flatten(1)
        return self.head(torch.relu(self.fc(torch.cat([a, b, c], dim=1))))


def make_input(n: int = 12) -> torch.Tensor:
    return torch.randn(n, 5, 8, 8, generator=torch.Generator().manual_seed(0))


def train(model, log_dir, steps=5, sample_every=2, **options):
    """Train a few SGD steps with NetViz; returns the weights as they were at each sample step."""
    torch.manual_seed(1)
    x, y = make_input(), torch.randint(0, 4, (12,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = {}
    with NetViz(model, log_dir, sample_batch=x[:10], sample_every_n_steps=sample_every, **options) as viz:
        for step in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            viz.log_gradients(step)
            optimizer.step()
            if step == 0 or step % sample_every == 0:
                seen[step] = {name: p.detach().clone() for name, p in model.named_parameters()}
            viz.log_sample(step)
        seen[steps - 1] = {name: p.detach().clone() for name, p in model.named_parameters()}
    return seen, x[:10]


def test_every_conv_kernel_is_written_as_out_by_in_tiles_with_its_change_since_the_first_step(tmp_path):
    model = ManyConvs()
    seen, _ = train(model, tmp_path)
    run = Run(tmp_path)
    for step, (stored_step, tensor) in zip(sorted(seen), run.values("netviz/weights/c2"), strict=True):
        assert stored_step == step
        w = seen[step]["c2.weight"].numpy()
        np.testing.assert_array_equal(tensor[0], w[:16, :16])
        np.testing.assert_allclose(tensor[1], (w - seen[0]["c2.weight"].numpy())[:16, :16], atol=1e-6)
    c1 = run.values("netviz/weights/c1")[-1][1][0]
    np.testing.assert_array_equal(c1, seen[4]["c1.weight"].numpy()[:, :, None, :])
    c3 = run.values("netviz/weights/c3")[-1][1][0]
    np.testing.assert_array_equal(c3, seen[4]["c3.weight"].numpy()[:, :, 1])
    up = run.values("netviz/weights/up")[-1][1][0]  # ConvTranspose2d stores [in, out, kh, kw]
    np.testing.assert_array_equal(up, seen[4]["up.weight"].numpy()[:16].transpose(1, 0, 2, 3))
    content = run.content("netviz/weights/c2")
    assert content["out_channels"] == 20 and content["shown"] == [16, 3]
    assert run.content("netviz/weights/c3")["depth_slice"] == 1
    assert "netviz/kernel_rgb/c2" in run.tags and "netviz/kernel_rgb/up" not in run.tags


def test_a_linear_layer_larger_than_256_is_block_pooled_from_the_real_weights(tmp_path):
    model = ManyConvs()
    seen, _ = train(model, tmp_path)
    run = Run(tmp_path)
    [*_, (step, tensor)] = run.values("netviz/weights/fc")
    content = run.content("netviz/weights/fc")
    w = seen[step]["fc.weight"].numpy().astype(np.float64)
    block = tuple(content["block"])
    assert block == (2, 2) and content["pools"] == ["extreme", "mean"]
    np.testing.assert_allclose(tensor[0], block_pool(w, block), rtol=1e-6, atol=1e-7)
    w0 = seen[0]["fc.weight"].numpy().astype(np.float64)
    np.testing.assert_allclose(tensor[1], block_pool(w - w0, block), rtol=1e-5, atol=1e-7)
    head = run.values("netviz/weights/head")[-1][1]  # 4 x 300: only the columns are pooled
    assert run.content("netviz/weights/head")["block"] == [1, 2]
    np.testing.assert_allclose(head[0], block_pool(seen[step]["head.weight"].numpy(), (1, 2)), rtol=1e-6)
    small = Run(tmp_path).values("netviz/weights/c1")  # a conv is never pooled
    assert small[-1][1].shape == (2, 5, 3, 1, 4)


def penultimate(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    kept = []
    handle = model.head.register_forward_pre_hook(lambda _m, args: kept.append(args[0].detach().clone()))
    with torch.no_grad():
        model.eval()
        model(x)
        model.train()
    handle.remove()
    return kept[0].numpy().astype(np.float64)


def test_the_default_embedding_is_the_input_of_the_last_linear_layer_projected_by_pca(tmp_path):
    model = ManyConvs()
    torch.manual_seed(1)
    x = make_input()[:10]
    expected = principal_components(penultimate(model, x))[0]
    with torch.no_grad():
        predicted = model.eval()(x).argmax(1).numpy()
    model.train()
    with NetViz(model, tmp_path, sample_batch=x) as viz:
        viz.log_sample(0)
    run = Run(tmp_path)
    [(step, rows)] = run.values("netviz/embedding/head")
    np.testing.assert_allclose(rows[:10, :3], expected, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(rows[:10, 3], predicted)
    content = run.content("netviz/embedding/head")
    assert content["of"] == "input" and content["label_source"] == "predicted"
    assert content["features"] == 300 and content["samples"] == 10


def test_an_explicit_embedding_layer_projects_its_output_and_stays_aligned_over_steps(tmp_path):
    model = ManyConvs()
    train(model, tmp_path, steps=7, sample_every=2, embedding_layer="fc")
    run = Run(tmp_path)
    stored = run.values("netviz/embedding/fc")
    assert [s for s, _ in stored] == [0, 2, 4, 6]
    for (_, before), (_, after) in zip(stored, stored[1:], strict=False):
        for k in range(2):
            assert np.corrcoef(before[:10, k], after[:10, k])[0, 1] > 0
    assert run.content("netviz/embedding/fc")["of"] == "output"


def test_weight_layers_and_the_budget_choose_what_is_written(tmp_path):
    with pytest.warns(NetVizWriteWarning, match=r"the weights of \['fc'\] are not written"):
        train(ManyConvs(), tmp_path / "budget", steps=1, weight_budget_bytes=20_000)
    tags = Run(tmp_path / "budget").tags
    assert {"netviz/weights/c1", "netviz/weights/c2", "netviz/weights/head"} <= tags
    assert "netviz/weights/fc" not in tags
    train(ManyConvs(), tmp_path / "chosen", steps=1, weight_layers=["c*", "!c3"], embedding=False)
    chosen = Run(tmp_path / "chosen").tags
    assert {t for t in chosen if t.startswith("netviz/weights/")} == {
        "netviz/weights/c1",
        "netviz/weights/c2",
    }
    assert not any(t.startswith("netviz/embedding/") for t in chosen)


def test_under_sharding_no_weights_are_chosen_and_only_asked_for_weights_get_a_warning():
    from tb_netviz.summary import CaptureOptions
    from tb_netviz.torch.layers import discover_layers
    from tb_netviz.torch.learned import LearnedViews

    model = ManyConvs()
    said: list[str] = []
    tight = CaptureOptions(weight_budget_bytes=20_000)
    views = LearnedViews(discover_layers(model), model, tight, batch_size=4, warn=said.append, sharded=True)
    assert views.weight_layers == [] and said == []  # no budget warning for weights never written
    asked = CaptureOptions(weight_layers=["c*"])
    views = LearnedViews(discover_layers(model), model, asked, batch_size=4, warn=said.append, sharded=True)
    assert views.weight_layers == []
    assert len(said) == 1 and "weight_layers is ignored under sharded parameters" in said[0]


def test_weights_are_written_at_sample_steps_even_without_a_probe_batch(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3))
    with NetViz(model, tmp_path, sample_every_n_steps=2) as viz:
        for step in range(3):
            viz.log_sample(step)
    assert [s for s, _ in Run(tmp_path).values("netviz/weights/0")] == [0, 2]


def test_a_weight_pattern_matching_nothing_is_an_error_at_construction(tmp_path):
    with pytest.raises(
        ValueError, match=r"weight_layers pattern 'conv\*' matches no layer; layers are: c1, c2"
    ):
        NetViz(ManyConvs(), tmp_path, sample_batch=make_input(4), weight_layers=["conv*"])


class WithLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.out = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.lstm(x)[0][:, -1])


def test_an_embedding_layer_whose_output_is_not_a_tensor_is_an_error_at_construction(tmp_path):
    with pytest.raises(ValueError, match=r"the embedding layer 'lstm' gives a tuple, not a tensor"):
        NetViz(WithLSTM(), tmp_path, sample_batch=torch.randn(3, 5, 3), embedding_layer="lstm")
    with pytest.raises(ValueError, match=r"embedding_layer 'lsmt' is no module of the model"):
        NetViz(WithLSTM(), tmp_path, sample_batch=torch.randn(3, 5, 3), embedding_layer="lsmt")


def test_a_probe_batch_of_one_sample_refuses_an_explicit_embedding_and_skips_the_default(tmp_path):
    one = make_input(1)
    with pytest.raises(ValueError, match="PCA needs at least 2"):
        NetViz(ManyConvs(), tmp_path / "a", sample_batch=one, embedding_layer="fc")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NetVizWriteWarning)  # 1 sample is fine for the other views
        with NetViz(ManyConvs(), tmp_path / "b", sample_batch=one) as viz:
            viz.log_sample(0)
    tags = Run(tmp_path / "b").tags
    assert {"netviz/weights/c2", "netviz/activations"} <= tags
    assert not any(t.startswith("netviz/embedding/") for t in tags)


class TurnsIntoTuple(nn.Module):
    """A feature layer that starts returning a tuple after a while (mid-training failure)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.calls = 0

    def forward(self, x: torch.Tensor):
        self.calls += 0 if self.training else 1  # probe passes only: 2 at construction, then one a step
        y = self.fc(x)
        return (y, y) if self.calls > 4 else y


class Wrapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = TurnsIntoTuple()
        self.out = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return self.out(y[0] if isinstance(y, tuple) else y)


def test_an_embedding_failing_mid_training_warns_once_and_training_goes_on(tmp_path):
    model = Wrapper()
    x = torch.randn(6, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with NetViz(model, tmp_path, sample_batch=x, sample_every_n_steps=1, embedding_layer="body") as viz:
            for step in range(6):
                optimizer.zero_grad()
                model(x).sum().backward()
                optimizer.step()
                viz.log_sample(step)
    said = [str(w.message) for w in caught if issubclass(w.category, NetVizWriteWarning)]
    assert len(said) == 1 and "embedding at step" in said[0] and "gives a tuple" in said[0]
    run = Run(tmp_path)
    assert len(run.values("netviz/weights/out")) == 6  # the weights went on being written
    assert 1 <= len(run.values("netviz/embedding/body")) < 6


def test_sample_labels_colour_the_points_and_a_wrong_count_is_refused(tmp_path):
    x = make_input(6)
    labels = [3, 1, 4, 1, 5, 9]
    with NetViz(ManyConvs(), tmp_path, sample_batch=x, sample_labels=labels) as viz:
        viz.log_sample(0)
    run = Run(tmp_path)
    rows = run.values("netviz/embedding/head")[0][1]
    np.testing.assert_array_equal(rows[:6, 3], labels)
    assert run.content("netviz/embedding/head")["label_source"] == "sample_labels"
    with pytest.raises(ValueError, match="sample_labels has 5 labels but sample_batch has 6 samples"):
        NetViz(ManyConvs(), tmp_path / "bad", sample_batch=x, sample_labels=labels[:5])


def test_the_lightning_callback_writes_kernels_and_the_embedding_with_the_same_options(tmp_path):
    data = classifier_data(32)
    sample = data.tensors[0][:6]
    callback = NetVizCallback(
        sample_batch=sample, sample_labels=data.tensors[1][:6], sample_every_n_steps=2, weight_layers=["conv"]
    )
    model = Classifier()
    trainer(tmp_path, [callback], max_steps=3).fit(model, torch.utils.data.DataLoader(data, batch_size=8))
    run = Run(tmp_path)
    assert {t for t in run.tags if t.startswith("netviz/weights/")} == {"netviz/weights/conv"}
    np.testing.assert_array_equal(
        run.values("netviz/weights/conv")[-1][1][0], model.conv.weight.detach().numpy()[:, :, None, :]
    )
    rows = run.values("netviz/embedding/head")[-1][1]
    np.testing.assert_array_equal(rows[:6, 3], data.tensors[1][:6].numpy())
    assert (tmp_path / "projector_config.pbtxt").exists()
