"""Which TrainingImages are SageMaker framework images, and what a trial of one runs.

A framework image is recognised by its repository name, the part of the URI between the last
``/`` and the tag (``pytorch-training`` in
``763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:1.13.1-cpu-py39``), so any
region, account, version or a bare name works. The XGBoost
image is both a built-in algorithm and a framework: it runs the user's script only when
``sagemaker_program`` is set (the SDK's ``XGBoost`` estimator, "framework mode"), as the
container itself decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuner.script.source import PROGRAM, SUBMIT_DIR, decode_value

#: Repository name -> framework, for the images of the SageMaker SDK's framework estimators.
FRAMEWORK_REPOSITORIES = {
    "pytorch-training": "pytorch",
    "sagemaker-pytorch": "pytorch",
    "tensorflow-training": "tensorflow",
    "sagemaker-tensorflow": "tensorflow",
    "sagemaker-tensorflow-scriptmode": "tensorflow",
    "sagemaker-scikit-learn": "sklearn",
    "mxnet-training": "mxnet",
    "sagemaker-mxnet": "mxnet",
    "sagemaker-chainer": "chainer",
    "sagemaker-xgboost": "xgboost",
}
#: Repository-name prefixes of whole families (huggingface-pytorch-training, -trcomp-, ...).
FRAMEWORK_PREFIXES = {"huggingface-": "huggingface"}
#: The one framework image that is also a built-in algorithm (framework mode needs a program).
BUILT_IN_TOO = frozenset({"xgboost"})
#: The Python API's ``framework=`` names -> an image repository of that framework.
FRAMEWORK_IMAGES = {
    "pytorch": "pytorch-training",
    "tensorflow": "tensorflow-training",
    "sklearn": "sagemaker-scikit-learn",
    "scikit-learn": "sagemaker-scikit-learn",
    "xgboost": "sagemaker-xgboost",
    "huggingface": "huggingface-pytorch-training",
    "mxnet": "mxnet-training",
    "chainer": "sagemaker-chainer",
}


def repository_name(image: str) -> str:
    """``registry/path/repo:tag@digest`` -> ``repo``."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0].lower()


def framework_family(image: str) -> str | None:
    """The framework an image belongs to, whether or not it would run a script."""
    repo = repository_name(image)
    if repo in FRAMEWORK_REPOSITORIES:
        return FRAMEWORK_REPOSITORIES[repo]
    for prefix, framework in FRAMEWORK_PREFIXES.items():
        if repo.startswith(prefix):
            return framework
    return None


def framework_of(image: str, static: Mapping[str, Any]) -> str | None:
    """The framework whose script mode ``image`` runs with these static values, else None.

    None for images that are not framework images and for the XGBoost image without
    ``sagemaker_program`` (then it is the built-in algorithm).
    """
    framework = framework_family(image)
    if framework in BUILT_IN_TOO and PROGRAM not in static:
        return None
    return framework


def script_description(
    image: str,
    static: Mapping[str, Any],
    metric_definitions: Sequence[Mapping[str, Any]] | None,
    objective: str,
    base_dir: Path | None = None,
) -> dict[str, Any] | None:
    """What every trial of a script-mode job needs (plain data: it is shipped to workers).

    The submit directory is resolved as validation resolved it; None when ``image`` is not a
    framework image in script mode.
    """
    from tuner.script.source import resolve_submit_directory

    framework = framework_of(image, static)
    if framework is None:
        return None
    source = resolve_submit_directory(decode_value(static.get(SUBMIT_DIR, "")), base_dir)
    return {
        "framework": framework,
        "image": image,
        "entry_point": str(decode_value(static.get(PROGRAM, ""))),
        "source": str(source) if source is not None else "",
        "metric_definitions": [
            {"Name": str(m["Name"]), "Regex": str(m["Regex"])}
            for m in metric_definitions or []
            if isinstance(m, Mapping) and "Name" in m and "Regex" in m
        ],
        "objective": objective,
    }


def script_reference(algorithm: object, framework: str | None, entry_point: str | None) -> str:
    """The TrainingImage of a Python API tuner given ``entry_point`` (and maybe an image URI).

    ``algorithm`` may be a framework image URI; otherwise ``framework`` (default ``pytorch``)
    names one. Raises TypeError or ValueError for what cannot be script mode.
    """
    if entry_point is None:
        if algorithm is None:
            msg = "give an algorithm (a built-in name or a callable) or an entry_point script"
            raise TypeError(msg)
        msg = "framework= and source_dir= go with entry_point="
        raise TypeError(msg)
    if algorithm is not None and not isinstance(algorithm, str):
        msg = "entry_point runs a script; it cannot be combined with a callable algorithm"
        raise TypeError(msg)
    if isinstance(algorithm, str):
        return algorithm  # an image URI, checked by validation like a spec file's
    name = (framework or "pytorch").lower()
    if name not in FRAMEWORK_IMAGES:
        known = ", ".join(sorted(FRAMEWORK_IMAGES))
        msg = f"framework must be one of {known}, got {framework!r}"
        raise ValueError(msg)
    return FRAMEWORK_IMAGES[name]


def script_hyperparameters(entry_point: str, source_dir: object) -> dict[str, str]:
    """The ``sagemaker_*`` values the SDK's framework estimators add, JSON-encoded as it does."""
    import json
    from pathlib import Path

    source = str(source_dir) if source_dir is not None else "."
    if "://" not in source:
        source = str(Path(source).expanduser().resolve())
    return {
        PROGRAM: json.dumps(entry_point),
        SUBMIT_DIR: json.dumps(source),
        "sagemaker_container_log_level": "20",
    }
