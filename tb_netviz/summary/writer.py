"""``NetVizWriter``: the typed log calls the callbacks use.

Each call validates its input on the calling thread (a clear error naming the
problem), takes a private copy of the arrays and hands the encoding to the
background ``EventWriter``; it returns whether the summary was queued.

Example:
    >>> import tempfile, numpy as np
    >>> from tb_netviz.summary.columns import GRADIENT_STATS
    >>> with NetVizWriter(tempfile.mkdtemp()) as writer:
    ...     writer.gradient_flow(0, ["fc1", "fc2"], np.ones((2, len(GRADIENT_STATS))))
    ...     writer.scalar(0, "netviz/global_grad_norm", 1.4)
    True
    True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tb_netviz.summary import encoders, gradcam, metadata
from tb_netviz.summary.columns import ACTIVATION_STATS, GRADIENT_STATS
from tb_netviz.summary.embedding import check_features
from tb_netviz.summary.event_writer import EventWriter
from tb_netviz.summary.images import check_feature_maps
from tb_netviz.summary.learned import EmbeddingSeries, WeightSeries
from tb_netviz.summary.remote_store import local_path, remote_url
from tb_netviz.summary.remote_writer import RemoteEventWriter


class NetVizWriter:
    """Writes netviz summaries for one run directory without blocking the caller.

    Args:
        log_dir: the run directory (created if missing): a local path, or a URL of any
            fsspec protocol (``s3://bucket/runs/exp1``, ``gs://...``), written through
            ``RemoteEventWriter`` (install ``tb-netviz[remote]``).
        **writer_options: passed to ``EventWriter`` (``max_queue``, ``flush_secs``, ...)
            or, for a URL, ``RemoteEventWriter`` (also ``segment_bytes``, ``max_buffer_bytes``...).

    Raises:
        LogDirError: ``log_dir`` cannot be created or written (for a URL: no bucket, no
            credentials, no answer).
        ImportError: a URL whose protocol package (``s3fs``, ``gcsfs``...) is not installed.
        ValueError: a malformed URL.

    Example:
        >>> import tempfile, numpy as np
        >>> writer = NetVizWriter(tempfile.mkdtemp())
        >>> writer.attention(5, "encoder.self_attn", np.full((2, 3, 3), 1 / 3), tokens=["a", "b", "c"])
        True
        >>> writer.feature_maps(5, "features.0", np.random.rand(8, 6, 6), max_channels=4)
        True
        >>> writer.histogram(5, "netviz/histograms/fc", np.random.randn(100))
        True
        >>> writer.alerts(5, [{"kind": "nonfinite", "layer": "fc", "step": 5}])
        True
        >>> writer.close()
        >>> writer.dropped
        0
    """

    def __init__(self, log_dir: str | os.PathLike, **writer_options: Any) -> None:
        self.events = open_event_writer(log_dir, **writer_options)
        self.log_dir = self.events.log_dir
        self._probe_inputs_written = False

    @property
    def dropped(self) -> int:
        """Summaries not written: queue full, write failure, or logged while closing (see ``EventWriter``)."""
        return self.events.dropped

    def gradient_flow(
        self,
        step: int,
        layers: Sequence[str],
        values: np.ndarray,
        stats: Sequence[str] = GRADIENT_STATS,
        **content: Any,
    ) -> bool:
        """Per-layer gradient statistics, float32 ``[layers, stats]``.

        The table is small, so its proto is built here: that validates the input
        and owns a copy of everything before the call returns.
        """
        value = encoders.gradient_flow_value(layers, values, stats, **content)
        return self.events.add(lambda: [value], step)

    def activations(
        self,
        step: int,
        layers: Sequence[str],
        values: np.ndarray,
        stats: Sequence[str] = ACTIVATION_STATS,
        **content: Any,
    ) -> bool:
        """Per-layer activation statistics on the probe batch, float32 ``[layers, stats]``."""
        value = encoders.activations_value(layers, values, stats, **content)
        return self.events.add(lambda: [value], step)

    def attention(self, step: int, layer: str, weights: np.ndarray, tokens: Any = None) -> bool:
        """One layer's attention matrices ``[heads, queries, keys]`` for one sample.

        ``tokens`` labels both axes (self-attention) or is ``(query_tokens, key_tokens)``.
        """
        weights = _owned_float32(weights, "attention weights")
        content = encoders.attention_content(layer, weights, tokens)
        labels = _tokens_from_content(content)
        return self.events.add(
            lambda: [encoders.attention_value(layer, weights, labels)], step, nbytes=weights.nbytes
        )

    def feature_maps(self, step: int, layer: str, maps: np.ndarray, max_channels: int = 16) -> bool:
        """One sample's feature maps ``[C, ...]`` as a PNG grid under ``netviz/feature_maps/<layer>``.

        Only the ``max_channels`` channels drawn are copied; the grid is drawn and
        encoded on the writer thread.
        """
        metadata.feature_maps_tag(layer)
        maps = _owned_float32(check_feature_maps(maps, max_channels)[:max_channels], "feature maps")
        return self.events.add(
            lambda: [encoders.feature_maps_value(layer, maps, max_channels)], step, nbytes=maps.nbytes
        )

    def weights(self, step: int, series: WeightSeries, weights: np.ndarray) -> bool:
        """One layer's raw kernel or matrix at ``step`` as its ``netviz/weights/<layer>`` tensor and
        pictures (see ``WeightSeries``); layouts, pooling and PNGs are made on the writer thread."""
        weights = _owned_float32(weights, f"weights of layer {series.layer!r}")
        return self.events.add(lambda: series.values(step, weights), step, nbytes=weights.nbytes)

    def embedding(
        self, step: int, series: EmbeddingSeries, features: np.ndarray, labels: Any, source: str
    ) -> bool:
        """One layer's ``[N, D]`` probe-batch features at ``step``, one label per sample; the PCA
        and the Projector export run on the writer thread (see ``EmbeddingSeries``).

        Raises:
            ValueError: fewer than 2 samples, or not one label per sample.
        """
        features = _owned_float32(features, f"embedding features of layer {series.layer!r}")
        features = features.reshape(features.shape[0], -1) if features.ndim else features
        check_features(features)
        labels = np.asarray(labels, np.int64).copy()
        if labels.shape != (features.shape[0],):
            raise ValueError(f"the embedding has {features.shape[0]} samples but {labels.shape} labels")
        return self.events.add(
            lambda: series.values(step, features, labels, source), step, nbytes=features.nbytes
        )

    def gradcam(
        self,
        step: int,
        maps: dict[str, np.ndarray],
        classes: np.ndarray,
        probabilities: np.ndarray,
        images: np.ndarray,
        *,
        target: str | int,
        labels: np.ndarray | None = None,
    ) -> bool:
        """One step's Grad-CAM maps ``{layer: [N, H, W]}``, explained classes and probabilities.

        ``images`` are the probe images ``[N, H, W(, C)]`` the maps are drawn over;
        they are written as ``netviz/probe_inputs`` with the first Grad-CAM step
        only. See ``tb_netviz.summary.gradcam`` for the tags; the overlay PNGs
        are drawn on the writer thread.
        """
        owned = {layer: _owned_float32(m, f"gradcam maps of {layer!r}") for layer, m in maps.items()}
        images = gradcam.check_images(images)  # a fresh array
        classes, probabilities = np.array(classes), _owned_float32(probabilities, "gradcam probabilities")
        labels = None if labels is None else np.array(labels)
        target = gradcam.check_target(target)
        gradcam.check_step(owned, classes, probabilities, images, labels)
        with_inputs = not self._probe_inputs_written
        queued = self.events.add(
            lambda: gradcam.gradcam_values(
                owned, classes, probabilities, images, target=target, labels=labels, with_inputs=with_inputs
            ),
            step,
            nbytes=images.nbytes + sum(m.nbytes for m in owned.values()),
        )
        self._probe_inputs_written = self._probe_inputs_written or (queued and with_inputs)
        return queued

    def scalar(self, step: int, tag: str, value: float) -> bool:
        """A float32 scalar (Scalars tab)."""
        summary_value = encoders.scalar_value(tag, value)
        return self.events.add(lambda: [summary_value], step)

    def histogram(self, step: int, tag: str, values: np.ndarray, bins: int = encoders.HISTOGRAM_BINS) -> bool:
        """A histogram of ``values`` (Histograms tab); bucketing runs on the writer thread."""
        values = _owned_float32(values, f"histogram {tag!r}")
        encoders.check_histogram_input(tag, values, bins)
        return self.events.add(
            lambda: [encoders.histogram_value(tag, values, bins)], step, nbytes=values.nbytes
        )

    def histogram_buckets(self, step: int, tag: str, buckets: np.ndarray) -> bool:
        """A histogram already counted: float32 ``[bins, 3]`` (left, right, count), as
        ``encoders.histogram_buckets`` makes (sharded training counts each rank's piece)."""
        value = encoders.histogram_buckets_value(tag, buckets)  # a malformed array fails here
        return self.events.add(lambda: [value], step, nbytes=value.ByteSize())

    def alerts(self, step: int, alerts: Sequence[dict[str, Any]], omitted: int = 0) -> bool:
        """The run's alert history so far; essential: waits for queue room rather than drop.

        ``omitted`` (alerts left out of a capped history) is also written as the
        scalar ``netviz/alerts_omitted`` when above zero: TensorBoard keeps only
        the first metadata of a tag, so the content's ``omitted`` is that of the
        first alerts event only.
        """
        values = [encoders.alerts_value(alerts, omitted)]
        if omitted:
            values.append(encoders.scalar_value(metadata.ALERTS_OMITTED_TAG, omitted))
        return self.events.add(lambda: values, step, essential=True)

    def flush(self) -> None:
        """Write everything logged so far."""
        self.events.flush()

    def close(self) -> None:
        """Flush and close; warns with the count of dropped summaries if any."""
        self.events.close()

    def __enter__(self) -> NetVizWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_event_writer(log_dir: str | os.PathLike, **writer_options: Any) -> EventWriter:
    """The event writer for ``log_dir``: ``RemoteEventWriter`` for a URL, else the local ``EventWriter``.

    >>> import tempfile
    >>> type(open_event_writer("memory://netviz-doc/open")).__name__
    'RemoteEventWriter'
    >>> writer = open_event_writer(tempfile.mkdtemp()); writer.close(); type(writer).__name__
    'EventWriter'

    Raises:
        ValueError: a malformed URL. See ``EventWriter`` and ``RemoteEventWriter`` for the rest.
    """
    path = os.fspath(log_dir)
    url = remote_url(path) if isinstance(path, str) else None
    if url is None:
        return EventWriter(local_path(path) if isinstance(path, str) else path, **writer_options)
    return RemoteEventWriter(url, **writer_options)


def _owned_float32(values: Any, what: str) -> np.ndarray:
    """A float32 copy the caller can no longer change (one copy at most)."""
    array = encoders.float32_array(values, what)
    fresh = array.flags.owndata and array is not values  # converted from a list or another dtype
    return array if fresh else array.copy()


def _tokens_from_content(content: dict[str, Any]) -> Any:
    if "tokens" in content:
        return content["tokens"]
    if "query_tokens" in content:
        return (content["query_tokens"], content["key_tokens"])
    return None
