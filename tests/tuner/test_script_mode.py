"""Script mode: framework images run the user's entry point as SageMaker's containers do.

Real scripts (written in tmp_path) run as real subprocesses, from a folder and from a real
``sourcedir.tar.gz``, in real jobs through the CLI and the Python API on the local executor
(one on Ray). The environment they see is checked against the SageMaker training toolkit's
(``sagemaker_training.environment``), the metrics against AMT's MetricDefinitions rules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tuner import CategoricalParameter, ContinuousParameter, HyperparameterTuner
from tuner.errors import InvalidSpecError
from tuner.script.frameworks import framework_of, repository_name
from tuner.script.layout import command_args, split_hyperparameters
from tuner.script.metrics import Datapoints, MetricParser, compile_definitions
from tuner.spec.validation import spec_from_request
from tuner.storage import SqlStorage

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "script_mode"
PYTORCH = "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:1.13.1-cpu-py39"
LOSS = [{"Name": "loss", "Regex": r"loss=(\S+)"}, {"Name": "acc", "Regex": r"acc=(\S+)"}]

#: Dumps what the script was given, then prints a short learning curve.
ENV_SCRIPT = """
import json, os, sys
from pathlib import Path
seen = {
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("SM_", "SAGEMAKER_"))},
    "channel_files": sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])),
}
Path(os.environ["SM_OUTPUT_DATA_DIR"], "seen.json").write_text(json.dumps(seen))
Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("weights")
x = float(json.loads(os.environ["SM_HPS"])["x"])
for epoch in range(1, 4):
    print(f"epoch {epoch} loss={(x - 0.3) ** 2 + 1 / epoch:.6f} acc=N/A", flush=True)
print(f"acc={1 - x:.4f}", file=sys.stderr)
"""


def _tuner(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "tuner.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"tuner {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


def _source(tmp_path: Path, script: str, name: str = "train.py", **files: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / name).write_text(textwrap.dedent(script))
    for file, text in files.items():
        (src / file).write_text(text)
    return src


def _tarball(src: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as archive:
        for path in src.iterdir():
            archive.add(path, arcname=path.name)
    return target


def _data(tmp_path: Path) -> Path:
    train = tmp_path / "data" / "train.csv"
    train.parent.mkdir(parents=True, exist_ok=True)
    train.write_text("1,0.5\n0,0.1\n")
    return train


def _request(
    source: str,
    train: Path,
    *,
    name: str = "script-job",
    image: str = PYTORCH,
    metrics: list[dict[str, str]] | None = None,
    objective: str = "loss",
    max_jobs: int = 2,
    parallel: int = 2,
    static: dict[str, str] | None = None,
    early_stopping: str = "Off",
    ranges: dict[str, Any] | None = None,
    strategy: str = "Random",
    max_runtime: int | None = None,
) -> dict[str, Any]:
    statics = {
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(source),
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"pytorch-training-2026-01-01"',
        "sagemaker_region": '"us-west-2"',
        "sagemaker_estimator_class_name": '"PyTorch"',
        "batch-size": '"32"',
    }
    statics.update(static or {})
    definition: dict[str, Any] = {
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": LOSS if metrics is None else metrics,
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "StaticHyperParameters": statics,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(train)}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime or 600},
    }
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": objective},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": max_jobs,
                "MaxParallelTrainingJobs": parallel,
            },
            "ParameterRanges": ranges
            or {
                "ContinuousParameterRanges": [
                    {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}
                ]
            },
            "TrainingJobEarlyStoppingType": early_stopping,
            "RandomSeed": 3,
        },
        "TrainingJobDefinition": definition,
    }


def _write(tmp_path: Path, request: dict[str, Any]) -> Path:
    spec = tmp_path / f"{request['HyperParameterTuningJobName']}.json"
    spec.write_text(json.dumps(request))
    return spec


def _trials(name: str, db: str, cwd: Path) -> list[dict[str, Any]]:
    out = _tuner("trials", name, "--db", db, "--json", cwd=cwd).stdout
    return list(json.loads(out)["TrainingJobSummaries"])


def _dead(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _problems(request: dict[str, Any]) -> str:
    with pytest.raises(InvalidSpecError) as info:
        spec_from_request(request)
    return str(info.value)


# -- pure parts ----------------------------------------------------------------------------------
def test_framework_images_are_recognised_by_repository_name() -> None:
    assert repository_name(PYTORCH) == "pytorch-training"
    program = {"sagemaker_program": '"train.py"'}
    for image, framework in (
        (PYTORCH, "pytorch"),
        (
            "763104351884.dkr.ecr.us-west-2.amazonaws.com/tensorflow-training:2.11-cpu-py39",
            "tensorflow",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "sklearn",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:1.13-gpu",
            "huggingface",
        ),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/mxnet-training:1.9.0-cpu-py38", "mxnet"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "xgboost"),
    ):
        assert framework_of(image, program) == framework
    # XGBoost without a program is the built-in algorithm; an own container is nothing.
    assert (
        framework_of("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", {})
        is None
    )
    assert (
        framework_of("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own:latest", program) is None
    )


def test_metric_regexes_find_every_datapoint_and_count_non_numeric_captures() -> None:
    parser = MetricParser(compile_definitions(LOSS + [{"Name": "n", "Regex": "(?<=n=)[0-9]+"}]))
    assert parser.feed("acc=0.5 loss=0.25 loss=0.2") == [
        ("acc", 0.5),
        ("loss", 0.25),
        ("loss", 0.2),
    ]
    assert parser.feed("loss=nan acc=N/A loss=abc") == []
    assert parser.feed("n=3") == [("n", 3.0)]  # no group: the whole match
    assert parser.non_numeric == {"loss": 2, "acc": 1}
    assert parser.summary() == [
        "[tuner] metric 'acc': 1 non-numeric capture(s) ignored (last: 'N/A')",
        "[tuner] metric 'loss': 2 non-numeric capture(s) ignored (last: 'abc')",
    ]
    points = Datapoints("loss")
    assert points.add("acc", 0.5) is None
    assert points.add("loss", 0.3) == (1, {"acc": 0.5, "loss": 0.3})
    assert points.add("loss", 0.2) == (2, {"loss": 0.2})
    assert points.add("acc", 0.9) is None
    assert points.rest() == (2, {"acc": 0.9})


def test_hyperparameters_are_decoded_and_passed_as_the_toolkit_does() -> None:
    user, platform = split_hyperparameters(
        {
            "sagemaker_program": '"train.py"',
            "_tuning_objective_metric": "loss",
            "batch-size": '"32"',
            "lr": "0.1",
            "optimizer": "adam",
            "b": "true",
        }
    )
    assert platform == {"sagemaker_program": "train.py", "_tuning_objective_metric": "loss"}
    assert user == {"batch-size": "32", "lr": 0.1, "optimizer": "adam", "b": True}
    assert command_args(user) == [
        "-b", "True", "--batch-size", "32", "--lr", "0.1", "--optimizer", "adam",
    ]  # fmt: skip


# -- validation ----------------------------------------------------------------------------------
def test_invalid_script_mode_requests_get_amts_errors(tmp_path: Path) -> None:
    src = str(_source(tmp_path, "print('hi')\n"))
    train = _data(tmp_path)
    objective_path = "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.MetricName"
    amt = "A metric is required for this hyperparameter tuning job objective"
    assert f"{objective_path}: {amt}" in _problems(_request(src, train, objective="accuracy"))
    assert amt in _problems(_request(src, train, metrics=[]))
    static = "TrainingJobDefinition.StaticHyperParameters"
    missing = _problems(_request(src, train, static={"sagemaker_program": '"nope.py"'}))
    assert f"{static}.sagemaker_program: no entry point 'nope.py' in {src}" in missing
    gone = _problems(_request(str(tmp_path / "gone"), train))
    assert f"{static}.sagemaker_submit_directory: no such folder or file" in gone
    s3 = _problems(_request("s3://bucket/job/source/sourcedir.tar.gz", train))
    assert f"{static}.sagemaker_submit_directory:" in s3
    assert "download it" in s3 and "local path or a file:// URI" in s3
    request = _request(src, train)
    del request["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_program"]
    assert f"{static}.sagemaker_program: is required" in _problems(request)
    bad_regex = _problems(_request(src, train, metrics=[{"Name": "loss", "Regex": "loss=("}]))
    assert "MetricDefinitions[0].Regex: is not a valid Python regular expression" in bad_regex
    own = _problems(_request(src, train, image="1234.dkr.ecr.us-east-1.amazonaws.com/mine:1"))
    assert "is not a built-in algorithm" in own
    # A file:// URI and a tar.gz are fine; the entry point is looked for inside the archive.
    spec = spec_from_request(_request(f"file://{src}", train))
    assert spec.script is not None and spec.script["source"] == src
    tarball = _tarball(Path(src), tmp_path / "sourcedir.tar.gz")
    assert spec_from_request(_request(str(tarball), train)).script is not None
    inside = _problems(_request(str(tarball), train, static={"sagemaker_program": '"x.py"'}))
    assert "no entry point 'x.py'" in inside


def test_validate_prints_the_problem_and_exits_2(tmp_path: Path) -> None:
    spec = _write(tmp_path, _request("s3://bucket/sourcedir.tar.gz", _data(tmp_path)))
    proc = _tuner("validate", str(spec), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "sagemaker_submit_directory" in proc.stderr + proc.stdout


def test_a_relative_source_is_read_against_the_spec_files_folder(tmp_path: Path) -> None:
    """As data channels are: validate (and run) from any working directory."""
    _source(tmp_path, "print('val_loss=0.5')\n")
    spec = _write(tmp_path, _request("src", _data(tmp_path)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _tuner("validate", str(spec), cwd=elsewhere, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- real jobs -----------------------------------------------------------------------------------
def test_cli_job_from_a_tarball_sees_the_toolkits_environment(tmp_path: Path) -> None:
    src = _source(tmp_path, ENV_SCRIPT, **{"requirements.txt": "# nothing to install\n"})
    tarball = _tarball(src, tmp_path / "sourcedir.tar.gz")
    shutil.rmtree(src)
    train = _data(tmp_path)
    spec = _write(tmp_path, _request(str(tarball), train, name="env-job"))
    db = f"sqlite:///{tmp_path / 't.db'}"
    proc = _tuner(
        "run", str(spec), "--db", db, "--output", str(tmp_path / "out"), "--quiet", cwd=tmp_path
    )
    assert "requirements.txt, which is not installed" in proc.stderr
    trials = _trials("env-job", db, tmp_path)
    assert [t["TrainingJobStatus"] for t in trials] == ["Completed", "Completed"]
    trial = trials[0]
    folder = tmp_path / "out" / trial["TrainingJobName"]
    x = float(trial["TunedHyperParameters"]["x"])
    # The final objective is the last datapoint; "acc=N/A" was no datapoint, stderr's acc was.
    objective = trial["FinalHyperParameterTuningJobObjectiveMetric"]
    assert objective["Value"] == pytest.approx((x - 0.3) ** 2 + 1 / 3, abs=1e-5)
    storage = SqlStorage(db)
    stored = next(t for t in storage.trials("env-job") if t.name == trial["TrainingJobName"])
    assert stored.final_metrics["acc"] == pytest.approx(1 - x, abs=1e-4)
    curve = storage.curves("env-job", ["loss"])[stored.number]
    assert [point.epoch for point in curve] == [1, 2, 3]  # one report per objective datapoint
    log = (folder / "training-job.log").read_text()
    assert "epoch 3 loss=" in log and "metric 'acc': 3 non-numeric capture(s) ignored" in log
    assert "requirements.txt" in log

    written = json.loads((folder / "input/config/hyperparameters.json").read_text())
    assert written["sagemaker_program"] == '"train.py"' and written["batch-size"] == '"32"'
    assert written["_tuning_objective_metric"] == "loss"
    assert float(written["x"]) == x
    resources = json.loads((folder / "input/config/resourceconfig.json").read_text())
    assert resources["current_host"] == "algo-1" and resources["hosts"] == ["algo-1"]
    assert (folder / "model/model.txt").read_text() == "weights"

    seen = json.loads((folder / "output/data/seen.json").read_text())
    env = seen["env"]
    assert seen["cwd"] == str(folder / "code")
    assert seen["channel_files"] == ["train.csv"]
    assert seen["argv"] == ["--batch-size", "32", "-x", str(x)]  # one letter: "-x"
    hps = json.loads(env["SM_HPS"])
    assert hps == {"batch-size": "32", "x": x}
    assert env["SM_HP_X"] == json.dumps(x) and env["SM_HP_BATCH-SIZE"] == "32"
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert env["SM_CHANNEL_TRAIN"] == str(folder / "input/data/train")
    assert env["SM_MODEL_DIR"] == str(folder / "model")
    assert env["SM_OUTPUT_DATA_DIR"] == str(folder / "output/data")
    assert env["SM_OUTPUT_DIR"] == str(folder / "output")
    assert env["SM_INPUT_DIR"] == str(folder / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(folder / "input/config")
    assert int(env["SM_NUM_CPUS"]) >= 1 and env["SM_NUM_GPUS"] == "0"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == str(tarball)
    assert env["SM_LOG_LEVEL"] == "20"
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_estimator_class_name": "PyTorch"}
    assert json.loads(env["SM_USER_ARGS"]) == seen["argv"]
    assert env["SAGEMAKER_REGION"] == "us-west-2"
    assert env["SAGEMAKER_JOB_NAME"] == "pytorch-training-2026-01-01"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"] == hps
    assert training_env["channel_input_dirs"] == {"train": env["SM_CHANNEL_TRAIN"]}
    assert training_env["job_name"] == trial["TrainingJobName"]
    assert training_env["current_instance_type"] == "ml.c5.xlarge"
    assert training_env["is_master"] is True and training_env["master_hostname"] == "algo-1"


def test_non_zero_exit_fails_with_the_tail_of_stderr(tmp_path: Path) -> None:
    script = """
    import sys
    print("loss=1.0")
    print("preparing", file=sys.stderr)
    raise SystemExit("CUDA out of patience: the last words")
    """
    src = _source(tmp_path, script)
    spec = _write(tmp_path, _request(str(src), _data(tmp_path), name="fails", max_jobs=1))
    db = f"sqlite:///{tmp_path / 't.db'}"
    run = _tuner(
        "run",
        str(spec),
        "--db",
        db,
        "--output",
        str(tmp_path / "o"),
        "--quiet",
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 1
    (trial,) = _trials("fails", db, tmp_path)
    assert trial["TrainingJobStatus"] == "Failed"
    reason = trial["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError: ExitCode 1")
    assert "preparing\nCUDA out of patience: the last words" in reason


#: Trials 1-3 learn well; later ones are bad, start a child in their process group and run on.
STOPPED_SCRIPT = """
import os, subprocess, sys, time
from pathlib import Path
counter = Path(sys.argv[sys.argv.index("--counter") + 1])
with open(counter, "a") as f:
    f.write("x")
number = len(counter.read_text())
if number <= 3:
    for epoch in range(1, 4):
        print(f"loss={1.0 / epoch}", flush=True)
    sys.exit(0)
child = subprocess.Popen(["sleep", "60"])
Path(counter.parent, f"pids-{number}").write_text(f"{os.getpid()} {child.pid}")
for epoch in range(1, 100):
    print(f"loss={10.0 + epoch}", flush=True)
    time.sleep(0.2)
"""


def _pids(folder: Path) -> list[int]:
    return [int(p) for f in folder.glob("pids-*") for p in f.read_text().split()]


def test_median_rule_stops_a_script_and_kills_its_process_group(tmp_path: Path) -> None:
    src = _source(tmp_path, STOPPED_SCRIPT)
    request = _request(
        str(src),
        _data(tmp_path),
        name="stopped",
        max_jobs=4,
        parallel=1,
        early_stopping="Auto",
        static={"counter": str(tmp_path / "counter")},
    )
    db = f"sqlite:///{tmp_path / 't.db'}"
    started = time.monotonic()
    _tuner(
        "run",
        str(_write(tmp_path, request)),
        "--db",
        db,
        "--output",
        str(tmp_path / "o"),
        "--quiet",
        cwd=tmp_path,
    )
    assert time.monotonic() - started < 60  # the bad trial would run 20 s
    statuses = [t["TrainingJobStatus"] for t in _trials("stopped", db, tmp_path)]
    assert statuses == ["Completed", "Completed", "Completed", "Stopped"]
    pids = _pids(tmp_path)
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while not all(_dead(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_dead(p) for p in pids), "the script or its child outlived the stop"


def test_max_runtime_ends_a_silent_script(tmp_path: Path) -> None:
    script = """
    import os, subprocess, time
    from pathlib import Path
    child = subprocess.Popen(["sleep", "60"])
    Path(os.environ["COUNTER_DIR"], "pids-1").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(60)
    """
    src = _source(tmp_path, script)
    request = _request(str(src), _data(tmp_path), name="too-long", max_jobs=1, max_runtime=1)
    request["TrainingJobDefinition"]["Environment"] = {"COUNTER_DIR": str(tmp_path)}
    db = f"sqlite:///{tmp_path / 't.db'}"
    _tuner(
        "run",
        str(_write(tmp_path, request)),
        "--db",
        db,
        "--output",
        str(tmp_path / "o"),
        "--quiet",
        cwd=tmp_path,
        check=False,
    )
    (trial,) = _trials("too-long", db, tmp_path)
    assert trial["TrainingJobStatus"] == "Stopped"  # as the engine records it for any trial
    (record,) = SqlStorage(db).trials("too-long")
    assert record.failure_reason == "MaxRuntimeExceeded: the training job ran longer than 1 s"
    deadline = time.monotonic() + 5
    pids = _pids(tmp_path)
    while not all(_dead(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pids) == 2 and all(_dead(p) for p in pids)


def _api_tuner(tmp_path: Path, src: Path, **kwargs: Any) -> HyperparameterTuner:
    return HyperparameterTuner(
        objective_metric_name="loss",
        hyperparameter_ranges={
            "x": ContinuousParameter(0, 1),
            "opt": CategoricalParameter(["sgd", "adam"]),
        },
        metric_definitions=LOSS,
        objective_type="Minimize",
        max_jobs=2,
        max_parallel_jobs=2,
        random_seed=1,
        storage=f"sqlite:///{tmp_path / 'api.db'}",
        output_path=tmp_path / "out",
        entry_point="train.py",
        source_dir=src,
        framework="pytorch",
        **kwargs,
    )


def test_python_api_runs_an_entry_point_and_installs_requirements_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _source(tmp_path, ENV_SCRIPT, **{"requirements.txt": "# nothing to install\n"})
    monkeypatch.chdir(tmp_path)
    tuner = _api_tuner(tmp_path, Path("src"), install_requirements=True)  # relative: from cwd
    with warnings_as_errors():
        tuner.fit({"train": _data(tmp_path)}, job_name="api-script")
    assert tuner.describe()["HyperParameterTuningJobStatus"] == "Completed"
    best = tuner.best_training_job()
    seen = json.loads((tmp_path / "out" / best / "output/data/seen.json").read_text())
    assert set(json.loads(seen["env"]["SM_HPS"])) == {"x", "opt"}
    assert seen["env"]["SM_MODULE_DIR"] == str(src)
    log = (tmp_path / "out" / best / "training-job.log").read_text()
    assert "requirements.txt" not in log  # installed once for the job: no warning
    with pytest.warns(RuntimeWarning, match="requirements.txt, which is not installed"):
        _api_tuner(tmp_path, src, max_runtime_in_seconds=None).fit(
            {"train": _data(tmp_path)}, job_name="api-script-2"
        )


class warnings_as_errors:  # noqa: N801 - used as a context manager
    """No warning may be raised inside (the requirements were installed, not warned about)."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


ONE_RANGE = {"lr": ContinuousParameter(0.01, 0.1)}


def test_python_api_refuses_a_callable_with_an_entry_point(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot be combined with a callable"):
        HyperparameterTuner(lambda hp, ctx: None, "loss", ONE_RANGE, entry_point="train.py")
    with pytest.raises(ValueError, match="framework must be one of"):
        HyperparameterTuner(
            objective_metric_name="loss",
            hyperparameter_ranges=ONE_RANGE,
            entry_point="t.py",
            framework="cobol",
        )


def _example(tmp_path: Path) -> str:
    """examples/script_mode as its README says to run it: from the repository's root folder."""
    from make_datasets import make_datasets

    shutil.copytree(EXAMPLE, tmp_path / "examples" / "script_mode")
    make_datasets(tmp_path / "examples" / "data")
    return "examples/script_mode/pytorch-script-mode.json"


def test_the_example_validates(tmp_path: Path) -> None:
    spec = _example(tmp_path)
    assert "valid" in _tuner("validate", spec, cwd=tmp_path).stdout


@pytest.mark.slow
def test_the_example_runs_with_bayesian_search_and_early_stopping(tmp_path: Path) -> None:
    spec = _example(tmp_path)
    db = f"sqlite:///{tmp_path / 't.db'}"
    _tuner("run", spec, "--db", db, "--output", str(tmp_path / "out"), "--quiet", cwd=tmp_path)
    trials = _trials("pytorch-script-mode", db, tmp_path)
    assert len(trials) == 6
    assert {t["TrainingJobStatus"] for t in trials} <= {"Completed", "Stopped"}
    assert all(t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] < 0.7 for t in trials)
    best = min(trials, key=lambda t: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert (tmp_path / "out" / best["TrainingJobName"] / "model" / "model.pt").is_file()


@pytest.mark.ray
def test_script_mode_on_ray(ray_session: Any, tmp_path: Path) -> None:
    src = _source(tmp_path, ENV_SCRIPT)
    tuner = _api_tuner(tmp_path, src, executor="ray")
    tuner.fit({"train": _data(tmp_path)}, job_name="ray-script")
    described = tuner.describe()
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    storage = SqlStorage(f"sqlite:///{tmp_path / 'api.db'}")
    assert all(t.worker.startswith("ray:") for t in storage.trials("ray-script"))
    curves = storage.curves("ray-script", ["loss"])
    assert all([p.epoch for p in curve] == [1, 2, 3] for curve in curves.values())


def test_a_multi_algorithm_job_runs_two_scripts_side_by_side(tmp_path: Path) -> None:
    """Two script-mode TrainingJobDefinitions, each with its own entry point, metric regexes
    and ranges: every training job runs its own definition's script."""
    scripts = {  # definition -> (its tuned hyperparameter, the line it prints, its regex)
        "alpha": ("width", 'print(f"alpha_loss={value}")', r"alpha_loss=(\S+)"),
        "beta": ("depth", 'print(f"[beta] loss: {value + 0.5}")', r"loss: (\S+)"),
    }
    definitions = []
    for name, (tuned, line, regex) in scripts.items():
        src = tmp_path / name
        src.mkdir()
        (src / "train.py").write_text(
            "import argparse\nparser = argparse.ArgumentParser()\n"
            f"parser.add_argument('--{tuned}', type=float)\n"
            "args, _ = parser.parse_known_args()\n"
            f"value = args.{tuned}\n{line}\n"
        )
        ranges = {
            "ContinuousParameterRanges": [
                {"Name": tuned, "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}
            ]
        }
        one = _request(str(src), _data(tmp_path), metrics=[{"Name": "loss", "Regex": regex}])
        definition = one["TrainingJobDefinition"]
        definition["DefinitionName"] = name
        definition["TuningObjective"] = {"Type": "Minimize", "MetricName": "loss"}
        definition["HyperParameterRanges"] = ranges
        definitions.append(definition)
    config = _request("x", _data(tmp_path), max_jobs=6)["HyperParameterTuningJobConfig"]
    del config["HyperParameterTuningJobObjective"], config["ParameterRanges"]
    request = {
        "HyperParameterTuningJobName": "two-scripts",
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinitions": definitions,
    }
    db = f"sqlite:///{tmp_path / 't.db'}"
    spec = _write(tmp_path, request)
    _tuner("run", str(spec), "--db", db, "--output", str(tmp_path / "o"), "--quiet", cwd=tmp_path)
    trials = _trials("two-scripts", db, tmp_path)
    assert len(trials) == 6 and {t["TrainingJobStatus"] for t in trials} == {"Completed"}
    assert {t["TrainingJobDefinitionName"] for t in trials} == {"alpha", "beta"}
    for t in trials:
        tuned = t["TunedHyperParameters"]
        value = t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        if t["TrainingJobDefinitionName"] == "alpha":
            assert set(tuned) == {"width"} and value == pytest.approx(float(tuned["width"]))
        else:
            assert set(tuned) == {"depth"} and value == pytest.approx(float(tuned["depth"]) + 0.5)
