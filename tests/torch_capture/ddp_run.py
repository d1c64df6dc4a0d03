"""Lightning DDP on 2 CPU processes (gloo) with NetVizCallback; run as a script by test_lightning.

Writes the netviz run to ``<out>/netviz``, the initial weights to
``<out>/initial.pt`` and each rank's first batch to ``<out>/batch<rank>.pt``, so the
test can compute, independently, the gradient DDP averages over both ranks.
"""

from __future__ import annotations

import os
import sys

import lightning
import torch

from tb_netviz.torch import NetVizCallback
from tests.torch_capture.lightning_models import Classifier, classifier_data


class SaveFirstBatch(lightning.Callback):
    def __init__(self, out: str) -> None:
        self.out = out

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            torch.save([t.cpu() for t in batch], os.path.join(self.out, f"batch{trainer.global_rank}.pt"))


def main(out: str) -> None:
    lightning.seed_everything(0, verbose=False)
    model = Classifier()
    data = classifier_data(32)
    if os.environ.get("LOCAL_RANK", "0") == "0":
        torch.save(model.state_dict(), os.path.join(out, "initial.pt"))
    loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=False)
    callback = NetVizCallback(
        os.path.join(out, "netviz"), sample_batch=data.tensors[0][:2], log_every_n_steps=1
    )
    trainer = lightning.Trainer(
        strategy="ddp",
        accelerator="cpu",
        devices=2,
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[SaveFirstBatch(out), callback],
        default_root_dir=out,
    )
    trainer.fit(model, loader)


if __name__ == "__main__":
    main(sys.argv[1])
