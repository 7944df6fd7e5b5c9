"""Script mode: a SageMaker framework image runs the user's entry point with this Python.

A ``TrainingImage`` naming a framework container (PyTorch, TensorFlow, scikit-learn, XGBoost in
framework mode, Hugging Face, MXNet) means "run ``sagemaker_program`` from
``sagemaker_submit_directory``", as the SageMaker training toolkit does inside those images.
Here there is no container: each training job runs the script as a subprocess of this
environment's Python, in a SageMaker-style folder of its own, with the toolkit's environment
variables and command-line arguments, and its stdout/stderr matched against the
``MetricDefinitions``. One module per job:

* :mod:`tuner.script.frameworks`: which images are framework images, the script's description.
* :mod:`tuner.script.source`: ``sagemaker_*`` values, the source directory or tar.gz, its copy.
* :mod:`tuner.script.layout`: the training job's folder and the toolkit's environment.
* :mod:`tuner.script.metrics`: MetricDefinitions regexes over the output stream.
* :mod:`tuner.script.runner`: the subprocess, its process group, and the reports it makes.
"""

from __future__ import annotations

from tuner.script.frameworks import framework_of, script_description
from tuner.script.source import prepare_job

__all__ = ["framework_of", "prepare_job", "script_description"]
