"""Fixtures shared by the algorithm tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
