"""How the next hyperparameters are chosen: search-space maths and search strategies.

Never imports ``tuner`` or ``algorithms``: strategies are pure functions of (space, seed,
history), tested without pools or databases.
"""

from strategies.base import (
    EarlyStopper,
    StopDecision,
    Strategy,
    Suggestion,
    Trial,
    TrialStatus,
    rng_for,
)
from strategies.bayesian import BayesianStrategy
from strategies.conditions import Condition
from strategies.grid import GridStrategy
from strategies.hyperband import HyperbandSchedule, HyperbandStrategy, infer_max_resource
from strategies.median_rule import MedianStoppingRule
from strategies.random_search import RandomStrategy
from strategies.registry import (
    DEFAULT_STRATEGY,
    EARLY_STOPPING_TYPES,
    STRATEGIES,
    Search,
    StrategyEntry,
    build_search,
    get_strategy,
    strategy_names,
)
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
from strategies.tpe import TPEStrategy

__all__ = [
    "DEFAULT_STRATEGY",
    "EARLY_STOPPING_TYPES",
    "STRATEGIES",
    "Search",
    "StopDecision",
    "StrategyEntry",
    "Suggestion",
    "build_search",
    "get_strategy",
    "strategy_names",
    "BayesianStrategy",
    "CategoricalParameter",
    "Condition",
    "Config",
    "ContinuousParameter",
    "EarlyStopper",
    "GridStrategy",
    "HyperbandSchedule",
    "HyperbandStrategy",
    "IntegerParameter",
    "MedianStoppingRule",
    "ParamValue",
    "Parameter",
    "RandomStrategy",
    "ScalingType",
    "SearchSpace",
    "SpaceError",
    "Strategy",
    "TPEStrategy",
    "Trial",
    "TrialStatus",
    "format_value",
    "infer_max_resource",
    "rng_for",
]
