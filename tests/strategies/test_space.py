from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.space import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    ScalingType,
    SearchSpace,
    SpaceError,
)


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (ContinuousParameter(0.1, 0.5), ScalingType.LINEAR),
        (ContinuousParameter(1e-5, 1.0), ScalingType.LOGARITHMIC),
        (ContinuousParameter(0.0, 1000.0), ScalingType.LINEAR),  # min 0: log impossible
        (ContinuousParameter(1.0, 99.0), ScalingType.LINEAR),
        (ContinuousParameter(1.0, 100.0), ScalingType.LOGARITHMIC),
        (IntegerParameter(100, 5000), ScalingType.LINEAR),
        (IntegerParameter(1, 1024), ScalingType.LOGARITHMIC),
        (ContinuousParameter(0.9, 0.999, "ReverseLogarithmic"), ScalingType.REVERSE_LOGARITHMIC),
    ],
)
def test_auto_scaling_rule(param, expected) -> None:
    assert param.scale is expected


def test_log_scaling_samples_uniformly_in_log_space() -> None:
    p = ContinuousParameter(1e-4, 1.0, "Logarithmic")
    rng = np.random.default_rng(0)
    draws = np.array([p.sample(rng) for _ in range(4000)])
    assert draws.min() >= 1e-4 and draws.max() <= 1.0
    # A linear search would put ~90% in [0.1, 1]; on a log scale it is a quarter.
    assert 0.2 < np.mean(draws >= 0.1) < 0.3


def test_reverse_log_crowds_towards_one() -> None:
    p = ContinuousParameter(0.0, 0.999, "ReverseLogarithmic")
    rng = np.random.default_rng(0)
    draws = np.array([p.sample(rng) for _ in range(4000)])
    assert draws.max() <= 0.999 and draws.min() >= 0.0
    assert np.mean(draws >= 0.9) > 0.6


@pytest.mark.parametrize(
    "param",
    [
        ContinuousParameter(-3.0, 7.0),
        ContinuousParameter(1e-3, 10.0, "Logarithmic"),
        ContinuousParameter(0.5, 0.99, "ReverseLogarithmic"),
    ],
)
def test_unit_round_trip_continuous(param) -> None:
    for u in np.linspace(0, 1, 11):
        assert param.to_unit(param.from_unit(u)) == pytest.approx(u, abs=1e-9)


@pytest.mark.parametrize("scaling", ["Linear", "Logarithmic"])
def test_integer_every_value_reachable_and_fair(scaling) -> None:
    p = IntegerParameter(1, 5, scaling)
    rng = np.random.default_rng(1)
    counts = {v: 0 for v in range(1, 6)}
    for _ in range(5000):
        v = p.sample(rng)
        assert isinstance(v, int)
        counts[v] += 1
    assert all(c > 0 for c in counts.values())
    if scaling == "Linear":  # each integer owns an equal cell, end points included
        assert max(counts.values()) / min(counts.values()) < 1.2


def test_integer_from_unit_round_trip() -> None:
    p = IntegerParameter(2, 9)
    for v in range(2, 10):
        assert p.from_unit(p.to_unit(v)) == v


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: ContinuousParameter(1.0, 1.0), "less than MaxValue"),
        (lambda: ContinuousParameter(2.0, 1.0), "less than MaxValue"),
        (lambda: ContinuousParameter(0.0, 1.0, "Logarithmic"), "MinValue > 0"),
        (lambda: ContinuousParameter(0.1, 1.0, "ReverseLogarithmic"), "MaxValue < 1"),
        (lambda: IntegerParameter(1, 5, "ReverseLogarithmic"), "not supported for integer"),
        (lambda: IntegerParameter(1.5, 5), "whole number"),
        (lambda: ContinuousParameter(0, math.inf), "finite"),
        (lambda: ContinuousParameter(0, 1, "Log"), "scaling_type must be one of"),
        (lambda: CategoricalParameter([]), "at least one"),
        (lambda: CategoricalParameter(["a", "a"]), "distinct"),
    ],
)
def test_invalid_ranges(factory, match) -> None:
    with pytest.raises(SpaceError, match=match):
        factory()


def test_categorical_values_become_strings_like_the_sdk() -> None:
    assert CategoricalParameter([1, 2.5, "x"]).values == ["1", "2.5", "x"]
    assert CategoricalParameter("single").values == ["single"]
    assert CategoricalParameter([1]).as_tuning_range("k") == {"Name": "k", "Values": ["1"]}


def test_as_tuning_range_uses_strings() -> None:
    assert ContinuousParameter(0.01, 0.2, "Logarithmic").as_tuning_range("eta") == {
        "Name": "eta",
        "MinValue": "0.01",
        "MaxValue": "0.2",
        "ScalingType": "Logarithmic",
    }
    assert IntegerParameter(1, 10).as_tuning_range("d")["MaxValue"] == "10"


def _space() -> SearchSpace:
    return SearchSpace(
        {
            "lr": ContinuousParameter(1e-4, 1e-1, "Logarithmic"),
            "depth": IntegerParameter(1, 10),
            "booster": CategoricalParameter(["gbtree", "dart", "gblinear"]),
        }
    )


def test_space_unit_encoding_one_hot() -> None:
    space = _space()
    assert space.dims == 1 + 1 + 3
    config = {"lr": 0.01, "depth": 4, "booster": "dart"}
    x = space.to_unit(config)
    assert x.shape == (5,)
    assert list(x[2:]) == [0.0, 1.0, 0.0]
    back = space.from_unit(x)
    assert back["booster"] == "dart" and back["depth"] == 4
    assert back["lr"] == pytest.approx(0.01)


def test_space_from_unit_never_gives_impossible_points() -> None:
    space = _space()
    rng = np.random.default_rng(3)
    for _ in range(200):
        config = space.from_unit(rng.random(space.dims))
        assert isinstance(config["depth"], int) and 1 <= config["depth"] <= 10
        assert config["booster"] in ("gbtree", "dart", "gblinear")
        assert 1e-4 <= config["lr"] <= 1e-1


def test_space_sample_is_seeded() -> None:
    space = _space()
    a = space.sample(np.random.default_rng(5))
    b = space.sample(np.random.default_rng(5))
    assert a == b


def test_grid_enumerates_every_combination_once_in_declared_order() -> None:
    space = SearchSpace(
        {"a": CategoricalParameter(["1", "2"]), "b": CategoricalParameter(["x", "y", "z"])}
    )
    points = list(space.grid())
    assert space.grid_size() == 6
    assert points[0] == {"a": "1", "b": "x"} and points[1] == {"a": "1", "b": "y"}
    assert len({tuple(p.items()) for p in points}) == 6
    assert [space.grid_point(i) for i in range(6)] == points


def test_grid_refuses_numeric_ranges() -> None:
    with pytest.raises(SpaceError, match="categorical"):
        list(_space().grid())


def test_cast_and_format_follow_range_types() -> None:
    space = _space()
    typed = space.cast({"lr": "0.01", "depth": "3", "booster": "dart"})
    assert typed == {"lr": 0.01, "depth": 3, "booster": "dart"}
    assert space.format(typed) == {"lr": "0.01", "depth": "3", "booster": "dart"}
