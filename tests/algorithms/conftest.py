"""Fixtures shared by the algorithm tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from algorithms.data import write_csv


@pytest.fixture
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One torch thread: the tests share two cores, where more threads only wait.

    The algorithms read ``OMP_NUM_THREADS`` when they configure torch's threads; the count in
    place before the test is restored afterwards.
    """
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Iris as SageMaker CSV (label first): 112 training rows, 38 test rows."""
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    directory = tmp_path_factory.mktemp("iris")
    channels = {"train": directory / "train.csv", "test": directory / "test.csv"}
    write_csv(channels["train"], X_train, y_train)
    write_csv(channels["test"], X_test, y_test)
    return channels


@pytest.fixture
def passed_params(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """The params dict of every xgboost.train call made during the test."""
    import xgboost

    seen: list[dict[str, object]] = []
    real_train = xgboost.train

    def spy(params: dict[str, object], *args: object, **kwargs: object) -> xgboost.Booster:
        seen.append(dict(params))
        return real_train(params, *args, **kwargs)

    monkeypatch.setattr(xgboost, "train", spy)
    return seen
