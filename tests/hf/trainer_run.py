"""The Trainer with NetVizCallback on 2 gloo ranks; run by test_trainer_sharded through ``ranks``.

``python trainer_run.py OUT ENGINE``, ENGINE ``ddp`` (the Trainer's DDP), ``fsdp`` (the same with
``TrainingArguments(fsdp=True)``, which accelerate does not apply on CPU), ``zero1``, ``zero2`` or ``zero3``
(``TrainingArguments(deepspeed=...)`` at that ZeRO stage, its clipping ``"auto"``: the Trainer's
``max_grad_norm``). Per-device batch 4, no accumulation, ``STEPS`` steps, so that each step averages
two consecutive batches, as one process with ``gradient_accumulation_steps=2`` does; gradient flow
every ``LOG_EVERY`` steps, the sample pass at every step, into ``OUT/netviz``. Each rank writes
``OUT/rank<r>.json``: the collectives tb_netviz called at each step (and after the last one), the
tb-netviz warnings, the Trainer's logged ``grad_norm`` per step, and whether the optimizer was
left without NetViz's wrapper.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(sys.prefix, "torch_extensions"))

import torch.distributed as dist  # noqa: E402
import transformers  # noqa: E402

from tb_netviz.hf import NetVizCallback  # noqa: E402
from tests.hf.trainer_setup import probe_batch, train  # noqa: E402
from tests.sharded.collectives import CollectiveCounter  # noqa: E402
from tests.sharded.ranks import leave_ranks  # noqa: E402

STEPS = 3
LOG_EVERY = 2


class CountPerStep(transformers.TrainerCallback):
    """Takes the counter's collectives at the end of every step (after NetViz's own on_step_end)."""

    def __init__(self, counter: CollectiveCounter) -> None:
        self.counter = counter
        self.per_step: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.per_step.append(self.counter.take())


def engine_arguments(engine: str) -> dict:
    if engine == "fsdp":
        return {"fsdp": True, "fsdp_config": {"version": 2, "transformer_layer_cls_to_wrap": ["GPT2Block"]}}
    if engine.startswith("zero"):
        config = {
            "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto",
            "gradient_clipping": "auto",
            "zero_optimization": {"stage": int(engine[-1])},
            "zero_allow_untested_optimizer": True,
        }
        return {"deepspeed": config}
    return {}


def main(out: str, engine: str) -> None:
    counter = CollectiveCounter()
    counting = CountPerStep(counter)
    callback = NetVizCallback(
        os.path.join(out, "netviz"),
        sample_batch=probe_batch(),
        log_every_n_steps=LOG_EVERY,
        sample_every_n_steps=1,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = train(
            out,
            [callback, counting],
            accumulation=1,
            max_steps=STEPS,
            ddp_timeout=60,
            ddp_backend="gloo",
            **engine_arguments(engine),
        )
    after = counter.take()
    counter.close()
    assert trainer.args.world_size == 2
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    report = {
        "collectives": counting.per_step,
        "collectives_after": after,
        "warnings": [str(w.message) for w in caught if "tb-netviz" in str(w.message)],
        "grad_norm": {e["step"] - 1: e["grad_norm"] for e in trainer.state.log_history if "grad_norm" in e},
        "distributed_type": str(trainer.accelerator.distributed_type),
        "optimizer_left_as_found": "step" not in vars(optimizer),
    }
    with open(os.path.join(out, f"rank{dist.get_rank()}.json"), "w") as handle:
        json.dump(report, handle)
    leave_ranks()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
