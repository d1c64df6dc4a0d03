"""Lightning modules and a reference callback for the Lightning tests."""

from __future__ import annotations

import lightning
import torch
from torch import nn

from tests.torch_capture.models import reference_gradient_rows


class Classifier(lightning.LightningModule):
    """Conv1d -> ReLU -> Linear on [N, 1, 16] inputs."""

    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.lr = lr
        self.conv = nn.Conv1d(1, 4, 3)
        self.act = nn.ReLU()
        self.head = nn.Linear(4 * 14, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(x)).flatten(1))

    def training_step(self, batch, _index):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def classifier_data(count: int = 64, seed: int = 0) -> torch.utils.data.TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, 1, 16, generator=generator)
    y = (x.mean(dim=(1, 2)) > 0).long()
    return torch.utils.data.TensorDataset(x, y)


class RecordGradients(lightning.Callback):
    """Records, at each optimizer step, per-layer reference statistics of the gradients it sees."""

    def __init__(self) -> None:
        self.rows: dict[int, dict] = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.rows[trainer.global_step] = reference_gradient_rows(pl_module)


def trainer(tmp_path, callbacks, **options) -> lightning.Trainer:
    settings = dict(
        max_steps=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        default_root_dir=str(tmp_path),
    )
    settings.update(options)
    return lightning.Trainer(callbacks=callbacks, **settings)
