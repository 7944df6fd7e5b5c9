"""Every built-in algorithm's recommended ranges (Autotune's) are AMT's and valid for it."""

from __future__ import annotations

import pytest

from algorithms import available_algorithms, get_algorithm
from algorithms.base import TuningRange
from strategies.space import SpaceError
from tuner.spec.ranges import parse_range

#: AMT's tuning pages (AMT.md 17.2): a few ranges checked as the page gives them.
DOCUMENTED = {
    ("xgboost", "eta"): ("Continuous", 0.1, 0.5),
    ("xgboost", "num_round"): ("Integer", 1, 4000),
    ("linear-learner", "mini_batch_size"): ("Integer", 100, 5000),
    ("kmeans", "extra_center_factor"): ("Integer", 4, 10),
    ("knn", "k"): ("Integer", 1, 1024),
    ("lda", "alpha0"): ("Continuous", 0.1, 10),
    ("random-cut-forest", "num_trees"): ("Integer", 50, 1000),
    ("image-classification", "learning_rate"): ("Continuous", 1e-6, 0.5),
    ("factorization-machines", "factors_lr"): ("Continuous", 1e-8, 512),
    ("blazingtext", "buckets"): ("Integer", 1_000_000, 10_000_000),
}


@pytest.mark.parametrize("name", available_algorithms())
def test_every_tuning_range_is_a_valid_range_of_a_hyperparameter(name: str) -> None:
    algorithm = get_algorithm(name)
    for hyperparameter, recommended in algorithm.tuning_ranges.items():
        assert isinstance(recommended, TuningRange)
        spec = algorithm.hyperparameters[hyperparameter]  # a KeyError names a typo
        group, item = recommended.request_item(hyperparameter)
        try:
            parsed = parse_range(group, item)  # bounds and scaling as AMT checks them
        except SpaceError as exc:  # pragma: no cover - the message is the failure
            pytest.fail(f"{name}.{hyperparameter}: {exc}")
        ends = item["Values"] if "Values" in item else [item["MinValue"], item["MaxValue"]]
        for value in ends:
            spec.parse(hyperparameter, value)  # raises, naming it, if out of the valid range
        assert parsed is not None


def test_ranges_are_the_documented_ones() -> None:
    for (name, hyperparameter), (kind, low, high) in DOCUMENTED.items():
        recommended = get_algorithm(name).tuning_ranges[hyperparameter]
        assert (recommended.kind, recommended.min_value, recommended.max_value) == (
            kind,
            pytest.approx(low),
            pytest.approx(high),
        )


def test_pca_has_no_recommended_range() -> None:
    assert dict(get_algorithm("pca").tuning_ranges) == {}
