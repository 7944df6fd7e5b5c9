"""The TPE strategy: Optuna's sampler replayed from our history."""

from __future__ import annotations

import math

import pytest

from strategies import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
    Trial,
    TrialStatus,
)

pytest.importorskip("optuna")

from strategies.tpe import TPEStrategy  # noqa: E402

SPACE = SearchSpace(
    {
        "lr": ContinuousParameter(1e-5, 1.0, "Logarithmic"),
        "beta": ContinuousParameter(0.9, 0.9999, "ReverseLogarithmic"),
        "depth": IntegerParameter(1, 10),
        "opt": CategoricalParameter(["sgd", "adam"]),
    }
)


def _objective(c: dict) -> float:
    return (math.log10(c["lr"]) + 3) ** 2 + (c["depth"] - 3) ** 2 + (c["opt"] == "sgd")


def _optimise(strategy: TPEStrategy, n: int) -> list[Trial]:
    history: list[Trial] = []
    for _ in range(n):
        config = strategy.ask(history).config
        history.append(
            Trial(len(history) + 1, config, TrialStatus.COMPLETED, value=_objective(config))
        )
    return history


def test_tpe_suggestions_are_valid() -> None:
    history = _optimise(TPEStrategy(SPACE, seed=0), 20)
    history.append(Trial(21, history[0].config, TrialStatus.FAILED))
    history.append(Trial(22, history[1].config, TrialStatus.IN_PROGRESS))
    history.append(Trial(23, history[2].config, TrialStatus.STOPPED, value=5.0))
    configs = [t.config for t in history] + [TPEStrategy(SPACE, seed=0).ask(history).config]
    for c in configs:
        assert 1e-5 <= c["lr"] <= 1.0 and isinstance(c["lr"], float)
        assert 0.9 <= c["beta"] <= 0.9999
        assert isinstance(c["depth"], int) and 1 <= c["depth"] <= 10
        assert c["opt"] in ("sgd", "adam")


def test_tpe_is_deterministic_and_rebuilt_from_history() -> None:
    a = [t.config for t in _optimise(TPEStrategy(SPACE, seed=4), 14)]
    b = [t.config for t in _optimise(TPEStrategy(SPACE, seed=4), 14)]
    assert a == b
    c = [t.config for t in _optimise(TPEStrategy(SPACE, seed=5), 14)]
    assert a != c


def test_tpe_learns_from_the_history() -> None:
    history = _optimise(TPEStrategy(SPACE, seed=1), 40)
    first, last = history[:10], history[-10:]
    assert sum(t.value for t in last) < sum(t.value for t in first)
