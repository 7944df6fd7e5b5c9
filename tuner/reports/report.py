"""The report on one or more tuning jobs: its data and its one-line readings.

:func:`build_report` turns an :class:`~tuner.reports.analytics.AnalyticsSnapshot` into plain
JSON data (timestamps as ISO 8601 strings, no NaN), and everything else renders that data: the
terminal tables (:mod:`tuner.reports.terminal`), ``--json`` (the data itself) and the HTML page
(:mod:`tuner.reports.html`), so the three always agree. Keys:

``TuningJobNames``, ``Jobs`` (status, strategy and times of each), ``Objective``,
``TrainingJobStatusCounters`` and ``ObjectiveStatusCounters`` (summed over the jobs),
``NTrialsWithObjective``, ``BestTrainingJob`` (AMT's ``OverallBestTrainingJob`` when several
jobs are analysed; None when no training job has an objective value), ``TopTrainingJobs``,
``Comparison`` (which training jobs the effects and importance compare: ``Rule``
``full-budget`` / ``common-resource`` / ``last-value``, ``Resource`` the common epoch or None,
``Jobs`` compared ``Of`` those with an objective value, ``Completed``, ``Stopped`` and a
``Description``; see :mod:`tuner.reports.comparable`), ``Effects`` (one per tuned
hyperparameter, strongest first, with its importance and reading), ``Importance``, ``Summary``
(the readings in one line), ``Notes``, ``Thresholds`` and ``Sample`` (the compared training
jobs the importance model was fitted on: all of them, or a seeded sample of at most
:data:`~tuner.reports.sample.MAX_IMPORTANCE_JOBS` when there are more, see
:mod:`tuner.reports.sample`; None when nothing is tuned; :func:`sample_text` words it, and
every rendering states it).

The best and the top training jobs keep AMT's rule (the last reported value, stopped early or
not) over every training job; the effects, the importance and the readings use the compared
jobs only, the importance a sample of them when there are very many (``Sample``), the rank
correlations always every one of them (with fewer bootstrap resamples for rho's interval above
:data:`~tuner.reports.effects.BOOTSTRAP_BUDGET`, stated as ``BootstrapResamples``).

Readings. A strong or moderate monotone effect reads "lower eta is better" / "booster=gbtree
is best" ("tends to be" when moderate), where better follows the objective's direction (lower
for Minimize, higher for Maximize). A numeric parameter whose shape is nonmonotone (binned eta
squared well above rho^2, see :mod:`tuner.reports.effects`) reads "x matters, but not
monotonically: best near 1" (the centre of the best bin, 2 significant digits), never "higher
is better"; so does one that the importance model finds important (a conclusive share of at
least :data:`IMPORTANT_SHARE`) while its rank correlation is weak, or only moderate with the
best trials inside the range (:data:`INTERIOR`). Anything else "has little effect"; below
:data:`~tuner.reports.analytics.MIN_TRIALS` compared training jobs nothing is concluded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tuner.describe import amt_status, timestamp
from tuner.reports import comparable
from tuner.reports.analytics import AnalyticsSnapshot
from tuner.reports.effects import (
    ALPHA,
    MAX_BINS,
    MIN_MODEL_R2,
    MIN_TRIALS,
    MODERATE_ETA_SQUARED,
    MODERATE_RHO,
    N_BOOTSTRAP,
    NONMONOTONE_ETA_SQUARED,
    NONMONOTONE_MARGIN,
    STRONG_ETA_SQUARED,
    STRONG_RHO,
    TRIALS_PER_BIN,
    EffectStrength,
    ImportanceMethod,
    ParameterEffect,
    ParameterImportance,
    round_significant,
)
from tuner.reports.tuned_parameters import TunedParameter

#: A conclusive importance share above which a weak monotone effect reads as non-monotone.
IMPORTANT_SHARE = 0.25
#: Positions (0 = lowest value tried, 1 = highest) between which the best trials' median
#: counts as inside the range.
INTERIOR = (0.2, 0.8)
#: Training jobs listed in the top table.
TOP_N = 10

#: Findings first (monotone or not, by effect size), then the rest.
_FINDING_ORDER = {"effect": 0, "nonmonotone": 0, "little": 2, "constant": 3, "inconclusive": 4}


def fmt_number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _tuned(values: Mapping[str, str], parameters: Sequence[TunedParameter]) -> dict[str, str]:
    """The tuned hyperparameters in declaration order (as AMT's strings)."""
    return {p.name: values[p.name] for p in parameters if p.name in values}


def effect_text(
    effect: Mapping[str, Any], *, eta: str = "eta^2", first: str = "\n", between: str = "\n"
) -> str:
    """An effect of the report's data in a cell: rho and its interval (and the binned eta
    squared of a nonmonotone shape), or eta squared and the mean objective (and trials) of each
    categorical value."""
    if effect["Statistic"] == "spearman_rho":
        text = f"rho {fmt_number(effect['Value'], 2)}"
        if effect["CI95"]:
            text += f" [{effect['CI95'][0]:.2f}, {effect['CI95'][1]:.2f}]"
        if effect.get("Shape") == "nonmonotone":
            # What made it read as not monotone: the binned measure next to rho.
            text += f"{first}binned {eta} {fmt_number(effect['BinnedEtaSquared'], 2)}"
        return text
    counts = effect["TrialsByValue"]
    means = [
        f"{v}: {fmt_number(m)} ({counts.get(v, 0)})"
        for v, m in effect["MeanObjectiveByValue"].items()
    ]
    head = f"{eta} {fmt_number(effect['Value'], 2)}"
    return head + first + between.join(means) if means else head


def short_text(value: Any) -> str:
    """A hyperparameter for a table: numbers to 6 significant digits, the rest as is."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(value) if number.is_integer() and "." not in str(value) else f"{number:.6g}"


def _iso(seconds: float | None) -> str | None:
    stamp = timestamp(seconds)
    return None if stamp is None else stamp.isoformat()


# ----------------------------------------------------------------------------------------------
# Readings
# ----------------------------------------------------------------------------------------------
def finding(effect: ParameterEffect, importance: ParameterImportance | None) -> str:
    """The kind of reading: effect, nonmonotone, little, constant or inconclusive."""
    if effect.strength is EffectStrength.INCONCLUSIVE:
        return "inconclusive"
    if effect.strength is EffectStrength.CONSTANT:
        return "constant"
    if effect.shape == "nonmonotone":
        return "nonmonotone"
    important = (
        importance is not None
        and importance.conclusive
        and importance.scores.get(effect.parameter, 0.0) >= IMPORTANT_SHARE
    )
    if effect.statistic == "spearman_rho" and important and effect.median_of_best is not None:
        # A weak rank correlation on an important parameter, or a moderate one whose best
        # trials sit inside the range, is an optimum in the middle rather than a trend.
        inside = effect.best_position is not None and (
            INTERIOR[0] <= effect.best_position <= INTERIOR[1]
        )
        if effect.strength is EffectStrength.WEAK or (
            effect.strength is EffectStrength.MODERATE and inside
        ):
            return "nonmonotone"
    if effect.strength in (EffectStrength.STRONG, EffectStrength.MODERATE) and effect.better:
        return "effect"
    return "little"


def reading(effect: ParameterEffect, importance: ParameterImportance | None = None) -> str:
    """One line saying what a hyperparameter does to the objective, e.g. "lower eta is better"."""
    name = effect.parameter
    kind = finding(effect, importance)
    if kind == "inconclusive":
        return f"too few trials to conclude about {name} ({effect.n_trials})"
    if kind == "constant":
        return f"{name} did not vary"
    if kind == "nonmonotone":
        near = effect.best_near if effect.best_near is not None else effect.median_of_best
        return f"{name} matters, but not monotonically: best near {_near(near)}"
    if kind == "little":
        return f"{name} has little effect"
    verb = "is" if effect.strength is EffectStrength.STRONG else "tends to be"
    if effect.statistic == "eta_squared":
        return f"{name}={effect.better} {verb} best"
    return f"{effect.better} {name} {verb} better"


def _near(value: float | None) -> str:
    """A "best near" value: 2 significant digits, without an exponent for everyday sizes."""
    if value is None:
        return "-"
    rounded = round_significant(value)
    if rounded.is_integer() and abs(rounded) < 1e15:
        return str(int(rounded))
    return f"{rounded:.2g}" if abs(rounded) < 1e-4 else f"{rounded:.10g}"


def condition_text(effect: Mapping[str, Any]) -> str | None:
    """When a conditional hyperparameter was tuned, e.g. "when optimizer=sgd" (None: always)."""
    conditions = effect.get("ActiveWhen") or []
    if not conditions:
        return None
    parts = [
        f"{c['Name']}={c['Values'][0]}"
        if len(c["Values"]) == 1
        else f"{c['Name']} in {{{', '.join(c['Values'])}}}"
        for c in conditions
    ]
    return "when " + " and ".join(parts)


def comparison_text(comparison: Mapping[str, Any]) -> str:
    """The report's ``Comparison`` block in one line, for the terminal, HTML and dashboard."""
    return f"effects and importance compare ({comparison['Rule']}) {comparison['Description']}"


def sample_text(report: Mapping[str, Any]) -> str:
    """Which statistics use a sample of the training jobs, in one line ("none" when none does).

    Reads the report's ``Sample`` block and each effect's ``BootstrapResamples``.
    """
    drawn = report.get("Sample")
    fewer = sorted(
        {
            e["BootstrapResamples"]
            for e in report.get("Effects", [])
            if e.get("BootstrapResamples") is not None and e["BootstrapResamples"] < N_BOOTSTRAP
        }
    )
    resamples = ""
    if fewer:
        resamples = (
            f"; rho's 95% interval from {', '.join(str(k) for k in fewer)} bootstrap resamples "
            f"(fewer than the usual {N_BOOTSTRAP} for so many jobs: each ranks every compared one)"
        )
    if not drawn or not drawn["Sampled"]:
        what = f": importance on {drawn['Description']}" if drawn else ""
        return f"none{what}{resamples}"
    return (
        f"importance on {drawn['Description']}; the correlations, effects and readings use all "
        f"{drawn['Of']} compared, the best and top training jobs every training job{resamples}"
    )


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def summary_line(
    effects: Sequence[ParameterEffect],
    importance: ParameterImportance | None,
    n_trials: int,
) -> str:
    """All readings in one line: findings first, then what has little effect."""
    if n_trials < MIN_TRIALS:
        return (
            f"too few trials to conclude: {n_trials} comparable with an objective value, "
            f"at least {MIN_TRIALS} needed"
        )
    if not effects:
        return "no tuned hyperparameters"
    parts = [
        reading(e, importance)
        for e in effects
        if finding(e, importance) in ("effect", "nonmonotone")
    ]
    little = [e.parameter for e in effects if finding(e, importance) == "little"]
    constant = [e.parameter for e in effects if finding(e, importance) == "constant"]
    if little:
        parts.append(f"{_names(little)} {'has' if len(little) == 1 else 'have'} little effect")
    if constant:
        parts.append(f"{_names(constant)} did not vary")
    return "; ".join(parts)


def _sort_key(effect: ParameterEffect, importance: ParameterImportance | None) -> tuple[Any, ...]:
    score = importance.scores.get(effect.parameter, 0.0) if importance else 0.0
    return (_FINDING_ORDER[finding(effect, importance)], -effect.size, -score)


# ----------------------------------------------------------------------------------------------
# The report's data
# ----------------------------------------------------------------------------------------------
#: A progress callback: (what is being done now, steps done, steps in all).
Progress = Callable[[str, int, int], None]


def report_steps(n_parameters: int) -> int:
    """The steps :func:`build_report` reports to ``progress`` for this many tuned parameters."""
    return 1 + n_parameters + (1 if n_parameters else 0)


def thresholds() -> dict[str, Any]:
    """The documented thresholds, as the report states them."""
    return {
        "MinTrials": MIN_TRIALS,
        "Alpha": ALPHA,
        "StrongRho": STRONG_RHO,
        "ModerateRho": MODERATE_RHO,
        "StrongEtaSquared": STRONG_ETA_SQUARED,
        "ModerateEtaSquared": MODERATE_ETA_SQUARED,
        "MinModelR2": MIN_MODEL_R2,
        "ImportantShare": IMPORTANT_SHARE,
        "Interior": list(INTERIOR),
        "NonmonotoneEtaSquared": NONMONOTONE_ETA_SQUARED,
        "NonmonotoneMargin": NONMONOTONE_MARGIN,
        "MaxBins": MAX_BINS,
        "TrialsPerBin": TRIALS_PER_BIN,
        "FullBudgetMinJobs": comparable.MIN_FULL_BUDGET_JOBS,
        "FullBudgetMinShare": comparable.MIN_FULL_BUDGET_SHARE,
        "CommonResourceMinJobs": comparable.MIN_COMMON_JOBS,
        "CommonResourceShare": comparable.COMMON_SHARE,
    }


def build_report(
    snapshot: AnalyticsSnapshot,
    *,
    top_n: int = TOP_N,
    seed: int = 0,
    importance_method: ImportanceMethod | str = ImportanceMethod.AUTO,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The report's data as plain JSON values (see the module docstring for the keys).

    ``progress`` is called before each step (see :data:`Progress`), for a progress bar.
    """
    objective = snapshot.objective
    parameters = snapshot.parameters
    total = report_steps(len(parameters))
    step = iter(range(total))

    def advance(what: str) -> None:
        if progress is not None:
            progress(what, next(step), total)

    advance("comparing the training jobs")
    status_counters, objective_counters = snapshot.counters()
    scored = snapshot.scored()
    comparison = snapshot.comparison()
    effects = snapshot.correlations(
        seed=seed, progress=lambda name: advance(f"correlations: {name}")
    )
    importance = None
    if parameters:
        advance(f"importance on {snapshot.importance_sample(seed=seed).jobs} training jobs")
        importance = snapshot.importance(seed=seed, method=importance_method)
    effects = sorted(effects, key=lambda e: _sort_key(e, importance))

    best = snapshot.best()
    best_json = None
    if best is not None:
        job, t = best
        best_json = {
            "TrainingJobName": t.name,
            "TuningJobName": job,
            "TrialNumber": t.number,
            "TrainingJobStatus": amt_status(t),
            "FinalObjectiveValue": t.final_value,
            "TunedHyperParameters": _tuned(t.hyperparameters, parameters),
        }
    ranked = sorted(scored, key=lambda jt: objective.orient(float(jt[1].final_value or 0.0)))
    top = [
        {
            "Rank": i,
            "TrainingJobName": t.name,
            "TuningJobName": job,
            "TrialNumber": t.number,
            "TrainingJobStatus": amt_status(t),
            "FinalObjectiveValue": t.final_value,
            "EpochsReported": t.n_reports,
            "TunedHyperParameters": _tuned(t.hyperparameters, parameters),
        }
        for i, (job, t) in enumerate(ranked[:top_n], start=1)
    ]
    effects_json = []
    for e in effects:
        entry = e.to_dict()
        entry["Importance"] = importance.scores.get(e.parameter) if importance else None
        entry["Finding"] = finding(e, importance)
        entry["Reading"] = reading(e, importance)
        effects_json.append(entry)
    notes = []
    if comparison.jobs < MIN_TRIALS:
        notes.append(
            f"too few trials to conclude: {comparison.jobs} compared of {len(scored)} with an "
            f"objective value, at least {MIN_TRIALS} needed; the numbers are descriptive only"
        )
    elif importance is not None and importance.note:
        notes.append(f"importance: {importance.note}")
    conditional = [e for e in effects_json if e.get("ActiveWhen")]
    if conditional:
        covered = ", ".join(f"{e['Parameter']} {e['NTrials']}" for e in conditional)
        notes.append(
            "conditional hyperparameters: each one's effect and n cover only the trials where it "
            f"was active ({covered} of {comparison.jobs} compared)"
        )
    running = [j.name for j in snapshot.jobs if not j.status.is_terminal]
    if running:
        notes.append(f"still running: {_names(running)}; the report is a snapshot")
    return {
        "TuningJobNames": [j.name for j in snapshot.jobs],
        "Jobs": [
            {
                "HyperParameterTuningJobName": j.name,
                "HyperParameterTuningJobStatus": j.status,
                "Strategy": j.request["HyperParameterTuningJobConfig"].get("Strategy"),
                "CreationTime": _iso(j.created_at),
                "HyperParameterTuningEndTime": _iso(j.ended_at),
                "TrainingJobs": sum(1 for name, _ in snapshot.trials if name == j.name),
            }
            for j in snapshot.jobs
        ],
        "Objective": {"MetricName": objective.metric, "Type": objective.type.value},
        "TrainingJobStatusCounters": status_counters,
        "ObjectiveStatusCounters": objective_counters,
        "NTrialsWithObjective": len(scored),
        "BestTrainingJob": best_json,
        "TopTrainingJobs": top,
        "Comparison": comparison.to_dict(),
        "Effects": effects_json,
        "Importance": importance.to_dict() if importance else None,
        "Summary": summary_line(effects, importance, comparison.jobs),
        "Notes": notes,
        "Thresholds": thresholds(),
        "Sample": importance.sample.to_dict() if importance and importance.sample else None,
    }
