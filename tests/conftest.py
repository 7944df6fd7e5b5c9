"""Shared fixtures: a real SQLite file per test, and scikit-learn data written as CSV channels."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests" / "helpers"))  # shared test helpers (algorithm_context)
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))  # the benchmarks' problems and measures


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on a real Ray share one xdist worker, one after another: each starts a local Ray
    cluster (``ray_session``, or a `tuner run --executor ray`), and two at once on a 2-core
    machine would starve each other's raylets."""
    for item in items:
        if item.get_closest_marker("ray") or "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))


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


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (skipped where its binaries are missing).

    Its folder is a fresh one under the system's temporary directory, not pytest's (which
    only root may enter, and the server runs as the postgres user).
    """
    import shutil
    import tempfile

    import postgres

    why = postgres.missing()
    if why is not None:
        pytest.skip(why)
    root = Path(tempfile.mkdtemp(prefix="tuner-postgres-"))
    try:
        with postgres.running_server(root) as url:
            yield url
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import postgres

    return postgres.new_database(postgres_server)
