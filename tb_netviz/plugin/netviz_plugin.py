"""The NetViz TensorBoard plugin: routes under ``/data/plugin/netviz/`` (see ``http_api.md``).

Handlers are straight-line code that raise ``tensorboard.errors`` types; one
wrapper, ``_route``, answers non-GET methods with 405 and turns those errors
into a status and a JSON ``{"error": ...}`` body.

Example:
    >>> from tensorboard.plugins import base_plugin
    >>> plugin = NetVizPlugin(base_plugin.TBContext())
    >>> sorted(plugin.get_plugin_apps())[:3], plugin.data_plugin_names()
    (['/activations', '/alerts', '/attention'], ('netviz',))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import Request, Response, wrappers

from tb_netviz.plugin import gradcam_data, json_values, learned_data, query, responses, static_files
from tb_netviz.plugin.reader import NetVizReader
from tb_netviz.summary import images, metadata
from tb_netviz.summary.weights import WEIGHT_VIEWS

logger = logging.getLogger(__name__)

DEFAULT_MAX_STEPS = 500
MAX_MAX_STEPS = 10_000
JSON = "application/json"

Handler = Callable[[Request], Response]


class NetVizPlugin(base_plugin.TBPlugin):
    """Serves netviz data as JSON and the dashboard's static files.

    The tab is listed as active when any run holds netviz tensors
    (``data_plugin_names``); feature maps are read from the images plugin's data.
    """

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        provider = context.data_provider
        self._reader = NetVizReader(provider, context.sampling_hints) if provider is not None else None

    def get_plugin_apps(self) -> dict[str, Callable]:
        """The WSGI app of each route, relative to ``/data/plugin/netviz``."""
        return {
            "/runs": _route(self._runs),
            "/gradient_flow": _route(self._gradient_flow),
            "/activations": _route(self._activations),
            "/attention": _route(self._attention),
            "/feature_maps": _route(self._feature_maps),
            "/gradcam": _route(self._gradcam),
            "/probe_inputs": _route(self._probe_inputs),
            "/alerts": _route(self._alerts),
            "/weights": _route(self._weights),
            "/embedding": _route(self._embedding),
            "/static/*": _route(_static_file),
        }

    def is_active(self) -> bool:
        """False: TensorBoard activates the tab from ``data_plugin_names`` alone."""
        return False

    def data_plugin_names(self) -> tuple[str, ...]:
        """The tab is active when any run holds summaries of plugin ``netviz``."""
        return (metadata.PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        """The dashboard is the ES module ``static/index.js`` in a tab named NetViz."""
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="NetViz")

    def _runs(self, request: Request) -> Response:
        ctx, experiment, reader = self._scope(request)
        return _json(request, json.dumps({"runs": reader.runs(ctx, experiment)}, allow_nan=False))

    def _gradient_flow(self, request: Request) -> Response:
        return self._layer_stats(request, metadata.GRADIENT_FLOW_TAG)

    def _activations(self, request: Request) -> Response:
        return self._layer_stats(request, metadata.ACTIVATIONS_TAG)

    def _layer_stats(self, request: Request, tag: str) -> Response:
        args = request.args
        run = query.required_text(args, "run")
        min_step = query.optional_int(args, "min_step")
        max_step = query.optional_int(args, "max_step")
        max_steps = query.optional_int(args, "max_steps", DEFAULT_MAX_STEPS, low=1, high=MAX_MAX_STEPS)
        if min_step is not None and max_step is not None and min_step > max_step:
            raise errors.InvalidArgumentError(
                f"parameter 'min_step' ({min_step}) must not exceed parameter 'max_step' ({max_step})"
            )
        ctx, experiment, reader = self._scope(request)
        tags = reader.run_tags(ctx, experiment, run)
        table = reader.layer_table(ctx, experiment, run, tag, tags)
        stats = query.optional_names(args, "stats", table.stats, what="columns")
        layers = query.optional_names(args, "layers", table.layers, what="layers")
        required_steps = tuple(alert["step"] for alert in reader.alert_history(ctx, experiment, run, tags))
        null_where_no_gradient = tag == metadata.GRADIENT_FLOW_TAG

        def encode() -> bytes:
            body = responses.layer_stats_body(
                run,
                table,
                stats,
                layers=layers,
                min_step=min_step,
                max_step=max_step,
                max_steps=max_steps,
                required_steps=required_steps,
                null_where_no_gradient=null_where_no_gradient,
            )
            return responses.gzipped(body)

        key = (
            run,
            tuple(stats),
            tuple(layers),
            min_step,
            max_step,
            max_steps,
            required_steps,
            null_where_no_gradient,
        )
        body = table.responses.get_or_load(key, encode, size=len)
        return http_util.Respond(request, body, JSON, content_encoding="gzip")

    def _attention(self, request: Request) -> Response:
        run = query.required_text(request.args, "run")
        layer = query.required_text(request.args, "layer")
        step = query.optional_int(request.args, "step")
        ctx, experiment, reader = self._scope(request)
        content, stored = reader.attention(ctx, experiment, run, layer)
        if step is None:
            body = responses.attention_steps_body(run, layer, content, stored)
            return _json(request, json.dumps(body, allow_nan=False))
        datum = _at_step(stored, step, f"run {run!r} has no attention for layer {layer!r} at step {step}")
        return _json(request, responses.attention_step_body(run, layer, content, datum))

    def _feature_maps(self, request: Request) -> Response:
        run = query.required_text(request.args, "run")
        layer = query.required_text(request.args, "layer")
        step = query.optional_int(request.args, "step")
        ctx, experiment, reader = self._scope(request)
        stored = reader.feature_maps(ctx, experiment, run, layer)
        if step is None:
            body = {
                "run": run,
                "layer": layer,
                "steps": [int(d.step) for d in stored],
                "wall_times": [json_values.encode_number(d.wall_time) for d in stored],
                "layout": self._feature_map_layout(ctx, reader, stored),
            }
            return _json(request, json.dumps(body, allow_nan=False))
        datum = _at_step(stored, step, f"run {run!r} has no feature maps for layer {layer!r} at step {step}")
        png = reader.read_blob(ctx, datum.values[2].blob_key)
        return http_util.Respond(request, png, "image/png")

    @staticmethod
    def _feature_map_layout(ctx: Any, reader: Any, stored: list) -> dict | None:
        """The grid layout carried by the latest kept feature-map PNG (None for older logs)."""
        if not stored:
            return None
        return images.read_feature_map_layout(reader.read_blob(ctx, stored[-1].values[2].blob_key))

    def _gradcam(self, request: Request) -> Response:
        run = query.required_text(request.args, "run")
        layer = query.required_text(request.args, "layer")
        step = query.optional_int(request.args, "step")
        ctx, experiment, reader = self._scope(request)
        content, maps = reader.gradcam(ctx, experiment, run, layer)
        targets_content, targets = reader.gradcam_targets(ctx, experiment, run)
        steps_body = gradcam_data.gradcam_steps_body(run, layer, content, maps, targets_content)
        if step is None:
            return _json(request, json.dumps(steps_body, allow_nan=False))
        datum = _at_step(maps, step, f"run {run!r} has no Grad-CAM maps for layer {layer!r} at step {step}")
        body = gradcam_data.gradcam_step_body(
            run, layer, content, datum, targets.get(step), targets_content, steps_body["max"]
        )
        return _json(request, body)

    def _probe_inputs(self, request: Request) -> Response:
        run = query.required_text(request.args, "run")
        ctx, experiment, reader = self._scope(request)
        return _json(request, gradcam_data.probe_inputs_body(run, reader.probe_inputs(ctx, experiment, run)))

    def _weights(self, request: Request) -> Response:
        run = query.required_text(request.args, "run")
        layer = query.required_text(request.args, "layer")
        step = query.optional_int(request.args, "step")
        view = request.args.get("view", "weights")
        if view not in WEIGHT_VIEWS:
            raise errors.InvalidArgumentError(f"parameter 'view' must be one of {list(WEIGHT_VIEWS)}")
        ctx, experiment, reader = self._scope(request)
        content, stored = reader.learned(ctx, experiment, run, metadata.WEIGHTS_TAG_PREFIX, layer, "weights")
        if step is None:
            return _json(
                request, learned_data.dumps(learned_data.weights_steps_body(run, layer, content, stored))
            )
        datum = _at_step(stored, step, f"run {run!r} has no weights for layer {layer!r} at step {step}")
        return _json(request, learned_data.weights_step_body(run, layer, content, datum, view))

    def _embedding(self, request: Request) -> Response:
        run = query.required_text(request.args, "run")
        layer = query.required_text(request.args, "layer")
        ctx, experiment, reader = self._scope(request)
        content, stored = reader.learned(
            ctx, experiment, run, metadata.EMBEDDING_TAG_PREFIX, layer, "embedding"
        )
        return _json(request, learned_data.dumps(learned_data.embedding_body(run, layer, content, stored)))

    def _alerts(self, request: Request) -> Response:
        run = query.required_text(request.args, "run")
        ctx, experiment, reader = self._scope(request)
        alerts, omitted = reader.alerts(ctx, experiment, run)
        return _json(request, json.dumps({"run": run, "alerts": alerts, "omitted": omitted}, allow_nan=False))

    def _scope(self, request: Request) -> tuple[object, str, NetVizReader]:
        if self._reader is None:
            raise errors.NotFoundError("TensorBoard gave the netviz plugin no data provider")
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ), self._reader


def _static_file(request: Request) -> Response:
    name = request.path.partition("/static/")[2]
    found = static_files.read_static_file(name)
    if found is None:
        raise errors.NotFoundError(f"no dashboard file {name[:80]!r}")
    content, content_type = found
    return http_util.Respond(request, content, content_type)


def _route(handler: Handler) -> Callable:
    """A WSGI app: GET only, typed errors to their status, anything else logged as a 500."""

    @wrappers.Request.application
    def app(request: Request) -> Response:
        if request.method != "GET":
            return _error(
                request, 405, f"method {request.method} is not allowed; use GET", [("Allow", "GET")]
            )
        try:
            return handler(request)
        except errors.PublicError as error:
            return _error(request, error.http_code, str(error), getattr(error, "headers", None))
        except Exception:
            logger.exception("netviz plugin failed on %s", request.full_path)
            return _error(request, 500, "the netviz plugin failed; the TensorBoard log has the details")

    return app


def _at_step(stored: list, step: int, missing: str):
    for datum in reversed(stored):  # the newest event wins a repeated step
        if datum.step == step:
            return datum
    raise errors.NotFoundError(missing)


def _json(request: Request, text: str) -> Response:
    return http_util.Respond(request, text, JSON)


def _error(request: Request, code: int, message: str, headers=None) -> Response:
    return http_util.Respond(request, json.dumps({"error": message}), JSON, code=code, headers=headers)
