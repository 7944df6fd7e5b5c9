"""The SimulatedPool on its own: exact event times, stops, failures, and the pool contract's basics.

The coordinator on simulated time is tested in test_coordinator_simulated.py.
"""

from __future__ import annotations

import pytest

from algorithms.base import InputError
from strategies import TrialStatus
from tuner.clock import SimulatedClock
from tuner.pools import Finished, Report, Started, TrialSpec
from tuner.pools.simulated import SimulatedPool


def _spec(number: int, **hp) -> TrialSpec:
    return TrialSpec(
        job_name="job",
        number=number,
        attempt=1,
        training_job_name=f"job-{number}",
        hyperparameters=hp,
        channels={},
        output_dir=f"/nonexistent/{number}",
    )


def _curve(hp):
    return [{"loss": hp["x"] / epoch} for epoch in range(1, hp.get("epochs", 3) + 1)]


def _run(pool: SimulatedPool, clock: SimulatedClock, until_finished: int) -> list:
    events, finished = [], 0
    while finished < until_finished:
        for event in pool.poll(10.0):
            events.append((clock.monotonic(), event))
            finished += isinstance(event, Finished)
    return events


def test_reports_come_one_epoch_apart_and_the_trial_completes_with_its_last() -> None:
    clock = SimulatedClock()
    pool = SimulatedPool(1, _curve, clock=clock, seconds_per_epoch=2.0, start_delay_s=1.0)
    pool.submit(_spec(1, x=6.0))
    events = _run(pool, clock, 1)
    kinds = [(t, type(e).__name__) for t, e in events]
    assert kinds == [
        (0.0, "Started"),
        (3.0, "Report"),
        (5.0, "Report"),
        (7.0, "Report"),
        (7.0, "Finished"),
    ]
    reports = [e for _, e in events if isinstance(e, Report)]
    assert [r.epoch for r in reports] == [1, 2, 3]
    assert [r.metrics["loss"] for r in reports] == [6.0, 3.0, 2.0]
    assert events[-1][1].status is TrialStatus.COMPLETED
    assert reports[0].at == pytest.approx(clock.now() - 4.0)  # wall-clock times move too


def test_trials_in_parallel_interleave_by_time() -> None:
    clock = SimulatedClock()
    pool = SimulatedPool(2, _curve, clock=clock, seconds_per_epoch=lambda hp, epoch: hp["x"])
    pool.submit(_spec(1, x=1.0))
    pool.submit(_spec(2, x=3.0))
    assert pool.free_slots == 0
    reports = [(t, e.number) for t, e in _run(pool, clock, 2) if isinstance(e, Report)]
    assert reports == [(1.0, 1), (2.0, 1), (3.0, 1), (3.0, 2), (6.0, 2), (9.0, 2)]
    assert pool.free_slots == 2


def test_poll_never_moves_the_clock_past_its_timeout() -> None:
    clock = SimulatedClock()
    pool = SimulatedPool(1, _curve, clock=clock, seconds_per_epoch=5.0)
    pool.submit(_spec(1, x=1.0))
    assert [type(e) for e in pool.poll(0.5)] == [Started]
    assert pool.poll(2.0) == [] and clock.monotonic() == 2.0
    assert [type(e) for e in pool.poll(10.0)] == [Report] and clock.monotonic() == 5.0


def test_a_stop_ends_the_trial_before_its_next_report() -> None:
    clock = SimulatedClock()
    pool = SimulatedPool(1, _curve, clock=clock)
    pool.submit(_spec(1, x=1.0, epochs=10))
    events = []
    while not any(isinstance(e, Report) for e in events):
        events += pool.poll(10.0)
    pool.stop(1)
    pool.stop(1)  # idempotent
    (finished,) = pool.poll(10.0)
    assert isinstance(finished, Finished) and finished.status is TrialStatus.STOPPED
    assert clock.monotonic() == 1.0
    assert pool.free_slots == 1


def test_a_stop_delay_lets_the_trial_run_on_for_a_while() -> None:
    clock = SimulatedClock()
    pool = SimulatedPool(1, _curve, clock=clock, stop_delay_s=2.5)
    pool.submit(_spec(1, x=1.0, epochs=10))
    pool.poll(0.0)  # Started
    pool.stop(1)
    events = _run(pool, clock, 1)
    assert [e.epoch for _, e in events if isinstance(e, Report)] == [1, 2]
    assert events[-1] == (2.5, events[-1][1]) and events[-1][1].status is TrialStatus.STOPPED


def _broken_at_epoch_two(hp):
    yield {"loss": 1.0}
    raise RuntimeError("diverged")


def _bad_input(hp):
    raise InputError("channel 'train' row 3: not a number")


@pytest.mark.parametrize(
    ("curve", "n_reports", "error", "retryable"),
    [
        (_broken_at_epoch_two, 1, "AlgorithmError: RuntimeError: diverged", True),
        (_bad_input, 0, "ClientError: channel 'train' row 3: not a number", False),
    ],
)
def test_an_exception_fails_the_trial_like_real_training(
    curve, n_reports, error, retryable
) -> None:
    clock = SimulatedClock()
    pool = SimulatedPool(1, curve, clock=clock)
    pool.submit(_spec(1))
    events = [e for _, e in _run(pool, clock, 1)]
    assert sum(isinstance(e, Report) for e in events) == n_reports
    last = events[-1]
    assert isinstance(last, Finished) and last.status is TrialStatus.FAILED
    assert last.retryable is retryable
    # The reason, then (for an error of the training code) where it happened.
    assert last.error == error or last.error.startswith(f"{error} (at "), last.error
    if retryable:
        assert "in _broken_at_epoch_two" in last.error


def test_a_curve_without_epochs_completes_without_reports() -> None:
    clock = SimulatedClock()
    pool = SimulatedPool(1, lambda hp: [], clock=clock)
    pool.submit(_spec(1))
    events = [e for _, e in _run(pool, clock, 1)]
    assert [type(e) for e in events] == [Started, Finished]
    assert events[-1].status is TrialStatus.COMPLETED


def test_submit_without_a_free_slot_is_refused() -> None:
    pool = SimulatedPool(1, _curve, clock=SimulatedClock())
    pool.submit(_spec(1, x=1.0))
    with pytest.raises(RuntimeError, match="no free slot"):
        pool.submit(_spec(2, x=1.0))


def test_the_clock_never_goes_back() -> None:
    clock = SimulatedClock(start=100.0)
    clock.advance(2.0)
    clock.advance_to(1.0)
    assert (clock.monotonic(), clock.now()) == (2.0, 102.0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1.0)
