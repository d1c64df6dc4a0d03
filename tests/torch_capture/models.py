"""Small real models for the torch capture tests."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Conv2d -> BatchNorm -> ReLU -> Conv2d -> ReLU -> pool -> Linear."""

    def __init__(self, channels: int = 6, classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.classifier = nn.Linear(channels * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class TinyTransformer(nn.Module):
    """Embedding -> TransformerEncoder (2 layers) -> Linear over the vocabulary."""

    def __init__(self, vocab: int = 11, width: int = 16, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, heads, 32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)))


class SdpaAttention(nn.Module):
    """Self-attention that calls F.scaled_dot_product_attention itself (no own parameters)."""

    def __init__(self, width: int = 16, heads: int = 4, causal: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, length, width = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return tuple(t.reshape(n, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.split(x)
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)
        return self.proj(out.transpose(1, 2).reshape(x.shape))


def reference_gradient_rows(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per-layer gradient statistics computed the slow, obvious way."""
    rows = {}
    for name, module in model.named_modules():
        params = list(module.parameters(recurse=False))
        if not params:
            continue
        grads = [p.grad.detach().double().reshape(-1) for p in params if p.grad is not None]
        weights = torch.cat([p.detach().double().reshape(-1) for p in params])
        row = {"param_l2": weights.norm().item()}
        if grads:
            g = torch.cat(grads)
            row.update(
                grad_l2=g.norm().item(),
                grad_mean_abs=g.abs().mean().item(),
                grad_max_abs=g.abs().max().item(),
                grad_nonfinite=float((~torch.isfinite(g)).sum().item()),
                has_grad=1.0,
            )
            row["grad_to_param"] = row["grad_l2"] / row["param_l2"]
        else:
            row["has_grad"] = 0.0
        rows[name or type(model).__name__] = row
    return rows
