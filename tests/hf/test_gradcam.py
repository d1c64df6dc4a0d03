"""Grad-CAM through the Hugging Face Trainer: an image classifier built from a config (no download)."""

from __future__ import annotations

import numpy as np

from tb_netviz.summary.gradcam import GRADCAM_TARGETS_TAG, gradcam_tag
from tests.hf.trainer_setup import Images, train_resnet


def test_trainer_writes_maps_of_the_last_conv_explaining_the_true_labels(tmp_path):
    data = Images()
    _, run = train_resnet(
        tmp_path, depths=[1, 2], probe=4, sample_labels=data.labels[:4], gradcam=True, gradcam_target="label"
    )
    last_conv = "resnet.encoder.stages.1.layers.1.layer.1.convolution"  # the last block has no conv shortcut
    maps = run.values(gradcam_tag(last_conv))
    assert [step for step, _ in maps] == [0, 2]
    assert maps[-1][1].shape == (4, 32, 32) and np.all(maps[-1][1] >= 0)
    assert [targets[:, 0].tolist() for _, targets in run.values(GRADCAM_TARGETS_TAG)] == [
        data.labels[:4].tolist()
    ] * 2
