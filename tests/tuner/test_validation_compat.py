"""Requests as AMT users write them, and what validation can know before a run.

* ``TrainingJobDefinitions`` with one entry (how the console records a job) runs as that one
  definition; several are refused with one message.
* An objective measured on a channel the request lacks, and a channel the algorithm cannot
  read, are refused by ``validate``, not by a failing training job.
* A GPU instance type on a machine without a GPU: the local executor trains on the CPU with a
  warning recorded in the job, unless AllowCpuFallback is false or a GPU is required; ``tuner
  validate`` and ``tuner run`` agree on it.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from algorithms import available_algorithms, get_algorithm
from algorithms.data import load_channel, write_csv
from tuner.describe import request_extensions
from tuner.errors import InvalidSpecError
from tuner.objective import Objective, ObjectiveType
from tuner.spec import spec_from_request
from tuner.spec.algorithm import check_objective_channel
from tuner.spec.inputs import _TABULAR_SPELLINGS, CHANNELS_READ
from tuner.spec.placement import CPU_FALLBACK_FIELD, place
from tuner.spec.problems import Problems
from tuner.spec.resources import local_gpu_count
from tuner.storage import SqlStorage

CONFIG = "HyperParameterTuningJobConfig"
DEFINITION = "TrainingJobDefinition"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAIN_CSV = "1,0.5,0.2\n0,0.1,0.3\n1,0.7,0.9\n0,0.2,0.1\n1,0.9,0.4\n0,0.3,0.2\n"


def _channel(name: str, uri: str, **extra: Any) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
        **extra,
    }


def xgboost_request(data_dir: Path) -> dict[str, Any]:
    """A valid single-definition xgboost request with train and validation CSV channels."""
    (data_dir / "train.csv").write_text(TRAIN_CSV)
    (data_dir / "validation.csv").write_text(TRAIN_CSV)
    return {
        "HyperParameterTuningJobName": "compat",
        CONFIG: {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize",
                "MetricName": "validation:auc",
            },
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5"}
                ]
            },
        },
        DEFINITION: {
            "AlgorithmSpecification": {"AlgorithmName": "xgboost", "TrainingInputMode": "File"},
            "StaticHyperParameters": {"num_round": "3", "objective": "binary:logistic"},
            "InputDataConfig": [
                _channel("train", "train.csv", ContentType="text/csv"),
                _channel("validation", "validation.csv", ContentType="text/csv"),
            ],
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        },
    }


def console_form(request: dict[str, Any], name: str = "xgb") -> dict[str, Any]:
    """The same job as the console records it: one TrainingJobDefinitions entry carrying its
    own objective and ranges, none at the top level."""
    out = copy.deepcopy(request)
    config = out[CONFIG]
    definition = out.pop(DEFINITION)
    out["TrainingJobDefinitions"] = [
        {
            "DefinitionName": name,
            "TuningObjective": config.pop("HyperParameterTuningJobObjective"),
            "HyperParameterRanges": config.pop("ParameterRanges"),
            **definition,
        }
    ]
    return out


def problems_of(request: dict[str, Any], data_dir: Path) -> list[str]:
    with pytest.raises(InvalidSpecError) as info:
        spec_from_request(request, base_dir=data_dir)
    return info.value.problems


# ------------------------------------------------------------------------------------------
# TrainingJobDefinitions
# ------------------------------------------------------------------------------------------
def test_one_training_job_definitions_entry_runs_as_that_definition(tmp_path: Path) -> None:
    single = xgboost_request(tmp_path)
    expected = spec_from_request(single, base_dir=tmp_path)
    spec = spec_from_request(console_form(single), base_dir=tmp_path)

    assert spec.algorithm == expected.algorithm == "xgboost"
    assert (
        spec.objective == expected.objective == Objective("validation:auc", ObjectiveType.MAXIMIZE)
    )
    assert spec.space.ranges == expected.space.ranges
    assert dict(spec.static_hyperparameters) == dict(expected.static_hyperparameters)
    assert spec.channels == expected.channels
    assert spec.resources == expected.resources
    # Stored (and described, and resumed) in the single-definition form, its name kept.
    stored = spec.request
    assert "TrainingJobDefinitions" not in stored
    assert stored[DEFINITION]["DefinitionName"] == "xgb"
    assert "TuningObjective" not in stored[DEFINITION]
    assert stored[CONFIG]["HyperParameterTuningJobObjective"]["MetricName"] == "validation:auc"
    assert stored[CONFIG]["ParameterRanges"] == single[CONFIG]["ParameterRanges"]
    resumed = spec_from_request(stored, base_dir=tmp_path)
    assert resumed.space.ranges == spec.space.ranges and resumed.objective == spec.objective


def test_one_definition_may_repeat_the_same_objective_at_the_top(tmp_path: Path) -> None:
    single = xgboost_request(tmp_path)
    request = console_form(single)
    request[CONFIG]["HyperParameterTuningJobObjective"] = copy.deepcopy(
        single[CONFIG]["HyperParameterTuningJobObjective"]
    )
    assert spec_from_request(request, base_dir=tmp_path).objective.metric == "validation:auc"


def test_one_definition_without_its_own_ranges_takes_the_top_level_ones(tmp_path: Path) -> None:
    single = xgboost_request(tmp_path)
    request = console_form(single)
    request[CONFIG]["ParameterRanges"] = request["TrainingJobDefinitions"][0].pop(
        "HyperParameterRanges"
    )
    assert set(spec_from_request(request, base_dir=tmp_path).space.ranges) == {"eta"}


def test_several_definitions_are_valid_and_named_where_written(tmp_path: Path) -> None:
    """A multi-algorithm request is valid; a problem of its second definition is named under
    that definition's index, once."""
    request = console_form(xgboost_request(tmp_path))
    second = copy.deepcopy(request["TrainingJobDefinitions"][0])
    second["DefinitionName"] = "xgb-deep"
    request["TrainingJobDefinitions"].append(second)
    spec = spec_from_request(request, base_dir=tmp_path)
    assert [d.name for d in spec.definitions] == ["xgb", "xgb-deep"]
    second["TuningObjective"]["MetricName"] = "test:auc"
    problems = problems_of(request, tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith("TrainingJobDefinitions[1].TuningObjective.MetricName:")


def test_problems_of_one_definition_are_named_where_written(tmp_path: Path) -> None:
    request = console_form(xgboost_request(tmp_path))
    definition = request["TrainingJobDefinitions"][0]
    definition["TuningObjective"]["MetricName"] = "test:auc"
    definition["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "missing.csv"
    problems = problems_of(request, tmp_path)
    assert len(problems) == 2, problems
    assert problems[0].startswith(
        "TrainingJobDefinitions[0].TuningObjective.MetricName: 'test:auc'"
    )
    assert problems[1].startswith(
        "TrainingJobDefinitions[0].InputDataConfig[0] ('train').DataSource.S3DataSource.S3Uri: "
        "no such file or folder"
    )


# ------------------------------------------------------------------------------------------
# Objectives measured on a channel the request lacks
# ------------------------------------------------------------------------------------------
def kmeans_request(data_dir: Path, *, test_channel: bool) -> dict[str, Any]:
    (data_dir / "train.csv").write_text(TRAIN_CSV)
    (data_dir / "test.csv").write_text(TRAIN_CSV)
    channels = [_channel("train", "train.csv")]
    if test_channel:
        channels.append(_channel("test", "test.csv"))
    return {
        "HyperParameterTuningJobName": "kmeans-msd",
        CONFIG: {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "test:msd"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "k", "MinValue": "2", "MaxValue": "3"}]
            },
        },
        DEFINITION: {
            "AlgorithmSpecification": {"AlgorithmName": "kmeans", "TrainingInputMode": "File"},
            "StaticHyperParameters": {"feature_dim": "2"},
            "InputDataConfig": channels,
        },
    }


def test_test_metric_without_a_test_channel_is_one_problem(tmp_path: Path) -> None:
    assert problems_of(kmeans_request(tmp_path, test_channel=False), tmp_path) == [
        f"{CONFIG}.HyperParameterTuningJobObjective.MetricName: 'test:msd' is measured on the "
        "'test' channel, which InputDataConfig does not have (channels: 'train'); add a 'test' "
        "channel or choose another objective"
    ]
    spec = spec_from_request(kmeans_request(tmp_path, test_channel=True), base_dir=tmp_path)
    assert set(spec.channels) == {"train", "test"}


def test_validation_metric_without_a_validation_channel(tmp_path: Path) -> None:
    request = xgboost_request(tmp_path)
    request[DEFINITION]["InputDataConfig"].pop(1)
    (problem,) = problems_of(request, tmp_path)
    assert "'validation:auc' is measured on the 'validation' channel" in problem


def test_a_channel_whose_data_is_missing_is_not_also_reported_missing(tmp_path: Path) -> None:
    request = xgboost_request(tmp_path)
    request[DEFINITION]["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] = "nope.csv"
    (problem,) = problems_of(request, tmp_path)
    assert "no such file or folder" in problem


@pytest.mark.parametrize("algorithm", sorted(available_algorithms()))
def test_every_builtin_metric_needs_the_channel_it_is_named_after(algorithm: str) -> None:
    """The rule is the metric name's channel prefix, for every algorithm and metric."""
    for metric, direction in get_algorithm(algorithm).metrics.items():
        channel = metric.split(":", 1)[0]
        objective = Objective(metric, ObjectiveType(direction))
        others = [name for name in ("train", "validation", "test") if name != channel]
        lacking = Problems()
        check_objective_channel(objective, algorithm, others, lacking)
        assert len(lacking.items) == 1, (metric, lacking.items)
        assert f"the {channel!r} channel" in lacking.items[0]
        having = Problems()
        check_objective_channel(objective, algorithm, [*others, channel], having)
        assert not having, (metric, having.items)


# ------------------------------------------------------------------------------------------
# Channels the algorithm cannot read
# ------------------------------------------------------------------------------------------
def test_every_builtin_algorithm_says_what_it_reads() -> None:
    """A new algorithm must be placed in CHANNELS_READ (else its channels go unchecked)."""
    assert set(CHANNELS_READ) == set(available_algorithms())


@pytest.mark.parametrize("content_type", sorted(_TABULAR_SPELLINGS))
def test_tabular_content_types_are_the_ones_load_channel_takes(
    content_type: str, tmp_path: Path
) -> None:
    path = tmp_path / "x.csv"
    write_csv(path, [[0.5, 1.0]], [1.0])
    message = ""
    try:
        load_channel(path, content_type)
    except ValueError as exc:  # the wrong reader for CSV, but the content type was taken
        message = str(exc)
    assert "is not supported" not in message
    with pytest.raises(ValueError, match="is not supported"):
        load_channel(path, "image/png")


def test_content_type_a_tabular_algorithm_cannot_read(tmp_path: Path) -> None:
    request = xgboost_request(tmp_path)
    request[DEFINITION]["InputDataConfig"][0]["ContentType"] = "application/x-image"
    assert problems_of(request, tmp_path) == [
        f"{DEFINITION}.InputDataConfig[0] ('train').ContentType: xgboost cannot read "
        "'application/x-image'; it reads text/csv, text/libsvm, application/x-parquet or "
        "application/x-recordio-protobuf"
    ]
    request[DEFINITION]["InputDataConfig"][0]["ContentType"] = "text/csv; label_size=1"
    assert spec_from_request(request, base_dir=tmp_path).algorithm == "xgboost"


def test_images_in_a_tabular_channel(tmp_path: Path) -> None:
    request = xgboost_request(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.jpg", "c.png", "d.png"):
        (images / name).write_bytes(b"\x89PNG")
    channel = request[DEFINITION]["InputDataConfig"][0]
    del channel["ContentType"]
    channel["DataSource"]["S3DataSource"]["S3Uri"] = str(images)
    assert problems_of(request, tmp_path) == [
        f"{DEFINITION}.InputDataConfig[0] ('train').DataSource.S3DataSource.S3Uri: xgboost "
        "cannot read images or .lst files (a.png, b.jpg, c.png and 1 more); it reads CSV, "
        "libsvm, Parquet or RecordIO-protobuf files"
    ]


def image_request(data_dir: Path, train_uri: str, content_type: str | None) -> dict[str, Any]:
    extra = {"ContentType": content_type} if content_type else {}
    return {
        "HyperParameterTuningJobName": "ic",
        CONFIG: {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize",
                "MetricName": "train:accuracy",
            },
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.01", "MaxValue": "0.1"}
                ]
            },
        },
        DEFINITION: {
            "AlgorithmSpecification": {
                "AlgorithmName": "image-classification",
                "TrainingInputMode": "File",
            },
            "StaticHyperParameters": {"num_classes": "2", "num_training_samples": "4"},
            "InputDataConfig": [_channel("train", train_uri, **extra)],
        },
    }


def test_what_image_classification_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(TRAIN_CSV)
    for name in ("cat", "dog"):
        (tmp_path / "images" / name).mkdir(parents=True)
        (tmp_path / "images" / name / "1.png").write_bytes(b"\x89PNG")
    path = f"{DEFINITION}.InputDataConfig[0] ('train')"
    assert problems_of(image_request(tmp_path, "images", "text/csv"), tmp_path) == [
        f"{path}.ContentType: image-classification reads images (application/x-image, "
        "image/jpeg, image/png), not 'text/csv'"
    ]
    assert problems_of(image_request(tmp_path, "train.csv", None), tmp_path) == [
        f"{path}.DataSource.S3DataSource.S3Uri: image-classification cannot read train.csv: it "
        "reads images with a .lst file, or a folder with one sub-folder of images per class"
    ]
    # Images, MXNet RecordIO and untyped class folders are not refused.
    for content_type in ("application/x-image", "image/png", "application/x-recordio", None):
        spec = spec_from_request(
            image_request(tmp_path, "images", content_type), base_dir=tmp_path
        )
        assert spec.algorithm == "image-classification"


def test_a_manifest_channel_is_not_looked_into(tmp_path: Path) -> None:
    request = xgboost_request(tmp_path)
    (tmp_path / "train.manifest").write_text('[{"prefix": "file://data/"}, "a.png"]\n')
    channel = request[DEFINITION]["InputDataConfig"][0]
    channel["DataSource"]["S3DataSource"].update(S3DataType="ManifestFile", S3Uri="train.manifest")
    channel["ContentType"] = "application/x-image"
    for problem in _problems_or_none(request, tmp_path):
        assert "cannot read" not in problem


def _problems_or_none(request: dict[str, Any], data_dir: Path) -> list[str]:
    try:
        spec_from_request(request, base_dir=data_dir)
    except InvalidSpecError as exc:
        return exc.problems
    return []


# ------------------------------------------------------------------------------------------
# Messages: values as written, one message per problem
# ------------------------------------------------------------------------------------------
def test_bounds_are_quoted_as_written(tmp_path: Path) -> None:
    request = xgboost_request(tmp_path)
    request[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"] = [
        {"Name": "colsample_bynode", "MinValue": "0", "MaxValue": "1"},  # (0, 1]
        {"Name": "eta", "MinValue": "1e-1", "MaxValue": "0.05"},
    ]
    assert problems_of(request, tmp_path) == [
        f"{CONFIG}.ParameterRanges.ContinuousParameterRanges[1] ('eta'): MinValue must be less "
        "than MaxValue, got MinValue '1e-1' and MaxValue '0.05'",
        f"{CONFIG}.ParameterRanges ('colsample_bynode'): MinValue '0' outside the valid range: "
        "a number > 0 and <= 1",
    ]


def test_autotune_fills_what_auto_parameters_leave_out(tmp_path: Path) -> None:
    """num_round given only as an AutoParameter is tuned, not reported missing."""
    request = xgboost_request(tmp_path)
    request["Autotune"] = {"Mode": "Enabled"}
    request[CONFIG]["ParameterRanges"] = {
        "AutoParameters": [{"Name": "num_round", "ValueHint": "10"}]
    }
    del request[DEFINITION]["StaticHyperParameters"]["num_round"]
    spec = spec_from_request(request, base_dir=tmp_path)
    num_round = spec.space.ranges["num_round"]
    assert (num_round.min_value, num_round.max_value) == (1, 4000)


def test_the_same_problem_is_reported_once() -> None:
    problems = Problems()
    problems.add("Field", "is wrong")
    problems.add("Field", "is wrong")
    problems.add("Field", "is also too long")
    assert problems.items == ["Field: is wrong", "Field: is also too long"]


# ------------------------------------------------------------------------------------------
# GPUs on a machine without one
# ------------------------------------------------------------------------------------------
def gpu_spec(data_dir: Path, **resource_config: Any):
    request = xgboost_request(data_dir)
    request[DEFINITION]["ResourceConfig"] = {"InstanceType": "ml.p3.2xlarge", **resource_config}
    return spec_from_request(request, base_dir=data_dir)


def test_local_gpu_instance_type_falls_back_to_the_cpu_with_a_warning(tmp_path: Path) -> None:
    spec = gpu_spec(tmp_path)
    assert spec.resources.num_gpus == 1.0  # the request itself is valid anywhere
    placed = place(spec, gpus_here=0)
    assert placed.warning == (
        "InstanceType 'ml.p3.2xlarge' has 1 GPU but this machine has no GPU: training jobs run "
        "on the CPU (AllowCpuFallback false, or --require-gpu, refuses instead)"
    )
    assert placed.spec.resources.num_gpus == 0.0
    recorded = placed.spec.request[DEFINITION]["ResourceConfig"]
    assert recorded[CPU_FALLBACK_FIELD] == placed.warning
    assert CPU_FALLBACK_FIELD not in spec.request[DEFINITION]["ResourceConfig"]  # a copy
    # The stored request, with its record, validates again (resume).
    assert spec_from_request(placed.spec.request, base_dir=tmp_path).resources.num_gpus == 1.0
    assert place(spec, gpus_here=1).spec == spec  # a machine with a GPU uses it


@pytest.mark.parametrize(
    ("resource_config", "require_gpu", "why"),
    [
        ({"AllowCpuFallback": False}, False, ", and AllowCpuFallback is false"),
        ({}, True, ", and a GPU is required (--require-gpu)"),
        ({"AllowCpuFallback": True}, True, ", and a GPU is required (--require-gpu)"),
    ],
)
def test_local_gpu_refused(tmp_path: Path, resource_config, require_gpu, why) -> None:
    spec = gpu_spec(tmp_path, **resource_config)
    with pytest.raises(InvalidSpecError) as info:
        place(spec, gpus_here=0, require_gpu=require_gpu)
    (problem,) = info.value.problems
    assert problem.startswith(
        f"{DEFINITION}.ResourceConfig: InstanceType 'ml.p3.2xlarge' has 1 GPU but this machine "
        f"has no GPU{why}"
    )


def test_explicit_num_gpus_is_a_requirement_unless_fallback_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError, match="NumGpus 0.5 asks for a GPU .*AllowCpuFallback"):
        place(gpu_spec(tmp_path, NumGpus=0.5), gpus_here=0)
    placed = place(gpu_spec(tmp_path, NumGpus=0.5, AllowCpuFallback=True), gpus_here=0)
    assert placed.warning is not None and placed.spec.resources.num_gpus == 0.0


def test_ray_keeps_gpu_requests(tmp_path: Path) -> None:
    spec = gpu_spec(tmp_path)
    assert place(spec, executor="ray", gpus_here=0) == place(spec, executor="ray")
    assert place(spec, executor="ray").spec.resources.num_gpus == 1.0
    fallback = gpu_spec(tmp_path, AllowCpuFallback=True)
    assert place(fallback, ray_address="auto").spec.resources.allow_cpu_fallback is True
    required = place(fallback, executor="ray", require_gpu=True).spec.resources
    assert required.allow_cpu_fallback is False and required.num_gpus == 1.0


# ------------------------------------------------------------------------------------------
# tuner validate and tuner run agree (a real CLI run on this machine)
# ------------------------------------------------------------------------------------------
def _tuner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuner.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _gpu_spec_file(datasets: dict[str, Path], tmp_path: Path, **resource_config: Any) -> Path:
    request = json.loads((EXAMPLES / "xgboost-breast-cancer.json").read_text())
    data = datasets["breast_cancer"]
    definition = request[DEFINITION]
    definition["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = str(
        data / "train.csv"
    )
    definition["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] = str(
        data / "validation.csv"
    )
    definition["StaticHyperParameters"]["num_round"] = "5"
    definition["ResourceConfig"] = {"InstanceType": "ml.g5.xlarge", **resource_config}
    request[CONFIG]["ResourceLimits"] = {
        "MaxNumberOfTrainingJobs": 1,
        "MaxParallelTrainingJobs": 1,
    }
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(request))
    return path


def _lines(text: str, prefix: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith(prefix)]


@pytest.mark.slow
def test_validate_and_run_agree_on_a_gpu_instance_type(datasets, tmp_path: Path) -> None:
    if local_gpu_count():
        pytest.skip("this machine has a GPU")
    spec = _gpu_spec_file(datasets, tmp_path)
    db = str(tmp_path / "t.db")

    validated = _tuner("validate", str(spec), cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "valid" in validated.stdout
    (warning,) = _lines(validated.stderr, "warning:")
    assert "InstanceType 'ml.g5.xlarge' has 1 GPU but this machine has no GPU" in warning

    ran = _tuner("run", str(spec), "--db", db, "--quiet", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert _lines(ran.stderr, "warning:") == [warning]
    described = json.loads(
        _tuner(
            "describe", "xgb-breast-cancer", "--db", db, "--json", "--extensions", cwd=tmp_path
        ).stdout
    )
    assert described["TrainingJobStatusCounters"]["Completed"] == 1
    # Recorded, outside AWS's ResourceConfig shape (tuner.describe): in our extensions block.
    assert CPU_FALLBACK_FIELD not in described[DEFINITION]["ResourceConfig"]
    recorded = described["TunerExtensions"][f"{DEFINITION}.ResourceConfig.{CPU_FALLBACK_FIELD}"]
    assert f"warning: {recorded}" == warning

    for extra, args in (({"AllowCpuFallback": False}, ()), ({}, ("--require-gpu",))):
        refused = _gpu_spec_file(datasets, tmp_path, **extra)
        bad_db = tmp_path / "refused.db"
        checked = _tuner("validate", str(refused), *args, cwd=tmp_path)
        run = _tuner("run", str(refused), "--db", str(bad_db), *args, cwd=tmp_path)
        assert checked.returncode == run.returncode == 2, (checked.stderr, run.stderr)
        (problem,) = _lines(checked.stderr, "- ")
        assert _lines(run.stderr, "- ") == [problem]
        assert problem.startswith(f"- {DEFINITION}.ResourceConfig: InstanceType 'ml.g5.xlarge'")
        assert not bad_db.exists()


def test_python_api_warns_and_records_the_cpu_fallback(db_url: str, tmp_path: Path) -> None:
    if local_gpu_count():
        pytest.skip("this machine has a GPU")
    from tuner import ContinuousParameter, HyperparameterTuner

    def quadratic(hyperparameters, ctx) -> None:
        ctx.report(1, loss=(float(hyperparameters["x"]) - 0.3) ** 2)

    tuner = HyperparameterTuner(
        quadratic,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=1,
        storage=db_url,
        output_path=tmp_path,
        instance_type="ml.g5.xlarge",
    )
    with pytest.warns(RuntimeWarning, match="has 1 GPU but this machine has no GPU"):
        tuner.fit(job_name="api-fallback")
    described = tuner.describe()
    assert described["TrainingJobStatusCounters"]["Completed"] == 1
    assert CPU_FALLBACK_FIELD not in described[DEFINITION]["ResourceConfig"]  # AWS's shape
    recorded = request_extensions(SqlStorage(db_url).load_job("api-fallback"))
    assert (
        "training jobs run on the CPU"
        in recorded[f"{DEFINITION}.ResourceConfig.{CPU_FALLBACK_FIELD}"]
    )
    refusing = HyperparameterTuner(
        quadratic,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=1,
        storage=db_url,
        instance_type="ml.g5.xlarge",
        require_gpu=True,
    )
    with pytest.raises(InvalidSpecError, match=r"a GPU is required \(--require-gpu\)"):
        refusing.fit(job_name="api-refused")
