"""How numbers and names read in a terminal: one rule for every command that shows them.

A person compares values across ``tuner run``, ``describe``, ``trials``, ``best`` and
``report``; if one prints ``0.973684`` and another ``0.9736842105263158`` (or a hyperparameter
as the 17-digit string AMT stores), they look like different numbers. So every human-facing
number goes through :func:`format_number`: :data:`SIGNIFICANT_DIGITS` significant digits, as
Python's ``{:.6g}`` writes them, which is also what the dashboard's ``fmtValue`` (JavaScript)
reproduces. Machine-facing output (TSV, JSON) keeps whole values and does not use this module.
"""

from __future__ import annotations

import math

#: Significant digits of every number a person reads (the dashboard's ``.6g`` too).
SIGNIFICANT_DIGITS = 6

#: What an absent value reads as in a table.
MISSING = "-"


def format_number(value: float | int | None, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` to ``digits`` significant digits (``0.973684``, ``1.23457e-05``); integers whole.

    Integers (and bools) are never rounded: a ``max_depth`` of 1234567 is not ``1.23457e+06``.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.{digits}g}"


def format_hyperparameter(value: object, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A hyperparameter as AMT stores it (a string) for a person: a number rounded like
    :func:`format_number`, an integer or a categorical value as given."""
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and not any(c in text for c in ".eE"):
        return text
    return format_number(number, digits)


def trial_number_text(number: int) -> str:
    """The distinguishing part of a training job name (``<job>-<NNN>-<hash>``): its number,
    zero-padded to three digits as in the name, so ``007`` can be found in ``--format tsv``."""
    return f"{number:03d}"


def cell_text(value: object) -> str:
    """A value for one TSV cell: whole, with tabs and line breaks turned into spaces."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return " ".join(str(value).replace("\t", " ").splitlines())
