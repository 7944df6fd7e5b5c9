"""Learning-curve problems that cost nothing to replay, for the early-stopping benchmark at scale.

A :class:`Problem` maps a configuration to its whole learning curve (one loss per epoch, lower is
better) without training anything, so a tuning job of 200 trials runs in about a second through
the real coordinator on the simulated pool, and every engine (ours, Optuna, Ray Tune) sees the
same curve for the same configuration.

Two kinds:

* **Cached real curves** (``xgb``, ``mlp``): the learning-curve benchmark's real training
  functions (xgboost on breast_cancer, 100 rounds of validation logloss; the torch MLP on
  digits, 30 epochs of validation error = 1 - accuracy) run once on ``CACHE_POINTS``
  configurations of a scrambled Sobol design over their search spaces, cached as JSON under
  ``benchmark-results/curve-cache/`` (``python tests/benchmarks/surrogates.py`` builds it:
  about 4 minutes on 2 cores; the benchmark builds it when it is missing). A configuration's curve is the inverse-squared-distance
  average of the curves of its ``NEIGHBOURS`` nearest cached configurations in the unit cube
  (logarithmic ranges on a log scale, categorical values by index), the standard way tabular
  benchmarks become continuous (Eggensperger et al., AAAI 2015, use a fitted model; neighbours
  keep every curve a mixture of real ones, crossings and noise included).
* **A parametric family** on four hyperparameters (``lr`` log 1e-4..1, ``width`` integer log
  8..512, ``decay`` log 1e-6..1e-1, ``momentum`` 0..0.99), 81 epochs, in four variants.
  With ``u`` the configuration in the unit cube, the loss at epoch ``t`` is
  ``final(u) + (start(u) - final(u)) * (1 + max(0, t - delay(u)) / tau(u)) ** -1``:

  - ``final``: two basins, ``0.1 + 0.9 * min(q(u - a), 0.03 + q(u - b))`` with ``q`` a
    weighted squared distance, the best near ``lr`` = 10**-1.6 (u0 = 0.6);
  - ``smooth``: ``tau`` = 8 for every configuration, so curves never cross: an ideal case for
    aggressive stopping;
  - ``crossing``: ``tau = 20 * exp(-3 * (u0 - 0.5))``: a high learning rate learns fast and ends
    worse, a low one is slow and ends better, so early rankings mislead;
  - ``plateau``: ``crossing`` plus ``delay = 12 * u1**2`` epochs of no progress (wide models
    start late);
  - ``noisy``: ``crossing`` plus Gaussian noise of standard deviation 0.01 on every epoch,
    seeded by the configuration, so one configuration always has the same curve.

The engines see the observed curve; the benchmark judges the model a method picked by its
``clean`` curve (the noise-free one; the same as the observed one but for ``noisy``), so that a
method is not rewarded for running more configurations to the end and keeping the luckiest draw.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuner import ContinuousParameter, IntegerParameter

CACHE_DIR = Path(__file__).resolve().parents[2] / "benchmark-results" / "curve-cache"
CACHE_POINTS = {"xgb": 256, "mlp": 128}  # the MLP costs about 1.5 s a curve, xgboost 0.1 s
NEIGHBOURS = 3
PARAMETRIC_EPOCHS = 81
LOG = "Logarithmic"

Curve = list[float]


@dataclass(frozen=True)
class Problem:
    """A tuning problem whose curves cost nothing: ``curve(hp)`` gives one loss per epoch."""

    name: str
    label: str
    ranges: dict[str, Any]  # tuner Parameter objects, as HyperparameterTuner takes them
    max_epochs: int
    curve_of_unit: Callable[[np.ndarray], Curve] = field(repr=False)
    clean_of_unit: Callable[[np.ndarray], Curve] | None = field(default=None, repr=False)

    def unit(self, hp: Mapping[str, Any]) -> np.ndarray:
        """The configuration in the unit cube (log ranges on a log scale, categories by index)."""
        return np.array([_to_unit(rng, hp[name]) for name, rng in self.ranges.items()])

    def from_unit(self, u: np.ndarray) -> dict[str, Any]:
        """The configuration at point ``u`` of the unit cube (the inverse of :meth:`unit`)."""
        return {
            name: _from_unit(rng, float(x))
            for (name, rng), x in zip(self.ranges.items(), u, strict=True)
        }

    def curve(self, hp: Mapping[str, Any]) -> Curve:
        """The losses of ``hp`` after epochs 1..max_epochs."""
        return self.curve_of_unit(self.unit(hp))

    def clean_curve(self, hp: Mapping[str, Any]) -> Curve:
        """The noise-free losses of ``hp`` (what the model is worth; see the module docstring)."""
        return (self.clean_of_unit or self.curve_of_unit)(self.unit(hp))


def _to_unit(rng: Any, value: Any) -> float:
    if rng.kind == "Categorical":
        values = [str(v) for v in rng.values]
        return values.index(str(value)) / max(1, len(values) - 1)
    lo, hi, x = float(rng.min_value), float(rng.max_value), float(value)
    if str(getattr(rng, "scaling_type", "")) == LOG:
        lo, hi, x = math.log(lo), math.log(hi), math.log(x)
    return 0.0 if hi == lo else min(1.0, max(0.0, (x - lo) / (hi - lo)))


def _from_unit(rng: Any, u: float) -> Any:
    if rng.kind == "Categorical":
        values = list(rng.values)
        return values[min(len(values) - 1, int(round(u * (len(values) - 1))))]
    lo, hi = float(rng.min_value), float(rng.max_value)
    log = str(getattr(rng, "scaling_type", "")) == LOG
    x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if log else lo + u * (hi - lo)
    return int(round(x)) if rng.kind == "Integer" else x


# -- the parametric family -----------------------------------------------------------------------
def _final(u: np.ndarray) -> float:
    weights = np.array([4.0, 1.0, 0.8, 0.6])
    first = float(np.sum(weights * (u - np.array([0.6, 0.7, 0.3, 0.5])) ** 2))
    second = 0.03 + float(np.sum(weights * (u - np.array([0.3, 0.2, 0.8, 0.9])) ** 2))
    return 0.1 + 0.9 * min(first, second)


def _noise(u: np.ndarray, epochs: int, sd: float) -> np.ndarray:
    digest = hashlib.sha256(np.round(u, 12).tobytes()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return rng.normal(0.0, sd, size=epochs)


def parametric_curve(u: np.ndarray, variant: str, epochs: int = PARAMETRIC_EPOCHS) -> Curve:
    """The parametric family's curve at unit point ``u`` (see the module docstring)."""
    final = _final(u)
    start = 1.0 + 0.2 * float(u[3])
    tau = 8.0 if variant == "smooth" else 20.0 * math.exp(-3.0 * (float(u[0]) - 0.5))
    delay = 12.0 * float(u[1]) ** 2 if variant == "plateau" else 0.0
    t = np.arange(1, epochs + 1, dtype=float)
    losses = final + (start - final) / (1.0 + np.maximum(0.0, t - delay) / tau)
    if variant == "noisy":
        losses = losses + _noise(u, epochs, 0.01)
    return [float(v) for v in losses]


def _parametric_ranges() -> dict[str, Any]:
    return {
        "lr": ContinuousParameter(1e-4, 1.0, LOG),
        "width": IntegerParameter(8, 512, LOG),
        "decay": ContinuousParameter(1e-6, 1e-1, LOG),
        "momentum": ContinuousParameter(0.0, 0.99),
    }


def parametric(variant: str) -> Problem:
    """One variant of the parametric family: smooth, crossing, plateau or noisy."""
    if variant not in ("smooth", "crossing", "plateau", "noisy"):
        msg = f"unknown variant {variant!r}: smooth, crossing, plateau or noisy"
        raise ValueError(msg)
    return Problem(
        variant,
        f"parametric {variant}",
        _parametric_ranges(),
        PARAMETRIC_EPOCHS,
        lambda u: parametric_curve(u, variant),
        (lambda u: parametric_curve(u, "crossing")) if variant == "noisy" else None,
    )


# -- cached real curves --------------------------------------------------------------------------
@dataclass(frozen=True)
class CurveTable:
    """Real curves at known unit points; a new point gets its neighbours' weighted curve."""

    points: np.ndarray  # (n, d) in the unit cube
    curves: np.ndarray  # (n, epochs) losses

    def curve(self, u: np.ndarray) -> Curve:
        distances = np.sqrt(np.sum((self.points - u) ** 2, axis=1))
        nearest = np.argsort(distances, kind="stable")[:NEIGHBOURS]
        if distances[nearest[0]] < 1e-12:
            return [float(v) for v in self.curves[nearest[0]]]
        weights = 1.0 / distances[nearest] ** 2
        mixed = weights @ self.curves[nearest] / weights.sum()
        return [float(v) for v in mixed]


def _real_problems() -> dict[str, dict[str, Any]]:
    import bench_learning_curves as lc

    problems = lc._problems()
    return {
        "xgb": {**problems["xgb"], "loss": lambda v: v},
        "mlp": {**problems["mlp"], "loss": lambda v: 1.0 - v},
    }


def _sobol_points(dims: int, n: int) -> np.ndarray:
    from scipy.stats import qmc

    return np.asarray(qmc.Sobol(dims, scramble=True, seed=0).random(n))


def _train_curve(spec: dict[str, Any], hp: dict[str, Any]) -> Curve:
    values: list[float] = []
    spec["core"](hp, lambda _epoch, v: values.append(spec["loss"](v)))
    return values


def build_cache(name: str, n: int | None = None, directory: Path = CACHE_DIR) -> Path:
    """Train the real problem ``name`` on ``n`` Sobol configurations and cache their curves."""
    spec = _real_problems()[name]
    n = n or CACHE_POINTS[name]
    shell = Problem(name, spec["label"], spec["ranges"], spec["max_resource"], lambda u: [])
    points = _sobol_points(len(shell.ranges), n)
    curves = [_train_curve(spec, shell.from_unit(u)) for u in points]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    data = {"points": points.tolist(), "curves": curves, "label": spec["label"]}
    path.write_text(json.dumps(data))
    return path


def cached(name: str, directory: Path = CACHE_DIR) -> Problem:
    """The real problem ``name`` (xgb or mlp) replayed from its curve cache (built if missing)."""
    path = directory / f"{name}.json"
    if not path.exists():
        build_cache(name, directory=directory)
    data = json.loads(path.read_text())
    spec = _real_problems()[name]
    table = CurveTable(np.array(data["points"]), np.array(data["curves"]))
    return Problem(
        name, f"{spec['label']} (cached)", spec["ranges"], spec["max_resource"], table.curve
    )


PROBLEMS = ("xgb", "mlp", "smooth", "crossing", "plateau", "noisy")


def problem(name: str) -> Problem:
    """Any benchmark problem by name (see :data:`PROBLEMS`)."""
    return cached(name) if name in ("xgb", "mlp") else parametric(name)


if __name__ == "__main__":
    for real in sys.argv[1:] or ["xgb", "mlp"]:
        print(build_cache(real))  # noqa: T201
