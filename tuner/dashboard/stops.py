"""What a training job's stop reason means, in words a person reads on its page.

A training job stopped early is not a failure: the coordinator stored the stopping rule's
:class:`~strategies.base.StopDecision` reason as its ``failure_reason``, and the trial page
should say which rule stopped it, at which epoch, and the value that was compared, instead of
showing a red "Failure reason" box. The rules' reasons are sentences meant for people
(``strategies`` says they are never parsed by the engine); this module reads them back
on a best-effort basis and falls back to the sentence itself for anything it does not know:

* median rule: ``early stopping: worse than the median of previous training jobs after N
  reports; value V against M``: the N-th objective report is looked up to name its epoch and
  value; M is the median it was compared with (the coordinator appends it; older databases
  lack it and the note says so rather than recomputing it from trials that may have finished
  after the decision).
* Hyperband: ``Hyperband: not in the top 1/ETA of its bracket at rung R; value V against C``:
  rung R is the R-th report, C the bracket's cutoff at that rung.
* ``tuning job ended: ...`` and ``MaxRuntimeExceeded: ...``: stopped by the job, not a rule.
"""

from __future__ import annotations

import re
from typing import Any

from tuner.reports.report import fmt_number

_MEDIAN = re.compile(
    r"early stopping: worse than the median of previous training jobs after (\d+) reports?"
)
_HYPERBAND = re.compile(r"Hyperband: not in the top 1/(\d+) of its bracket at rung (\d+)")
_MAX_RESOURCE = re.compile(r"Hyperband: MaxResource \((\d+)\) reached")
_COMPARED = re.compile(r"; value (\S+) against (\S+)$")


def stop_report(reason: str | None) -> int | None:
    """The 1-based report at which a stopping rule decided, if ``reason`` names one."""
    for pattern, group in ((_MEDIAN, 1), (_HYPERBAND, 2), (_MAX_RESOURCE, 1)):
        match = pattern.search(reason or "")
        if match:
            return int(match.group(group))
    return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe_stop(
    reason: str | None,
    metric: str,
    report: tuple[int, float | None] | None,
    bracket: int | None = None,
) -> dict[str, Any]:
    """A neutral note on why a training job was stopped.

    Args:
        reason: The stored stop reason.
        metric: The objective metric's name.
        report: (epoch, value) of the objective report the rule decided on, when the reason
            names one and the training job reported it.
        bracket: The training job's Hyperband bracket.

    Returns:
        ``Rule`` (None when the reason names no stopping rule), ``Report``, ``Epoch``,
        ``Value``, ``Text`` (one sentence or two) and the stored ``Reason`` itself.
    """
    raw = reason or ""
    at = stop_report(raw)
    epoch, value = report if report is not None else (None, None)
    rule = "Hyperband" if raw.startswith("Hyperband") else None
    if _MEDIAN.search(raw):
        rule = "median stopping rule"
    return {
        "Rule": rule,
        "Report": at,
        "Epoch": epoch,
        "Value": value,
        "Text": _stop_text(raw, metric, _where(at, epoch), value, bracket),
        "Reason": raw,
    }


def _threshold(raw: str) -> str | None:
    """The median or cutoff the rule compared with, when the reason records it (the
    coordinator appends "; value V against T" since the rules pass what they compared)."""
    match = _COMPARED.search(raw)
    return fmt_number(float(match.group(2)), 6) if match else None


def _stop_text(raw: str, metric: str, where: str, value: float | None, bracket: int | None) -> str:
    """One or two sentences: the rule, where it decided, what it compared, what is unknown."""
    shown = f"{metric} was {fmt_number(value, 6)}" if value is not None else None
    threshold = _threshold(raw)
    if _MEDIAN.search(raw):
        compared = f"{shown}, worse than" if shown else f"its {metric} was worse than"
        median = (
            f"That median was {threshold}." if threshold else "The median itself is not recorded."
        )
        return (
            f"Stopped early by the median stopping rule {where}: {compared} the median of "
            f"the running averages of earlier finished training jobs at that report. {median}"
        )
    if match := _HYPERBAND.search(raw):
        of = f"bracket {bracket}" if bracket is not None else "its bracket"
        cutoff = (
            f"The cutoff was {threshold}." if threshold else "The cutoff itself is not recorded."
        )
        return (
            f"Stopped early by Hyperband {where}: {shown or 'its ' + metric}, not in the top "
            f"1/{match.group(1)} of {of} at that rung. {cutoff}"
        )
    if _MAX_RESOURCE.search(raw):
        return f"Hyperband ended it {where}: it had used its whole budget ({raw})."
    if raw.startswith("tuning job ended"):
        return f"Stopped because the {raw}."
    return f"Stopped: {raw}" if raw else "Stopped; no reason was recorded."


def _where(at: int | None, epoch: int | None) -> str:
    if at is None:
        return ""
    if epoch is None:
        return f"at its {_ordinal(at)} report"
    if epoch == at:
        return f"at epoch {epoch}"
    # The rules count reports; an algorithm may number its epochs otherwise.
    return f"at epoch {epoch} (its {_ordinal(at)} report)"
