"""The cluster examples (examples/cluster/) are what they say: a Ray cluster-launcher config,
a KubeRay RayJob, the image they run and the script for the head node.

They cannot be launched here (no cloud, no Kubernetes), so what can go stale is checked: each
file parses, installs this package with its Ray extra, and every ``tuner`` command in them is
one our command line accepts, on a spec that loads.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tuner.cli import build_parser
from tuner.spec.loading import load_spec

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "examples" / "cluster"
#: The distribution's name in pyproject.toml (read with a pattern: tomllib needs Python 3.11).
PACKAGE = re.findall(r'^name = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[0]


def _assert_a_tuner_command(command: str, data: Path) -> None:
    """``tuner run SPEC ...``: our CLI parses it and, for ``run``, the spec loads on the data
    examples/make_datasets.py writes beside it (``data``: that data, made elsewhere)."""
    words = shlex.split(command.replace('"$TUNER_DB"', "sqlite:///x.db").replace("$HOME", "~"))
    assert words[0] == "tuner", command
    args = build_parser().parse_args(words[1:])  # SystemExit on an unknown verb or flag
    if words[1] == "run":
        folder = data.parent / "spec"  # the spec beside a data/ folder, as in examples/
        folder.mkdir(exist_ok=True)
        if not (folder / "data").exists():
            (folder / "data").symlink_to(data, target_is_directory=True)
        spec = folder / Path(args.spec).name
        shutil.copy(ROOT / args.spec, spec)
        load_spec(spec)  # InvalidSpecError if it is not valid


def test_the_cluster_launcher_config_installs_the_package_everywhere() -> None:
    config = yaml.safe_load((CLUSTER / "cluster.yaml").read_text())
    assert config["provider"]["type"]
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}, "the head runs the coordinator, not trials"
    assert "." in config["file_mounts"].values(), "the repository is copied to every node"
    installs = [c for c in config["setup_commands"] if "pip install" in c]
    assert any(re.search(rf"{PACKAGE}\[[^]]*\bray\b", c) for c in installs), installs
    assert any("--head" in c for c in config["head_start_ray_commands"])
    assert any("--address" in c for c in config["worker_start_ray_commands"])


@pytest.fixture
def data(datasets: dict[str, Path]) -> Path:
    """The folder examples/make_datasets.py fills (tests/conftest.py's ``datasets``)."""
    (folder,) = {path.parent for path in datasets.values()}
    return folder


def test_the_head_script_runs_commands_that_exist(data: Path) -> None:
    lines = (CLUSTER / "run_on_head.sh").read_text().splitlines()
    commands = [line for line in lines if line.startswith("tuner ")]
    assert any(c.startswith("tuner run ") for c in commands)
    for command in commands:
        _assert_a_tuner_command(command, data)
    scripts = [line.split()[1] for line in lines if line.startswith("python3 ")]
    assert all((ROOT / script).is_file() for script in scripts), scripts


def test_the_rayjob_runs_tuner_on_the_image_that_has_it(data: Path) -> None:
    job = yaml.safe_load((CLUSTER / "rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    _assert_a_tuner_command(spec["entrypoint"], data)
    cluster = spec["rayClusterSpec"]
    images = {
        container["image"]
        for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
        for container in group["template"]["spec"]["containers"]
    }
    assert len(images) == 1, "the head and the workers run the same image"
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    base = re.search(r"^FROM rayproject/ray:(\S+)", dockerfile, re.MULTILINE)
    assert base, "the image is Ray's own"
    assert base.group(1).startswith(cluster["rayVersion"]), "the image's Ray is the RayJob's"
    assert re.search(rf"pip install .*{PACKAGE}\[[^]]*\bray\b", dockerfile)
    assert "examples/make_datasets.py" in dockerfile, "the image holds the spec's data"
