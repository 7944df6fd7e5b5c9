"""Every response the engine emits is in botocore's output shape, extension fields and all.

A request may carry fields of ours beside AWS's (``ResourceConfig.NumGpus``, ``AllowCpuFallback``,
Hyperband's ``ReductionFactor``, strategy ``TPE``; the engine adds ``CpuFallbackWarning``), and
DescribeHyperParameterTuningJob echoes the request. Here every response builder
(DescribeHyperParameterTuningJob, ListTrainingJobsForHyperParameterTuningJob,
ListHyperParameterTuningJobs, the best HyperParameterTrainingJobSummary) and every ``--json``
output of the CLI is checked against botocore's output shape, for every spec in ``examples/``
and every request in ``tests/corpus/``, in every state a job passes through: InProgress with
Pending and running training jobs, Completed, Stopping and Stopped, Failed, with failed and
early-stopped training jobs, Hyperband brackets, completion details and warm start.

Jobs run on the real coordinator, strategy and SQLite storage with simulated training
(:func:`tuner.simulation.simulate`), at most 6 training jobs each, so the file takes seconds. A
request the engine refuses (warm start, Autotune, several algorithms, ...) is stored as given
(structurally normalised) with hand-made training jobs: its echo is checked all the same, ready
for the day it runs.

The check is two checks: botocore's own ``ParamValidator`` run on the output shape (unknown
members, the "Unknown parameter" of the issue; required members; types), and a stricter walk of
our own that also checks enum values, timestamps (a datetime, epoch seconds or an ISO 8601
string, as botocore's parsers give them), finite numbers and that no member is ``None``.
String patterns (S3 URIs, ARNs) are not checked: local paths stand in for S3.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.validate
import pytest
import yaml
from botocore.model import Shape
from botocore.utils import parse_timestamp

from tuner.describe import (
    best_trial,
    describe_stored_job,
    describe_tuning_job,
    list_training_jobs,
    objective_of,
    request_extensions,
    to_json,
    training_job_summary,
    tuning_job_summary,
)
from tuner.errors import InvalidSpecError
from tuner.spec.placement import place
from tuner.spec.request_shape import check_request, shape
from tuner.spec.validation import spec_from_request
from tuner.status import JobStatus, TrialStatus
from tuner.storage import SqlStorage

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CORPUS = ROOT / "tests" / "corpus"

DESCRIBE = "DescribeHyperParameterTuningJobResponse"
LIST_TRAINING_JOBS = "ListTrainingJobsForHyperParameterTuningJobResponse"
LIST_TUNING_JOBS = "ListHyperParameterTuningJobsResponse"
TRAINING_JOB_SUMMARY = "HyperParameterTrainingJobSummary"

MAX_JOBS = 6
MAX_PARALLEL = 2


# -- the checker ---------------------------------------------------------------------------------


def shape_problems(value: Any, shape_name: str) -> list[str]:
    """Problems of ``value`` against botocore's shape ``shape_name``: [] when it conforms."""
    sh = shape(shape_name)
    problems: list[str] = []
    _walk(value, sh, shape_name, problems)
    report = botocore.validate.ParamValidator().validate(value, sh)
    if report.has_errors():
        problems.append(f"botocore: {report.generate_report()}")
    return problems


def _enum(sh: Shape) -> list[str]:
    return list(getattr(sh, "enum", None) or sh.metadata.get("enum") or [])


def _walk(value: Any, sh: Shape, path: str, problems: list[str]) -> None:
    kind = sh.type_name
    if value is None:
        problems.append(f"{path}: None (leave the member out instead)")
    elif kind == "structure":
        if not isinstance(value, Mapping):
            problems.append(f"{path}: not an object: {value!r}")
            return
        members = sh.members  # type: ignore[attr-defined]
        for key, item in value.items():
            if key not in members:
                problems.append(f"{path}.{key}: unknown member of {sh.name}")
            else:
                _walk(item, members[key], f"{path}.{key}", problems)
        for key in sh.required_members:  # type: ignore[attr-defined]
            if key not in value:
                problems.append(f"{path}.{key}: required member of {sh.name} is missing")
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: not a list: {value!r}")
            return
        for i, item in enumerate(value):
            _walk(item, sh.member, f"{path}[{i}]", problems)  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, Mapping):
            problems.append(f"{path}: not a map: {value!r}")
            return
        for key, item in value.items():
            _walk(key, sh.key, f"{path} key {key!r}", problems)  # type: ignore[attr-defined]
            _walk(item, sh.value, f"{path}[{key!r}]", problems)  # type: ignore[attr-defined]
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: not a string: {value!r}")
        elif _enum(sh) and value not in _enum(sh):
            problems.append(f"{path}: {value!r} is not one of {', '.join(_enum(sh))}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: not an integer: {value!r}")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: not a number: {value!r}")
        elif not math.isfinite(value):
            problems.append(f"{path}: not finite (JSON cannot carry it): {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: not a boolean: {value!r}")
    elif kind == "timestamp":
        _timestamp(value, path, problems)


def _timestamp(value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            problems.append(f"{path}: a datetime without a timezone: {value!r}")
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return
    if isinstance(value, str):
        try:
            parse_timestamp(value)
        except (ValueError, TypeError):
            problems.append(f"{path}: not a timestamp botocore can parse: {value!r}")
        return
    problems.append(f"{path}: not a timestamp: {value!r}")


def assert_shape(value: Any, shape_name: str, where: str = "") -> None:
    problems = shape_problems(value, shape_name)
    assert problems == [], f"{where}: {shape_name}\n" + "\n".join(problems)


def assert_json_shape(text: str, shape_name: str, where: str = "") -> Any:
    """The JSON text parsed, checked as botocore would see it (ISO strings for timestamps)."""
    data = json.loads(text)
    assert_shape(data, shape_name, where)
    return data


# -- the checker can fail ------------------------------------------------------------------------


def _good_summary() -> dict[str, Any]:
    return {
        "TrainingJobName": "j-001",
        "TrainingJobArn": "arn:aws:sagemaker:local:000000000000:training-job/j-001",
        "CreationTime": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"eta": "0.1"},
        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "m", "Value": 0.5},
    }


def test_the_checker_accepts_a_conforming_summary() -> None:
    assert shape_problems(_good_summary(), TRAINING_JOB_SUMMARY) == []
    as_json = json.loads(to_json(_good_summary()))
    assert shape_problems(as_json, TRAINING_JOB_SUMMARY) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.update(NumGpus=1), r"NumGpus: unknown member"),
        (lambda s: s.update(TrainingJobName=7), r"TrainingJobName: not a string"),
        (lambda s: s.pop("TrainingJobArn"), r"TrainingJobArn: required member"),
        (lambda s: s.update(TrainingJobStatus="Pending"), r"'Pending' is not one of"),
        (lambda s: s.update(CreationTime="yesterday"), r"CreationTime: not a timestamp"),
        (
            lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"].update(Value="0.5"),
            r"Value: not a number",
        ),
        (
            lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"].update(Value=math.nan),
            r"Value: not finite",
        ),
        (lambda s: s["TunedHyperParameters"].update(eta=0.1), r"\['eta'\]: not a string"),
        (lambda s: s.update(FailureReason=None), r"FailureReason: None"),
    ],
)
def test_the_checker_rejects(change, expected: str) -> None:
    summary = _good_summary()
    change(summary)
    problems = shape_problems(summary, TRAINING_JOB_SUMMARY)
    assert any(re.search(expected, p) for p in problems), problems


def test_botocores_validator_reports_the_issues_unknown_parameter() -> None:
    """The echo before this fix: the request's ResourceConfig with our fields, as is."""
    response = {
        "HyperParameterTuningJobName": "j",
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:local:000000000000:hpt/j",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "ResourceLimits": {"MaxParallelTrainingJobs": 1},
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::000000000000:role/r",
            "OutputDataConfig": {"S3OutputPath": "out"},
            "StoppingCondition": {},
            "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "NumGpus": 1},
        },
        "HyperParameterTuningJobStatus": "Completed",
        "CreationTime": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        "TrainingJobStatusCounters": {},
        "ObjectiveStatusCounters": {},
    }
    problems = shape_problems(response, DESCRIBE)
    assert any("Unknown parameter" in p and "NumGpus" in p for p in problems), problems
    del response["TrainingJobDefinition"]["ResourceConfig"]["NumGpus"]
    assert shape_problems(response, DESCRIBE) == []


# -- the requests --------------------------------------------------------------------------------


def _example_files() -> list[Path]:
    return sorted([*EXAMPLES.glob("*.json"), *EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.yml")])


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []


SOURCES = [*_example_files(), *_corpus_files()]


def _source_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _make_data(source: Path, root: Path) -> None:
    """The data the request reads, where it reads it (relative to ``root``)."""
    if source.parent == EXAMPLES:
        sys.path.insert(0, str(EXAMPLES))
        from make_datasets import make_datasets

        make_datasets(root / "data")
        return
    sys.path.insert(0, str(CORPUS))
    try:
        from make_data import WRITERS, make_data
    except ImportError:  # no generator (yet): the request is checked without its data
        return
    if source.stem in WRITERS:
        make_data(source.stem, root)


def _short(request: dict[str, Any]) -> dict[str, Any]:
    """At most MAX_JOBS training jobs, MAX_PARALLEL at a time: the only change made."""
    request = copy.deepcopy(request)
    config = request.get("HyperParameterTuningJobConfig")
    limits = config.get("ResourceLimits") if isinstance(config, dict) else None
    if isinstance(limits, dict):
        for key, most in (
            ("MaxNumberOfTrainingJobs", MAX_JOBS),
            ("MaxParallelTrainingJobs", MAX_PARALLEL),
        ):
            if isinstance(limits.get(key), int):
                limits[key] = min(limits[key], most)
    return request


def _digest(hyperparameters: Mapping[str, Any]) -> int:
    text = json.dumps({k: str(v) for k, v in hyperparameters.items()}, sort_keys=True)
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def _epochs(spec: Any) -> int:
    options = spec.strategy_options
    return int(options.get("max_resource") or 5) if options else 5


class Snapshots:
    """Every response of one job, taken while it runs and once it has ended."""

    def __init__(self, storage: SqlStorage, name: str) -> None:
        self.storage, self.name = storage, name
        self.taken: list[tuple[str, str, Any]] = []  # (moment, shape name, response)

    def take(self, moment: str) -> None:
        job = self.storage.load_job(self.name)
        trials = self.storage.trials(self.name)
        objective = objective_of(job)
        self.taken.append((moment, DESCRIBE, describe_tuning_job(job, trials, now=job.created_at)))
        for sort_by in ("Name", "CreationTime", "Status", "FinalObjectiveMetricValue"):
            rows = list_training_jobs(job, trials, sort_by=sort_by, sort_order="Descending")
            self.taken.append((moment, LIST_TRAINING_JOBS, {"TrainingJobSummaries": rows}))
        summaries = [tuning_job_summary(j, self.storage.trials(j.name)) for j in [job]]
        self.taken.append(
            (moment, LIST_TUNING_JOBS, {"HyperParameterTuningJobSummaries": summaries})
        )
        best = best_trial(trials, objective)
        if best is not None:
            self.taken.append(
                (moment, TRAINING_JOB_SUMMARY, training_job_summary(job, best, objective))
            )

    def statuses(self) -> set[str]:
        return {r["HyperParameterTuningJobStatus"] for _, n, r in self.taken if n == DESCRIBE}

    def training_statuses(self) -> set[str]:
        return {
            row["TrainingJobStatus"]
            for _, n, r in self.taken
            if n == LIST_TRAINING_JOBS
            for row in r["TrainingJobSummaries"]
        }


def _simulate(
    spec: Any,
    storage: SqlStorage,
    out: Path,
    *,
    fail_every: int | None = 4,
    stop_after: int | None = None,
) -> Snapshots:
    """Run ``spec`` on simulated training, taking snapshots while the first two trials run.

    A training job fails (after one report) when a hash of its hyperparameters is divisible by
    ``fail_every`` (1: every one); ``stop_after``: the user stops the job then (as ``tuner
    stop`` does), after that many trials started.
    """
    from tuner.simulation import simulate

    snapshots = Snapshots(storage, spec.name)
    metric = spec.objective.metric
    started = 0

    def curve(hyperparameters: Mapping[str, Any]) -> Iterator[dict[str, float]]:
        nonlocal started
        started += 1
        number, digest = started, _digest(hyperparameters)
        for epoch in range(1, _epochs(spec) + 1):
            yield {metric: (digest % 1000) / 1000 + 1 / epoch, "other:metric": float(epoch)}
            if number <= 2 and epoch == 1:
                snapshots.take("in progress")
            if stop_after is not None and number == stop_after and epoch == 1:
                storage.set_job_status(spec.name, JobStatus.STOPPING, now=job_now())
                snapshots.take("stopping")
            if fail_every is not None and digest % fail_every == 0:
                msg = f"simulated failure of {number}"
                raise RuntimeError(msg)

    def job_now() -> float:
        return storage.load_job(spec.name).last_modified_at + 1

    simulate(spec, curve, storage=storage, output_root=out)
    snapshots.take("ended")
    return snapshots


def _store_refused(request: dict[str, Any], storage: SqlStorage) -> Snapshots:
    """A refused request stored as given (normalised) with hand-made training jobs."""
    normalised, _ = check_request(request)
    name = str(normalised.get("HyperParameterTuningJobName") or "refused")
    config = normalised.get("HyperParameterTuningJobConfig") or {}
    strategy = config.get("Strategy") if isinstance(config.get("Strategy"), str) else "Bayesian"
    storage.create_job(
        name, normalised, strategy=strategy, seed=0, status=JobStatus.IN_PROGRESS, now=1e9
    )
    snapshots = Snapshots(storage, name)
    metric = objective_of(storage.load_job(name)).metric
    outcomes = [TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.STOPPED, None, "pending"]
    for number, outcome in enumerate(outcomes, start=1):
        at = 1e9 + number
        storage.add_trial(
            name,
            number,
            name=f"{name[:20]}-{number:03d}-abcdef01",
            hyperparameters={"x": str(number)},
            now=at,
            output_dir=f"/tmp/refused/{name}-{number:03d}",
        )
        if outcome == "pending":
            continue
        storage.mark_running(name, number, worker="w", now=at)
        storage.add_report(name, number, attempt=1, epoch=1, metrics={metric: 0.5}, at=at)
        if outcome is None:
            continue
        failed = outcome is TrialStatus.FAILED
        storage.finish_trial(
            name,
            number,
            status=outcome,
            now=at + 0.5,
            final_value=None if failed else 0.5 + number,
            final_metrics={} if failed else {metric: 0.5 + number},
            n_reports=1,
            failure_reason="boom" if failed else None,
            retryable=False if failed else None,
        )
    snapshots.take("in progress")
    storage.set_job_status(name, JobStatus.COMPLETED, now=1e9 + 10, ended=True)
    snapshots.take("ended")
    return snapshots


def _path_value(request: Any, path: str) -> Any:
    """The value at a path such as ``TrainingJobDefinition.InputDataConfig[0].X``."""
    value = request
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _check_all(snapshots: Snapshots, where: str) -> None:
    assert snapshots.taken
    for moment, shape_name, response in snapshots.taken:
        assert_shape(response, shape_name, f"{where} ({moment})")
        # ... and as `--json` prints it: ISO 8601 strings for the timestamps.
        assert_json_shape(to_json(response), shape_name, f"{where} ({moment}, JSON)")


def _check_extensions(storage: SqlStorage, name: str) -> dict[str, Any]:
    """What the echo leaves out is exactly what the stored request holds at those paths."""
    job = storage.load_job(name)
    extensions = request_extensions(job)
    for path, value in extensions.items():
        try:
            stored = _path_value(job.request, path)
        except KeyError:  # only a strategy of ours given by default may be missing
            assert path == "HyperParameterTuningJobConfig.Strategy"
            stored = job.strategy
        assert stored == value, path
    return extensions


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shapes")


@pytest.mark.parametrize("source", SOURCES, ids=_source_id)
def test_every_response_of_every_request_is_in_botocores_shape(
    source: Path, workspace: Path
) -> None:
    root = workspace / f"{source.parent.name}-{source.stem}"
    root.mkdir()
    _make_data(source, root)
    request = _short(_load(source))
    storage = SqlStorage(f"sqlite:///{root / 'tuner.db'}")
    _run_parents(request, root, storage)
    try:
        spec = spec_from_request(request, base_dir=root)
    except InvalidSpecError:
        snapshots = _store_refused(request, storage)
    else:
        spec = place(spec, gpus_here=0).spec if spec.resources.num_gpus else spec
        snapshots = _simulate(spec, storage, root / "out")
        assert snapshots.statuses() >= {"InProgress"}
        assert snapshots.statuses() & {"Completed", "Failed"}
    _check_all(snapshots, _source_id(source))
    job = storage.load_job(request["HyperParameterTuningJobName"])
    extensions = _check_extensions(storage, job.name)
    described = describe_stored_job(storage, job.name, now=job.created_at)
    assert_shape(described, DESCRIBE, f"{_source_id(source)} (with its parents)")
    if "WarmStartConfig" in request:
        assert described["WarmStartConfig"] == request["WarmStartConfig"]
    for path in extensions:
        with pytest.raises((KeyError, IndexError)):
            _path_value(described, path)  # left out of the echo


def _run_parents(request: Mapping[str, Any], root: Path, storage: SqlStorage) -> None:
    """A warm start's parent jobs, run first in the same database (they must exist there):
    each is the request itself without its WarmStartConfig, under the parent's name."""
    warm_start = request.get("WarmStartConfig") or {}
    for parent in warm_start.get("ParentHyperParameterTuningJobs") or []:
        parent_request = copy.deepcopy(dict(request))
        del parent_request["WarmStartConfig"]
        parent_request["HyperParameterTuningJobName"] = parent["HyperParameterTuningJobName"]
        spec = spec_from_request(parent_request, base_dir=root)
        spec = place(spec, gpus_here=0).spec if spec.resources.num_gpus else spec
        _simulate(spec, storage, root / "out", fail_every=None)


# -- the extensions, and the states of a job, one by one -----------------------------------------


def _breast_cancer(root: Path, **config: Any) -> dict[str, Any]:
    sys.path.insert(0, str(EXAMPLES))
    from make_datasets import make_datasets

    make_datasets(root / "data")
    request = _short(_load(EXAMPLES / "xgboost-breast-cancer.json"))
    request["HyperParameterTuningJobConfig"].update(config)
    return request


def _run(root: Path, request: dict[str, Any], **kwargs: Any) -> tuple[SqlStorage, Snapshots]:
    storage = SqlStorage(f"sqlite:///{root / 'tuner.db'}")
    spec = place(spec_from_request(request, base_dir=root), gpus_here=0).spec
    snapshots = _simulate(spec, storage, root / "out", **kwargs)
    _check_all(snapshots, spec.name)
    return storage, snapshots


EXTENDED_RESOURCES = {
    "InstanceType": "ml.g5.xlarge",
    "InstanceCount": 1,
    "VolumeSizeInGB": 10,
    "NumCpus": 1,
    "NumGpus": 0.5,
    "AllowCpuFallback": True,
}


def test_extension_fields_are_left_out_of_the_echo_and_kept_as_extensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = _breast_cancer(tmp_path, Strategy="TPE")
    request["TrainingJobDefinition"]["ResourceConfig"] = dict(EXTENDED_RESOURCES)
    request["TrainingJobDefinition"].pop("RoleArn", None)
    request["TrainingJobDefinition"].pop("StoppingCondition", None)
    request["TrainingJobDefinition"].pop("OutputDataConfig", None)
    storage, snapshots = _run(tmp_path, request, fail_every=None)
    name = request["HyperParameterTuningJobName"]
    job = storage.load_job(name)
    assert job.request["TrainingJobDefinition"]["ResourceConfig"]["NumGpus"] == 0.5  # as given
    described = describe_tuning_job(job, storage.trials(name), now=0)
    assert described["TrainingJobDefinition"]["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
    }
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    # What AWS requires and the request left out: what the engine used.
    definition = described["TrainingJobDefinition"]
    assert definition["OutputDataConfig"]["S3OutputPath"] == str(tmp_path / "out")
    assert definition["StoppingCondition"] == {}
    assert definition["RoleArn"].startswith("arn:aws:iam::")
    assert tuning_job_summary(job, storage.trials(name))["Strategy"] == "Bayesian"

    extensions = _check_extensions(storage, name)
    fallback = "TrainingJobDefinition.ResourceConfig.CpuFallbackWarning"
    assert set(extensions) == {
        "HyperParameterTuningJobConfig.Strategy",
        "TrainingJobDefinition.ResourceConfig.NumCpus",
        "TrainingJobDefinition.ResourceConfig.NumGpus",
        "TrainingJobDefinition.ResourceConfig.AllowCpuFallback",
        fallback,
    }
    assert extensions["HyperParameterTuningJobConfig.Strategy"] == "TPE"
    assert "run on the CPU" in extensions[fallback]

    from tuner.cli import main

    db = str(tmp_path / "tuner.db")
    capsys.readouterr()
    assert main(["describe", name, "--db", db, "--json"]) == 0
    pure = assert_json_shape(capsys.readouterr().out, DESCRIBE, "describe --json")
    assert "TunerExtensions" not in pure
    assert main(["describe", name, "--db", db, "--json", "--extensions"]) == 0
    extended = json.loads(capsys.readouterr().out)
    assert extended.pop("TunerExtensions") == json.loads(to_json(extensions))
    assert extended == pure  # the block is the only difference
    assert main(["describe", name, "--db", db]) == 0
    table = capsys.readouterr().out
    assert "TPE" in table and "NumGpus" in table and "run on the CPU" in table


def test_snake_case_resources_and_hyperband_extensions(tmp_path: Path) -> None:
    request = _breast_cancer(
        tmp_path,
        Strategy="Hyperband",
        TrainingJobEarlyStoppingType="Off",
        StrategyConfig={
            "HyperbandStrategyConfig": {
                "MinResource": 1,
                "MaxResource": 9,
                "ReductionFactor": 2,
                "ModelBased": True,
            }
        },
    )
    request["TrainingJobDefinition"]["ResourceConfig"] = {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
        "num_cpus": 1,
    }
    storage, snapshots = _run(tmp_path, request)
    name = request["HyperParameterTuningJobName"]
    extensions = _check_extensions(storage, name)
    hb = "HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig"
    assert extensions == {
        f"{hb}.ReductionFactor": 2,
        f"{hb}.ModelBased": True,
        "TrainingJobDefinition.ResourceConfig.num_cpus": 1,
    }
    described = describe_tuning_job(storage.load_job(name), storage.trials(name), now=0)
    config = described["HyperParameterTuningJobConfig"]
    assert config["StrategyConfig"] == {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}
    }
    assert config["Strategy"] == "Hyperband"
    assert {"Stopped", "Failed", "Completed"} <= snapshots.training_statuses()


def test_a_stopped_job_with_early_stopped_and_failed_training_jobs(tmp_path: Path) -> None:
    request = _breast_cancer(
        tmp_path, TrainingJobEarlyStoppingType="Auto", Strategy="Random", RandomSeed=3
    )
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 6
    storage, snapshots = _run(tmp_path, request, stop_after=4)
    assert {"InProgress", "Stopping", "Stopped"} <= snapshots.statuses()
    assert {"InProgress", "Stopped"} <= snapshots.training_statuses()


def test_a_failed_job(tmp_path: Path) -> None:
    request = _breast_cancer(tmp_path)
    storage, snapshots = _run(tmp_path, request, fail_every=1)
    (_, _, ended) = next(t for t in reversed(snapshots.taken) if t[1] == DESCRIBE)
    assert ended["HyperParameterTuningJobStatus"] == "Failed"
    assert "simulated failure" in ended["FailureReason"]
    assert "BestTrainingJob" not in ended
    assert snapshots.training_statuses() >= {"Failed"}


def test_completion_details(tmp_path: Path) -> None:
    request = _breast_cancer(
        tmp_path,
        Strategy="Random",
        TuningJobCompletionCriteria={
            "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3},
            "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
        },
    )
    storage, snapshots = _run(tmp_path, request, fail_every=None)
    (_, _, ended) = next(t for t in reversed(snapshots.taken) if t[1] == DESCRIBE)
    assert "NumberOfTrainingJobsObjectiveNotImproving" in ended["TuningJobCompletionDetails"]


def test_a_python_api_job_with_our_resource_fields(tmp_path: Path) -> None:
    from tuner import ContinuousParameter, HyperparameterTuner

    def train(hyperparameters: Mapping[str, Any], ctx: Any) -> None:
        ctx.report(1, loss=float(hyperparameters["x"]) ** 2)

    tuner = HyperparameterTuner(
        train,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=4,
        max_parallel_jobs=2,
        output_path=tmp_path / "out",
        instance_type="ml.g5.xlarge",
        num_cpus=1,
        num_gpus=1,
        allow_cpu_fallback=True,
    )
    storage = SqlStorage(f"sqlite:///{tmp_path / 'tuner.db'}")
    spec = place(tuner.build_spec(job_name="api-shapes"), gpus_here=0).spec
    snapshots = _simulate(spec, storage, tmp_path / "out")
    _check_all(snapshots, "api-shapes")
    extensions = _check_extensions(storage, "api-shapes")
    assert {
        "TrainingJobDefinition.ResourceConfig.NumGpus",
        "TrainingJobDefinition.ResourceConfig.CpuFallbackWarning",
    } <= set(extensions)


def test_every_json_output_of_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``tuner describe/trials/list/best --json`` over a database with several kinds of job."""
    from tuner.cli import main

    request = _breast_cancer(tmp_path, Strategy="TPE")
    request["TrainingJobDefinition"]["ResourceConfig"] = dict(EXTENDED_RESOURCES)
    storage, _ = _run(tmp_path, request)
    stopped = _breast_cancer(tmp_path, Strategy="Random")
    stopped["HyperParameterTuningJobName"] = "stopped-job"
    _run(tmp_path, stopped, stop_after=3)
    refused = _short(_load(CORPUS / "dg-warm-start.json")) if CORPUS.is_dir() else None
    if refused is not None:
        _store_refused(refused, storage)
    db = str(tmp_path / "tuner.db")
    names = [j.name for j in storage.list_jobs()]
    assert len(names) == (3 if refused is not None else 2)

    def cli_json(*args: str) -> str:
        capsys.readouterr()
        assert main([*args, "--db", db, "--json"]) == 0
        return capsys.readouterr().out

    listed = assert_json_shape(cli_json("list"), LIST_TUNING_JOBS, "list --json")
    assert sorted(
        s["HyperParameterTuningJobName"] for s in listed["HyperParameterTuningJobSummaries"]
    ) == sorted(names)
    for name in names:
        described = assert_json_shape(cli_json("describe", name), DESCRIBE, f"describe {name}")
        if name == (refused or {}).get("HyperParameterTuningJobName"):
            assert "WarmStartConfig" in described
        for args in (
            (),
            ("--sort-by", "FinalObjectiveMetricValue", "--sort-order", "Descending"),
            ("--sort-by", "Status"),
            ("--status", "Stopped"),
        ):
            assert_json_shape(cli_json("trials", name, *args), LIST_TRAINING_JOBS, name)
        assert_json_shape(cli_json("best", name), TRAINING_JOB_SUMMARY, f"best {name}")
