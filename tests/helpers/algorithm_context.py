"""The TrainingContext the algorithm unit tests train with: it records reports in memory.

Shared by every ``tests/algorithms`` module (the engine's own context is tested through real
pools in ``tests/tuner``). ``stop_after`` makes ``should_stop()`` turn true after that many
reports, as the engine does when it stops a trial.
"""

from __future__ import annotations

from pathlib import Path

from algorithms.checkpoints import CheckpointStore


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


class Crash(Exception):  # noqa: N818 - stands for a lost instance, not an error of the code
    """A training job's process dying mid-epoch (anything but StopTraining)."""


class CheckpointingContext(FakeContext):
    """A FakeContext that asks for a checkpoint every epoch, keeps it in ``checkpoints`` and
    dies (raises :class:`Crash`) at the report of epoch ``crash_at``, before it is recorded."""

    checkpoint_each_epoch = True

    def __init__(self, output_dir: Path, checkpoints: Path, crash_at: int | None = None) -> None:
        super().__init__(output_dir)
        self.store = CheckpointStore(checkpoints)
        self.crash_at = crash_at

    def save_checkpoint(self, state: object) -> None:
        self.store.save(state)

    def load_checkpoint(self) -> object | None:
        return self.store.load()

    def report(self, epoch: int, **metrics: float) -> None:
        if self.crash_at is not None and epoch >= self.crash_at:
            raise Crash(f"the instance went away at epoch {epoch}")
        super().report(epoch, **metrics)
