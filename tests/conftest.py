"""Shared fixtures: a real SQLite file per test, and scikit-learn data written as CSV channels."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tuner.db'}"


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """breast_cancer and diabetes as train/validation CSVs (label first, no header)."""
    from make_datasets import make_datasets

    return make_datasets(tmp_path_factory.mktemp("data"))
