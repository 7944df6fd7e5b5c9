"""A user's Python training function: shipping it to workers, and the values it receives.

The coordinator cloudpickles the function once per job; pools send the bytes to each worker
once (keyed by their hash). Built-in algorithms receive AMT's strings; a callable receives
typed values, which is what Python users expect from the Optuna and Ray Tune APIs.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

import cloudpickle

from strategies.space import SearchSpace

_TRUE = ("True", "true")
_FALSE = ("False", "false")


def pickle_callable(fn: Callable[..., Any]) -> bytes:
    """cloudpickle ``fn`` so a fresh worker interpreter can run it.

    Functions from ``__main__`` (scripts, ``python -c``, notebooks) and closures go by value
    anyway. A function from a module of the user's own (not installed in site-packages) goes by
    value too, because the worker may not be able to import that module (a test file, a module
    loaded from a path); installed packages go by reference, as usual.
    """
    module_name = getattr(fn, "__module__", None)
    module = sys.modules.get(module_name) if module_name else None
    if not _is_users_own(module) or module_name in cloudpickle.list_registry_pickle_by_value():
        return bytes(cloudpickle.dumps(fn))
    cloudpickle.register_pickle_by_value(module)
    try:
        return bytes(cloudpickle.dumps(fn))
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def _is_users_own(module: Any) -> bool:
    """True for a module loaded from a file outside the interpreter and site-packages."""
    if module is None or module.__name__ in ("__main__", "builtins"):
        return False
    file = getattr(module, "__file__", None) or ""
    return bool(file) and not (
        any(part in file for part in ("site-packages", "dist-packages"))
        or file.startswith(sys.base_prefix)
    )


def callable_hyperparameters(
    space: SearchSpace, hyperparameters: Mapping[str, str]
) -> dict[str, Any]:
    """Typed values for a Python callable: tuned ones by their range, the rest parsed as literals.

    Integer ranges give ``int``, continuous ones ``float``, categorical values stay strings
    unless they read as numbers; static values read as int, float or bool (``True``/``False``/
    ``true``/``false``) when they can, else stay strings. Built-in algorithms get AMT's strings.
    """
    out: dict[str, Any] = {}
    for name, raw in hyperparameters.items():
        rng = space.ranges.get(name)
        if rng is not None and rng.kind != "Categorical":
            out[name] = rng.cast(raw)
        else:
            out[name] = parse_literal(raw)
    return out


def parse_literal(raw: Any) -> Any:
    """``raw`` as a bool, int or finite float when the string reads as one, else unchanged."""
    if not isinstance(raw, str):
        return raw
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw
