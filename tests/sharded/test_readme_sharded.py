"""README's FSDP2 snippet, as written, on 2 ranks (tests/demo_readme runs it as one process)."""

from __future__ import annotations

import re

from torch import nn

from tb_netviz.summary import GRADIENT_FLOW_TAG
from tb_netviz.torch.layers import discover_layers
from tests.sharded.ranks import REPO, run_ranks
from tests.torch_capture.events import Run, event_files


def readme_snippet(marker: str) -> str:
    """The one ```python snippet of README.md that contains ``marker``."""
    readme = open(f"{REPO}/README.md", encoding="utf-8").read()
    snippets = [s for s in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if marker in s]
    assert len(snippets) == 1
    return snippets[0]


def fsdp2_snippet() -> str:
    return readme_snippet("fully_shard(")


def test_the_readme_fsdp2_snippet_runs_on_two_ranks_and_rank_zero_writes_every_step(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(fsdp2_snippet())
    run_ranks(str(script), [str(tmp_path)], cwd=str(tmp_path))
    assert len(event_files(tmp_path / "runs" / "fsdp2")) == 1
    run = Run(tmp_path / "runs" / "fsdp2")
    assert [step for step, _ in run.values(GRADIENT_FLOW_TAG)] == list(range(20))
    block = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    unsharded = nn.Sequential(nn.Embedding(100, 32), block, nn.Linear(32, 100))
    layers = run.content(GRADIENT_FLOW_TAG)["layers"]
    assert sorted(layers) == sorted(layer.name for layer in discover_layers(unsharded))
