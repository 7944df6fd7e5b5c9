"""Tune the built-in image classification on scikit-learn's digits, written as PNG images.

    python examples/image_classification_digits.py [WORK_DIR]

The 8x8 digits (bundled with scikit-learn, nothing is downloaded) are upscaled to 16x16 grey PNG
images under WORK_DIR (default: a temporary folder) in both layouts the algorithm reads:

* ``train/<digit>/<n>.png``: one folder per class;
* ``validation/images/<n>.png`` with ``validation_lst/validation.lst``: SageMaker's image format,
  a tab-separated ``index, label, relative path`` line per image in its own channel.

Then a small tuning job (4 training jobs of a ResNet-8, 3 epochs each) searches the learning
rate and the optimiser for the best ``validation:accuracy`` and prints the best training job.
It takes a minute or two on a laptop's CPU.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from algorithms.images import ImageRecord, write_lst, write_png

#: Hyperparameters that stay fixed: a tiny CIFAR-style ResNet for 16x16 grey images.
STATIC_HYPERPARAMETERS = {
    "num_classes": 10,
    "image_shape": "1,16,16",
    "num_layers": 8,
    "epochs": 3,
    "mini_batch_size": 32,
}


def write_digits(root: Path, *, n_train: int = 600, n_validation: int = 200) -> dict[str, Path]:
    """Write digits as 16x16 PNG images under ``root``; returns the channels to train on.

    The first ``n_train`` digits go to ``train/`` (a folder per class), the next
    ``n_validation`` to ``validation/`` with a ``.lst`` file in ``validation_lst/``.
    """
    digits = load_digits()
    if n_train + n_validation > len(digits.target):
        msg = f"only {len(digits.target)} digits; asked for {n_train} + {n_validation}"
        raise ValueError(msg)
    # 0..16 intensities to 0..255, each pixel doubled in both directions.
    images = np.kron(digits.images * (255.0 / 16.0), np.ones((2, 2)))
    for n in range(n_train):
        write_png(root / "train" / str(digits.target[n]) / f"{n:04d}.png", images[n])
    records = []
    for n in range(n_train, n_train + n_validation):
        path = root / "validation" / "images" / f"{n:04d}.png"
        write_png(path, images[n])
        records.append(ImageRecord(path, (float(digits.target[n]),)))
    write_lst(root / "validation_lst" / "validation.lst", records, root / "validation")
    return {
        "train": root / "train",
        "validation": root / "validation",
        "validation_lst": root / "validation_lst",
    }


def tune(channels: dict[str, Path], work_dir: Path, *, max_jobs: int = 4) -> object:
    """Run the tuning job; returns the finished :class:`tuner.HyperparameterTuner`."""
    from tuner import CategoricalParameter, ContinuousParameter, HyperparameterTuner

    n_train = sum(1 for _ in channels["train"].rglob("*.png"))
    tuner = HyperparameterTuner(
        "image-classification",
        "validation:accuracy",
        {
            "learning_rate": ContinuousParameter(0.001, 0.1, scaling_type="Logarithmic"),
            "optimizer": CategoricalParameter(["sgd", "adam"]),
        },
        max_jobs=max_jobs,
        max_parallel_jobs=1,
        random_seed=0,
        static_hyperparameters={**STATIC_HYPERPARAMETERS, "num_training_samples": n_train},
        storage=f"sqlite:///{work_dir / 'tuner.db'}",
        output_path=work_dir / "output",
    )
    tuner.fit({name: str(path) for name, path in channels.items()}, job_name="digits-images")
    return tuner


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    work_dir = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="digits-images-"))
    channels = write_digits(work_dir / "data")
    tuner = tune(channels, work_dir)
    best = tuner.describe()["BestTrainingJob"]  # type: ignore[attr-defined]
    objective = best["FinalHyperParameterTuningJobObjectiveMetric"]
    print(f"best training job: {best['TrainingJobName']}")
    print(f"  {objective['MetricName']} = {objective['Value']:.3f}")
    print(f"  hyperparameters: {best['TunedHyperParameters']}")
    print(f"  model: {work_dir / 'output' / best['TrainingJobName']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
