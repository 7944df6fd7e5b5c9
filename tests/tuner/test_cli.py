"""The ``tuner`` command line end to end: real xgboost jobs, real subprocesses, a real SQLite file.

JSON outputs are checked against botocore's response shapes for the operations they mirror.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

from tuner.spec.request_shape import check_response

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tuner(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "tuner.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tuner {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def _spec(datasets: dict[str, Path], tmp_path: Path, **changes) -> Path:
    request = json.loads((EXAMPLES / "xgboost-breast-cancer.json").read_text())
    data = datasets["breast_cancer"]
    request["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"][
        "S3Uri"
    ] = str(data / "train.csv")
    request["TrainingJobDefinition"]["InputDataConfig"][1]["DataSource"]["S3DataSource"][
        "S3Uri"
    ] = f"file://{data / 'validation.csv'}"
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = "15"
    config = request["HyperParameterTuningJobConfig"]
    config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = changes.pop("max_jobs", 6)
    for key, value in changes.items():
        config[key] = value
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(request))
    return path


def _json(proc: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(proc.stdout)


def test_run_then_describe_list_trials_best(datasets, tmp_path: Path) -> None:
    spec = _spec(datasets, tmp_path)
    run = tuner("run", str(spec), "--output", str(tmp_path / "artifacts"), cwd=tmp_path)
    assert "Completed" in run.stderr
    assert (tmp_path / "tuner.db").exists()  # the default database is ./tuner.db

    described = _json(tuner("describe", "xgb-breast-cancer", "--json", cwd=tmp_path))
    assert check_response(described, "DescribeHyperParameterTuningJobResponse") == []
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert sum(described["TrainingJobStatusCounters"].values()) == 6
    best = described["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "validation:auc"
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] > 0.9
    assert set(best["TunedHyperParameters"]) == {
        "eta",
        "min_child_weight",
        "subsample",
        "alpha",
        "max_depth",
    }

    trials = _json(tuner("trials", "xgb-breast-cancer", "--json", cwd=tmp_path))
    assert check_response(trials, "ListTrainingJobsForHyperParameterTuningJobResponse") == []
    assert len(trials["TrainingJobSummaries"]) == 6
    ranked = _json(
        tuner(
            "trials",
            "xgb-breast-cancer",
            "--json",
            "--sort-by",
            "FinalObjectiveMetricValue",
            "--sort-order",
            "Descending",
            cwd=tmp_path,
        )
    )
    assert ranked["TrainingJobSummaries"][0]["TrainingJobName"] == best["TrainingJobName"]

    listed = _json(tuner("list", "--json", cwd=tmp_path))
    assert check_response(listed, "ListHyperParameterTuningJobsResponse") == []
    assert [
        j["HyperParameterTuningJobName"] for j in listed["HyperParameterTuningJobSummaries"]
    ] == ["xgb-breast-cancer"]

    best_out = _json(tuner("best", "xgb-breast-cancer", "--json", cwd=tmp_path))
    assert best_out["TrainingJobName"] == best["TrainingJobName"]
    model = tmp_path / "artifacts" / best["TrainingJobName"] / "xgboost-model"
    assert model.exists()

    table = tuner("describe", "xgb-breast-cancer", cwd=tmp_path).stdout
    assert "Completed" in table and best["TrainingJobName"] in table


def test_database_holds_every_trial_and_metric(datasets, tmp_path: Path) -> None:
    spec = _spec(datasets, tmp_path, max_jobs=3, TrainingJobEarlyStoppingType="Off")
    tuner("run", str(spec), "--db", str(tmp_path / "x.db"), "--quiet", cwd=tmp_path)
    con = sqlite3.connect(tmp_path / "x.db")
    assert con.execute("select status from tuning_jobs").fetchall() == [("Completed",)]
    assert (
        con.execute("select count(*) from training_jobs where status='Completed'").fetchone()[0]
        == 3
    )
    # one report per boosting round: 15 rounds x 3 jobs of validation:auc
    n = con.execute("select count(*) from metrics where name='validation:auc'").fetchone()[0]
    assert n == 45


def test_invalid_spec_exits_nonzero_names_fields_and_writes_nothing(
    datasets, tmp_path: Path
) -> None:
    spec = _spec(datasets, tmp_path)
    request = json.loads(spec.read_text())
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = 0
    request["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0][
        "MinValue"
    ] = "abc"
    spec.write_text(json.dumps(request))
    proc = tuner("run", str(spec), "--db", str(tmp_path / "bad.db"), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs" in proc.stderr
    assert (
        "ContinuousParameterRanges[0] ('eta')" in proc.stderr
        and "MinValue must be a number" in proc.stderr
    )
    assert not (tmp_path / "bad.db").exists()


def test_yaml_spec_regression_example(datasets, tmp_path: Path) -> None:
    text = (EXAMPLES / "xgboost-diabetes.yaml").read_text()
    text = text.replace("data/diabetes", str(datasets["diabetes"])).replace(
        "MaxNumberOfTrainingJobs: 12", "MaxNumberOfTrainingJobs: 3"
    )
    spec = tmp_path / "diabetes.yaml"
    spec.write_text(text)
    tuner("run", str(spec), "--quiet", cwd=tmp_path)
    described = _json(tuner("describe", "xgb-diabetes", "--json", cwd=tmp_path))
    value = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert 30 < value < 77  # beats predicting the mean (std of the target ~77)


def test_unknown_job_is_a_clear_error(tmp_path: Path) -> None:
    from tuner.storage import SqlStorage

    SqlStorage(str(tmp_path / "tuner.db")).close()  # a database without that job (a missing
    # database is its own error now: tests/tuner/test_cli_output.py)
    proc = tuner("describe", "nope", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "no tuning job named 'nope'" in proc.stderr


def test_killed_coordinator_resumes_without_losing_trials(datasets, tmp_path: Path) -> None:
    """kill -9 the whole `tuner run` mid-job, run it again: finished trials kept, the rest run."""
    spec = _spec(datasets, tmp_path, max_jobs=10, TrainingJobEarlyStoppingType="Off")
    request = json.loads(spec.read_text())
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = 1
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = "150"
    spec.write_text(json.dumps(request))
    db = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", "run", str(spec), "--db", str(db), "--quiet"],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and done < 3:
        time.sleep(0.2)
        if db.exists():
            try:
                done = (
                    sqlite3.connect(db)
                    .execute("select count(*) from training_jobs where status='Completed'")
                    .fetchone()[0]
                )
            except sqlite3.OperationalError:
                done = 0
    os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and its workers, no clean-up
    proc.wait()
    con = sqlite3.connect(db)
    before = dict(
        con.execute(
            "select number, final_value from training_jobs where status='Completed'"
        ).fetchall()
    )
    assert 3 <= len(before) < 10
    assert con.execute("select status from tuning_jobs").fetchone()[0] == "InProgress"

    tuner("run", str(spec), "--db", str(db), "--quiet", cwd=tmp_path)
    con = sqlite3.connect(db)
    rows = dict(
        con.execute(
            "select number, final_value from training_jobs where status='Completed'"
        ).fetchall()
    )
    assert sorted(rows) == list(range(1, 11))
    assert all(rows[n] == v for n, v in before.items())
    assert con.execute("select status from tuning_jobs").fetchone()[0] == "Completed"


def test_validate_command(datasets, tmp_path: Path) -> None:
    out = tuner("validate", str(_spec(datasets, tmp_path)), cwd=tmp_path).stdout
    assert "valid" in out and "xgb-breast-cancer" in out


@pytest.mark.parametrize(
    "spec_name", ["xgboost-breast-cancer.json", "xgboost-diabetes.yaml", "xgboost-grid.json"]
)
def test_example_specs_validate_with_their_data(spec_name, tmp_path: Path) -> None:
    """The shipped examples are valid once examples/make_datasets.py has written the data."""
    from make_datasets import make_datasets

    make_datasets(tmp_path / "data")
    spec = tmp_path / spec_name
    spec.write_text((EXAMPLES / spec_name).read_text())
    tuner("validate", str(spec), cwd=tmp_path)


def test_ctrl_c_stops_the_job_cleanly(datasets, tmp_path: Path) -> None:
    """SIGINT to the whole process group (what Ctrl-C does): the job ends Stopped, no trial Failed."""
    spec = _spec(datasets, tmp_path, max_jobs=50, TrainingJobEarlyStoppingType="Off")
    request = json.loads(spec.read_text())
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = "3000"
    spec.write_text(json.dumps(request))
    db = tmp_path / "ctrlc.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", "run", str(spec), "--db", str(db), "--quiet"],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    running = 0
    while time.monotonic() < deadline and running == 0:
        time.sleep(0.2)
        if db.exists():
            try:
                running = (
                    sqlite3.connect(db)
                    .execute("select count(*) from training_jobs where status='InProgress'")
                    .fetchone()[0]
                )
            except sqlite3.OperationalError:
                running = 0
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    con = sqlite3.connect(db)
    assert con.execute("select status from tuning_jobs").fetchone()[0] == "Stopped"
    statuses = [s for (s,) in con.execute("select status from training_jobs")]
    assert "Stopped" in statuses and "Failed" not in statuses and "InProgress" not in statuses
