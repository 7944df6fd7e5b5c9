"""Exact stopping on real worker processes: a trial the rule stops after epoch k never reports
epoch k+1, even when its epochs take no time at all (the report waits for the decision).

The curves are known, so each decision can be replayed: Hyperband stops only at the rungs of a
trial's bracket, the median rule exactly where the running averages of earlier trials say.
Without the wait, such trials ran tens of epochs past the decision.
"""

from __future__ import annotations

import statistics

import pytest

from strategies import TrialStatus
from strategies.hyperband import HyperbandSchedule
from tuner import (
    ContinuousParameter,
    HyperbandStrategyConfig,
    HyperparameterTuner,
    StrategyConfig,
)
from tuner.storage import SqlStorage


def instantaneous(hp, ctx):
    """50 epochs that cost nothing; lower loss for small |x| at every epoch."""
    for epoch in range(1, hp["epochs"] + 1):
        ctx.report(epoch, loss=abs(hp["x"]) + 1.0 / epoch)


def _tuner(db_url, tmp_path, **kw) -> HyperparameterTuner:
    defaults = dict(
        objective_type="Minimize",
        max_jobs=40,
        max_parallel_jobs=2,
        random_seed=5,
        storage=db_url,
        output_path=tmp_path,
        static_hyperparameters={"epochs": 50},
    )
    defaults.update(kw)
    return HyperparameterTuner(
        instantaneous, "loss", {"x": ContinuousParameter(-5.0, 5.0)}, **defaults
    )


@pytest.mark.parametrize(
    ("executor", "parallel"),
    [("local", 1), ("local", 2), pytest.param("ray", 2, marks=pytest.mark.ray)],
)
def test_hyperband_stops_instantaneous_trials_exactly_at_their_rungs(
    request, db_url, tmp_path, executor, parallel
) -> None:
    if executor == "ray":
        request.getfixturevalue("ray_session")
    config = StrategyConfig(HyperbandStrategyConfig(max_resource=50, min_resource=2))
    tuner = _tuner(
        db_url,
        tmp_path,
        strategy="Hyperband",
        strategy_config=config,
        max_parallel_jobs=parallel,
        executor=executor,
    )
    tuner.fit(job_name="hb")
    # MinResource 2, eta 3, MaxResource 50: brackets with rungs {2, 6, 18}, {6, 18}, {18}.
    rungs = {b: set(HyperbandSchedule(2, 50).rungs(b)) for b in range(3)}
    assert rungs == {2: {2, 6, 18}, 1: {6, 18}, 0: {18}}
    trials = SqlStorage(db_url).trials("hb")
    stopped = [t for t in trials if t.status is TrialStatus.STOPPED]
    assert len(stopped) >= 10
    for t in trials:
        if t.status is TrialStatus.STOPPED:
            assert t.n_reports in rungs[t.bracket], (t.number, t.bracket, t.n_reports)
            assert f"at rung {t.n_reports}; value " in t.failure_reason
            value, cutoff = (
                float(v) for v in t.failure_reason.split("value ")[1].split(" against ")
            )
            assert value > cutoff  # what it was compared with: a loss worse than the cutoff
        else:
            assert t.status is TrialStatus.COMPLETED and t.n_reports == 50


def test_median_rule_stops_instantaneous_trials_exactly_where_it_decided(db_url, tmp_path) -> None:
    """One trial at a time: each decision sees exactly the trials before it; replay them."""
    _tuner(db_url, tmp_path, max_parallel_jobs=1, early_stopping_type="Auto").fit(
        job_name="median"
    )
    storage = SqlStorage(db_url)
    trials = storage.trials("median")
    curves = {n: [p.value for p in points] for n, points in storage.curves("median").items()}
    assert sum(t.status is TrialStatus.STOPPED for t in trials) >= 5
    for t in trials:
        earlier = [curves[u.number] for u in trials[: t.number - 1]]
        stopped_at = None
        for epoch in range(1, 51):
            means = [sum(c[:epoch]) / epoch for c in earlier if len(c) >= epoch]
            if len(means) >= 3 and curves[t.number][epoch - 1] > statistics.median(means):
                stopped_at = epoch
                break
        assert len(curves[t.number]) == (stopped_at or 50), t.number
        assert (t.status is TrialStatus.STOPPED) == (stopped_at is not None)
