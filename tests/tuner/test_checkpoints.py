"""Checkpoints (issue 22, point 1): the store, CheckpointConfig, and trials that resume.

A retried training job (RetryStrategy) and one interrupted by a coordinator crash both start
from their last checkpoint; a brand-new training job never starts from a stale one.
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

import numpy as np
import pytest

from algorithms.checkpoints import CheckpointStore
from tuner import ContinuousParameter, HyperparameterTuner
from tuner.checkpointing import check_checkpoint_config, checkpoint_dir
from tuner.spec.problems import Problems

EPOCHS = 6
FAIL_AT = 3


def resumable_flaky(hp, ctx):
    """Adds x each epoch to a running total kept in its checkpoint; the first attempt of each
    training job dies after epoch FAIL_AT (a marker in its output folder)."""
    state = ctx.load_checkpoint() or {"epoch": 0, "total": 0.0}
    marker = ctx.output_dir / "attempted"
    for epoch in range(state["epoch"] + 1, EPOCHS + 1):
        state = {"epoch": epoch, "total": state["total"] + hp["x"]}
        ctx.save_checkpoint(state)
        ctx.report(epoch, loss=state["total"])
        if epoch == FAIL_AT and not marker.exists():
            marker.write_text("1")
            raise RuntimeError("the instance went away")


def test_the_store_keeps_the_latest_state_file_or_folder(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt")
    assert store.load() is None
    store.save({"epoch": 1, "weights": [1.0, 2.0]})
    store.save({"epoch": 2, "weights": [3.0]})
    assert store.load() == {"epoch": 2, "weights": [3.0]}
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00\x01")
    store.save(model)
    loaded = store.load()
    assert isinstance(loaded, Path) and loaded.read_bytes() == b"\x00\x01"
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    store.save(folder)
    assert (store.load() / "sub" / "a.txt").read_text() == "a"
    store.save("a plain string is a state")
    assert store.load() == "a plain string is a state"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        store.save(tmp_path / "missing")
    store.clear()
    assert store.load() is None


def test_a_half_written_checkpoint_leaves_the_previous_one_whole(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save({"epoch": 4})
    (tmp_path / ".state.pkl.999").write_bytes(b"truncated")  # a writer killed mid-save
    assert store.load() == {"epoch": 4}


def test_checkpoint_config_s3_uri_is_checked_and_names_the_folder(tmp_path: Path) -> None:
    def problems_of(uri: object) -> list[str]:
        problems = Problems()
        check_checkpoint_config({"CheckpointConfig": {"S3Uri": uri}}, problems)
        return list(problems.items)

    assert problems_of("s3://bucket/ckpt") == []
    assert problems_of(f"file://{tmp_path}") == []
    assert problems_of(str(tmp_path)) == []
    (relative,) = problems_of("relative/ckpt")
    assert "TrainingJobDefinition.CheckpointConfig.S3Uri" in relative and "absolute" in relative
    (scheme,) = problems_of("http://example.com/ckpt")
    assert "s3:// URI, an absolute path or a file:// URI" in scheme
    (missing,) = problems_of("")
    assert "is required" in missing
    out = tmp_path / "out"
    assert checkpoint_dir({}, out, "job-001") == out / "job-001" / "checkpoints"
    s3 = {"CheckpointConfig": {"S3Uri": "s3://bucket/ckpt"}}
    assert checkpoint_dir(s3, out, "job-001") == out / "job-001" / "checkpoints"
    local = {"CheckpointConfig": {"S3Uri": f"file://{tmp_path}/ckpt", "LocalPath": "/opt/x"}}
    assert checkpoint_dir(local, out, "job-001") == tmp_path / "ckpt" / "job-001"


def _attempts(db: Path) -> dict[int, list[tuple[int, int]]]:
    """Training job number -> its (attempt, epoch) reports, in order."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "select t.number, m.attempt, m.epoch from metrics m join training_jobs t on "
        "m.training_job_id = t.id where m.name = 'loss' order by t.number, m.attempt, m.epoch"
    ).fetchall()
    con.close()
    found: dict[int, list[tuple[int, int]]] = {}
    for number, attempt, epoch in rows:
        found.setdefault(number, []).append((attempt, epoch))
    return found


@pytest.mark.parametrize("where", ["output", "s3uri"])
def test_a_retried_training_job_resumes_from_its_last_checkpoint(
    tmp_path: Path, where: str
) -> None:
    db = tmp_path / "t.db"
    tuner = HyperparameterTuner(
        resumable_flaky,
        "loss",
        {"x": ContinuousParameter(1.0, 2.0)},
        objective_type="Minimize",
        max_jobs=2,
        max_parallel_jobs=2,
        random_seed=5,
        storage=f"sqlite:///{db}",
        output_path=tmp_path / "out",
        max_retry_attempts=1,
        checkpoint_s3_uri=str(tmp_path / "ckpt") if where == "s3uri" else None,
    )
    tuner.fit(job_name="resumes")
    summaries = tuner.training_job_summaries()
    assert {s["TrainingJobStatus"] for s in summaries} == {"Completed"}
    for summary in summaries:
        x = float(summary["TunedHyperParameters"]["x"])
        final = summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        assert final == pytest.approx(EPOCHS * x)  # no epoch counted twice or lost
    first = [(1, e) for e in range(1, FAIL_AT + 1)]
    resumed = [(2, e) for e in range(FAIL_AT + 1, EPOCHS + 1)]
    assert _attempts(db) == {1: first + resumed, 2: first + resumed}
    if where == "s3uri":
        assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
            s["TrainingJobName"] for s in sorted(summaries, key=lambda s: s["TrainingJobName"])
        ]


def test_a_new_training_job_does_not_resume_a_stale_checkpoint(tmp_path: Path) -> None:
    """A database deleted and the same job run again: the old output folder's checkpoints
    belong to training jobs that no longer exist."""
    kwargs = {
        "objective_type": "Minimize",
        "max_jobs": 1,
        "random_seed": 5,
        "output_path": tmp_path / "out",
        "max_retry_attempts": 1,
    }
    ranges = {"x": ContinuousParameter(1.0, 2.0)}
    first = HyperparameterTuner(
        resumable_flaky, "loss", ranges, storage=f"sqlite:///{tmp_path}/a.db", **kwargs
    )
    first.fit(job_name="again")
    for marker in (tmp_path / "out").glob("*/attempted"):
        marker.unlink()
    second = HyperparameterTuner(
        resumable_flaky, "loss", ranges, storage=f"sqlite:///{tmp_path}/b.db", **kwargs
    )
    second.fit(job_name="again")
    assert _attempts(tmp_path / "b.db")[1][0] == (1, 1)  # started at epoch 1
    (summary,) = second.training_job_summaries()
    x = float(summary["TunedHyperParameters"]["x"])
    assert summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(
        EPOCHS * x
    )


ROUNDS = 300


def _xgboost_request(tmp_path: Path) -> Path:
    """One xgboost training job of ROUNDS rounds on 60,000 rows: seconds of training, so that
    a kill lands while it runs."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60_000, 8))
    y = X[:, 0] * 2 + np.sin(X[:, 1] * 3) + rng.normal(scale=0.1, size=len(X))
    channels = {}
    for name, rows in (("train", slice(0, 50_000)), ("validation", slice(50_000, None))):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        np.savetxt(folder / "data.csv", np.c_[y[rows], X[rows]], delimiter=",", fmt="%.5g")
        channels[name] = str(folder)
    request = {
        "HyperParameterTuningJobName": "crashes",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {
                "Type": "Minimize",
                "MetricName": "validation:rmse",
            },
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.3"}
                ]
            },
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"AlgorithmName": "xgboost", "TrainingInputMode": "File"},
            "StaticHyperParameters": {
                "num_round": str(ROUNDS),
                "max_depth": "8",
                "objective": "reg:squarederror",
            },
            "InputDataConfig": [
                {
                    "ChannelName": c,
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": p}},
                }
                for c, p in channels.items()
            ],
            "CheckpointConfig": {"S3Uri": "s3://bucket/checkpoints"},  # kept locally here
        },
    }
    spec = tmp_path / "request.json"
    spec.write_text(json.dumps(request))
    return spec


def _run(spec: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", "run", str(spec), "--db", str(tmp_path / "t.db")]
        + ["--output", str(tmp_path / "out"), "--quiet"],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _reported(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute(
                "select count(*) from metrics where name='validation:rmse'"
            ).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.slow
def test_a_training_job_killed_with_its_coordinator_resumes_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    spec = _xgboost_request(tmp_path)
    proc = _run(spec, tmp_path)
    deadline = time.monotonic() + 120
    while _reported(tmp_path / "t.db") < 20:
        assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the worker dies with its group; nothing writes the checkpoint after it
    (folder,) = (tmp_path / "out").glob("*/checkpoints")
    saved = CheckpointStore(folder).load()
    # The kill may land between round 20's report and its checkpoint: 19 is the floor.
    assert saved["algorithm"] == "xgboost" and 19 <= saved["rounds"] < ROUNDS, saved["rounds"]
    assert _run(spec, tmp_path).wait(timeout=300) == 0
    con = sqlite3.connect(tmp_path / "t.db")
    attempts = con.execute(
        "select attempt, min(epoch), max(epoch) from metrics where name='validation:rmse' "
        "group by attempt order by attempt"
    ).fetchall()
    (status,) = con.execute("select status from training_jobs").fetchone()
    con.close()
    assert status == "Completed"
    assert attempts[0][0] == 1 and attempts[-1][1:] == (saved["rounds"] + 1, ROUNDS), attempts


RESUMING_SCRIPT = """
import os, sys
from pathlib import Path
folder = Path(os.environ["SM_CHECKPOINT_DIR"])
done = folder / "epoch.txt"
start = int(done.read_text()) + 1 if done.exists() else 1
for epoch in range(start, 5):
    print(f"loss={1.0 / epoch}", flush=True)
    done.write_text(str(epoch))
    if epoch == 2 and not (folder / "failed-once").exists():
        (folder / "failed-once").write_text("")
        sys.exit(3)
"""


def test_a_retried_script_mode_job_finds_its_checkpoint_folder_again(tmp_path: Path) -> None:
    from tests.tuner.test_script_mode import _data, _request, _source, _write

    request = _request(str(_source(tmp_path, RESUMING_SCRIPT)), _data(tmp_path), max_jobs=1)
    request["TrainingJobDefinition"]["RetryStrategy"] = {"MaximumRetryAttempts": 1}
    spec = _write(tmp_path, request)
    assert _run(spec, tmp_path).wait(timeout=120) == 0
    con = sqlite3.connect(tmp_path / "t.db")
    reports = con.execute("select attempt, epoch from metrics order by attempt, epoch").fetchall()
    con.close()
    # The second attempt printed epochs 3 and 4 only; a script's reports are numbered by the
    # attempt's own count of metric lines (the script states no epoch).
    assert reports == [(1, 1), (1, 2), (2, 1), (2, 2)]
