"""The TrainingContext the algorithm unit tests train with: it records reports in memory.

Shared by every ``tests/algorithms`` module (the engine's own context is tested through real
pools in ``tests/tuner``). ``stop_after`` makes ``should_stop()`` turn true after that many
reports, as the engine does when it stops a trial.
"""

from __future__ import annotations

from pathlib import Path


class FakeContext:
    """A TrainingContext that records reports and asks to stop after ``stop_after`` reports."""

    def __init__(
        self, output_dir: Path, stop_after: int | None = None, device: str = "cpu"
    ) -> None:
        self.device = device
        self.output_dir = output_dir
        self.stop_after = stop_after
        self.reports: list[tuple[int, dict[str, float]]] = []

    def report(self, epoch: int, **metrics: float) -> None:
        self.reports.append((epoch, metrics))

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.reports) >= self.stop_after

    @property
    def epochs(self) -> list[int]:
        return [epoch for epoch, _ in self.reports]

    def last(self, metric: str) -> float:
        return self.reports[-1][1][metric]
