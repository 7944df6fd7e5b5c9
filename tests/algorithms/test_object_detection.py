"""Tests for the built-in object detection (SSD): box operations, both input formats and their
errors, VOC mAP on hand-made detections, hyperparameters, pretrained weights, prediction and
quality against a baseline that predicts each class's mean box."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from algorithm_context import FakeContext  # noqa: E402

from algorithms import BUILTIN_ALGORITHMS, HyperparameterError, InputError  # noqa: E402
from algorithms.base import parse_hyperparameters  # noqa: E402
from algorithms.boxes import (  # noqa: E402
    anchors,
    batched_nms,
    box_iou,
    decode,
    encode,
    hard_negatives,
    match_anchors,
    nms,
)
from algorithms.image_recordio import IRHeader, encode_image, write_rec  # noqa: E402
from algorithms.images import write_png  # noqa: E402
from algorithms.object_detection import (  # noqa: E402
    HYPERPARAMETERS,
    MODEL_FILENAME,
    ObjectDetectionAlgorithm,
    load,
)
from algorithms.object_detection_data import (  # noqa: E402
    detection_label,
    load_split,
    record_boxes,
    write_shapes,
)
from algorithms.object_detection_metric import (  # noqa: E402
    average_precision,
    mean_average_precision,
    mean_box_detections,
)
from algorithms.object_detection_network import (  # noqa: E402
    anchor_boxes,
    build_ssd,
    feature_sizes,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: A network of an eighth of the real channels: the same structure, fast on a CPU.
SMALL = ObjectDetectionAlgorithm(width_divisor=8)
TINY = {
    "num_classes": "3",
    "num_training_samples": "8",
    "image_shape": "32",
    "epochs": "1",
    "mini_batch_size": "4",
    "use_pretrained_model": "0",
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_shapes(tmp_path_factory.mktemp("boxes"), n_train=8, n_validation=4, size=32)


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


# -- box operations ------------------------------------------------------------------------------


def test_iou_of_hand_made_boxes() -> None:
    first = _t([[0, 0, 2, 2], [0, 0, 1, 1]])
    second = _t([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6], [1, 1, 1, 1]])
    expected = [[1 / 7, 1, 0, 0], [0, 1 / 4, 0, 0]]  # a box of no area overlaps nothing
    torch.testing.assert_close(box_iou(first, second), _t(expected))


def test_anchors_follow_multibox_prior() -> None:
    found = anchors(1, 2, sizes=(0.5, 0.25), ratios=(1.0, 4.0))
    # Per cell: each size at ratio 1, then ratio 4 at the first size (width 1, height 0.25).
    assert found.shape == (6, 4)
    torch.testing.assert_close(found[0], _t([0.0, 0.25, 0.5, 0.75]))
    torch.testing.assert_close(found[1], _t([0.125, 0.375, 0.375, 0.625]))
    torch.testing.assert_close(found[2], _t([-0.25, 0.375, 0.75, 0.625]))
    torch.testing.assert_close(found[3], _t([0.5, 0.25, 1.0, 0.75]))  # the second cell


def test_encode_of_a_hand_made_box_and_decode_inverts_it() -> None:
    anchor = _t([[0, 0, 1, 1]])  # centre (0.5, 0.5), size 1
    box = _t([[0.1, 0.2, 0.5, 0.6]])  # centre (0.3, 0.4), size 0.4
    offsets = encode(box, anchor)
    size = math.log(0.4) / 0.2
    torch.testing.assert_close(offsets, _t([[-2.0, -1.0, size, size]]))
    torch.testing.assert_close(decode(offsets, anchor), box)
    rng = torch.Generator().manual_seed(0)
    corner = torch.rand(20, 2, generator=rng) * 0.5
    boxes = torch.cat([corner, corner + 0.1 + torch.rand(20, 2, generator=rng) * 0.4], dim=1)
    priors = anchor_boxes("vgg-16", 32)[:20]
    torch.testing.assert_close(decode(encode(boxes, priors), priors), boxes)


def test_every_box_takes_its_best_anchor_and_others_match_above_the_threshold() -> None:
    priors = _t([[0, 0, 1, 1], [0, 0, 0.9, 0.9], [0.5, 0.5, 1, 1], [0.6, 0.6, 1, 1]])
    truth = _t([[0, 0, 1, 1], [0.55, 0.55, 1, 1]])
    matched, best = match_anchors(truth, priors, overlap_threshold=0.5)
    assert matched.tolist() == [0, 0, 1, 1]  # anchor 1 (IoU 0.81) passes the threshold
    torch.testing.assert_close(best[:2], _t([1.0, 0.81]))
    # At a higher threshold only each box's own best anchor is matched.
    matched, _ = match_anchors(truth, priors, overlap_threshold=0.9)
    assert matched.tolist() == [0, -1, 1, -1]  # box 1: IoU 0.81 with anchor 2, 0.79 with 3
    # Two boxes whose best anchor is the same: the second takes its next best.
    matched, _ = match_anchors(_t([[0, 0, 1, 1], [0, 0, 0.95, 0.95]]), priors[:2], 0.99)
    assert sorted(matched.tolist()) == [0, 1]
    empty, zero = match_anchors(torch.zeros(0, 4), priors, 0.5)
    assert empty.tolist() == [-1] * 4 and zero.tolist() == [0.0] * 4


def test_hard_negatives_are_three_per_positive_of_highest_loss() -> None:
    loss = _t([0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 5.0, 0.2])
    positive = torch.tensor([True, False, False, False, False, False, False, False])
    best = _t([0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.6, 0.1])  # anchor 6 overlaps too much
    chosen = hard_negatives(loss, positive, best)
    assert torch.nonzero(chosen).squeeze(1).tolist() == [1, 2, 3]
    assert int(hard_negatives(loss, torch.zeros(8, dtype=torch.bool), best).sum()) == 3


def test_nms_drops_a_lower_scored_overlap_above_the_threshold_only() -> None:
    boxes = _t([[0, 0, 1, 1], [0, 0, 1, 0.9], [0, 0, 1, 0.4], [2, 2, 3, 3]])
    scores = _t([0.5, 0.9, 0.8, 0.1])
    # IoU(0, 1) = 0.9, IoU(1, 2) = 0.4/0.9, IoU(0, 2) = 0.4.
    assert nms(boxes, scores, 0.45).tolist() == [1, 2, 3]
    assert nms(boxes, scores, 0.3).tolist() == [1, 3]
    assert nms(boxes, scores, 0.95).tolist() == [1, 2, 0, 3]
    classes = torch.tensor([0, 1, 0, 0])
    assert batched_nms(boxes, scores, classes, 0.45).tolist() == [1, 2, 0, 3]  # 0 and 1 differ
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


def test_feature_maps_and_anchors_of_both_trunks() -> None:
    assert feature_sizes("vgg-16", 300) == [38, 19, 10, 5, 3, 2]
    assert feature_sizes("resnet-50", 300) == [19, 10, 5, 3, 2, 1]
    for base in ("vgg-16", "resnet-50"):
        network = build_ssd(base, 3, width_divisor=8).eval()
        with torch.no_grad():
            logits, offsets = network(torch.zeros(2, 3, 64, 64))
        count = len(anchor_boxes(base, 64))
        assert logits.shape == (2, count, 4) and offsets.shape == (2, count, 4)


# -- reading the image format --------------------------------------------------------------------


def _annotated(root: Path, name: str, boxes: list[dict], *, size=(40, 20), **extra) -> None:
    """An image ``name``.png of ``size`` (width, height) in train, its JSON annotation."""
    (root / "train").mkdir(exist_ok=True)
    (root / "train_annotation").mkdir(exist_ok=True)
    width, height = size
    write_png(root / "train" / f"{name}.png", np.full((height, width, 3), 90, dtype=np.uint8))
    record = {
        "file": f"{name}.png",
        "image_size": [{"width": width, "height": height, "depth": 3}],
        "annotations": boxes,
        **extra,
    }
    (root / "train_annotation" / f"{name}.json").write_text(json.dumps(record))


def _read(root: Path, num_classes: int = 3, label_width: int = 350, size: int = 32):
    channels = {"train": root / "train", "train_annotation": root / "train_annotation"}
    return load_split(channels, "train", size, num_classes, label_width)


def _box(class_id=0, left=4, top=2, width=8, height=10) -> dict:
    return {"class_id": class_id, "left": left, "top": top, "width": width, "height": height}


def test_pixel_boxes_are_normalised_by_the_image_and_the_image_scaled(tmp_path: Path) -> None:
    _annotated(tmp_path, "b", [_box(2), _box(1, left=30, top=15, width=20, height=10)])
    _annotated(tmp_path, "a", [])  # background only
    split = _read(tmp_path)
    assert [Path(s).name for s in split.sources] == ["a.png", "b.png"]
    assert split.pixels.shape == (2, 3, 32, 32) and split.pixels.dtype == np.uint8
    assert split.boxes[0].shape == (0, 5)
    # The second box reaches past the image (40x20): it is clipped to it.
    np.testing.assert_allclose(
        split.boxes[1], [[2, 0.1, 0.1, 0.3, 0.6], [1, 0.75, 0.75, 1.0, 1.0]], rtol=1e-6
    )


def test_a_file_without_its_folder_is_looked_up_in_the_channel(tmp_path: Path) -> None:
    _annotated(tmp_path, "a", [_box()])
    (tmp_path / "train" / "sub").mkdir()
    (tmp_path / "train" / "a.png").rename(tmp_path / "train" / "sub" / "a.png")
    assert Path(_read(tmp_path).sources[0]).parent.name == "sub"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"annotations": [_box(3)]}, r"annotation 0: class_id 3 is not a class of num_class"),
        ({"annotations": [_box(-1)]}, r"annotation 0: class_id -1 is not a class"),
        ({"annotations": [_box(), _box(0.5)]}, r"annotation 1: class_id 0\.5 is not a class"),
        ({"annotations": [{"class_id": 0, "left": 1}]}, r"annotation 0: 'top' must be a num"),
        ({"annotations": [_box(left="4")]}, r"'left' must be a number, got '4'"),
        ({"annotations": [_box(width=0)]}, r"annotation 0: width and height must be positive"),
        ({"annotations": [_box(left=50)]}, r"annotation 0: the box lies outside the image"),
        ({"annotations": ["box"]}, r"annotation 0 is not an object"),
        ({"annotations": {"class_id": 0}}, r'needs an "annotations" list'),
        ({"file": None}, r'needs a "file" naming its image'),
        ({"file": "missing.png"}, r"names image 'missing\.png', not in the train channel"),
        ({"image_size": [{"width": 20, "height": 40}]}, r"image_size says 20x40 but the ima"),
    ],
)
def test_a_malformed_annotation_names_the_channel_and_file(
    tmp_path: Path, change: dict, message: str
) -> None:
    _annotated(tmp_path, "a", [_box()])
    path = tmp_path / "train_annotation" / "a.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(InputError, match=r"train_annotation channel: .*a\.json.*" + message):
        _read(tmp_path)


def test_an_annotation_that_is_not_json_is_named(tmp_path: Path) -> None:
    _annotated(tmp_path, "a", [_box()])
    (tmp_path / "train_annotation" / "bad.json").write_text('{"file": "a.png", ')
    with pytest.raises(InputError, match=r"train_annotation channel: .*bad\.json is not a JSON"):
        _read(tmp_path)


def test_a_corrupt_image_is_named(tmp_path: Path) -> None:
    _annotated(tmp_path, "a", [_box()])
    (tmp_path / "train" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    with pytest.raises(InputError, match=r"a\.png"):
        _read(tmp_path)


def test_more_objects_than_label_width_allows_are_refused(tmp_path: Path) -> None:
    _annotated(tmp_path, "a", [_box(), _box(left=20)])
    assert len(_read(tmp_path, label_width=12).boxes[0]) == 2  # 2 + 2 * 5 numbers fit
    with pytest.raises(InputError, match=r"a\.json: 2 objects need a label of 12 numbers.*'la"):
        _read(tmp_path, label_width=11)


def test_missing_annotations_are_named(tmp_path: Path) -> None:
    _annotated(tmp_path, "a", [_box()])
    (tmp_path / "train_annotation" / "a.json").unlink()
    with pytest.raises(InputError, match=r"train_annotation channel .* holds no \.json"):
        _read(tmp_path)
    with pytest.raises(InputError, match=r"images need JSON annotations in a 'train_annotation'"):
        load_split({"train": tmp_path / "train"}, "train", 32, 3, 350)


# -- reading RecordIO ----------------------------------------------------------------------------


def _rec(path: Path, labels: list[list[float]]) -> Path:
    image = np.full((24, 24, 3), 120, dtype=np.uint8)
    records = [(IRHeader(0, label, i), encode_image(image)) for i, label in enumerate(labels)]
    write_rec(path / "train.rec", records)
    return path


def test_recordio_labels_give_the_boxes_and_padding_is_skipped(tmp_path: Path) -> None:
    first = [2, 5, 1, 0.1, 0.2, 0.5, 0.6]
    # A header of 4 numbers, objects of 6 (an extra "difficult" flag), a padding object.
    second = [4, 6, 9, 9, 0, 0.0, 0.0, 1.0, 1.0, 1, -1, 0, 0, 0, 0, 0]
    _rec(tmp_path / "train", [first, second, detection_label(np.zeros((0, 5)))])
    split = load_split({"train": tmp_path / "train"}, "train", 32, 3, 350)
    assert split.pixels.shape == (3, 3, 32, 32)
    np.testing.assert_allclose(split.boxes[0], [[1, 0.1, 0.2, 0.5, 0.6]], rtol=1e-6)
    np.testing.assert_allclose(split.boxes[1], [[0, 0, 0, 1, 1]])
    assert split.boxes[2].shape == (0, 5)
    assert "record 2" in split.sources[1]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ([1, 5, 0, 0.1, 0.1, 0.2, 0.2], r"not a detection label"),
        ([2, 5, 0, 0.1, 0.1, 0.2], r"7 label numbers do not split|6 label numbers do not"),
        ([2, 5, 3, 0.1, 0.1, 0.2, 0.2], r"class 3 is not a class of num_classes=3"),
        ([2, 5, 0, 0.1, 0.1, 20, 30], r"box corners must be normalised"),
        ([2, 5, 0, 0.5, 0.1, 0.2, 0.2], r"box corners must be normalised.*xmin < xmax"),
    ],
)
def test_a_malformed_record_is_named(tmp_path: Path, label: list[float], message: str) -> None:
    _rec(tmp_path / "train", [[2, 5, 0, 0.1, 0.1, 0.2, 0.2], label])
    with pytest.raises(InputError, match=r"train channel: .*train\.rec, record 2.*" + message):
        load_split({"train": tmp_path / "train"}, "train", 32, 3, 350)


def test_a_record_longer_than_label_width_is_refused(tmp_path: Path) -> None:
    _rec(tmp_path / "train", [[2, 5, 0, 0.1, 0.1, 0.2, 0.2] * 1])
    with pytest.raises(InputError, match=r"record 1 .*: a label of 7 numbers .*'label_width' \(6"):
        load_split({"train": tmp_path / "train"}, "train", 32, 3, 6)


def test_record_boxes_directly() -> None:
    boxes = record_boxes([2, 5, 0, 0.1, 0.1, 0.2, 0.2, 1, 0.3, 0.3, 0.9, 0.9], 2, "here")
    assert boxes.shape == (2, 5) and boxes[:, 0].tolist() == [0, 1]
    with pytest.raises(InputError, match="^here: "):
        record_boxes([2], 2, "here")


def test_the_generated_data_reads_the_same_in_both_formats(tmp_path: Path) -> None:
    images = write_shapes(tmp_path / "png", 6, 2, size=32)
    recs = write_shapes(tmp_path / "rec", 6, 2, size=32, recordio=True)
    assert set(images) == {"train", "validation", "train_annotation", "validation_annotation"}
    assert set(recs) == {"train", "validation"}
    from_images = load_split(images, "train", 32, 3, 350)
    from_recs = load_split(recs, "train", 32, 3, 350)
    for a, b in zip(from_images.boxes, from_recs.boxes, strict=True):
        np.testing.assert_allclose(a, b, atol=1 / 64)  # the JSON's boxes are whole pixels


# -- mAP -----------------------------------------------------------------------------------------


def _d(*rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


def _g(*rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


TRUTH = [_g([0, 0.1, 0.1, 0.4, 0.4], [1, 0.5, 0.5, 0.9, 0.9]), _g([0, 0.2, 0.2, 0.6, 0.6])]


def test_perfect_detections_score_one() -> None:
    found = [_d([0, 0.9, 0.1, 0.1, 0.4, 0.4], [1, 0.8, 0.5, 0.5, 0.9, 0.9]), _d()]
    found[1] = _d([0, 0.7, 0.2, 0.2, 0.6, 0.6])
    assert mean_average_precision(found, TRUTH, 2) == 1.0
    assert mean_average_precision(found, TRUTH, 5) == 1.0  # classes without boxes do not count


def test_a_missed_box_halves_its_class() -> None:
    found = [_d([0, 0.9, 0.1, 0.1, 0.4, 0.4], [1, 0.8, 0.5, 0.5, 0.9, 0.9]), _d()]
    assert mean_average_precision(found, TRUTH, 2) == pytest.approx((0.5 + 1.0) / 2)
    assert mean_average_precision(found, TRUTH, 2, recall_points=11) == pytest.approx(
        (6 / 11 + 1.0) / 2
    )


def test_a_duplicate_counts_as_a_false_positive_by_its_score() -> None:
    base = [_d([1, 0.8, 0.5, 0.5, 0.9, 0.9]), _d([0, 0.7, 0.2, 0.2, 0.6, 0.6])]
    right = _d([0, 0.9, 0.1, 0.1, 0.4, 0.4])
    # Below every true positive, a duplicate costs nothing: precision 1 at every recall reached.
    late = [np.vstack([base[0], right, _d([0, 0.1, 0.1, 0.1, 0.4, 0.4])]), base[1]]
    assert mean_average_precision(late, TRUTH, 2) == 1.0
    # Between them: class 0 is TP, FP (the second of one box), TP: precision 1 up to recall 1/2,
    # then 2/3 at recall 1.
    early = [np.vstack([base[0], right, _d([0, 0.95, 0.11, 0.1, 0.4, 0.4])]), base[1]]
    assert mean_average_precision(early, TRUTH, 2) == pytest.approx((0.5 + 0.5 * 2 / 3 + 1) / 2)


def test_a_box_of_the_wrong_class_or_place_does_not_count() -> None:
    swapped = [_d([1, 0.9, 0.1, 0.1, 0.4, 0.4], [0, 0.8, 0.5, 0.5, 0.9, 0.9]), _d()]
    assert mean_average_precision(swapped, TRUTH, 2) == 0.0
    # IoU exactly 0.5 is not above the threshold (VOC's strict test); 0.5625 is.
    truth = [_g([0, 0.0, 0.0, 1.0, 1.0])]
    assert mean_average_precision([_d([0, 1, 0, 0, 0.5, 1.0])], truth, 1) == 0.0
    assert mean_average_precision([_d([0, 1, 0, 0, 0.75, 0.75])], truth, 1) == 1.0


def test_no_ground_truth_scores_zero_and_precision_envelope() -> None:
    assert mean_average_precision([_d([0, 0.9, 0, 0, 1, 1])], [_g()], 2) == 0.0
    # Hits TP, FP, TP of 2 boxes: the envelope is 1 until recall 1/2, then 2/3.
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert average_precision(recall, precision) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_the_mean_box_baseline_detects_every_class_in_every_image() -> None:
    found = mean_box_detections(TRUTH, count=3, num_classes=3)
    assert len(found) == 3
    np.testing.assert_allclose(found[0][:, 2:], [[0.15, 0.15, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9]])
    np.testing.assert_allclose(found[0][:, :2], [[0, 2 / 3], [1, 1 / 3]])


def test_map_agrees_with_pycocotools_at_iou_one_half() -> None:
    coco = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    rng = np.random.default_rng(3)
    truths, found = [], []
    for _ in range(12):
        centres = rng.uniform(0.2, 0.8, (3, 2))
        boxes = np.hstack([centres - 0.15, centres + 0.15])
        truths.append(np.column_stack([rng.integers(0, 2, 3), boxes]))
        noisy = boxes[rng.random(3) < 0.8] + rng.normal(0, 0.04, (1, 4))
        labels = rng.integers(0, 2, len(noisy))
        found.append(np.column_stack([labels, rng.random(len(noisy)), noisy]))
    ours = mean_average_precision(found, truths, 2, recall_points=101)

    def xywh(b: np.ndarray) -> list[float]:
        return [float(b[0] * 100), float(b[1] * 100), float((b[2] - b[0]) * 100), float((b[3] - b[1]) * 100)]  # fmt: skip

    ground = coco.COCO()
    ground.dataset = {
        "images": [{"id": i} for i in range(len(truths))],
        "categories": [{"id": 0}, {"id": 1}],
        "annotations": [
            {
                "id": n,
                "image_id": i,
                "category_id": int(t[0]),
                "bbox": xywh(t[1:]),
                "area": xywh(t[1:])[2] * xywh(t[1:])[3],
                "iscrowd": 0,
            }  # fmt: skip
            for n, (i, t) in enumerate((i, t) for i, ts in enumerate(truths) for t in ts)
        ],
    }
    ground.createIndex()
    results = [
        {"image_id": i, "category_id": int(d[0]), "score": float(d[1]), "bbox": xywh(d[2:])}
        for i, ds in enumerate(found)
        for d in ds
    ]
    evaluation = cocoeval.COCOeval(ground, ground.loadRes(results), "bbox")
    evaluation.params.iouThrs = np.array([0.5])
    evaluation.evaluate()
    evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, -1]  # (recall, class), all areas
    assert ours == pytest.approx(float(np.mean(precision)), abs=1e-9)
    assert 0.2 < ours < 0.95  # a case with misses and false positives


# -- hyperparameters and weights -----------------------------------------------------------------


def test_sagemakers_defaults() -> None:
    values = parse_hyperparameters(
        HYPERPARAMETERS, {"num_classes": "2", "num_training_samples": "1"}
    )
    assert values["base_network"] == "vgg-16" and values["use_pretrained_model"] == 1
    assert (values["epochs"], values["learning_rate"], values["mini_batch_size"]) == (
        30,
        0.001,
        32,
    )
    assert (values["image_shape"], values["label_width"], values["optimizer"]) == (300, 350, "sgd")
    assert (values["momentum"], values["weight_decay"]) == (0.9, 0.0005)
    assert (values["nms_threshold"], values["overlap_threshold"]) == (0.45, 0.5)
    assert (values["lr_scheduler_factor"], values["early_stopping"]) == (0.1, False)
    assert BUILTIN_ALGORITHMS["object-detection"] == "algorithms.object_detection:ALGORITHM"


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("num_classes", "0", "integer >= 1"),
        ("num_training_samples", "x", "integer >= 1"),
        ("base_network", "resnet-18", "vgg-16, resnet-50"),
        ("use_pretrained_model", "2", "between 0 and 1"),
        ("epochs", "0", "integer >= 1"),
        ("learning_rate", "1.5", "> 0 and <= 1"),
        ("lr_scheduler_factor", "0", "> 0 and <= 1"),
        ("optimizer", "nag", "sgd, adam, rmsprop, adadelta"),
        ("momentum", "1.5", "between 0 and 1"),
        ("weight_decay", "1", ">= 0 and < 1"),
        ("mini_batch_size", "0", "integer >= 1"),
        ("image_shape", "16", "integer >= 32"),
        ("label_width", "0", "integer >= 1"),
        ("nms_threshold", "0", "> 0 and <= 1"),
        ("overlap_threshold", "1.5", "> 0 and <= 1"),
        ("early_stopping", "maybe", "true or false"),
        ("early_stopping_patience", "0", "integer >= 1"),
        ("early_stopping_min_epochs", "0", "integer >= 1"),
        ("early_stopping_tolerance", "1", ">= 0 and < 1"),
        ("kv_store", "local", "dist_sync, dist_async"),
        ("lr_scheduler_step", "10,x", "comma-separated epochs"),
        ("freeze_layer_pattern", "conv(", "not a regular expression"),
    ],
)
def test_bad_values_are_named(name: str, value: str, allowed: str, shapes, tmp_path) -> None:
    with pytest.raises(HyperparameterError, match=f"'{name}'.*{allowed}"):
        SMALL.train({**TINY, name: value}, shapes, FakeContext(tmp_path))


def test_a_missing_required_or_unknown_hyperparameter_is_named(shapes, tmp_path) -> None:
    with pytest.raises(HyperparameterError, match="'num_training_samples' is required"):
        SMALL.train({"num_classes": "3"}, shapes, FakeContext(tmp_path))
    with pytest.raises(HyperparameterError, match="'resize' is not known"):
        SMALL.train({**TINY, "resize": "1"}, shapes, FakeContext(tmp_path))


def test_pretrained_model_without_a_model_channel_is_a_clear_error(shapes, tmp_path) -> None:
    hp = {k: v for k, v in TINY.items() if k != "use_pretrained_model"}  # SageMaker's default 1
    with pytest.raises(HyperparameterError, match="'use_pretrained_model'.*'model' channel"):
        SMALL.train(hp, shapes, FakeContext(tmp_path))


def test_pretrained_weights_come_from_the_model_channel(shapes, tmp_path) -> None:
    SMALL.train(TINY, shapes, FakeContext(tmp_path / "first"))
    channels = {**shapes, "model": tmp_path / "first"}
    hp = {**TINY, "use_pretrained_model": "1", "learning_rate": "1e-12", "weight_decay": "0"}
    SMALL.train(hp, channels, FakeContext(tmp_path / "second"))
    first = torch.load(tmp_path / "first" / MODEL_FILENAME, weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "second" / MODEL_FILENAME, weights_only=True)["state_dict"]
    for name in ("stage_one.conv1_1.0.weight", "class_heads.0.weight"):
        torch.testing.assert_close(second[name], first[name])

    (tmp_path / "other").mkdir()
    torch.save({"nothing.weight": torch.zeros(2)}, tmp_path / "other" / "w.pt")
    with pytest.raises(InputError, match=r"model channel: .*w\.pt holds no weights of the vgg"):
        SMALL.train(hp, {**shapes, "model": tmp_path / "other"}, FakeContext(tmp_path / "x"))
    resnet = {**hp, "base_network": "resnet-50"}
    with pytest.raises(InputError, match=r"is a vgg-16 model; base_network is resnet-50"):
        SMALL.train(resnet, channels, FakeContext(tmp_path / "y"))
    (tmp_path / "other" / "w.pt").write_bytes(b"not torch")
    with pytest.raises(InputError, match=r"model channel: .*w\.pt cannot be read as torch"):
        SMALL.train(hp, {**shapes, "model": tmp_path / "other"}, FakeContext(tmp_path / "z"))


def test_frozen_layers_keep_their_weights(shapes, tmp_path) -> None:
    hp = {**TINY, "freeze_layer_pattern": "^conv1_", "learning_rate": "0.1"}
    SMALL.train(hp, shapes, FakeContext(tmp_path / "out"))
    saved = torch.load(tmp_path / "out" / MODEL_FILENAME, weights_only=True)["state_dict"]
    torch.manual_seed(0)  # the seed training builds its network with
    start = build_ssd("vgg-16", 3, width_divisor=8).state_dict()
    for name in ("conv1_1.0.weight", "conv1_2.1.running_mean"):
        torch.testing.assert_close(saved[f"stage_one.{name}"], start[f"stage_one.{name}"])
    assert not torch.equal(
        saved["stage_one.conv2_1.0.weight"], start["stage_one.conv2_1.0.weight"]
    )


def test_the_learning_rate_steps_down_after_the_listed_epochs(shapes, tmp_path, monkeypatch):
    rates: list[float] = []
    real_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    hp = {**TINY, "epochs": "3", "optimizer": "adam", "learning_rate": "0.01"}
    hp.update(lr_scheduler_step="1,2", lr_scheduler_factor="0.5", mini_batch_size="8")
    SMALL.train(hp, shapes, FakeContext(tmp_path))
    assert rates == pytest.approx([0.01, 0.005, 0.0025])


def test_early_stopping_ends_training_without_improvement(shapes, tmp_path) -> None:
    hp = {
        **TINY,
        "epochs": "5",
        "learning_rate": "1e-12",
        "early_stopping": "true",
        "early_stopping_min_epochs": "1",
        "early_stopping_patience": "1",
        "early_stopping_tolerance": "0.5",
    }
    ctx = FakeContext(tmp_path)
    SMALL.train(hp, shapes, ctx)
    assert ctx.epochs == [1, 2]
    assert set(ctx.reports[0][1]) == {"validation:mAP", "train:cross_entropy", "train:smooth_l1"}


def test_training_is_repeatable_and_the_model_predicts(shapes, tmp_path) -> None:
    runs = []
    for name in ("a", "b"):
        ctx = FakeContext(tmp_path / name)
        SMALL.train({**TINY, "epochs": "2"}, shapes, ctx)
        runs.append(ctx.reports)
    assert runs[0] == runs[1]
    model = load(tmp_path / "a")
    image = np.random.default_rng(0).integers(0, 256, (20, 28, 3)).astype(np.uint8)
    answers = model.predict(np.stack([image, image]))
    assert len(answers) == 2 and answers[0] == answers[1]
    rows = np.asarray(answers[0]).reshape(-1, 6)
    assert len(rows) <= 100 and set(rows[:, 0]) <= {0.0, 1.0, 2.0}
    assert (np.diff(rows[:, 1]) <= 0).all() and ((rows[:, 2:] >= 0) & (rows[:, 2:] <= 1)).all()
    png = sorted(shapes["validation"].glob("*.png"))[0]
    assert model.response(png.read_bytes())["prediction"] == model.predict([png])[0]


def test_a_train_channel_is_needed(shapes, tmp_path) -> None:
    channels = {k: v for k, v in shapes.items() if not k.startswith("train")}
    with pytest.raises(InputError, match="needs a 'train' channel"):
        SMALL.train(TINY, channels, FakeContext(tmp_path))


# -- quality -------------------------------------------------------------------------------------


QUALITY_EPOCHS = 20


@pytest.mark.slow
def test_map_is_well_above_the_mean_box_baseline(tmp_path: Path) -> None:
    """64x64 shapes, 96 training images: SSD on VGG-16 at an eighth of its width, adam."""
    channels = write_shapes(tmp_path / "data", n_train=96, n_validation=32, size=64, seed=1)
    train = load_split(channels, "train", 64, 3, 350)
    validation = load_split(channels, "validation", 64, 3, 350)
    baseline = mean_average_precision(
        mean_box_detections(train.boxes, len(validation), 3), validation.boxes, 3
    )
    hp = {
        "num_classes": "3",
        "num_training_samples": "96",
        "image_shape": "64",
        "epochs": str(QUALITY_EPOCHS),
        "mini_batch_size": "16",
        "optimizer": "adam",
        "learning_rate": "0.003",
        "use_pretrained_model": "0",
    }
    ctx = FakeContext(tmp_path / "out")
    SMALL.train(hp, channels, ctx)
    best = max(metrics["validation:mAP"] for _, metrics in ctx.reports)
    print(f"validation:mAP {best:.3f}, mean-box baseline {baseline:.3f}")
    assert baseline < 0.1, baseline  # 0.005
    assert best > baseline + 0.3, (best, baseline)


def test_the_request_check_refuses_tabular_channels_and_passes_ours(shapes, tmp_path) -> None:
    from tuner.spec.inputs import check_inputs
    from tuner.spec.problems import Problems

    def request(found: dict[str, Path]) -> dict:
        return {
            "InputDataConfig": [
                {"ChannelName": name, "DataSource": {"S3DataSource": {"S3Uri": str(path)}}}
                for name, path in found.items()
            ]
        }

    problems = Problems()
    check_inputs(request(shapes), "object-detection", shapes, problems)
    records = write_shapes(tmp_path / "rec", 4, 2, size=32, recordio=True)
    check_inputs(request(records), "object-detection", records, problems)
    assert problems.items == []
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "rows.csv").write_text("1,2\n")
    found = {**shapes, "train_annotation": tmp_path / "csv"}
    definition = request(found)
    definition["InputDataConfig"][2]["ContentType"] = "text/csv"
    assert definition["InputDataConfig"][2]["ChannelName"] == "validation"
    check_inputs(definition, "object-detection", found, problems)
    assert len(problems.items) == 2, problems.items
    assert "rows.csv: it reads images with one JSON annotation each" in problems.items[0]
    assert "reads images" in problems.items[1] and "'text/csv'" in problems.items[1]
