"""The Python API, in the SageMaker Python SDK's shape.

::

    from tuner import HyperparameterTuner, ContinuousParameter, IntegerParameter

    tuner = HyperparameterTuner(
        "xgboost", "validation:auc",
        {"eta": ContinuousParameter(0.05, 0.5), "max_depth": IntegerParameter(2, 8)},
        max_jobs=20, max_parallel_jobs=2, static_hyperparameters={"num_round": 50},
    )
    tuner.fit({"train": "data/train.csv", "validation": "data/validation.csv"})
    print(tuner.best_training_job())

The constructor's arguments become an AMT CreateHyperParameterTuningJob request, validated by
the same :func:`tuner.spec.spec_from_request` as a spec file, so both ways in build the same
internal spec. ``algorithm`` is a built-in algorithm name (or SageMaker image URI) or a Python
callable ``train(hyperparameters, ctx)`` that calls ``ctx.report(epoch, **metrics)``; the callable
is shipped to the workers by value with cloudpickle, so it may live in a module, a plain script,
``python -c``, a notebook or a closure. ``strategy`` defaults to Bayesian, as in the SDK.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from strategies.registry import DEFAULT_STRATEGY
from strategies.space import Parameter, format_value
from tuner.coordinator import Coordinator, JobOutcome, Progress
from tuner.describe import (
    best_trial,
    describe_tuning_job,
    list_training_jobs,
    objective_of,
    parent_records,
)
from tuner.errors import BestTrainingJobNotAvailableError, TunerError
from tuner.pools.factory import DEFAULT_EXECUTOR, make_pool
from tuner.spec.model import CALLABLE_IMAGE_PREFIX, TuningJobSpec
from tuner.spec.placement import place
from tuner.spec.strategy_config import StrategyConfig, TuningJobCompletionCriteriaConfig
from tuner.spec.validation import spec_from_request
from tuner.status import JobStatus
from tuner.storage import DEFAULT_URL, SqlStorage
from tuner.warm_start import WarmStartConfig, WarmStartTypes

_RANGE_KEYS = {
    "Continuous": "ContinuousParameterRanges",
    "Integer": "IntegerParameterRanges",
    "Categorical": "CategoricalParameterRanges",
}


def _check_autotune_arguments(
    ranges: Mapping[str, Parameter] | None, autotune: bool, keep_static: Sequence[str] | None
) -> None:
    """The SDK's rules: no ranges only with autotune; hyperparameters_to_keep_static only with
    autotune, without repeats."""
    if not ranges and not autotune:
        msg = "hyperparameter_ranges must not be empty unless autotune=True"
        raise ValueError(msg)
    if keep_static is not None:
        if not autotune:
            msg = "hyperparameters_to_keep_static is only read with autotune=True"
            raise ValueError(msg)
        if len(set(keep_static)) != len(list(keep_static)):
            msg = "hyperparameters_to_keep_static must not name a hyperparameter twice"
            raise ValueError(msg)


def _completion_request(
    criteria: TuningJobCompletionCriteriaConfig | Mapping[str, Any] | None,
) -> Mapping[str, Any] | None:
    """TuningJobCompletionCriteria in the request's form (the SDK's class, or that form)."""
    if isinstance(criteria, TuningJobCompletionCriteriaConfig):
        return criteria.to_input_req()
    return criteria


def _add_autotune(request: dict[str, Any], keep_static: Sequence[str]) -> None:
    """As the SDK's ``autotune=True``: ``Autotune`` enabled, and every static hyperparameter not
    in ``keep_static`` (nor the SDK's or AMT's own, ``sagemaker_*`` and ``_*``) an AutoParameter
    whose ValueHint is its value (:mod:`tuner.spec.autotune` resolves them)."""
    from algorithms.base import is_reserved

    request["Autotune"] = {"Mode": "Enabled"}
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    autos = [
        {"Name": name, "ValueHint": value}
        for name, value in static.items()
        if name not in keep_static and not is_reserved(name)
    ]
    for auto in autos:
        del static[auto["Name"]]
    if autos:
        ranges["AutoParameters"] = autos


def _inputs_of(
    inputs: Mapping[str, Any] | None, name: str, definitions: Mapping[str, Any]
) -> Mapping[str, str | Path] | None:
    """One definition's channels: ``inputs[name]`` when ``inputs`` is keyed by estimator name
    (the SDK's form for a tuner made by ``create``), else the same channels for every one."""
    if (
        inputs
        and set(inputs) <= set(definitions)
        and all(isinstance(v, Mapping) for v in inputs.values())
    ):
        return inputs.get(name)
    return inputs


def default_job_name(base: str) -> str:
    """``<base>-<yymmdd-HHMMSS>``, at most 32 characters, as the SDK's ``name_from_base``."""
    stamp = dt.datetime.now(tz=dt.timezone.utc).strftime("%y%m%d-%H%M%S-%f")[:-3]
    clean = "".join(c if c.isalnum() else "-" for c in base).strip("-") or "tuning"
    return f"{clean[: 32 - len(stamp) - 1].strip('-')}-{stamp}"


def build_request(
    *,
    job_name: str,
    algorithm_reference: str,
    objective_metric_name: str,
    objective_type: str,
    hyperparameter_ranges: Mapping[str, Parameter],
    strategy: str,
    max_jobs: int | None,
    max_parallel_jobs: int,
    max_runtime_in_seconds: int | None,
    early_stopping_type: str,
    random_seed: int | None,
    static_hyperparameters: Mapping[str, Any],
    metric_definitions: Sequence[Mapping[str, str]] | None,
    inputs: Mapping[str, str | Path] | None,
    output_path: str | Path | None,
    max_retry_attempts: int | None,
    max_training_job_runtime_in_seconds: int | None,
    environment: Mapping[str, str] | None,
    completion_criteria: Mapping[str, Any] | None,
    resource_config: Mapping[str, Any] | None = None,
    strategy_config: StrategyConfig | Mapping[str, Any] | None = None,
    checkpoint_s3_uri: str | Path | None = None,
) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request for the tuner's arguments."""
    ranges: dict[str, list[dict[str, Any]]] = {}
    for name, rng in hyperparameter_ranges.items():
        kind = getattr(rng, "kind", None)
        if kind not in _RANGE_KEYS:
            msg = (
                f"hyperparameter_ranges[{name!r}] must be a ContinuousParameter, IntegerParameter "
                f"or CategoricalParameter, got {type(rng).__name__}"
            )
            raise TypeError(msg)
        ranges.setdefault(_RANGE_KEYS[kind], []).append(rng.as_tuning_range(name))
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": max_parallel_jobs}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    if max_runtime_in_seconds is not None:
        limits["MaxRuntimeInSeconds"] = max_runtime_in_seconds
    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {
            "Type": objective_type,
            "MetricName": objective_metric_name,
        },
        "ResourceLimits": limits,
        "ParameterRanges": ranges,
        "TrainingJobEarlyStoppingType": early_stopping_type,
    }
    if random_seed is not None:
        config["RandomSeed"] = random_seed
    if strategy_config is not None:
        config["StrategyConfig"] = (
            strategy_config.to_request()
            if isinstance(strategy_config, StrategyConfig)
            else dict(strategy_config)
        )
    if completion_criteria:
        config["TuningJobCompletionCriteria"] = dict(completion_criteria)
    algorithm_spec: dict[str, Any] = {
        "TrainingImage": algorithm_reference,
        "TrainingInputMode": "File",
    }
    if metric_definitions:
        algorithm_spec["MetricDefinitions"] = [dict(m) for m in metric_definitions]
    definition: dict[str, Any] = {
        "AlgorithmSpecification": algorithm_spec,
        "StaticHyperParameters": {k: format_value(v) for k, v in static_hyperparameters.items()},
    }
    if inputs:
        definition["InputDataConfig"] = [
            {
                "ChannelName": channel,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(path)}},
            }
            for channel, path in inputs.items()
        ]
    if output_path is not None:
        definition["OutputDataConfig"] = {"S3OutputPath": str(output_path)}
    if max_training_job_runtime_in_seconds is not None:
        definition["StoppingCondition"] = {
            "MaxRuntimeInSeconds": max_training_job_runtime_in_seconds
        }
    if resource_config:
        definition["ResourceConfig"] = dict(resource_config)
    if max_retry_attempts:
        definition["RetryStrategy"] = {"MaximumRetryAttempts": max_retry_attempts}
    if checkpoint_s3_uri is not None:  # the SDK Estimator's checkpoint_s3_uri
        definition["CheckpointConfig"] = {"S3Uri": str(checkpoint_s3_uri)}
    if environment:
        definition["Environment"] = dict(environment)
    return {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
    }


def _resource_config(
    instance_type: str | None,
    num_cpus: float | None,
    num_gpus: float | None,
    allow_cpu_fallback: bool | None,
    max_memory_mb: float | None,
) -> dict[str, Any]:
    """The ResourceConfig the keyword arguments ask for (our fields: tuner.spec.resources)."""
    config: dict[str, Any] = {}
    if instance_type is not None:
        config.update(InstanceType=instance_type, InstanceCount=1)
    if num_cpus is not None:
        config["NumCpus"] = num_cpus
    if num_gpus is not None:
        config["NumGpus"] = num_gpus
    if allow_cpu_fallback is not None:  # None: the default (see tuner.spec.placement)
        config["AllowCpuFallback"] = bool(allow_cpu_fallback)
    if max_memory_mb is not None:
        config["MaxMemoryInMB"] = max_memory_mb
    return config


class HyperparameterTuner:
    """Tunes a built-in algorithm or a Python training function, like SageMaker's tuner."""

    def __init__(
        self,
        algorithm: str | Callable[..., Any] | None = None,
        objective_metric_name: str | None = None,
        hyperparameter_ranges: Mapping[str, Parameter] | None = None,
        metric_definitions: Sequence[Mapping[str, str]] | None = None,
        strategy: str = DEFAULT_STRATEGY,
        objective_type: str = "Maximize",
        max_jobs: int | None = None,
        max_parallel_jobs: int = 1,
        max_runtime_in_seconds: int | None = None,
        tags: Sequence[Mapping[str, str]] | None = None,
        base_tuning_job_name: str | None = None,
        warm_start_config: WarmStartConfig | None = None,
        strategy_config: StrategyConfig | None = None,
        completion_criteria_config: TuningJobCompletionCriteriaConfig
        | Mapping[str, Any]
        | None = None,
        early_stopping_type: str = "Off",
        estimator_name: str | None = None,
        random_seed: int | None = None,
        autotune: bool = False,
        hyperparameters_to_keep_static: Sequence[str] | None = None,
        *,
        static_hyperparameters: Mapping[str, Any] | None = None,
        storage: str = DEFAULT_URL,
        output_path: str | Path | None = None,
        max_retry_attempts: int | None = None,
        checkpoint_s3_uri: str | Path | None = None,
        max_training_job_runtime_in_seconds: int | None = None,
        environment: Mapping[str, str] | None = None,
        completion_criteria: TuningJobCompletionCriteriaConfig | Mapping[str, Any] | None = None,
        fresh_worker_per_trial: bool = False,
        executor: str = DEFAULT_EXECUTOR,
        ray_address: str | None = None,
        instance_type: str | None = None,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        allow_cpu_fallback: bool | None = None,
        max_memory_mb: float | None = None,
        require_gpu: bool = False,
        entry_point: str | None = None,
        source_dir: str | Path | None = None,
        framework: str | None = None,
        install_requirements: bool = False,
    ) -> None:
        if objective_metric_name is None or (hyperparameter_ranges is None and not autotune):
            msg = "HyperparameterTuner() needs objective_metric_name and hyperparameter_ranges"
            raise TypeError(msg)
        _check_autotune_arguments(hyperparameter_ranges, autotune, hyperparameters_to_keep_static)
        if completion_criteria is not None and completion_criteria_config is not None:
            msg = "give completion_criteria_config or its alias completion_criteria, not both"
            raise TypeError(msg)
        if entry_point is not None or algorithm is None:  # script mode (tuner.script)
            from tuner.script.frameworks import script_reference

            self._reference = script_reference(algorithm, framework, entry_point)
            self._train_fn = None
        elif isinstance(algorithm, str):
            self._reference, self._train_fn = algorithm, None
        elif callable(algorithm):
            qualname = getattr(algorithm, "__qualname__", type(algorithm).__name__)
            module = getattr(algorithm, "__module__", "__main__")
            self._reference, self._train_fn = (
                f"{CALLABLE_IMAGE_PREFIX}{module}.{qualname}",
                algorithm,
            )
        else:
            kind = type(algorithm).__name__
            msg = f"algorithm must be a built-in algorithm name or a callable, got {kind}"
            raise TypeError(msg)
        self.objective_metric_name = objective_metric_name
        self.hyperparameter_ranges = dict(hyperparameter_ranges or {})
        self.metric_definitions = metric_definitions
        self.strategy = strategy
        self.objective_type = objective_type
        self.max_jobs = max_jobs
        self.max_parallel_jobs = max_parallel_jobs
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.tags = [dict(tag) for tag in tags or ()]
        self.base_tuning_job_name = base_tuning_job_name
        self.early_stopping_type = early_stopping_type
        self.estimator_name = estimator_name
        self.autotune = autotune
        self.hyperparameters_to_keep_static = list(hyperparameters_to_keep_static or ())
        self.random_seed = random_seed
        self.strategy_config = strategy_config
        self.warm_start_config = warm_start_config
        self.static_hyperparameters = dict(static_hyperparameters or {})
        if entry_point is not None:
            from tuner.script.frameworks import script_hyperparameters

            self.static_hyperparameters = {
                **script_hyperparameters(entry_point, source_dir),
                **self.static_hyperparameters,
            }
        self.install_requirements = install_requirements
        self.storage_url = storage
        self.output_path = output_path
        self.max_retry_attempts = max_retry_attempts
        self.checkpoint_s3_uri = checkpoint_s3_uri
        self.max_training_job_runtime_in_seconds = max_training_job_runtime_in_seconds
        self.environment = environment
        self.completion_criteria_config = completion_criteria_config or completion_criteria
        self.fresh_worker_per_trial = fresh_worker_per_trial
        self.executor = executor
        self.ray_address = ray_address
        self.resource_config = _resource_config(
            instance_type, num_cpus, num_gpus, allow_cpu_fallback, max_memory_mb
        )
        self.require_gpu = require_gpu
        self.latest_tuning_job: str | None = None
        self._storage: SqlStorage | None = None
        self._thread: threading.Thread | None = None
        self._outcome: JobOutcome | None = None
        self._error: BaseException | None = None
        self._definitions: dict[str, HyperparameterTuner] | None = None  # made by create()

    @classmethod
    def attach(
        cls,
        tuning_job_name: str,
        storage: str = DEFAULT_URL,
        *,
        algorithm: str | Callable[..., Any] | Mapping[str, Any] | None = None,
    ) -> HyperparameterTuner:
        """A tuner for a tuning job already in ``storage``, as the SDK's ``attach``.

        ``describe``, ``best_training_job``, ``training_job_summaries``, ``analytics``,
        ``wait``, ``stop_tuning_job`` and the warm-start methods work on it at once; ``fit``
        runs a new job with the stored configuration. A Python callable is stored by name only,
        so give it as ``algorithm`` to ``fit`` such a tuner again (a multi-algorithm job: the
        callables by DefinitionName).
        """
        from tuner.spec.ranges import request_ranges

        job = SqlStorage(storage).load_job(tuning_job_name)  # JobNotFoundError names it
        request = job.request
        if "TrainingJobDefinition" not in request:
            return cls._attach_multi(job, storage, algorithm)
        if isinstance(algorithm, Mapping):
            msg = f"{tuning_job_name!r} has one definition: give algorithm, not a dict of them"
            raise TypeError(msg)
        config = request["HyperParameterTuningJobConfig"]
        definition = request["TrainingJobDefinition"]
        algo_spec = definition.get("AlgorithmSpecification") or {}
        objective = config["HyperParameterTuningJobObjective"]
        limits = config.get("ResourceLimits") or {}
        tuner = cls(
            algorithm or algo_spec.get("TrainingImage") or algo_spec.get("AlgorithmName"),
            objective["MetricName"],
            request_ranges(config.get("ParameterRanges")),
            metric_definitions=algo_spec.get("MetricDefinitions"),
            strategy=job.strategy,
            objective_type=objective["Type"],
            max_jobs=limits.get("MaxNumberOfTrainingJobs"),
            max_parallel_jobs=limits.get("MaxParallelTrainingJobs", 1),
            max_runtime_in_seconds=limits.get("MaxRuntimeInSeconds"),
            tags=request.get("Tags"),
            strategy_config=config.get("StrategyConfig"),
            completion_criteria_config=config.get("TuningJobCompletionCriteria"),
            early_stopping_type=config.get("TrainingJobEarlyStoppingType", "Off"),
            random_seed=config.get("RandomSeed"),
            static_hyperparameters=definition.get("StaticHyperParameters"),
            storage=storage,
        )
        tuner.latest_tuning_job = job.name
        return tuner

    @classmethod
    def _attach_multi(
        cls, job: Any, storage: str, algorithm: Mapping[str, Any] | Any
    ) -> HyperparameterTuner:
        """``attach`` of a multi-algorithm job: :meth:`create` from its stored definitions
        (``algorithm``: the callables by DefinitionName, as they are stored by name only)."""
        from tuner.spec.ranges import request_ranges

        config = job.request["HyperParameterTuningJobConfig"]
        definitions = {d["DefinitionName"]: d for d in job.request["TrainingJobDefinitions"]}
        given = algorithm if isinstance(algorithm, Mapping) else {}

        def reference(name: str) -> Any:
            spec = definitions[name].get("AlgorithmSpecification") or {}
            return given.get(name) or spec.get("TrainingImage") or spec.get("AlgorithmName")

        limits = config.get("ResourceLimits") or {}
        first = next(iter(definitions.values()))
        tuner = cls.create(
            {name: reference(name) for name in definitions},
            {n: d["TuningObjective"]["MetricName"] for n, d in definitions.items()},
            {n: request_ranges(d.get("HyperParameterRanges")) for n, d in definitions.items()},
            strategy=job.strategy,
            objective_type=first["TuningObjective"]["Type"],
            max_jobs=limits.get("MaxNumberOfTrainingJobs"),
            max_parallel_jobs=limits.get("MaxParallelTrainingJobs", 1),
            max_runtime_in_seconds=limits.get("MaxRuntimeInSeconds"),
            tags=job.request.get("Tags"),
            early_stopping_type=config.get("TrainingJobEarlyStoppingType", "Off"),
            random_seed=config.get("RandomSeed"),
            static_hyperparameters_dict={
                n: d.get("StaticHyperParameters") or {} for n, d in definitions.items()
            },
            storage=storage,
        )
        tuner.latest_tuning_job = job.name
        return tuner

    # -- building ------------------------------------------------------------------------------
    def _base_name(self) -> str:
        if self.base_tuning_job_name:
            return self.base_tuning_job_name
        if self._train_fn is not None:
            return getattr(self._train_fn, "__name__", "tuning").replace("_", "-")
        return self._reference.rsplit("/", 1)[-1].split(":", 1)[0]

    def build_spec(
        self, inputs: Mapping[str, Any] | None = None, job_name: str | None = None
    ) -> TuningJobSpec:
        """The validated internal spec this tuner would run (raises InvalidSpecError)."""
        if self._definitions:
            request, train_fns = self._multi_request(inputs, job_name)
            return spec_from_request(request, base_dir=Path.cwd(), train_fn=train_fns)
        request = self._request(inputs, job_name)
        return spec_from_request(request, base_dir=Path.cwd(), train_fn=self._train_fn)

    def _request(
        self, inputs: Mapping[str, str | Path] | None, job_name: str | None
    ) -> dict[str, Any]:
        """The CreateHyperParameterTuningJob request of this (one-definition) tuner."""
        request = build_request(
            job_name=job_name or default_job_name(self._base_name()),
            algorithm_reference=self._reference,
            objective_metric_name=self.objective_metric_name,
            objective_type=self.objective_type,
            hyperparameter_ranges=self.hyperparameter_ranges,
            strategy=self.strategy,
            max_jobs=self.max_jobs,
            max_parallel_jobs=self.max_parallel_jobs,
            max_runtime_in_seconds=self.max_runtime_in_seconds,
            early_stopping_type=self.early_stopping_type,
            random_seed=self.random_seed,
            static_hyperparameters=self.static_hyperparameters,
            metric_definitions=self.metric_definitions,
            inputs=inputs,
            output_path=self.output_path,
            max_retry_attempts=self.max_retry_attempts,
            checkpoint_s3_uri=self.checkpoint_s3_uri,
            max_training_job_runtime_in_seconds=self.max_training_job_runtime_in_seconds,
            environment=self.environment,
            completion_criteria=_completion_request(self.completion_criteria_config),
            resource_config=self.resource_config,
            strategy_config=self.strategy_config,
        )
        if self.tags:
            request["Tags"] = self.tags
        if self.autotune:
            _add_autotune(request, self.hyperparameters_to_keep_static)
        if self.warm_start_config is not None:
            request["WarmStartConfig"] = self.warm_start_config.to_input_req()
        return request

    def _multi_request(
        self, inputs: Mapping[str, Any] | None, job_name: str | None
    ) -> tuple[dict[str, Any], dict[str, Callable[..., Any]]]:
        """The request of a tuner made by :meth:`create`: one TrainingJobDefinition per
        estimator (its DefinitionName, TuningObjective and HyperParameterRanges), the job's
        settings from this tuner; and the callables by DefinitionName."""
        assert self._definitions is not None
        request = self._request(None, job_name or default_job_name(self._base_name()))
        config = request["HyperParameterTuningJobConfig"]
        config.pop("HyperParameterTuningJobObjective")
        config.pop("ParameterRanges")
        request.pop("TrainingJobDefinition")
        definitions, train_fns = [], {}
        for name, sub in self._definitions.items():
            single = sub._request(
                _inputs_of(inputs, name, self._definitions), request["HyperParameterTuningJobName"]
            )
            sub_config = single["HyperParameterTuningJobConfig"]
            definitions.append(
                {
                    "DefinitionName": name,
                    "TuningObjective": sub_config["HyperParameterTuningJobObjective"],
                    "HyperParameterRanges": sub_config["ParameterRanges"],
                    **single["TrainingJobDefinition"],
                }
            )
            if sub._train_fn is not None:
                train_fns[name] = sub._train_fn
        request["TrainingJobDefinitions"] = definitions
        return request, train_fns

    @classmethod
    def create(
        cls,
        estimator_dict: Mapping[str, str | Callable[..., Any]],
        objective_metric_name_dict: Mapping[str, str],
        hyperparameter_ranges_dict: Mapping[str, Mapping[str, Parameter]],
        metric_definitions_dict: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
        base_tuning_job_name: str | None = None,
        strategy: str = DEFAULT_STRATEGY,
        strategy_config: StrategyConfig | None = None,
        completion_criteria_config: TuningJobCompletionCriteriaConfig | None = None,
        objective_type: str = "Maximize",
        max_jobs: int | None = None,
        max_parallel_jobs: int = 1,
        max_runtime_in_seconds: int | None = None,
        tags: Sequence[Mapping[str, str]] | None = None,
        warm_start_config: WarmStartConfig | None = None,
        early_stopping_type: str = "Off",
        random_seed: int | None = None,
        autotune: bool = False,
        hyperparameters_to_keep_static_dict: Mapping[str, Sequence[str]] | None = None,
        *,
        static_hyperparameters_dict: Mapping[str, Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> HyperparameterTuner:
        """A tuner of several algorithms in one job, as the SDK's ``HyperparameterTuner.create``.

        Each dict is keyed by the estimator (definition) name: ``estimator_dict`` maps it to a
        built-in algorithm or a Python callable. ``fit(inputs)`` then takes the channels by
        estimator name (``{"xgb": {"train": ...}, "ll": {...}}``) or one channel mapping that
        every definition reads. ``static_hyperparameters_dict`` and ``options`` (our keyword
        arguments of the constructor, such as ``storage`` or ``executor``) are ours; the SDK
        takes static values from its estimators. AMT refuses warm start with several
        definitions, and so does validation here; ``autotune`` is refused for now.
        """
        names = list(estimator_dict)
        if not names:
            raise ValueError("estimator_dict must name at least one estimator")
        for label, given in (
            ("objective_metric_name_dict", objective_metric_name_dict),
            ("hyperparameter_ranges_dict", hyperparameter_ranges_dict),
        ):
            if set(given) != set(names):
                msg = (
                    f"{label} must have the keys of estimator_dict ({', '.join(names)}), "
                    f"got {', '.join(map(str, given)) or 'none'}"
                )
                raise ValueError(msg)
        subs = {
            name: cls(
                estimator_dict[name],
                objective_metric_name_dict[name],
                hyperparameter_ranges_dict[name],
                metric_definitions=(metric_definitions_dict or {}).get(name),
                objective_type=objective_type,
                autotune=autotune,
                hyperparameters_to_keep_static=(hyperparameters_to_keep_static_dict or {}).get(
                    name
                ),
                static_hyperparameters=(static_hyperparameters_dict or {}).get(name),
                **options,
            )
            for name in names
        }
        first = names[0]
        tuner = cls(
            estimator_dict[first],
            objective_metric_name_dict[first],
            hyperparameter_ranges_dict[first],
            strategy=strategy,
            objective_type=objective_type,
            max_jobs=max_jobs,
            max_parallel_jobs=max_parallel_jobs,
            max_runtime_in_seconds=max_runtime_in_seconds,
            tags=tags,
            base_tuning_job_name=base_tuning_job_name or "-".join(names)[:20],
            warm_start_config=warm_start_config,
            strategy_config=strategy_config,
            completion_criteria_config=completion_criteria_config,
            early_stopping_type=early_stopping_type,
            random_seed=random_seed,
            autotune=autotune,
            **options,
        )
        tuner._definitions = subs
        return tuner

    # -- running -------------------------------------------------------------------------------
    def fit(
        self,
        inputs: Mapping[str, str | Path] | None = None,
        job_name: str | None = None,
        include_cls_metadata: bool = False,
        estimator_kwargs: Mapping[str, Any] | None = None,
        wait: bool = True,
        *,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        """Start the tuning job; with ``wait=False`` it runs in a background thread.

        The SDK's signature: ``include_cls_metadata`` and ``estimator_kwargs`` are accepted and
        have no effect here (the first adds the estimator's class to the hyperparameters for
        the SDK's own estimators; the second passes per-estimator ``fit`` arguments, which a
        local training job has none of).
        """
        del include_cls_metadata, estimator_kwargs
        placement = place(
            self.build_spec(inputs, job_name),
            executor=self.executor,
            ray_address=self.ray_address,
            require_gpu=self.require_gpu,
        )
        if placement.warning:
            warnings.warn(placement.warning, RuntimeWarning, stacklevel=2)
        spec = placement.spec
        from tuner.script import prepare_job

        spec, notes = prepare_job(spec, install=self.install_requirements)
        for note in notes:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
        storage = self._open_storage()
        pool = make_pool(
            spec,
            executor=self.executor,
            ray_address=self.ray_address,
            fresh_workers=self.fresh_worker_per_trial,
        )
        try:
            coordinator = Coordinator(spec, storage, pool, on_progress=on_progress)
            coordinator.start()
        except BaseException:
            pool.shutdown()
            raise
        self.latest_tuning_job = spec.name
        self._outcome, self._error = None, None

        def run() -> None:
            try:
                self._outcome = coordinator.run()
            except BaseException as exc:  # surfaced by wait()
                self._error = exc
            finally:
                pool.shutdown()

        if wait:
            run()
            self._raise_error()
        else:
            self._thread = threading.Thread(target=run, name=f"tuner-{spec.name}", daemon=True)
            self._thread.start()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def wait(self) -> None:
        """Block until a job started with ``wait=False`` ends."""
        if self._thread is not None:
            self._thread.join()
        self._raise_error()

    def stop_tuning_job(self) -> None:
        """Ask the running job to stop; its running training jobs end as Stopped."""
        name = self._require_job()
        storage = self._open_storage()
        storage.set_job_status(
            name, JobStatus.STOPPING, now=dt.datetime.now(tz=dt.timezone.utc).timestamp()
        )

    # -- results -------------------------------------------------------------------------------
    def _open_storage(self) -> SqlStorage:
        if self._storage is None:
            self._storage = SqlStorage(self.storage_url)
        return self._storage

    def _require_job(self) -> str:
        if self.latest_tuning_job is None:
            msg = "no tuning job yet: call fit() first"
            raise TunerError(msg)
        return self.latest_tuning_job

    def describe(self) -> dict[str, Any]:
        """DescribeHyperParameterTuningJob's response for the latest job."""
        name = self._require_job()
        storage = self._open_storage()
        job = storage.load_job(name)
        return describe_tuning_job(
            job,
            storage.trials(name),
            now=dt.datetime.now(tz=dt.timezone.utc).timestamp(),
            parents=parent_records(storage, job),
        )

    def best_training_job(self) -> str:
        """Name of the best training job; raises if no job has an objective value yet."""
        name = self._require_job()
        storage = self._open_storage()
        job = storage.load_job(name)
        best = best_trial(storage.trials(name), objective_of(job))
        if best is None:
            msg = f"Best training job not available for tuning job: {name}"
            raise BestTrainingJobNotAvailableError(msg)
        return best.name

    def training_job_summaries(self, **kwargs: Any) -> list[dict[str, Any]]:
        """ListTrainingJobsForHyperParameterTuningJob's summaries (sort_by, status_equals ...)."""
        name = self._require_job()
        storage = self._open_storage()
        return list_training_jobs(storage.load_job(name), storage.trials(name), **kwargs)

    def analytics(self) -> Any:
        """A :class:`tuner.reports.analytics.TuningJobAnalytics` of the latest job."""
        from tuner.reports.analytics import TuningJobAnalytics

        return TuningJobAnalytics(self._require_job(), self.storage_url)

    # -- warm start (the SageMaker SDK's methods) -------------------------------------------------
    def identical_dataset_and_algorithm_tuner(
        self, additional_parents: set[str] | None = None
    ) -> HyperparameterTuner:
        """A new tuner like this one, warm-started (IdenticalDataAndAlgorithm) from this
        tuner's latest job and ``additional_parents``; call ``fit`` on it to run it."""
        return self._warm_start_tuner(
            WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, additional_parents
        )

    def transfer_learning_tuner(
        self,
        additional_parents: set[str] | None = None,
        estimator: str | Callable[..., Any] | None = None,
    ) -> HyperparameterTuner:
        """A new tuner like this one, warm-started (TransferLearning) from this tuner's latest
        job and ``additional_parents``; ``estimator`` (an algorithm name or a training
        callable) replaces the algorithm. Change its ranges or statics before ``fit``."""
        return self._warm_start_tuner(
            WarmStartTypes.TRANSFER_LEARNING, additional_parents, estimator
        )

    def _warm_start_tuner(
        self,
        kind: WarmStartTypes,
        additional_parents: set[str] | None,
        estimator: str | Callable[..., Any] | None = None,
    ) -> HyperparameterTuner:
        """A copy of this tuner's configuration (whatever arguments it was built with), with
        no job of its own yet and the warm start config the SDK's methods give."""
        import copy

        parents = {self._require_job(), *(additional_parents or ())}
        new = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, dict | list | set):
                setattr(new, name, copy.copy(value))
        if estimator is not None:
            # Only the estimator is read off the probe; its ranges are this tuner's.
            probe = HyperparameterTuner(
                estimator, self.objective_metric_name, self.hyperparameter_ranges, autotune=True
            )
            new._reference, new._train_fn = probe._reference, probe._train_fn
        new.warm_start_config = WarmStartConfig(kind, parents)
        new.latest_tuning_job = None
        new._storage, new._thread, new._outcome, new._error = None, None, None, None
        return new
