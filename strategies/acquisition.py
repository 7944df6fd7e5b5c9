"""Log expected improvement and its maximisation over a mixed search space.

Acquisition: the logarithm of expected improvement (Jones, Schonlau & Welch, *Efficient Global
Optimization of Expensive Black-Box Functions*, J. Global Optim. 1998) computed in the
numerically stable form of Ament et al., *Unexpected Improvements to Expected Improvement for
Bayesian Optimization*, NeurIPS 2023. Plain EI underflows to exactly zero (with a zero gradient)
over most of the space once the model is confident, which stalls gradient-based maximisation;
log EI stays finite and informative everywhere.

Maximisation, for a space of continuous, integer and categorical features (see
:mod:`strategies.encoding`):

1. Score a scrambled Sobol set of feasible points plus small perturbations of the best observed
   points (exploitation needs starts near the incumbent; a space-filling set alone rarely lands
   close enough in more than a few dimensions).
2. Start local searches from the best of them, the incumbent, and a roulette-wheel draw
   weighted by acquisition value (Optuna's GPSampler does the same) so the starts are not all
   in one basin.
3. Alternate L-BFGS-B on the continuous features (all starts at once, as one separable problem,
   with gradients from the GP posterior; variables scaled by the length scales so the problem is
   well conditioned) with a coordinate search over the values of each integer and categorical
   feature, until the discrete step changes nothing. Integers are never relaxed to the reals:
   rounding a continuous optimum misses the best integer when EI peaks between two of them.

Conditional ranges: every point scored is imputed (:meth:`MixedEncoding.impute`), so an
inactive feature sits at its fixed value. The continuous step leaves inactive features where
they are (their gradient is masked: activity depends only on categorical parents, which that
step does not move), and the discrete step re-imputes after each change, since switching a
parent turns its children on or off.
"""

from __future__ import annotations

import math

import numpy as np

from strategies.encoding import MixedEncoding
from strategies.gp import GaussianProcess

_SQRT_HALF = math.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_LBFGS_MAX_ITER = 200
_LBFGS_GTOL = 1e-6
_LBFGS_FTOL = 2.2e-9


def log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(z * Phi(z) + phi(z))`` and its derivative ``Phi(z) / h(z)``, stable for all z.

    For ``z < -1`` it uses ``h = phi(z) * (1 + z * m(z))`` with the Mills-type ratio
    ``m = Phi / phi = sqrt(pi / 2) * erfcx(-z / sqrt(2))``, and an asymptotic series for
    ``1 + z * m`` when ``z < -30`` where the subtraction would cancel (Ament et al. 2023, eq. 9).
    """
    from scipy.special import erfc, erfcx  # imported on first use: SciPy is slow to load

    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    grad = np.empty_like(z)
    upper = z >= -1.0
    zu = z[upper]
    cdf = 0.5 * erfc(-_SQRT_HALF * zu)
    pdf = np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI)
    h = zu * cdf + pdf
    out[upper] = np.log(h)
    grad[upper] = cdf / h
    lower = ~upper
    if lower.any():
        zl = z[lower]
        m = _SQRT_HALF_PI * erfcx(-_SQRT_HALF * zl)
        w = 1.0 + zl * m
        inv2 = 1.0 / (zl * zl)
        series = inv2 * (1.0 - 3.0 * inv2 + 15.0 * inv2 * inv2 - 105.0 * inv2**3)
        w = np.where(zl < -30.0, series, w)
        out[lower] = -0.5 * zl * zl - _LOG_SQRT_2PI + np.log(w)
        grad[lower] = m / w
    return out, grad


class LogExpectedImprovement:
    """Log EI for minimisation under a GP posterior.

    Args:
        gp: The fitted posterior (values standardised, lower is better).
        best: The incumbent value to improve on, in the same units.
    """

    def __init__(self, gp: GaussianProcess, best: float) -> None:
        self.gp = gp
        self.best = best

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Log EI at each row of ``X``."""
        mean, var = self.gp.predict(X)
        sigma = np.sqrt(var)
        value, _ = log_h((self.best - mean) / sigma)
        return np.asarray(value + np.log(sigma), dtype=float)

    def value_and_grad(self, X: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log EI at each row of ``X`` and its gradient with respect to ``columns``."""
        mean, var, dmean, dvar = self.gp.predict_with_grad(X, columns)
        sigma = np.sqrt(var)
        z = (self.best - mean) / sigma
        value, dlogh = log_h(z)
        dsigma = dvar / (2.0 * sigma[:, None])
        dz = (-dmean - z[:, None] * dsigma) / sigma[:, None]
        grad = dlogh[:, None] * dz + dsigma / sigma[:, None]
        return value + np.log(sigma), grad


def _perturb(
    X: np.ndarray, encoding: MixedEncoding, rng: np.random.Generator, n_each: int, scale: float
) -> np.ndarray:
    """Feasible random neighbours of each row of ``X`` (Gaussian steps, random category flips)."""
    if len(X) == 0:
        return X
    P = np.repeat(X, n_each, axis=0)
    numeric = ~encoding.is_categorical
    P[:, numeric] += rng.normal(0.0, scale, size=(len(P), int(numeric.sum())))
    for j in np.flatnonzero(encoding.is_categorical):
        flip = rng.random(len(P)) < 1.0 / max(encoding.dims, 2)
        P[flip, j] = rng.integers(0, encoding.n_choices[j], size=int(flip.sum()))
    return encoding.project(P)


def _continuous_step(
    acq: LogExpectedImprovement,
    encoding: MixedEncoding,
    X: np.ndarray,
    values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """L-BFGS-B on the continuous features of every start at once; keeps only improvements."""
    from scipy.optimize import minimize

    cols = encoding.continuous
    if cols.size == 0:
        return X, values
    scale = np.clip(acq.gp.params.lengthscales[cols], 1e-3, 1.0)
    n = len(X)
    # Inactive features stay at their imputed value: zero gradient (conditional spaces only).
    movable = encoding.active_mask(X)[:, cols] if encoding.conditional else None

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        Z = X.copy()
        Z[:, cols] = u.reshape(n, len(cols)) * scale
        val, grad = acq.value_and_grad(Z, cols)
        if movable is not None:
            grad = np.where(movable, grad, 0.0)
        return -float(val.sum()), -(grad * scale).ravel()

    u0 = (X[:, cols] / scale).ravel()
    bounds = [(0.0, 1.0 / s) for s in scale] * n
    res = minimize(
        objective,
        u0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": _LBFGS_MAX_ITER, "gtol": _LBFGS_GTOL, "ftol": _LBFGS_FTOL},
    )
    Z = X.copy()
    Z[:, cols] = np.clip(res.x.reshape(n, len(cols)) * scale, 0.0, 1.0)
    Z = encoding.impute(Z)
    new_values = acq(Z)
    better = new_values > values
    return np.where(better[:, None], Z, X), np.where(better, new_values, values)


def _discrete_step(
    acq: LogExpectedImprovement, encoding: MixedEncoding, X: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """One sweep of coordinate search over each integer and categorical feature."""
    changed = False
    for j in encoding.discrete:
        options = encoding.neighbours(j, X[:, j])  # (n, m)
        n, m = options.shape
        trial = np.repeat(X, m, axis=0)
        trial[:, j] = options.ravel()
        trial = encoding.impute(trial)  # a parent's new value turns its children on or off
        scores = acq(trial).reshape(n, m)
        k = np.argmax(scores, axis=1)
        best = scores[np.arange(n), k]
        better = best > values + 1e-12
        if better.any():
            changed = True
            X = X.copy()
            X[better] = trial.reshape(n, m, -1)[np.arange(n), k][better]
            values = np.where(better, best, values)
    return X, values, changed


def maximise(
    acq: LogExpectedImprovement,
    encoding: MixedEncoding,
    rng: np.random.Generator,
    incumbents: np.ndarray,
    *,
    n_candidates: int = 1024,
    n_starts: int = 10,
    max_rounds: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximise ``acq`` over the feasible points of ``encoding``.

    Args:
        acq: The acquisition function.
        encoding: The feature space (which features are continuous, integer, categorical).
        rng: Source of the Sobol scramble, perturbations and roulette draws.
        incumbents: The best observed points, best first; a local search starts from the
            first, and small perturbations of all of them join the candidates.
        n_candidates: Size of the Sobol candidate set.
        n_starts: Number of local searches.
        max_rounds: Continuous/discrete alternations per local search.

    Returns:
        ``(X, values)``: the local optima and the candidate pool together, ordered by
        acquisition value, best first, so a caller can skip points it must not repeat.
    """
    pool = [encoding.sobol(n_candidates, seed=int(rng.integers(2**31)))]
    if len(incumbents):
        pool.append(incumbents)
        for scale in (0.02, 0.1):
            pool.append(_perturb(incumbents, encoding, rng, 16, scale))
    X = np.vstack(pool)
    values = acq(X)
    order = np.argsort(-values)
    chosen = list(order[:1])
    if len(incumbents):
        chosen.append(n_candidates)  # the best observed point itself
    rest = np.setdiff1d(np.arange(len(X)), chosen)
    weights = np.exp(values[rest] - values[order[0]])
    n_roulette = min(n_starts - len(chosen), int(np.count_nonzero(weights > 0)))
    if n_roulette > 0:
        chosen.extend(rng.choice(rest, size=n_roulette, replace=False, p=weights / weights.sum()))
    starts, start_values = X[chosen], values[chosen]
    for _ in range(max_rounds):
        starts, start_values = _continuous_step(acq, encoding, starts, start_values)
        starts, start_values, changed = _discrete_step(acq, encoding, starts, start_values)
        if not changed:
            break
    all_X = np.vstack([starts, X])
    all_values = np.concatenate([start_values, values])
    ranked = np.argsort(-all_values, kind="stable")
    return all_X[ranked], all_values[ranked]
