"""Tests for the built-in semantic segmentation: its reader, label map, crops, metrics,
networks, pretrained weights, schedules, predictor and quality against a constant prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from algorithm_context import CheckpointingContext, FakeContext  # noqa: E402
from PIL import Image  # noqa: E402

from algorithms import BUILTIN_ALGORITHMS, HyperparameterError, InputError  # noqa: E402
from algorithms.base import parse_hyperparameters  # noqa: E402
from algorithms.images import write_png  # noqa: E402
from algorithms.resnet import build_backbone  # noqa: E402
from algorithms.segmentation_data import (  # noqa: E402
    IGNORE_LABEL,
    LabelMap,
    load_split,
    read_label_map,
    round_crop_size,
    training_crop,
    validation_crop,
)
from algorithms.segmentation_metrics import (  # noqa: E402
    confusion_matrix,
    mean_iou,
    pixel_accuracy,
)
from algorithms.segmentation_model import (  # noqa: E402
    Architecture,
    aspp_rates,
    build_segmentation_network,
)
from algorithms.segmentation_shapes import (  # noqa: E402
    NUM_CLASSES,
    majority_class_scores,
    write_shapes,
)
from algorithms.semantic_segmentation import (  # noqa: E402
    ALGORITHM,
    HYPERPARAMETERS,
    MODEL_FILENAME,
    learning_rate_at,
    load,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {
    "num_classes": "3",
    "num_training_samples": "8",
    "use_pretrained_model": "False",
    "base_size": "32",
    "crop_size": "32",
    "epochs": "1",
    "mini_batch_size": "4",
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_shapes(tmp_path_factory.mktemp("shapes"), n_train=8, n_validation=4, size=32)


def _pair(root: Path, name: str, mask: np.ndarray, image_size: tuple[int, int] | None = None):
    """One image (random pixels) in ``root/train`` and ``mask`` as its PNG annotation."""
    height, width = image_size or mask.shape
    pixels = np.random.default_rng(0).integers(0, 256, size=(height, width, 3))
    Image.fromarray(pixels.astype(np.uint8)).save(root / "train" / f"{name}.jpg")
    write_png(root / "train_annotation" / f"{name}.png", mask)


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    (tmp_path / "train").mkdir()
    (tmp_path / "train_annotation").mkdir()
    return tmp_path


def _load(root: Path, num_classes: int = 3, label_map: LabelMap | None = None):
    return load_split(root / "train", root / "train_annotation", "train", num_classes, label_map)


# -- reader --------------------------------------------------------------------------------------


def test_images_pair_with_masks_of_the_same_name_and_keep_the_ignore_label(folders) -> None:
    mask = np.array([[0, 1, 2, 255]] * 4, dtype=np.uint8)
    _pair(folders, "b", mask)
    _pair(folders, "a", mask[:, ::-1])
    split = _load(folders)
    assert [f.name for f in split.files] == ["a.jpg", "b.jpg"]
    assert split.images[0].shape == (4, 4, 3) and split.images[0].dtype == np.uint8
    np.testing.assert_array_equal(split.masks[1], mask)


def test_a_palette_mask_is_read_as_its_indices(folders) -> None:
    _pair(folders, "p", np.zeros((4, 4), dtype=np.uint8))
    palette = Image.fromarray(np.array([[0, 2], [1, 255]], dtype=np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [9] * (256 * 3 - 9))
    palette.resize((4, 4), Image.Resampling.NEAREST).save(folders / "train_annotation" / "p.png")
    assert set(np.unique(_load(folders).masks[0])) == {0, 1, 2, 255}


def test_an_image_without_a_mask_is_named(folders) -> None:
    _pair(folders, "a", np.zeros((4, 4), dtype=np.uint8))
    Image.new("RGB", (4, 4)).save(folders / "train" / "lonely.jpg")
    with pytest.raises(InputError, match=r"train_annotation channel: no mask lonely\.png"):
        _load(folders)


def test_a_mask_of_another_size_is_named(folders) -> None:
    _pair(folders, "a", np.zeros((4, 4), dtype=np.uint8), image_size=(4, 6))
    with pytest.raises(InputError, match=r"a\.png is 4x4 but its image a\.jpg is 6x4"):
        _load(folders)


def test_a_colour_mask_is_refused(folders) -> None:
    _pair(folders, "a", np.zeros((4, 4), dtype=np.uint8))
    Image.new("RGB", (4, 4)).save(folders / "train_annotation" / "a.png")
    with pytest.raises(InputError, match=r"a\.png is a RGB image; a mask must be a single"):
        _load(folders)


def test_a_corrupt_mask_is_named(folders) -> None:
    _pair(folders, "a", np.zeros((4, 4), dtype=np.uint8))
    (folders / "train_annotation" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    with pytest.raises(InputError, match=r"a\.png cannot be read as a PNG mask"):
        _load(folders)


def test_a_value_beyond_num_classes_is_named_with_its_file(folders) -> None:
    _pair(folders, "a", np.array([[0, 1], [7, 255]], dtype=np.uint8))
    with pytest.raises(InputError, match=r"mask a\.png has the value 7, not a class of num_cl"):
        _load(folders)


def test_an_empty_image_channel_is_an_error(folders) -> None:
    with pytest.raises(InputError, match="train channel: no images"):
        _load(folders)


# -- label map -----------------------------------------------------------------------------------


def test_label_map_scale_divides_every_value_but_the_ignore_label(tmp_path: Path) -> None:
    (tmp_path / "map.json").write_text(json.dumps({"scale": "3"}))
    label_map = read_label_map(tmp_path, "train")
    assert label_map == LabelMap(scale=3)
    mask = np.array([0, 3, 6, 255, 7])
    np.testing.assert_array_equal(label_map.apply(mask), [0, 1, 2, 255, 2])


def test_label_map_mapping_renames_the_values_it_names_only(tmp_path: Path) -> None:
    (tmp_path / "train_label_map.json").write_text(json.dumps({"map": {"0": 2, "128": 1}}))
    (tmp_path / "validation_label_map.json").write_text(json.dumps({"10": 0}))
    train = read_label_map(tmp_path, "train")
    validation = read_label_map(tmp_path, "validation")
    assert train is not None and validation is not None
    np.testing.assert_array_equal(train.apply(np.array([0, 128, 1, 255])), [2, 1, 1, 255])
    np.testing.assert_array_equal(validation.apply(np.array([10, 0])), [0, 0])


def test_a_label_map_applies_before_the_class_check(folders) -> None:
    _pair(folders, "a", np.array([[0, 100], [200, 255]], dtype=np.uint8))
    split = _load(folders, label_map=LabelMap(scale=100))
    np.testing.assert_array_equal(split.masks[0], [[0, 1], [2, 255]])


@pytest.mark.parametrize(
    "content", ["not json", '{"scale": 0}', '{"scale": 1.5}', '{"map": {"a": 1}}', "[1, 2]"]
)
def test_a_bad_label_map_is_named(tmp_path: Path, content: str) -> None:
    (tmp_path / "labels.json").write_text(content)
    with pytest.raises(InputError, match=r"label_map channel: labels\.json"):
        read_label_map(tmp_path, "train")


# -- crops ---------------------------------------------------------------------------------------


def test_crop_size_rounds_up_to_a_multiple_of_eight() -> None:
    assert [round_crop_size(n) for n in (17, 24, 25, 240)] == [24, 24, 32, 240]


def test_a_training_crop_is_square_and_its_padding_is_ignored() -> None:
    rng = np.random.default_rng(0)
    image = np.full((10, 20, 3), 9, dtype=np.uint8)
    mask = np.ones((10, 20), dtype=np.uint8)
    padded = False
    for _ in range(20):
        crop, crop_mask = training_crop(image, mask, 20, 32, rng)
        assert crop.shape == (32, 32, 3) and crop_mask.shape == (32, 32)
        assert set(np.unique(crop_mask)) <= {1, IGNORE_LABEL}
        assert ((crop_mask == IGNORE_LABEL) == (crop.sum(axis=2) == 0)).all()
        padded |= bool((crop_mask == IGNORE_LABEL).any())
    assert padded  # a long side of 10..40 pixels is often shorter than the crop


def test_a_validation_crop_is_the_centre_after_scaling_the_short_side() -> None:
    mask = np.zeros((20, 40), dtype=np.uint8)
    mask[:, 10:30] = 1  # the centre square
    image = np.repeat(mask[:, :, None] * 200, 3, axis=2).astype(np.uint8)
    crop, crop_mask = validation_crop(image, mask, 10)
    assert crop.shape == (10, 10, 3)
    assert (crop_mask == 1).all()


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_of_hand_made_masks() -> None:
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 255]])
    predicted = np.array([[0, 1, 1, 1], [0, 0, 0, 2]])
    confusion = confusion_matrix(truth, predicted, 4)
    assert confusion.sum() == 7  # the 255 pixel is left out
    assert pixel_accuracy(confusion) == pytest.approx(5 / 7)
    # class 0: TP 3, FP 1, FN 1 -> 3/5; class 1: TP 2, FP 1, FN 1 -> 2/4; 2 and 3 absent.
    assert mean_iou(confusion) == pytest.approx((3 / 5 + 2 / 4) / 2)


def test_a_class_predicted_but_absent_counts_as_zero() -> None:
    confusion = confusion_matrix(np.array([0, 0]), np.array([0, 2]), 3)
    assert mean_iou(confusion) == pytest.approx((1 / 2 + 0.0) / 2)


def test_perfect_and_empty_predictions() -> None:
    truth = np.array([0, 1, 2, 255])
    assert mean_iou(confusion_matrix(truth, np.array([0, 1, 2, 0]), 3)) == 1.0
    nothing = confusion_matrix(np.array([255, 255]), np.array([0, 1]), 3)
    assert mean_iou(nothing) == 0.0 and pixel_accuracy(nothing) == 0.0


# -- networks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["fcn", "psp", "deeplab"])
def test_each_head_scores_every_pixel_of_any_input_size(algorithm: str) -> None:
    network = build_segmentation_network(Architecture(algorithm, "resnet-50", 5, 64)).eval()
    with torch.no_grad():
        scores = network(torch.zeros(2, 3, 40, 52))
    assert scores.shape == (2, 5, 40, 52)


def test_a_one_image_batch_trains_with_the_pooled_branches() -> None:
    network = build_segmentation_network(Architecture("psp", "resnet-50", 2, 32)).train()
    network(torch.zeros(1, 3, 32, 32)).sum().backward()  # batch norm of 1x1 bins would refuse


def test_the_backbone_is_the_dilated_resnet_of_its_depth() -> None:
    def bottlenecks(layers: int) -> int:
        with torch.device("meta"):  # the shape only: no memory for ResNet-101's weights
            stages = build_backbone(layers, output_stride=8).stages
        return sum(len(stage) for stage in stages)

    assert bottlenecks(50) == 16 and bottlenecks(101) == 33  # 3+4+6+3 and 3+4+23+3 blocks
    for stride, side in ((8, 8), (16, 4), (32, 2)):
        backbone = build_backbone(50, output_stride=stride).eval()
        with torch.no_grad():
            features = backbone(torch.zeros(1, 3, 64, 64))
        assert backbone.output_stride == stride
        assert [f.shape[1] for f in features] == [256, 512, 1024, 2048]
        assert features[-1].shape[-1] == side


def test_atrous_rates_shrink_with_small_crops_only() -> None:
    assert aspp_rates(513) == (12, 24, 36) and aspp_rates(1024) == (12, 24, 36)
    assert aspp_rates(64) == (1, 3, 4)
    assert min(aspp_rates(17)) >= 1


# -- hyperparameters -----------------------------------------------------------------------------


def test_sagemakers_defaults() -> None:
    values = parse_hyperparameters(
        HYPERPARAMETERS, {"num_classes": "2", "num_training_samples": "1"}
    )
    assert values["backbone"] == "resnet-50" and values["algorithm"] == "fcn"
    assert values["use_pretrained_model"] is True
    assert (values["base_size"], values["crop_size"], values["epochs"]) == (520, 240, 10)
    assert (values["learning_rate"], values["lr_scheduler"]) == (0.001, "poly")
    assert (values["mini_batch_size"], values["validation_mini_batch_size"]) == (16, 16)
    assert (values["early_stopping_min_epochs"], values["early_stopping_patience"]) == (5, 4)
    assert BUILTIN_ALGORITHMS["semantic-segmentation"].startswith("algorithms.semantic_seg")


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("num_classes", "255", "between 2 and 254"),
        ("crop_size", "16", ">= 17"),
        ("algorithm", "unet", "fcn, psp, deeplab"),
        ("backbone", "resnet-18", "resnet-50, resnet-101"),
        ("optimizer", "lamb", "sgd, adam, adagrad, nag, rmsprop"),
    ],
)
def test_bad_values_are_named(name: str, value: str, allowed: str, shapes, tmp_path) -> None:
    with pytest.raises(HyperparameterError, match=f"'{name}'.*{allowed}"):
        ALGORITHM.train({**TINY, name: value}, shapes, FakeContext(tmp_path))


def test_pretrained_weights_without_a_model_channel_are_a_clear_error(shapes, tmp_path) -> None:
    hp = {k: v for k, v in TINY.items() if k != "use_pretrained_model"}  # default True
    with pytest.raises(HyperparameterError, match="'use_pretrained_model'.*'model' channel"):
        ALGORITHM.train(hp, shapes, FakeContext(tmp_path))


def test_a_step_schedule_needs_its_steps(shapes, tmp_path) -> None:
    with pytest.raises(HyperparameterError, match="'lr_scheduler_step'"):
        ALGORITHM.train({**TINY, "lr_scheduler": "step"}, shapes, FakeContext(tmp_path))


def test_missing_annotation_channel_is_named(shapes, tmp_path) -> None:
    channels = {k: v for k, v in shapes.items() if k != "validation_annotation"}
    with pytest.raises(InputError, match="'validation_annotation' channel"):
        ALGORITHM.train(TINY, channels, FakeContext(tmp_path))


def test_learning_rate_schedules() -> None:
    values = {"learning_rate": 0.1, "lr_scheduler_factor": 0.5}
    poly = {**values, "lr_scheduler": "poly"}
    cosine = {**values, "lr_scheduler": "cosine"}
    step = {**values, "lr_scheduler": "step"}
    assert learning_rate_at(poly, 1, 0.0) == pytest.approx(0.1)
    assert learning_rate_at(poly, 1, 0.5) == pytest.approx(0.1 * 0.5**0.9)
    assert learning_rate_at(poly, 9, 1.5) == 0.0  # past num_training_samples' iterations
    assert learning_rate_at(cosine, 1, 0.5) == pytest.approx(0.05)
    rates = [learning_rate_at(step, epoch, 0.0, (2, 4)) for epoch in range(1, 7)]
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


# -- training, pretrained weights, prediction ----------------------------------------------------


def test_backbone_weights_come_from_the_model_channel(shapes, tmp_path) -> None:
    torch.manual_seed(7)
    weights = build_backbone(50, output_stride=8).state_dict()
    (tmp_path / "model").mkdir()
    torch.save(weights, tmp_path / "model" / "resnet50.pt")
    channels = {**shapes, "model": tmp_path / "model"}
    hp = {**TINY, "use_pretrained_model": "True", "learning_rate": "0", "weight_decay": "0"}
    ALGORITHM.train(hp, channels, FakeContext(tmp_path / "out"))
    saved = torch.load(tmp_path / "out" / MODEL_FILENAME, weights_only=True)["state_dict"]
    for name in ("stem.0.weight", "stages.3.2.body.6.weight"):
        torch.testing.assert_close(saved[f"backbone.{name}"], weights[name])

    torch.save({"stem.0.weight": torch.zeros(1)}, tmp_path / "model" / "resnet50.pt")
    with pytest.raises(InputError, match=r"model channel: resnet50\.pt does not fit"):
        ALGORITHM.train(hp, channels, FakeContext(tmp_path / "bad"))


def test_early_stopping_ends_training_without_improvement(shapes, tmp_path) -> None:
    hp = {
        **TINY,
        "epochs": "5",
        "learning_rate": "0",
        "early_stopping": "True",
        "early_stopping_min_epochs": "1",
        "early_stopping_patience": "1",
        "early_stopping_tolerance": "1",  # an epoch must double the best mIOU
    }
    ctx = FakeContext(tmp_path)
    ALGORITHM.train(hp, shapes, ctx)
    assert ctx.epochs == [1, 2]


@pytest.mark.slow  # two ResNet-50 checkpoints of ~260 MB each
def test_a_job_early_stopping_ended_resumes_to_nothing_but_its_best_model(
    shapes, tmp_path
) -> None:
    hp = {
        **TINY,
        "epochs": "5",
        "early_stopping": "True",
        "early_stopping_min_epochs": "1",
        "early_stopping_patience": "1",
        "early_stopping_tolerance": "1",  # an epoch must double the best mIOU
    }
    first = CheckpointingContext(tmp_path / "a", tmp_path / "checkpoints")
    ALGORITHM.train(hp, shapes, first)
    assert first.epochs == [1, 2]
    again = CheckpointingContext(tmp_path / "b", tmp_path / "checkpoints")
    ALGORITHM.train(hp, shapes, again)
    assert again.reports == []  # the checkpoint is the epoch early stopping ended it at
    states = [load(ctx.output_dir).network.state_dict() for ctx in (first, again)]
    for name, tensor in states[0].items():
        assert torch.equal(tensor, states[1][name]), name


def test_the_predictor_writes_a_png_mask_of_the_images_size(shapes, tmp_path) -> None:
    ALGORITHM.train(TINY, shapes, FakeContext(tmp_path / "out"))
    model = load(tmp_path / "out")
    image = np.random.default_rng(0).integers(0, 256, size=(20, 28, 3)).astype(np.uint8)
    masks = model.predict([image, image[:, :, 0]])
    assert [m.shape for m in masks] == [(20, 28), (20, 28)]
    assert all(m.dtype == np.uint8 and m.max() < NUM_CLASSES for m in masks)
    written = model.predict_png(sorted(shapes["validation"].glob("*.jpg"))[0], tmp_path / "m.png")
    with Image.open(tmp_path / "m.png") as png:
        assert png.mode == "L"
        np.testing.assert_array_equal(np.asarray(png), written)
    probabilities = model.predict_proba(image)[0]
    assert probabilities.shape == (NUM_CLASSES, 20, 28)
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, rtol=1e-5)


# -- quality -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_miou_is_well_above_a_constant_prediction(tmp_path: Path) -> None:
    """32x32 shapes, 32 training images: FCN on a ResNet-50 from scratch, 10 epochs of adam.

    (64x64 images cost four times as long for the same margin: mIOU 0.69 here, 0.87 there.)"""
    channels = write_shapes(tmp_path / "data", n_train=32, n_validation=16, size=32, seed=1)
    constant_miou, constant_accuracy = majority_class_scores(channels)
    hp = {
        "num_classes": "3",
        "num_training_samples": "32",
        "use_pretrained_model": "False",
        "base_size": "32",
        "crop_size": "32",
        "epochs": "10",
        "mini_batch_size": "8",
        "optimizer": "adam",
        "learning_rate": "0.001",
    }
    ctx = FakeContext(tmp_path / "out")
    ALGORITHM.train(hp, channels, ctx)
    best = max(metrics["validation:mIOU"] for _, metrics in ctx.reports)
    assert constant_miou < 0.35
    assert best > constant_miou + 0.25, (best, constant_miou)
    assert ctx.reports[-1][1]["validation:pixel_accuracy"] > constant_accuracy


def test_the_request_check_refuses_channels_of_tabular_files(shapes, tmp_path) -> None:
    from tuner.spec.inputs import check_inputs
    from tuner.spec.problems import Problems

    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "rows.csv").write_text("1,2\n")
    found = {**shapes, "train_annotation": tmp_path / "csv"}
    channels = [
        {"ChannelName": name, "DataSource": {"S3DataSource": {"S3Uri": str(path)}}}
        for name, path in found.items()
    ]
    channels[2]["ContentType"] = "text/csv"  # the validation channel
    assert channels[2]["ChannelName"] == "validation"
    problems = Problems()
    check_inputs({"InputDataConfig": channels}, "semantic-segmentation", found, problems)
    assert len(problems.items) == 2, problems.items
    assert "rows.csv: it reads images (JPEG) and their label masks (PNG)" in problems.items[0]
    assert "reads images" in problems.items[1] and "'text/csv'" in problems.items[1]
