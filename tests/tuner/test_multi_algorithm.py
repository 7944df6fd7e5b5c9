"""Multi-algorithm tuning jobs: several TrainingJobDefinitions in one job (issue 14 point 3).

Real runs on the local pool (Python callables through ``HyperparameterTuner.create``), the
request rules of :mod:`tuner.spec.definitions`, and the shared search of
:mod:`strategies.multi` as a pure function of its history.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from strategies.base import Trial, TrialStatus
from strategies.multi import DEFINITION_KEY, build_multi_search
from strategies.space import CategoricalParameter, ContinuousParameter, SearchSpace
from tuner import HyperparameterTuner
from tuner.errors import InvalidSpecError
from tuner.spec import spec_from_request


def _quadratic(hyperparameters: dict[str, Any], ctx: Any) -> None:
    assert set(hyperparameters) == {"x"}, hyperparameters  # only its own definition's values
    for epoch in range(1, 4):
        ctx.report(epoch, loss=(hyperparameters["x"] - 0.3) ** 2 + 1.0 / epoch)


def _offset(hyperparameters: dict[str, Any], ctx: Any) -> None:
    assert set(hyperparameters) == {"x", "kind"}, hyperparameters
    base = 0.0 if hyperparameters["kind"] == "good" else 5.0
    for epoch in range(1, 4):
        ctx.report(epoch, error=base + abs(hyperparameters["x"]) + 0.5 / epoch)


def _tuner(tmp_path: Path, **kwargs: Any) -> HyperparameterTuner:
    return HyperparameterTuner.create(
        {"quad": _quadratic, "offset": _offset},
        {"quad": "loss", "offset": "error"},
        {
            "quad": {"x": ContinuousParameter(0.0, 1.0)},
            # The same name on another scale: each definition keeps its own range.
            "offset": {"x": ContinuousParameter(-10.0, 10.0), "kind": _categorical()},
        },
        objective_type="Minimize",
        storage=f"sqlite:///{tmp_path / 'tuner.db'}",
        output_path=tmp_path / "out",
        **kwargs,
    )


def _categorical() -> Any:
    from tuner import CategoricalParameter as Categorical

    return Categorical(["good", "bad"])


def test_create_runs_both_definitions_and_reports_each_on_its_own_metric(
    tmp_path: Path,
) -> None:
    tuner = _tuner(tmp_path, strategy="Random", max_jobs=6, max_parallel_jobs=2, random_seed=3)
    tuner.fit(job_name="multi-callables")
    summaries = tuner.training_job_summaries()
    assert len(summaries) == 6
    by_definition: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        by_definition.setdefault(s["TrainingJobDefinitionName"], []).append(s)
        assert DEFINITION_KEY not in s["TunedHyperParameters"]
    assert {k: len(v) for k, v in by_definition.items()} == {"quad": 3, "offset": 3}
    for s in summaries:
        metric = s["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"]
        assert metric == {"quad": "loss", "offset": "error"}[s["TrainingJobDefinitionName"]]
        assert s["TrainingJobStatus"] == "Completed"
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert [d["DefinitionName"] for d in described["TrainingJobDefinitions"]] == [
        "quad",
        "offset",
    ]
    best = described["BestTrainingJob"]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values)
    assert best["TrainingJobDefinitionName"] in ("quad", "offset")
    frame = tuner.analytics().dataframe()
    assert sorted(frame["TrainingJobDefinitionName"]) == ["offset"] * 3 + ["quad"] * 3
    attached = HyperparameterTuner.attach(
        "multi-callables",
        storage=f"sqlite:///{tmp_path / 'tuner.db'}",
        algorithm={"quad": _quadratic, "offset": _offset},
    )
    assert attached.best_training_job() == best["TrainingJobName"]
    request, fns = attached._multi_request(None, "again")
    assert [d["DefinitionName"] for d in request["TrainingJobDefinitions"]] == ["quad", "offset"]
    assert set(fns) == {"quad", "offset"}


def test_create_checks_its_dicts_name_the_same_estimators(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="objective_metric_name_dict must have the keys"):
        HyperparameterTuner.create(
            {"a": _quadratic, "b": _offset},
            {"a": "loss"},
            {"a": {"x": ContinuousParameter(0, 1)}, "b": {"x": ContinuousParameter(0, 1)}},
        )


def _two_definitions(tmp_path: Path) -> dict[str, Any]:
    """A valid two-definition request (built by the API, with its callables)."""
    tuner = _tuner(tmp_path, strategy="Random", max_jobs=4)
    request, _ = tuner._multi_request(None, "rules")
    return request


def _problems(request: dict[str, Any]) -> list[str]:
    fns = {"quad": _quadratic, "offset": _offset}
    with pytest.raises(InvalidSpecError) as info:
        spec_from_request(request, train_fn=fns)
    return info.value.problems


def test_a_valid_request_has_one_spec_per_definition(tmp_path: Path) -> None:
    request = _two_definitions(tmp_path)
    spec = spec_from_request(request, train_fn={"quad": _quadratic, "offset": _offset})
    assert spec.is_multi
    assert [(d.name, d.objective.metric) for d in spec.definitions] == [
        ("quad", "loss"),
        ("offset", "error"),
    ]
    assert spec.definition("offset").space.ranges["x"].max_value == 10.0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r["TrainingJobDefinitions"][1].pop("DefinitionName"),
            "TrainingJobDefinitions[1].DefinitionName: is required",
        ),
        (
            lambda r: r["TrainingJobDefinitions"][1].update(DefinitionName="quad"),
            "'quad' is already the name of TrainingJobDefinitions[0]",
        ),
        (
            lambda r: r["TrainingJobDefinitions"][1]["TuningObjective"].update(Type="Maximize"),
            "must have the same Type",
        ),
        (
            lambda r: r.update(
                WarmStartConfig={
                    "WarmStartType": "TransferLearning",
                    "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "p"}],
                }
            ),
            "WarmStartConfig: warm start is available only when tuning a single algorithm",
        ),
        (
            lambda r: r["HyperParameterTuningJobConfig"].update(
                HyperParameterTuningJobObjective={"Type": "Minimize", "MetricName": "loss"}
            ),
            "each definition has its own TuningObjective",
        ),
    ],
)
def test_request_rules_are_named(tmp_path: Path, change: Any, expected: str) -> None:
    request = copy.deepcopy(_two_definitions(tmp_path))
    change(request)
    problems = _problems(request)
    assert any(expected in p for p in problems), problems


def _finished(number: int, config: dict[str, Any], value: float) -> Trial:
    return Trial(number, config, TrialStatus.COMPLETED, [(1, value)], value)


def test_the_budget_is_shared_round_robin_and_replays() -> None:
    spaces = {
        "a": SearchSpace({"x": ContinuousParameter(0.0, 1.0)}),
        "b": SearchSpace({"y": CategoricalParameter(["p", "q"])}),
    }
    history: list[Trial] = []
    for number in range(1, 7):
        search = build_multi_search("Random", spaces, seed=11)  # rebuilt: resume is replay
        suggestion = search.strategy.ask(history)
        assert suggestion is not None
        history.append(_finished(number, dict(suggestion.config), 0.1 * number))
    names = [t.config[DEFINITION_KEY] for t in history]
    assert names == ["a", "b", "a", "b", "a", "b"]
    again = build_multi_search("Random", spaces, seed=11)
    replayed = again.strategy.ask(history[:3])
    assert replayed is not None and replayed.config == history[3].config


def test_grid_runs_the_union_of_the_grids() -> None:
    spaces = {
        "a": SearchSpace({"x": CategoricalParameter(["1", "2", "3"])}),
        "b": SearchSpace({"y": CategoricalParameter(["p", "q"])}),
    }
    search = build_multi_search("Grid", spaces, seed=0)
    history: list[Trial] = []
    while (suggestion := search.strategy.ask(history)) is not None:
        history.append(_finished(len(history) + 1, dict(suggestion.config), 1.0))
        assert len(history) <= 5
    seen = {(t.config[DEFINITION_KEY], t.config.get("x", t.config.get("y"))) for t in history}
    assert seen == {("a", "1"), ("a", "2"), ("a", "3"), ("b", "p"), ("b", "q")}
