"""Encoders from numpy to TensorBoard ``Summary.Value`` protos.

Each encoder validates its input and raises an exception that names the
problem; NaN and Inf are stored as they are. All tensors are float32 because
TensorBoard's Rust loader drops float64 scalars.

Example:
    >>> import numpy as np
    >>> value = gradient_flow_value(["fc1", "fc2"], np.zeros((2, len(GRADIENT_STATS))))
    >>> value.tag, value.metadata.plugin_data.plugin_name
    ('netviz/gradient_flow', 'netviz')
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_netviz.summary import metadata
from tb_netviz.summary.columns import ACTIVATION_STATS, GRADIENT_STATS
from tb_netviz.summary.images import LAYOUT_KEYWORD, encode_png, feature_map_grid, feature_map_layout

Value = summary_pb2.Summary.Value


def gradient_flow_value(
    layers: Sequence[str], values: np.ndarray, stats: Sequence[str] = GRADIENT_STATS, **content: Any
) -> Value:
    """The ``netviz/gradient_flow`` value: float32 ``[layers, stats]``."""
    return _layer_table(metadata.GRADIENT_FLOW, metadata.GRADIENT_FLOW_TAG, layers, values, stats, content)


def activations_value(
    layers: Sequence[str], values: np.ndarray, stats: Sequence[str] = ACTIVATION_STATS, **content: Any
) -> Value:
    """The ``netviz/activations`` value: float32 ``[layers, stats]``.

    >>> activations_value(["relu1"], np.zeros((1, len(ACTIVATION_STATS)))).tensor.tensor_shape.dim[1].size
    6
    """
    return _layer_table(metadata.ACTIVATIONS, metadata.ACTIVATIONS_TAG, layers, values, stats, content)


def attention_value(layer: str, weights: np.ndarray, tokens: Sequence[str] | None = None) -> Value:
    """One layer's attention for one sample: float32 ``[heads, queries, keys]``.

    ``tokens`` labels both axes of self-attention (length Q == K), or is a pair
    ``(query_tokens, key_tokens)`` for cross-attention.

    >>> value = attention_value("dec.cross_attn", np.ones((2, 1, 3)) / 3, (["le"], ["the", "cat", "."]))
    >>> value.tag
    'netviz/attention/dec.cross_attn'
    >>> json.loads(value.metadata.plugin_data.content)["key_tokens"]
    ['the', 'cat', '.']
    """
    content = attention_content(layer, weights, tokens)
    md = metadata.create_summary_metadata(metadata.ATTENTION, **content)
    return _float_tensor_value(metadata.attention_tag(layer), md, weights)


def attention_content(layer: str, weights: np.ndarray, tokens: Any = None) -> dict[str, Any]:
    """Validate one attention summary and return its metadata content fields.

    >>> attention_content("attn", np.ones((1, 2, 2)), ["a", "b"])
    {'layer': 'attn', 'tokens': ['a', 'b']}
    """
    tag = metadata.attention_tag(layer)
    weights = float32_array(weights, "attention weights")
    if weights.ndim != 3:
        raise ValueError(f"attention weights must be [heads, queries, keys], got shape {weights.shape}")
    content: dict[str, Any] = {"layer": metadata.layer_from_tag(tag, metadata.ATTENTION_TAG_PREFIX)}
    if tokens is not None:
        content.update(_token_fields(tokens, weights.shape[1], weights.shape[2]))
    return content


def alerts_value(alerts: Sequence[dict[str, Any]], omitted: int = 0) -> Value:
    """The ``netviz/alerts`` value: a UTF-8 JSON string tensor of alerts.

    The list holds the run's alert history so far (see ``alerts.AlertDetector``);
    the alerts that fired at this event's step are those whose ``step`` equals it.
    ``omitted`` lands in the metadata content, of which TensorBoard keeps only the
    first event's: ``NetVizWriter.alerts`` also writes it as ``netviz/alerts_omitted``.

    >>> alerts_value([{"kind": "nonfinite", "layer": "fc", "step": 3}]).tensor.string_val[0]
    b'[{"kind": "nonfinite", "layer": "fc", "step": 3}]'
    """
    if isinstance(alerts, (str, bytes, dict)) or not hasattr(alerts, "__iter__"):
        raise TypeError(f"alerts must be a sequence of dicts, got {type(alerts).__name__}")
    alerts = list(alerts)
    if not all(isinstance(a, dict) for a in alerts):
        raise TypeError("alerts must be a sequence of dicts; some entries are not dicts")
    if isinstance(omitted, bool) or not isinstance(omitted, int) or omitted < 0:
        raise ValueError(f"omitted must be an int >= 0, got {omitted!r}")
    try:
        text = json.dumps(alerts, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"alerts are not plain JSON: {error}") from None
    md = metadata.create_summary_metadata(metadata.ALERTS, omitted=int(omitted))
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[text.encode("utf-8")],
    )
    return Value(tag=metadata.ALERTS_TAG, metadata=md, tensor=tensor)


def scalar_value(tag: str, value: float) -> Value:
    """A float32 scalar for TensorBoard's Scalars tab (NaN and Inf are kept).

    >>> scalar_value("netviz/global_grad_norm", 2.5).tensor.float_val
    [2.5]
    """
    array = float32_array(value, f"scalar {tag!r}")
    if array.shape != ():
        raise ValueError(f"scalar {tag!r} must be a single number, got shape {array.shape}")
    md = scalar_metadata.create_summary_metadata(display_name=_checked_tag(tag), description="")
    md.data_class = summary_pb2.DATA_CLASS_SCALAR
    # float_val, not tensor_content: TensorBoard's Rust loader reads a scalar's
    # value from float_val and silently drops one stored in tensor_content.
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(), float_val=[float(array)]
    )
    return Value(tag=tag, metadata=md, tensor=tensor)


HISTOGRAM_BINS = 30


def histogram_value(tag: str, values: np.ndarray, bins: int = HISTOGRAM_BINS) -> Value:
    """A histogram for TensorBoard's Histograms tab: float32 ``[bins, 3]`` (left, right, count).

    Non-finite entries cannot be placed in a bucket and are left out; the
    netviz statistics count them. The buckets span the finite entries' range
    (``histogram_range``).

    >>> histogram_value("h", [0, 1, 1, np.nan], bins=2).tensor.tensor_shape.dim[0].size
    2
    """
    array = check_histogram_input(tag, values, bins).reshape(-1)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        buckets = np.zeros((0, 3), np.float32)
    else:
        value_range = histogram_range(float(finite.min()), float(finite.max()))
        buckets = histogram_buckets(histogram_counts(finite, value_range, bins), value_range)
    return histogram_buckets_value(tag, buckets)


def histogram_range(low: float, high: float) -> tuple[float, float]:
    """The range of the buckets of finite values from ``low`` to ``high`` (+-0.5 around one value).

    >>> histogram_range(-1.0, 2.0), histogram_range(3.0, 3.0)
    ((-1.0, 2.0), (2.5, 3.5))
    """
    return (low - 0.5, high + 0.5) if low == high else (low, high)


def histogram_counts(values: np.ndarray, value_range: tuple[float, float], bins: int) -> np.ndarray:
    """The entries of float32 ``values`` in each of ``bins`` equal buckets over the finite
    ``value_range`` (left-closed, the last one closed); entries outside it, NaN and +-Inf among
    them, are not counted. Counts of parts of a tensor over the tensor's range add up to the
    counts of the whole tensor: sharded training bins every rank's piece this way.

    >>> histogram_counts(np.array([0, 1, 1, np.nan, np.inf], np.float32), (0.0, 1.0), 2).tolist()
    [1, 2]
    """
    return np.histogram(values, bins=bins, range=value_range)[0]


def histogram_buckets(counts: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Float32 ``[bins, 3]`` (left, right, count) of ``histogram_counts`` over ``value_range``.

    >>> histogram_buckets(np.array([1, 2]), (0.0, 1.0)).tolist()
    [[0.0, 0.5, 1.0], [0.5, 1.0, 2.0]]
    """
    edges = np.histogram_bin_edges(np.empty(0, np.float32), bins=len(counts), range=value_range)
    return np.stack([edges[:-1], edges[1:], counts], axis=1).astype(np.float32)


def histogram_buckets_value(tag: str, buckets: np.ndarray) -> Value:
    """A histogram of buckets already counted: float32 ``[bins, 3]`` (left, right, count).

    >>> histogram_buckets_value("h", np.zeros((0, 3))).tag
    'h'
    """
    buckets = np.asarray(buckets, dtype=np.float32)
    if buckets.ndim != 2 or buckets.shape[1] != 3:
        raise ValueError(
            f"histogram {tag!r}: buckets must be [bins, 3] (left, right, count), got {buckets.shape}"
        )
    md = histogram_metadata.create_summary_metadata(display_name=_checked_tag(tag), description="")
    md.data_class = summary_pb2.DATA_CLASS_TENSOR
    return _float_tensor_value(tag, md, buckets)


def check_histogram_input(tag: str, values: np.ndarray, bins: int) -> np.ndarray:
    """Validate a histogram's input; returns it as float32.

    >>> check_histogram_input("h", [1, 2], bins=10).dtype
    dtype('float32')
    """
    _checked_tag(tag)
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an int >= 1, got {bins!r}")
    return float32_array(values, f"histogram {tag!r}")


def image_value(tag: str, image: np.ndarray, text: dict[str, str] | None = None) -> Value:
    """A PNG image in TensorBoard's own image format: ``[width, height, png]`` strings.

    ``text`` goes into the PNG as ``tEXt`` chunks (see ``encode_png``).

    >>> image_value("img", np.zeros((2, 3), np.uint8)).tensor.string_val[:2]
    [b'3', b'2']
    """
    image = np.asarray(image)
    png = encode_png(image, text)
    md = image_metadata.create_summary_metadata(display_name=_checked_tag(tag), description="")
    md.data_class = summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
        string_val=[str(image.shape[1]).encode(), str(image.shape[0]).encode(), png],
    )
    return Value(tag=tag, metadata=md, tensor=tensor)


def feature_maps_value(layer: str, maps: np.ndarray, max_channels: int = 16) -> Value:
    """The ``netviz/feature_maps/<layer>`` RGB image of one sample's channels (see ``feature_map_grid``).

    The PNG carries the grid's ``feature_map_layout`` as JSON under ``LAYOUT_KEYWORD``.

    >>> feature_maps_value("conv1", np.random.rand(4, 5, 5)).tag
    'netviz/feature_maps/conv1'
    """
    grid = feature_map_grid(maps, max_channels)
    layout = json.dumps(feature_map_layout(maps, max_channels), separators=(",", ":"))
    return image_value(metadata.feature_maps_tag(layer), grid, {LAYOUT_KEYWORD: layout})


def _layer_table(
    kind: str, tag: str, layers: Sequence[str], values: np.ndarray, stats: Sequence[str], content: dict
) -> Value:
    layers = _checked_names(layers, "layers")
    stats = _checked_names(stats, "stats")
    values = float32_array(values, f"{kind} values")
    if values.shape != (len(layers), len(stats)):
        raise ValueError(
            f"{kind} values must have shape (layers, stats) = ({len(layers)}, {len(stats)}), "
            f"got {values.shape}"
        )
    return _float_tensor_value(tag, _table_metadata(kind, tuple(layers), tuple(stats), content), values)


def _table_metadata(
    kind: str, layers: tuple[str, ...], stats: tuple[str, ...], content: dict
) -> summary_pb2.SummaryMetadata:
    # A callback logs the same layers at every step: build the (large) JSON once.
    try:
        key = (kind, layers, stats, json.dumps(content, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError):
        key = None  # not JSON: create_summary_metadata raises the clear error
    if key is None:
        return metadata.create_summary_metadata(kind, layers=list(layers), stats=list(stats), **content)
    return _cached_table_metadata(*key)


@functools.lru_cache(maxsize=16)
def _cached_table_metadata(
    kind: str, layers: tuple[str, ...], stats: tuple[str, ...], content_json: str
) -> summary_pb2.SummaryMetadata:
    content = json.loads(content_json)
    return metadata.create_summary_metadata(kind, layers=list(layers), stats=list(stats), **content)


def float32_array(values: Any, what: str) -> np.ndarray:
    """``values`` as a float32 array (no copy if it already is one); ``what`` names it in errors.

    Raises TypeError for a non-numeric dtype (strings, objects, complex) and
    ValueError for an empty array.

    >>> float32_array([1, 2], "counts").dtype
    dtype('float32')
    """
    try:
        array = np.asarray(values)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{what} must be a rectangular numeric array: {error}") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating)
        or np.issubdtype(array.dtype, np.integer)
        or array.dtype == np.bool_
    ):
        raise TypeError(f"{what} must be numeric, got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{what} must not be empty, got shape {array.shape}")
    with np.errstate(over="ignore"):  # beyond float32's range is stored as +-Inf, faithfully
        return array.astype(np.float32, copy=False)


def float_tensor_value(tag: str, md: summary_pb2.SummaryMetadata, array: np.ndarray) -> Value:
    """A float32 tensor value of ``array`` under ``tag`` with metadata ``md`` (for the views' modules).

    >>> md = metadata.create_summary_metadata("alerts")
    >>> float_tensor_value("netviz/x", md, np.zeros((2, 3))).tensor.tensor_shape.dim[1].size
    3
    """
    return _float_tensor_value(tag, md, array)


def _float_tensor_value(tag: str, md: summary_pb2.SummaryMetadata, array: np.ndarray) -> Value:
    # Filled in place: passing a built TensorProto to Value(tensor=...) copies its
    # bytes once more, a cost that matters for megabyte attention matrices.
    array = np.ascontiguousarray(array, dtype="<f4")
    value = Value(tag=tag, metadata=md)
    value.tensor.dtype = types_pb2.DT_FLOAT
    for size in array.shape:
        value.tensor.tensor_shape.dim.add(size=size)
    value.tensor.tensor_content = array.tobytes()
    return value


def _checked_names(names: Sequence[str], what: str) -> list[str]:
    if isinstance(names, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of names, not a single string")
    names = list(names)
    if not names:
        raise ValueError(f"{what} must not be empty")
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"every entry of {what} must be a non-empty str, got {name!r}")
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{what} must be unique; repeated: {duplicates}")
    return names


def _checked_tag(tag: str) -> str:
    if not isinstance(tag, str) or not tag:
        raise TypeError(f"a tag must be a non-empty str, got {tag!r}")
    return tag


def _token_fields(tokens: Any, queries: int, keys: int) -> dict[str, list[str]]:
    if _is_token_pair(tokens):
        query_tokens, key_tokens = _labels(tokens[0], "query tokens"), _labels(tokens[1], "key tokens")
    else:
        query_tokens = key_tokens = _labels(tokens, "tokens")
    if len(query_tokens) != queries or len(key_tokens) != keys:
        raise ValueError(
            f"tokens label {len(query_tokens)} queries and {len(key_tokens)} keys, "
            f"but the attention matrix has {queries} queries and {keys} keys"
        )
    if query_tokens == key_tokens:
        return {"tokens": query_tokens}
    return {"query_tokens": query_tokens, "key_tokens": key_tokens}


def _is_token_pair(tokens: Any) -> bool:
    return (
        isinstance(tokens, (tuple, list))
        and len(tokens) == 2
        and all(_is_label_sequence(part) for part in tokens)
    )


def _is_label_sequence(part: Any) -> bool:
    return not isinstance(part, (str, bytes)) and hasattr(part, "__len__") and hasattr(part, "__iter__")


def _labels(tokens: Any, what: str) -> list[str]:
    if isinstance(tokens, (str, bytes)) or not _is_label_sequence(tokens):
        raise TypeError(f"{what} must be a sequence of labels, got {type(tokens).__name__} {tokens!r:.60}")
    return [str(t) for t in tokens]
