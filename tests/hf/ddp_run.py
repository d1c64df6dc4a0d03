"""The Trainer with NetVizCallback under DDP on 2 gloo ranks; run by test_trainer through ``ranks``.

``python ddp_run.py OUT``: per-device batch 4, no accumulation, 2 steps, so that each step averages
two consecutive batches, as one process with ``gradient_accumulation_steps=2`` does.
"""

from __future__ import annotations

import os
import sys

from tb_netviz.hf import NetVizCallback
from tests.hf.trainer_setup import probe_batch, train


def main(out: str) -> None:
    callback = NetVizCallback(
        os.path.join(out, "netviz"), sample_batch=probe_batch(), log_every_n_steps=1, sample_every_n_steps=1
    )
    trainer = train(out, [callback], accumulation=1, max_steps=2, ddp_timeout=60, ddp_backend="gloo")
    assert trainer.args.world_size == 2


if __name__ == "__main__":
    main(sys.argv[1])
