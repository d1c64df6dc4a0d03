"""A tiny GPT-2 built from a config (no download), generated token data and the Trainer arguments."""

from __future__ import annotations

import torch
import transformers

VOCAB, LENGTH, EXAMPLES = 37, 8, 32
MAX_GRAD_NORM = 0.05


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
