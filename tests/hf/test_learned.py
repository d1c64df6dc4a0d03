"""Kernels, weight matrices and the embedding through the Hugging Face Trainer (a config-built ResNet)."""

from __future__ import annotations

import numpy as np
import torch
import transformers

from tb_netviz.hf import NetVizCallback
from tests.hf.test_gradcam import CLASSES, Images
from tests.torch_capture.events import Run


def train(tmp_path, **options) -> tuple[torch.nn.Module, Run]:
    transformers.set_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=CLASSES
    )
    model = transformers.ResNetForImageClassification(config)
    data = Images()
    callback = NetVizCallback(
        log_dir=tmp_path / "run",
        sample_batch={"pixel_values": data.pixels[:6]},
        sample_every_n_steps=2,
        **options,
    )
    arguments = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_steps=3,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    transformers.Trainer(model, arguments, train_dataset=data, callbacks=[callback]).train()
    return model, Run(tmp_path / "run")


def test_trainer_writes_the_kernels_and_the_penultimate_embedding_with_predicted_classes(tmp_path):
    model, run = train(tmp_path, weight_layers=["resnet.embedder.*"])
    stem = "resnet.embedder.embedder.convolution"
    assert {t for t in run.tags if t.startswith("netviz/weights/")} == {f"netviz/weights/{stem}"}
    np.testing.assert_array_equal(
        run.values(f"netviz/weights/{stem}")[-1][1][0],
        model.get_submodule(stem).weight.detach().numpy()[:16, :3],
    )
    assert f"netviz/kernel_rgb/{stem}" in run.tags  # 3 input channels: colour pictures too
    embedding = "classifier.1"
    rows = run.values(f"netviz/embedding/{embedding}")[-1][1]
    assert run.content(f"netviz/embedding/{embedding}")["label_source"] == "predicted"
    with torch.no_grad():
        logits = model.eval()(pixel_values=Images().pixels[:6]).logits
    np.testing.assert_array_equal(rows[:6, 3], logits.argmax(1).numpy())
