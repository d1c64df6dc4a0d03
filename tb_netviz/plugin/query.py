"""Query-string parameters, checked: a bad or missing one raises ``InvalidArgumentError`` naming it.

Example:
    >>> from werkzeug.datastructures import MultiDict
    >>> from tensorboard import errors
    >>> optional_int(MultiDict({"max_steps": "20"}), "max_steps", default=500, low=1, high=10_000)
    20
    >>> try:
    ...     optional_int(MultiDict({"max_steps": "0"}), "max_steps", default=500, low=1, high=10_000)
    ... except errors.InvalidArgumentError as error:
    ...     print(error)
    Invalid argument: parameter 'max_steps' must be between 1 and 10000, got '0'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tensorboard import errors

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


def required_text(args: Mapping[str, str], name: str) -> str:
    """The non-empty value of parameter ``name``.

    >>> required_text({"run": "exp1"}, "run")
    'exp1'
    """
    value = args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgumentError(f"missing parameter {name!r}")
    return value


def optional_int(
    args: Mapping[str, str],
    name: str,
    default: int | None = None,
    low: int = INT64_MIN,
    high: int = INT64_MAX,
) -> int | None:
    """The integer value of parameter ``name`` within ``[low, high]``, or ``default`` if absent.

    >>> optional_int({}, "step") is None
    True
    """
    text = args.get(name)
    if text is None:
        return default
    if not _INTEGER.fullmatch(text):
        raise errors.InvalidArgumentError(f"parameter {name!r} must be an integer, got {_shown(text)}")
    value = int(text)
    if not low <= value <= high:
        raise errors.InvalidArgumentError(
            f"parameter {name!r} must be between {low} and {high}, got {_shown(text)}"
        )
    return value


def optional_names(
    args: Mapping[str, str], name: str, allowed: Sequence[str], what: str = "names"
) -> list[str]:
    """The comma-separated names of parameter ``name`` in the order given, repeats dropped.

    All of ``allowed`` if the parameter is absent. Unknown or empty names
    raise, naming the parameter, the unknown ``what`` (e.g. "columns") and
    what is allowed.

    >>> optional_names({"stats": "grad_l2,has_grad"}, "stats", ["grad_l2", "param_l2", "has_grad"])
    ['grad_l2', 'has_grad']
    """
    text = args.get(name)
    if text is None:
        return list(allowed)
    names = text.split(",")
    known = set(allowed)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise errors.InvalidArgumentError(
            f"parameter {name!r} names unknown {what} {_shown(','.join(unknown))}; "
            f"known: {_shown(','.join(allowed), limit=200)}"
        )
    return list(dict.fromkeys(names))


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
