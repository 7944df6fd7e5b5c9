"""The Bayesian strategy and its parts: GP fit, encoding, acquisition, and the strategy's contract.

Quality is checked on cheap functions with fixed seeds and generous margins; no exact floats
from a GP fit are asserted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from strategies import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    RandomStrategy,
    SearchSpace,
    Trial,
    TrialStatus,
)
from strategies.acquisition import LogExpectedImprovement, log_h
from strategies.bayesian import BayesianStrategy, default_n_initial, warp
from strategies.encoding import MixedEncoding
from strategies.gp import fit_gp


def _mixed_space() -> SearchSpace:
    return SearchSpace(
        {
            "lr": ContinuousParameter(1e-5, 1.0, "Logarithmic"),
            "momentum": ContinuousParameter(0.5, 0.999, "ReverseLogarithmic"),
            "depth": IntegerParameter(1, 12),
            "width": IntegerParameter(1, 1024),  # Auto: Logarithmic, too many to enumerate
            "opt": CategoricalParameter(["sgd", "adam", "rmsprop"]),
        }
    )


def _mixed_objective(c: dict) -> float:
    return (
        (math.log10(c["lr"]) + 2.5) ** 2
        + (c["depth"] - 4) ** 2 / 10
        + (math.log2(c["width"]) - 6) ** 2 / 20
        + {"sgd": 1.0, "adam": 0.0, "rmsprop": 0.5}[c["opt"]]
        + (c["momentum"] - 0.9) ** 2
    )


def _branin(c: dict) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN = SearchSpace({"x1": ContinuousParameter(-5.0, 10.0), "x2": ContinuousParameter(0.0, 15.0)})


def _optimise(strategy, objective, n: int) -> list[Trial]:
    history: list[Trial] = []
    for _ in range(n):
        config = strategy.ask(history).config
        history.append(
            Trial(len(history) + 1, config, TrialStatus.COMPLETED, value=objective(config))
        )
    return history


def _is_valid(space: SearchSpace, config: dict) -> bool:
    for name, r in space.ranges.items():
        v = config[name]
        if isinstance(r, CategoricalParameter):
            if v not in r.values:
                return False
        elif isinstance(r, IntegerParameter):
            if not (isinstance(v, int) and r.min_value <= v <= r.max_value):
                return False
        elif not (isinstance(v, float) and r.min_value <= v <= r.max_value):
            return False
    return set(config) == set(space.ranges)


# -- GP and acquisition ---------------------------------------------------------------------------
def test_gp_recovers_the_minimum_of_a_1d_function() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        return np.sin(3 * x) + 0.5 * (x - 0.6) ** 2 * 10

    X = np.linspace(0.0, 1.0, 9)[:, None]
    y = f(X[:, 0])
    gp = fit_gp(X, (y - y.mean()) / y.std(), np.array([False]))
    grid = np.linspace(0.0, 1.0, 2001)[:, None]
    mean, var = gp.predict(grid)
    true_argmin = grid[np.argmin(f(grid[:, 0])), 0]
    assert abs(grid[np.argmin(mean), 0] - true_argmin) < 0.03
    # The posterior interpolates the data and is uncertain only between the points.
    m_obs, v_obs = gp.predict(X)
    assert np.allclose(m_obs, (y - y.mean()) / y.std(), atol=0.05)
    assert v_obs.max() < var.max()


def test_bayesian_finds_a_1d_minimum_within_tolerance() -> None:
    space = SearchSpace({"x": ContinuousParameter(-2.0, 3.0)})
    history = _optimise(BayesianStrategy(space, seed=0), lambda c: (c["x"] - 1.234) ** 2, 15)
    best = min(history, key=lambda t: t.value)
    assert abs(best.config["x"] - 1.234) < 0.01


def test_log_h_matches_the_direct_formula_and_stays_finite() -> None:
    from scipy.stats import norm

    z = np.array([-5.0, -1.5, 0.0, 2.0])
    direct = np.log(z * norm.cdf(z) + norm.pdf(z))
    value, grad = log_h(z)
    assert np.allclose(value, direct, rtol=1e-10)
    assert np.allclose(grad, norm.cdf(z) / np.exp(direct), rtol=1e-8)
    far, far_grad = log_h(np.array([-40.0, -1e3]))
    assert np.all(np.isfinite(far)) and np.all(far < -700) and np.all(far_grad > 0)


def test_log_ei_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((12, 3))
    X[:, 2] = rng.integers(0, 3, 12)
    y = np.sin(4 * X[:, 0]) + X[:, 1] + 0.2 * X[:, 2]
    gp = fit_gp(X, (y - y.mean()) / y.std(), np.array([False, False, True]))
    acq = LogExpectedImprovement(gp, best=float(((y - y.mean()) / y.std()).min()))
    x = np.array([[0.3, 0.7, 1.0]])
    cols = np.array([0, 1])
    _, grad = acq.value_and_grad(x, cols)
    for k, c in enumerate(cols):
        step = np.zeros_like(x)
        step[0, c] = 1e-6
        numeric = (acq(x + step) - acq(x - step)) / 2e-6
        assert grad[0, k] == pytest.approx(numeric[0], rel=1e-3, abs=1e-6)


def test_encoding_projection_agrees_with_the_space() -> None:
    space = _mixed_space()
    encoding = MixedEncoding(space)
    rng = np.random.default_rng(1)
    X = encoding.project(rng.random((200, encoding.dims)) * [1, 1, 1, 1, 3])
    assert np.allclose(encoding.project(X), X)  # idempotent
    for x in X[:20]:
        config = encoding.decode(x)
        assert np.allclose(encoding.encode([config])[0], x)
        # the GP sees what the space would encode for that configuration
        again = space.to_unit(space.from_unit(space.to_unit(config)))
        assert np.allclose(space.to_unit(config), again)


def test_warp_keeps_the_order_and_tames_outliers() -> None:
    y = np.array([0.1, 0.2, 0.15, 0.3, 0.25, 1e6])
    w = warp(y)
    assert list(np.argsort(w)) == list(np.argsort(y))
    assert w.max() == 0.0
    assert w[:-1].max() - w[:-1].min() > 0.2  # the good values stay distinguishable


# -- strategy contract ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_initial": 0}, "n_initial must be at least 1"),
        ({"max_points": 1}, "max_points must be at least 2"),
        ({"n_candidates": 0}, "n_candidates must be at least 1"),
        ({"n_starts": 0}, "n_starts must be at least 1"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BayesianStrategy(BRANIN, seed=0, **kwargs)


def test_initial_design_size_rule() -> None:
    assert [default_n_initial(d) for d in (1, 2, 4, 6, 9, 20)] == [5, 5, 5, 7, 10, 10]


def test_integer_and_categorical_suggestions_are_always_valid() -> None:
    space = _mixed_space()
    strategy = BayesianStrategy(space, seed=3, n_candidates=256)
    history = _optimise(strategy, _mixed_objective, 16)
    assert all(_is_valid(space, t.config) for t in history)
    # pending trials and a failure in the history change nothing about validity
    history.append(Trial(17, history[-1].config, TrialStatus.FAILED))
    history.append(Trial(18, strategy.ask(history).config, TrialStatus.IN_PROGRESS))
    assert _is_valid(space, strategy.ask(history).config)


def test_same_seed_same_history_same_suggestion_and_resumable() -> None:
    space = _mixed_space()
    history = _optimise(BayesianStrategy(space, seed=5, n_candidates=256), _mixed_objective, 9)
    history.append(Trial(10, history[0].config, TrialStatus.PENDING))
    a = BayesianStrategy(space, seed=5, n_candidates=256).ask(history)
    b = BayesianStrategy(space, seed=5, n_candidates=256).ask(list(history))  # a new instance
    assert a == b
    assert BayesianStrategy(space, seed=6, n_candidates=256).ask(history) != a


_CHILD = """
import json, sys
from strategies import ContinuousParameter, SearchSpace, Trial, TrialStatus
from strategies.bayesian import BayesianStrategy
space = SearchSpace({"x1": ContinuousParameter(-5.0, 10.0), "x2": ContinuousParameter(0.0, 15.0)})
rows = json.load(sys.stdin)
history = [Trial(n, c, TrialStatus(s), value=v) for n, c, s, v in rows]
print(json.dumps(BayesianStrategy(space, seed=2).ask(history).config))
"""


def test_same_suggestion_in_another_process() -> None:
    """No hidden state (hash seeds, caches, import order) leaks into a suggestion."""
    history = _optimise(BayesianStrategy(BRANIN, seed=2), _branin, 7)
    rows = [[t.number, t.config, t.status.value, t.value] for t in history]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(rows),
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert json.loads(out.stdout) == BayesianStrategy(BRANIN, seed=2).ask(history).config


def test_pending_aware_suggestions_differ() -> None:
    strategy = BayesianStrategy(BRANIN, seed=0)
    history = _optimise(strategy, _branin, 12)
    suggestions = []
    for _ in range(4):
        config = strategy.ask(history).config
        suggestions.append(config)
        history.append(Trial(len(history) + 1, config, TrialStatus.PENDING))
    points = np.array([[c["x1"] / 15, c["x2"] / 15] for c in suggestions])
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)[np.triu_indices(4, 1)]
    assert distances.min() > 1e-3  # distinct, not a rounding apart


def test_never_repeats_a_pending_configuration_in_a_tiny_discrete_space() -> None:
    space = SearchSpace({"a": CategoricalParameter(["x", "y"]), "n": IntegerParameter(1, 3)})
    strategy = BayesianStrategy(space, seed=0, n_initial=2)
    history = [
        Trial(1, {"a": "x", "n": 1}, TrialStatus.COMPLETED, value=0.0),
        Trial(2, {"a": "y", "n": 3}, TrialStatus.COMPLETED, value=1.0),
    ]
    for _ in range(4):
        history.append(Trial(len(history) + 1, strategy.ask(history).config, TrialStatus.PENDING))
    keys = [tuple(sorted(t.config.items())) for t in history]
    assert len(set(keys)) == len(keys) == 6  # the whole space, each configuration once


def test_failed_trials_steer_the_search_away() -> None:
    """Trials fail for x > 0.5; the objective would otherwise pull the search there."""
    space = SearchSpace({"x": ContinuousParameter(0.0, 1.0)})
    strategy = BayesianStrategy(space, seed=1)
    history: list[Trial] = []
    for _ in range(20):
        config = strategy.ask(history).config
        x = config["x"]
        status = TrialStatus.FAILED if x > 0.5 else TrialStatus.COMPLETED
        value = None if x > 0.5 else -x
        history.append(Trial(len(history) + 1, config, status, value=value))
    late = [t.config["x"] for t in history[10:]]
    assert sum(x > 0.5 for x in late) <= 3
    assert min(t.value for t in history if t.value is not None) < -0.44  # near the cliff


def test_no_observations_yet_uses_the_design() -> None:
    strategy = BayesianStrategy(BRANIN, seed=0)
    first = strategy.ask([]).config
    pending = [Trial(i + 1, first, TrialStatus.PENDING) for i in range(12)]
    assert _is_valid(BRANIN, strategy.ask(pending).config)


def test_bayesian_beats_random_on_branin() -> None:
    bayes = _optimise(BayesianStrategy(BRANIN, seed=0), _branin, 30)
    random = _optimise(RandomStrategy(BRANIN, seed=0), _branin, 30)
    best_bayes = min(t.value for t in bayes)
    best_random = min(t.value for t in random)
    assert best_bayes < best_random
    assert best_bayes - 0.397887 < 0.05
