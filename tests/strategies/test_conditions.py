"""Conditional ranges (``active_when``): the space's checks, activity, grid, encoding, strategies.

End-to-end runs (real jobs, the spec's ``ActiveWhen``) are in ``tests/tuner/test_conditional.py``;
the every-strategy property is in the strategy contract.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from strategies import (
    BayesianStrategy,
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
    SpaceError,
    Trial,
    TrialStatus,
    build_search,
)
from strategies.conditions import Condition, conditions_of
from strategies.encoding import MixedEncoding


def _optimizer_space() -> SearchSpace:
    return SearchSpace(
        {
            "lr": ContinuousParameter(1e-4, 1.0, "Logarithmic"),
            "optimizer": CategoricalParameter(["sgd", "adam"]),
            "momentum": ContinuousParameter(0.5, 0.99, active_when=("optimizer", ["sgd"])),
            "nesterov": CategoricalParameter(["on", "off"], active_when=("optimizer", "sgd")),
            "dampening": IntegerParameter(
                0, 4, active_when=[("optimizer", ["sgd"]), ("nesterov", ["off"])]
            ),
            "beta2": ContinuousParameter(0.9, 0.999, active_when=("optimizer", ["adam"])),
        }
    )


def _expected(config: dict[str, Any]) -> set[str]:
    names = {"lr", "optimizer"}
    if config["optimizer"] == "sgd":
        names |= {"momentum", "nesterov"} | (
            {"dampening"} if config["nesterov"] == "off" else set()
        )
    else:
        names.add("beta2")
    return names


# -- the parameter classes ----------------------------------------------------------------------
def test_active_when_takes_a_pair_or_a_list_and_is_kept_on_the_parameter() -> None:
    one = ContinuousParameter(0.5, 0.99, active_when=("optimizer", ["sgd"]))
    assert one.active_when == (Condition("optimizer", ("sgd",)),)
    assert conditions_of(("flag", True)) == (Condition("flag", ("True",)),)
    both = IntegerParameter(1, 3, active_when=[("a", ["x", "y"]), ("b", ["z"])])
    assert [c.name for c in both.active_when] == ["a", "b"]
    assert one != ContinuousParameter(0.5, 0.99)  # a condition makes another range
    assert "active_when=('optimizer', ['sgd'])" in repr(one)
    assert one.as_tuning_range("momentum")["ActiveWhen"] == {
        "Name": "optimizer",
        "Values": ["sgd"],
    }
    assert len(both.as_tuning_range("n")["ActiveWhen"]) == 2
    with pytest.raises(SpaceError, match="Values must hold at least one value"):
        CategoricalParameter(["a"], active_when=("optimizer", []))


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        (
            {"m": ContinuousParameter(0, 1, active_when=("opt", ["sgd"]))},
            r"active_when of 'm': 'm' depends on 'opt', which is not a tuned hyperparameter",
        ),
        (
            {
                "opt": ContinuousParameter(0, 1),
                "m": ContinuousParameter(0, 1, active_when=("opt", ["sgd"])),
            },
            r"'m' depends on 'opt', which is Continuous; a condition needs a categorical",
        ),
        (
            {
                "opt": CategoricalParameter(["adam"]),
                "m": ContinuousParameter(0, 1, active_when=("opt", ["sgd"])),
            },
            r"active_when of 'm'.*'sgd' is not a value of 'opt' \(values: adam\)",
        ),
        (
            {
                "a": CategoricalParameter(["x"], active_when=("b", ["y"])),
                "b": CategoricalParameter(["y"], active_when=("a", ["x"])),
            },
            r"active_when of 'a': the conditions form a cycle, a -> b -> a",
        ),
        (
            {"a": CategoricalParameter(["x"], active_when=("a", ["x"]))},
            r"'a' cannot depend on itself",
        ),
    ],
)
def test_the_space_refuses_conditions_that_cannot_hold(ranges: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchSpace(ranges)


def test_a_chain_is_evaluated_parents_first_whatever_the_declaration_order() -> None:
    space = SearchSpace(
        {
            "c": CategoricalParameter(["x", "y"], active_when=("b", ["on"])),
            "a": CategoricalParameter(["p", "q"]),
            "b": CategoricalParameter(["on", "off"], active_when=("a", ["p"])),
        }
    )
    assert space.order == ("a", "b", "c")
    assert space.active({"a": "p", "b": "on", "c": "x"}) == {"a", "b", "c"}
    # b's stale value must not switch c on once b itself is inactive.
    assert space.active({"a": "q", "b": "on", "c": "x"}) == {"a"}
    assert space.prune({"a": "q", "b": "on", "c": "x", "static": 1}) == {"a": "q", "static": 1}


def test_samples_hold_exactly_the_active_ranges_and_a_plain_space_is_unchanged() -> None:
    space = _optimizer_space()
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(200)]
    assert all(set(d) == _expected(d) for d in draws)
    assert {"dampening" in d for d in draws} == {True, False}
    plain = SearchSpace({"x": ContinuousParameter(0.0, 1.0), "k": IntegerParameter(1, 5)})
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert plain.sample(a) == {name: r.sample(b) for name, r in plain.ranges.items()}


# -- grid ---------------------------------------------------------------------------------------
def test_the_grid_has_only_the_combinations_that_can_occur() -> None:
    space = SearchSpace(
        {
            "optimizer": CategoricalParameter(["sgd", "adam"]),
            "momentum": CategoricalParameter(["0.5", "0.9"], active_when=("optimizer", ["sgd"])),
        }
    )
    assert space.grid_size() == 3
    assert list(space.grid()) == [
        {"optimizer": "sgd", "momentum": "0.5"},
        {"optimizer": "sgd", "momentum": "0.9"},
        {"optimizer": "adam"},
    ]


def test_grid_points_match_the_listing_on_a_chain() -> None:
    space = SearchSpace(
        {
            "a": CategoricalParameter(["p", "q", "r"]),
            "b": CategoricalParameter(["on", "off"], active_when=("a", ["p", "q"])),
            "c": CategoricalParameter(["x", "y", "z"], active_when=("b", ["on"])),
            "d": CategoricalParameter(["1", "2"]),
        }
    )
    # a=p|q: b=on (3 c) or off (1), times d; a=r: d only.
    assert space.grid_size() == (2 * (3 + 1) + 1) * 2
    points = [space.grid_point(i) for i in range(space.grid_size())]
    assert len({tuple(sorted(p.items())) for p in points}) == len(points)
    assert all(set(p) == space.active(p) for p in points)
    assert points == list(space.grid())
    rng = np.random.default_rng(0)
    assert {tuple(sorted(space.sample(rng).items())) for _ in range(400)} == {
        tuple(sorted(p.items())) for p in points
    }


# -- the GP's features ----------------------------------------------------------------------------
def test_inactive_features_are_imputed_with_one_fixed_value_and_decoded_away() -> None:
    space = _optimizer_space()
    encoding = MixedEncoding(space)
    adam = [
        {"lr": 0.01, "optimizer": "adam", "beta2": 0.95},
        {"lr": 0.1, "optimizer": "adam", "beta2": 0.99, "momentum": 0.7},  # a stale key
    ]
    X = encoding.encode(adam)
    j = {name: k for k, name in enumerate(space.ranges)}
    for name in ("momentum", "nesterov", "dampening"):
        assert X[0, j[name]] == X[1, j[name]] == encoding.inactive_value[j[name]]
    assert encoding.inactive_value[j["nesterov"]] == 2  # an extra level of a categorical
    assert encoding.inactive_value[j["momentum"]] == 0.0
    rng = np.random.default_rng(1)
    P = encoding.project(rng.random((64, encoding.dims)) * 3)
    assert np.array_equal(encoding.project(P), P)  # imputation is idempotent
    for x in P:
        config = encoding.decode(x)
        assert set(config) == _expected(config)
        assert np.allclose(encoding.encode([config])[0], x)


def test_switching_a_parent_in_feature_space_turns_its_children_on_and_off() -> None:
    space = _optimizer_space()
    encoding = MixedEncoding(space)
    x = encoding.encode([{"lr": 0.01, "optimizer": "adam", "beta2": 0.95}])
    x[0, 1] = 0.0  # optimizer -> sgd: nesterov leaves its inactive level
    revived = encoding.impute(x)
    config = encoding.decode(revived[0])
    assert config["optimizer"] == "sgd" and config["nesterov"] == "on" and "beta2" not in config


# -- strategies read history without the inactive keys ------------------------------------------
def _objective(config: dict[str, Any]) -> float:
    value = (math.log10(config["lr"]) + 2) ** 2
    if config["optimizer"] == "sgd":
        return value + 10 * (config["momentum"] - 0.9) ** 2 + 0.05 * config.get("dampening", 0)
    return value + 0.3 + 100 * (config["beta2"] - 0.99) ** 2


def _run(name: str, space: SearchSpace, n: int, **options: Any) -> list[Trial]:
    strategy = build_search(name, space, 0, options=options).strategy
    history: list[Trial] = []
    for number in range(1, n + 1):
        suggestion = strategy.ask(history)
        assert suggestion is not None
        config = suggestion.config
        assert set(config) == _expected(config), (name, config)
        value = _objective(config)
        curve = tuple((e, value + 1.0 / e) for e in range(1, 10))
        history.append(
            Trial(number, config, TrialStatus.COMPLETED, value, curve, suggestion.bracket)
        )
    return history


def test_bayesian_learns_on_a_conditional_space() -> None:
    history = _run("Bayesian", _optimizer_space(), 25)
    random = _run("Random", _optimizer_space(), 25)
    assert min(t.value or 0 for t in history) < min(t.value or 0 for t in random)
    assert min(t.value or 0 for t in history) < 0.05


def test_bayesian_uses_trials_without_their_inactive_keys() -> None:
    strategy = BayesianStrategy(_optimizer_space(), seed=0)
    assert strategy._fits({"lr": 0.1, "optimizer": "adam", "beta2": 0.95})
    assert not strategy._fits({"lr": 0.1, "optimizer": "sgd", "beta2": 0.95})  # no momentum


def test_tpe_fits_each_range_on_the_trials_that_had_it() -> None:
    pytest.importorskip("optuna")
    from strategies.tpe import TPEStrategy

    strategy = TPEStrategy(_optimizer_space(), seed=0)
    frozen = strategy._frozen(
        Trial(1, {"lr": 0.01, "optimizer": "adam", "beta2": 0.95}, TrialStatus.COMPLETED, 1.0)
    )
    assert set(frozen.params) == {"lr", "optimizer", "beta2"}
    values = [t.value or 0.0 for t in _run("TPE", _optimizer_space(), 40)]
    # After its 10 random startup trials the model concentrates on the good region.
    assert np.median(values[20:]) < 0.6 * np.median(values[:10])


@pytest.mark.parametrize("model_based", [False, True])
def test_hyperband_samples_only_active_ranges(model_based: bool) -> None:
    _run(
        "Hyperband",
        _optimizer_space(),
        20,
        min_resource=1,
        max_resource=9,
        model_based=model_based,
    )
