"""A training job's SageMaker folder (``/opt/ml``) and the training toolkit's environment.

The folder is the training job's output folder, laid out as SageMaker lays out ``/opt/ml``:
``input/config/{hyperparameters,resourceconfig,inputdataconfig}.json``, ``input/data/CHANNEL``
(symbolic links to the channel's data, never copies), ``model/``, ``output/data/``,
``output/intermediate/`` and ``code/`` (the copy of the source the script runs in). The
environment is what ``sagemaker_training.environment.Environment.to_env_vars()`` exports
(``SM_HPS``, ``SM_HP_<NAME>``, ``SM_CHANNEL_<NAME>``, ``SM_TRAINING_ENV``, ...), with the same
names, the same decoding of the hyperparameters (JSON, else the string) and the same encoding
of the values (strings as they are, everything else as compact sorted JSON), so a script
written for the SageMaker containers reads what it expects. The command-line arguments are
the toolkit's ``to_cmd_args``: sorted by name, ``--name value`` (``-n value`` for one letter).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.script.source import PROGRAM, SUBMIT_DIR, decode_value

HOST = "algo-1"
INSTANCE_GROUP = "homogeneousCluster"
#: The toolkit's ``params.SAGEMAKER_HYPERPARAMETERS``: its own, never the script's.
SAGEMAKER_HYPERPARAMETERS = frozenset(
    {
        PROGRAM,
        SUBMIT_DIR,
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "default_user_module_name",
        "_tuning_objective_metric",
        "sagemaker_s3_output",
    }
)
SAGEMAKER_PREFIX = "sagemaker_"
DEFAULT_LOG_LEVEL = 20  # logging.INFO, the toolkit's default


@dataclass(frozen=True)
class TrainingFolder:
    """Paths of one training job's ``/opt/ml``."""

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def data_dir(self) -> Path:
        return self.input_dir / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def intermediate_dir(self) -> Path:
        return self.output_dir / "intermediate"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"


def split_hyperparameters(
    hyperparameters: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the script's, the platform's) hyperparameters, decoded as the toolkit decodes them."""
    decoded = {k: decode_value(v) for k, v in hyperparameters.items()}
    platform = {
        k: v
        for k, v in decoded.items()
        if k in SAGEMAKER_HYPERPARAMETERS or k.startswith(SAGEMAKER_PREFIX)
    }
    user = {k: v for k, v in decoded.items() if k not in platform}
    return user, platform


def _env_value(value: Any) -> str:
    """``mapping.to_env_vars``'s value encoding."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def command_args(user_hyperparameters: Mapping[str, Any]) -> list[str]:
    """``mapping.to_cmd_args``: ``--name value`` sorted by name, values as ``str()``."""
    args: list[str] = []
    for name in sorted(user_hyperparameters):
        value = user_hyperparameters[name]
        if isinstance(value, Mapping):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        args += [f"--{name}" if len(name) > 1 else f"-{name}", "" if value is None else str(value)]
    return args


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    link.symlink_to(target)


def lay_out(
    folder: TrainingFolder,
    hyperparameters: Mapping[str, Any],
    channels: Mapping[str, Path],
    resource_config: Mapping[str, Any],
) -> None:
    """Write the config files and link the channels (again, for a retried attempt)."""
    for path in (folder.config_dir, folder.data_dir, folder.model_dir, folder.output_data_dir):
        path.mkdir(parents=True, exist_ok=True)
    folder.intermediate_dir.mkdir(exist_ok=True)
    # SageMaker writes the request's strings as they are: JSON-encoded for what the SDK added.
    as_written = {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in hyperparameters.items()
    }
    (folder.config_dir / "hyperparameters.json").write_text(json.dumps(as_written, indent=2))
    (folder.config_dir / "resourceconfig.json").write_text(json.dumps(resource_config, indent=2))
    (folder.config_dir / "inputdataconfig.json").write_text(
        json.dumps(input_data_config(channels), indent=2)
    )
    for name, path in channels.items():
        link = folder.data_dir / name
        if path.is_dir():
            if link.is_dir() and not link.is_symlink():
                for child in link.iterdir():
                    child.unlink()
                link.rmdir()
            _link(path.resolve(), link)
        else:  # a one-file channel: a folder holding a link to the file, as SageMaker has it
            if link.is_symlink():
                link.unlink()
            link.mkdir(exist_ok=True)
            _link(path.resolve(), link / path.name)


def input_data_config(channels: Mapping[str, Path]) -> dict[str, Any]:
    return {
        name: {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        for name in channels
    }


def resource_config(instance_type: str) -> dict[str, Any]:
    """``resourceconfig.json`` of a one-instance training job."""
    return {
        "current_host": HOST,
        "current_instance_type": instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": [HOST],
        "instance_groups": [
            {
                "instance_group_name": INSTANCE_GROUP,
                "instance_type": instance_type,
                "hosts": [HOST],
            }
        ],
        "network_interface_name": "eth0",
    }


def training_env(
    folder: TrainingFolder,
    hyperparameters: Mapping[str, Any],
    channels: Mapping[str, Path],
    resources: Mapping[str, Any],
    *,
    job_name: str,
    module_dir: str,
    num_gpus: int,
) -> dict[str, Any]:
    """The toolkit's ``Environment`` as a dict (``SM_TRAINING_ENV``'s content)."""
    user, platform = split_hyperparameters(hyperparameters)
    entry_point = str(platform.get(PROGRAM, ""))
    instance_type = str(resources.get("current_instance_type", "local"))
    log_level = platform.get("sagemaker_container_log_level", DEFAULT_LOG_LEVEL)
    channel_dirs = {name: str(folder.data_dir / name) for name in sorted(channels)}
    return {
        "additional_framework_parameters": {
            k: v for k, v in platform.items() if k not in SAGEMAKER_HYPERPARAMETERS
        },
        "channel_input_dirs": channel_dirs,
        "current_host": HOST,
        "current_instance_group": INSTANCE_GROUP,
        "current_instance_group_hosts": [HOST],
        "current_instance_type": instance_type,
        "distribution_hosts": [],
        "distribution_instance_groups": [],
        "framework_module": None,
        "hosts": [HOST],
        "hyperparameters": user,
        "input_config_dir": str(folder.config_dir),
        "input_data_config": input_data_config(channels),
        "input_dir": str(folder.input_dir),
        "instance_groups": [INSTANCE_GROUP],
        "instance_groups_dict": {
            INSTANCE_GROUP: {
                "instance_group_name": INSTANCE_GROUP,
                "instance_type": instance_type,
                "hosts": [HOST],
            }
        },
        "is_hetero": False,
        "is_master": True,
        "is_modelparallel_enabled": None,
        "job_name": job_name,
        "log_level": log_level,
        "master_hostname": HOST,
        "model_dir": str(folder.model_dir),
        "module_dir": module_dir,
        "module_name": entry_point[:-3] if entry_point.endswith(".py") else entry_point,
        "network_interface_name": "eth0",
        "num_cpus": os.cpu_count() or 1,
        "num_gpus": num_gpus,
        "num_neurons": 0,
        "output_data_dir": str(folder.output_data_dir),
        "output_dir": str(folder.output_dir),
        "output_intermediate_dir": str(folder.intermediate_dir),
        "resource_config": dict(resources),
        "user_entry_point": entry_point,
    }


def environment_variables(env: Mapping[str, Any], platform: Mapping[str, Any]) -> dict[str, str]:
    """``Environment.to_env_vars()``: the ``SM_*`` variables of a training environment.

    ``platform`` are the decoded ``sagemaker_*`` hyperparameters, for the few variables the
    toolkit sets from them.
    """
    exported: dict[str, Any] = {
        "hosts": env["hosts"],
        "network_interface_name": env["network_interface_name"],
        "hps": env["hyperparameters"],
        "user_entry_point": env["user_entry_point"],
        "framework_params": env["additional_framework_parameters"],
        "resource_config": env["resource_config"],
        "input_data_config": env["input_data_config"],
        "output_data_dir": env["output_data_dir"],
        "channels": sorted(env["channel_input_dirs"]),
        "current_host": env["current_host"],
        "current_instance_type": env["current_instance_type"],
        "current_instance_group": env["current_instance_group"],
        "current_instance_group_hosts": env["current_instance_group_hosts"],
        "instance_groups": env["instance_groups"],
        "instance_groups_dict": env["instance_groups_dict"],
        "distribution_instance_groups": env["distribution_instance_groups"],
        "is_hetero": env["is_hetero"],
        "module_name": env["module_name"],
        "log_level": env["log_level"],
        "framework_module": env["framework_module"],
        "input_dir": env["input_dir"],
        "input_config_dir": env["input_config_dir"],
        "output_dir": env["output_dir"],
        "num_cpus": env["num_cpus"],
        "num_gpus": env["num_gpus"],
        "num_neurons": env["num_neurons"],
        "model_dir": env["model_dir"],
        "module_dir": env["module_dir"],
        "training_env": dict(env),
        "user_args": command_args(env["hyperparameters"]),
        "output_intermediate_dir": env["output_intermediate_dir"],
    }
    for name, path in env["channel_input_dirs"].items():
        exported[f"channel_{name}"] = path
    for name, value in env["hyperparameters"].items():
        exported[f"hp_{name}"] = value
    variables = {f"SM_{k.upper()}": _env_value(v) for k, v in exported.items()}
    # What the toolkit itself sets in os.environ while it builds the environment.
    variables["SAGEMAKER_JOB_NAME"] = str(platform.get("sagemaker_job_name", env["job_name"]))
    variables["TRAINING_JOB_NAME"] = str(env["job_name"])
    variables["CURRENT_HOST"] = HOST
    variables["SAGEMAKER_REGION"] = str(platform.get("sagemaker_region", ""))
    return variables
