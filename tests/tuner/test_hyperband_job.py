"""A real Hyperband tuning job on the LocalPool, and Hyperband's spec rules."""

from __future__ import annotations

import time

import pytest

from tuner import (
    ContinuousParameter,
    HyperbandStrategyConfig,
    HyperparameterTuner,
    InvalidSpecError,
    StrategyConfig,
)
from tuner.storage import SqlStorage


def learning_curve(hp, ctx):
    """Accuracy rising to a plateau set by x: good trials are good from the start."""
    for epoch in range(1, hp["epochs"] + 1):
        ctx.report(epoch, accuracy=hp["x"] * (1 - 0.5**epoch))
        time.sleep(0.05)


def _tuner(db_url, tmp_path, **kw):
    defaults = dict(
        strategy="Hyperband",
        max_jobs=24,
        max_parallel_jobs=2,
        random_seed=0,
        storage=db_url,
        output_path=tmp_path,
        static_hyperparameters={"epochs": 9},
    )
    defaults.update(kw)
    return HyperparameterTuner(
        learning_curve, "accuracy", {"x": ContinuousParameter(0.1, 1.0)}, **defaults
    )


def test_hyperband_job_stops_some_trials_early_and_keeps_their_curves(db_url, tmp_path) -> None:
    tuner = _tuner(
        db_url,
        tmp_path,
        strategy_config=StrategyConfig(HyperbandStrategyConfig(max_resource=9, min_resource=1)),
    )
    tuner.fit(job_name="hb")
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    trials = SqlStorage(db_url).trials("hb")
    curves = SqlStorage(db_url).curves("hb", ["accuracy"])
    early = [t for t in trials if t.status == "Stopped"]
    assert len(early) >= 4 and all(t.n_reports < 9 for t in early)
    for t in early:
        assert "Hyperband" in t.failure_reason and len(curves[t.number]) == t.n_reports >= 1
    assert all(t.bracket is not None for t in trials)
    full = [t for t in trials if t.n_reports == 9]
    assert full and all(t.status == "Completed" for t in full)  # a whole budget is Completed
    assert sum(t.n_reports for t in trials) < 0.9 * 24 * 9  # less compute than no stopping
    best = max(t.final_value for t in trials if t.final_value is not None)
    assert best > 0.8


def test_max_resource_inferred_from_epochs_static_hyperparameter(db_url, tmp_path) -> None:
    spec = _tuner(db_url, tmp_path).build_spec(job_name="infer")
    assert spec.hyperband.max_resource == 9 and spec.hyperband.min_resource == 1


def test_max_resource_required_when_not_inferable(db_url, tmp_path) -> None:
    with pytest.raises(
        InvalidSpecError, match=r"HyperbandStrategyConfig.MaxResource: is required"
    ):
        _tuner(db_url, tmp_path, static_hyperparameters={"rounds": 9}).build_spec(job_name="x")


def test_hyperband_with_early_stopping_auto_is_refused(db_url, tmp_path) -> None:
    with pytest.raises(
        InvalidSpecError,
        match=r"TrainingJobEarlyStoppingType: must be Off with Strategy Hyperband",
    ):
        _tuner(db_url, tmp_path, early_stopping_type="Auto").build_spec(job_name="x")


def test_strategy_config_only_with_hyperband(db_url, tmp_path) -> None:
    with pytest.raises(
        InvalidSpecError, match=r"StrategyConfig: may be given only with Strategy Hyperband"
    ):
        _tuner(
            db_url,
            tmp_path,
            strategy="Random",
            strategy_config=StrategyConfig(HyperbandStrategyConfig(9, 1)),
        ).build_spec(job_name="x")


def test_min_above_max_and_bad_reduction_factor(db_url, tmp_path) -> None:
    with pytest.raises(
        InvalidSpecError, match=r"MinResource: must be <= MaxResource \(9\), got 10"
    ):
        _tuner(
            db_url, tmp_path, strategy_config=StrategyConfig(HyperbandStrategyConfig(9, 10))
        ).build_spec(job_name="x")
    with pytest.raises(InvalidSpecError, match=r"ReductionFactor: must be a whole number >= 2"):
        _tuner(
            db_url,
            tmp_path,
            strategy_config=StrategyConfig(HyperbandStrategyConfig(9, 1, reduction_factor=1)),
        ).build_spec(job_name="x")


def test_resumed_hyperband_decisions_are_rebuilt_from_curves(
    db_url, tmp_path, monkeypatch
) -> None:
    """Stop the coordinator halfway, resume: the job completes with rung decisions made."""
    from tuner.coordinator import Coordinator
    from tuner.pools import LocalPool

    spec = _tuner(db_url, tmp_path).build_spec(job_name="hb-resume")
    with LocalPool(2) as pool:
        first = Coordinator(spec, SqlStorage(db_url), pool, output_root=tmp_path)
        first.start()
        while (
            sum(
                t.status in ("Completed", "Stopped")
                for t in SqlStorage(db_url).trials("hb-resume")
            )
            < 8
        ):
            first.step()
    # The first coordinator is gone (as after a crash): its lease is a dead holder's.
    monkeypatch.setattr("tuner.coordinator.lease_holder_alive", lambda h: h != first.lease_holder)
    with LocalPool(2) as pool:
        assert (
            Coordinator(spec, SqlStorage(db_url), pool, output_root=tmp_path).run().status
            == "Completed"
        )
    trials = SqlStorage(db_url).trials("hb-resume")
    assert len(trials) == 24 and all(t.status in ("Completed", "Stopped") for t in trials)
    assert sum(t.n_reports < 9 for t in trials) >= 4
