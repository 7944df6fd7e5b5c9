"""Tests for RecordIO-protobuf reading and writing, including hand-built byte fixtures."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from algorithms.base import InputError
from algorithms.data import load_channel
from algorithms.recordio import (
    MAGIC,
    frame_record,
    iter_records,
    read_recordio_protobuf,
    write_recordio_protobuf,
)

# Hand-built from the spec (see algorithms/recordio.py), byte by byte, not with the writer.
# Each record: magic 0xced7230a (little-endian: 0a 23 d7 ce), header = flag << 29 | length,
# payload, zero padding to 4 bytes. ``KEY`` is the map-entry key field: 0a 06 "values".
KEY = "0a 06 76 61 6c 75 65 73"
MIXED_FIXTURE = bytes.fromhex(
    # record 1, 44 bytes, dense features [1.5, -2.0], label 1.0
    "0a23d7ce 2c000000"
    f"0a 16 {KEY} 12 0c 12 0a 0a 08 0000c03f 000000c0"  # features: Value.float32_tensor(2)
    f"12 12 {KEY} 12 08 12 06 0a 04 0000803f"  # label: Float32Tensor.values(1) = [1.0]
    # record 2, 46 bytes + 2 padding, sparse: values [3.0], keys [2], shape [4]; label 0.0
    "0a23d7ce 2e000000"
    f"0a 18 {KEY} 12 0e 12 0c 0a 04 00004040 12 01 02 1a 01 04"
    f"12 12 {KEY} 12 08 12 06 0a 04 00000000"
    "0000"
)
# One record, 48 bytes: Float64Tensor (Value field 3) features [0.25, 4.0]; an Int32Tensor
# (Value field 7) label 2 written unpacked (values field 1 as a plain varint: 08 02).
FLOAT64_INT32_FIXTURE = bytes.fromhex(
    "0a23d7ce 30000000"
    f"0a 1e {KEY} 12 14 1a 12 0a 10 000000000000d03f 0000000000001040"
    f"12 0e {KEY} 12 04 3a 02 08 02"
)
# One record whose 44-byte payload holds the magic number at offset 20, so it is split in two
# parts (flags 1 and 3), the magic left out; uid "r1" (Record field 3) comes first.
MULTIPART_FIXTURE = bytes.fromhex(
    "0a23d7ce 14000020"  # flag 1, 20 bytes
    f"1a 02 72 31 0a 12 {KEY} 12 08 12 06 0a 04"
    "0a23d7ce 14000060"  # flag 3, 20 bytes
    f"12 12 {KEY} 12 08 12 06 0a 04 0000803f"
)
MAGIC_AS_FLOAT = struct.unpack("<f", struct.pack("<I", MAGIC))[0]


def test_hand_built_fixture_with_dense_and_sparse_records(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pbr"
    path.write_bytes(MIXED_FIXTURE)
    X, y = read_recordio_protobuf(path)
    assert scipy.sparse.issparse(X)
    np.testing.assert_array_equal(X.toarray(), [[1.5, -2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
    np.testing.assert_array_equal(y, [1.0, 0.0])


def test_hand_built_float64_and_unpacked_int32_label(tmp_path: Path) -> None:
    path = tmp_path / "f64.pbr"
    path.write_bytes(FLOAT64_INT32_FIXTURE)
    X, y = read_recordio_protobuf(path)
    assert isinstance(X, np.ndarray)
    np.testing.assert_array_equal(X, [[0.25, 4.0]])
    np.testing.assert_array_equal(y, [2.0])


def test_hand_built_multipart_record_is_joined_with_the_magic(tmp_path: Path) -> None:
    path = tmp_path / "multi.pbr"
    path.write_bytes(MULTIPART_FIXTURE)
    X, y = read_recordio_protobuf(path)
    np.testing.assert_array_equal(X, np.array([[MAGIC_AS_FLOAT]]))
    np.testing.assert_array_equal(y, [1.0])


def test_writer_splits_a_payload_containing_the_magic(tmp_path: Path) -> None:
    path = tmp_path / "m.pbr"
    write_recordio_protobuf(path, np.array([[MAGIC_AS_FLOAT]], dtype=np.float32))
    data = path.read_bytes()
    flags = [struct.unpack_from("<I", data, 4)[0] >> 29]
    assert flags == [1]  # the first part of a multi-part record
    assert len(list(iter_records(data))) == 1
    X, y = read_recordio_protobuf(path)
    assert y is None
    np.testing.assert_array_equal(X, np.array([[MAGIC_AS_FLOAT]]))


def test_dense_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 7)).astype(np.float32)
    y = rng.integers(0, 3, size=50).astype(np.float64)
    write_recordio_protobuf(tmp_path / "d.pbr", X, y)
    X2, y2 = read_recordio_protobuf(tmp_path / "d.pbr")
    assert isinstance(X2, np.ndarray)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_sparse_round_trip_keeps_width_and_empty_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = scipy.sparse.random(40, 300, density=0.02, format="csr", random_state=2, dtype=np.float32)
    X = scipy.sparse.vstack([X, scipy.sparse.csr_matrix((1, 300))], format="csr")  # empty row
    y = rng.normal(size=41).astype(np.float32)
    write_recordio_protobuf(tmp_path / "s.pbr", X, y)
    X2, y2 = read_recordio_protobuf(tmp_path / "s.pbr")
    assert scipy.sparse.issparse(X2)
    assert X2.shape == (41, 300)
    np.testing.assert_array_equal(X2.toarray(), X.toarray())
    np.testing.assert_array_equal(y2, y)


def test_large_keys_use_multi_byte_varints(tmp_path: Path) -> None:
    X = scipy.sparse.csr_matrix(([1.0, 2.0], ([0, 0], [5, 2_000_000])), shape=(1, 3_000_000))
    write_recordio_protobuf(tmp_path / "wide.pbr", X, np.array([1.0]))
    X2, _ = read_recordio_protobuf(tmp_path / "wide.pbr")
    assert X2.shape == (1, 3_000_000)
    assert X2[0, 2_000_000] == 2.0


def test_corrupted_magic_number_is_a_clear_error(tmp_path: Path) -> None:
    broken = bytearray(MIXED_FIXTURE)
    broken[52] ^= 0xFF  # first byte of the second record's magic number
    path = tmp_path / "broken.pbr"
    path.write_bytes(bytes(broken))
    with pytest.raises(
        InputError, match=r"expected the RecordIO magic number 0xced7230a at byte 52"
    ):
        read_recordio_protobuf(path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (MIXED_FIXTURE[:60], "truncated RecordIO record at byte 52"),
        (MIXED_FIXTURE[:56], "truncated RecordIO header at byte 52"),
        (MULTIPART_FIXTURE[:28], "has no last part"),
        (MULTIPART_FIXTURE[28:], "bad RecordIO continuation flag 3"),
        (frame_record(b"\x0a\x05\x0a\x03"), r"record 1 \(at byte 0\) is not a valid Record"),
        (frame_record(b"\x12\x02\x08\x01"), "no features"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "bad.pbr"
    path.write_bytes(data)
    with pytest.raises(InputError, match=match):
        read_recordio_protobuf(path)


def test_load_channel_sniffs_recordio_and_reads_gzip(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(MIXED_FIXTURE)  # no extension: found by its magic number
    (tmp_path / "b.gz").write_bytes(gzip.compress(FLOAT64_INT32_FIXTURE))
    X, y = load_channel(tmp_path)
    assert scipy.sparse.issparse(X)  # a sparse file and a dense one make one CSR matrix
    np.testing.assert_array_equal(
        X.toarray(), [[1.5, -2.0, 0, 0], [0, 0, 3.0, 0], [0.25, 4.0, 0, 0]]
    )
    np.testing.assert_array_equal(y, [1.0, 0.0, 2.0])
    X2, _ = load_channel(tmp_path / "a", "application/x-recordio-protobuf")
    assert X2.shape == (2, 4)


def test_load_channel_without_labels_gives_nan(tmp_path: Path) -> None:
    write_recordio_protobuf(tmp_path / "u.pbr", np.ones((3, 2)))
    X, y = load_channel(tmp_path / "u.pbr")
    assert X.shape == (3, 2)
    assert np.isnan(y).all()


def test_csv_given_as_recordio_names_the_content_type(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="not application/x-recordio-protobuf data"):
        load_channel(tmp_path / "d.csv", "application/x-recordio-protobuf")
