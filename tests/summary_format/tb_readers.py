"""Read a log directory back through TensorBoard's own data providers.

Two loaders, one result shape, so a round-trip test runs unchanged on both:

- ``python_provider``: the multiplexer of ``tensorboard --load_fast=false``
  wrapped in ``MultiplexerDataProvider``;
- ``rust_provider``: TensorBoard's bundled Rust data server (the default
  loader), started as a process on a free port and reached through
  ``GrpcDataProvider``; it is always stopped by its PID.

All sampling limits are lifted, so every written event must come back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
from tensorboard import context
from tensorboard.backend.event_processing import data_ingester, plugin_event_multiplexer
from tensorboard.backend.event_processing import data_provider as multiplexer_data_provider
from tensorboard.data import grpc_provider, server_ingester

TENSOR_PLUGINS = ("netviz", "histograms")
SCALAR_PLUGINS = ("scalars",)
BLOB_PLUGINS = ("images",)
_ALL = 1_000_000


@dataclasses.dataclass
class RunData:
    """Everything one run holds, as TensorBoard's data provider returns it."""

    tensors: dict[str, list[tuple[int, np.ndarray]]]
    tensor_content: dict[str, bytes]
    tensor_plugin: dict[str, str]
    scalars: dict[str, list[tuple[int, float]]]
    blobs: dict[str, list[tuple[int, list[bytes]]]]


def read_run(provider: Any, run: str) -> RunData:
    """Read every tensor, scalar and blob sequence of ``run`` from ``provider``."""
    ctx = context.RequestContext()
    everything = {"experiment_id": "", "downsample": _ALL}
    data = RunData({}, {}, {}, {}, {})
    for plugin in TENSOR_PLUGINS:
        listing = provider.list_tensors(ctx, experiment_id="", plugin_name=plugin).get(run, {})
        points = provider.read_tensors(ctx, plugin_name=plugin, **everything).get(run, {})
        for tag, series in listing.items():
            data.tensor_content[tag] = series.plugin_content
            data.tensor_plugin[tag] = plugin
            data.tensors[tag] = [(d.step, d.numpy) for d in points.get(tag, [])]
    for plugin in SCALAR_PLUGINS:
        points = provider.read_scalars(ctx, plugin_name=plugin, **everything).get(run, {})
        for tag, series in points.items():
            data.scalars[tag] = [(d.step, d.value) for d in series]
    for plugin in BLOB_PLUGINS:
        sequences = provider.read_blob_sequences(ctx, plugin_name=plugin, **everything).get(run, {})
        for tag, series in sequences.items():
            data.blobs[tag] = [
                (d.step, [provider.read_blob(ctx, blob_key=ref.blob_key) for ref in d.values]) for d in series
            ]
    return data


def python_provider(logdir: str, *, keep_all: bool = True) -> Any:
    """The data provider of ``tensorboard --load_fast=false`` over ``logdir``, loaded once.

    With ``keep_all=False`` it samples as TensorBoard does by default.
    """
    if keep_all:
        guidance = {plugin: 0 for plugin in TENSOR_PLUGINS + SCALAR_PLUGINS + BLOB_PLUGINS}
    else:
        guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=guidance
    )
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return multiplexer_data_provider.MultiplexerDataProvider(multiplexer, logdir)


@contextlib.contextmanager
def rust_provider(logdir: str, timeout: float = 60.0, *, keep_all: bool = True) -> Iterator[Any]:
    """TensorBoard's Rust data server over ``logdir`` (one load pass), as a data provider.

    With ``keep_all=False`` it samples as TensorBoard does by default.
    """
    binary = server_ingester.get_server_binary()
    with tempfile.TemporaryDirectory(prefix="netviz-data-server-") as scratch:
        port_file = os.path.join(scratch, "port")
        plugins = TENSOR_PLUGINS + SCALAR_PLUGINS + BLOB_PLUGINS
        samples = ",".join(f"{p}=all" for p in plugins) if keep_all else ""
        command = [
            binary.path,
            f"--logdir={logdir}",
            "--reload=once",
            f"--samples-per-plugin={samples}",
            "--port=0",
            f"--port-file={port_file}",
            "--die-after-stdin",
        ]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            port = _wait_for_port(process, port_file, timeout)
            address = f"127.0.0.1:{port}"
            channel = grpc.insecure_channel(address)
            try:
                yield grpc_provider.GrpcDataProvider(address, grpc_provider.make_stub(channel))
            finally:
                channel.close()
        finally:
            process.stdin.close()
            process.terminate()
            process.wait(timeout=15)


def wait_until(predicate: Any, what: str, timeout: float = 60.0) -> None:
    """Poll ``predicate()`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _wait_for_port(process: subprocess.Popen, port_file: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the TensorBoard data server exited with {process.returncode}")
        try:
            with open(port_file) as text:
                content = text.read()
        except FileNotFoundError:
            content = ""
        if content.endswith("\n"):
            return int(content)
        time.sleep(0.05)
    raise TimeoutError("the TensorBoard data server did not report its port")
