"""Tests for the built-in image classification and its image input (PNG, .lst, class folders)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from algorithm_context import FakeContext  # noqa: E402

from algorithms import BUILTIN_ALGORITHMS, HyperparameterError  # noqa: E402
from algorithms import image_classification as ic  # noqa: E402
from algorithms.base import InputError, parse_hyperparameters  # noqa: E402
from algorithms.image_classification import (  # noqa: E402
    ALGORITHM,
    CHECKPOINT_PATTERN,
    MODEL_FILENAME,
    build_network,
    load,
)
from algorithms.images import (  # noqa: E402
    ImageRecord,
    fit_to_shape,
    list_images,
    read_image,
    write_lst,
    write_png,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """scikit-learn's digits as 16x16 PNGs: train in class folders, validation with a .lst."""
    from image_classification_digits import write_digits

    return write_digits(tmp_path_factory.mktemp("digits"), n_train=400, n_validation=150)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A few digits, for tests of the mechanics rather than of learning."""
    from image_classification_digits import write_digits

    return write_digits(tmp_path_factory.mktemp("tiny"), n_train=48, n_validation=16)


BASE = {
    "num_classes": "10",
    "num_training_samples": "400",
    "image_shape": "1,16,16",
    "num_layers": "8",
    "epochs": "2",
    "mini_batch_size": "32",
}
TINY = {**BASE, "num_training_samples": "48", "epochs": "1", "mini_batch_size": "16"}


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


# -- the algorithm -------------------------------------------------------------------------------


def test_amt_metrics_have_their_directions() -> None:
    assert ALGORITHM.metrics["validation:accuracy"] == "Maximize"
    assert ALGORITHM.metrics["train:accuracy"] == "Maximize"


def test_defaults_are_amts() -> None:
    """Names and required ones: tests/contracts; the documented defaults here."""
    defaults = parse_hyperparameters(
        ALGORITHM.hyperparameters, {"num_classes": "2", "num_training_samples": "10"}
    )
    expected = {
        "num_layers": 152,
        "epochs": 30,
        "learning_rate": 0.1,
        "mini_batch_size": 32,
        "image_shape": "3,224,224",
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 0.0001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "eps": 1e-8,
        "gamma": 0.9,
        "lr_scheduler_factor": 0.1,
        "precision_dtype": "float32",
        "use_pretrained_model": 0,
        "multi_label": 0,
        "early_stopping": False,
        "augmentation_type": None,
    }
    assert {name: defaults[name] for name in expected} == expected


def test_learns_digits_from_class_folders_and_a_lst_channel(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**BASE, "optimizer": "adam", "learning_rate": "0.003"}
    ctx = _train({**hp, "_tuning_objective_metric": "validation:accuracy"}, digits, tmp_path)
    assert ctx.epochs == [1, 2]
    for _, metrics in ctx.reports:
        assert set(metrics) == {"train:accuracy", "validation:accuracy"}
        assert all(name in ALGORITHM.metrics for name in metrics)
    assert ctx.reports[-1][1]["validation:accuracy"] > 0.3  # chance is 0.1
    assert (tmp_path / MODEL_FILENAME).is_file()


def test_saved_model_predicts_the_reported_validation_accuracy(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train({**BASE, "epochs": "3"}, digits, tmp_path)
    best = max(metrics["validation:accuracy"] for _, metrics in ctx.reports)
    images = list_images(digits["validation"], digits["validation_lst"])
    labels = np.array([record.label[0] for record in images.records])
    model = load(tmp_path)
    from_files = model.predict([record.path for record in images.records])
    assert float(np.mean(from_files == labels)) == pytest.approx(best)  # the best epoch is kept
    pixels = np.stack([read_image(record.path) for record in images.records])  # (N, H, W)
    np.testing.assert_array_equal(model.predict(pixels), from_files)
    np.testing.assert_array_equal(
        ALGORITHM.load(tmp_path / MODEL_FILENAME).predict(pixels), from_files
    )
    probabilities = model.predict_proba(pixels[:4])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "nag", "rmsprop"])
def test_every_optimizer_trains(tiny: dict[str, Path], tmp_path: Path, optimizer: str) -> None:
    rate = "0.001" if optimizer == "rmsprop" else "0.05"
    ctx = _train({**TINY, "optimizer": optimizer, "learning_rate": rate}, tiny, tmp_path)
    assert ctx.epochs == [1]
    assert 0.0 <= ctx.reports[0][1]["validation:accuracy"] <= 1.0


def test_nag_without_momentum_is_plain_sgd(tiny: dict[str, Path], tmp_path: Path) -> None:
    sgd = _train({**TINY, "optimizer": "sgd", "momentum": "0"}, tiny, tmp_path / "sgd")
    nag = _train({**TINY, "optimizer": "nag", "momentum": "0"}, tiny, tmp_path / "nag")
    assert sgd.reports == nag.reports


def test_learning_rate_steps_down_after_the_listed_epochs(
    tiny: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates: list[list[float]] = []
    real = ic._optimizer

    def recording(values, parameters):
        optimizer = real(values, parameters)
        step = optimizer.step

        def spy(*args, **kwargs):
            rates[-1].append(optimizer.param_groups[0]["lr"])
            return step(*args, **kwargs)

        optimizer.step = spy
        return optimizer

    monkeypatch.setattr(ic, "_optimizer", recording)

    class EpochContext(FakeContext):
        def report(self, epoch: int, **metrics: float) -> None:
            super().report(epoch, **metrics)
            rates.append([])

    rates.append([])
    hp = {**TINY, "epochs": "3", "lr_scheduler_step": "1,2", "lr_scheduler_factor": "0.5"}
    ALGORITHM.train(hp, tiny, EpochContext(tmp_path))
    per_epoch = [sorted(set(epoch)) for epoch in rates[:3]]
    assert per_epoch == [[0.1], [0.05], [0.025]]


@pytest.mark.parametrize("augmentation", ["crop", "crop_color", "crop_color_transform"])
def test_augmentations_train_on_colour_images(
    tiny: dict[str, Path], tmp_path: Path, augmentation: str
) -> None:
    hp = {**TINY, "image_shape": "3,16,16", "augmentation_type": augmentation}
    runs = [_train(hp, tiny, tmp_path / name) for name in ("a", "b")]
    assert runs[0].reports == runs[1].reports  # augmentation is seeded
    assert runs[0].epochs == [1]


def test_augmentation_keeps_shape_and_range() -> None:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (4, 3, 12, 10), dtype=torch.uint8)
    for kind in ("crop", "crop_color", "crop_color_transform"):
        out = ic._augment(pixels, kind, generator)
        assert out.shape == (4, 3, 12, 10)
        assert float(out.min()) >= 0.0 and float(out.max()) <= 255.0
    unchanged = ic._augment(pixels, None, generator)
    torch.testing.assert_close(unchanged, pixels.float())


def test_same_hyperparameters_give_identical_results(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**TINY, "epochs": "2"}
    runs = [_train(hp, tiny, tmp_path / name) for name in ("a", "b")]
    assert runs[0].reports == runs[1].reports
    a = torch.load(tmp_path / "a" / MODEL_FILENAME, weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / MODEL_FILENAME, weights_only=True)["state_dict"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_checkpoints_and_top_k(tiny: dict[str, Path], tmp_path: Path) -> None:
    hp = {**TINY, "epochs": "2", "checkpoint_frequency": "1", "top_k": "3"}
    ctx = _train(hp, tiny, tmp_path)
    assert set(ctx.reports[-1][1]) == {
        "train:accuracy",
        "train:top_k_accuracy",
        "validation:accuracy",
        "validation:top_k_accuracy",
    }
    last = ctx.reports[-1][1]
    assert last["validation:top_k_accuracy"] >= last["validation:accuracy"]
    for epoch in (1, 2):
        checkpoint = tmp_path / CHECKPOINT_PATTERN.format(epoch=epoch)
        assert load(checkpoint).predict(np.zeros((1, 16, 16))).shape == (1,)


def test_early_stopping_ends_a_run_that_stops_improving(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    hp = {
        **TINY,
        "epochs": "10",
        "learning_rate": "0.000001",  # nothing is learnt: accuracy stays flat
        "early_stopping": "True",
        "early_stopping_min_epochs": "2",
        "early_stopping_patience": "1",
    }
    ctx = _train(hp, tiny, tmp_path)
    assert 2 <= len(ctx.epochs) < 10


def test_train_only_channel_reports_train_accuracy(tiny: dict[str, Path], tmp_path: Path) -> None:
    ctx = _train(TINY, {"train": tiny["train"]}, tmp_path)
    assert set(ctx.reports[0][1]) == {"train:accuracy"}


def test_multi_label_with_lst_columns(tiny: dict[str, Path], tmp_path: Path) -> None:
    # Two labels per image: the digit's class and "is odd" (class 9 here stands for odd).
    images = list_images(tiny["train"])
    records = []
    for record in images.records:
        labels = np.zeros(10)
        labels[int(record.label[0])] = 1
        labels[9] = max(labels[9], int(record.label[0]) % 2)
        records.append(ImageRecord(record.path, tuple(labels)))
    write_lst(tmp_path / "lst" / "train.lst", records, tiny["train"])
    hp = {**TINY, "multi_label": "1", "use_weighted_loss": "1"}
    channels = {"train": tiny["train"], "train_lst": tmp_path / "lst"}
    ctx = _train(hp, channels, tmp_path / "out")
    assert 0.0 <= ctx.reports[0][1]["train:accuracy"] <= 1.0
    predictions = load(tmp_path / "out").predict(np.zeros((2, 16, 16)))
    assert predictions.shape == (2, 10)
    assert set(np.unique(predictions)) <= {0, 1}


def test_imagenet_style_network_trains_on_small_images(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**TINY, "num_layers": "18", "mini_batch_size": "24"}
    ctx = _train(hp, {"train": tiny["train"]}, tmp_path)
    assert ctx.epochs == [1]


@pytest.mark.parametrize(
    ("num_layers", "image_shape", "parameters"),
    [(18, (3, 224, 224), 11_689_512), (50, (3, 224, 224), 25_557_032)],
)
def test_imagenet_resnets_have_the_papers_size(
    num_layers: int, image_shape: tuple[int, int, int], parameters: int
) -> None:
    network = build_network(num_layers, 1000, image_shape)
    assert sum(p.numel() for p in network.parameters()) == parameters  # as torchvision's


@pytest.mark.parametrize(
    ("num_layers", "image_shape"), [(8, (1, 16, 16)), (20, (3, 32, 32)), (34, (3, 16, 16))]
)
def test_depth_counts_the_weighted_layers(
    num_layers: int, image_shape: tuple[int, int, int]
) -> None:
    network = build_network(num_layers, 10, image_shape)
    # Convolutions on the main path plus the classifier; 1x1 shortcut projections do not count.
    weighted = [
        m
        for name, m in network.named_modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear) and "shortcut" not in name
    ]
    assert len(weighted) == num_layers
    assert network(torch.zeros(2, *image_shape)).shape == (2, 10)


def test_bigger_images_get_the_strided_stem() -> None:
    network = build_network(18, 5, (3, 64, 64))
    assert isinstance(network[3], torch.nn.MaxPool2d)
    assert network(torch.zeros(1, 3, 64, 64)).shape == (1, 5)


def test_use_pretrained_model_is_refused(tiny: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(HyperparameterError, match="pretrained weights cannot be downloaded"):
        _train({**TINY, "use_pretrained_model": "1"}, tiny, tmp_path)


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"num_layers": "19"}, "'num_layers'.*18, 34, 50"),
        ({"num_layers": "4"}, "'num_layers'"),
        ({"image_shape": "3,224"}, "'image_shape'"),
        ({"image_shape": "2,16,16"}, "'image_shape'.*channels 1 or 3"),
        ({"lr_scheduler_step": "10,x"}, "'lr_scheduler_step'"),
        ({"top_k": "10"}, "'top_k'.*less than num_classes"),
        ({"top_k": "1"}, "'top_k'"),
        ({"checkpoint_frequency": "5"}, "'checkpoint_frequency'.*at most epochs"),
        ({"optimizer": "adagrad"}, "'optimizer'"),
        ({"learning_rate": "1.5"}, "'learning_rate'"),
        ({"beta_1": "1.5"}, "'beta_1'"),
        ({"momentum": "1.5"}, "'momentum'"),
        ({"augmentation_type": "flip"}, "'augmentation_type'"),
        ({"num_classes": "0"}, "'num_classes'"),
        ({"precision_dtype": "bfloat16"}, "'precision_dtype'"),
        ({"kv_store": "local"}, "'kv_store'"),
        ({"_tuning_objective_metric": "validation:f1"}, "not a metric of image classification"),
        ({"_tuning_objective_metric": "validation:top_k_accuracy"}, "needs top_k"),
        ({"dropout": "0.5"}, "'dropout' is not known"),
    ],
)
def test_bad_hyperparameters_are_named(
    tiny: dict[str, Path], tmp_path: Path, hyperparameters: dict[str, str], match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train({**TINY, **hyperparameters}, tiny, tmp_path)


def test_validation_objective_needs_a_validation_channel(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**TINY, "_tuning_objective_metric": "validation:accuracy"}
    with pytest.raises(HyperparameterError, match="needs a 'validation' channel"):
        _train(hp, {"train": tiny["train"]}, tmp_path)


def test_label_outside_num_classes_is_named(tiny: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"label [5-9] of .* is not a class of num_classes=5"):
        _train({**TINY, "num_classes": "5"}, tiny, tmp_path)


def test_float16_falls_back_to_float32_on_the_cpu(tiny: dict[str, Path], tmp_path: Path) -> None:
    half = _train({**TINY, "precision_dtype": "float16"}, tiny, tmp_path / "half")
    full = _train(TINY, tiny, tmp_path / "full")
    assert half.reports == full.reports


# -- image input ---------------------------------------------------------------------------------


def test_lst_and_folder_layouts_train_identically(tiny: dict[str, Path], tmp_path: Path) -> None:
    images = list_images(tiny["train"])
    write_lst(tmp_path / "train.lst", images.records, tiny["train"])
    folders = _train(TINY, {"train": tiny["train"]}, tmp_path / "folders")
    lst_channel = {"train": tiny["train"], "train_lst": tmp_path / "train.lst"}
    listed = _train(TINY, lst_channel, tmp_path / "lst")
    assert folders.reports == listed.reports


def test_folder_layout_labels(tmp_path: Path) -> None:
    for name in ("cat", "dog"):
        write_png(tmp_path / "named" / name / "a.png", np.zeros((4, 4)))
    for name in ("2", "10"):
        write_png(tmp_path / "numbered" / name / "sub" / "a.png", np.zeros((4, 4)))
    named = list_images(tmp_path / "named")
    assert [r.label for r in named.records] == [(0.0,), (1.0,)]
    assert named.class_names == {0: "cat", 1: "dog"}
    numbered = list_images(tmp_path / "numbered")
    assert sorted(r.label for r in numbered.records) == [(2.0,), (10.0,)]  # names are the labels


def test_validation_folders_are_matched_to_training_classes_by_name(tmp_path: Path) -> None:
    for name in ("ant", "bee", "cat"):
        for n in range(3):
            write_png(tmp_path / "train" / name / f"{n}.png", np.full((8, 8), 80 * n))
    write_png(tmp_path / "validation" / "cat" / "0.png", np.zeros((8, 8)))
    ctx = _train(
        {**TINY, "num_classes": "3", "num_training_samples": "9", "image_shape": "1,8,8"},
        {"train": tmp_path / "train", "validation": tmp_path / "validation"},
        tmp_path / "out",
    )
    assert "validation:accuracy" in ctx.reports[0][1]
    assert load(tmp_path / "out").architecture.class_names == {0: "ant", 1: "bee", 2: "cat"}
    write_png(tmp_path / "validation" / "dog" / "0.png", np.zeros((8, 8)))
    with pytest.raises(InputError, match="class folder.*dog are not in the train channel"):
        _train(
            {**TINY, "num_classes": "3", "num_training_samples": "9", "image_shape": "1,8,8"},
            {"train": tmp_path / "train", "validation": tmp_path / "validation"},
            tmp_path / "out",
        )


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("rec", "RecordIO"),
        ("loose", "no .lst file and no class folders"),
        ("missing", "image 'gone.png' not found"),
        ("duplicate", "image index 0 is used again"),
        ("columns", "expected tab-separated"),
        ("jpeg", r"b.jpg cannot be read as an image"),
    ],
)
def test_malformed_channels_are_explained(tmp_path: Path, setup: str, match: str) -> None:
    channel = tmp_path / "train"
    write_png(channel / "a.png", np.zeros((4, 4)))
    if setup == "rec":
        (channel / "train.rec").write_bytes(b"\x00")
    elif setup == "missing":
        (channel / "train.lst").write_text("0\t1\ta.png\n1\t0\tgone.png\n")
    elif setup == "duplicate":
        (channel / "train.lst").write_text("0\t1\ta.png\n0\t0\ta.png\n")
    elif setup == "columns":
        (channel / "train.lst").write_text("0 1 a.png\n")
    elif setup == "jpeg":
        (channel / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 16)
        (channel / "train.lst").write_text("0\t1\tb.jpg\n")
    with pytest.raises(InputError, match=match):
        _read_all(channel)


def _read_all(channel: Path) -> None:
    for record in list_images(channel).records:
        read_image(record.path)


def _png(
    pixels: np.ndarray, colour_type: int, bit_depth: int, filters: list[int], **chunks
) -> bytes:
    """A PNG file of raw samples ``pixels`` (rows of bytes), each row filtered as listed."""
    rows = np.asarray(pixels, dtype=np.uint8)
    bpp = max(1, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type] * bit_depth // 8)
    out, prior = bytearray(), np.zeros(rows.shape[1], dtype=int)
    for y, row in enumerate(rows.astype(int)):
        kind = filters[y % len(filters)]
        filtered = []
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prior[i], (prior[i - bpp] if i >= bpp else 0)
            p = a + b - c
            paeth = (
                a
                if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c)
                else (b if abs(p - b) <= abs(p - c) else c)
            )
            filtered.append((x - [0, a, b, (a + b) // 2, paeth][kind]) & 0xFF)
        out += bytes([kind, *filtered])
        prior = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    width = rows.shape[1] * 8 // ({0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type] * bit_depth)
    header = struct.pack(">IIBBBBB", width, rows.shape[0], bit_depth, colour_type, 0, 0, 0)
    extra = b"".join(chunk(kind.encode(), data) for kind, data in chunks.items())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(bytes(out)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("shape", [(7, 5), (6, 9, 3)])
def test_png_round_trip_and_every_filter(tmp_path: Path, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    write_png(tmp_path / "plain.png", image)
    np.testing.assert_array_equal(read_image(tmp_path / "plain.png"), image)
    colour_type = 0 if len(shape) == 2 else 2
    rows = image.reshape(shape[0], -1)
    (tmp_path / "filtered.png").write_bytes(_png(rows, colour_type, 8, [0, 1, 2, 3, 4]))
    np.testing.assert_array_equal(read_image(tmp_path / "filtered.png"), image)


def test_png_palette_alpha_and_sixteen_bit(tmp_path: Path) -> None:
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    indices = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    packed = np.packbits(
        np.unpackbits(indices.astype(np.uint8)[:, :, None], axis=2)[:, :, -2:].reshape(2, -1),
        axis=1,
    )  # 2 bits per pixel
    (tmp_path / "palette.png").write_bytes(_png(packed, 3, 2, [1], PLTE=palette.tobytes()))
    np.testing.assert_array_equal(read_image(tmp_path / "palette.png"), palette[indices])
    rgba = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3 * 4)
    (tmp_path / "rgba.png").write_bytes(_png(rgba, 6, 8, [4]))
    np.testing.assert_array_equal(
        read_image(tmp_path / "rgba.png"), rgba.reshape(2, 3, 4)[:, :, :3]
    )
    grey16 = np.array([[0x12, 0x34, 0xAB, 0xCD]], dtype=np.uint8)  # two 16-bit samples
    (tmp_path / "grey16.png").write_bytes(_png(grey16, 0, 16, [2]))
    np.testing.assert_array_equal(read_image(tmp_path / "grey16.png"), [[0x12, 0xAB]])


def test_corrupt_png_is_named(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", np.zeros((4, 4)))
    data = bytearray((tmp_path / "a.png").read_bytes())
    data[20] ^= 0xFF  # inside IHDR
    (tmp_path / "a.png").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"a.png cannot be read as an image"):
        read_image(tmp_path / "a.png")


def test_jpeg_images_are_read(tmp_path: Path) -> None:
    from PIL import Image

    colour = np.zeros((12, 10, 3), dtype=np.uint8)
    colour[:, :, 0] = 200
    Image.fromarray(colour).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(colour[:, :, 0]).save(tmp_path / "grey.jpeg", quality=95)
    pixels = read_image(tmp_path / "a.jpg")
    assert pixels.shape == (12, 10, 3) and abs(int(pixels[5, 5, 0]) - 200) <= 3
    assert read_image(tmp_path / "grey.jpeg").shape == (12, 10)


def test_a_file_that_is_no_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match=r"notes.png cannot be read as an image"):
        read_image(tmp_path / "notes.png")


def test_npy_images_are_read(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.full((3, 5, 3), 7.0))
    np.testing.assert_array_equal(read_image(tmp_path / "a.npy"), np.full((3, 5, 3), 7))


def test_fit_to_shape_converts_channels_resizes_and_crops() -> None:
    grey = np.arange(64, dtype=np.float64).reshape(8, 8) * 3
    assert fit_to_shape(grey, (3, 8, 8)).shape == (3, 8, 8)
    np.testing.assert_array_equal(fit_to_shape(grey, (1, 8, 8))[0], grey.astype(np.uint8))
    np.testing.assert_array_equal(fit_to_shape(grey, (1, 4, 4))[0], grey[2:6, 2:6])  # centre
    assert fit_to_shape(grey, (1, 16, 16)).shape == (1, 16, 16)  # scaled up to fit
    wide = np.zeros((10, 20, 3))
    assert fit_to_shape(wide, (1, 8, 8), resize=8).shape == (1, 8, 8)
    colour = np.zeros((2, 2, 3))
    colour[:, :, 1] = 100
    assert fit_to_shape(colour, (1, 2, 2))[0, 0, 0] == round(0.587 * 100)


# -- the example and the GPU ---------------------------------------------------------------------


def test_example_writes_both_layouts(digits: dict[str, Path]) -> None:
    train = list_images(digits["train"])
    validation = list_images(digits["validation"], digits["validation_lst"])
    assert (len(train), len(validation)) == (400, 150)
    assert train.class_names == {n: str(n) for n in range(10)}
    assert read_image(train.records[0].path).shape == (16, 16)


@pytest.mark.slow
def test_example_tunes_image_classification(tmp_path: Path) -> None:
    if "image-classification" not in BUILTIN_ALGORITHMS:
        pytest.skip("image-classification is not registered in algorithms.BUILTIN_ALGORITHMS yet")
    from image_classification_digits import tune, write_digits

    channels = write_digits(tmp_path / "data", n_train=200, n_validation=100)
    tuner = tune(channels, tmp_path, max_jobs=2)
    best = tuner.describe()["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] > 0.1
