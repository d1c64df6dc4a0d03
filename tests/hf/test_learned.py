"""Kernels, weight matrices and the embedding through the Hugging Face Trainer (a config-built ResNet)."""

from __future__ import annotations

import numpy as np
import torch

from tests.hf.trainer_setup import Images, train_resnet


def test_trainer_writes_the_kernels_and_the_penultimate_embedding_with_predicted_classes(tmp_path):
    model, run = train_resnet(tmp_path, depths=[1, 1], probe=6, weight_layers=["resnet.embedder.*"])
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
