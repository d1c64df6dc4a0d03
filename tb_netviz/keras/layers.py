"""Which Keras layers get a row, what they are called, and temporary per-instance overrides.

A *layer* is a Keras layer that owns trainable weights directly, not only
through sublayers (a ``Dense`` inside a ``MultiHeadAttention`` is a layer; the
attention layer itself is not). Its name is its Keras 3 ``layer.path`` relative
to the model: the model's own path prefix is removed, so a ``Dense`` named
``dense`` inside a ``Sequential`` named ``head`` is ``head/dense`` whatever the
model style. Weights created on the model itself belong to a row named after the model.

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc"),
    ...                           keras.layers.Dropout(0.1), keras.layers.Dense(1, name="out")])
    >>> [layer.name for layer in weight_layers(model)]
    ['fc', 'out']
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras

_MISSING = object()

Interceptor = Callable[[keras.layers.Layer, Callable[..., Any], tuple, dict], Any]


class WeightLayer:
    """One row of the netviz tables: a Keras layer and its own trainable weights.

    Example:
        >>> import keras
        >>> dense = keras.layers.Dense(2, name="fc")
        >>> dense.build((None, 3))
        >>> WeightLayer("fc", dense).parameter_count
        8
    """

    def __init__(self, name: str, layer: keras.layers.Layer) -> None:
        self.name = name
        self.layer = layer
        # Declared-trainable weights, also those of a frozen layer: a frozen layer
        # keeps its row and shows "no gradient", as a frozen torch module does.
        self.variables = _declared_trainable(layer)

    @property
    def parameter_count(self) -> int:
        """Number of scalar weights the layer owns directly."""
        total = 0
        for variable in self.variables:
            size = 1
            for dim in variable.shape:
                size *= int(dim)
            total += size
        return total

    def __repr__(self) -> str:
        return f"WeightLayer({self.name!r})"


def weight_layers(model: keras.Model) -> list[WeightLayer]:
    """The layers of ``model`` that own trainable weights directly, depth-first in tracking order.

    Tracking order is the order of ``model.layers`` for Sequential and Functional
    models (already the data-flow order) and attribute order for subclassed
    models; ``GradientCapture`` reorders rows by first-call order once the
    training step has been traced.
    """
    found = []
    for layer in [model, *_descendants(model)]:
        if _declared_trainable(layer):
            found.append(WeightLayer(layer_name(layer, model), layer))
    return found


def attention_layers(model: keras.Model) -> list[tuple[str, keras.layers.MultiHeadAttention]]:
    """Every ``MultiHeadAttention`` inside ``model`` with its name, wherever it sits."""
    return [
        (layer_name(layer, model), layer)
        for layer in _descendants(model)
        if isinstance(layer, keras.layers.MultiHeadAttention)
    ]


def layer_name(layer: keras.layers.Layer, model: keras.Model) -> str:
    """The layer's path relative to ``model`` (``head/dense``), or the model's name for itself."""
    if layer is model:
        return model.name
    path = layer.path or layer.name
    root = model.path or model.name
    if path.startswith(root + "/"):
        path = path[len(root) + 1 :]
    return path


def sublayers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer inside ``model`` (input layers included), depth-first in tracking order, each once.

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="fc")])
    >>> [type(layer).__name__ for layer in sublayers(model)]
    ['InputLayer', 'Dense']
    """
    return _descendants(model)


def _descendants(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    seen: set[int] = set()
    ordered: list[keras.layers.Layer] = []

    def visit(parent: keras.layers.Layer) -> None:
        for child in getattr(parent, "_layers", []):
            if id(child) not in seen:
                seen.add(id(child))
                ordered.append(child)
                visit(child)

    visit(layer)
    return ordered


def _declared_trainable(layer: keras.layers.Layer) -> list[Any]:
    # Keras 3 keeps a layer's own weights apart from its sublayers' and keeps a
    # frozen layer's weights in this list (only their ``trainable`` flag changes).
    return list(getattr(layer, "_trainable_variables", []))


@contextlib.contextmanager
def instance_override(obj: Any, name: str, value: Any) -> Iterator[None]:
    """Set ``obj.<name>`` on the instance only, and restore exactly what was there on exit.

    Bypasses Keras attribute tracking so that the object's tracked state never
    sees the override; an attribute that was absent from the instance is deleted again.
    """
    previous = obj.__dict__.get(name, _MISSING)
    object.__setattr__(obj, name, value)
    try:
        yield
    finally:
        if previous is _MISSING:
            object.__delattr__(obj, name)
        else:
            object.__setattr__(obj, name, previous)


@contextlib.contextmanager
def intercepting_calls(layers: Sequence[keras.layers.Layer], interceptor: Interceptor) -> Iterator[None]:
    """While active, a call of one of ``layers`` runs ``interceptor(layer, call, args, kwargs)``.

    ``call`` is the layer's own ``call``; the interceptor runs it and returns
    what the caller should get. Only the instances' ``call`` attributes change,
    and they are restored exactly on exit.
    """
    with contextlib.ExitStack() as stack:
        for layer in layers:
            stack.enter_context(instance_override(layer, "call", _intercepted(layer, interceptor)))
        yield


def _intercepted(layer: keras.layers.Layer, interceptor: Interceptor) -> Callable[..., Any]:
    original = layer.call

    def call(*args: Any, **kwargs: Any) -> Any:
        return interceptor(layer, original, args, kwargs)

    return call
