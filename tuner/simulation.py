"""Run a whole tuning job on simulated time: the real coordinator, strategy and storage, with
training replaced by a learning curve (see :mod:`tuner.pools.simulated`).

::

    from tuner import HyperparameterTuner, ContinuousParameter
    from tuner.simulation import simulate

    def curve(hp):                                  # one metrics dict per epoch
        return [{"loss": hp["x"] ** 2 + 1 / epoch} for epoch in range(1, 28)]

    tuner = HyperparameterTuner(curve, "loss", {"x": ContinuousParameter(-1, 1)},
                                objective_type="Minimize", strategy="Hyperband", max_jobs=1000,
                                max_parallel_jobs=8, static_hyperparameters={"epochs": 27})
    outcome = simulate(tuner.build_spec(job_name="sim"), curve, storage="sqlite:///sim.db")

Used by tests that need exact timing and by the early-stopping benchmarks at scale.
"""

from __future__ import annotations

from pathlib import Path

from tuner.clock import SimulatedClock
from tuner.coordinator import Coordinator, JobOutcome
from tuner.pools.simulated import EpochSeconds, LearningCurve, SimulatedPool
from tuner.spec.model import TuningJobSpec
from tuner.storage import SqlStorage
from tuner.storage.base import Storage


def simulate(
    spec: TuningJobSpec,
    learning_curve: LearningCurve,
    *,
    storage: Storage | str,
    n_workers: int | None = None,
    seconds_per_epoch: EpochSeconds = 1.0,
    start_delay_s: float = 0.0,
    stop_delay_s: float = 0.0,
    clock: SimulatedClock | None = None,
    output_root: Path | None = None,
) -> JobOutcome:
    """Run ``spec`` to its end with simulated training; returns how the job ended.

    ``n_workers`` defaults to the spec's MaxParallelTrainingJobs. Nothing is written under
    ``output_root`` (the simulated trials produce no files); it is recorded as each training
    job's output folder, as a real run would.
    """
    clock = clock or SimulatedClock()
    store = SqlStorage(storage) if isinstance(storage, str) else storage
    pool = SimulatedPool(
        n_workers or spec.max_parallel_jobs,
        learning_curve,
        clock=clock,
        seconds_per_epoch=seconds_per_epoch,
        start_delay_s=start_delay_s,
        stop_delay_s=stop_delay_s,
    )
    with pool:
        coordinator = Coordinator(
            spec, store, pool, clock=clock, output_root=output_root or Path("simulated")
        )
        return coordinator.run()
