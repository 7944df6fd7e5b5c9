"""The corpus: real CreateHyperParameterTuningJob requests, run unchanged.

Every request in ``tests/corpus/<name>.json`` was written from a public source (AWS's example
notebooks, the SageMaker Python SDK's integration tests, the developer guide, Airflow's and
Kubeflow's SageMaker operators; ``tests/corpus/SOURCES.md`` says which, at which commit). Only
its ``S3Uri`` values were rewritten, to ``data/<name>/...``, where ``make_data.py`` writes small
generated data in the request's own format.

A script-mode request's ``sagemaker_submit_directory`` is an S3 location too, rewritten like
``S3Uri`` to a ``sourcedir.tar.gz`` that ``make_data.py`` writes: it holds a stand-in for the
source's script (which needs torchvision or TensorFlow, not installed here) that reads the
channel in the source's format, takes the same arguments and prints the lines the request's
MetricDefinitions match.

Each request goes through ``tuner validate`` and a short ``tuner run``; it runs unchanged when
the job Completed and none of its training jobs failed. The short run is the one
change made to a request: ``tuner run`` has no flag to lower the budget, so the test writes a
copy of the request beside it whose ``ResourceLimits`` say at most 2 training jobs, 2 at a time;
everything else, static hyperparameters (epochs, rounds) included, stays as the source sends it.
A warm-start request needs its parent jobs in the database: the test runs each parent first
(the same short request without its WarmStartConfig, under the parent's name).

The requests that cannot run yet are listed in :data:`EXPECTED_REFUSALS` with the reason the
engine gives; the test asserts that they are refused (at validation or by a failed run) with
that reason, so it fails, usefully, as soon as one of them starts working: then delete its line
here and update the table in the README ("AMT requests from the wild").
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
sys.path.insert(0, str(CORPUS))

from make_data import WRITERS, make_data  # noqa: E402

NAMES = sorted(p.stem for p in CORPUS.glob("*.json"))

#: Request -> a substring of the reason it is refused today (validation message or the job's
#: FailureReason). Shrink this as the engine learns; each entry has a row in the README table.
EXPECTED_REFUSALS: dict[str, str] = {
    # A container of the user's own: nothing here can run its image.
    "r-byo-container": "is not a built-in algorithm",
}

#: Requests whose own static hyperparameters make even 2 training jobs slow on a CPU, measured
#: on the 2-core build machine: image-classification-lst (ResNet-18 on 206x206 images for 2
#: epochs, 20-35 s), image-classification-early-stopping (224x224 RecordIO images, 10 epochs),
#: image-classification-transfer-learning (10 epochs, for its parent job and then itself) and
#: lda-sdk-integ (mini_batch_size 1 and the default passes over the data: about 55 s for
#: 2 training jobs on 50 documents).
SLOW = {
    "image-classification-early-stopping",
    "image-classification-lst",
    "image-classification-transfer-learning",
    "lda-sdk-integ",
}

RUN_TIMEOUT_S = 600
SHORT_LIMITS = {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2}


def _params() -> list[object]:
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in NAMES]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every request copied unchanged next to its generated data (``data/<name>/...``)."""
    root = tmp_path_factory.mktemp("corpus")
    for name in NAMES:
        shutil.copy(CORPUS / f"{name}.json", root / f"{name}.json")
        make_data(name, root)
    return root


def _short_copy(root: Path, name: str) -> Path:
    """The request with at most 2 training jobs, 2 at a time: the only change the test makes."""
    request = json.loads((root / f"{name}.json").read_text())
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    for key, most in SHORT_LIMITS.items():
        if key in limits:
            limits[key] = min(int(limits[key]), most)
    path = root / f"{name}.short.json"
    path.write_text(json.dumps(request, indent=2))
    original = json.loads((root / f"{name}.json").read_text())
    original["HyperParameterTuningJobConfig"]["ResourceLimits"] = limits
    assert original == request, "the short copy may only change the budget"
    return path


def _run_parents(root: Path, name: str, db: str) -> None:
    """A warm start's parent jobs, run first into the same database, as they must exist there.

    Each parent is the short request itself without its WarmStartConfig, under the parent's
    name, with one training job: the job the source ran before (the same data and algorithm).
    """
    request = json.loads((root / f"{name}.short.json").read_text())
    warm_start = request.pop("WarmStartConfig", None) or {}
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 1
    for parent in warm_start.get("ParentHyperParameterTuningJobs") or []:
        request["HyperParameterTuningJobName"] = parent["HyperParameterTuningJobName"]
        path = root / f"{name}.parent.json"
        path.write_text(json.dumps(request, indent=2))
        ran = subprocess.run(
            [*_RUN, str(path), "--db", db, "--output", str(root / "output" / name), "--quiet"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        assert ran.returncode == 0, f"parent {parent} of {name}: {ran.stdout}{ran.stderr}"


_RUN = (sys.executable, "-m", "tuner.cli", "run")


def _assert_refused_or_not(name: str, refused: bool, output: str) -> None:
    reason = EXPECTED_REFUSALS.get(name)
    if refused:
        assert reason is not None, f"{name} is refused, but not in EXPECTED_REFUSALS:\n{output}"
        assert reason in output, f"{name} is refused for another reason than {reason!r}:\n{output}"
    else:
        assert reason is None, (
            f"{name} now runs unchanged: delete it from EXPECTED_REFUSALS and mark it 'yes' in "
            f"the README table\n{output}"
        )


def test_every_request_has_data_a_source_and_a_readme_row() -> None:
    assert len(NAMES) >= 20
    assert set(WRITERS) == set(NAMES), "make_data.WRITERS must cover exactly the corpus"
    assert set(EXPECTED_REFUSALS).issubset(NAMES)
    assert SLOW.issubset(NAMES)
    sources = (CORPUS / "SOURCES.md").read_text()
    rows = set(re.findall(r"^\| `([\w.-]+)\.json` \|", sources, flags=re.M))
    assert rows == set(NAMES), "SOURCES.md needs exactly one row per request"
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## AMT requests from the wild", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| `([\w.-]+)` \| [^|]+ \| (yes|no) \|", section, flags=re.M))
    assert set(table) == set(NAMES), "the README table needs exactly one row per request"
    for name, runs in table.items():
        assert (runs == "no") == (name in EXPECTED_REFUSALS), f"README row of {name}: {runs}"


@pytest.mark.parametrize("name", NAMES)
def test_validate(name: str, corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tuner.cli import main

    code = main(["validate", str(corpus_dir / f"{name}.json")])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code in (0, 2), output
    if code == 0:
        assert "valid" in output
        return  # a request may still be refused when it runs
    _assert_refused_or_not(name, True, output)


def _failed_training_jobs(job: str, db: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """FailureReason of each Failed training job of ``job`` (``tuner trials --json``)."""
    from tuner.cli import main

    capsys.readouterr()
    if main(["trials", job, "--db", db, "--json"]) != 0:
        return []  # refused before the job was created: no training jobs
    summaries = json.loads(capsys.readouterr().out)["TrainingJobSummaries"]
    return [
        str(s.get("FailureReason", "")) for s in summaries if s["TrainingJobStatus"] == "Failed"
    ]


@pytest.mark.parametrize("name", _params())
def test_short_run(name: str, corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Runs unchanged = the job Completed and none of its training jobs failed."""
    spec = _short_copy(corpus_dir, name)
    db = f"sqlite:///{corpus_dir / (name + '.db')}"
    _run_parents(corpus_dir, name, db)
    result = subprocess.run(
        [
            *_RUN,
            str(spec),
            "--db",
            db,
            "--output",
            str(corpus_dir / "output" / name),
            "--quiet",
        ],
        cwd=corpus_dir,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1, 2), output
    job = json.loads(spec.read_text())["HyperParameterTuningJobName"]
    failures = _failed_training_jobs(job, db, capsys)
    output += "".join(f"\nfailed training job: {reason}" for reason in failures)
    _assert_refused_or_not(name, result.returncode != 0 or bool(failures), output)
    if result.returncode == 0 and not failures:
        assert "Completed" in output
        # The result on stdout: the best training job as a TSV row (stdout is a pipe here).
        assert "FinalObjectiveValue" in result.stdout.splitlines()[0]
        assert job in result.stdout
