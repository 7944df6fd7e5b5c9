"""The tuning job spec: AMT's CreateHyperParameterTuningJob request and the model it becomes.

::

    model.py          TuningJobSpec, HyperbandConfig, AMT's limits
    loading.py        load_request_file, load_spec (JSON or YAML files)
    validation.py     spec_from_request: structure, then one check per section of the request
    request_shape.py  structural checks against botocore's SageMaker model
    search.py         Strategy, StrategyConfig, early stopping, the budget
    ranges.py         ParameterRanges (the one place a range is parsed)
    algorithm.py      objective, algorithm, metrics, hyperparameters
    data.py           channels and output paths
    inputs.py         whether the algorithm can read its channels (content types, files)
    resources.py      CPUs and GPUs per training job (InstanceType table, our extension fields)
    placement.py      GPUs asked for against the executor's (CPU fallback, --require-gpu)
    strategy_config.py  StrategyConfig / HyperbandStrategyConfig of the Python API

Names are exported lazily: worker processes import :mod:`tuner.spec.resources` without paying
for botocore, YAML or the algorithms.
"""

from __future__ import annotations

from tuner.lazy import lazy_exports

_EXPORTS = {
    "CALLABLE_IMAGE_PREFIX": "tuner.spec.model",
    "DEFAULT_TRIAL_MAX_RUNTIME_S": "tuner.spec.model",
    "HyperbandConfig": "tuner.spec.model",
    "MAX_HYPERPARAMETERS": "tuner.spec.model",
    "MAX_TUNED": "tuner.spec.model",
    "NAME_PATTERN": "tuner.spec.model",
    "TuningJobSpec": "tuner.spec.model",
    "load_request_file": "tuner.spec.loading",
    "load_spec": "tuner.spec.loading",
    "spec_from_request": "tuner.spec.validation",
    "HyperbandStrategyConfig": "tuner.spec.strategy_config",
    "StrategyConfig": "tuner.spec.strategy_config",
    "Resources": "tuner.spec.resources",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("tuner.spec", _EXPORTS, globals())
