"""Small generated data for every request of the corpus, in the request's own format.

Each request in ``tests/corpus/<name>.json`` reads its channels from ``data/<name>/...`` (the
``S3Uri`` rewritten to a relative path, resolved against the request's folder). This module
writes those files: a few hundred rows, tiny images, the layout and the format the request's
source uploaded to S3 (CSV without header, libsvm with 1-based indices as the notebook writes
it, RecordIO-protobuf as the SageMaker SDK's ``write_numpy_to_dense_tensor`` and its
``record_set`` write it, a ``.amazon.manifest`` ManifestFile, MXNet image RecordIO ``.rec``,
JPEG folders with ``.lst`` files). Nothing is downloaded.

    python tests/corpus/make_data.py OUTDIR      # writes OUTDIR/data/<name>/... for every request

A ManifestFile is written as the SDK's ``upload_numpy_to_s3_shards`` writes it,
``[{"prefix": PREFIX}, "matrix_0.pbr"]``, with PREFIX the absolute local folder (ending in
``/``) where the SDK has ``s3://bucket/key_prefix/``.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import sys
import tarfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse

from algorithms.data import write_csv
from algorithms.recordio import frame_record, write_recordio_protobuf

SEED = 20230601


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, sum(map(ord, name))])


# -- tabular --------------------------------------------------------------------------------------


def _binary(rng: np.random.Generator, rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and a 0/1 label that depends on them (so AUC and accuracy mean something)."""
    X = rng.normal(size=(rows, columns))
    w = rng.normal(size=columns)
    y = (X @ w + rng.normal(scale=2.0, size=rows) > 0).astype(np.float64)
    return X, y


def _blobs(
    rng: np.random.Generator, rows: int, columns: int, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Points around ``classes`` centres in [0, 1]^columns (MNIST-like pixel ranges)."""
    centres = rng.uniform(0.0, 1.0, size=(classes, columns))
    y = rng.integers(0, classes, size=rows)
    X = np.clip(centres[y] + rng.normal(scale=0.15, size=(rows, columns)), 0.0, 1.0)
    return X.astype(np.float32), y.astype(np.float64)


def _direct_marketing(root: Path, train: str, validation: str, name: str) -> None:
    """train.csv / validation.csv of the bank-marketing notebooks: y_yes first, no header."""
    rng = _rng(name)
    X, y = _binary(rng, 400, 20)
    write_csv(root / train / "train.csv", X[:300], y[:300])
    write_csv(root / validation / "validation.csv", X[300:], y[300:])


def _hyperband(root: Path) -> None:
    """The Hyperband notebook: train_0.csv .. train_2.csv under train/, validation.csv."""
    rng = _rng("xgboost-hyperband")
    X, y = _binary(rng, 450, 20)
    for i, part in enumerate(np.array_split(np.arange(300), 3)):
        write_csv(root / "train" / f"train_{i}.csv", X[part], y[part])
    write_csv(root / "validation" / "validation.csv", X[300:], y[300:])


def _mnist_libsvm(root: Path) -> None:
    """xgboost_mnist: five files ``examples0``..``examples4`` per channel, libsvm, 1-based.

    The notebook writes every pixel, zeros included (``{i + 1}:{el}``), with no extension.
    """
    rng = _rng("xgboost-mnist-libsvm")
    X, y = _blobs(rng, 500, 64, 10)
    for channel, rows in (("train", slice(0, 350)), ("validation", slice(350, 500))):
        parts = np.array_split(np.arange(rows.start, rows.stop), 5)
        for i, part in enumerate(parts):
            lines = [
                f"{int(y[r])} " + " ".join(f"{j + 1}:{v:g}" for j, v in enumerate(X[r]))
                for r in part
            ]
            path = root / channel / f"examples{i}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines))


def _linear_learner(root: Path) -> None:
    """linear_learner_mnist: one RecordIO-protobuf object ``recordio-pb-data``, 784 columns,
    label 1 for the digit 0 and 0 otherwise."""
    rng = _rng("linear-learner-mnist")
    X, digit = _blobs(rng, 500, 784, 10)
    label = (digit == 0).astype(np.float32)
    write_recordio_protobuf(root / "train" / "recordio-pb-data", X[:350], label[:350])
    write_recordio_protobuf(root / "validation" / "recordio-pb-data", X[350:], label[350:])


def _manifest(folder: Path, X: np.ndarray | scipy.sparse.csr_matrix, y: np.ndarray | None) -> None:
    """A ``record_set``: ``matrix_0.pbr`` and the ``.amazon.manifest`` listing it."""
    write_recordio_protobuf(folder / "matrix_0.pbr", X, y)
    prefix = str(folder.resolve()) + "/"
    (folder / ".amazon.manifest").write_text(json.dumps([{"prefix": prefix}, "matrix_0.pbr"]))


def _kmeans_record_sets(root: Path) -> None:
    """SDK test_tuner.py: ``kmeans.record_set(train[:100])`` for train and for test (no labels)."""
    rng = _rng("kmeans")
    X, _ = _blobs(rng, 100, 784, 10)
    base = root / "sagemaker-record-sets"
    _manifest(base / "KMeans-2023-06-01-12-00-00-000", X, None)
    _manifest(base / "KMeans-2023-06-01-12-00-01-000", X, None)


def _rcf_record_sets(root: Path) -> None:
    """test_stop_tuning_job: ``rcf.record_set(np.random.rand(1000, 14))`` for train, and a test
    record set with labels.

    The SDK's test passes the same unlabelled array as its test channel too, and stops the job
    at once, before any training job reads it. A test channel of RandomCutForest must carry a
    0/1 label per record for test:f1 (AWS's RCF page: "labeled test data"), so the test set
    here is labelled: rows pushed far from the unit cube are the anomalies (label 1).
    """
    rng = _rng("rcf-sdk-integ")
    X = rng.random((1000, 14))
    test = rng.random((300, 14))
    label = np.zeros(300, dtype=np.float32)
    label[:15] = 1.0
    test[:15] += 4.0
    base = root / "sagemaker-record-sets"
    _manifest(base / "RandomCutForest-2023-06-01-12-00-00-000", X, None)
    _manifest(base / "RandomCutForest-2023-06-01-12-00-01-000", test, label)


def _lda(root: Path) -> None:
    """test_tuning_lda: a folder with ``nips-train_1.pbr``, sparse word counts of 12419 words."""
    rng = _rng("lda-sdk-integ")
    docs, vocabulary = 50, 12419
    rows, cols, vals = [], [], []
    for doc in range(docs):
        words = rng.choice(vocabulary, size=20, replace=False)
        rows += [doc] * 20
        cols += words.tolist()
        vals += rng.integers(1, 5, size=20).tolist()
    X = scipy.sparse.csr_matrix(
        (np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(docs, vocabulary)
    )
    for stamp in ("2023-06-01-12-00-00-000", "2023-06-01-12-00-01-000"):
        write_recordio_protobuf(
            root / "sagemaker-record-sets" / f"testfiles-{stamp}" / "nips-train_1.pbr", X
        )


def _dummy_tensor(path: Path, name: str) -> None:
    """The SDK's tests/data/dummy_tensor: 100 dense records of 784 values, labels 0/1."""
    rng = _rng(name)
    X, digit = _blobs(rng, 100, 784, 2)
    write_recordio_protobuf(path, X, digit)


def _airflow_knn(root: Path) -> None:
    """example_sagemaker.py: its generate_data() (class,x,y) and its 70% split, no header."""
    rows = [(i % 100, i, 600 - i) for i in range(600)]
    order = _rng("airflow-knn").permutation(600)[: int(0.7 * 600)]
    train = np.asarray([rows[i] for i in order], dtype=np.float64)
    write_csv(root / "processed-input-data" / "train.csv", train[:, 1:], train[:, 0])


def _kubeflow_kmeans(root: Path) -> None:
    """s3-sample-data-creator.py: ``write_numpy_to_dense_tensor`` of MNIST with labels, one
    object each for ``train_data`` and ``test_data``."""
    rng = _rng("kubeflow-kmeans-mnist-hpo")
    X, y = _blobs(rng, 800, 784, 10)
    write_recordio_protobuf(root / "mnist_kmeans_example" / "train_data", X[:600], y[:600])
    write_recordio_protobuf(root / "mnist_kmeans_example" / "test_data", X[600:], y[600:])


# -- images ---------------------------------------------------------------------------------------


def _jpeg(rng: np.random.Generator, label: int, size: int = 32) -> bytes:
    from PIL import Image

    base = np.array([(label * 70) % 256, (label * 130) % 256, (label * 200) % 256], dtype=float)
    pixels = np.clip(base + rng.normal(scale=30, size=(size, size, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _mxnet_rec(path: Path, rng: np.random.Generator, count: int, classes: int) -> None:
    """An MXNet image RecordIO file as im2rec writes it: IRHeader(flag, label, id, id2) + JPEG."""
    chunks = []
    for index in range(count):
        label = index % classes
        header = struct.pack("<IfQQ", 0, float(label), index, 0)
        chunks.append(frame_record(header + _jpeg(rng, label)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(chunks))


def _image_rec(root: Path, name: str, train: str, validation: str) -> None:
    rng = _rng(name)
    # Two images a class: each is 224x224 for a ResNet-18 of 10 epochs (the request's own).
    _mxnet_rec(root / train / "caltech-256-60-train.rec", rng, 8, 4)
    _mxnet_rec(root / validation / "caltech-256-60-val.rec", rng, 4, 4)


def _image_lst(root: Path) -> None:
    """Image-classification-lst-format: class folders of JPEGs (``001.ak47/001_0001.jpg``) in
    train/ and validation/, and im2rec's ``.lst`` files (``index\\tlabel\\tpath``)."""
    rng = _rng("image-classification-lst")
    base = root / "image-classification"
    for channel, per_class, lst in (
        ("train", 6, "caltech-256-60-train.lst"),
        ("validation", 3, "caltech-256-60-val.lst"),
    ):
        lines = []
        for label, category in enumerate(("001.ak47", "002.american-flag", "003.backpack")):
            for i in range(per_class):
                relative = f"{category}/{category[:3]}_{i + 1:04d}.jpg"
                path = base / channel / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_jpeg(rng, label))
                lines.append(f"{len(lines)}\t{label}\t{relative}\n")
        lst_path = base / f"{channel}_lst" / lst
        lst_path.parent.mkdir(parents=True, exist_ok=True)
        lst_path.write_text("".join(lines))


# -- the channels of requests that use their own code --------------------------------------------


def _idx(path: Path, array: np.ndarray) -> None:
    """An MNIST idx file, gzipped (what torchvision's MNIST downloads into MNIST/raw/)."""
    code = {1: 0x0801, 3: 0x0803}[array.ndim]
    header = struct.pack(">I", code) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


#: Stand-ins for the sources' own scripts, which need torchvision and TensorFlow (not installed
#: here): each reads the channel in the source's format, takes the hyperparameters the tuning
#: job sends as ``--name value`` arguments, and prints the lines its MetricDefinitions match.
PYTORCH_MNIST = """
    import argparse, gzip, os
    import numpy as np
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backend", default=None)
    args, _ = parser.parse_known_args()

    def idx(name):
        raw = os.path.join(os.environ["SM_CHANNEL_TRAINING"], "MNIST", "raw", name)
        data = gzip.open(raw).read()
        dims = data[3]
        shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)

    torch.manual_seed(1)
    x = torch.tensor(idx("train-images-idx3-ubyte.gz"), dtype=torch.float32).flatten(1) / 255
    y = torch.tensor(idx("train-labels-idx1-ubyte.gz"), dtype=torch.long)
    xt = torch.tensor(idx("t10k-images-idx3-ubyte.gz"), dtype=torch.float32).flatten(1) / 255
    yt = torch.tensor(idx("t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
    model = torch.nn.Linear(784, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        for start in range(0, len(x), args.batch_size):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                model(x[start : start + args.batch_size]), y[start : start + args.batch_size]
            )
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            test_loss = torch.nn.functional.cross_entropy(model(xt), yt).item()
        print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: 0/{len(xt)} (0%)")
    torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
"""
TENSORFLOW_MNIST = """
    import argparse, os
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model_dir", default=None)
    args, _ = parser.parse_known_args()
    folder = os.environ["SM_CHANNEL_TRAINING"]
    x, y = (np.load(os.path.join(folder, f"train_{n}.npy")) for n in ("data", "labels"))
    xe, ye = (np.load(os.path.join(folder, f"eval_{n}.npy")) for n in ("data", "labels"))
    w = np.zeros((x.shape[1], 10))
    for epoch in range(args.epochs):
        logits = x @ w
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1
        w -= 0.1 * x.T @ p / len(y)
    print(f"Accuracy: {float(np.mean((xe @ w).argmax(axis=1) == ye)):.4f}")
    np.save(os.path.join(os.environ["SM_MODEL_DIR"], "weights.npy"), w)
"""


def _sourcedir(root: Path, program: str, script: str) -> None:
    """``source/sourcedir.tar.gz`` as the SDK uploads it: the entry point at the top."""
    archive = root / "source" / "sourcedir.tar.gz"
    archive.parent.mkdir(parents=True, exist_ok=True)
    body = textwrap.dedent(script).lstrip().encode()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(program)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))


def _torchvision_mnist(root: Path) -> None:
    rng = _rng("pytorch-mnist-script-mode")
    raw = root / "sagemaker" / "DEMO-pytorch-mnist" / "MNIST" / "raw"
    for split, rows in (("train", 60), ("t10k", 20)):
        _idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(rows, 28, 28)))
        _idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, size=rows))
    _sourcedir(root, "mnist.py", PYTORCH_MNIST)


def _tensorflow_mnist(root: Path) -> None:
    """The SDK's tests/data/tensorflow_mnist/data: train/eval data and labels as .npy."""
    rng = _rng("tensorflow-vpc-multi")
    folder = root / "scriptmode" / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", 60), ("eval", 20)):
        np.save(folder / f"{split}_data.npy", rng.random((rows, 784), dtype=np.float32))
        np.save(folder / f"{split}_labels.npy", rng.integers(0, 10, size=rows).astype(np.int32))
    _sourcedir(root, "mnist.py", TENSORFLOW_MNIST)


def _iris(root: Path) -> None:
    """iris.csv as R's write.csv has it: a header row, the species last."""
    rng = _rng("r-byo-container")
    lines = ["Sepal.Length,Sepal.Width,Petal.Length,Petal.Width,Species"]
    for i in range(150):
        species = ("setosa", "versicolor", "virginica")[i // 50]
        values = rng.normal([5.8, 3.0, 3.7, 1.2], [0.8, 0.4, 1.7, 0.7]).round(1)
        lines.append(",".join(f"{v:g}" for v in values) + f",{species}")
    (root / "train").mkdir(parents=True, exist_ok=True)
    (root / "train" / "iris.csv").write_text("\n".join(lines) + "\n")


# -- the table -------------------------------------------------------------------------------------

WRITERS: dict[str, Callable[[Path], None]] = {
    "xgboost-direct-marketing-boto3": lambda r: _direct_marketing(
        r, "train", "validation", "xgboost-direct-marketing-boto3"
    ),
    "xgboost-direct-marketing-sdk": lambda r: _direct_marketing(
        r, "train", "validation", "xgboost-direct-marketing-sdk"
    ),
    "xgboost-random-log": lambda r: _direct_marketing(r, "train", "validation", "random-log"),
    "xgboost-hyperband": _hyperband,
    "xgboost-mnist-libsvm": _mnist_libsvm,
    "dg-xgboost-tuning-job": lambda r: _direct_marketing(r, "train", "validation", "dg"),
    "dg-warm-start": lambda r: _direct_marketing(r, "train", "validation", "dg"),
    "console-single-definition": lambda r: _direct_marketing(r, "train", "validation", "console"),
    "linear-learner-mnist": _linear_learner,
    "kmeans-sdk-integ": _kmeans_record_sets,
    "kmeans-sdk-instance-configs": _kmeans_record_sets,
    "kmeans-sdk-autotune": _kmeans_record_sets,
    "lda-sdk-integ": _lda,
    "rcf-sdk-integ": _rcf_record_sets,
    "fm-sdk-byo": lambda r: _dummy_tensor(
        r / "test_byo_estimator" / "train" / "recordio-pb-data" / "dummy_tensor", "fm"
    ),
    "multi-algo-fm-knn": lambda r: _dummy_tensor(
        r / "multi-algo" / "train" / "recordio-pb-data" / "dummy_tensor", "multi"
    ),
    "airflow-knn": _airflow_knn,
    "kubeflow-kmeans-mnist-hpo": _kubeflow_kmeans,
    "image-classification-early-stopping": lambda r: _image_rec(
        r,
        "image-classification-early-stopping",
        "image-classification-full-training/train",
        "image-classification-full-training/validation",
    ),
    "image-classification-transfer-learning": lambda r: _image_rec(
        r, "image-classification-transfer-learning", "train", "validation"
    ),
    "image-classification-lst": _image_lst,
    "pytorch-mnist-script-mode": _torchvision_mnist,
    "tensorflow-vpc-multi": _tensorflow_mnist,
    "r-byo-container": _iris,
}


def make_data(name: str, root: Path) -> Path:
    """Write the data of request ``name`` under ``root/data/<name>``; returns that folder."""
    folder = Path(root) / "data" / name
    WRITERS[name](folder)
    return folder


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path("corpus-data")
    for name in WRITERS:
        make_data(name, root)
        print(f"{root / 'data' / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
