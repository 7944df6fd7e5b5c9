"""Hostile input: each bad data file, spec file, name or database gives one clear error.

An error names the field, or the file and line (or record); the command line exits 2 and writes
nothing (no database file, no output folder) and prints no traceback. Four kinds of input:

* data files of built-in algorithms (InputDataConfig): refused when the request is validated,
  by :func:`algorithms.data.check_channel`, which reads the head of each file (1 MiB; smaller
  files are checked whole). A bad row deeper in a larger file fails the training jobs instead,
  with a ClientError naming the file and line (:func:`algorithms.data.load_channel`).
* spec files that are not a request: binary, empty, too deep, too large; names with shell and
  HTML metacharacters (the name cases live in test_spec_validation's table).
* ``--db`` URLs that cannot be opened (the command line only).
* random request bodies from botocore's input shape, and mutations of the examples: validation
  returns a spec or raises InvalidSpecError, never anything else.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from algorithms import InputError
from algorithms.data import CHECK_HEAD_BYTES, check_channel, load_channel
from algorithms.recordio import write_recordio_protobuf
from tuner.cli import main
from tuner.errors import InvalidSpecError
from tuner.spec import load_request_file, spec_from_request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHANNEL_URI = "TrainingJobDefinition.InputDataConfig[0] ('train').DataSource.S3DataSource.S3Uri"
#: 40 rows: label, two features.
GOOD_CSV = "".join(f"{i % 2},{i * 0.1:.2f},{(i * 7 % 5) * 0.3:.2f}\n" for i in range(40))


def request_for(train: str, *, algorithm: str = "xgboost") -> dict[str, Any]:
    """A valid request (xgboost on a train channel at ``train``)."""
    return {
        "HyperParameterTuningJobName": "hostile",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "train:rmse"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5"}
                ]
            },
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"AlgorithmName": algorithm, "TrainingInputMode": "File"},
            "StaticHyperParameters": {"num_round": "2", "objective": "reg:squarederror"},
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train}},
                }
            ],
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        },
    }


def _parquet(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda path: frame.to_parquet(path)


def _recordio(cut: int | None = None) -> Callable[[Path], None]:
    """A RecordIO-protobuf file of 20 dense records, its last ``cut`` bytes cut off."""

    def write(path: Path) -> None:
        write_recordio_protobuf(path, np.arange(40.0).reshape(20, 2), np.arange(20.0) % 2)
        if cut is not None:
            path.write_bytes(path.read_bytes()[:-cut])

    return write


def _truncated_parquet(path: Path) -> None:
    pd.DataFrame({"y": [0.0, 1.0], "x": [0.5, 1.5]}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-30])


def _truncated_gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(GOOD_CSV.encode() * 50)[:-40])


# -- (a) data files: refused when the request is validated ----------------------------------------
# (id, file name, content: text, bytes or a writer, what the one problem says)
BAD_DATA: list[tuple[str, str, Any, str]] = [
    (
        "csv-ragged-row",
        "train.csv",
        GOOD_CSV + "1,0.5\n",
        "line 41: 2 comma-separated values, but the first row has 3",
    ),
    (
        "csv-ragged-second-row",
        "train.csv",
        "1,0.5,0.2\n0,0.1\n" + GOOD_CSV,
        "line 2: 2 comma-separated values",
    ),
    ("csv-nan-label", "train.csv", "nan,0.5,0.2\n" + GOOD_CSV, "line 1: the label (first column)"),
    ("csv-empty-label", "train.csv", GOOD_CSV + ",0.5,0.2\n", "line 41: the label (first column)"),
    (
        "csv-text-label",
        "train.csv",
        GOOD_CSV + "yes,0.5,0.2\n",
        "line 41, column 1: 'yes' is not a number",
    ),
    ("csv-header-row", "train.csv", "label,f1,f2\n" + GOOD_CSV, "SageMaker CSV has no header row"),
    ("csv-text-feature", "train.csv", GOOD_CSV + "1,abc,0.2\n", "line 41, column 2: 'abc'"),
    ("csv-empty-file", "train.csv", "", "has no data rows"),
    (
        "csv-latin-1",
        "train.csv",
        "1,0.5,caf\xe9\n".encode("latin-1"),
        "line 1, column 3: 'caf\ufffd' is not a number",
    ),
    ("csv-binary", "train.csv", bytes(range(1, 256)) * 400, "line 1, column 1: "),
    ("csv-blank-lines", "train.csv", "\n\n  \n", "has no data rows"),
    ("csv-broken-gzip", "train.csv.gz", _truncated_gzip, "cannot be read (a broken gzip stream"),
    (
        "libsvm-duplicate-index",
        "train.libsvm",
        "1 1:0.5 3:0.2\n0 2:0.1 2:0.3\n",
        "line 2: feature index 2 appears twice",
    ),
    (
        "libsvm-bad-token",
        "train.libsvm",
        "1 1:0.5\n0 x:0.1\n",
        "line 2: 'x:0.1' is not of the form",
    ),
    ("libsvm-text-label", "train.libsvm", "1 1:0.5\nyes 1:0.1\n", "line 2: label 'yes'"),
    ("parquet-not-parquet", "train.parquet", "1,2,3\n4,5,6\n", "not a Parquet file"),
    ("parquet-truncated", "train.parquet", _truncated_parquet, "not a Parquet file"),
    (
        "parquet-text-column",
        "train.parquet",
        _parquet(pd.DataFrame({"y": [0.0, 1.0], "name": ["a", "b"]})),
        "column 2 ('name') is",
    ),
    (
        "parquet-no-rows",
        "train.parquet",
        _parquet(pd.DataFrame({"y": [], "x": []})),
        "no data rows",
    ),
    ("recordio-truncated", "train.pbr", _recordio(cut=7), "truncated RecordIO record at byte"),
    ("recordio-only-a-header", "train.pbr", _recordio(cut=1000), "truncated RecordIO"),
    ("recordio-not-recordio", "train.pbr", "1,2,3\n", "expected the RecordIO magic number"),
    ("recordio-empty", "train.pbr", "", "has no data rows"),
]


def _write(path: Path, content: Any) -> None:
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [pytest.param(name, content, phrase, id=i) for i, name, content, phrase in BAD_DATA],
)
def test_unreadable_data_is_refused_at_validation(
    tmp_path: Path, name: str, content: Any, phrase: str
) -> None:
    _write(tmp_path / name, content)
    with pytest.raises(InvalidSpecError) as info:
        spec_from_request(request_for(name), base_dir=tmp_path)
    (problem,) = info.value.problems
    assert problem.startswith(CHANNEL_URI), problem
    assert "xgboost cannot read the train channel" in problem
    assert phrase in problem, problem
    assert name in problem or "no data rows" in problem  # the file (or the channel) is named
    assert len(problem) < len(CHANNEL_URI) + len(str(tmp_path)) + 300  # no file quoted whole


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [pytest.param(name, content, phrase, id=i) for i, name, content, phrase in BAD_DATA],
)
def test_a_training_job_gives_the_same_error_as_validation(
    tmp_path: Path, name: str, content: Any, phrase: str
) -> None:
    """What validation refuses, load_channel refuses too, as an InputError (a ClientError)."""
    _write(tmp_path / name, content)
    with pytest.raises(InputError) as info:
        load_channel(tmp_path / name)
    assert phrase in str(info.value)


GOOD_DATA: list[tuple[str, str, Any]] = [
    ("csv", "train.csv", GOOD_CSV),
    ("csv-missing-features", "train.csv", "1,,0.5\n0,0.2,\n"),
    ("csv-quoted-numbers", "train.csv", '"1",0.5\n"0",0.2\n'),
    ("csv-gzip", "train.csv.gz", gzip.compress(GOOD_CSV.encode())),
    ("libsvm-unsorted-indices", "train.libsvm", "1 3:0.5 1:0.2\n0 2:0.1 0:0.3\n"),
    ("parquet", "train.parquet", _parquet(pd.DataFrame({"y": [0.0, 1.0], "x": [0.5, 1.5]}))),
    (
        "parquet-with-index",
        "train.parquet",
        _parquet(pd.DataFrame({"y": [0.0, 1.0], "x": [0.5, 1.5]}, index=[10, 20])),
    ),
    ("recordio", "train.pbr", _recordio()),
]


@pytest.mark.parametrize(("name", "content"), [pytest.param(n, c, id=i) for i, n, c in GOOD_DATA])
def test_readable_data_passes_validation(tmp_path: Path, name: str, content: Any) -> None:
    """Only what a training job could not read is refused: unsorted libsvm indices (read as
    XGBoost reads them), missing feature values, quoted numbers and gzip are fine."""
    _write(tmp_path / name, content)
    spec = spec_from_request(request_for(name), base_dir=tmp_path)
    assert spec.channels["train"] == (tmp_path / name).resolve()
    load_channel(tmp_path / name)  # and a training job reads it


def test_a_folder_with_an_empty_file_beside_data_passes(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "a.csv").write_text(GOOD_CSV)
    (folder / "b.csv").write_text("")
    spec_from_request(request_for("train"), base_dir=tmp_path)


def test_a_folder_of_empty_files_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "a.csv").write_text("")
    (folder / "b.csv").write_text("")
    with pytest.raises(InvalidSpecError, match="has no data rows"):
        spec_from_request(request_for("train"), base_dir=tmp_path)


def test_a_bad_row_deep_in_a_large_file_fails_the_training_job_instead(tmp_path: Path) -> None:
    """Validation reads the first MiB of a file; a bad row beyond it is found by the training
    job, which fails with a ClientError (InputError) naming the file and line."""
    rows = GOOD_CSV * (CHECK_HEAD_BYTES // len(GOOD_CSV) + 10)
    (tmp_path / "train.csv").write_text(rows + "1,0.5\n")
    line = rows.count("\n") + 1
    spec_from_request(request_for("train.csv"), base_dir=tmp_path)
    with pytest.raises(InputError, match=f"line {line}: 2 comma-separated values"):
        load_channel(tmp_path / "train.csv")


def test_a_record_cut_off_deep_in_a_large_recordio_file_fails_the_training_job(
    tmp_path: Path,
) -> None:
    path = tmp_path / "train.pbr"
    write_recordio_protobuf(path, np.ones((30_000, 8)), np.zeros(30_000))
    assert path.stat().st_size > CHECK_HEAD_BYTES
    path.write_bytes(path.read_bytes()[:-5])
    check_channel(path)  # the head is fine: the records cut by the head's end are not a problem
    with pytest.raises(InputError, match="truncated RecordIO record"):
        load_channel(path)


def test_a_ragged_row_in_a_file_of_a_folder_past_the_budget_is_found_early(
    tmp_path: Path,
) -> None:
    """Every file's first rows are read, even once the channel's budget is spent."""
    folder = tmp_path / "train"
    folder.mkdir()
    big = GOOD_CSV * (CHECK_HEAD_BYTES // len(GOOD_CSV) + 10)
    for i in range(9):
        (folder / f"part-{i}.csv").write_text(big)
    (folder / "part-9.csv").write_text("1,0.5,0.2\n0,0.1\n")
    with pytest.raises(InputError, match="part-9.csv, line 2"):
        check_channel(folder)


def test_a_folder_mixing_formats_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "a.csv").write_text(GOOD_CSV)
    (folder / "b.libsvm").write_text("1 1:0.5\n")
    with pytest.raises(InvalidSpecError, match="mixes formats"):
        spec_from_request(request_for("train"), base_dir=tmp_path)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a chmod 000 file"
)
def test_a_file_without_read_permission_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(GOOD_CSV)
    path.chmod(0)
    try:
        with pytest.raises(InvalidSpecError, match="cannot be read \\(Permission denied\\)"):
            spec_from_request(request_for("train.csv"), base_dir=tmp_path)
    finally:
        path.chmod(0o600)


def test_a_file_that_cannot_be_opened_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root too: opening the file raises PermissionError (as chmod 000 does for others)."""
    path = tmp_path / "train.csv"
    path.write_text(GOOD_CSV)
    real_open = Path.open

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "train.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(InvalidSpecError) as info:
        spec_from_request(request_for("train.csv"), base_dir=tmp_path)
    (problem,) = info.value.problems
    assert problem.startswith(CHANNEL_URI)
    assert f"{path}: cannot be read (Permission denied)" in problem
    with pytest.raises(InputError, match="cannot be read"):  # a ClientError in a training job
        load_channel(path)


def _home_of_no_user(request: dict[str, Any], tmp_path: Path) -> str:
    request["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"][
        "S3Uri"
    ] = "~nobody-here-at-all/train.csv"
    return f"{CHANNEL_URI}: no such file or folder"


def _manifest_in_home_of_no_user(request: dict[str, Any], tmp_path: Path) -> str:
    (tmp_path / "train.manifest").write_text('[{"prefix": "~nobody-here-at-all/"}, "a.csv"]\n')
    source = request["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    source.update(S3DataType="ManifestFile", S3Uri="train.manifest")
    # The manifest reader takes ~user of an unknown user as written (a relative folder).
    return f"{CHANNEL_URI}: the ManifestFile {tmp_path / 'train.manifest'} lists files that do not"


def _source_in_home_of_no_user(request: dict[str, Any], tmp_path: Path) -> str:
    definition = request["TrainingJobDefinition"]
    definition["AlgorithmSpecification"] = {
        "TrainingImage": "763104351884.dkr.ecr.us-west-2.amazonaws.com/"
        "pytorch-training:1.13.1-cpu-py39",
        "MetricDefinitions": [{"Name": "train:rmse", "Regex": "rmse=([0-9.]+)"}],
    }
    definition["StaticHyperParameters"] = {
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"~nobody-here-at-all/src"',
    }
    return "TrainingJobDefinition.StaticHyperParameters.sagemaker_submit_directory: "


@pytest.mark.parametrize(
    "mutate", [_home_of_no_user, _manifest_in_home_of_no_user, _source_in_home_of_no_user]
)
def test_a_path_in_the_home_of_no_user_is_a_problem(
    tmp_path: Path, mutate: Callable[[dict[str, Any], Path], str]
) -> None:
    """``~user/...`` of a user this machine lacks (Path.expanduser raises RuntimeError)."""
    (tmp_path / "train.csv").write_text(GOOD_CSV)
    request = request_for("train.csv")
    expected = mutate(request, tmp_path)
    with pytest.raises(InvalidSpecError) as info:
        spec_from_request(request, base_dir=tmp_path)
    (problem,) = info.value.problems
    assert problem.startswith(expected), problem


def test_ip_insights_channels_are_not_read_as_numbers(tmp_path: Path) -> None:
    """ip-insights reads (entity, IP) strings, not load_channel's numbers: not checked here."""
    (tmp_path / "train.csv").write_text("user_1,192.168.1.1\nuser_2,10.0.0.1\n")
    request = request_for("train.csv", algorithm="ip-insights")
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] = {
        "Type": "Maximize",
        "MetricName": "validation:discriminator_auc",
    }
    request["TrainingJobDefinition"]["StaticHyperParameters"] = {
        "num_entity_vectors": "10",
        "vector_dim": "8",
    }
    request["HyperParameterTuningJobConfig"]["ParameterRanges"] = {
        "IntegerParameterRanges": [{"Name": "epochs", "MinValue": "1", "MaxValue": "2"}]
    }
    with pytest.raises(InvalidSpecError) as info:  # for its own reasons (no validation channel)
        spec_from_request(request, base_dir=tmp_path)
    assert all("cannot read" not in p for p in info.value.problems), info.value.problems


# -- the command line: exit 2, nothing written -----------------------------------------------------
def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``tuner`` in ``tmp_path``; (exit code, stderr). An exception would fail the test."""
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [
        pytest.param(name, content, phrase, id=i)
        for i, name, content, phrase in BAD_DATA
        if i in ("csv-ragged-row", "parquet-not-parquet", "recordio-truncated", "csv-empty-file")
    ],
)
def test_cli_refuses_bad_data_with_exit_2_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    content: Any,
    phrase: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / name, content)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(request_for(name)))
    before = _listing(tmp_path)
    for command in (["validate", str(spec)], ["run", str(spec), "--db", "jobs.db", "--quiet"]):
        code, err = _cli(tmp_path, capsys, *command)
        assert code == 2, err
        assert "invalid tuning job spec (1 problem)" in err
        assert phrase in " ".join(err.split()), err
    assert _listing(tmp_path) == before  # no jobs.db, no tuner-output


# -- (b) spec files --------------------------------------------------------------------------------
SPEC_FILES: list[tuple[str, str, Any, str]] = [
    (
        "binary",
        "spec.json",
        bytes(range(256)) * 4,
        "not a spec: a JSON or YAML file is UTF-8 text",
    ),
    ("binary-yaml", "spec.yaml", b"\xff\xfe\x00\x01" * 64, "UTF-8 text"),
    ("nul-bytes-yaml", "spec.yaml", b"a: \x00\n", "not valid YAML"),
    ("prose", "spec.txt", "This is not a spec, just a sentence.\n", "must be an object"),
    ("empty-json", "spec.json", "", "not valid JSON"),
    ("empty-yaml", "spec.yaml", "", "must be an object"),
    ("whitespace-yaml", "spec.yml", "  \n\n", "must be an object"),
    ("json-list", "spec.json", "[1, 2]", "must be an object"),
    ("yaml-scalar", "spec.yaml", "42\n", "must be an object"),
    ("deep-json", "spec.json", "[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ("deep-yaml", "spec.yaml", "[" * 100_000 + "]" * 100_000, "YAML"),
    ("html", "spec.json", "<script>alert(1)</script>", "not valid JSON"),
]


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [pytest.param(name, content, phrase, id=i) for i, name, content, phrase in SPEC_FILES],
)
def test_a_file_that_is_not_a_request_is_one_problem_naming_it(
    tmp_path: Path, name: str, content: Any, phrase: str
) -> None:
    path = tmp_path / name
    _write(path, content)
    with pytest.raises(InvalidSpecError) as info:
        load_request_file(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}: "), problem
    assert phrase in problem, problem


def test_a_spec_file_larger_than_any_request_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)  # sparse: 17 MiB of NUL bytes
    with pytest.raises(InvalidSpecError, match="larger than 16 MiB") as info:
        load_request_file(path)
    assert len(info.value.problems) == 1


@pytest.mark.parametrize(
    ("mutate", "path", "phrase"),
    [
        pytest.param(
            lambda r: r.__setitem__("Tags", [{"Key": "k", "Value": "v" * (10 * 1024 * 1024)}]),
            "Tags[0].Value",
            "must be at most 256 characters, got 10485760",
            id="10MB-value",
        ),
        pytest.param(
            lambda r: r.__setitem__(
                "Tags", [{"Key": f"k{i}", "Value": "v" * 200} for i in range(50_000)]
            ),
            "Tags",
            "must have at most 50 items, got 50000",
            id="10MB-of-tags",
        ),
    ],
)
def test_a_10mb_spec_is_one_problem_naming_the_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Callable[[dict[str, Any]], None],
    path: str,
    phrase: str,
) -> None:
    (tmp_path / "train.csv").write_text(GOOD_CSV)
    request = request_for("train.csv")
    mutate(request)
    spec = tmp_path / "big.json"
    spec.write_text(json.dumps(request))
    assert spec.stat().st_size > 10 * 1024 * 1024
    code, err = _cli(tmp_path, capsys, "validate", str(spec))
    assert code == 2
    assert f"  - {path}: {phrase}" in err
    assert len(err) < 1000  # the value itself is not echoed


def test_cli_refuses_a_binary_spec_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_bytes(bytes(range(256)))
    for command in (["validate", str(spec)], ["run", str(spec), "--db", "jobs.db"]):
        code, err = _cli(tmp_path, capsys, *command)
        assert code == 2
        assert "UTF-8 text" in err
    assert _listing(tmp_path) == ["spec.json"]


# -- (c) databases that cannot be opened: through the command line only ---------------------------
@pytest.fixture
def runnable_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid spec in ``tmp_path``, the working directory, beside a text file notes.txt."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.csv").write_text(GOOD_CSV)
    (tmp_path / "notes.txt").write_text("not a database\n")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(request_for("train.csv")))
    return spec


BAD_DATABASES = [
    pytest.param("sqlite:////nonexistent/dir/x.db", "unable to open database file", id="no-dir"),
    pytest.param("/nonexistent/dir/x.db", "unable to open database file", id="no-dir-path"),
    pytest.param(
        "postgresql+psycopg://u@127.0.0.1:1/x", "Connection refused", id="postgres-nothing-there"
    ),
    pytest.param("notes.txt", "file is not a database", id="text-file"),
    pytest.param("sqlite:///notes.txt", "file is not a database", id="text-file-url"),
    pytest.param("nonsense://", "Can't load plugin", id="unknown-dialect"),
]


@pytest.mark.parametrize(("db", "phrase"), BAD_DATABASES)
def test_a_database_that_cannot_be_opened_is_one_clear_error(
    tmp_path: Path, runnable_spec: Path, capsys: pytest.CaptureFixture[str], db: str, phrase: str
) -> None:
    """Exit 2, one line naming the database, nothing written."""
    if db.startswith("postgresql"):
        pytest.importorskip("psycopg")
    before = _listing(tmp_path)
    code, err = _cli(tmp_path, capsys, "run", str(runnable_spec), "--db", db, "--quiet")
    assert code == 2, err
    assert err.startswith("error: cannot open the database "), err
    assert "Background on this error" not in err
    assert phrase in err
    assert _listing(tmp_path) == before  # no output folder
    assert (tmp_path / "notes.txt").read_text() == "not a database\n"  # untouched


@pytest.mark.slow
def test_a_database_that_cannot_be_opened_prints_no_traceback(
    tmp_path: Path, runnable_spec: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tuner.cli", "run", str(runnable_spec), "--db", "notes.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "file is not a database" in proc.stderr


def test_a_database_that_cannot_be_opened_exits_2(
    tmp_path: Path, runnable_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(tmp_path, capsys, "run", str(runnable_spec), "--db", "notes.txt")
    assert code == 2, err


def test_a_database_driver_that_is_not_installed_is_one_clear_error(
    tmp_path: Path, runnable_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("MySQLdb is installed")
    code, err = _cli(
        tmp_path, capsys, "run", str(runnable_spec), "--db", "mysql://u@127.0.0.1:1/x"
    )
    assert code == 2, err
    assert "mysql" in err


# -- (d) property: validation returns a spec or raises InvalidSpecError ----------------------------
def _operation_shape() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("CreateHyperParameterTuningJob").input_shape


#: Values of the wrong kind, and strings a user (or an attacker) might write anywhere.
ODD_VALUES = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        2**63,
        1.5,
        -0.0,
        math.nan,
        math.inf,
        "",
        " ",
        "nan",
        "-inf",
        "1e309",
        "~nobody-here/x",
        "$(id)",
        "; rm -rf /",
        "<script>alert(1)</script>",
        "a'b\"c",
        "a\nb",
        "a\x00b",
        "../../etc",
        "file://",
        "s3://bucket/key",
        [],
        {},
        [None],
        {"": None},
    ]
)


def _string(shape: Any) -> st.SearchStrategy[Any]:
    enum = list(getattr(shape, "enum", None) or shape.metadata.get("enum") or [])
    lo = int(shape.metadata.get("min", 0))
    hi = int(shape.metadata.get("max", 64))
    honouring = st.text(min_size=min(lo, 8), max_size=max(min(hi, 12), min(lo, 8)))
    branches = [honouring, st.text(max_size=3)]
    if enum:
        branches = [st.sampled_from(enum), st.sampled_from(enum), *branches]
    return st.one_of(*branches)


def _number(shape: Any) -> st.SearchStrategy[Any]:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if shape.type_name in ("integer", "long"):
        inside = st.integers(
            min_value=None if lo is None else int(lo), max_value=None if hi is None else int(hi)
        )
        return st.one_of(inside, inside, st.integers())
    return st.one_of(
        st.floats(
            min_value=None if lo is None else float(lo),
            max_value=None if hi is None else float(hi),
            allow_nan=False,
        ),
        st.floats(),
    )


#: Hashable stand-ins for a map's keys of the wrong type.
ODD_KEYS = st.sampled_from([0, -1, 1.5, True, None, "", "a\nb", "a\x00b", "$(id)"])
_STRATEGIES: dict[tuple[str, bool], st.SearchStrategy[Any]] = {}


def from_shape(shape: Any, *, odd: bool = True) -> st.SearchStrategy[Any]:
    """Values for a botocore shape: of its type, bounds and enums honoured sometimes and broken
    sometimes; with ``odd``, now and then a value of another type.

    One strategy per shape, deferred: shapes repeat across the request, and a strategy's repr
    (which hypothesis prints) stays short.
    """
    key = (shape.name, odd)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = st.deferred(lambda: _build(shape, odd))
    return _STRATEGIES[key]


def _build(shape: Any, odd: bool) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    proper: st.SearchStrategy[Any]
    if kind == "structure":
        members = {k: from_shape(v, odd=odd) for k, v in shape.members.items()}
        required = [k for k in shape.required_members if k in members]
        proper = st.fixed_dictionaries(
            {k: members[k] for k in required},
            optional={k: v for k, v in members.items() if k not in required},
        )
        proper = st.one_of(proper, proper, proper, st.fixed_dictionaries({}, optional=members))
    elif kind == "list":
        hi = min(int(shape.metadata.get("max", 3)), 3)
        proper = st.lists(from_shape(shape.member, odd=odd), max_size=hi)
    elif kind == "map":
        keys = (
            st.one_of(_string(shape.key), _string(shape.key), ODD_KEYS)
            if odd
            else _string(shape.key)
        )
        proper = st.dictionaries(keys, from_shape(shape.value, odd=odd), max_size=3)
    elif kind == "string":
        proper = _string(shape)
    elif kind in ("integer", "long", "float", "double"):
        proper = _number(shape)
    elif kind == "boolean":
        proper = st.booleans()
    else:  # timestamp, blob
        proper = st.one_of(st.none(), st.text(max_size=5))
    return st.one_of(proper, proper, proper, proper, ODD_VALUES) if odd else proper


def _validates_or_refuses(request: Any, base_dir: Path) -> None:
    """A spec, or InvalidSpecError with problems; any other exception fails the test."""
    problems: list[Any] = []
    try:
        spec_from_request(request, base_dir=base_dir)
    except InvalidSpecError as exc:
        problems = exc.problems or [None]
    assert all(isinstance(p, str) and p for p in problems), problems


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples' data paths, with a small CSV at each."""
    root = tmp_path_factory.mktemp("hostile")
    for name in ("breast_cancer", "diabetes"):
        (root / "data" / name).mkdir(parents=True)
        for split in ("train", "validation"):
            (root / "data" / name / f"{split}.csv").write_text(GOOD_CSV)
    return root


_PROPERTY = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_PROPERTY
@given(request=from_shape(_operation_shape()))
def test_random_request_bodies_validate_or_are_refused(request: Any, data_dir: Path) -> None:
    _validates_or_refuses(request, data_dir)


@_PROPERTY
@given(request=from_shape(_operation_shape(), odd=False))
def test_random_well_typed_request_bodies_validate_or_are_refused(
    request: Any, data_dir: Path
) -> None:
    """Every value of its shape's type: the semantic checks see all of it (nothing is excused
    by a structural problem of the wrong type)."""
    _validates_or_refuses(request, data_dir)


def _examples() -> list[dict[str, Any]]:
    found = [load_request_file(p) for p in sorted(EXAMPLES.glob("*.json"))]
    found += [load_request_file(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    return found


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key / index path into ``node``."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _mutate(request: dict[str, Any], path: tuple[Any, ...], how: str, value: Any) -> None:
    parent: Any = request
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    value = copy.deepcopy(value)  # never one object in two places
    if how == "drop":
        del parent[key]
    elif how == "wrong-enum":
        parent[key] = "NotOneOfThem" if isinstance(parent[key], str) else value
    elif how == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    elif how == "unknown-key" and isinstance(parent, dict):
        parent[f"{key}Typo"] = value
    else:  # another type (or value) in its place
        parent[key] = value


MUTATIONS = st.sampled_from(
    ["drop", "replace", "replace", "wrong-enum", "duplicate", "unknown-key"]
)


@_PROPERTY
@given(data=st.data())
def test_mutated_examples_validate_or_are_refused(data: st.DataObject, data_dir: Path) -> None:
    examples = _examples()
    request = copy.deepcopy(data.draw(st.sampled_from(examples), label="example"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(request)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        how = data.draw(MUTATIONS, label="how")
        value = data.draw(st.one_of(ODD_VALUES, st.text(max_size=8)), label="value")
        _mutate(request, path, how, value)
    _validates_or_refuses(request, data_dir)


def test_the_examples_are_valid_with_data(data_dir: Path) -> None:
    """The mutations start from valid requests."""
    for example in _examples():
        spec_from_request(example, base_dir=data_dir)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(content=st.binary(max_size=200), suffix=st.sampled_from([".json", ".yaml", ".txt"]))
def test_any_bytes_as_a_spec_file_are_read_or_refused(
    content: bytes, suffix: str, data_dir: Path
) -> None:
    path = data_dir / f"random{suffix}"
    path.write_bytes(content)
    try:
        request = load_request_file(path)
    except InvalidSpecError as exc:
        (problem,) = exc.problems
        assert problem.startswith(f"{path}: ")
        return
    _validates_or_refuses(request, data_dir)


def test_an_empty_database_url_is_refused_not_kept_in_memory(
    tmp_path: Path, runnable_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(tmp_path, capsys, "run", str(runnable_spec), "--db", "", "--quiet")
    assert code == 2, err
    assert "is empty" in err
