"""README's Trainer + DeepSpeed ZeRO-3 snippet, as written, on 2 ranks (tests/demo_readme runs it as
one process)."""

from __future__ import annotations

import os
import sys

from tb_netviz.summary import GLOBAL_GRAD_NORM_TAG, GRADIENT_FLOW_TAG
from tests.sharded.ranks import run_ranks
from tests.sharded.test_readme_sharded import readme_snippet
from tests.torch_capture.events import Run, event_files


def test_the_readme_trainer_deepspeed_snippet_runs_on_two_ranks_and_rank_zero_writes(tmp_path):
    script = tmp_path / "train.py"
    extensions = os.path.join(sys.prefix, "torch_extensions")  # DeepSpeed's compiled op, built once
    script.write_text(f"import os\nos.environ.setdefault('TORCH_EXTENSIONS_DIR', {extensions!r})\n")
    script.write_text(script.read_text() + readme_snippet('"stage": 3'))
    run_ranks(str(script), [str(tmp_path)], cwd=str(tmp_path), timeout=420)
    runs = list((tmp_path / "runs" / "hf_zero3" / "runs").iterdir())
    assert len(runs) == 1  # the Trainer's TensorBoard run, shared with NetViz
    assert len([path for path in event_files(runs[0]) if path.endswith(".netviz")]) == 1
    run = Run(runs[0])
    assert [step for step, _ in run.values(GRADIENT_FLOW_TAG)] == [0, 2]
    assert sorted(run.scalars(GLOBAL_GRAD_NORM_TAG)) == [0, 2]
    assert "transformer.h.1.mlp.c_proj" in run.content(GRADIENT_FLOW_TAG)["layers"]
