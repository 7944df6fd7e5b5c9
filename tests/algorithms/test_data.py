"""Tests for algorithms.data: reading SageMaker channels (CSV, libsvm, Parquet) into numpy."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from algorithms.data import load_channel, write_csv, write_libsvm


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4))
    X[X < -0.5] = 0.0  # some zeros, so libsvm files are really sparse
    y = rng.integers(0, 2, size=12).astype(np.float64)
    return X, y


def test_csv_round_trip_is_exact(tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = xy
    write_csv(tmp_path / "train.csv", X, y)
    X2, y2 = load_channel(tmp_path / "train.csv", "text/csv")
    assert isinstance(X2, np.ndarray)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_csv_has_label_first_and_no_header(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", np.array([[2.5, 3.0]]), np.array([1.0]))
    assert (tmp_path / "a.csv").read_text().strip() == "1.0,2.5,3.0"


def test_gzip_csv_is_read(tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = xy
    write_csv(tmp_path / "train.csv.gz", X, y)
    assert (tmp_path / "train.csv.gz").read_bytes()[:2] == b"\x1f\x8b"
    X2, y2 = load_channel(tmp_path / "train.csv.gz")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_missing_values_are_nan(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("1,,3\n\n0,5,\n")
    X, y = load_channel(tmp_path / "m.csv")
    np.testing.assert_array_equal(y, [1.0, 0.0])
    np.testing.assert_array_equal(X, [[np.nan, 3.0], [5.0, np.nan]])


def test_libsvm_round_trip_keeps_indices(
    tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = xy
    write_libsvm(tmp_path / "train.libsvm", X, y)
    X2, y2 = load_channel(tmp_path / "train.libsvm", "text/libsvm")
    assert scipy.sparse.isspmatrix_csr(X2)
    np.testing.assert_array_equal(X2.toarray(), X)
    np.testing.assert_array_equal(y2, y)


def test_libsvm_indices_are_taken_as_written(tmp_path: Path) -> None:
    (tmp_path / "one_based.svm").write_text("1 1:0.5 3:2\n0 2:1.5\n")
    X, y = load_channel(tmp_path / "one_based.svm")
    np.testing.assert_array_equal(X.toarray(), [[0, 0.5, 0, 2], [0, 0, 1.5, 0]])
    np.testing.assert_array_equal(y, [1, 0])


def test_libsvm_unsorted_indices_and_comments_are_read(tmp_path: Path) -> None:
    (tmp_path / "u.txt").write_text("# a comment\n1 3:0.5 0:2  # trailing\n0 qid:4 1:1\n")
    X, y = load_channel(tmp_path / "u.txt")
    np.testing.assert_array_equal(X.toarray(), [[2, 0, 0, 0.5], [0, 1, 0, 0]])
    np.testing.assert_array_equal(y, [1, 0])


def test_directory_files_are_concatenated_in_sorted_order(tmp_path: Path) -> None:
    channel = tmp_path / "train"
    channel.mkdir()
    write_csv(channel / "part-1.csv", np.array([[3.0, 4.0]]), np.array([1.0]))
    write_csv(channel / "part-0.csv", np.array([[1.0, 2.0]]), np.array([0.0]))
    (channel / ".hidden.csv").write_text("9,9,9\n")
    (channel / "_SUCCESS").write_text("")
    (channel / "sub").mkdir()
    X, y = load_channel(channel)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1])


def test_directory_of_libsvm_files_is_widened_to_the_widest(tmp_path: Path) -> None:
    (tmp_path / "a.libsvm").write_text("1 0:1\n")
    (tmp_path / "b.libsvm").write_text("0 4:2\n")
    X, y = load_channel(tmp_path)
    assert X.shape == (2, 5)
    np.testing.assert_array_equal(X.toarray(), [[1, 0, 0, 0, 0], [0, 0, 0, 0, 2]])


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [("1,2.5,3", "csv"), ("1 0:2.5 1:3", "libsvm"), ("7", "csv")],
)
def test_format_is_sniffed_without_extension(
    tmp_path: Path, first_line: str, expected: str
) -> None:
    (tmp_path / "data").write_text(f"\n{first_line}\n")
    X, y = load_channel(tmp_path / "data")
    assert scipy.sparse.issparse(X) == (expected == "libsvm")
    assert y[0] in (1.0, 7.0)


def test_content_type_parameters_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_text("1,2\n")
    X, y = load_channel(tmp_path / "d.txt", "text/csv; label_size=1")
    np.testing.assert_array_equal(X, [[2.0]])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("1,2,3\n0,4\n", r"bad\.csv, line 2: 2 comma-separated values, but the first row has 3"),
        ("1,2\n0,4,5\n", r"bad\.csv, line 2: 3 comma-separated values"),
        ("1,2,3\n0,x,5\n", r"bad\.csv, line 2, column 2: 'x' is not a number"),
        ("label,a\n1,2\n", r"bad\.csv, line 1, column 1: 'label' is not a number.*no header"),
        ("1,2\n,4\n", r"bad\.csv, line 2: the label \(first column\) is empty"),
    ],
)
def test_malformed_csv_error_names_file_and_line(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(ValueError, match=match):
        load_channel(tmp_path / "bad.csv")


def test_malformed_csv_in_gzip_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.csv.gz").write_bytes(gzip.compress(b"1,2\n1,2\n0,oops\n"))
    with pytest.raises(ValueError, match=r"bad\.csv\.gz, line 3, column 2: 'oops'"):
        load_channel(tmp_path / "bad.csv.gz")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("1 1:0.5\n0 2:abc\n", r"bad\.libsvm, line 2: the value in '2:abc' is not a number"),
        ("1 1:0.5\n0 2 3:1\n", r"bad\.libsvm, line 2: '2' is not of the form index:value"),
        ("x 1:0.5\n", r"bad\.libsvm, line 1: label 'x' is not a number"),
        ("1 1:0.5 1:2\n", r"bad\.libsvm, line 1: feature index 1 appears twice"),
    ],
)
def test_malformed_libsvm_error_names_file_and_line(
    tmp_path: Path, content: str, match: str
) -> None:
    (tmp_path / "bad.libsvm").write_text(content)
    with pytest.raises(ValueError, match=match):
        load_channel(tmp_path / "bad.libsvm")


def test_files_with_different_columns_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1,2,3\n")
    (tmp_path / "b.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"b\.csv has 2 columns but .*a\.csv has 3"):
        load_channel(tmp_path)


def test_mixed_formats_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1,2\n")
    (tmp_path / "b.libsvm").write_text("1 0:2\n")
    with pytest.raises(ValueError, match="mixes formats"):
        load_channel(tmp_path)


@pytest.mark.parametrize(
    ("setup", "match"),
    [("missing", "does not exist"), ("empty_dir", "has no files"), ("empty_file", "no data rows")],
)
def test_missing_or_empty_channel_is_an_error(tmp_path: Path, setup: str, match: str) -> None:
    path = tmp_path / "channel"
    if setup == "empty_dir":
        path.mkdir()
    elif setup == "empty_file":
        path.write_text("\n")
    with pytest.raises(ValueError, match=match):
        load_channel(path)


def test_unknown_content_type_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match="application/x-recordio-protobuf"):
        load_channel(tmp_path / "d.csv", "application/x-recordio-protobuf")


def test_parquet_label_is_the_first_column(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pandas as pd

    frame = pd.DataFrame({"target": [1.0, 0.0], "a": [0.5, 1.5], "b": [2, 3]})
    frame.to_parquet(tmp_path / "train.parquet")
    X, y = load_channel(tmp_path / "train.parquet", "application/x-parquet")
    np.testing.assert_array_equal(y, [1.0, 0.0])
    np.testing.assert_array_equal(X, [[0.5, 2.0], [1.5, 3.0]])


def test_parquet_without_pyarrow_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    def no_engine(*args: object, **kwargs: object) -> None:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    with pytest.raises(ImportError, match="pip install pyarrow"):
        load_channel(tmp_path / "t.parquet")
