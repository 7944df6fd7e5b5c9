"""Write scikit-learn's bundled datasets as SageMaker-style CSV channels (label first, no header).

    python examples/make_datasets.py [OUTPUT_DIR]      # default: examples/data

Creates ``breast_cancer/{train,validation}.csv`` (binary classification, 569 rows) and
``diabetes/{train,validation}.csv`` (regression, 442 rows), an 80/20 split with a fixed seed.
Nothing is downloaded: both datasets ship inside scikit-learn.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split


def write_channel(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.10g")


def make_datasets(root: Path) -> dict[str, Path]:
    """Write both datasets under ``root``; returns dataset name -> its folder."""
    out = {}
    for name, loader, stratify in (
        ("breast_cancer", load_breast_cancer, True),
        ("diabetes", load_diabetes, False),
    ):
        X, y = loader(return_X_y=True)
        X_tr, X_va, y_tr, y_va = train_test_split(
            X, y, test_size=0.2, random_state=0, stratify=y if stratify else None
        )
        write_channel(root / name / "train.csv", X_tr, y_tr)
        write_channel(root / name / "validation.csv", X_va, y_va)
        out[name] = root / name
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "data"
    for dataset, folder in make_datasets(target).items():
        print(f"{dataset}: {folder}/train.csv, {folder}/validation.csv")
