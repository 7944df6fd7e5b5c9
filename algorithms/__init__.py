"""The built-in training algorithms, by AMT's names, and the contract they follow.

Never imports ``tuner`` or ``strategies``. Algorithms are loaded lazily by name so that importing
this package does not import xgboost or torch.
"""

from __future__ import annotations

import importlib
import re

from algorithms.base import (
    Algorithm,
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    StopTraining,
    TrainingContext,
    parse_hyperparameters,
)

#: Built-in algorithm name -> "module:attribute" of its Algorithm instance.
BUILTIN_ALGORITHMS: dict[str, str] = {
    "xgboost": "algorithms.xgboost:ALGORITHM",
    "linear-learner": "algorithms.linear_learner:ALGORITHM",
    "factorization-machines": "algorithms.factorization_machines:ALGORITHM",
    "knn": "algorithms.knn:ALGORITHM",
    "kmeans": "algorithms.kmeans:ALGORITHM",
    "pca": "algorithms.pca:ALGORITHM",
    "lda": "algorithms.lda:ALGORITHM",
    "ntm": "algorithms.ntm:ALGORITHM",
    "image-classification": "algorithms.image_classification:ALGORITHM",
    "random-cut-forest": "algorithms.random_cut_forest:ALGORITHM",
    "ip-insights": "algorithms.ip_insights:ALGORITHM",
    "object-detection": "algorithms.object_detection:ALGORITHM",
    "blazingtext": "algorithms.blazingtext:ALGORITHM",
    "deepar": "algorithms.deepar:ALGORITHM",
    "object2vec": "algorithms.object2vec:ALGORITHM",
    "semantic-segmentation": "algorithms.semantic_segmentation:ALGORITHM",
    "seq2seq": "algorithms.seq2seq:ALGORITHM",
}

# SageMaker image repositories (…/sagemaker-xgboost:1.7-1, …/linear-learner:1) -> our name, so a
# request with a real TrainingImage URI runs unchanged.
_IMAGE_ALIASES: dict[str, str] = {
    "sagemaker-xgboost": "xgboost",
    "xgboost": "xgboost",
    "linear-learner": "linear-learner",
    "factorization-machines": "factorization-machines",
    "knn": "knn",
    "kmeans": "kmeans",
    "pca": "pca",
    "lda": "lda",
    "ntm": "ntm",
    "image-classification": "image-classification",
    "randomcutforest": "random-cut-forest",
    "ipinsights": "ip-insights",
    "ip-insights": "ip-insights",
    "object-detection": "object-detection",
    "blazingtext": "blazingtext",
    "forecasting-deepar": "deepar",
    "deepar": "deepar",
    "object2vec": "object2vec",
    "semantic-segmentation": "semantic-segmentation",
    "seq2seq": "seq2seq",
}


def available_algorithms() -> list[str]:
    """Names of the built-in algorithms that this installation can train."""
    return sorted(BUILTIN_ALGORITHMS)


def resolve_algorithm_name(name_or_image: str) -> str | None:
    """Our built-in name for an algorithm name or a SageMaker image URI, or None if unknown.

    Accepts ``xgboost``, ``XGBoost``, ``linear_learner`` and image URIs such as
    ``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1``.
    """
    text = name_or_image.strip()
    repo = text.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0].lower()
    candidate = _IMAGE_ALIASES.get(repo, repo.replace("_", "-"))
    candidate = re.sub(r"\s+", "-", candidate)
    return candidate if candidate in BUILTIN_ALGORITHMS else None


def get_algorithm(name: str) -> Algorithm:
    """The built-in algorithm called ``name`` (or named by an image URI); KeyError if none."""
    resolved = resolve_algorithm_name(name)
    if resolved is None:
        msg = (
            f"unknown algorithm {name!r}; built-in algorithms: {', '.join(available_algorithms())}"
        )
        raise KeyError(msg)
    module_name, attribute = BUILTIN_ALGORITHMS[resolved].split(":")
    algorithm: Algorithm = getattr(importlib.import_module(module_name), attribute)
    return algorithm


__all__ = [
    "BUILTIN_ALGORITHMS",
    "Algorithm",
    "Direction",
    "HyperparameterError",
    "HyperparameterSpec",
    "InputError",
    "StopTraining",
    "TrainingContext",
    "available_algorithms",
    "get_algorithm",
    "parse_hyperparameters",
    "resolve_algorithm_name",
]
