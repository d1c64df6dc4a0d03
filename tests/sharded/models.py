"""A small transformer and its data, shared by the sharded runs and their single-process references.

The model has a 1-element parameter (``scale``), so that on 2 ranks one FSDP shard of it is empty.
"""

from __future__ import annotations

import torch
from torch import nn

VOCAB, WIDTH, LENGTH, BATCH = 11, 16, 6, 8


class TinyTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(WIDTH, 2, 32, dropout=0.0, batch_first=True) for _ in range(2)
        )
        self.scale = nn.Parameter(torch.tensor([1.5]))
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(x * self.scale)


def tiny_transformer() -> TinyTransformer:
    torch.manual_seed(0)
    return TinyTransformer()


def batches(steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [
        (
            torch.randint(0, VOCAB, (BATCH, LENGTH), generator=generator),
            torch.randint(0, VOCAB, (BATCH, LENGTH), generator=generator),
        )
        for _ in range(steps)
    ]


def loss_of(model: nn.Module, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(tokens).reshape(-1, VOCAB), targets.reshape(-1))


def probe_tokens() -> torch.Tensor:
    return torch.arange(LENGTH).reshape(1, LENGTH) % VOCAB
