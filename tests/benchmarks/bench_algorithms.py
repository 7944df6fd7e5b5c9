"""Training time and quality of our built-in algorithms against scikit-learn, on the same data.

* linear-learner (binary_classifier) vs SGDClassifier(log_loss) and LogisticRegression, on a
  generated 60,000 x 50 classification problem: validation accuracy and seconds to train.
* kmeans vs MiniBatchKMeans, on 100,000 generated points (20-d, 10 blobs): test mean squared
  distance to the nearest centre and seconds.
* knn vs KNeighborsClassifier (brute force), on digits (1,437 train / 360 test) and on a
  generated 20,000 x 30 problem: test accuracy and seconds (fit + predict).

Each of ours runs in process through its Algorithm.train with a minimal TrainingContext, on the
CPU with the same thread count as scikit-learn (the machine's cores). Median of ``--repeats``.
Goal (issue 6): same quality, no slower on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import load_digits, make_blobs, make_classification
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from algorithms import get_algorithm


class _Context:
    device = "cpu"

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.metrics: dict[str, float] = {}

    def report(self, epoch: int, **metrics: float) -> None:
        self.metrics.update(metrics)

    def should_stop(self) -> bool:
        return False


def _write(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.7g")
    return path


def _ours(name: str, hp: dict[str, Any], channels: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {c: _write(root / f"{c}.csv", X, y) for c, (X, y) in channels.items()}
        ctx = _Context(root / "out")
        start = time.perf_counter()
        get_algorithm(name).train({k: str(v) for k, v in hp.items()}, paths, ctx)  # type: ignore[arg-type]
        return time.perf_counter() - start, ctx.metrics


def _timed(fn, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def linear(repeats: int) -> list[dict[str, Any]]:
    X, y = make_classification(60_000, 50, n_informative=20, random_state=0)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.2, random_state=0)
    rows = []
    runs = {"ours": [], "sgd": [], "logreg": []}
    for _ in range(repeats):
        seconds, metrics = _ours(
            "linear-learner",
            {"predictor_type": "binary_classifier", "epochs": 5, "mini_batch_size": 256,
             "feature_dim": 50, "num_models": 1},
            {"train": (X_tr, y_tr), "validation": (X_va, y_va)},
        )
        runs["ours"].append((seconds, metrics["validation:binary_classification_accuracy"]))
        sgd = SGDClassifier(loss="log_loss", random_state=0)
        t, _ = _timed(sgd.fit, X_tr, y_tr)
        runs["sgd"].append((t, sgd.score(X_va, y_va)))
        lr = LogisticRegression(max_iter=200)
        t, _ = _timed(lr.fit, X_tr, y_tr)
        runs["logreg"].append((t, lr.score(X_va, y_va)))
    labels = {"ours": "linear-learner (ours, 5 epochs)", "sgd": "SGDClassifier(log_loss)", "logreg": "LogisticRegression"}
    for key, values in runs.items():
        rows.append({"problem": "binary 60k x 50", "method": labels[key], "metric": "validation accuracy",
                     "seconds": statistics.median(v[0] for v in values), "quality": statistics.median(v[1] for v in values)})
    return rows


def kmeans(repeats: int) -> list[dict[str, Any]]:
    X, y = make_blobs(120_000, 20, centers=10, random_state=0)
    X_tr, X_te = X[:100_000], X[100_000:]
    runs = {"ours": [], "sk": []}
    for _ in range(repeats):
        seconds, metrics = _ours(
            "kmeans", {"k": 10, "feature_dim": 20, "epochs": 2, "mini_batch_size": 5000, "init_method": "kmeans++"},
            {"train": (X_tr, np.zeros(len(X_tr))), "test": (X_te, np.zeros(len(X_te)))},
        )
        runs["ours"].append((seconds, metrics["test:msd"]))
        sk = MiniBatchKMeans(10, batch_size=5000, n_init=1, random_state=0)
        t, _ = _timed(sk.fit, X_tr)
        d = ((X_te[:, None, :] - sk.cluster_centers_[None]) ** 2).sum(-1).min(1).mean()
        runs["sk"].append((t, float(d)))
    labels = {"ours": "kmeans (ours)", "sk": "MiniBatchKMeans"}
    return [{"problem": "blobs 100k x 20, k=10", "method": labels[k], "metric": "test msd (lower is better)",
             "seconds": statistics.median(v[0] for v in vals), "quality": statistics.median(v[1] for v in vals)}
            for k, vals in runs.items()]


def knn(repeats: int) -> list[dict[str, Any]]:
    rows = []
    digits = load_digits(return_X_y=True)
    generated = make_classification(25_000, 30, n_informative=15, random_state=0)
    for label, (X, y) in (("digits", digits), ("generated 20k x 30", generated)):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
        runs = {"ours": [], "sk": []}
        for _ in range(repeats):
            seconds, metrics = _ours(
                "knn", {"k": 5, "predictor_type": "classifier", "feature_dim": X.shape[1], "sample_size": len(X_tr)},
                {"train": (X_tr, y_tr), "test": (X_te, y_te)},
            )
            runs["ours"].append((seconds, metrics["test:accuracy"]))
            sk = KNeighborsClassifier(5, algorithm="brute")
            t, acc = _timed(lambda m, a, b, c, d: m.fit(a, b).score(c, d), sk, X_tr, y_tr, X_te, y_te)
            runs["sk"].append((t, acc))
        names = {"ours": "knn (ours, torch brute force)", "sk": "KNeighborsClassifier(brute)"}
        rows += [{"problem": label, "method": names[k], "metric": "test accuracy",
                  "seconds": statistics.median(v[0] for v in vals), "quality": statistics.median(v[1] for v in vals)}
                 for k, vals in runs.items()]
    return rows


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    repeats = max(1, args.repeats)
    rows = linear(repeats) + kmeans(repeats) + knn(repeats)
    table = Table(title=f"Built-in algorithms vs scikit-learn on the CPU (median of {repeats}); ours include reading the CSV channels")
    for column in ("problem", "method", "metric", "quality", "seconds"):
        table.add_column(column, justify="right" if column in ("quality", "seconds") else "left")
    for r in rows:
        table.add_row(r["problem"], r["method"], r["metric"], f"{r['quality']:.4f}", f"{r['seconds']:.2f}")
    return table, {"repeats": repeats, "rows": rows}
