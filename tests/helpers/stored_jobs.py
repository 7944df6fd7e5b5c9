"""Finished tuning jobs written straight into storage, for the analytics and report tests.

Writing rows through SqlStorage (what the coordinator calls) gives those tests exact,
hand-made curves and statuses in a real SQLite file without running a job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tuner.objective import Objective
from tuner.storage import SqlStorage

Trials = Sequence[tuple[Mapping[str, object], Sequence[float], str]]


def tuning_request(ranges: Mapping[str, object], objective: Objective, max_jobs: int) -> dict:
    """A Random CreateHyperParameterTuningJob request over ``ranges`` (strategies' parameters)."""
    groups: dict[str, list] = {}
    for name, rng in ranges.items():
        groups.setdefault(f"{rng.kind}ParameterRanges", []).append(rng.as_tuning_range(name))  # type: ignore[attr-defined]
    return {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {
                "Type": objective.type.value,
                "MetricName": objective.metric,
            },
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": groups,
        },
        "TrainingJobDefinition": {"AlgorithmSpecification": {"TrainingImage": "test"}},
    }


def store_job(
    storage: SqlStorage,
    name: str,
    ranges: Mapping[str, object],
    trials: Trials,
    *,
    objective: Objective,
    start: float = 1_700_000_000.0,
    other_metrics: Callable[[float], dict[str, float]] = lambda value: {"other": -value},
    failure_reason: str = "boom",
    max_jobs: int = 100,
) -> None:
    """A finished job: each trial is (hyperparameters, objective curve, final status).

    Each epoch reports the objective plus ``other_metrics(value)``; a Failed trial has no
    final value and ``failure_reason``.
    """
    storage.create_job(
        name,
        tuning_request(ranges, objective, max_jobs),
        strategy="Random",
        seed=0,
        status="InProgress",
        now=start,
    )
    with storage.batch():
        for number, (hp, curve, status) in enumerate(trials, start=1):
            at = start + number
            storage.add_trial(
                name,
                number,
                name=f"{name}-{number:03d}",
                hyperparameters={k: str(v) for k, v in hp.items()},
                now=at,
            )
            storage.mark_running(name, number, worker="w", now=at)
            for epoch, value in enumerate(curve, start=1):
                storage.add_report(
                    name,
                    number,
                    attempt=1,
                    epoch=epoch,
                    metrics={objective.metric: value, **other_metrics(value)},
                    at=at + epoch * 0.01,
                )
            final = curve[-1] if curve and status != "Failed" else None
            storage.finish_trial(
                name,
                number,
                status=status,
                now=at + 0.5,
                final_value=final,
                final_metrics={objective.metric: final} if final is not None else {},
                n_reports=len(curve),
                failure_reason=failure_reason if status == "Failed" else None,
                retryable=False if status == "Failed" else None,
            )
    storage.set_job_status(name, "Completed", now=start + len(trials) + 1, ended=True)
