"""Tiny models built from a config (no download) and their generated data, for Trainer tests:
a GPT-2 on token data with the Trainer arguments, and a ResNet image classifier."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers

from tb_netviz.hf import NetVizCallback
from tests.torch_capture.events import Run

VOCAB, LENGTH, EXAMPLES = 37, 8, 32
MAX_GRAD_NORM = 0.05
CLASSES = 3


def tiny_gpt2() -> transformers.GPT2LMHeadModel:
    transformers.set_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=LENGTH,
        n_embd=16,
        n_layer=2,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config)


class TokenData(torch.utils.data.Dataset):
    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(2)
        self.ids = torch.randint(0, VOCAB, (EXAMPLES, LENGTH), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[index], "labels": self.ids[index]}


def probe_batch() -> dict[str, torch.Tensor]:
    return {"input_ids": TokenData().ids[:2]}


def arguments(out: str, accumulation: int, max_steps: int, **extra) -> transformers.TrainingArguments:
    options = dict(
        output_dir=out,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=accumulation,
        max_steps=max_steps,
        max_grad_norm=MAX_GRAD_NORM,
        learning_rate=0.05,
        lr_scheduler_type="constant",
        logging_steps=1,
        save_strategy="no",
        report_to=["tensorboard"],
        use_cpu=True,
        seed=0,
        train_sampling_strategy="sequential",
        disable_tqdm=True,
    )
    return transformers.TrainingArguments(**{**options, **extra})


def train(
    out: str, callbacks: list, accumulation: int = 2, max_steps: int = 3, **extra
) -> transformers.Trainer:
    model = tiny_gpt2()
    trainer = transformers.Trainer(
        model,
        arguments(out, accumulation, max_steps, **extra),
        train_dataset=TokenData(),
        callbacks=callbacks,
    )
    trainer.train()
    return trainer


class Images(torch.utils.data.Dataset):
    """16 random 3x32x32 images (``pixel_values``) with random classes among ``CLASSES``."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(3)
        self.pixels = torch.randn(16, 3, 32, 32, generator=generator)
        self.labels = torch.randint(0, CLASSES, (16,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.pixels[index], "labels": self.labels[index]}


def train_resnet(
    tmp_path: Path, depths: list[int], probe: int, **options
) -> tuple[transformers.ResNetForImageClassification, Run]:
    """Train a small ResNet on ``Images`` for 3 steps of 4 with a ``NetVizCallback`` writing to
    ``tmp_path/run`` (probe batch: the first ``probe`` images; ``options`` are its options)."""
    transformers.set_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=depths, layer_type="basic", num_labels=CLASSES
    )
    model = transformers.ResNetForImageClassification(config)
    data = Images()
    callback = NetVizCallback(
        log_dir=tmp_path / "run",
        sample_batch={"pixel_values": data.pixels[:probe]},
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
