"""Running a tuning job through the real ``tuner`` CLI in a subprocess, as a user would.

The algorithm tests end with one such run: the request file goes through ``tuner run`` and the
job comes back through ``tuner describe --json``, so spec validation, the coordinator, the
local pool and the AWS-shaped response are all exercised with the algorithm.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = (sys.executable, "-m", "tuner.cli")


def run_and_describe(spec: dict[str, Any], tmp_path: Path, *, timeout: float = 300) -> dict:
    """Run ``spec`` with ``tuner run`` in ``tmp_path`` and return its ``describe --json``."""
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    db = str(tmp_path / "t.db")
    run = subprocess.run(
        [*CLI, "run", str(path), "--db", db, "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr
    described = subprocess.run(
        [*CLI, "describe", spec["HyperParameterTuningJobName"], "--db", db, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(described.stdout)
