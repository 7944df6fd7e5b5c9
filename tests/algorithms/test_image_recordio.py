"""Tests for MXNet image RecordIO (.rec) input and image classification trained on it."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from algorithm_context import FakeContext
from PIL import Image

from algorithms.base import InputError
from algorithms.image_classification import ALGORITHM, MODEL_FILENAME
from algorithms.image_recordio import (
    HEADER,
    IRHeader,
    encode_image,
    iter_rec,
    load_rec,
    pack,
    pack_img,
    rec_files,
    unpack,
    write_rec,
)
from algorithms.images import list_images, read_image
from algorithms.recordio import MAGIC, MAGIC_BYTES

MAGIC_LE = struct.pack("<I", MAGIC)


def _framed(record: bytes) -> bytes:
    """A record in dmlc RecordIO framing, from the documented layout (no magic inside)."""
    return MAGIC_LE + struct.pack("<I", len(record)) + record + b"\x00" * (-len(record) % 4)


def _jpeg(label: int, rng: np.random.Generator, size: int = 12) -> bytes:
    """A JPEG whose colour says its class, with noise."""
    base = np.array([[200, 30, 30], [30, 30, 200], [30, 200, 30]][label % 3], dtype=float)
    pixels = np.clip(base + rng.normal(scale=20, size=(size, size, 3)), 0, 255).astype(np.uint8)
    return encode_image(pixels, quality=90)


def _rec(path: Path, labels: list[int] | list[list[float]], seed: int = 0) -> list[bytes]:
    """A .rec of JPEGs as im2rec writes it (id = index); returns the JPEG payloads."""
    rng = np.random.default_rng(seed)
    payloads = []
    for label in labels:
        first = label if isinstance(label, int) else int(np.argmax(label))
        payloads.append(_jpeg(first, rng))
    write_rec(
        path,
        (
            (IRHeader(0, label, i, 0), p)
            for i, (label, p) in enumerate(zip(labels, payloads, strict=True))
        ),
        idx=True,
    )
    return payloads


# -- the record layout ---------------------------------------------------------------------------


def test_header_is_mxnets_ir_format() -> None:
    assert HEADER.size == 24 == struct.calcsize("<IfQQ")
    assert HEADER.format == "<IfQQ"


def test_scalar_label_round_trip_sets_flag_zero() -> None:
    record = pack(IRHeader(7, 3.0, 2574, 5), b"image")  # a scalar label forces flag 0
    header, labels, image = unpack(record)
    assert header == IRHeader(0, 3.0, 2574, 5)
    assert labels == (3.0,)
    assert image == b"image"


@pytest.mark.parametrize("label", [[1.0], [1.0, 0.0, 1.0], np.arange(6, dtype=np.float64) / 4])
def test_label_array_round_trip_sets_flag_to_its_length(label) -> None:
    record = pack(IRHeader(0, label, 1 << 40, 0), b"\xff\xd8jpeg")
    header, labels, image = unpack(record)
    assert header.flag == len(label) and header.label == 0.0 and header.id == 1 << 40
    assert labels == tuple(float(v) for v in np.asarray(label, dtype=np.float32))
    assert image == b"\xff\xd8jpeg"


def test_records_are_mxnets_bytes(tmp_path: Path) -> None:
    """The bytes mxnet.recordio.pack + MXRecordIO.write give, from the documented layout."""
    jpeg = _jpeg(1, np.random.default_rng(3))
    scalar = struct.pack("<I", 0) + struct.pack("<f", 4.0) + struct.pack("<QQ", 2574, 0) + jpeg
    vector = (
        struct.pack("<I", 3)
        + struct.pack("<f", 0.0)
        + struct.pack("<QQ", 9, 0)
        + struct.pack("<3f", 1.0, 2.0, 0.5)
        + jpeg[:-1]  # an odd length: padded to 4 bytes on disk
    )
    assert pack(IRHeader(0, 4, 2574, 0), jpeg) == scalar
    assert pack(IRHeader(0, [1, 2, 0.5], 9, 0), jpeg[:-1]) == vector
    path = tmp_path / "train.rec"
    write_rec(path, [((0, 4, 2574, 0), jpeg), ((0, [1, 2, 0.5], 9, 0), jpeg[:-1])], idx=True)
    assert path.read_bytes() == _framed(scalar) + _framed(vector)
    second = len(_framed(scalar))
    assert (tmp_path / "train.idx").read_text() == f"2574\t0\n9\t{second}\n"
    records = list(iter_rec(path))
    assert [(r.number, r.offset, r.header.id, r.label) for r in records] == [
        (1, 0, 2574, (4.0,)),
        (2, second, 9, (1.0, 2.0, 0.5)),
    ]
    assert records[0].image == jpeg


def test_pack_img_encodes_then_packs() -> None:
    pixels = np.random.default_rng(0).integers(0, 255, size=(5, 7, 3), dtype=np.uint8)
    record = pack_img(IRHeader(0, 2.0, 1, 0), pixels, img_fmt=".png")
    header, labels, image = unpack(record)
    assert labels == (2.0,) and image.startswith(b"\x89PNG")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(image))), pixels)  # PNG: lossless
    jpeg = unpack(pack_img((0, 1.0, 2, 0), pixels, quality=80))[2]
    assert jpeg.startswith(b"\xff\xd8")


def test_a_payload_holding_the_magic_number_is_split_and_joined(tmp_path: Path) -> None:
    payload = MAGIC_BYTES + b"abcd" + MAGIC_BYTES + b"xy"  # at aligned offsets after the header
    write_rec(tmp_path / "m.rec", [((0, 1.0, 0, 0), payload), ((0, 2.0, 1, 0), b"z")])
    data = (tmp_path / "m.rec").read_bytes()
    assert data.count(MAGIC_BYTES) > 2  # framed in parts
    records = list(iter_rec(tmp_path / "m.rec"))
    assert [r.image for r in records] == [payload, b"z"]
    assert [r.label for r in records] == [(1.0,), (2.0,)]


def test_images_decode_to_pillows_pixels(tmp_path: Path) -> None:
    payloads = _rec(tmp_path / "a.rec", [0, 1, 2])
    records = list(iter_rec(tmp_path / "a.rec"))
    for record, payload in zip(records, payloads, strict=True):
        expected = np.asarray(Image.open(io.BytesIO(payload)).convert("RGB"))
        assert np.array_equal(record.decode(), expected)
    loaded = load_rec([tmp_path / "a.rec"], (3, 8, 8))
    assert loaded.pixels.shape == (3, 3, 8, 8) and loaded.pixels.dtype == np.uint8
    assert loaded.labels == ((0.0,), (1.0,), (2.0,))
    assert loaded.where(2) == f"{tmp_path / 'a.rec'}, record 3 (id 2)"


def test_rec_files_of_a_channel(tmp_path: Path) -> None:
    _rec(tmp_path / "ch" / "b.rec", [0])
    _rec(tmp_path / "ch" / "part" / "a.rec", [1])
    (tmp_path / "ch" / "plain").write_bytes(MAGIC_BYTES + b"\x00" * 4)  # no suffix: sniffed
    (tmp_path / "ch" / "x.jpg").write_bytes(MAGIC_BYTES)  # images are not sniffed
    (tmp_path / "ch" / "notes.txt").write_text("hello")
    assert [p.relative_to(tmp_path / "ch").as_posix() for p in rec_files(tmp_path / "ch")] == [
        "b.rec",
        "part/a.rec",
        "plain",
    ]
    assert rec_files(tmp_path / "ch" / "b.rec") == [tmp_path / "ch" / "b.rec"]
    assert rec_files(tmp_path / "ch" / "x.jpg") == []


# -- corrupt input -------------------------------------------------------------------------------


def _two_records(tmp_path: Path) -> tuple[Path, bytes, int]:
    path = tmp_path / "train.rec"
    _rec(path, [0, 1])
    data = path.read_bytes()
    second = list(iter_rec(path))[1].offset
    return path, data, second


def test_truncated_file_names_file_and_record(tmp_path: Path) -> None:
    path, data, second = _two_records(tmp_path)
    path.write_bytes(data[:-7])
    with pytest.raises(InputError, match=r"train\.rec, record 2 is corrupt or truncated: "):
        list(iter_rec(path))
    path.write_bytes(data[: second + 5])  # half a RecordIO header
    with pytest.raises(InputError, match=r"record 2 is corrupt or truncated: truncated"):
        list(iter_rec(path))


def test_garbage_between_records_names_the_record(tmp_path: Path) -> None:
    path, data, second = _two_records(tmp_path)
    path.write_bytes(data[:second] + b"\x01\x02\x03\x04" + data[second + 4 :])
    with pytest.raises(InputError, match=r"record 2 is corrupt.*magic number 0xced7230a"):
        list(iter_rec(path))


def test_a_file_that_is_not_recordio(tmp_path: Path) -> None:
    path = tmp_path / "photo.rec"
    path.write_bytes(_jpeg(0, np.random.default_rng(0)))
    with pytest.raises(InputError, match=r"photo\.rec is not MXNet image RecordIO"):
        list(iter_rec(path))


def test_record_shorter_than_its_header(tmp_path: Path) -> None:
    path = tmp_path / "short.rec"
    path.write_bytes(_framed(b"x" * 10))
    with pytest.raises(InputError, match=r"short\.rec, record 1 \(at byte 0\).*10 bytes.*24"):
        list(iter_rec(path))


def test_record_too_short_for_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.rec"
    path.write_bytes(_framed(HEADER.pack(1000, 0.0, 5, 0) + b"\x00" * 16))
    with pytest.raises(InputError, match=r"record 1.*1000 float32 labels"):
        list(iter_rec(path))


def test_undecodable_image_names_file_record_and_id(tmp_path: Path) -> None:
    path = tmp_path / "bad.rec"
    good = _jpeg(0, np.random.default_rng(0))
    write_rec(path, [((0, 0.0, 10, 0), good), ((0, 1.0, 11, 0), b"\xff\xd8\xff\xe0" + b"\0" * 40)])
    with pytest.raises(
        InputError, match=r"bad\.rec, record 2 \(id 11, at byte \d+\).*cannot be decoded"
    ):
        load_rec([path], (3, 4, 4))
    write_rec(path, [((0, 0.0, 10, 0), b"")])
    with pytest.raises(InputError, match=r"record 1 .*no image bytes"):
        load_rec([path], (3, 4, 4))


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.rec"
    write_rec(path, [((0, 0.0, 3, 0), _jpeg(0, np.random.default_rng(0), size=32)[:200])])
    with pytest.raises(InputError, match=r"cut\.rec, record 1 \(id 3.*cannot be decoded"):
        load_rec([path], (3, 4, 4))


def test_empty_rec_has_no_images(tmp_path: Path) -> None:
    (tmp_path / "empty.rec").write_bytes(b"")
    assert list(iter_rec(tmp_path / "empty.rec")) == []
    with pytest.raises(InputError, match=r"no image records in .*empty\.rec"):
        load_rec([tmp_path / "empty.rec"], (3, 4, 4))


# -- image classification on .rec channels (torch: the one_torch_thread fixture skips without) ---

HP = {
    "num_classes": "3",
    "num_training_samples": "24",
    "image_shape": "3,8,8",
    "num_layers": "8",
    "epochs": "1",
    "mini_batch_size": "8",
    "optimizer": "adam",
    "learning_rate": "0.01",
}
TRAIN_LABELS = [i % 3 for i in range(24)]
VALIDATION_LABELS = [i % 3 for i in range(9)]


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path) -> FakeContext:
    ctx = FakeContext(out)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


@pytest.fixture
def rec_channels(tmp_path: Path) -> dict[str, Path]:
    """train/ and validation/ channels, each one .rec of JPEGs (and its .idx), as AWS's
    notebooks upload them."""
    _rec(tmp_path / "train" / "train.rec", TRAIN_LABELS, seed=1)
    _rec(tmp_path / "validation" / "val.rec", VALIDATION_LABELS, seed=2)
    return {"train": tmp_path / "train", "validation": tmp_path / "validation"}


@pytest.mark.usefixtures("one_torch_thread")
def test_rec_channels_train_image_classification(
    rec_channels: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train(
        {**HP, "_tuning_objective_metric": "validation:accuracy"}, rec_channels, tmp_path / "o"
    )
    assert ctx.epochs == [1]
    assert set(ctx.reports[0][1]) == {"train:accuracy", "validation:accuracy"}
    assert (tmp_path / "o" / MODEL_FILENAME).is_file()


@pytest.mark.usefixtures("one_torch_thread")
def test_rec_and_lst_of_the_same_jpegs_train_identically(
    rec_channels: dict[str, Path], tmp_path: Path
) -> None:
    """The same JPEGs as .rec, and as files with im2rec's .lst in train_lst/validation_lst
    channels ('%f' labels), give the same pixels, labels and so the same metrics."""
    channels: dict[str, Path] = {}
    for name in ("train", "validation"):
        (rec,) = rec_files(rec_channels[name])
        images = tmp_path / "images" / name
        lines = []
        for record in iter_rec(rec):
            relative = f"{int(record.label[0])}/{record.header.id:04d}.jpg"
            (images / relative).parent.mkdir(parents=True, exist_ok=True)
            (images / relative).write_bytes(record.image)
            lines.append(f"{record.header.id}\t{record.label[0]:f}\t{relative}\n")
        (tmp_path / f"{name}_lst").mkdir()
        (tmp_path / f"{name}_lst" / f"{name}.lst").write_text("".join(lines))
        channels[name], channels[f"{name}_lst"] = images, tmp_path / f"{name}_lst"
    from_rec = _train(HP, rec_channels, tmp_path / "rec")
    from_lst = _train(HP, channels, tmp_path / "lst")
    assert from_rec.reports == from_lst.reports


@pytest.mark.usefixtures("one_torch_thread")
def test_a_single_rec_file_is_a_channel_and_lst_channels_win(
    rec_channels: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train(HP, {"train": rec_channels["train"] / "train.rec"}, tmp_path / "single")
    assert set(ctx.reports[0][1]) == {"train:accuracy"}
    # A train_lst channel means the .lst layout, even where the channel also holds a .rec.
    (tmp_path / "lst").mkdir()
    (tmp_path / "lst" / "t.lst").write_text("0\t0\tmissing.jpg\n")
    with pytest.raises(InputError, match="'missing.jpg' not found"):
        _train(HP, {**rec_channels, "train_lst": tmp_path / "lst"}, tmp_path / "lst_out")


@pytest.mark.usefixtures("one_torch_thread")
def test_multi_label_rec_packs_one_label_per_class(tmp_path: Path) -> None:
    labels = [[1.0 if c == i % 3 else 0.0 for c in range(3)] for i in range(12)]
    labels[0][2] = 1.0  # two classes at once
    _rec(tmp_path / "train" / "train.rec", labels)
    hp = {**HP, "multi_label": "1", "num_training_samples": "12"}
    ctx = _train(hp, {"train": tmp_path / "train"}, tmp_path / "out")
    assert 0.0 <= ctx.last("train:accuracy") <= 1.0
    with pytest.raises(InputError, match=r"3 label values for .*train\.rec, record 1 \(id 0\)"):
        _train(HP, {"train": tmp_path / "train"}, tmp_path / "out2")


@pytest.mark.usefixtures("one_torch_thread")
def test_rec_label_outside_num_classes_names_the_record(tmp_path: Path) -> None:
    _rec(tmp_path / "train" / "train.rec", [0, 1, 2, 5])
    with pytest.raises(InputError, match=r"label 5 of .*train\.rec, record 4 \(id 3\) is not a"):
        _train({**HP, "num_training_samples": "4"}, {"train": tmp_path / "train"}, tmp_path / "o")


def test_im2rec_lst_layout_reads(tmp_path: Path) -> None:
    """im2rec's .lst: 'index<TAB>%f label(s)<TAB>relative/path', in its own channel."""
    rng = np.random.default_rng(0)
    for name in ("001.ak47/001_0001.jpg", "002.flag/002_0001.jpg"):
        (tmp_path / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "train" / name).write_bytes(_jpeg(0, rng))
    (tmp_path / "train_lst").mkdir()
    (tmp_path / "train_lst" / "x.lst").write_text(
        "5\t0.000000\t001.ak47/001_0001.jpg\n9\t1.000000\t002.flag/002_0001.jpg\n"
    )
    images = list_images(tmp_path / "train", tmp_path / "train_lst")
    assert [r.label for r in images.records] == [(0.0,), (1.0,)]
    assert read_image(images.records[1].path).shape == (12, 12, 3)
