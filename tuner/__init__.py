"""tuner: hyperparameter tuning with Amazon SageMaker AMT's job spec, locally or on Ray.

The public API is imported lazily so that worker processes, which import ``tuner.pools``, start
fast without loading SQLAlchemy, botocore or pandas.
"""

from __future__ import annotations

from tuner.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "HyperparameterTuner": "tuner.api",
    "ContinuousParameter": "strategies.space",
    "IntegerParameter": "strategies.space",
    "CategoricalParameter": "strategies.space",
    "ScalingType": "strategies.space",
    "StrategyConfig": "tuner.spec.strategy_config",
    "HyperbandStrategyConfig": "tuner.spec.strategy_config",
    "TuningJobCompletionCriteriaConfig": "tuner.spec.strategy_config",
    "WarmStartConfig": "tuner.warm_start",
    "WarmStartTypes": "tuner.warm_start",
    "TuningJobAnalytics": "tuner.reports.analytics",
    "analytics": "tuner.reports.analytics",
    "TuningJobSpec": "tuner.spec",
    "load_spec": "tuner.spec",
    "spec_from_request": "tuner.spec",
    "TunerError": "tuner.errors",
    "InvalidSpecError": "tuner.errors",
    "JobNotFoundError": "tuner.errors",
    "JobExistsError": "tuner.errors",
    "StorageError": "tuner.errors",
    "BestTrainingJobNotAvailableError": "tuner.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("tuner", _EXPORTS, globals())
