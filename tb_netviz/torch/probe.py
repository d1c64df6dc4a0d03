"""The sample pass: one forward of ``sample_batch`` that records what the views need.

Activation statistics describe each layer's output, or, when that output goes
straight into an activation (an ``nn.ReLU``, ``nn.GELU``... module, see
``ACTIVATION_MODULES``, or a function such as ``F.relu``, ``torch.tanh`` or
``x.relu()`` called in ``forward``, see ``ACTIVATION_FUNCTIONS``), the
activation's output: a dead ReLU unit then shows as a dead unit. Functions are
seen through a ``TorchFunctionMode`` that exists only during the pass.
Feature maps are the conv layer's own output.

It runs in eval mode under ``torch.no_grad()`` with the MultiheadAttention fast
path off (the fused kernel skips the submodules and returns no weights), and
afterwards puts back every module's own training flag, the torch RNG states
(CPU and every initialised CUDA device), the fast-path setting and
``torch.nn.functional.scaled_dot_product_attention``. Its hooks exist only
during the pass: when it returns, the model has exactly the hooks it had.

The batch is called as ``model(x)`` for a tensor, ``model(*x)`` for a tuple or
list and ``model(**x)`` for a dict, after moving its tensors to the model's device.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from tb_netviz.torch.layers import discover_layers
    >>> model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).train()
    >>> layers = discover_layers(model)
    >>> result = run_probe(model, torch.ones(3, 4), ProbeRequest(activations=layers))
    >>> sorted(result.activations), model.training
    (['0', '2'], True)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tb_netviz.torch.activation_stats import activation_row, output_tensor
from tb_netviz.torch.attention import AttentionRecorder
from tb_netviz.torch.layers import Layer

# Parameterless activation modules: a layer whose output goes straight into one of
# these is described after it (as Keras describes ``Dense(activation=...)``), so
# that dead ReLUs show as dead units.
ACTIVATION_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Threshold,
    nn.LogSigmoid,
    nn.Tanhshrink,
)


_functional = torch.nn.functional
# Elementwise activations called as functions; the first argument is the input.
ACTIVATION_FUNCTIONS = frozenset(
    {
        _functional.relu,
        _functional.relu_,
        _functional.relu6,
        _functional.leaky_relu,
        _functional.leaky_relu_,
        _functional.elu,
        _functional.elu_,
        _functional.selu,
        _functional.celu,
        _functional.gelu,
        _functional.silu,
        _functional.mish,
        _functional.hardswish,
        _functional.hardsigmoid,
        _functional.hardtanh,
        _functional.hardtanh_,
        _functional.sigmoid,
        _functional.tanh,
        _functional.softplus,
        _functional.softsign,
        _functional.threshold,
        _functional.logsigmoid,
        _functional.tanhshrink,
        torch.relu,
        torch.relu_,
        torch.sigmoid,
        torch.sigmoid_,
        torch.tanh,
        torch.tanh_,
        torch.Tensor.relu,
        torch.Tensor.relu_,
        torch.Tensor.sigmoid,
        torch.Tensor.sigmoid_,
        torch.Tensor.tanh,
        torch.Tensor.tanh_,
    }
)


class SampleBatchError(ValueError):
    """``sample_batch`` cannot be run through the model."""


@dataclasses.dataclass
class ProbeRequest:
    """What one sample pass records.

    Args:
        activations: layers whose output statistics are wanted.
        feature_maps: conv layers whose first-sample output is wanted.
        attention: module -> layer name, for attention matrices.
        max_channels: channels kept per feature map.
        max_heads: heads kept per attention layer.
        keep_outputs: also return whole outputs of ``activations`` layers (histograms).
        model_modules: the model's modules, searched for activation modules.
        embedding: a module whose first ``embedding_of`` ("input" or "output") is kept.
        keep_prediction: also return the model's output (the predicted classes of the embedding).
    """

    activations: Sequence[Layer] = ()
    feature_maps: Sequence[Layer] = ()
    attention: dict[nn.Module, str] = dataclasses.field(default_factory=dict)
    max_channels: int = 16
    max_heads: int | None = None
    keep_outputs: bool = False
    model_modules: Sequence[nn.Module] = ()
    embedding: nn.Module | None = None
    embedding_of: str = "output"
    keep_prediction: bool = False


@dataclasses.dataclass
class ProbeResult:
    """What one sample pass recorded (device tensors)."""

    activations: dict[str, torch.Tensor]
    feature_maps: dict[str, torch.Tensor]
    attention: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]
    entered: list[nn.Module]
    sdpa_callers: list[nn.Module]
    embedding: Any = None
    prediction: Any = None


def run_probe(
    model: nn.Module,
    batch: Any,
    request: ProbeRequest,
    forward_context: Callable[[], AbstractContextManager] = contextlib.nullcontext,
) -> ProbeResult:
    """Run ``batch`` through ``model`` once and record what ``request`` asks for.

    Raises:
        SampleBatchError: the model raised on the batch (the original error is chained).
    """
    result = ProbeResult({}, {}, {}, {}, [], [])
    stack: list[nn.Module] = []
    recorder = AttentionRecorder(request.attention, lambda: stack[-1] if stack else None, request.max_heads)
    hooks: list[Any] = []
    with _sample_mode(model), _removed_after(hooks):
        _track_modules(model, stack, result.entered, hooks)
        output_recorder = _record_outputs(request, result, hooks)
        recorder.attach(hooks)
        _record_embedding(request, result, hooks)
        functions = (
            _FunctionalActivations(output_recorder) if request.activations else contextlib.nullcontext()
        )
        with _sdpa_wrapped(recorder), functions, forward_context():
            try:
                output = call_model(model, to_device(batch, _device_of(model)))
            except Exception as error:
                raise SampleBatchError(
                    f"sample_batch cannot be run through {type(model).__name__}: "
                    f"{type(error).__name__}: {error}. Pass an input its forward accepts "
                    "(a tensor is called as model(x), a tuple as model(*x), a dict as model(**x))"
                ) from error
    if request.keep_prediction:
        result.prediction = output
    result.attention = recorder.weights
    result.sdpa_callers = recorder.sdpa_callers
    return result


def call_model(model: nn.Module, batch: Any) -> Any:
    """Call ``model`` on ``batch``: ``model(x)``, ``model(*x)`` or ``model(**x)``."""
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def to_device(batch: Any, device: torch.device | None) -> Any:
    """``batch`` with every tensor moved to ``device`` (containers rebuilt, not changed)."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(value, device) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def first_sample(batch: Any) -> Any:
    """The first sample of ``batch``: index 0 of every tensor in it."""
    if isinstance(batch, torch.Tensor):
        return batch[0] if batch.dim() else batch
    if isinstance(batch, dict):
        return {key: first_sample(value) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(first_sample(value) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(first_sample(value) for value in batch)
    return batch


def batch_size(batch: Any) -> int | None:
    """The number of samples in ``batch``: dim 0 of its first tensor (None if it holds none).

    >>> batch_size({"ids": torch.zeros(3, 7, dtype=torch.long)}), batch_size(None)
    (3, None)
    """
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else None
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else ()
    for value in values:
        size = batch_size(value)
        if size is not None:
            return size
    return None


def _device_of(model: nn.Module) -> torch.device | None:
    for tensor in model.parameters():
        return tensor.device
    return None


def _track_modules(model: nn.Module, stack: list, entered: list, hooks: list) -> None:
    seen: set[int] = set()

    def enter(module: nn.Module, _args: Any) -> None:
        stack.append(module)
        if id(module) not in seen:
            seen.add(id(module))
            entered.append(module)

    def leave(module: nn.Module, _args: Any, _output: Any) -> None:
        if stack and stack[-1] is module:
            stack.pop()

    for module in model.modules():
        hooks.append(module.register_forward_pre_hook(enter))
        hooks.append(module.register_forward_hook(leave, always_call=True))


def _record_outputs(request: ProbeRequest, result: ProbeResult, hooks: list) -> _OutputRecorder:
    recorder = _OutputRecorder(request, result)
    for layer in request.activations:
        hooks.append(layer.module.register_forward_hook(recorder.statistics_hook(layer)))
    for layer in request.feature_maps:
        hooks.append(layer.module.register_forward_hook(recorder.feature_map_hook(layer)))
    if request.activations:
        for module in request.model_modules:
            if isinstance(module, ACTIVATION_MODULES):
                hooks.append(module.register_forward_hook(recorder.after_activation))
    return recorder


def _record_embedding(request: ProbeRequest, result: ProbeResult, hooks: list) -> None:
    """Keep the first input (or output) of ``request.embedding``, as it is (a check says if not a tensor)."""
    module = request.embedding
    if module is None:
        return
    seen = []

    def keep_input(_module: nn.Module, args: Any) -> None:
        if not seen:
            seen.append(True)
            result.embedding = _kept(args[0] if len(args) == 1 else args)

    def keep_output(_module: nn.Module, _args: Any, output: Any) -> None:
        if not seen:
            seen.append(True)
            result.embedding = _kept(output)

    if request.embedding_of == "input":
        hooks.append(module.register_forward_pre_hook(keep_input))
    else:
        hooks.append(module.register_forward_hook(keep_output))


def _kept(value: Any) -> Any:
    # A later in-place op of the forward must not change what was kept.
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


class _FunctionalActivations(TorchFunctionMode):
    """Hands the output of an ``ACTIVATION_FUNCTIONS`` call on a layer's output to the recorder."""

    def __init__(self, recorder: _OutputRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None):
        output = func(*args, **(kwargs or {}))
        if args and func in ACTIVATION_FUNCTIONS:
            self.recorder.after_activation(None, args, output)
        return output


class _OutputRecorder:
    """Layer outputs -> statistics; a following activation module replaces them by its output's."""

    def __init__(self, request: ProbeRequest, result: ProbeResult) -> None:
        self.request = request
        self.result = result
        self.produced: dict[int, tuple[torch.Tensor, Layer]] = {}
        self.activated: set[str] = set()

    def statistics_hook(self, layer: Layer) -> Callable:
        def record(_module: nn.Module, _args: Any, output: Any) -> None:
            tensor = output_tensor(output)
            if tensor is not None and layer.name not in self.result.activations:
                self._describe(layer, tensor)
                self.produced[id(tensor)] = (tensor, layer)

        return record

    def feature_map_hook(self, layer: Layer) -> Callable:
        def record(_module: nn.Module, _args: Any, output: Any) -> None:
            tensor = output_tensor(output)
            if tensor is not None and tensor.dim() >= 3 and layer.name not in self.result.feature_maps:
                maps = tensor[0, : self.request.max_channels]
                self.result.feature_maps[layer.name] = maps.detach().clone()

        return record

    def after_activation(self, _module: nn.Module | None, args: Any, output: Any) -> None:
        source = self.produced.get(id(args[0])) if args else None
        tensor = output_tensor(output)
        if source is None or tensor is None or source[1].name in self.activated:
            return
        self.activated.add(source[1].name)
        self._describe(source[1], tensor)

    def _describe(self, layer: Layer, tensor: torch.Tensor) -> None:
        self.result.activations[layer.name] = activation_row(tensor, layer.units_dim)
        if self.request.keep_outputs:
            self.result.outputs[layer.name] = tensor.detach().clone()


@contextlib.contextmanager
def _sample_mode(model: nn.Module) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    fast_path = torch.backends.mha.get_fastpath_enabled()
    try:
        model.eval()
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        torch.backends.mha.set_fastpath_enabled(fast_path)


@contextlib.contextmanager
def _removed_after(hooks: list) -> Iterator[None]:
    try:
        yield
    finally:
        for handle in hooks:
            handle.remove()
        hooks.clear()


@contextlib.contextmanager
def _sdpa_wrapped(recorder: AttentionRecorder) -> Iterator[None]:
    functional = torch.nn.functional
    original = functional.scaled_dot_product_attention
    functional.scaled_dot_product_attention = recorder.wrap_sdpa(original)
    try:
        yield
    finally:
        functional.scaled_dot_product_attention = original
