"""Shared fixtures: a real SQLite file per test, and scikit-learn data written as CSV channels."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests" / "helpers"))  # shared test helpers (algorithm_context)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tuner.db'}"


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """breast_cancer and diabetes as train/validation CSVs (label first, no header)."""
    from make_datasets import make_datasets

    return make_datasets(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def ray_session():
    """A real local Ray for the whole session (2 CPUs, no dashboard), shut down at the end."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
