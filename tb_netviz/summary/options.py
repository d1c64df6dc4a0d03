"""Capture options shared by the Keras and torch callbacks: one name, one meaning.

``CaptureOptions`` defines them; every callback takes them as keyword arguments
(``**capture_options``, typed by ``CaptureOptionKwargs``), builds them with
``CaptureOptions.from_kwargs`` and documents them with ``documents_capture_options``.

Example:
    >>> options = CaptureOptions(log_every_n_steps=5, layers=["encoder.*", "!encoder.norm"])
    >>> options.select_layers(["encoder.fc", "encoder.norm", "head"])
    ['encoder.fc']
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Callable, Sequence
from typing import Any, TypedDict, TypeVar

from tb_netviz.summary.alerts import AlertThresholds
from tb_netviz.summary.gradcam import check_target
from tb_netviz.summary.metadata import ALERT_THRESHOLDS_KEY
from tb_netviz.summary.weights import DEFAULT_WEIGHT_BUDGET_BYTES, choose_within_budget

# The Args entries of the options, written once: ``documents_capture_options`` puts them
# in the docstring of ``CaptureOptions`` and of every callback, at its ``{capture_options}`` line.
CAPTURE_OPTIONS_ARGS = """\
log_every_n_steps: log gradient flow every this many optimizer steps (default 10).
sample_every_n_steps: run the probe pass on ``sample_batch`` (activation
    statistics, feature maps, attention) every this many optimizer steps
    (default 100); it also runs at the first logged step and at the end of training.
layers: glob patterns over layer names choosing the layers of every view;
    a pattern starting with ``!`` excludes. None selects all layers.
    A pattern that matches no layer is an error (a typo must not silently log nothing).
max_channels: feature-map channels drawn per conv layer (default 16).
max_heads: attention heads written per layer (default 8; None for all).
tokens: labels of the sample's positions for the attention viewer: a list
    of strings, or a callable taking the first sample and returning one.
histograms: also write histograms of activations, weights and gradients
    to TensorBoard's Histograms tab (default False; they cost time and disk).
alert_thresholds: when alerts fire (default, or None: ``AlertThresholds()``).
weight_layers: glob patterns (``!`` excludes) over the convolution and
    dense/linear layers whose kernels or weight matrices are written at the
    sample steps (``netviz/weights/<layer>``). None (default): every one of
    them, in forward order, as long as they fit in ``weight_budget_bytes``
    (the rest are left out with a warning); ``[]`` writes none.
weight_budget_bytes: the most bytes of weight tensors (``w_t`` and ``w_t - w_0``,
    float32) written per sample step (default 1.5 MiB). A matrix larger than
    256 on a side is block pooled first, so no single layer needs more than 1 MiB.
embedding_layer: the layer whose output on the probe batch is projected
    (PCA 2/3-D, ``netviz/embedding/<layer>``). None (default): the input of the
    last dense/linear layer, i.e. the penultimate representation.
embedding: write the embedding projection at all (default True; it needs a
    probe batch of at least 2 samples).
projector: also export the embedding for TensorBoard's Projector tab
    (``projector_config.pbtxt`` in the run directory; default True).
gradcam: also write Grad-CAM maps of the probe batch at every sample step
    (default False; see ``tb_netviz.summary.gradcam``). It costs about one
    forward and backward pass of ``sample_batch`` per sample step.
gradcam_layers: glob patterns over module / layer names (any module, not only
    those with parameters; ``!`` excludes) choosing the layers that get maps.
    Default None: the last convolution-like layer the probe batch goes through.
gradcam_target: the class each map explains: ``"predicted"`` (default, each
    sample's highest-scoring class), ``"label"`` (its ``sample_labels`` entry)
    or one class index for every sample.
gradcam_reshape: for layers whose output has no spatial axes, such as a ViT
    block's tokens ``[N, tokens, C]``: a callable turning that output into a
    spatial one, ``[N, C, H, W]`` in torch, ``[N, H, W, C]`` in Keras (e.g. drop
    the class token and fold the rest into a square grid). It is applied to
    the output and to its gradient alike, so it must only select and
    rearrange entries (slice, reshape, permute), not compute new values."""

_Documented = TypeVar("_Documented")


def documents_capture_options(documented: _Documented) -> _Documented:
    """Class decorator: writes ``CAPTURE_OPTIONS_ARGS`` into the class docstring at the line
    that holds only ``{capture_options}``, indented as that line, so that ``help()`` lists
    every option of a callback that takes them as ``**capture_options``.

    >>> @documents_capture_options
    ... class Callback:
    ...     \"""Args:
    ...         {capture_options}
    ...     \"""
    >>> print(Callback.__doc__.splitlines()[1])
            log_every_n_steps: log gradient flow every this many optimizer steps (default 10).
    """
    if documented.__doc__:  # None under python -OO
        lines = []
        for line in documented.__doc__.splitlines():
            if line.strip() == "{capture_options}":
                indent = line[: len(line) - len(line.lstrip())]
                lines.extend(indent + entry for entry in CAPTURE_OPTIONS_ARGS.splitlines())
            else:
                lines.append(line)
        documented.__doc__ = "\n".join(lines)
    return documented


@documents_capture_options
@dataclasses.dataclass
class CaptureOptions:
    """What a netviz callback captures and how often.

    Args:
        {capture_options}

    Raises:
        ValueError: a count below 1 or an empty pattern.
        TypeError: an option of the wrong type.
    """

    log_every_n_steps: int = 10
    sample_every_n_steps: int = 100
    layers: Sequence[str] | None = None
    max_channels: int = 16
    max_heads: int | None = 8
    tokens: Sequence[str] | Callable[[Any], Sequence[str]] | None = None
    histograms: bool = False
    alert_thresholds: AlertThresholds = dataclasses.field(default_factory=AlertThresholds)
    weight_layers: Sequence[str] | None = None
    weight_budget_bytes: int = DEFAULT_WEIGHT_BUDGET_BYTES
    embedding_layer: str | None = None
    embedding: bool = True
    projector: bool = True

    gradcam: bool = False
    gradcam_layers: Sequence[str] | None = None
    gradcam_target: str | int = "predicted"
    gradcam_reshape: Callable[[Any], Any] | None = None

    @classmethod
    def from_kwargs(cls, taker: str, /, **capture_options: Any) -> CaptureOptions:
        """The options a callback took as ``**capture_options``; ``taker`` names the callback
        in the error for a name that is not an option.

        Raises:
            TypeError: an unknown option (the message names it, a close option name, and all
                of them), or an option of the wrong type.
            ValueError: an option out of range (see ``CaptureOptions``).

        >>> CaptureOptions.from_kwargs("NetViz", log_every_n_steps=5).log_every_n_steps
        5
        >>> try:
        ...     CaptureOptions.from_kwargs("NetViz", log_every_n_step=5)
        ... except TypeError as error:
        ...     print(str(error).split(";")[0])
        NetViz got unknown option(s) ['log_every_n_step'] (did you mean 'log_every_n_steps'?)
        """
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(capture_options) - set(names))
        if unknown:
            close = [match for name in unknown for match in difflib.get_close_matches(name, names, n=1)]
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise TypeError(
                f"{taker} got unknown option(s) {unknown}{hint}; the capture options are {', '.join(names)}"
            )
        return cls(**capture_options)

    def __post_init__(self) -> None:
        if self.alert_thresholds is None:
            self.alert_thresholds = AlertThresholds()
        self._check_gradcam()
        self._check_learned_options()
        for name in ("log_every_n_steps", "sample_every_n_steps", "max_channels"):
            _check_count(name, getattr(self, name))
        if self.max_heads is not None:
            _check_count("max_heads", self.max_heads)
        if self.layers is not None:
            if isinstance(self.layers, str):
                raise TypeError(f"layers must be a list of glob patterns, not the string {self.layers!r}")
            self.layers = list(self.layers)
            for pattern in self.layers:
                if not isinstance(pattern, str) or pattern.lstrip("!") == "":
                    raise ValueError(f"layers has an empty or non-string pattern: {pattern!r}")
        if self.tokens is not None and not callable(self.tokens):
            if isinstance(self.tokens, str):
                raise TypeError("tokens must be a list of strings or a callable, not a string")
            self.tokens = [str(t) for t in self.tokens]
        if not isinstance(self.histograms, bool):
            raise TypeError(f"histograms must be True or False, got {self.histograms!r}")
        if not isinstance(self.alert_thresholds, AlertThresholds):
            raise TypeError(
                f"alert_thresholds must be an AlertThresholds, got {type(self.alert_thresholds).__name__}"
            )

    def _check_learned_options(self) -> None:
        _check_count("weight_budget_bytes", self.weight_budget_bytes)
        if self.weight_layers is not None:
            given = self.weight_layers if isinstance(self.weight_layers, str) else list(self.weight_layers)
            self.weight_layers = _checked_patterns("weight_layers", given) if given else []
        if self.embedding_layer is not None and (
            not isinstance(self.embedding_layer, str) or not self.embedding_layer
        ):
            raise TypeError(
                f"embedding_layer must be a layer name (str) or None, got {self.embedding_layer!r}"
            )
        for name in ("embedding", "projector"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def select_weight_layers(self, sizes: dict[str, int]) -> tuple[list[str], list[str]]:
        """The weight layers written, and those the budget leaves out, from ``{name: bytes}``
        of every conv and dense layer in forward order.

        Raises:
            ValueError: a ``weight_layers`` pattern that matches none of them.

        >>> options = CaptureOptions(weight_budget_bytes=1000)
        >>> options.select_weight_layers({"conv": 400, "fc1": 900, "fc2": 80})
        (['conv', 'fc2'], ['fc1'])
        >>> chosen = CaptureOptions(weight_layers=["fc*", "!fc2"])
        >>> chosen.select_weight_layers({"conv": 4, "fc1": 9, "fc2": 8})
        (['fc1'], [])
        """
        names = list(sizes)
        if self.weight_layers is not None:
            names = _select(names, self.weight_layers, "weight_layers") if self.weight_layers else []
        return choose_within_budget({name: sizes[name] for name in names}, self.weight_budget_bytes)

    def select_layers(self, names: Sequence[str]) -> list[str]:
        """The names chosen by ``layers``, in the given order.

        Raises:
            ValueError: a pattern matches none of ``names`` (the message lists some names).
        """
        names = list(names)
        if self.layers is None:
            return names
        return _select(names, self.layers, "layer")

    def _check_gradcam(self) -> None:
        if not isinstance(self.gradcam, bool):
            raise TypeError(f"gradcam must be True or False, got {self.gradcam!r}")
        if self.gradcam_layers is not None:
            self.gradcam_layers = _checked_patterns("gradcam_layers", self.gradcam_layers)
        self.gradcam_target = check_target(self.gradcam_target)
        if self.gradcam_reshape is not None and not callable(self.gradcam_reshape):
            raise TypeError(f"gradcam_reshape must be a callable, got {type(self.gradcam_reshape).__name__}")
        given = [
            name
            for name, unset in (
                ("gradcam_layers", self.gradcam_layers is None),
                ("gradcam_target", self.gradcam_target == "predicted"),
                ("gradcam_reshape", self.gradcam_reshape is None),
            )
            if not unset
        ]
        if given and not self.gradcam:
            raise ValueError(f"{', '.join(given)} given but gradcam is False; pass gradcam=True to get maps")

    def select_gradcam_layers(self, names: Sequence[str], default: str | None) -> list[str]:
        """The Grad-CAM layers among ``names`` (all module names, in forward order).

        Without ``gradcam_layers`` it is ``[default]`` (the last convolution-like layer).

        Raises:
            ValueError: a pattern matching no name, or no pattern and no ``default``.

        >>> options = CaptureOptions(gradcam=True, gradcam_layers=["blocks.*", "!blocks.0"])
        >>> options.select_gradcam_layers(["stem", "blocks.0", "blocks.1", "head"], default="stem")
        ['blocks.1']
        """
        if self.gradcam_layers is None:
            if default is None:
                raise ValueError(
                    "gradcam=True but the model has no convolution-like layer to explain; name the "
                    "layers with gradcam_layers (a token layer also needs gradcam_reshape)"
                )
            return [default]
        return _select(names, self.gradcam_layers, "gradcam_layers")

    def is_gradient_step(self, step: int) -> bool:
        """Whether gradient flow is logged at optimizer step ``step`` (0-based)."""
        return step % self.log_every_n_steps == 0

    def is_sample_step(self, step: int) -> bool:
        """Whether the probe pass runs at optimizer step ``step`` (0-based)."""
        return step % self.sample_every_n_steps == 0

    def gradient_flow_content(self) -> dict[str, Any]:
        """What ``netviz/gradient_flow`` metadata says about these options: the logging
        interval and the alert thresholds in force, so that a dashboard draws the
        bands the run was checked against.

        >>> CaptureOptions(log_every_n_steps=5).gradient_flow_content()["alert_thresholds"]["patience"]
        3
        """
        return {"log_every_n_steps": self.log_every_n_steps, **self._thresholds_content()}

    def activations_content(self) -> dict[str, Any]:
        """What ``netviz/activations`` metadata says about these options (see ``gradient_flow_content``).

        >>> CaptureOptions(sample_every_n_steps=50).activations_content()["sample_every_n_steps"]
        50
        """
        return {"sample_every_n_steps": self.sample_every_n_steps, **self._thresholds_content()}

    def _thresholds_content(self) -> dict[str, Any]:
        return {ALERT_THRESHOLDS_KEY: dataclasses.asdict(self.alert_thresholds)}

    def tokens_for(self, sample: Any) -> list[str] | None:
        """The token labels for ``sample`` (the first sample of the probe batch)."""
        if self.tokens is None:
            return None
        labels = self.tokens(sample) if callable(self.tokens) else self.tokens
        return [str(t) for t in labels]


class CaptureOptionKwargs(TypedDict, total=False):
    """The fields of ``CaptureOptions`` as keyword arguments, for ``**capture_options:
    Unpack[CaptureOptionKwargs]`` in a callback's signature: IDEs and type checkers then
    complete and check every option name. A test keeps it equal to the fields.

    >>> given: CaptureOptionKwargs = {"log_every_n_steps": 5, "histograms": True}
    >>> CaptureOptions(**given).histograms
    True
    """

    log_every_n_steps: int
    sample_every_n_steps: int
    layers: Sequence[str] | None
    max_channels: int
    max_heads: int | None
    tokens: Sequence[str] | Callable[[Any], Sequence[str]] | None
    histograms: bool
    alert_thresholds: AlertThresholds | None
    weight_layers: Sequence[str] | None
    weight_budget_bytes: int
    embedding_layer: str | None
    embedding: bool
    projector: bool
    gradcam: bool
    gradcam_layers: Sequence[str] | None
    gradcam_target: str | int
    gradcam_reshape: Callable[[Any], Any] | None


def _select(names: Sequence[str], patterns: Sequence[str], what: str) -> list[str]:
    names = list(names)
    includes = [p for p in patterns if not p.startswith("!")]
    excludes = [p[1:] for p in patterns if p.startswith("!")]
    for pattern in includes + excludes:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise ValueError(f"{what} pattern {pattern!r} matches no layer; layers are: {shown}")
    return [
        name
        for name in names
        if (not includes or any(fnmatch.fnmatchcase(name, p) for p in includes))
        and not any(fnmatch.fnmatchcase(name, p) for p in excludes)
    ]


def _checked_patterns(option: str, patterns: Any) -> list[str]:
    if isinstance(patterns, str):
        raise TypeError(f"{option} must be a list of glob patterns, not the string {patterns!r}")
    patterns = list(patterns)
    for pattern in patterns:
        if not isinstance(pattern, str) or pattern.lstrip("!") == "":
            raise ValueError(f"{option} has an empty or non-string pattern: {pattern!r}")
    if not patterns:
        raise ValueError(f"{option} must name at least one pattern (None chooses the last conv layer)")
    return patterns


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


class AttentionLabels:
    """The ``tokens`` labels of the probe sample, matched to each attention matrix.

    The labels are computed once, from the first sample, the first time a
    matrix asks for them. A matrix whose queries and keys are not both as many
    as the labels (cross-attention, pooling) is written without labels, and
    ``warn(key, message)`` is called so the caller can say so once per layer.

    Example:
        >>> said = []
        >>> options = CaptureOptions(tokens=["a", "b"])
        >>> labels = AttentionLabels(options, lambda: None, lambda key, message: said.append(key))
        >>> labels.for_matrix("attn", 2, 2)
        ['a', 'b']
        >>> labels.for_matrix("cross", 2, 3) is None, said
        (True, ['tokens:cross'])
    """

    def __init__(
        self, options: CaptureOptions, first_sample: Callable[[], Any], warn: Callable[[str, str], None]
    ) -> None:
        self._options = options
        self._first_sample = first_sample
        self._warn = warn
        self._labels: list[str] | None = None

    def for_matrix(self, layer: str, queries: int, keys: int) -> list[str] | None:
        """The labels for a ``[heads, queries, keys]`` matrix of ``layer``, or None."""
        if self._options.tokens is None:
            return None
        if self._labels is None:
            self._labels = self._options.tokens_for(self._first_sample())
        if queries == keys == len(self._labels):
            return self._labels
        self._warn(
            f"tokens:{layer}",
            f"tb-netviz: tokens has {len(self._labels)} labels but the attention of layer {layer!r} "
            f"is {queries} queries x {keys} keys; it is written without labels",
        )
        return None
