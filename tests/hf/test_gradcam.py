"""Grad-CAM through the Hugging Face Trainer: an image classifier built from a config (no download)."""

from __future__ import annotations

import numpy as np
import torch
import transformers

from tb_netviz.hf import NetVizCallback
from tb_netviz.summary.gradcam import GRADCAM_TARGETS_TAG, gradcam_tag
from tests.torch_capture.events import Run

CLASSES = 3


class Images(torch.utils.data.Dataset):
    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(3)
        self.pixels = torch.randn(16, 3, 32, 32, generator=generator)
        self.labels = torch.randint(0, CLASSES, (16,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.pixels[index], "labels": self.labels[index]}


def test_trainer_writes_maps_of_the_last_conv_explaining_the_true_labels(tmp_path):
    transformers.set_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 2], layer_type="basic", num_labels=CLASSES
    )
    model = transformers.ResNetForImageClassification(config)
    data = Images()
    callback = NetVizCallback(
        log_dir=tmp_path / "run",
        sample_batch={"pixel_values": data.pixels[:4]},
        sample_labels=data.labels[:4],
        sample_every_n_steps=2,
        gradcam=True,
        gradcam_target="label",
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
    run = Run(tmp_path / "run")
    last_conv = "resnet.encoder.stages.1.layers.1.layer.1.convolution"  # the last block has no conv shortcut
    maps = run.values(gradcam_tag(last_conv))
    assert [step for step, _ in maps] == [0, 2]
    assert maps[-1][1].shape == (4, 32, 32) and np.all(maps[-1][1] >= 0)
    assert [targets[:, 0].tolist() for _, targets in run.values(GRADCAM_TARGETS_TAG)] == [
        data.labels[:4].tolist()
    ] * 2
