"""What ``tuner`` prints, for a pipe and for a person: real ``python -m tuner.cli`` processes on
a real SQLite file, one small xgboost job run once for the module.

Every output is also saved under ``test-artifacts/cli/`` (piped, and as a table at 80 and 120
columns) so a person can look at what users see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuner.describe import list_training_jobs
from tuner.formatting import format_hyperparameter, format_number
from tuner.storage import SqlStorage

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "cli"
JOB = "xgb-breast-cancer"


def tuner(
    *args: str, cwd: Path, columns: int | None = None, stdout_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TUNER_DB")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    if stdout_file is not None:
        with stdout_file.open("w") as handle:
            proc = subprocess.run(
                [sys.executable, "-m", "tuner.cli", *args],
                cwd=cwd,
                stdout=handle,
                stderr=subprocess.PIPE,
                text=True,
                timeout=300,
                env=env,
            )
        return subprocess.CompletedProcess(proc.args, proc.returncode, "", proc.stderr)
    return subprocess.run(
        [sys.executable, "-m", "tuner.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def save(name: str, proc: subprocess.CompletedProcess[str]) -> None:
    """Keep an output for people to look at (stdout, then stderr after a marker)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    text = proc.stdout + (f"\n--- stderr ---\n{proc.stderr}" if proc.stderr else "")
    (ARTIFACTS / f"{name}.txt").write_text(text)


@pytest.fixture(scope="module")
def job(datasets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a finished 5-trial job in ./t.db; its ``tuner run`` stdout in result.txt."""
    folder = tmp_path_factory.mktemp("cli-output")
    request = json.loads((EXAMPLES / "xgboost-breast-cancer.json").read_text())
    data = datasets["breast_cancer"]
    channels = request["TrainingJobDefinition"]["InputDataConfig"]
    channels[0]["DataSource"]["S3DataSource"]["S3Uri"] = str(data / "train.csv")
    channels[1]["DataSource"]["S3DataSource"]["S3Uri"] = str(data / "validation.csv")
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = "5"
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 5
    (folder / "spec.json").write_text(json.dumps(request))
    run = tuner(
        "run",
        "spec.json",
        "--db",
        "t.db",
        "--output",
        "out",
        cwd=folder,
        stdout_file=folder / "result.txt",
    )
    assert run.returncode == 0, run.stderr
    save(
        "run-piped",
        subprocess.CompletedProcess([], 0, (folder / "result.txt").read_text(), run.stderr),
    )
    return folder


def _tsv(text: str) -> list[dict[str, str]]:
    header, *lines = text.rstrip("\n").split("\n")
    names = header.split("\t")
    rows = [line.split("\t") for line in lines]
    assert all(len(r) == len(names) for r in rows), text
    return [dict(zip(names, r, strict=True)) for r in rows]


def _json(*args: str, cwd: Path) -> dict:
    proc = tuner(*args, "--db", "t.db", "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_run_prints_its_result_on_stdout(job: Path) -> None:
    """``tuner run spec > result.txt`` keeps the answer; progress went to stderr."""
    (row,) = _tsv((job / "result.txt").read_text())
    best = _json("best", JOB, cwd=job)
    assert row["TrainingJobName"] == best["TrainingJobName"]
    assert (
        float(row["FinalObjectiveValue"])
        == (best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    )
    assert "done" not in (job / "result.txt").read_text()  # no progress lines in the file


def test_piped_output_is_tsv_with_whole_values(job: Path) -> None:
    trials = tuner("trials", JOB, "--db", "t.db", cwd=job)
    save("trials-piped", trials)
    rows = _tsv(trials.stdout)
    summaries = _json("trials", JOB, cwd=job)["TrainingJobSummaries"]
    assert [r["TrainingJobName"] for r in rows] == [s["TrainingJobName"] for s in summaries]
    for row, summary in zip(rows, summaries, strict=True):
        assert row["TrainingJobStatus"] == summary["TrainingJobStatus"]
        value = summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        assert float(row["FinalObjectiveValue"]) == value  # whole, not rounded
        for name, text in summary["TunedHyperParameters"].items():
            assert row[name] == text

    listed = tuner("list", "--db", "t.db", cwd=job)
    save("list-piped", listed)
    (job_row,) = _tsv(listed.stdout)
    assert job_row["HyperParameterTuningJobName"] == JOB
    best = _json("best", JOB, cwd=job)["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert float(job_row["BestObjectiveValue"]) == best

    described = tuner("describe", JOB, "--db", "t.db", cwd=job)
    save("describe-piped", described)
    fields = {r["Field"]: r["Value"] for r in _tsv(described.stdout)}
    assert fields["HyperParameterTuningJobStatus"] == "Completed"
    assert float(fields["BestTrainingJob.FinalObjectiveValue"]) == best

    best_out = tuner("best", JOB, "--db", "t.db", cwd=job)
    save("best-piped", best_out)
    assert len(_tsv(best_out.stdout)) == 1


@pytest.mark.parametrize("command", ["list", "describe", "trials", "best"])
def test_format_json_equals_json(job: Path, command: str) -> None:
    args = [command] if command == "list" else [command, JOB]
    as_flag = tuner(*args, "--db", "t.db", "--json", cwd=job)
    as_format = tuner(*args, "--db", "t.db", "--format", "json", cwd=job)
    assert as_flag.returncode == as_format.returncode == 0
    assert as_format.stdout == as_flag.stdout
    json.loads(as_flag.stdout)


def test_tables_round_numbers_consistently(job: Path) -> None:
    """The best value and hyperparameters read the same in every table, 6 significant digits."""
    best = _json("best", JOB, cwd=job)
    value = format_number(best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    shown = {name: format_hyperparameter(v) for name, v in best["TunedHyperParameters"].items()}
    for columns in (80, 120):
        for command in ("list", "describe", "trials", "best"):
            args = [command] if command == "list" else [command, JOB]
            proc = tuner(*args, "--db", "t.db", "--format", "table", cwd=job, columns=columns)
            save(f"{command}-table-{columns}", proc)
            assert proc.returncode == 0, proc.stderr
            assert value in proc.stdout, (command, columns)
            assert all(len(line) <= columns for line in proc.stdout.splitlines())
            assert "…" not in proc.stdout and "..." not in proc.stdout  # nothing cut
    wide = tuner("trials", JOB, "--db", "t.db", "--format", "table", cwd=job, columns=120)
    assert best["TrainingJobName"] not in wide.stdout  # the number, not the long name
    assert best["TrainingJobName"].split("-")[-2] in wide.stdout
    assert all(v in wide.stdout for v in shown.values())
    assert "FailureReason" not in wide.stdout  # empty column left out
    described = tuner("describe", JOB, "--db", "t.db", "--format", "table", cwd=job, columns=120)
    assert all(f"{k}={v}" in described.stdout for k, v in shown.items())
    progress = (ARTIFACTS / "run-piped.txt").read_text()
    assert f"best validation:auc {value}" in progress  # run's progress on stderr, same digits


@pytest.mark.parametrize(
    ("sort_by", "order"),
    [
        ("Name", "Ascending"),
        ("FinalObjectiveMetricValue", "Descending"),
        ("CreationTime", "Descending"),
        ("Status", "Ascending"),
    ],
)
def test_trials_pages_cover_every_row_once(job: Path, sort_by: str, order: str) -> None:
    names: list[str] = []
    token: list[str] = []
    for _ in range(10):
        page = _json(
            "trials", JOB, "--max-results", "2", "--sort-by", sort_by, "--sort-order", order,
            *(["--next-token", token[-1]] if token else []),
            cwd=job,
        )  # fmt: skip
        assert len(page["TrainingJobSummaries"]) <= 2
        names += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
        if "NextToken" not in page:
            break
        token.append(page["NextToken"])
    storage = SqlStorage(str(job / "t.db"), create=False)
    everything = list_training_jobs(
        storage.load_job(JOB), storage.trials(JOB), sort_by=sort_by, sort_order=order
    )
    assert names == [s["TrainingJobName"] for s in everything]  # each once, AWS's order
    assert len(token) == 2  # 5 trials in pages of 2


def test_trials_table_says_how_to_get_the_next_page(job: Path) -> None:
    proc = tuner("trials", JOB, "--db", "t.db", "--format", "table", "--max-results", "3", cwd=job)
    save("trials-table-page", proc)
    assert "training jobs 1-3 of 5" in proc.stdout
    hint = proc.stderr.split("more training jobs: ", 1)[1].split()
    token = hint[hint.index("--next-token") + 1]
    rest = tuner(*hint[1:], cwd=job, columns=120)
    assert rest.returncode == 0 and "training jobs 4-5 of 5" in rest.stdout, rest.stderr
    assert token
    wrong = tuner(
        "trials", JOB, "--db", "t.db", "--sort-by", "Status", "--next-token", token, cwd=job
    )
    assert wrong.returncode == 2 and "NextToken" in wrong.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["describe", JOB],
        ["trials", JOB],
        ["best", JOB],
        ["stop", JOB],
        ["resume", JOB],
        ["report", JOB],
    ],
)
def test_reading_a_missing_database_is_an_error(tmp_path: Path, args: list[str]) -> None:
    proc = tuner(*args, "--db", "typo.db", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "typo.db" in proc.stderr and proc.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_resume_of_a_finished_job_says_so(job: Path) -> None:
    proc = tuner("resume", JOB, "--db", "t.db", cwd=job)
    save("resume-finished", proc)
    assert proc.returncode == 0, proc.stderr
    assert "already finished: Completed" in proc.stdout
