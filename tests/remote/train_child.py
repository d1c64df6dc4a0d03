"""Training runs the remote tests start in a fresh process, so each sees only its own store settings.

``python -m tests.remote.train_child KIND LOG_DIR [--steps N] [--pace SECONDS]``

KIND is ``torch`` (``NetViz`` in a plain loop), ``keras`` (``NetVizCallback`` in
``fit``), ``lightning`` (``NetVizCallback`` inheriting ``default_root_dir``,
or the directory of a ``TensorBoardLogger`` with ``--tensorboard-logger``) or
``writer`` (``NetVizWriter`` alone, gradient-flow tables of 64 layers at every
step, with the writer options given as ``--option name=value``).

With ``--pace`` each step waits that long, and a JSON line
``{"step": s, "time": t, "call_ms": ms}`` is printed (flushed) after it is logged;
the last line is ``{"done": steps, "dropped": n, "warnings": [...], "max_call_ms": ms}``.
Runs are deterministic: the same KIND and steps log the same values to any log_dir.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np


def torch_run(log_dir: str, steps: int, pace: float, projector: bool = True) -> dict:
    import torch
    from torch import nn

    from tb_netviz.torch import NetViz
    from tests.torch_capture.models import SmallCNN

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = SmallCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    options = {"log_every_n_steps": 1, "sample_every_n_steps": 5, "projector": projector}
    with NetViz(model, log_dir=log_dir, sample_batch=x[:4], **options) as viz:
        for step in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            started = time.perf_counter()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)
            _progress(step, started, pace)
        writer = viz._capture.writer
    return {"dropped": writer.dropped}


def keras_run(log_dir: str, steps: int, pace: float) -> dict:
    import keras
    import tensorflow as tf

    from tb_netviz.keras import NetVizCallback

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="head"),
        ]
    )
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8 * steps, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 8 * steps)
    callback = NetVizCallback(
        log_dir=log_dir, sample_batch=x[:4], log_every_n_steps=1, sample_every_n_steps=5
    )
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    return {"dropped": 0}


def lightning_run(log_dir: str, steps: int, pace: float, tensorboard_logger: bool, devices: int) -> dict:
    import lightning
    import torch

    from tb_netviz.torch import NetVizCallback
    from tests.torch_capture.lightning_models import Classifier, classifier_data

    torch.manual_seed(0)
    data = classifier_data()
    callback = NetVizCallback(sample_batch=data.tensors[0][:4], log_every_n_steps=1)
    logger = (
        lightning.pytorch.loggers.TensorBoardLogger(log_dir, name="tb", version=0)
        if tensorboard_logger
        else False
    )
    trainer = lightning.Trainer(
        max_steps=steps,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        default_root_dir=log_dir,
        callbacks=[callback],
    )
    trainer.fit(Classifier(), torch.utils.data.DataLoader(data, batch_size=8))
    return {"dropped": 0, "log_dir": callback.log_dir, "rank": trainer.global_rank}


def writer_run(log_dir: str, steps: int, pace: float, options: dict, close: bool = True) -> dict:
    from tb_netviz.summary import GRADIENT_STATS, NetVizWriter

    layers = [f"layer{i}" for i in range(64)]
    writer = NetVizWriter(log_dir, **options)
    for step in range(steps):
        table = np.full((len(layers), len(GRADIENT_STATS)), float(step + 1), dtype=np.float32)
        started = time.perf_counter()
        writer.gradient_flow(step, layers, table)
        _progress(step, started, pace)
    if close:
        writer.close()
    return {"dropped": writer.dropped}


_max_call_ms = 0.0


def _progress(step: int, started: float, pace: float) -> None:
    global _max_call_ms
    call_ms = (time.perf_counter() - started) * 1000
    _max_call_ms = max(_max_call_ms, call_ms)
    if pace:
        print(json.dumps({"step": step, "time": time.time(), "call_ms": call_ms}), flush=True)
        time.sleep(pace)


def _option(text: str) -> tuple[str, float | int]:
    name, value = text.split("=", 1)
    return name, float(value) if "." in value else int(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["torch", "keras", "lightning", "writer"])
    parser.add_argument("log_dir")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("--tensorboard-logger", action="store_true")
    parser.add_argument("--option", action="append", default=[])
    parser.add_argument("--without-tensorflow", action="store_true")
    parser.add_argument("--devices", type=int, default=1, help="lightning: DDP over this many CPU processes")
    parser.add_argument("--no-close", action="store_true", help="writer: leave the writer open at exit")
    parser.add_argument("--no-projector", action="store_true", help="torch: no Projector export")
    args = parser.parse_args()
    if args.without_tensorflow:
        # As installed without TensorFlow: TensorBoard's own file systems (boto3 for s3://) write
        # the TensorBoardLogger's file; TensorFlow 2.16+ has no s3:// file system.
        sys.modules["tensorflow"] = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.kind == "torch":
            result = torch_run(args.log_dir, args.steps, args.pace, projector=not args.no_projector)
        elif args.kind == "keras":
            result = keras_run(args.log_dir, args.steps, args.pace)
        elif args.kind == "lightning":
            result = lightning_run(args.log_dir, args.steps, args.pace, args.tensorboard_logger, args.devices)
        else:
            options = dict(map(_option, args.option))
            result = writer_run(args.log_dir, args.steps, args.pace, options, close=not args.no_close)
    netviz_warnings = [str(w.message) for w in caught if type(w.message).__name__ == "NetVizWriteWarning"]
    print(
        json.dumps({"done": args.steps, **result, "warnings": netviz_warnings, "max_call_ms": _max_call_ms})
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
