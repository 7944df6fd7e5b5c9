"""ManifestFile and AugmentedManifestFile channels, read as SageMaker reads them (tuner.channels).

A ManifestFile is written here exactly as the SageMaker Python SDK's ``record_set()`` writes one
(``upload_numpy_to_s3_shards``: RecordIO-protobuf shards ``matrix_<n>.pbr`` and a JSON list
``[{"prefix": PREFIX}, "matrix_0.pbr", ...]`` in ``.amazon.manifest``, the channel sharded by
S3 key), with a local folder where the SDK has ``s3://bucket/key_prefix/``. Jobs run through
``tuner run`` in a subprocess; bad manifests are refused at validation with one problem each,
naming the field, and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_job import run_and_describe

from algorithms.data import load_channel, write_csv
from algorithms.images import list_images, write_png
from algorithms.recordio import write_recordio_protobuf
from tuner.channels import CSV_NAME, JSONL_NAME, LST_NAME, Layout, materialise, trial_channels
from tuner.errors import InvalidSpecError
from tuner.spec import spec_from_request

DEFINITION = "TrainingJobDefinition"
CHANNELS = f"{DEFINITION}.InputDataConfig"


# -- data as the SDK and Ground Truth write it ---------------------------------------------------


def record_set(folder: Path, X: np.ndarray, y: np.ndarray | None, num_shards: int) -> Path:
    """What ``record_set()`` uploads, in ``folder``: shards and ``.amazon.manifest``.

    As ``upload_numpy_to_s3_shards``: ``num_shards`` row blocks (the last takes the rest), named
    ``matrix_<index zero-padded to the digits of the shard count>.pbr``.
    """
    size = X.shape[0] // num_shards
    bounds = [(i * size, (i + 1) * size) for i in range(num_shards - 1)]
    bounds.append(((num_shards - 1) * size, X.shape[0]))
    names = []
    for index, (lo, hi) in enumerate(bounds):
        name = f"matrix_{str(index).zfill(len(str(num_shards)))}.pbr"
        write_recordio_protobuf(folder / name, X[lo:hi], None if y is None else y[lo:hi])
        names.append(name)
    manifest = folder / ".amazon.manifest"
    manifest.write_text(json.dumps([{"prefix": f"file://{folder.resolve()}/"}, *names]))
    return manifest


def blobs(seed: int, rows: int, columns: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * columns, [3.0] * columns])
    return (
        centres[rng.integers(0, 2, rows)] + rng.normal(scale=0.3, size=(rows, columns))
    ).astype(np.float32)


def channel(name: str, uri: str, data_type: str = "S3Prefix", **source: Any) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri, **source}},
    }


def request(
    name: str,
    algorithm: str,
    metric: str,
    direction: str,
    static: dict[str, Any],
    channels: list[dict[str, Any]],
    ranges: dict[str, Any],
    max_jobs: int = 2,
) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": direction, "MetricName": metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": ranges,
            "RandomSeed": 3,
        },
        DEFINITION: {
            "AlgorithmSpecification": {"AlgorithmName": algorithm, "TrainingInputMode": "File"},
            "StaticHyperParameters": {k: str(v) for k, v in static.items()},
            "InputDataConfig": channels,
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def xgboost_request(channels: list[dict[str, Any]]) -> dict[str, Any]:
    return request(
        "xgb-manifest",
        "xgboost",
        "validation:rmse",
        "Minimize",
        {"num_round": 3, "objective": "reg:squarederror"},
        channels,
        {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "4"}]},
    )


def laid_out(spec_request: dict[str, Any], base_dir: Path, root: Path) -> dict[str, Path]:
    """Validate ``spec_request`` and lay its channels out under ``root``, as a job does."""
    spec = spec_from_request(spec_request, base_dir=base_dir)
    return trial_channels(spec.request[DEFINITION], spec.channels, spec.algorithm, root)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- ManifestFile ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_record_set_manifest_trains_kmeans_through_tuner_run(tmp_path: Path) -> None:
    train = tmp_path / "sagemaker-record-sets" / "KMeans-train"
    test = tmp_path / "sagemaker-record-sets" / "KMeans-test"
    train_manifest = record_set(train, blobs(1, 120), None, num_shards=2)
    test_manifest = record_set(test, blobs(2, 40), None, num_shards=1)
    # Files beside the shards that the manifest does not list must not be read: as an
    # S3Prefix channel these would fail (not data) or change the data.
    (train / "notes.csv").write_text("not,a,number\n")
    (train / "matrix_extra.pbr").write_bytes(b"\x00garbage")
    spec = request(
        "kmeans-record-set",
        "kmeans",
        "test:msd",
        "Minimize",
        {"k": 2, "feature_dim": 4, "epochs": 2, "mini_batch_size": 30},
        [
            channel(
                "train",
                str(train_manifest),
                "ManifestFile",
                S3DataDistributionType="ShardedByS3Key",
            ),
            channel(
                "test", str(test_manifest), "ManifestFile", S3DataDistributionType="ShardedByS3Key"
            ),
        ],
        {
            "IntegerParameterRanges": [
                {"Name": "extra_center_factor", "MinValue": "1", "MaxValue": "4"}
            ]
        },
    )
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 2
    # Two well separated blobs of spread 0.3 in 4 dimensions: k=2 centres give an msd near
    # 4 * 0.09, far below what one centre or the wrong data would give.
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert best < 1.0
    folder = tmp_path / "tuner-output" / "kmeans-record-set" / "input" / "data" / "train"
    assert listing(folder) == ["matrix_0.pbr", "matrix_1.pbr"]
    assert (folder / "matrix_1.pbr").resolve() == (train / "matrix_1.pbr").resolve()


def test_a_record_set_channel_delivers_every_shard_with_labels(tmp_path: Path) -> None:
    X = blobs(3, 50)
    y = (X[:, 0] > 1.5).astype(np.float32)
    manifest = record_set(tmp_path / "rs", X, y, num_shards=3)
    spec = xgboost_request(
        [
            channel(
                "train", str(manifest), "ManifestFile", S3DataDistributionType="ShardedByS3Key"
            ),
            channel("validation", str(manifest), "ManifestFile"),
        ]
    )
    channels = laid_out(spec, tmp_path, tmp_path / "out")
    X_read, y_read = load_channel(channels["train"])
    np.testing.assert_allclose(X_read, X)
    np.testing.assert_array_equal(y_read, y)
    assert listing(channels["train"]) == [
        "matrix_0.pbr",
        "matrix_1.pbr",
        "matrix_2.pbr",
    ]


@pytest.mark.slow
def test_a_csv_manifest_trains_linear_learner(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(240, 3))
    y = (X @ np.array([1.5, -2.0, 0.5]) > 0).astype(float)
    data = tmp_path / "data"
    # A prefix that does not end in "/" starts the file names; keys may be nested.
    write_csv(data / "train_0.csv", X[:80], y[:80])
    write_csv(data / "train_1.csv", X[80:160], y[80:160])
    write_csv(data / "more" / "train_2.csv", X[160:200], y[160:200])
    write_csv(data / "validation.csv", X[200:], y[200:])
    (tmp_path / "train.manifest").write_text(
        json.dumps([{"prefix": "data/train_"}, "0.csv", "1.csv"])
    )
    (tmp_path / "more.manifest").write_text(
        json.dumps([{"prefix": "file://" + str(data) + "/"}, "train_0.csv", "more/train_2.csv"])
    )
    spec = request(
        "ll-csv-manifest",
        "linear-learner",
        "validation:binary_classification_accuracy",
        "Maximize",
        {
            "predictor_type": "binary_classifier",
            "feature_dim": 3,
            "epochs": 3,
            "mini_batch_size": 20,
        },
        [
            channel(
                "train", "train.manifest", "ManifestFile", S3DataDistributionType="ShardedByS3Key"
            ),
            channel("validation", "data/validation.csv", S3DataDistributionType="ShardedByS3Key"),
        ],
        {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.01", "MaxValue": "0.2"}
            ]
        },
    )
    spec[DEFINITION]["InputDataConfig"][0]["ContentType"] = "text/csv"
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 2
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert best > 0.8
    folder = tmp_path / "tuner-output" / "ll-csv-manifest" / "input" / "data" / "train"
    assert listing(folder) == ["train_0.csv", "train_1.csv"]

    # A nested key is brought to the folder's top, where the tabular readers look.
    spec[DEFINITION]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "more.manifest"
    channels = laid_out(spec, tmp_path, tmp_path / "again")
    assert listing(channels["train"]) == ["more_train_2.csv", "train_0.csv"]
    assert load_channel(channels["train"])[0].shape == (120, 3)


def test_laying_out_again_replaces_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1,2\n")
    folder = tmp_path / "out" / "train"
    materialise(Layout(links=(("a.csv", tmp_path / "a.csv"),), files=(("b.txt", "x"),)), folder)
    materialise(Layout(links=(("c.csv", tmp_path / "a.csv"),)), folder)
    assert listing(folder) == ["c.csv"]
    assert listing(folder.parent) == ["train"]  # no building folder left behind


# -- AugmentedManifestFile ------------------------------------------------------------------------


def _images(folder: Path, labels: list[int], fmt: str) -> list[Path]:
    """Tiny 16x16 grey images: class 1 bright in the top half, class 0 in the bottom half."""
    from PIL import Image

    rng = np.random.default_rng(len(labels))
    paths = []
    for n, label in enumerate(labels):
        pixels = rng.integers(0, 60, size=(16, 16)).astype(np.uint8)
        pixels[(slice(0, 8) if label else slice(8, 16))] += 180
        path = folder / f"img{n:03d}.{fmt}"
        if fmt == "png":
            write_png(path, pixels)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path, format="JPEG", quality=95)
        paths.append(path)
    return paths


def _augmented(path: Path, images: list[Path], labels: list[Any]) -> Path:
    """Ground Truth's output: source-ref, the label attribute and its metadata."""
    lines = [
        json.dumps(
            {
                "source-ref": f"file://{image}",
                "class": label,
                "class-metadata": {"class-name": "top" if label else "bottom", "confidence": 1},
            }
        )
        for image, label in zip(images, labels, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_an_augmented_manifest_trains_image_classification(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    train_labels = [n % 2 for n in range(24)]
    valid_labels = [n % 2 for n in range(8)]
    train = _augmented(
        tmp_path / "train.manifest",
        _images(tmp_path / "png", train_labels, "png"),
        [str(v) for v in train_labels],  # Ground Truth writes the class index as a string
    )
    validation = _augmented(
        tmp_path / "validation.manifest",
        _images(tmp_path / "jpg", valid_labels, "jpg"),
        valid_labels,
    )
    names = ["source-ref", "class"]
    spec = request(
        "ic-augmented",
        "image-classification",
        "validation:accuracy",
        "Maximize",
        {
            "num_classes": 2,
            "num_training_samples": 24,
            "image_shape": "1,16,16",
            "num_layers": 8,
            "epochs": 1,
            "mini_batch_size": 8,
        },
        [
            channel("train", str(train), "AugmentedManifestFile", AttributeNames=names),
            channel("validation", str(validation), "AugmentedManifestFile", AttributeNames=names),
        ],
        {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.01", "MaxValue": "0.1"}
            ]
        },
        max_jobs=1,
    )
    for entry in spec[DEFINITION]["InputDataConfig"]:
        entry.update(
            ContentType="application/x-image", RecordWrapperType="RecordIO", InputMode="Pipe"
        )
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 1
    folder = tmp_path / "tuner-output" / "ic-augmented" / "input" / "data" / "validation"
    listed = list_images(folder)
    assert [r.label for r in listed.records] == [(float(v),) for v in valid_labels]
    assert (folder / LST_NAME).read_text().splitlines()[1] == "1\t1\t000001-img001.jpg"


def test_multi_label_augmented_manifest_gives_lst_columns(tmp_path: Path) -> None:
    images = _images(tmp_path / "png", [0, 1], "png")
    manifest = _augmented(tmp_path / "m.jsonl", images, [[1, 0, 1], "[0, 1, 0]"])
    spec = _ic_request(
        [
            channel(
                "train",
                str(manifest),
                "AugmentedManifestFile",
                AttributeNames=["source-ref", "class"],
            )
        ]
    )
    channels = laid_out(spec, tmp_path, tmp_path / "out")
    assert [r.label for r in list_images(channels["train"]).records] == [(1, 0, 1), (0, 1, 0)]


def _ic_request(channels: list[dict[str, Any]]) -> dict[str, Any]:
    return request(
        "ic",
        "image-classification",
        "train:accuracy",
        "Maximize",
        {"num_classes": 3, "num_training_samples": 2, "image_shape": "1,16,16"},
        channels,
        {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.01", "MaxValue": "0.1"}
            ]
        },
    )


def test_inline_attributes_become_csv_rows(tmp_path: Path) -> None:
    lines = [
        {"price": 3.5, "features": [1, 2.25, 3], "note": "ignored"},
        {"price": "4", "features": [0, -1, 2e-3], "note": "ignored"},
    ]
    (tmp_path / "rows.manifest").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "validation.csv").write_text("1,0,0,0\n")
    spec = xgboost_request(
        [
            channel(
                "train",
                "rows.manifest",
                "AugmentedManifestFile",
                AttributeNames=["price", "features"],
            ),
            channel("validation", "validation.csv"),
        ]
    )
    channels = laid_out(spec, tmp_path, tmp_path / "out")
    assert (channels["train"] / CSV_NAME).read_text() == "3.5,1,2.25,3\n4,0,-1,0.002\n"
    X, y = load_channel(channels["train"])
    np.testing.assert_allclose(y, [3.5, 4.0])
    np.testing.assert_allclose(X, [[1, 2.25, 3], [0, -1, 0.002]])
    assert channels["validation"] == (tmp_path / "validation.csv").resolve()


def test_ref_attributes_to_data_files_are_the_channel_in_manifest_order(tmp_path: Path) -> None:
    write_csv(tmp_path / "z.csv", np.array([[1.0]]), np.array([1.0]))
    write_recordio_protobuf(tmp_path / "a.pbr", np.array([[2.0]]), np.array([0.0]))
    (tmp_path / "refs.manifest").write_text(
        json.dumps({"data-ref": "z.csv"})
        + "\n"
        + json.dumps({"data-ref": f"file://{tmp_path}/z.csv"})
        + "\n"
    )
    (tmp_path / "pb.manifest").write_text(json.dumps({"data-ref": "a.pbr"}) + "\n")
    spec = xgboost_request(
        [
            channel(
                "train", "refs.manifest", "AugmentedManifestFile", AttributeNames=["data-ref"]
            ),
            channel(
                "validation", "pb.manifest", "AugmentedManifestFile", AttributeNames=["data-ref"]
            ),
        ]
    )
    channels = laid_out(spec, tmp_path, tmp_path / "out")
    assert listing(channels["train"]) == ["000000-z.csv", "000001-z.csv"]
    assert load_channel(channels["train"])[1].tolist() == [1.0, 1.0]
    assert load_channel(channels["validation"])[0].tolist() == [[2.0]]


def test_user_code_gets_the_selected_attributes_as_json_lines(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_text("hello")
    (tmp_path / "m.manifest").write_text(
        json.dumps({"text-ref": "doc.txt", "label": 1, "x": 2}) + "\n"
    )
    definition = {
        "InputDataConfig": [
            channel(
                "train",
                "m.manifest",
                "AugmentedManifestFile",
                AttributeNames=["label", "text-ref"],
            )
        ]
    }
    channels = trial_channels(
        definition, {"train": tmp_path / "m.manifest"}, None, tmp_path / "out"
    )
    lines = (channels["train"] / JSONL_NAME).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"label": 1, "text-ref": str((tmp_path / "doc.txt").resolve())}
    ]


def test_sharded_by_s3_key_prefix_channels_are_accepted_whole(tmp_path: Path) -> None:
    write_csv(tmp_path / "train" / "a.csv", np.zeros((2, 2)), np.zeros(2))
    write_csv(tmp_path / "train" / "b.csv", np.ones((3, 2)), np.ones(3))
    spec = xgboost_request(
        [
            channel("train", "train", S3DataDistributionType="ShardedByS3Key"),
            channel("validation", "train/a.csv", S3DataDistributionType="ShardedByS3Key"),
        ]
    )
    channels = laid_out(spec, tmp_path, tmp_path / "out")
    assert channels["train"] == (tmp_path / "train").resolve()
    assert load_channel(channels["train"])[0].shape == (5, 2)
    assert not (tmp_path / "out").exists()  # nothing is laid out for an S3Prefix channel


# -- refusals: one problem each, naming the field, nothing written -------------------------------

URI = "DataSource.S3DataSource.S3Uri"
NAMES = "DataSource.S3DataSource.AttributeNames"


def _manifest_case(
    tmp_path: Path, text: str, data_type: str = "ManifestFile", **source: Any
) -> dict:
    write_csv(tmp_path / "data" / "train.csv", np.zeros((3, 2)), np.zeros(3))
    (tmp_path / "train.manifest").write_text(text)
    return xgboost_request(
        [
            channel("train", "train.manifest", data_type, **source),
            channel("validation", "data/train.csv"),
        ]
    )


BAD_MANIFESTS = {
    "not JSON": ("[{'prefix': 'data/'}, 'train.csv']", {}, URI, "is not JSON"),
    "not a list": ('{"prefix": "data/"}', {}, URI, 'first entry is {"prefix": ...}'),
    "no prefix": ('["data/train.csv"]', {}, URI, 'first entry is {"prefix": ...}'),
    "s3 prefix": (
        '[{"prefix": "s3://bucket/data/"}, "train.csv"]',
        {},
        URI,
        "copy the data to a local folder",
    ),
    "missing file": (
        '[{"prefix": "data/"}, "train.csv", "gone.csv"]',
        {},
        URI,
        "lists files that do not exist: 'gone.csv'",
    ),
    "no files": ('[{"prefix": "data/"}]', {}, URI, "lists no files"),
    "key outside the prefix": (
        '[{"prefix": "data/"}, "../train.manifest"]',
        {},
        URI,
        "must name a file under",
    ),
    "an image for xgboost": (
        '[{"prefix": "data/"}, "train.csv", "cat.png"]',
        {},
        URI,
        "cannot read images",
    ),
    "attribute names on a manifest": (
        '[{"prefix": "data/"}, "train.csv"]',
        {"AttributeNames": ["a"]},
        NAMES,
        "is only for an AugmentedManifestFile channel",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifests_are_refused_at_validation(tmp_path: Path, case: str) -> None:
    text, source, field, message = BAD_MANIFESTS[case]
    if case == "an image for xgboost":
        write_png(tmp_path / "data" / "cat.png", np.zeros((2, 2)))
    spec = _manifest_case(tmp_path, text, **source)
    _assert_refused(spec, tmp_path, field, message)


BAD_AUGMENTED = {
    "no attribute names": ('{"a": 1}\n', {}, NAMES, "is required for an AugmentedManifestFile"),
    "not JSON lines": ('{"a": 1}\nnope\n', {"AttributeNames": ["a"]}, URI, "line 2 is not JSON"),
    "a line is no object": (
        "[1, 2]\n",
        {"AttributeNames": ["a"]},
        URI,
        "line 1 is not a JSON object",
    ),
    "missing attribute": (
        '{"a": 1}\n{"b": 2}\n',
        {"AttributeNames": ["a"]},
        NAMES,
        "line 2 has no attribute 'a'",
    ),
    "s3 reference": (
        '{"data-ref": "s3://bucket/x.csv"}\n',
        {"AttributeNames": ["data-ref"]},
        URI,
        "which a local run cannot reach",
    ),
    "missing reference": (
        '{"data-ref": "data/gone.csv"}\n',
        {"AttributeNames": ["data-ref"]},
        URI,
        "does not exist",
    ),
    "mixed attributes": (
        '{"data-ref": "data/train.csv", "y": 1}\n',
        {"AttributeNames": ["y", "data-ref"]},
        NAMES,
        "mixes the two",
    ),
    "text attribute": (
        '{"y": 1, "x": "red"}\n',
        {"AttributeNames": ["y", "x"]},
        URI,
        "must be a number",
    ),
    "ragged rows": (
        '{"y": 1, "x": [1, 2]}\n{"y": 0, "x": [1]}\n',
        {"AttributeNames": ["y", "x"]},
        URI,
        "line 2 has 2 values, line 1 has 3",
    ),
    "empty": ("\n", {"AttributeNames": ["y"]}, URI, "has no records"),
}


@pytest.mark.parametrize("case", sorted(BAD_AUGMENTED))
def test_bad_augmented_manifests_are_refused_at_validation(tmp_path: Path, case: str) -> None:
    text, source, field, message = BAD_AUGMENTED[case]
    spec = _manifest_case(tmp_path, text, "AugmentedManifestFile", **source)
    _assert_refused(spec, tmp_path, field, message)


def test_image_manifests_without_labels_are_refused(tmp_path: Path) -> None:
    image = _images(tmp_path / "png", [0], "png")[0]
    (tmp_path / "images.manifest").write_text(
        json.dumps([{"prefix": f"{image.parent}/"}, image.name])
    )
    spec = _ic_request([channel("train", "images.manifest", "ManifestFile")])
    _assert_refused(spec, tmp_path, URI, "needs labels for the images", name="train")
    # With the labels in a .lst file it lists, the channel reads.
    (image.parent / "train.lst").write_text(f"0\t0\t{image.name}\n")
    (tmp_path / "images.manifest").write_text(
        json.dumps([{"prefix": f"{image.parent}/"}, image.name, "train.lst"])
    )
    channels = laid_out(spec, tmp_path, tmp_path / "out")
    assert len(list_images(channels["train"])) == 1


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["class", "source-ref"], "the image (a '-ref' attribute) and then its label"),
        (["source-ref"], "reads two attributes"),
    ],
)
def test_image_augmented_manifests_need_an_image_and_a_label(
    tmp_path: Path, names: list[str], message: str
) -> None:
    images = _images(tmp_path / "png", [0], "png")
    manifest = _augmented(tmp_path / "m.jsonl", images, [0])
    spec = _ic_request(
        [channel("train", str(manifest), "AugmentedManifestFile", AttributeNames=names)]
    )
    _assert_refused(spec, tmp_path, NAMES, message, name="train")


def test_image_augmented_manifest_labels_are_checked(tmp_path: Path) -> None:
    images = _images(tmp_path / "png", [0], "png")
    manifest = _augmented(tmp_path / "m.jsonl", images, ["cat"])
    names = ["source-ref", "class"]
    spec = _ic_request(
        [channel("train", str(manifest), "AugmentedManifestFile", AttributeNames=names)]
    )
    _assert_refused(
        spec, tmp_path, URI, "must be a class index or a list of 0/1 values", name="train"
    )


def _assert_refused(
    spec: dict[str, Any], tmp_path: Path, field: str, message: str, name: str = "train"
) -> None:
    before = tree(tmp_path)
    with pytest.raises(InvalidSpecError) as raised:
        spec_from_request(spec, base_dir=tmp_path)
    assert len(raised.value.problems) == 1, raised.value.problems
    problem = raised.value.problems[0]
    assert problem.startswith(f"{CHANNELS}[0] ({name!r}).{field}: "), problem
    assert message in problem, problem
    assert tree(tmp_path) == before


def test_an_image_augmented_manifest_with_a_lst_channel_is_refused(tmp_path: Path) -> None:
    images = _images(tmp_path / "png", [0], "png")
    manifest = _augmented(tmp_path / "m.jsonl", images, [0])
    (tmp_path / "train.lst").write_text("0\t0\timg000.png\n")
    spec = _ic_request(
        [
            channel(
                "train",
                str(manifest),
                "AugmentedManifestFile",
                AttributeNames=["source-ref", "class"],
            ),
            channel("train_lst", "train.lst"),
        ]
    )
    before = tree(tmp_path)
    with pytest.raises(InvalidSpecError) as raised:
        spec_from_request(spec, base_dir=tmp_path)
    assert raised.value.problems == [
        f"{CHANNELS}[0] ('train'): an augmented manifest carries the labels of its images; "
        "remove the 'train_lst' channel"
    ]
    assert tree(tmp_path) == before
