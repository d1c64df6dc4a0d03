"""The netviz summary metadata: plugin name, tags and versioned content JSON.

Every netviz summary carries ``plugin_data.plugin_name == "netviz"``, a UTF-8
JSON content ``{"version": 1, "kind": ..., ...}`` and an explicit
``data_class`` (TensorBoard hides summaries whose data class is unset).

Example:
    >>> md = create_summary_metadata("gradient_flow", layers=["fc1"], stats=["grad_l2"])
    >>> parse_plugin_metadata(md.plugin_data.content)["layers"]
    ['fc1']
"""

from __future__ import annotations

import json
from typing import Any

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "netviz"
VERSION = 1

GRADIENT_FLOW = "gradient_flow"
ACTIVATIONS = "activations"
ATTENTION = "attention"
ALERTS = "alerts"
KINDS = (GRADIENT_FLOW, ACTIVATIONS, ATTENTION, ALERTS)
# Grad-CAM and the probe images it is drawn over (see tb_netviz.summary.gradcam).
GRADCAM, GRADCAM_TARGETS, PROBE_INPUTS = "gradcam", "gradcam_targets", "probe_inputs"
KINDS += (GRADCAM, GRADCAM_TARGETS, PROBE_INPUTS)
# What the network has learned (issue 13): kernels / weight matrices, and the embedding projection.
WEIGHTS, EMBEDDING = "weights", "embedding"
KINDS += (WEIGHTS, EMBEDDING)

TAG_PREFIX = "netviz/"
GRADIENT_FLOW_TAG = "netviz/gradient_flow"
ACTIVATIONS_TAG = "netviz/activations"
ALERTS_TAG = "netviz/alerts"
GLOBAL_GRAD_NORM_TAG = "netviz/global_grad_norm"
CLIPPED_GRAD_NORM_TAG = "netviz/clipped_grad_norm"
# TensorBoard keeps only the first metadata of a tag, so the count of alerts left
# out of a capped history cannot live in the alerts content: it is a scalar,
# written beside netviz/alerts once it is above zero.
ALERTS_OMITTED_TAG = "netviz/alerts_omitted"
# Written by a remote log directory's writer (scalars plugin): the summaries dropped so
# far (queue or local upload buffer full), once there is room again after a drop.
DROPPED_SUMMARIES_TAG = "netviz/dropped_summaries"
ATTENTION_TAG_PREFIX = "netviz/attention/"
FEATURE_MAPS_TAG_PREFIX = "netviz/feature_maps/"
WEIGHTS_TAG_PREFIX = "netviz/weights/"
EMBEDDING_TAG_PREFIX = "netviz/embedding/"
# Images tab: a layer's weights in the diverging colour map, and RGB kernels of a 3-input-channel conv.
WEIGHT_IMAGES_TAG_PREFIX = "netviz/weight_images/"
KERNEL_RGB_TAG_PREFIX = "netviz/kernel_rgb/"
# Content key of the layer tables: the ``AlertThresholds`` fields the run was checked with.
ALERT_THRESHOLDS_KEY = "alert_thresholds"
# Content key of the gradient-flow table: the name of the row that holds the model's own parameters
# (the model itself owns parameters, e.g. a transformer's positional embedding); absent in older logs.
MODEL_LAYER_KEY = "model_layer"


def model_layer_content(model_name: str) -> dict[str, str]:
    """The gradient-flow content naming the row of the model's own parameters (``MODEL_LAYER_KEY``).

    >>> model_layer_content("Reverser")
    {'model_layer': 'Reverser'}
    """
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"the model's layer name must be a non-empty string, got {model_name!r}")
    return {MODEL_LAYER_KEY: model_name}


class MetadataVersionError(ValueError):
    """The content JSON was written by a newer tb-netviz than this one."""


def attention_tag(layer: str) -> str:
    """The tag of one layer's attention matrices.

    >>> attention_tag("encoder.layers.0.self_attn")
    'netviz/attention/encoder.layers.0.self_attn'
    """
    return ATTENTION_TAG_PREFIX + _checked_layer(layer)


def feature_maps_tag(layer: str) -> str:
    """The tag of one layer's feature-map images (shown by the Images tab too).

    >>> feature_maps_tag("features.0")
    'netviz/feature_maps/features.0'
    """
    return FEATURE_MAPS_TAG_PREFIX + _checked_layer(layer)


def weights_tag(layer: str) -> str:
    """The tag of one layer's kernels or weight matrix, ``w_t`` and ``w_t - w_0`` (kind ``weights``).

    >>> weights_tag("features.0")
    'netviz/weights/features.0'
    """
    return WEIGHTS_TAG_PREFIX + _checked_layer(layer)


def embedding_tag(layer: str) -> str:
    """The tag of the PCA projection of one layer's features on the probe batch (kind ``embedding``).

    >>> embedding_tag("classifier.3")
    'netviz/embedding/classifier.3'
    """
    return EMBEDDING_TAG_PREFIX + _checked_layer(layer)


def layer_from_tag(tag: str, prefix: str) -> str | None:
    """The layer name inside ``tag`` if it starts with ``prefix``, else None.

    >>> layer_from_tag("netviz/attention/enc.attn", ATTENTION_TAG_PREFIX)
    'enc.attn'
    """
    if tag.startswith(prefix) and len(tag) > len(prefix):
        return tag[len(prefix) :]
    return None


def create_summary_metadata(kind: str, **fields: Any) -> summary_pb2.SummaryMetadata:
    """Metadata for a netviz tensor summary of ``kind`` with extra content fields.

    Raises ValueError for an unknown kind, a field named ``version`` or ``kind``,
    or fields that are not plain JSON (NaN included).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown netviz kind {kind!r}; expected one of {KINDS}")
    reserved = sorted({"version", "kind"} & fields.keys())
    if reserved:
        raise ValueError(f"netviz {kind} metadata fields may not be named {reserved}: they are set here")
    content = {"version": VERSION, "kind": kind, **fields}
    try:
        encoded = json.dumps(content, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise ValueError(f"netviz {kind} metadata is not plain JSON: {error}") from None
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=encoded),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_metadata(content: bytes | str) -> dict[str, Any]:
    """Decode the content of a netviz summary's metadata.

    Content of an older version is read as it is; a newer version raises
    ``MetadataVersionError`` naming both versions; anything that is not a
    netviz content object raises ValueError.

    >>> parse_plugin_metadata(b'{"version": 1, "kind": "alerts"}')["kind"]
    'alerts'
    """
    try:
        text = content.decode("utf-8") if isinstance(content, (bytes, bytearray)) else content
        parsed = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"netviz metadata content is not UTF-8 JSON: {error}") from None
    version = parsed.get("version") if isinstance(parsed, dict) else None
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError("netviz metadata content has no integer 'version'")
    if parsed["version"] > VERSION:
        raise MetadataVersionError(
            f"netviz data of format version {parsed['version']} needs a newer tb-netviz "
            f"(this one reads versions up to {VERSION}); upgrade with `pip install -U tb-netviz`"
        )
    if parsed.get("kind") not in KINDS:
        raise ValueError(f"netviz metadata content has unknown kind {parsed.get('kind')!r}")
    return parsed


def _checked_layer(layer: str) -> str:
    if not isinstance(layer, str) or not layer:
        raise TypeError(f"a layer name must be a non-empty str, got {layer!r}")
    return layer
