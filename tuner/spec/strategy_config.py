"""StrategyConfig and HyperbandStrategyConfig for the Python API, as in the SageMaker SDK.

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
