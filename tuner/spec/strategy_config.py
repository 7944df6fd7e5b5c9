"""StrategyConfig, HyperbandStrategyConfig and TuningJobCompletionCriteriaConfig for the Python
API, as in the SageMaker SDK.

``HyperbandStrategyConfig(max_resource, min_resource)`` keeps the SDK's argument order; two
keyword arguments are ours: ``reduction_factor`` (default 3) and ``model_based`` (new
configurations from the Bayesian strategy fitted at the highest rung with enough data, instead
of random sampling; see :mod:`strategies.hyperband`).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=False)
class HyperbandStrategyConfig:
    """Hyperband's resources: a trial is never stopped before ``min_resource`` reported values
    and always stopped at ``max_resource`` (inferred from an ``epochs`` static hyperparameter
    when None)."""

    max_resource: int | None = None
    min_resource: int | None = None
    _: KW_ONLY
    reduction_factor: int | None = None
    model_based: bool = False

    def to_request(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.min_resource is not None:
            out["MinResource"] = self.min_resource
        if self.max_resource is not None:
            out["MaxResource"] = self.max_resource
        if self.reduction_factor is not None:
            out["ReductionFactor"] = self.reduction_factor
        if self.model_based:
            out["ModelBased"] = True
        return out


@dataclass(frozen=True)
class StrategyConfig:
    """AMT's StrategyConfig: settings of the chosen strategy (only Hyperband has any)."""

    hyperband_strategy_config: HyperbandStrategyConfig | None = None

    def to_request(self) -> dict[str, Any]:
        if self.hyperband_strategy_config is None:
            return {}
        return {"HyperbandStrategyConfig": self.hyperband_strategy_config.to_request()}


@dataclass(frozen=True)
class TuningJobCompletionCriteriaConfig:
    """AMT's TuningJobCompletionCriteria, as the SageMaker SDK's class of the same name builds
    it: ``complete_on_convergence`` True/False becomes ``"Enabled"``/``"Disabled"``."""

    max_number_of_training_jobs_not_improving: int | None = None
    complete_on_convergence: bool | None = None
    target_objective_metric_value: float | None = None

    def to_input_req(self) -> dict[str, Any]:
        """The request form (the SDK's method name)."""
        out: dict[str, Any] = {}
        if self.target_objective_metric_value is not None:
            out["TargetObjectiveMetricValue"] = self.target_objective_metric_value
        not_improving = self.max_number_of_training_jobs_not_improving
        if not_improving is not None:
            out["BestObjectiveNotImproving"] = {
                "MaxNumberOfTrainingJobsNotImproving": not_improving
            }
        if self.complete_on_convergence is not None:
            out["ConvergenceDetected"] = {
                "CompleteOnConvergence": "Enabled" if self.complete_on_convergence else "Disabled"
            }
        return out
