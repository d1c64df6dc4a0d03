"""The per-layer statistic columns and the layer naming rule, shared by Keras and torch.

Columns may be appended within a format version but never renamed or reordered:
the plugin and the dashboard find a statistic by its name in the ``stats`` list
of the metadata, and old logs must keep reading.

Example:
    >>> GRADIENT_STATS.index("grad_l2")
    0
    >>> describe_missing_gradient()[GRADIENT_STATS.index("has_grad")]
    0.0
"""

from __future__ import annotations

import math

# One row per layer of the ``netviz/gradient_flow`` tensor.
#   grad_l2        L2 norm of all gradient entries of the layer's own parameters
#   grad_mean_abs  mean |g| over those entries
#   grad_max_abs   max |g|
#   param_l2       L2 norm of the layer's own parameters
#   grad_to_param  grad_l2 / param_l2 (the size of an SGD step relative to the weights)
#   grad_nonfinite number of NaN or Inf gradient entries
#   has_grad       1 if any parameter of the layer received a gradient at this step, else 0
GRADIENT_STATS: tuple[str, ...] = (
    "grad_l2",
    "grad_mean_abs",
    "grad_max_abs",
    "param_l2",
    "grad_to_param",
    "grad_nonfinite",
    "has_grad",
)

# One row per layer of the ``netviz/activations`` tensor, computed on the probe batch.
#   act_mean, act_std   mean and population standard deviation (divide by n, not n - 1)
#                       of the FINITE output entries; NaN if there is none
#   act_zero_frac       fraction of all output entries that are exactly zero
#   act_dead_frac       fraction of units (channels / features) that are zero for every
#                       sample and position of the probe batch: dead ReLUs
#   act_max_abs         max |x| over the finite entries; NaN if there is none
#   act_nonfinite       number of NaN or Inf output entries
# Both frameworks follow these definitions exactly (tests compare against numpy references).
ACTIVATION_STATS: tuple[str, ...] = (
    "act_mean",
    "act_std",
    "act_zero_frac",
    "act_dead_frac",
    "act_max_abs",
    "act_nonfinite",
)

LAYER_NAMING_RULE = (
    "A layer is a module (torch) or layer (Keras) that owns trainable parameters directly, "
    "not only through children. Its name is the framework's qualified name: torch "
    "`named_modules()` names such as `features.0`; Keras layer paths such as `dense_1`. "
    "Rows are in forward (data-flow) order."
)


def describe_missing_gradient() -> list[float]:
    """The gradient row of a layer that received no gradient at a step.

    Gradient statistics are NaN (unknown, not zero), ``grad_nonfinite`` is 0
    and ``has_grad`` is 0, so readers tell "no gradient" apart from a zero
    gradient (has_grad 1, grad_l2 0) and from a non-finite one (has_grad 1,
    grad_nonfinite > 0). ``param_l2`` is left NaN here; callers that know it fill it in.
    """
    row = [math.nan] * len(GRADIENT_STATS)
    row[GRADIENT_STATS.index("grad_nonfinite")] = 0.0
    row[GRADIENT_STATS.index("has_grad")] = 0.0
    return row
