"""How the next hyperparameters are chosen: search-space maths and search strategies.

Never imports ``tuner`` or ``algorithms``: strategies are pure functions of (space, seed,
history), tested without pools or databases.
"""

from strategies.base import EarlyStopper, Strategy, Trial, TrialStatus, rng_for
from strategies.grid import GridStrategy
from strategies.median_rule import MedianStoppingRule
from strategies.random_search import RandomStrategy
from strategies.space import (
    CategoricalParameter,
    Config,
    ContinuousParameter,
    IntegerParameter,
    Parameter,
    ParamValue,
    ScalingType,
    SearchSpace,
    SpaceError,
    format_value,
)

__all__ = [
    "CategoricalParameter",
    "Config",
    "ContinuousParameter",
    "EarlyStopper",
    "GridStrategy",
    "IntegerParameter",
    "MedianStoppingRule",
    "ParamValue",
    "Parameter",
    "RandomStrategy",
    "ScalingType",
    "SearchSpace",
    "SpaceError",
    "Strategy",
    "Trial",
    "TrialStatus",
    "format_value",
    "rng_for",
]
