"""Plain-loop NetViz on a DeepSpeed ZeRO engine on 2 gloo ranks; run by test_deepspeed through ``ranks``.

``python deepspeed_run.py OUT STAGE`` (2 or 3): ``deepspeed.initialize`` on ``TinyTransformer``
(SGD, no clipping, fp32), each rank on its half of every batch of ``models.batches``;
``viz.log_gradients(step)`` between ``engine.backward`` and ``engine.step``, logging to
``OUT/netviz``. DeepSpeed picks its CPU accelerator itself; its small communication op is
compiled once into ``<venv>/torch_extensions``.
"""

from __future__ import annotations

import datetime
import os
import sys

os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(sys.prefix, "torch_extensions"))

import deepspeed  # noqa: E402
import torch.distributed as dist  # noqa: E402

from tb_netviz.torch import NetViz  # noqa: E402
from tests.sharded.models import batches, loss_of, probe_tokens, tiny_transformer  # noqa: E402
from tests.sharded.ranks import leave_ranks  # noqa: E402

STEPS = 3
LEARNING_RATE = 0.5


def main(out: str, stage: int) -> None:
    deepspeed.init_distributed(dist_backend="gloo", timeout=datetime.timedelta(seconds=60))
    rank, world = dist.get_rank(), dist.get_world_size()
    config = {
        "train_micro_batch_size_per_gpu": 4,
        "zero_optimization": {"stage": stage},
        "optimizer": {"type": "SGD", "params": {"lr": LEARNING_RATE}},
        "gradient_clipping": 0.0,
        "zero_allow_untested_optimizer": True,
    }
    model = tiny_transformer()
    engine, _, _, _ = deepspeed.initialize(model=model, config=config, model_parameters=model.parameters())
    viz = NetViz(
        engine.module,
        os.path.join(out, "netviz"),
        sample_batch=probe_tokens(),
        log_every_n_steps=1,
        sample_every_n_steps=1,
    )
    for step, (tokens, targets) in enumerate(batches(STEPS)):
        engine.backward(loss_of(engine, tokens.chunk(world)[rank], targets.chunk(world)[rank]))
        viz.log_gradients(step)
        engine.step()
        viz.log_sample(step)
    viz.close()
    leave_ranks()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
