"""Lightning: a small transformer learns to reverse a sequence of digits.

To write position i of the output the model must read position L-1-i of the
input, so once it has learned the task its attention concentrates on the
anti-diagonal; the NetViz attention viewer shows that pattern with the
sample's digits as token labels.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning
import torch
from torch import nn

from demo.data import reversal_batch
from demo.progress import Progress
from tb_netviz.torch import NetVizCallback

LENGTH = 8
VOCAB = 10
WIDTH = 64


class Reverser(lightning.LightningModule):
    """Token and position embeddings, a transformer encoder, a per-position classifier."""

    def __init__(self, layers: int = 2, heads: int = 4, lr: float = 3e-3) -> None:
        super().__init__()
        self.lr = lr
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.position = nn.Parameter(torch.randn(LENGTH, WIDTH) / math.sqrt(WIDTH))
        layer = nn.TransformerEncoderLayer(WIDTH, heads, dim_feedforward=128, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens) + self.position))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        source, target = batch
        loss = nn.functional.cross_entropy(self(source).reshape(-1, VOCAB), target.reshape(-1))
        accuracy = (self(source).argmax(-1) == target).float().mean()
        self.log_dict({"loss": loss, "accuracy": accuracy}, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class PrintProgress(lightning.Callback):
    """Prints a progress line every few steps (Lightning's bar shows nothing when piped)."""

    def __init__(self, total_steps: int) -> None:
        self.progress = Progress("Lightning, reversal", total_steps)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        self.progress.update(trainer.global_step, **metrics)


def run(logdir: Path, quick: bool = False) -> Path:
    """Train and write the run ``lightning_reversal``; returns its directory."""
    lightning.seed_everything(0, verbose=False)
    size, epochs = (1024, 1) if quick else (4096, 5)
    source, target = reversal_batch(size, LENGTH, VOCAB, seed=0)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(source), torch.from_numpy(target))
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True)
    probe = torch.from_numpy(reversal_batch(4, LENGTH, VOCAB, seed=1)[0])
    run_dir = logdir / "lightning_reversal"
    callback = NetVizCallback(
        log_dir=str(run_dir),
        sample_batch=probe,
        tokens=lambda sample: [str(int(token)) for token in sample],
        log_every_n_steps=5,
        sample_every_n_steps=25,
    )
    trainer = lightning.Trainer(
        max_epochs=epochs,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback, PrintProgress(size // 64 * epochs)],
        logger=False,
        enable_checkpointing=False,
        default_root_dir=str(run_dir),
        log_every_n_steps=25,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(Reverser(), loader)
    print(f"[Lightning, reversal] done: wrote {run_dir}", flush=True)
    return run_dir
