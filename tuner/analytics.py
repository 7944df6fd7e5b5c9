"""Compatibility: the import path the analytics were first published under.

The code lives in :mod:`tuner.reports`. ``from tuner.analytics import TuningJobAnalytics`` and
``tuner.analytics(NAME, storage)`` both keep working: importing this module makes the package
attribute ``tuner.analytics`` this module instead of the function of that name, so the module
is made callable (it calls :func:`tuner.reports.analytics.analytics`). New code imports
``tuner.reports`` or uses ``tuner.analytics(...)`` / ``tuner.TuningJobAnalytics``.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from tuner.reports.analytics import (
    LEARNING_CURVE_COLUMNS,
    AnalyticsSnapshot,
    TuningJobAnalytics,
    analytics,
)
from tuner.reports.comparable import Comparison
from tuner.reports.effects import (
    ALPHA,
    BEST_FRACTION,
    MIN_MODEL_R2,
    MIN_TRIALS,
    MODERATE_ETA_SQUARED,
    MODERATE_RHO,
    N_BOOTSTRAP,
    N_FANOVA_TREES,
    NONMONOTONE_ETA_SQUARED,
    NONMONOTONE_MARGIN,
    STRONG_ETA_SQUARED,
    STRONG_RHO,
    EffectStrength,
    ImportanceMethod,
    ParameterEffect,
    ParameterImportance,
    categorical_effect,
    importance_of,
    numeric_effect,
)
from tuner.reports.tuned_parameters import TunedParameter, tuned_parameters

__all__ = [
    "LEARNING_CURVE_COLUMNS",
    "AnalyticsSnapshot",
    "Comparison",
    "TunedParameter",
    "TuningJobAnalytics",
    "analytics",
    "tuned_parameters",
    "ALPHA",
    "BEST_FRACTION",
    "MIN_MODEL_R2",
    "MIN_TRIALS",
    "MODERATE_ETA_SQUARED",
    "MODERATE_RHO",
    "N_BOOTSTRAP",
    "N_FANOVA_TREES",
    "NONMONOTONE_ETA_SQUARED",
    "NONMONOTONE_MARGIN",
    "STRONG_ETA_SQUARED",
    "STRONG_RHO",
    "EffectStrength",
    "ImportanceMethod",
    "ParameterEffect",
    "ParameterImportance",
    "categorical_effect",
    "importance_of",
    "numeric_effect",
]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> TuningJobAnalytics:
        return analytics(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
