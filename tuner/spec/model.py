"""The one internal model of a tuning job, built from an AMT request by
:mod:`tuner.spec.validation`."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strategies.space import SearchSpace
from tuner.objective import Objective
from tuner.spec.resources import Resources

#: AMT's HyperParameterTuningJobName pattern.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
#: AMT: at most 30 tuned hyperparameters, 100 static + tuned (incl. _tuning_objective_metric).
MAX_TUNED = 30
MAX_HYPERPARAMETERS = 100
#: AMT's default StoppingCondition.MaxRuntimeInSeconds for a training job: one day.
DEFAULT_TRIAL_MAX_RUNTIME_S = 86_400
#: TrainingImage prefix recorded for a Python callable given to the Python API.
CALLABLE_IMAGE_PREFIX = "python-callable://"


@dataclass(frozen=True)
class HyperbandConfig:
    """Resolved HyperbandStrategyConfig: MinResource, MaxResource (maybe inferred) and ours."""

    min_resource: int
    max_resource: int
    reduction_factor: int = 3
    model_based: bool = False


@dataclass(frozen=True)
class DefinitionSpec:
    """One training job definition of a job: what a trial of it runs.

    A one-definition job's is made from the spec's own fields (:meth:`TuningJobSpec.definition`);
    a multi-algorithm job (``TrainingJobDefinitions``) has one per definition, in the request's
    order, and the spec's own algorithm fields are the first one's (see
    :mod:`tuner.spec.definitions`).
    """

    name: str | None
    objective: Objective
    space: SearchSpace
    algorithm: str | None
    static_hyperparameters: Mapping[str, str]
    channels: Mapping[str, Path]
    #: The definition as a single ``TrainingJobDefinition`` (its channels, manifests, resources).
    definition: Mapping[str, Any]
    trial_max_runtime_s: float
    max_retry_attempts: int
    environment: Mapping[str, str]
    hyperband: HyperbandConfig | None = None
    train_fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    script: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def max_seconds_between_reports(self) -> float | None:
        """``StoppingCondition.MaxSecondsBetweenReports`` (ours): a training job silent for
        longer is taken as hung (stopped, Failed); None: no such limit (AMT has none)."""
        value = (self.definition.get("StoppingCondition") or {}).get("MaxSecondsBetweenReports")
        return float(value) if value is not None else None

    def hyperparameters_for(self, tuned: Mapping[str, str]) -> dict[str, str]:
        """What a training job receives: statics, its tuned values, AMT's objective key."""
        out = dict(self.static_hyperparameters)
        out.update(tuned)
        if self.train_fn is None:
            out["_tuning_objective_metric"] = self.objective.metric
        return out


@dataclass(frozen=True)
class TuningJobSpec:
    """Everything the coordinator needs to run a tuning job, derived from one AMT request.

    ``request`` is the normalised request, kept verbatim for Describe and for resume; the other
    fields are what it means. ``train_fn`` is set when the algorithm is a Python callable.
    ``script`` describes a script-mode job (a framework image running ``sagemaker_program``,
    see :mod:`tuner.script`); it is derived from the request when not given.
    """

    name: str
    request: Mapping[str, Any]
    strategy: str
    objective: Objective
    space: SearchSpace
    max_jobs: int
    max_parallel_jobs: int
    max_runtime_s: float | None
    early_stopping: bool
    random_seed: int | None
    algorithm: str | None
    static_hyperparameters: Mapping[str, str]
    channels: Mapping[str, Path]
    output_path: Path | None
    trial_max_runtime_s: float
    max_retry_attempts: int
    environment: Mapping[str, str]
    resources: Resources = field(default_factory=Resources)
    hyperband: HyperbandConfig | None = None
    target_objective_value: float | None = None
    max_jobs_not_improving: int | None = None
    complete_on_convergence: bool = False
    train_fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    script: Mapping[str, Any] | None = field(default=None, compare=False)
    #: The definitions of a multi-algorithm job (empty for a one-definition job).
    definitions: tuple[DefinitionSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.script is None and self.algorithm is None and self.train_fn is None:
            object.__setattr__(self, "script", script_of(self.request, self.objective.metric))

    @property
    def strategy_options(self) -> dict[str, Any]:
        """What the strategy is configured with beyond its name (HyperbandStrategyConfig)."""
        return dataclasses.asdict(self.hyperband) if self.hyperband is not None else {}

    def hyperparameters_for(self, tuned: Mapping[str, str]) -> dict[str, str]:
        """What a training job receives: statics, its tuned values, AMT's objective key."""
        return self.definition(None).hyperparameters_for(tuned)

    @property
    def is_multi(self) -> bool:
        """True for a multi-algorithm job (several ``TrainingJobDefinitions``)."""
        return bool(self.definitions)

    def definition(self, name: str | None) -> DefinitionSpec:
        """The definition called ``name``; None: the job's only definition (its own fields)."""
        for d in self.definitions:
            if d.name == name:
                return d
        if name is not None:
            msg = f"tuning job {self.name!r} has no training job definition {name!r}"
            raise KeyError(msg)
        return DefinitionSpec(
            name=None,
            objective=self.objective,
            space=self.space,
            algorithm=self.algorithm,
            static_hyperparameters=self.static_hyperparameters,
            channels=self.channels,
            definition=self.request.get("TrainingJobDefinition") or {},
            trial_max_runtime_s=self.trial_max_runtime_s,
            max_retry_attempts=self.max_retry_attempts,
            environment=self.environment,
            hyperband=self.hyperband,
            train_fn=self.train_fn,
            script=self.script,
        )


def script_of(
    request: Mapping[str, Any], objective: str, base_dir: Path | None = None
) -> dict[str, Any] | None:
    """The script-mode description of a request whose image is a framework image, else None.

    A relative source directory is taken against ``base_dir`` (the spec file's folder), else
    the working directory.
    """
    from tuner.script.frameworks import script_description

    definition = request.get("TrainingJobDefinition") or {}
    algo_spec = definition.get("AlgorithmSpecification") or {}
    image = algo_spec.get("TrainingImage")
    if not isinstance(image, str):
        return None
    static = definition.get("StaticHyperParameters") or {}
    script = script_description(
        image, static, algo_spec.get("MetricDefinitions"), objective, base_dir
    )
    if script is not None:
        resources = definition.get("ResourceConfig") or definition.get(
            "HyperParameterTuningResourceConfig"
        )
        instance_type = resources.get("InstanceType") if isinstance(resources, dict) else None
        script["instance_type"] = instance_type or "local"
    return script
