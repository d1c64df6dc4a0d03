"""Grad-CAM in torch: maps equal Captum's, the model is left exactly as found, bad options fail clearly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from tb_netviz.summary import CaptureOptions
from tb_netviz.summary.gradcam import GRADCAM_TARGETS_TAG, PROBE_INPUTS_TAG, gradcam_overlay_tag, gradcam_tag
from tb_netviz.torch import NetViz
from tb_netviz.torch.gradcam import GradCam, GradCamError
from tests.torch_capture.events import Run


class ConvNet(nn.Module):
    """Two conv stages, a dropout and a classifier: enough layers to explain at two depths."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(8 * 6 * 6, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x).flatten(1)))


def _trained_a_little(model: nn.Module, x: torch.Tensor) -> nn.Module:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        model(x).logsumexp(dim=1).mean().backward()
        optimizer.step()
    return model


def _captum_maps(model: nn.Module, layer: nn.Module, x: torch.Tensor, classes: torch.Tensor) -> np.ndarray:
    model.eval()
    attribution = LayerGradCam(model, layer).attribute(x, target=classes, relu_attributions=True)
    upsampled = LayerAttribution.interpolate(attribution, tuple(x.shape[2:]), interpolate_mode="bilinear")
    return upsampled[:, 0].detach().numpy()


@pytest.fixture
def probe():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 12, 12)
    model = _trained_a_little(ConvNet(), torch.randn(32, 3, 12, 12))
    return model, x


def test_maps_of_several_layers_equal_captum_with_a_different_class_per_sample(tmp_path, probe):
    model, x = probe
    labels = torch.tensor([0, 1, 2, 3, 4, 1])
    with NetViz(
        model,
        tmp_path,
        sample_batch=x,
        sample_labels=labels,
        gradcam=True,
        gradcam_layers=["features.0", "features.3", "features.4"],
        gradcam_target="label",
    ) as viz:
        viz.log_sample(0)
    run = Run(tmp_path)
    for name in ("features.0", "features.3", "features.4"):
        [(step, maps)] = run.values(gradcam_tag(name))
        expected = _captum_maps(model, model.get_submodule(name), x, labels)
        assert step == 0 and maps.shape == (6, 12, 12)
        np.testing.assert_allclose(maps, expected, atol=1e-5, rtol=1e-5)
        assert maps.max() > 0
    [(_, targets)] = run.values(GRADCAM_TARGETS_TAG)
    assert targets[:, 0].tolist() == labels.tolist()
    probabilities = torch.softmax(model.eval()(x), dim=1)[torch.arange(6), labels]
    np.testing.assert_allclose(targets[:, 1], probabilities.detach().numpy(), rtol=1e-6)
    assert run.content(GRADCAM_TARGETS_TAG)["labels"] == labels.tolist()


def test_default_layer_is_the_last_conv_and_default_class_the_predicted_one(tmp_path, probe):
    model, x = probe
    with NetViz(model, tmp_path, sample_batch=x, gradcam=True) as viz:
        viz.log_sample(0)
    run = Run(tmp_path)
    assert {tag for tag in run.tags if tag.startswith("netviz/gradcam/")} == {"netviz/gradcam/features.3"}
    predicted = model.eval()(x).argmax(dim=1)
    [(_, maps)] = run.values(gradcam_tag("features.3"))
    np.testing.assert_allclose(maps, _captum_maps(model, model.features[3], x, predicted), atol=1e-5)
    [(_, targets)] = run.values(GRADCAM_TARGETS_TAG)
    assert targets[:, 0].tolist() == predicted.tolist()
    assert run.content(GRADCAM_TARGETS_TAG)["labels"] is None


def test_fixed_class_index_explains_that_class_for_every_sample(tmp_path, probe):
    model, x = probe
    with NetViz(model, tmp_path, sample_batch=x, gradcam=True, gradcam_target=2) as viz:
        viz.log_sample(0)
    [(_, maps)] = Run(tmp_path).values(gradcam_tag("features.3"))
    np.testing.assert_allclose(
        maps, _captum_maps(model, model.features[3], x, torch.full((6,), 2)), atol=1e-5
    )


def test_probe_images_are_written_once_and_overlays_at_every_sample_step(tmp_path, probe):
    model, x = probe
    with NetViz(model, tmp_path, sample_batch=x, gradcam=True, sample_every_n_steps=2) as viz:
        for step in range(5):
            viz.log_sample(step)
    run = Run(tmp_path)
    assert [step for step, _ in run.values(gradcam_tag("features.3"))] == [0, 2, 4]
    [(step, images)] = run.values(PROBE_INPUTS_TAG)
    assert step == 0 and images.shape == (6, 12, 12, 3)
    assert images.min() == 0.0 and images.max() == 1.0
    assert [step for step, _ in run.by_tag[gradcam_overlay_tag("features.3")]] == [0, 2, 4]


def _model_state(model: nn.Module) -> dict:
    return {
        "grads": {n: p.grad.clone() if p.grad is not None else None for n, p in model.named_parameters()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
        "hooks": {
            n: (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks))
            for n, m in model.named_modules()
        },
        "buffers": {n: b.clone() for n, b in model.named_buffers()},
        "rng": torch.get_rng_state(),
    }


def test_sample_step_leaves_grads_flags_modes_rng_and_hooks_exactly_as_found(tmp_path, probe):
    model, x = probe
    model.features[4].requires_grad_(False)  # a partly frozen model: flags must stay mixed
    model.train()
    model.features.eval()  # mixed modes must come back per module
    user_hook = model.features[0].register_forward_hook(lambda *args: None)
    with NetViz(model, tmp_path, sample_batch=x, gradcam=True, gradcam_layers=["features.*"]) as viz:
        model(torch.randn(4, 3, 12, 12)).sum().backward()
        before = _model_state(model)
        viz.log_sample(0)
        after = _model_state(model)
    for name, grad in before["grads"].items():
        assert (grad is None) == (after["grads"][name] is None), name
        if grad is not None:
            assert torch.equal(grad, after["grads"][name]) and grad.data_ptr() != 0, name
    assert after["requires_grad"] == before["requires_grad"]
    assert after["training"] == before["training"]
    assert after["hooks"] == before["hooks"] and user_hook.id in model.features[0]._forward_hooks
    assert all(torch.equal(b, after["buffers"][n]) for n, b in before["buffers"].items())
    assert torch.equal(after["rng"], before["rng"])


def test_frozen_model_gets_the_same_maps(tmp_path, probe):
    model, x = probe
    with NetViz(model, tmp_path / "trainable", sample_batch=x, gradcam=True) as viz:
        viz.log_sample(0)
    model.requires_grad_(False)
    with NetViz(model, tmp_path / "frozen", sample_batch=x, gradcam=True) as viz:
        viz.log_sample(0)
    [(_, trainable)] = Run(tmp_path / "trainable").values(gradcam_tag("features.3"))
    [(_, frozen)] = Run(tmp_path / "frozen").values(gradcam_tag("features.3"))
    assert frozen.max() > 0
    np.testing.assert_array_equal(frozen, trainable)
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_maps_are_the_same_inside_no_grad_and_inference_mode(probe, context):
    model, x = probe
    gradcam = GradCam(model, CaptureOptions(gradcam=True), x)
    outside = gradcam.run().maps["features.3"]
    with context():
        inside = gradcam.run().maps["features.3"]
    assert not inside.is_inference()
    torch.testing.assert_close(inside, outside, rtol=0, atol=0)


def test_a_probe_batch_made_under_inference_mode_is_explained_too(probe):
    model, x = probe
    with torch.inference_mode():
        frozen_in_time = x.clone()
    assert frozen_in_time.is_inference()
    expected = GradCam(model, CaptureOptions(gradcam=True), x).run().maps["features.3"]
    with torch.inference_mode():
        inside = GradCam(model, CaptureOptions(gradcam=True), frozen_in_time).run().maps["features.3"]
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)


def test_inplace_relu_after_the_layer_does_not_change_the_explained_activation(probe):
    model, x = probe
    inplace = ConvNet()
    inplace.load_state_dict(model.state_dict())
    inplace.features[5] = nn.ReLU(inplace=True)
    options = CaptureOptions(gradcam=True, gradcam_layers=["features.4"])
    plain = GradCam(model, options, x).run().maps["features.4"]
    torch.testing.assert_close(GradCam(inplace, options, x).run().maps["features.4"], plain)


class TinyViT(nn.Module):
    """Patch embedding, a class token, two encoder blocks; the head reads the class token.

    The maps explain the first block's tokens: the patch tokens of the last block
    do not reach the class token, so their gradient is zero (as in any ViT).
    """

    def __init__(self, width: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, width, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, width))
        self.blocks = nn.Sequential(
            *(nn.TransformerEncoderLayer(width, 2, 32, dropout=0.0, batch_first=True) for _ in range(2))
        )
        self.head = nn.Linear(width, classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(len(x), -1, -1), patches], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.tokens(x))[:, 0])


def tokens_to_grid(tokens: torch.Tensor) -> torch.Tensor:
    """[N, 1 + 16, C] -> [N, C, 4, 4]: drop the class token, fold the patches."""
    n, _, channels = tokens.shape
    return tokens[:, 1:].reshape(n, 4, 4, channels).permute(0, 3, 1, 2)


def test_token_layer_maps_with_reshape_equal_a_hand_reference(tmp_path):
    torch.manual_seed(1)
    model, x = TinyViT().eval(), torch.randn(3, 3, 16, 16)
    with NetViz(
        model,
        tmp_path,
        sample_batch=x,
        gradcam=True,
        gradcam_layers=["blocks.0"],
        gradcam_reshape=tokens_to_grid,
    ) as viz:
        viz.log_sample(0)
    [(_, maps)] = Run(tmp_path).values(gradcam_tag("blocks.0"))

    tokens = model.blocks[0](model.tokens(x))
    scores = model.head(model.blocks[1](tokens)[:, 0])
    classes = scores.argmax(dim=1)
    (grad,) = torch.autograd.grad(scores[torch.arange(3), classes].sum(), tokens)
    activation, gradient = tokens_to_grid(tokens.detach()), tokens_to_grid(grad)
    cam = torch.einsum("nc,nchw->nhw", gradient.mean(dim=(2, 3)), activation).clamp(min=0)
    expected = nn.functional.interpolate(cam[:, None], size=(16, 16), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(maps, expected[:, 0].numpy(), atol=1e-5)
    assert maps.max() > 0


def test_lightning_fit_writes_maps_with_the_true_labels(tmp_path):
    import lightning

    from tb_netviz.torch.lightning_callback import NetVizCallback

    class Classifier(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = ConvNet()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _index):
            x, y = batch
            return nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    x, y = torch.randn(32, 3, 12, 12), torch.randint(0, 5, (32,))
    callback = NetVizCallback(
        log_dir=tmp_path, sample_batch=x[:4], sample_labels=y[:4], gradcam=True, gradcam_target="label"
    )
    trainer = lightning.Trainer(
        max_epochs=1,
        callbacks=[callback],
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(Classifier(), torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8))
    run = Run(tmp_path)
    assert [step for step, _ in run.values(gradcam_tag("net.features.3"))] == [0, 3]
    assert run.content(GRADCAM_TARGETS_TAG)["labels"] == y[:4].tolist()
    assert all(targets[:, 0].tolist() == y[:4].tolist() for _, targets in run.values(GRADCAM_TARGETS_TAG))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gradcam_layers": ["features.9*"]}, r"gradcam_layers pattern 'features\.9\*' matches no layer"),
        (
            {"gradcam_layers": ["head"]},
            r"gradcam layer 'head' gives shape \[6, 5\], which is not \[N, C, H, W\]",
        ),
        ({"gradcam_target": 5}, r"gradcam_target=5 is out of range: the model gives 5 classes"),
        ({"gradcam_target": "label"}, r"gradcam_target='label' needs sample_labels"),
        ({"gradcam_reshape": lambda t: t.flatten(2)}, r"gives shape \[6, 8, 36\], which is not"),
    ],
)
def test_bad_gradcam_options_fail_at_construction_naming_the_problem(tmp_path, probe, options, message):
    model, x = probe
    with pytest.raises(ValueError, match=message):
        NetViz(model, tmp_path, sample_batch=x, gradcam=True, **options)


def test_label_out_of_range_names_the_label(tmp_path, probe):
    model, x = probe
    with pytest.raises(ValueError, match="sample_labels has class 9 but the model gives 5 class scores"):
        NetViz(
            model,
            tmp_path,
            sample_batch=x,
            sample_labels=[9, 0, 0, 0, 0, 0],
            gradcam=True,
            gradcam_target="label",
        )


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"gradcam_layers": ["features.0"]}, ValueError, "gradcam_layers given but gradcam is False"),
        (
            {"gradcam": True, "gradcam_target": "true"},
            ValueError,
            "gradcam_target must be 'predicted', 'label'",
        ),
        ({"gradcam": True, "gradcam_target": -1}, ValueError, "gradcam_target must be"),
        ({"gradcam": True, "gradcam_reshape": "grid"}, TypeError, "gradcam_reshape must be a callable"),
        ({"gradcam": True, "gradcam_layers": "features.0"}, TypeError, "gradcam_layers must be a list"),
        ({"gradcam": "yes"}, TypeError, "gradcam must be True or False"),
    ],
)
def test_bad_option_values_are_refused_by_capture_options(options, error, message):
    with pytest.raises(error, match=message):
        CaptureOptions(**options)


def test_gradcam_needs_a_sample_batch_and_an_image_in_it(tmp_path):
    with pytest.raises(ValueError, match="gradcam=True needs a sample_batch"):
        NetViz(ConvNet(), tmp_path, gradcam=True)
    mlp = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(GradCamError, match=r"needs an image batch \[N, C, H, W\].*\[\[2, 4\]\]"):
        NetViz(mlp, tmp_path, sample_batch=torch.randn(2, 4), gradcam=True)


def test_model_without_a_conv_layer_needs_gradcam_layers(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    with pytest.raises(GradCamError, match="no convolution-like layer"):
        NetViz(model, tmp_path, sample_batch=torch.randn(2, 3, 4, 4), gradcam=True)


def test_a_failing_gradcam_pass_warns_once_and_leaves_training_and_the_other_views_alone(tmp_path, probe):
    from tb_netviz.summary import ACTIVATIONS_TAG, NetVizWriteWarning

    model, x = probe
    calls = []

    def flaky_reshape(tensor):
        calls.append(1)
        if len(calls) > 2:  # construction's check passes (output and gradient), later passes fail
            raise RuntimeError("reshape exploded")
        return tensor

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with NetViz(model, tmp_path, sample_batch=x, gradcam=True, gradcam_reshape=flaky_reshape) as viz:
            viz.log_sample(0)  # the first step; closing samples the last one (1) too
            viz.log_sample(1)
    said = [str(w.message) for w in caught if issubclass(w.category, NetVizWriteWarning)]
    assert len(said) == 1 and "Grad-CAM maps at step 0 could not be logged" in said[0]
    assert "reshape exploded" in said[0] and "training goes on" in said[0]
    run = Run(tmp_path)
    assert [step for step, _ in run.values(ACTIVATIONS_TAG)] == [0, 1]  # the sample pass is not dropped
    assert gradcam_tag("features.3") not in run.tags
    assert model.training
