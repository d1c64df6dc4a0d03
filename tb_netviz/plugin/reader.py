"""Everything the routes read, fetched only through TensorBoard's data provider.

Missing runs, tags and steps raise ``tensorboard.errors.NotFoundError`` with a
message naming what is missing; the routes turn that into a 404.

Downsampling: TensorBoard has already kept only a sample of each tag's events
(``--samples_per_plugin``); the reader asks the provider for all of them, or
for the user's explicit ``--samples_per_plugin`` number, which is the same.

Example (a provider over an empty log directory):
    >>> import tempfile
    >>> from tensorboard.context import RequestContext
    >>> from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    >>> logdir = tempfile.mkdtemp()
    >>> multiplexer = plugin_event_multiplexer.EventMultiplexer()
    >>> reader = NetVizReader(data_provider.MultiplexerDataProvider(multiplexer, logdir), sampling_hints={})
    >>> reader.runs(RequestContext(), "")
    []
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorboard import errors
from tensorboard.data import provider

from tb_netviz.plugin import data, gradcam_data, learned_data
from tb_netviz.plugin.cache import ByteBudgetCache
from tb_netviz.plugin.gc_pause import paused_gc
from tb_netviz.summary import gradcam, metadata

IMAGES_PLUGIN = "images"
SCALARS_PLUGIN = "scalars"
# Passed as ``downsample`` to return every event TensorBoard kept.
ALL_KEPT = 1_000_000_000
DEFAULT_CACHE_BYTES = 1 << 30
# The most float32 table data one read asks for. The Rust data server answers
# in one gRPC message of at most 256 MiB, so a larger read would fail outright;
# above this TensorBoard's provider returns a random sample of the steps (the
# newest always kept) and the run's sampling summary says so.
MAX_TABLE_BYTES = 192 << 20


def steps_within(max_bytes: int, content: dict[str, Any]) -> int:
    """How many steps of a ``[layers, stats]`` float32 table fit in ``max_bytes`` (at least 1).

    >>> steps_within(192 << 20, {"layers": ["a"] * 500, "stats": ["s"] * 7})
    14380
    """
    layers, stats = content.get("layers"), content.get("stats")
    cells = (len(layers) if isinstance(layers, list) else 1) * (len(stats) if isinstance(stats, list) else 1)
    return max(1, max_bytes // (4 * max(cells, 1)))


def downsample_for(sampling_hints: Mapping[str, int] | None, plugin_name: str) -> int:
    """The ``downsample`` to ask the provider for: the user's hint, else everything kept.

    >>> downsample_for({"netviz": 0}, "netviz"), downsample_for({"netviz": 50}, "netviz")
    (1000000000, 50)
    """
    hint = (sampling_hints or {}).get(plugin_name)
    return hint if isinstance(hint, int) and hint > 0 else ALL_KEPT


class NetVizReader:
    """Reads one TensorBoard's netviz data; shared by all request threads.

    Args:
        data_provider: ``context.data_provider``.
        sampling_hints: ``context.sampling_hints`` (``--samples_per_plugin``).
        cache_bytes: memory for the most recently read statistic tables (default 1 GiB).
    """

    def __init__(
        self,
        data_provider: provider.DataProvider,
        sampling_hints: Mapping[str, int] | None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self._provider = data_provider
        self._tensor_downsample = downsample_for(sampling_hints, metadata.PLUGIN_NAME)
        self._blob_downsample = downsample_for(sampling_hints, IMAGES_PLUGIN)
        self._keeps_all = (sampling_hints or {}).get(metadata.PLUGIN_NAME) == 0
        self._tables = ByteBudgetCache(cache_bytes)

    def runs(self, ctx: Any, experiment: str) -> list[dict[str, Any]]:
        """A summary of every run holding netviz data, by run name."""
        tensors = self._provider.list_tensors(ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME)
        feature_maps = self._feature_map_tags(ctx, experiment)
        names = sorted(set(tensors) | set(feature_maps))
        return [
            self._run_summary(ctx, experiment, run, tensors.get(run, {}), feature_maps.get(run, {}))
            for run in names
        ]

    def run_tags(self, ctx: Any, experiment: str, run: str) -> dict[str, Any]:
        """The run's netviz tensor series by tag; 404 if the run holds no netviz data at all.

        Routes pass it on to the other reads of the same request, so that one
        request lists the run once (each provider call costs a round trip to
        the Rust data server).
        """
        listing = self._provider.list_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=[run]),
        )
        tags = listing.get(run, {})
        if not tags and not self._feature_map_tags(ctx, experiment, run):
            raise errors.NotFoundError(f"run {run!r} holds no netviz data")
        return tags

    def layer_table(
        self, ctx: Any, experiment: str, run: str, tag: str, tags: dict[str, Any] | None = None
    ) -> data.LayerTable:
        """The statistics table of ``tag`` (gradient flow or activations) in ``run``.

        ``tags`` is the run's ``run_tags`` if the caller has it already.
        """
        series = _series(self.run_tags(ctx, experiment, run) if tags is None else tags, run, tag)
        content = _content(series, run, tag)
        downsample = min(self._tensor_downsample, steps_within(MAX_TABLE_BYTES, content))
        key = (experiment, run, tag, series.max_step, series.max_wall_time, downsample)

        def load() -> data.LayerTable:
            with paused_gc():
                stored = self._read_tensors(ctx, experiment, run, tag, downsample)
                try:
                    return data.layer_table(content, stored)
                except data.UnreadableDataError as error:
                    raise errors.NotFoundError(f"{tag} of run {run!r} cannot be read: {error}") from None

        return self._tables.get_or_load(key, load, size=lambda table: table.nbytes)

    def alerts(self, ctx: Any, experiment: str, run: str) -> tuple[list[dict[str, Any]], int]:
        """The run's alert history (oldest first) and the count the writer left out.

        The count left out is the newest ``netviz/alerts_omitted`` scalar,
        because TensorBoard keeps only the first metadata (so the first
        ``omitted``) of a tag.
        """
        history = self.alert_history(ctx, experiment, run, self.run_tags(ctx, experiment, run))
        return history, self._alerts_omitted(ctx, experiment, run) if history else 0

    def alert_history(
        self, ctx: Any, experiment: str, run: str, tags: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The run's alert history, oldest first, from its ``run_tags``.

        Reads only the newest ``netviz/alerts`` event: each one holds the whole
        history, and TensorBoard's sampling always keeps the newest event.
        """
        series = tags.get(metadata.ALERTS_TAG)
        if series is None:
            return []
        key = (experiment, run, metadata.ALERTS_TAG, series.max_step, series.max_wall_time)

        def load() -> list[dict[str, Any]]:
            newest = self._read_tensors(ctx, experiment, run, metadata.ALERTS_TAG, 1)
            return _alerts_of(newest[-1]) if newest else []

        return self._tables.get_or_load(key, load, size=lambda alerts: 1024 * (1 + len(alerts)))

    def _alerts_omitted(self, ctx: Any, experiment: str, run: str) -> int:
        newest = self._provider.read_scalars(
            ctx,
            experiment_id=experiment,
            plugin_name=SCALARS_PLUGIN,
            downsample=1,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[metadata.ALERTS_OMITTED_TAG]),
        )
        stored = newest.get(run, {}).get(metadata.ALERTS_OMITTED_TAG)
        value = stored[-1].value if stored else 0.0
        return int(value) if np.isfinite(value) and value > 0 else 0

    def attention(self, ctx: Any, experiment: str, run: str, layer: str) -> tuple[dict[str, Any], list]:
        """The attention content and kept ``TensorDatum`` values of one layer."""
        tag = metadata.ATTENTION_TAG_PREFIX + layer
        series = _series(self.run_tags(ctx, experiment, run), run, tag, what=f"attention layer {layer!r}")
        content = _content(series, run, tag)
        stored = self._read_tensors(ctx, experiment, run, tag, self._tensor_downsample)
        return content, [d for d in stored if np.ndim(d.numpy) == 3]

    def learned(
        self, ctx: Any, experiment: str, run: str, prefix: str, layer: str, what: str
    ) -> tuple[dict, list]:
        """The content and kept tensors, one per step, of one layer's weights or embedding.

        Only tensors of the shape the content describes are kept (see ``learned_data.expected_ndim``).
        """
        tag = prefix + layer
        series = _series(self.run_tags(ctx, experiment, run), run, tag, what=f"{what} for layer {layer!r}")
        content = _content(series, run, tag)
        stored = self._read_tensors(ctx, experiment, run, tag, self._tensor_downsample)
        return content, learned_data.kept_by_step(stored, learned_data.expected_ndim(content))

    def gradcam(self, ctx: Any, experiment: str, run: str, layer: str) -> tuple[dict[str, Any], list]:
        """The Grad-CAM content and kept ``[N, H, W]`` maps of one layer, one per step, by step."""
        tag = gradcam.gradcam_tag(layer)
        series = _series(self.run_tags(ctx, experiment, run), run, tag, what=f"Grad-CAM layer {layer!r}")
        content = _content(series, run, tag)
        stored = self._read_tensors(ctx, experiment, run, tag, self._tensor_downsample)
        return content, gradcam_data.kept_maps(stored)

    def gradcam_targets(self, ctx: Any, experiment: str, run: str) -> tuple[dict[str, Any] | None, dict]:
        """The content and the kept ``[N, 2]`` (class, probability) events of the run, by step."""
        series = self.run_tags(ctx, experiment, run).get(gradcam.GRADCAM_TARGETS_TAG)
        if series is None:
            return None, {}
        content = _content(series, run, gradcam.GRADCAM_TARGETS_TAG)
        stored = self._read_tensors(
            ctx, experiment, run, gradcam.GRADCAM_TARGETS_TAG, self._tensor_downsample
        )
        return content, {int(d.step): d for d in stored if np.ndim(d.numpy) == 2}

    def probe_inputs(self, ctx: Any, experiment: str, run: str) -> Any:
        """The newest ``netviz/probe_inputs`` event (``[N, H, W, C]`` images); 404 if the run has none."""
        tag = gradcam.PROBE_INPUTS_TAG
        series = _series(self.run_tags(ctx, experiment, run), run, tag, what="probe images")
        _content(series, run, tag)
        stored = [d for d in self._read_tensors(ctx, experiment, run, tag, 1) if np.ndim(d.numpy) == 4]
        if not stored:
            raise errors.NotFoundError(f"the probe images of run {run!r} cannot be read")
        return stored[-1]

    def feature_maps(self, ctx: Any, experiment: str, run: str, layer: str) -> list:
        """The kept ``BlobSequenceDatum`` values (width, height, PNG) of one layer's feature maps."""
        tag = metadata.FEATURE_MAPS_TAG_PREFIX + layer
        if tag not in self._feature_map_tags(ctx, experiment, run).get(run, {}):
            raise errors.NotFoundError(f"run {run!r} has no feature maps for layer {layer!r}")
        stored = self._provider.read_blob_sequences(
            ctx,
            experiment_id=experiment,
            plugin_name=IMAGES_PLUGIN,
            downsample=self._blob_downsample,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        return [d for d in stored.get(run, {}).get(tag, []) if len(d.values) >= 3]

    def read_blob(self, ctx: Any, blob_key: str) -> bytes:
        """The bytes of one blob named by a ``BlobReference``."""
        return self._provider.read_blob(ctx, blob_key=blob_key)

    def _run_summary(
        self, ctx: Any, experiment: str, run: str, tags: dict, feature_map_tags: dict
    ) -> dict[str, Any]:
        summary: dict[str, Any] = {"run": run}
        problems: list[str] = []
        sampling: dict[str, Any] = {}
        flow_order: tuple[str, ...] = ()
        for kind, tag in (
            ("gradient_flow", metadata.GRADIENT_FLOW_TAG),
            ("activations", metadata.ACTIVATIONS_TAG),
        ):
            summary[kind] = False
            if tag not in tags:
                continue
            try:
                table = self.layer_table(ctx, experiment, run, tag, tags)
            except errors.NotFoundError as error:
                problems.append(str(error))
                continue
            summary[kind] = True
            capped = len(table.steps) >= steps_within(MAX_TABLE_BYTES, table.content)
            sampling[kind] = data.sampling_summary(table.steps, table.content, self._keeps_all and not capped)
            flow_order = flow_order or table.layers
        attention = [metadata.layer_from_tag(t, metadata.ATTENTION_TAG_PREFIX) for t in tags]
        summary["attention_layers"] = data.ordered_layers(filter(None, attention), flow_order)
        maps = [metadata.layer_from_tag(t, metadata.FEATURE_MAPS_TAG_PREFIX) for t in feature_map_tags]
        summary["feature_map_layers"] = data.ordered_layers(filter(None, maps), flow_order)
        gradcam_layers = [metadata.layer_from_tag(t, gradcam.GRADCAM_TAG_PREFIX) for t in tags]
        summary["gradcam_layers"] = data.ordered_layers(filter(None, gradcam_layers), flow_order)
        weights = [metadata.layer_from_tag(t, metadata.WEIGHTS_TAG_PREFIX) for t in tags]
        summary["weight_layers"] = data.ordered_layers(filter(None, weights), flow_order)
        embedded = [metadata.layer_from_tag(t, metadata.EMBEDDING_TAG_PREFIX) for t in tags]
        summary["embedding_layers"] = data.ordered_layers(filter(None, embedded), flow_order)
        summary["alerts"] = len(self.alert_history(ctx, experiment, run, tags))
        summary["sampling"] = sampling
        if problems:
            summary["problems"] = problems
        return summary

    def _feature_map_tags(self, ctx: Any, experiment: str, run: str | None = None) -> dict[str, dict]:
        listing = self._provider.list_blob_sequences(
            ctx,
            experiment_id=experiment,
            plugin_name=IMAGES_PLUGIN,
            run_tag_filter=provider.RunTagFilter(runs=[run]) if run is not None else None,
        )
        found = {}
        for name, tags in listing.items():
            maps = {t: s for t, s in tags.items() if t.startswith(metadata.FEATURE_MAPS_TAG_PREFIX)}
            if maps:
                found[name] = maps
        return found

    def _read_tensors(self, ctx: Any, experiment: str, run: str, tag: str, downsample: int) -> list:
        stored = self._provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=downsample,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        return stored.get(run, {}).get(tag, [])


def _series(tags: dict[str, Any], run: str, tag: str, what: str | None = None) -> Any:
    series = tags.get(tag)
    if series is None:
        raise errors.NotFoundError(f"run {run!r} has no {what or tag}")
    return series


def _content(series: Any, run: str, tag: str) -> dict[str, Any]:
    try:
        return metadata.parse_plugin_metadata(series.plugin_content)
    except ValueError as error:  # MetadataVersionError included: its message says to upgrade
        raise errors.NotFoundError(f"{tag} of run {run!r} cannot be read: {error}") from None


def _alerts_of(datum: Any) -> list[dict[str, Any]]:
    array = np.asarray(datum.numpy)
    if array.dtype != object or array.size != 1:
        return []
    text = array.reshape(()).item()
    try:
        return data.parse_alert_history(text)
    except data.UnreadableDataError:
        return []
