"""Gaussian-process regression for Bayesian optimisation: a Matérn 5/2 ARD kernel, fitted by MAP.

This module owns the surrogate model and nothing else: given feature vectors (see
:mod:`strategies.encoding`) and standardised objective values, it fits the kernel's
hyperparameters and returns a posterior that can be queried, with gradients, by the
acquisition optimiser.

Model (Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006, ch. 2 and 5):

* Zero prior mean (the caller standardises and shifts the values, see
  :func:`strategies.bayesian.warp`) and the Matérn 5/2 kernel
  ``k(x, x') = s * (1 + sqrt(5) r + 5/3 r^2) * exp(-sqrt(5) r)`` with
  ``r^2 = sum_j d_j(x, x') / l_j^2``: ``d_j`` is the squared difference for numeric features and
  the Hamming distance ``[x_j != x'_j]`` for categorical ones. Matérn 5/2 rather than the squared
  exponential because hyperparameter response surfaces are rarely infinitely smooth (Snoek,
  Larochelle & Adams, *Practical Bayesian Optimization of Machine Learning Algorithms*, NeurIPS
  2012).
* Hyperparameters (one length scale per feature, signal variance ``s``, noise variance) are the
  maximum a posteriori estimate, found by L-BFGS-B on their logarithms with the analytic gradient
  of the log marginal likelihood. Priors:

  - length scales: ``LogNormal(-1.5 + log(d) / 2, 1)`` for ``d`` features. The growth with
    ``sqrt(d)`` is that of Hvarfner, Hellsten & Nardi, *Vanilla Bayesian Optimization Performs
    Great in High Dimensions*, ICML 2024 (longer scales in more dimensions keep the prior's
    complexity constant); the centre is lower than their ``sqrt(2)`` (0.55 rather than 10 at
    ``d = 6``): theirs is tuned for dozens to hundreds of dimensions, and on the 2- to
    6-dimensional benchmark problems it made the model too smooth to find narrow basins
    (Hartmann6: median regret after 50 trials 0.05 against 0.005);
  - signal variance: ``LogNormal(0, 1)`` (the values are in standard deviations);
  - noise variance: ``MIN_NOISE_VAR + LogNormal(-8, 2)``, i.e. nearly noise-free unless the data
    insist, because most tuning objectives are deterministic for a fixed seed, but never below
    ``MIN_NOISE_VAR`` so that the Cholesky factorisation stays stable.

SciPy is imported on first use, not with the module: loading it takes about a second, which
``import strategies`` (and so every ``tuner`` command) should not pay.

The fit starts from the prior's centre and from length scales 1.5 log-units longer (a smoother
explanation of the same data) and keeps the better optimum: no state is carried between
suggestions (strategies are stateless), so there is no previous fit to warm-start from, and two
deterministic starts make the MAP estimate robust without random restarts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Lower bound on the noise variance (in standardised units), for numerical stability.
MIN_NOISE_VAR = 1e-6
_NOISE_PRIOR = (-8.0, 2.0)  # mean and std of log(noise_var - MIN_NOISE_VAR)
_SIGNAL_PRIOR = (0.0, 1.0)  # mean and std of log(signal_var)
_LENGTHSCALE_PRIOR_BASE = -1.5  # mean of log length scale, less log(d) / 2
_LOG_BOUNDS_LENGTHSCALE = (math.log(1e-3), math.log(1e3))
_LOG_BOUNDS_SIGNAL = (math.log(1e-2), math.log(1e2))
_LOG_BOUNDS_NOISE = (math.log(1e-10), math.log(10.0))
_SQRT5 = math.sqrt(5.0)
#: Starts of the MAP fit: log length scales at the prior's centre plus these offsets.
_START_OFFSETS = (0.0, 1.5)


def lengthscale_prior(dims: int) -> tuple[float, float]:
    """Mean and standard deviation of the log length scale for ``dims`` features.

    Scaled with the dimension as in Hvarfner et al. 2024 (``+ log(d) / 2``), centred lower.
    """
    return _LENGTHSCALE_PRIOR_BASE + 0.5 * math.log(max(dims, 1)), 1.0


@dataclass(frozen=True)
class KernelParams:
    """Hyperparameters of the Matérn 5/2 kernel and the Gaussian noise."""

    lengthscales: np.ndarray
    signal_var: float
    noise_var: float


def feature_distances(A: np.ndarray, B: np.ndarray, is_categorical: np.ndarray) -> np.ndarray:
    """Per-feature distances, shape ``(len(A), len(B), dims)``: squared, or Hamming."""
    diff = A[:, None, :] - B[None, :, :]
    D = diff * diff
    if is_categorical.any():
        D[..., is_categorical] = (D[..., is_categorical] > 0.0).astype(float)
    return np.asarray(D, dtype=float)


def matern52(r2: np.ndarray) -> np.ndarray:
    """Matérn 5/2 correlation as a function of the squared scaled distance."""
    r = _SQRT5 * np.sqrt(r2)
    return np.asarray((1.0 + r + r * r / 3.0) * np.exp(-r), dtype=float)


def matern52_dr2(r2: np.ndarray) -> np.ndarray:
    """Derivative of :func:`matern52` with respect to ``r2`` (finite at 0)."""
    r = _SQRT5 * np.sqrt(r2)
    return np.asarray((-5.0 / 6.0) * (1.0 + r) * np.exp(-r), dtype=float)


def _cholesky(K: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor, adding jitter if needed; None when K is hopeless."""
    from scipy.linalg import cholesky

    for jitter in (0.0, 1e-8, 1e-6, 1e-4):
        try:
            if jitter:
                K = K + jitter * np.eye(len(K))
            return np.asarray(cholesky(K, lower=True, check_finite=False))
        except np.linalg.LinAlgError:
            continue
    return None


class GaussianProcess:
    """Exact GP posterior for fixed hyperparameters.

    Args:
        X: Training features, shape ``(n, dims)``.
        y: Standardised training values, shape ``(n,)``.
        is_categorical: Which features use the Hamming distance.
        params: Kernel hyperparameters.
    """

    def __init__(
        self, X: np.ndarray, y: np.ndarray, is_categorical: np.ndarray, params: KernelParams
    ) -> None:
        self.X = X
        self.y = y
        self.is_categorical = is_categorical
        self.params = params
        self._ils = 1.0 / params.lengthscales**2
        K = self.kernel(X, X)
        K[np.diag_indices_from(K)] += params.noise_var
        L = _cholesky(K)
        if L is None:  # pragma: no cover - the jitter ladder makes this practically unreachable
            msg = "kernel matrix is not positive definite"
            raise np.linalg.LinAlgError(msg)
        from scipy.linalg import solve_triangular

        # The inverse factor once, so that queries (thousands per suggestion) are plain matrix
        # products rather than triangular solves with their per-call overhead.
        self._L_inv = solve_triangular(L, np.eye(len(L)), lower=True, check_finite=False)
        self._alpha = self._L_inv.T @ (self._L_inv @ y)

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Noise-free kernel matrix between ``A`` and ``B``."""
        r2 = feature_distances(A, B, self.is_categorical) @ self._ils
        return self.params.signal_var * matern52(r2)

    def predict(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and latent-function variance at ``Xq``, each shape ``(len(Xq),)``."""
        Kq = self.kernel(Xq, self.X)
        mean = Kq @ self._alpha
        V = Kq @ self._L_inv.T
        var = self.params.signal_var - np.einsum("ij,ij->i", V, V)
        return mean, np.maximum(var, 1e-12)

    def predict_with_grad(
        self, Xq: np.ndarray, columns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients with respect to the numeric ``columns`` of ``Xq``.

        Returns:
            ``(mean, var, dmean, dvar)`` with gradients of shape ``(len(Xq), len(columns))``.
        """
        D = feature_distances(Xq, self.X, self.is_categorical)
        r2 = D @ self._ils
        Kq = self.params.signal_var * matern52(r2)
        mean = Kq @ self._alpha
        V = Kq @ self._L_inv.T
        Kinv_k = V @ self._L_inv  # (B, n): K^-1 k for each query
        var = self.params.signal_var - np.einsum("bn,bn->b", V, V)
        # dk/dx_c = s * k'(r2) * 2 * ils_c * (x_c - X_c)
        diff = Xq[:, None, columns] - self.X[None, :, columns]
        dk = (self.params.signal_var * matern52_dr2(r2))[..., None] * (
            2.0 * self._ils[columns] * diff
        )
        dmean = np.einsum("bnc,n->bc", dk, self._alpha)
        dvar = -2.0 * np.einsum("bnc,bn->bc", dk, Kinv_k)
        clipped = var < 1e-12
        var = np.maximum(var, 1e-12)
        dvar[clipped] = 0.0
        return mean, var, dmean, dvar

    def condition(self, X_new: np.ndarray, y_new: np.ndarray) -> GaussianProcess:
        """The same model with extra (possibly imagined) observations, hyperparameters kept."""
        return GaussianProcess(
            np.vstack([self.X, X_new]),
            np.concatenate([self.y, y_new]),
            self.is_categorical,
            self.params,
        )


def _neg_log_posterior(
    theta: np.ndarray, D: np.ndarray, y: np.ndarray, prior_ls: tuple[float, float]
) -> tuple[float, np.ndarray]:
    """Negative log posterior of the log-hyperparameters and its gradient."""
    from scipy.linalg import cho_solve

    dims = D.shape[-1]
    log_ls, log_s, log_noise = theta[:dims], theta[dims], theta[dims + 1]
    ils = np.exp(-2.0 * log_ls)
    s = math.exp(log_s)
    noise_extra = math.exp(log_noise)
    r2 = D @ ils
    Kf = s * matern52(r2)
    K = Kf.copy()
    K[np.diag_indices_from(K)] += MIN_NOISE_VAR + noise_extra
    L = _cholesky(K)
    if L is None:
        return 1e10, np.zeros_like(theta)
    alpha = cho_solve((L, True), y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum())
    W = cho_solve((L, True), np.eye(len(y)), check_finite=False) - np.outer(alpha, alpha)
    grad = np.empty_like(theta)
    M = W * (s * matern52_dr2(r2))
    # dK/dlog l_j = s k'(r2) D_j * (-2 ils_j); dNLL = 0.5 * sum(W * dK)
    grad[:dims] = -np.einsum("ab,abj->j", M, D) * ils
    grad[dims] = 0.5 * float(np.sum(W * Kf))
    grad[dims + 1] = 0.5 * noise_extra * float(np.trace(W))
    prior, prior_grad = _neg_log_prior(theta, prior_ls)
    return nll + prior, grad + prior_grad


def _neg_log_prior(theta: np.ndarray, prior_ls: tuple[float, float]) -> tuple[float, np.ndarray]:
    """Negative log prior of the log-hyperparameters (Gaussian on each) and its gradient."""
    dims = len(theta) - 2
    mu = np.concatenate([np.full(dims, prior_ls[0]), [_SIGNAL_PRIOR[0], _NOISE_PRIOR[0]]])
    sd = np.concatenate([np.full(dims, prior_ls[1]), [_SIGNAL_PRIOR[1], _NOISE_PRIOR[1]]])
    z = (theta - mu) / sd
    return 0.5 * float(z @ z), z / sd


def fit_gp(
    X: np.ndarray, y: np.ndarray, is_categorical: np.ndarray, *, max_iter: int = 200
) -> GaussianProcess:
    """Fit the kernel hyperparameters by MAP and return the posterior.

    Args:
        X: Training features, shape ``(n, dims)``.
        y: Standardised training values, shape ``(n,)``.
        is_categorical: Which features use the Hamming distance.
        max_iter: L-BFGS-B iteration limit per start.

    Returns:
        The GP conditioned on ``(X, y)`` with the MAP hyperparameters.
    """
    from scipy.optimize import minimize

    dims = X.shape[1]
    D = feature_distances(X, X, is_categorical)
    prior_ls = lengthscale_prior(dims)
    bounds = [_LOG_BOUNDS_LENGTHSCALE] * dims + [_LOG_BOUNDS_SIGNAL, _LOG_BOUNDS_NOISE]
    starts = [
        np.concatenate([np.full(dims, prior_ls[0] + offset), [0.0, _NOISE_PRIOR[0]]])
        for offset in _START_OFFSETS
    ]
    best: tuple[float, np.ndarray] | None = None
    for theta0 in starts:
        res = minimize(
            _neg_log_posterior,
            theta0,
            args=(D, y, prior_ls),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter},
        )
        if np.isfinite(res.fun) and (best is None or res.fun < best[0]):
            best = (float(res.fun), res.x)
    theta = best[1] if best is not None else starts[0]
    params = KernelParams(
        lengthscales=np.exp(theta[:dims]),
        signal_var=math.exp(theta[dims]),
        noise_var=MIN_NOISE_VAR + math.exp(theta[dims + 1]),
    )
    return GaussianProcess(X, y, is_categorical, params)
