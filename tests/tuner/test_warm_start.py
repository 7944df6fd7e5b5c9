"""Warm start (AMT.md section 9): parents in the same database, their trials as observations.

Parent and child jobs are real: the coordinator, the strategy and SQLite, on simulated training
(:func:`tuner.simulation.simulate`) for most tests, through ``tuner run`` (CLI subprocesses,
xgboost) and through the Python API on the local executor for one job each.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from strategies.base import Trial, TrialStatus
from strategies.space import SearchSpace
from tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    InvalidSpecError,
    WarmStartConfig,
    WarmStartTypes,
)
from tuner.clock import SimulatedClock
from tuner.coordinator import Coordinator
from tuner.describe import describe_stored_job
from tuner.objective import Objective, ObjectiveType
from tuner.pools.simulated import SimulatedPool
from tuner.simulation import simulate
from tuner.status import JobStatus
from tuner.storage import SqlStorage
from tuner.storage.records import JobRecord, TrainingJobRecord
from tuner.warm_start import ParentJob, WarmStartHistory, parent_observations

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_response_shapes import shape_problems  # noqa: E402  (the shared shape checker)

CLI = (sys.executable, "-m", "tuner.cli")
OPTIMUM = {"x": 2.0, "y": -1.0}
RANGES = {"x": ContinuousParameter(-5.0, 5.0), "y": ContinuousParameter(-5.0, 5.0)}
IDENTICAL = WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM
TRANSFER = WarmStartTypes.TRANSFER_LEARNING


def _loss(hp: Mapping[str, Any]) -> float:
    return sum((float(hp[k]) - v) ** 2 for k, v in OPTIMUM.items())


def _curve(hp: Mapping[str, Any]) -> list[dict[str, float]]:
    return [{"loss": _loss(hp) + 1.0 / epoch} for epoch in (1, 2)]


def _tuner(**kwargs: Any) -> HyperparameterTuner:
    options: dict[str, Any] = {
        "objective_type": "Minimize",
        "max_jobs": 4,
        "max_parallel_jobs": 1,
        "random_seed": 7,
        "strategy": "Bayesian",
    }
    options.update(kwargs)
    ranges = options.pop("ranges", RANGES)
    return HyperparameterTuner(_curve, "loss", ranges, **options)


def _warm(kind: WarmStartTypes = IDENTICAL, *parents: str) -> WarmStartConfig:
    return WarmStartConfig(kind, parents=set(parents or ("parent",)))


def _run_parent(db_url: str, name: str = "parent", max_jobs: int = 20, **kwargs: Any) -> None:
    spec = _tuner(strategy="Random", max_jobs=max_jobs, random_seed=1, **kwargs).build_spec(
        job_name=name
    )
    assert simulate(spec, _curve, storage=db_url).status is JobStatus.COMPLETED


class _Recorder:
    """Wraps a strategy and keeps the history each ``ask`` was given."""

    def __init__(self, strategy: Any) -> None:
        self.strategy = strategy
        self.seen: list[list[Trial]] = []

    def ask(self, history: Sequence[Trial]) -> Any:
        self.seen.append(list(history))
        return self.strategy.ask(history)


def _run_recorded(spec: Any, db_url: str) -> tuple[_Recorder, JobStatus]:
    clock = SimulatedClock()
    with SimulatedPool(spec.max_parallel_jobs, _curve, clock=clock) as pool:
        coordinator = Coordinator(spec, SqlStorage(db_url), pool, clock=clock)
        coordinator.start()
        assert coordinator.search is not None
        recorder = _Recorder(coordinator.search.strategy)
        object.__setattr__(coordinator.search, "strategy", recorder)
        outcome = coordinator.run()
    return recorder, outcome.status


def _distance(hp: Mapping[str, str]) -> float:
    return math.sqrt(_loss(hp))


# -- the strategy sees the parents ---------------------------------------------------------------


def test_the_strategy_sees_the_parents_trials_as_finished_observations(db_url: str) -> None:
    _run_parent(db_url)
    spec = _tuner(max_jobs=3, warm_start_config=_warm()).build_spec(job_name="child")
    recorder, status = _run_recorded(spec, db_url)
    assert status is JobStatus.COMPLETED
    parent_trials = SqlStorage(db_url).trials("parent")
    first = recorder.seen[0]
    assert len(first) == 20
    assert [t.number for t in first] == list(range(-1, -21, -1))
    assert all(t.status is TrialStatus.COMPLETED for t in first)
    assert sorted(t.value for t in first) == sorted(t.final_value for t in parent_trials)  # type: ignore[type-var]
    # Later suggestions see the parents first, then the job's own trials numbered from 1.
    assert [t.number for t in recorder.seen[2][20:]] == [1, 2]
    # Nothing of the parent is copied into the child; its own trials alone count.
    storage = SqlStorage(db_url)
    assert [t.number for t in storage.trials("child")] == [1, 2, 3]
    assert len(storage.trials("parent")) == 20


def test_a_warm_bayesian_job_starts_near_the_parents_best_region(db_url: str) -> None:
    _run_parent(db_url)
    warm = _tuner(max_jobs=3, warm_start_config=_warm()).build_spec(job_name="warm")
    cold = _tuner(max_jobs=3).build_spec(job_name="cold")
    for spec in (warm, cold):
        assert simulate(spec, _curve, storage=db_url).status is JobStatus.COMPLETED
    storage = SqlStorage(db_url)
    best_parent = min(_distance(t.hyperparameters) for t in storage.trials("parent"))
    warm_d = [_distance(t.hyperparameters) for t in storage.trials("warm")]
    cold_d = [_distance(t.hyperparameters) for t in storage.trials("cold")]
    assert sum(warm_d) / 3 < sum(cold_d) / 3
    assert min(warm_d) < max(best_parent * 1.5, 1.0)


def test_random_accepts_warm_start_and_draws_what_a_cold_job_draws(db_url: str) -> None:
    _run_parent(db_url)
    warm = _tuner(strategy="Random", max_jobs=3, warm_start_config=_warm())
    simulate(warm.build_spec(job_name="warm"), _curve, storage=db_url)
    simulate(
        _tuner(strategy="Random", max_jobs=3).build_spec(job_name="cold"), _curve, storage=db_url
    )
    storage = SqlStorage(db_url)
    assert [t.hyperparameters for t in storage.trials("warm")] == [
        t.hyperparameters for t in storage.trials("cold")
    ]


def test_warm_start_history_is_parents_then_own() -> None:
    parents = [Trial(-1, {"x": 1.0}, TrialStatus.COMPLETED, 1.0)]
    own = [Trial(1, {"x": 2.0}, TrialStatus.PENDING)]
    history = WarmStartHistory(parents, own)
    assert len(history) == 2
    assert [t.number for t in history] == [-1, 1]
    assert history[-1].number == 1 and history[0].number == -1
    assert [t.number for t in history[1:]] == [1]
    with pytest.raises(IndexError):
        history[2]


# -- TransferLearning: how a parent's trials map into the new space -----------------------------


def _record(name: str, ranges: dict[str, Any], static: dict[str, str]) -> JobRecord:
    request = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ParameterRanges": ranges,
        },
        "TrainingJobDefinition": {"StaticHyperParameters": static},
    }
    return JobRecord(name, request, "Random", JobStatus.COMPLETED, 0, 0.0, 0.0)


def _training_job(number: int, hp: dict[str, str], value: float | None, status: TrialStatus):
    return TrainingJobRecord(number, f"p-{number:03d}", hp, status, 0.0, final_value=value)


def test_transfer_learning_leaves_out_what_falls_outside_and_drops_what_is_not_tuned() -> None:
    parent_ranges = {
        "ContinuousParameterRanges": [{"Name": "x", "MinValue": "-5", "MaxValue": "5"}],
        "IntegerParameterRanges": [{"Name": "old", "MinValue": "1", "MaxValue": "9"}],
    }
    record = _record("p", parent_ranges, {"depth": "4"})
    trials = (
        _training_job(1, {"x": "0.5", "old": "3"}, 2.0, TrialStatus.COMPLETED),  # kept
        _training_job(2, {"x": "4.5", "old": "3"}, 1.0, TrialStatus.COMPLETED),  # outside
        _training_job(3, {"x": "-0.5", "old": "7"}, None, TrialStatus.FAILED),  # kept, failed
        _training_job(4, {"x": "0.1", "old": "2"}, 3.0, TrialStatus.STOPPED),  # kept
    )
    # The child narrows x, drops "old", tunes the parent's static "depth" and keeps a category.
    space = SearchSpace({"x": ContinuousParameter(-1.0, 1.0), "depth": IntegerParameter(2, 6)})
    observed = parent_observations(
        space, Objective("loss", ObjectiveType.MINIMIZE), [ParentJob(record, trials)]
    )
    assert [t.config for t in observed.trials] == [
        {"x": 0.5, "depth": 4},
        {"x": -0.5, "depth": 4},
        {"x": 0.1, "depth": 4},
    ]
    assert [t.value for t in observed.trials] == [2.0, None, 3.0]
    assert [t.status for t in observed.trials] == [
        TrialStatus.COMPLETED,
        TrialStatus.FAILED,
        TrialStatus.STOPPED,
    ]
    assert [t.number for t in observed.trials] == [-1, -2, -3]
    assert (observed.outside, observed.missing) == (1, 0)
    # A hyperparameter the parent neither tuned nor set: its trials are left out.
    wider = SearchSpace({"x": ContinuousParameter(-5.0, 5.0), "new": CategoricalParameter(["a"])})
    observed = parent_observations(
        wider, Objective("loss", ObjectiveType.MINIMIZE), [ParentJob(record, trials)]
    )
    assert observed.trials == () and observed.missing == 4
    # Maximize objectives are oriented for minimisation, like the job's own trials.
    observed = parent_observations(
        space, Objective("loss", ObjectiveType.MAXIMIZE), [ParentJob(record, trials[:1])]
    )
    assert observed.trials[0].value == -2.0


def test_a_transfer_learning_child_with_other_ranges_runs_on_the_parents_that_fit(
    db_url: str,
) -> None:
    _run_parent(db_url)
    narrower = {"x": ContinuousParameter(0.0, 5.0), "y": ContinuousParameter(-5.0, 5.0)}
    spec = _tuner(ranges=narrower, max_jobs=2, warm_start_config=_warm(TRANSFER)).build_spec(
        job_name="child"
    )
    recorder, status = _run_recorded(spec, db_url)
    assert status is JobStatus.COMPLETED
    inside = [t for t in SqlStorage(db_url).trials("parent") if float(t.hyperparameters["x"]) >= 0]
    assert 0 < len(inside) < 20
    assert len(recorder.seen[0]) == len(inside)


# -- validation ------------------------------------------------------------------------------------


def _problems(excinfo: pytest.ExceptionInfo[InvalidSpecError]) -> str:
    return "\n".join(excinfo.value.problems)


def _start(spec: Any, db_url: str) -> None:
    with SimulatedPool(1, _curve, clock=SimulatedClock()) as pool:
        Coordinator(spec, SqlStorage(db_url), pool, clock=SimulatedClock()).start()


PARENT_NAME = "WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName"


def test_a_missing_parent_is_refused_before_anything_is_written(db_url: str) -> None:
    spec = _tuner(warm_start_config=_warm(IDENTICAL, "nobody")).build_spec(job_name="child")
    with pytest.raises(InvalidSpecError) as excinfo:
        _start(spec, db_url)
    assert f"{PARENT_NAME}: no tuning job 'nobody' in this database" in _problems(excinfo)
    assert SqlStorage(db_url).list_jobs() == []


def test_a_running_parent_is_refused(db_url: str) -> None:
    running = _tuner().build_spec(job_name="running")
    SqlStorage(db_url).create_job(
        "running",
        running.request,
        strategy="Bayesian",
        seed=1,
        status=JobStatus.IN_PROGRESS,
        now=0,
    )
    spec = _tuner(warm_start_config=_warm(IDENTICAL, "running")).build_spec(job_name="child")
    with pytest.raises(InvalidSpecError) as excinfo:
        _start(spec, db_url)
    assert f"{PARENT_NAME}: parent 'running' is InProgress; a parent must have ended" in (
        _problems(excinfo)
    )


def test_six_parents_are_refused_and_one_is_needed() -> None:
    six = [f"p{i}" for i in range(6)]
    with pytest.raises(InvalidSpecError) as excinfo:
        _tuner(warm_start_config=_warm(IDENTICAL, *six)).build_spec(job_name="child")
    assert "WarmStartConfig.ParentHyperParameterTuningJobs: must have at most 5 items, got 6" in (
        _problems(excinfo)
    )
    request = _tuner().build_spec(job_name="child").request
    empty = {
        **request,
        "WarmStartConfig": {
            "ParentHyperParameterTuningJobs": [],
            "WarmStartType": "TransferLearning",
        },
    }
    from tuner.spec import spec_from_request

    with pytest.raises(InvalidSpecError) as excinfo:
        spec_from_request(empty, train_fn=_curve)
    assert "WarmStartConfig.ParentHyperParameterTuningJobs: must have at least 1" in (
        _problems(excinfo)
    )
    with pytest.raises(ValueError, match="parents should not be None/empty"):
        WarmStartConfig(IDENTICAL, parents=set())


def test_a_bad_warm_start_type_is_refused() -> None:
    from tuner.spec import spec_from_request

    request = dict(_tuner().build_spec(job_name="child").request)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": "Identical",
    }
    with pytest.raises(InvalidSpecError) as excinfo:
        spec_from_request(request, train_fn=_curve)
    assert (
        "WarmStartConfig.WarmStartType: must be one of IdenticalDataAndAlgorithm, "
        "TransferLearning, got 'Identical'"
    ) in _problems(excinfo)
    with pytest.raises(ValueError, match="valid warm start types"):
        WarmStartConfig("Identical", parents={"parent"})


def test_another_objective_is_refused(db_url: str) -> None:
    _run_parent(db_url, max_jobs=2)
    spec = _tuner(objective_type="Maximize", warm_start_config=_warm(TRANSFER)).build_spec(
        job_name="child"
    )
    with pytest.raises(InvalidSpecError) as excinfo:
        _start(spec, db_url)
    assert (
        "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective: must be the same as "
        "parent 'parent''s (Minimize loss), got Maximize loss"
    ) in _problems(excinfo)


def test_identical_data_and_algorithm_keeps_the_algorithm_and_the_hyperparameter_count(
    db_url: str,
) -> None:
    _run_parent(db_url, max_jobs=2)

    def other(hp: Mapping[str, Any]) -> list[dict[str, float]]:
        return _curve(hp)

    spec = HyperparameterTuner(
        other,
        "loss",
        RANGES,
        objective_type="Minimize",
        max_jobs=2,
        warm_start_config=_warm(),
        static_hyperparameters={"extra": 1},
    ).build_spec(job_name="child")
    with pytest.raises(InvalidSpecError) as excinfo:
        _start(spec, db_url)
    problems = _problems(excinfo)
    assert "TrainingJobDefinition.AlgorithmSpecification: IdenticalDataAndAlgorithm needs" in (
        problems
    )
    assert "TrainingJobDefinition.StaticHyperParameters: IdenticalDataAndAlgorithm needs" in (
        problems
    )
    # TransferLearning allows both (and the type of a hyperparameter must still match).
    typed = {"x": IntegerParameter(-5, 5), "y": ContinuousParameter(-5.0, 5.0)}
    spec = _tuner(ranges=typed, warm_start_config=_warm(TRANSFER)).build_spec(job_name="child")
    with pytest.raises(InvalidSpecError) as excinfo:
        _start(spec, db_url)
    assert (
        "HyperParameterTuningJobConfig.ParameterRanges: 'x' is Integer here but Continuous in "
        "parent 'parent'"
    ) in _problems(excinfo)


@pytest.mark.parametrize("strategy", ["Grid", "Hyperband"])
def test_grid_and_hyperband_refuse_warm_start(strategy: str) -> None:
    ranges = {"c": CategoricalParameter(["a", "b"])}
    kwargs: dict[str, Any] = {"static_hyperparameters": {"epochs": 3}, "max_jobs": 2}
    if strategy == "Grid":
        kwargs["max_jobs"] = None
    with pytest.raises(InvalidSpecError) as excinfo:
        _tuner(strategy=strategy, ranges=ranges, warm_start_config=_warm(), **kwargs).build_spec(
            job_name="child"
        )
    assert f"WarmStartConfig: warm start is not available with Strategy {strategy}" in (
        _problems(excinfo)
    )


def test_a_job_cannot_be_its_own_parent_nor_name_one_twice() -> None:
    from tuner.spec import spec_from_request

    request = dict(_tuner().build_spec(job_name="child").request)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "Child"},
            {"HyperParameterTuningJobName": "p"},
            {"HyperParameterTuningJobName": "P"},
        ],
        "WarmStartType": "TransferLearning",
    }
    with pytest.raises(InvalidSpecError) as excinfo:
        spec_from_request(request, train_fn=_curve)
    problems = _problems(excinfo)
    assert f"{PARENT_NAME}: a tuning job cannot be its own parent ('Child')" in problems
    assert (
        "ParentHyperParameterTuningJobs[2].HyperParameterTuningJobName: parent 'P' is listed twice"
        in problems
    )


# -- describe and resume ---------------------------------------------------------------------------


def test_describe_echoes_the_config_and_gives_the_overall_best_in_botocores_shape(
    db_url: str,
) -> None:
    _run_parent(db_url)
    spec = _tuner(max_jobs=2, warm_start_config=_warm()).build_spec(job_name="child")
    simulate(spec, _curve, storage=db_url)
    storage = SqlStorage(db_url)
    described = describe_stored_job(storage, "child", now=0)
    assert shape_problems(described, "DescribeHyperParameterTuningJobResponse") == []
    assert described["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    every = [*storage.trials("parent"), *storage.trials("child")]
    best = min(every, key=lambda t: t.final_value)  # type: ignore[arg-type, return-value]
    overall = described["OverallBestTrainingJob"]
    assert overall["TrainingJobName"] == best.name
    assert overall["TuningJobName"] == ("parent" if best in storage.trials("parent") else "child")
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == best.final_value
    assert described["BestTrainingJob"]["TuningJobName"] == "child"
    # AMT gives OverallBestTrainingJob for IdenticalDataAndAlgorithm only.
    transfer = _tuner(max_jobs=1, warm_start_config=_warm(TRANSFER)).build_spec(job_name="tl")
    simulate(transfer, _curve, storage=db_url)
    described = describe_stored_job(storage, "tl", now=0)
    assert shape_problems(described, "DescribeHyperParameterTuningJobResponse") == []
    assert "OverallBestTrainingJob" not in described
    assert described["WarmStartConfig"]["WarmStartType"] == "TransferLearning"


def test_a_warm_started_job_resumes_with_its_parents_reloaded(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_parent(db_url)
    spec = _tuner(max_jobs=5, warm_start_config=_warm()).build_spec(job_name="child")
    clock = SimulatedClock()
    with SimulatedPool(1, _curve, clock=clock) as pool:
        first = Coordinator(spec, SqlStorage(db_url), pool, clock=clock)
        first.start()
        assert len(first.warm_start.trials) == 20
        while len(SqlStorage(db_url).trials("child")) < 3:
            first.step()
    # The first coordinator is gone (as after a crash): its lease is a dead holder's.
    monkeypatch.setattr("tuner.coordinator.lease_holder_alive", lambda h: h != first.lease_holder)
    before = {t.number: t.hyperparameters for t in SqlStorage(db_url).trials("child")}
    # Resume = replay: a new coordinator reloads the parents and goes on from the stored trials.
    recorder, status = _run_recorded(spec, db_url)
    assert status is JobStatus.COMPLETED
    assert all(len(h) >= 20 and h[0].number == -1 for h in recorder.seen)
    after = SqlStorage(db_url).trials("child")
    assert [t.number for t in after] == [1, 2, 3, 4, 5]
    assert {n: after[n - 1].hyperparameters for n in before} == before
    assert len(SqlStorage(db_url).trials("parent")) == 20
    # The same suggestions as a run without the crash: the strategy is a pure function.
    simulate(
        _tuner(max_jobs=5, warm_start_config=_warm()).build_spec(job_name="straight"),
        _curve,
        storage=db_url,
    )
    assert [t.hyperparameters for t in SqlStorage(db_url).trials("straight")][:3] == [
        before[n] for n in (1, 2, 3)
    ]


# -- the Python API and the CLI --------------------------------------------------------------------


def _train(hp: Mapping[str, Any], ctx: Any) -> None:
    ctx.report(1, loss=(float(hp["x"]) - 2.0) ** 2 + (float(hp["y"]) + 1.0) ** 2)


def test_python_api_warm_start_methods_on_the_local_executor(tmp_path: Path, db_url: str) -> None:
    parent = HyperparameterTuner(
        _train,
        "loss",
        RANGES,
        objective_type="Minimize",
        max_jobs=4,
        max_parallel_jobs=2,
        random_seed=3,
        storage=db_url,
        output_path=tmp_path / "out",
    )
    parent.fit(job_name="api-parent")
    child = parent.identical_dataset_and_algorithm_tuner(additional_parents={"api-other"})
    assert child.warm_start_config == WarmStartConfig(IDENTICAL, {"api-parent", "api-other"})
    assert child.latest_tuning_job is None and parent.latest_tuning_job == "api-parent"
    with pytest.raises(InvalidSpecError, match="no tuning job 'api-other'"):
        child.fit(job_name="api-child")
    child = parent.identical_dataset_and_algorithm_tuner()
    child.max_jobs = 2
    child.fit(job_name="api-child")
    described = child.describe()
    assert shape_problems(described, "DescribeHyperParameterTuningJobResponse") == []
    assert described["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [
        {"HyperParameterTuningJobName": "api-parent"}
    ]
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    assert "OverallBestTrainingJob" in described
    transfer = parent.transfer_learning_tuner(estimator=_curve)
    assert transfer.warm_start_config == WarmStartConfig(TRANSFER, {"api-parent"})
    assert transfer._train_fn is _curve and parent._train_fn is _train
    assert transfer.hyperparameter_ranges is not parent.hyperparameter_ranges


def _xgboost_request(tmp_path: Path, name: str, **extra: Any) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "examples"))
    from make_datasets import make_datasets

    make_datasets(tmp_path / "data")
    request = json.loads((ROOT / "examples" / "xgboost-breast-cancer.json").read_text())
    request["HyperParameterTuningJobName"] = name
    config = request["HyperParameterTuningJobConfig"]
    config["ResourceLimits"] = {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2}
    config["TrainingJobEarlyStoppingType"] = "Off"
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = "10"
    request.update(extra)
    return request


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--db", str(tmp_path / "t.db")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # five CLI processes with xgboost: 30-60 s on 2 busy cores
def test_cli_runs_a_parent_then_a_warm_started_child(tmp_path: Path) -> None:
    parent = _xgboost_request(tmp_path, "cli-parent")
    (tmp_path / "parent.json").write_text(json.dumps(parent))
    warm = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "cli-parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    child = _xgboost_request(tmp_path, "cli-child", WarmStartConfig=warm)
    child["HyperParameterTuningJobConfig"]["Strategy"] = "Bayesian"
    (tmp_path / "child.json").write_text(json.dumps(child))
    early = _cli(tmp_path, "run", "child.json", "--quiet")
    assert early.returncode != 0
    assert "no tuning job 'cli-parent' in this database" in early.stdout + early.stderr
    assert _cli(tmp_path, "run", "parent.json", "--quiet").returncode == 0
    run = _cli(tmp_path, "run", "child.json", "--quiet")
    assert run.returncode == 0, run.stderr
    described = json.loads(_cli(tmp_path, "describe", "cli-child", "--json").stdout)
    assert shape_problems(described, "DescribeHyperParameterTuningJobResponse") == []
    assert described["WarmStartConfig"] == warm
    assert described["TrainingJobStatusCounters"]["Completed"] == 3
    # The parent keeps its own three training jobs; the child wrote none of them.
    storage = SqlStorage(f"sqlite:///{tmp_path / 't.db'}")
    assert len(storage.trials("cli-parent")) == 3
    assert all(t.name.startswith("cli-child-") for t in storage.trials("cli-child"))
    overall = describe_stored_job(storage, "cli-child", now=0)["OverallBestTrainingJob"]
    values = [t.final_value for n in ("cli-parent", "cli-child") for t in storage.trials(n)]
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(values)  # type: ignore[type-var]
