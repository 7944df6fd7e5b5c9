"""The real coordinator, strategies and SQLite storage on simulated time (SimulatedPool).

Limits, stops and early-stopping decisions are exact here: every epoch takes one simulated
second, so a test can say how many trials and reports a rule must leave. The same behaviours
on real worker processes are in test_coordinator.py.
"""

from __future__ import annotations

import statistics

import pytest

from strategies import TrialStatus
from tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperbandStrategyConfig,
    HyperparameterTuner,
    StrategyConfig,
)
from tuner.clock import SimulatedClock
from tuner.coordinator import Coordinator, replace_spec
from tuner.pools.simulated import SimulatedPool
from tuner.simulation import simulate
from tuner.status import JobStatus
from tuner.storage import SqlStorage

X = {"x": ContinuousParameter(-5.0, 5.0)}


def _curve(hp, epochs: int = 10):
    """Better (lower) for small |x| at every epoch, improving with epochs."""
    return [{"loss": abs(hp["x"]) + 1.0 / epoch} for epoch in range(1, epochs + 1)]


def _long(hp):
    return _curve(hp, epochs=100)


def _spec(name: str, **kwargs):
    defaults = {
        "objective_type": "Minimize",
        "max_jobs": 8,
        "max_parallel_jobs": 2,
        "random_seed": 3,
        "strategy": "Random",
    }
    ranges = kwargs.pop("ranges", X)
    defaults.update(kwargs)
    return HyperparameterTuner(_curve, "loss", ranges, **defaults).build_spec(job_name=name)


def test_job_runtime_limit_stops_the_running_trials_exactly_at_the_limit(db_url) -> None:
    spec = replace_spec(_spec("limited", max_jobs=10), max_runtime_s=10.0)
    outcome = simulate(spec, _long, storage=db_url)
    assert outcome.status is JobStatus.COMPLETED
    storage = SqlStorage(db_url)
    trials = storage.trials("limited")
    assert len(trials) == 2  # two workers, each trial longer than the limit
    assert all(t.status is TrialStatus.STOPPED and t.n_reports == 10 for t in trials)
    assert all("MaxRuntimeInSeconds reached" in t.failure_reason for t in trials)
    job = storage.load_job("limited")
    assert job.ended_at - job.created_at == pytest.approx(10.0)


def test_training_job_runtime_limit_stops_each_trial(db_url) -> None:
    spec = replace_spec(_spec("per-trial", max_jobs=3), trial_max_runtime_s=5.2)
    simulate(spec, _long, storage=db_url)
    trials = SqlStorage(db_url).trials("per-trial")
    assert len(trials) == 3
    for t in trials:
        assert t.status is TrialStatus.STOPPED and t.n_reports == 5
        assert t.failure_reason == "MaxRuntimeExceeded: the training job ran longer than 5.2 s"
        assert t.ended_at - t.started_at == pytest.approx(5.5)  # the next check after 5.2 s
        assert t.final_value == pytest.approx(
            _long({"x": float(t.hyperparameters["x"])})[4]["loss"]
        )


def test_median_rule_stops_exactly_the_trials_worse_than_the_median(db_url) -> None:
    """One worker, so each decision sees the trials finished before it; replay them by hand."""
    spec = _spec("median", max_jobs=30, max_parallel_jobs=1, early_stopping_type="Auto")
    simulate(spec, _curve, storage=db_url)
    storage = SqlStorage(db_url)
    trials = storage.trials("median")
    curves = {n: [p.value for p in points] for n, points in storage.curves("median").items()}
    stopped = [t for t in trials if t.status is TrialStatus.STOPPED]
    assert len(trials) == 30 and 5 <= len(stopped) <= 25
    for t in trials:
        earlier = [curves[u.number] for u in trials[: t.number - 1]]
        for epoch in range(1, len(curves[t.number]) + 1):
            means = [sum(c[:epoch]) / epoch for c in earlier if len(c) >= epoch]
            worse = len(means) >= 3 and curves[t.number][epoch - 1] > statistics.median(means)
            last = epoch == len(curves[t.number])
            assert worse == (last and t.status is TrialStatus.STOPPED), (t.number, epoch)
    assert all(
        t.failure_reason.startswith("early stopping: worse than the median") for t in stopped
    )
    for t in stopped:  # the reason names what was compared: the last value and the median
        epoch = len(curves[t.number])
        earlier = [curves[u.number] for u in trials[: t.number - 1]]
        median = statistics.median(sum(c[:epoch]) / epoch for c in earlier if len(c) >= epoch)
        value, against = t.failure_reason.split("; value ")[1].split(" against ")
        assert float(value) == pytest.approx(curves[t.number][-1], rel=1e-5)
        assert float(against) == pytest.approx(median, rel=1e-5)


def _gain(hp):
    """_curve as a score to maximise."""
    return [{"score": -m["loss"]} for m in _curve(hp)]


def test_a_maximized_objectives_stop_reason_gives_values_as_reported(db_url) -> None:
    spec = HyperparameterTuner(
        _gain,
        "score",
        X,
        objective_type="Maximize",
        max_jobs=20,
        max_parallel_jobs=1,
        random_seed=3,
        strategy="Random",
        early_stopping_type="Auto",
    ).build_spec(job_name="gain")
    simulate(spec, _gain, storage=db_url)
    stopped = [t for t in SqlStorage(db_url).trials("gain") if t.status is TrialStatus.STOPPED]
    assert stopped
    for t in stopped:
        value, against = (
            float(v) for v in t.failure_reason.split("; value ")[1].split(" against ")
        )
        assert value < against <= 0.0  # a lower score than the median, in the score's sign


def test_hyperband_stops_only_at_rungs_and_completes_at_max_resource(db_url) -> None:
    config = StrategyConfig(HyperbandStrategyConfig(max_resource=27, min_resource=1))
    spec = _spec(
        "hyperband",
        strategy="Hyperband",
        strategy_config=config,
        max_jobs=300,
        max_parallel_jobs=4,
    )
    simulate(spec, lambda hp: _curve(hp, epochs=40), storage=db_url)
    trials = SqlStorage(db_url).trials("hyperband")
    assert len(trials) == 300
    assert {t.bracket for t in trials} == {0, 1, 2, 3}  # recorded with each suggestion
    rungs = {3: {1, 3, 9}, 2: {3, 9}, 1: {9}, 0: set()}
    for t in trials:
        if t.status is TrialStatus.STOPPED:
            assert t.n_reports in rungs[t.bracket], (t.number, t.bracket, t.n_reports)
            assert "not in the top 1/3 of its bracket" in t.failure_reason
        else:
            assert t.status is TrialStatus.COMPLETED and t.n_reports == 27  # never beyond
            assert t.failure_reason is None
    assert sum(t.status is TrialStatus.STOPPED for t in trials) > 150


def test_retryable_failures_are_retried_with_the_same_hyperparameters(db_url) -> None:
    attempts: dict[float, int] = {}

    def flaky(hp):
        attempts[hp["x"]] = attempts.get(hp["x"], 0) + 1
        if attempts[hp["x"]] == 1:
            raise RuntimeError("transient failure")
        return _curve(hp, epochs=2)

    simulate(_spec("flaky", max_jobs=4, max_retry_attempts=1), flaky, storage=db_url)
    trials = SqlStorage(db_url).trials("flaky")
    assert all(t.status is TrialStatus.COMPLETED and t.attempt == 2 for t in trials)
    assert all("RuntimeError: transient failure" in t.retry_reasons[0] for t in trials)
    assert sorted(attempts.values()) == [2, 2, 2, 2]


def test_a_job_whose_trials_all_fail_ends_failed_with_the_reason(db_url) -> None:
    def broken(hp):
        raise ValueError("broken training code")

    outcome = simulate(_spec("broken", max_jobs=3), broken, storage=db_url)
    assert outcome.status is JobStatus.FAILED
    assert "3 training jobs failed" in outcome.failure_reason
    assert "ValueError: broken training code" in outcome.failure_reason


def test_target_objective_value_ends_the_job_at_the_first_trial_reaching_it(db_url) -> None:
    criteria = {"TargetObjectiveMetricValue": 1.2}
    spec = _spec("target", max_jobs=60, max_parallel_jobs=1, completion_criteria=criteria)
    assert simulate(spec, _curve, storage=db_url).status is JobStatus.COMPLETED
    values = [t.final_value for t in SqlStorage(db_url).trials("target")]
    assert len(values) < 60
    assert values[-1] <= 1.2 and all(v > 1.2 for v in values[:-1])


def test_best_not_improving_ends_the_job_after_that_many_trials(db_url) -> None:
    criteria = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
    spec = _spec("plateau", max_jobs=60, max_parallel_jobs=1, completion_criteria=criteria)
    simulate(spec, _curve, storage=db_url)
    storage = SqlStorage(db_url)
    values = [t.final_value for t in storage.trials("plateau")]
    assert len(values) < 60
    best_before = min(values[:-3])
    assert all(v > best_before * 0.99 for v in values[-3:])  # none improved it by 1%
    assert storage.load_job("plateau").completion["NumberOfTrainingJobsObjectiveNotImproving"] == 3


def test_a_stop_request_stops_the_running_trials_and_the_job(db_url) -> None:
    spec = _spec("stoppable", max_jobs=10)
    clock = SimulatedClock()
    other_process = SqlStorage(db_url)

    def request_stop_at_3s(progress) -> None:
        if clock.monotonic() >= 3.0:
            other_process.set_job_status("stoppable", JobStatus.STOPPING, now=clock.now())

    with SimulatedPool(2, _long, clock=clock) as pool:
        coordinator = Coordinator(
            spec, SqlStorage(db_url), pool, clock=clock, on_progress=request_stop_at_3s
        )
        outcome = coordinator.run()
    assert outcome.status is JobStatus.STOPPED
    trials = SqlStorage(db_url).trials("stoppable")
    assert len(trials) == 2 and all(t.status is TrialStatus.STOPPED for t in trials)
    assert all(t.failure_reason == "tuning job ended: stopped by the user" for t in trials)
    assert all(t.n_reports == 3 for t in trials)


def test_resume_after_a_crash_keeps_finished_trials_and_reruns_the_rest(
    db_url, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec("resumable", max_jobs=9, max_parallel_jobs=3)
    clock = SimulatedClock()

    def uneven(hp, epoch):
        return 1.0 + abs(hp["x"])

    with SimulatedPool(3, _curve, clock=clock, seconds_per_epoch=uneven) as pool:
        first = Coordinator(spec, SqlStorage(db_url), pool, clock=clock)
        first.start()
        while (
            sum(t.status is TrialStatus.COMPLETED for t in SqlStorage(db_url).trials(spec.name))
            < 4
        ):
            first.step()
    # The first coordinator "crashed": its process is gone, so its lease is taken over at once.
    monkeypatch.setattr(
        "tuner.coordinator.lease_holder_alive", lambda holder: holder != first.lease_holder
    )
    before = {t.number: t for t in SqlStorage(db_url).trials(spec.name)}
    assert any(not t.status.is_finished for t in before.values())
    outcome = simulate(spec, _curve, storage=db_url, clock=clock, seconds_per_epoch=uneven)
    assert outcome.status is JobStatus.COMPLETED
    after = SqlStorage(db_url).trials(spec.name)
    assert [t.number for t in after] == list(range(1, 10))
    for t in after:
        assert t.status is TrialStatus.COMPLETED
        if t.number in before:
            assert t.hyperparameters == before[t.number].hyperparameters
            finished = before[t.number].status is TrialStatus.COMPLETED
            assert t.attempt == (1 if finished else 2)
            if finished:
                assert t.final_value == before[t.number].final_value


def test_progress_counts_follow_every_status_change(db_url) -> None:
    seen = []
    spec = _spec("progress", max_jobs=12, early_stopping_type="Auto")
    clock = SimulatedClock()
    with SimulatedPool(2, _curve, clock=clock) as pool:
        coordinator = Coordinator(
            spec, SqlStorage(db_url), pool, clock=clock, on_progress=seen.append
        )
        coordinator.run()
    final = coordinator.progress()
    trials = SqlStorage(db_url).trials("progress")
    assert final.completed == sum(t.status is TrialStatus.COMPLETED for t in trials)
    assert final.stopped == sum(t.status is TrialStatus.STOPPED for t in trials)
    assert final.completed + final.stopped + final.failed == 12 and final.running == 0
    assert all(p.completed + p.stopped + p.failed + p.running <= 12 for p in seen)
    assert any(p.running == 2 for p in seen)


def test_grid_on_simulated_time_runs_every_combination_once(db_url) -> None:
    ranges = {"x": CategoricalParameter(["-1", "0", "1"]), "c": CategoricalParameter(["a", "b"])}
    spec = _spec("grid", ranges=ranges, strategy="Grid", max_jobs=None)
    simulate(spec, lambda hp: [{"loss": abs(hp["x"])}], storage=db_url)
    combos = {tuple(sorted(t.hyperparameters.items())) for t in SqlStorage(db_url).trials("grid")}
    assert len(combos) == 6


def _noisy_curve(hp):
    """Crossing, noisy curves: a decision depends on the order of every earlier report."""
    x = hp["x"]
    return [
        {"loss": abs(x - 1.0) + (2.0 + x) / epoch + 0.05 * ((7 * epoch + int(40 * x)) % 5)}
        for epoch in range(1, 28)
    ]


@pytest.mark.parametrize(
    ("strategy", "early_stopping", "parallel"),
    [
        ("Hyperband", "Off", 4),
        ("Hyperband", "Off", 8),
        ("Random", "Auto", 4),
        ("Random", "Auto", 8),
    ],
)
def test_same_seed_gives_identical_decisions_on_the_simulated_pool(
    tmp_path, strategy, early_stopping, parallel
) -> None:
    config = StrategyConfig(HyperbandStrategyConfig(max_resource=27, min_resource=1))
    tuner = HyperparameterTuner(
        _noisy_curve,
        "loss",
        X,
        objective_type="Minimize",
        max_jobs=60,
        max_parallel_jobs=parallel,
        random_seed=11,
        strategy=strategy,
        early_stopping_type=early_stopping,
        strategy_config=config if strategy == "Hyperband" else None,
        static_hyperparameters={"epochs": 27},
    )
    decisions = []
    for run in ("a", "b"):
        url = f"sqlite:///{tmp_path / run}.db"
        simulate(tuner.build_spec(job_name="same"), _noisy_curve, storage=url)
        decisions.append(
            [
                (
                    t.number,
                    dict(t.hyperparameters),
                    t.bracket,
                    t.status,
                    t.n_reports,
                    t.failure_reason,
                )
                for t in SqlStorage(url).trials("same")
            ]
        )
    assert decisions[0] == decisions[1]
    stopped = [d for d in decisions[0] if d[3] is TrialStatus.STOPPED]
    assert len(stopped) >= 10  # the rule had decisions to make
    assert len({d[4] for d in decisions[0]}) >= 3  # at several resource levels
