"""The pool contract, run on both real pools: LocalPool (worker subprocesses) and RayPool (actors
on a real local Ray). Every test takes the ``make_pool`` fixture, parametrised over both.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import cloudpickle
import pytest

from strategies import TrialStatus
from tuner.pools import Finished, LocalPool, Report, Started, TrialSpec


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def make_pool(request):
    """A factory ``make_pool(n, fresh=False)`` of the pool under test."""
    if request.param == "local":
        return lambda n, fresh=False: LocalPool(n, fresh_worker_per_trial=fresh)
    ray_session = request.getfixturevalue("ray_session")
    from tuner.pools.ray_pool import RayPool

    assert ray_session.is_initialized()
    return lambda n, fresh=False: RayPool(n, warm=not fresh)


def _spec(tmp_path: Path, number: int, fn, **hp) -> TrialSpec:
    blob = cloudpickle.dumps(fn)
    return TrialSpec(
        job_name="job",
        number=number,
        attempt=1,
        training_job_name=f"job-{number}",
        hyperparameters=hp,
        channels={},
        output_dir=str(tmp_path / f"t{number}"),
        callable_key=hashlib.sha1(blob).hexdigest(),
        callable_blob=blob,
    )


def _drain(pool: LocalPool, until_finished: int, timeout_s: float = 30.0) -> list:
    events, finished = [], 0
    deadline = time.monotonic() + timeout_s
    while finished < until_finished and time.monotonic() < deadline:
        for event in pool.poll(0.5):
            events.append(event)
            finished += isinstance(event, Finished)
    return events


def counting(hp, ctx):
    for epoch in range(1, hp["epochs"] + 1):
        ctx.report(epoch, loss=1.0 / epoch)
    print("done training")


def failing(hp, ctx):
    ctx.report(1, loss=1.0)
    raise RuntimeError("bad things")


def sleeping(hp, ctx):
    ctx.report(1, loss=1.0)
    time.sleep(60)


def reporting_slowly(hp, ctx):
    for epoch in range(1, 1000):
        ctx.report(epoch, loss=1.0)
        time.sleep(0.05)


def sleeping_with_pid(hp, ctx):
    ctx.report(1, pid=float(os.getpid()))
    time.sleep(60)


def pid_of_worker(hp, ctx):
    ctx.report(1, pid=float(os.getpid()))


def test_reports_stream_in_order_then_finish(tmp_path: Path, make_pool) -> None:
    with make_pool(2) as pool:
        pool.submit(_spec(tmp_path, 1, counting, epochs=5))
        events = _drain(pool, 1)
    kinds = [type(e) for e in events]
    assert kinds[0] is Started and kinds[-1] is Finished
    assert [e.epoch for e in events if isinstance(e, Report)] == [1, 2, 3, 4, 5]
    assert events[-1].status is TrialStatus.COMPLETED
    assert "done training" in (tmp_path / "t1" / "training-job.log").read_text()


def test_failure_becomes_an_event_with_the_error(tmp_path: Path, make_pool) -> None:
    with make_pool(1) as pool:
        pool.submit(_spec(tmp_path, 1, failing))
        finished = _drain(pool, 1)[-1]
    assert finished.status is TrialStatus.FAILED
    assert "RuntimeError: bad things" in finished.error and finished.retryable
    assert "Traceback" in (tmp_path / "t1" / "training-job.log").read_text()


def test_free_slots_and_parallelism(tmp_path: Path, make_pool) -> None:
    with make_pool(2) as pool:
        assert pool.free_slots == 2
        pool.submit(_spec(tmp_path, 1, counting, epochs=1))
        pool.submit(_spec(tmp_path, 2, counting, epochs=1))
        assert pool.free_slots == 0
        with pytest.raises(RuntimeError, match="no free slot"):
            pool.submit(_spec(tmp_path, 3, counting, epochs=1))
        _drain(pool, 2)
        assert pool.free_slots == 2


@pytest.mark.parametrize("fn", [reporting_slowly, sleeping])
def test_stop_ends_a_trial_within_a_second(tmp_path: Path, fn, make_pool) -> None:
    with make_pool(1) as pool:
        pool.submit(_spec(tmp_path, 1, fn))
        while not any(isinstance(e, Report) for e in pool.poll(1.0)):
            pass
        asked = time.monotonic()
        pool.stop(1)
        pool.stop(1)  # idempotent
        events = _drain(pool, 1, timeout_s=5)
        took = time.monotonic() - asked
    assert events[-1].status is TrialStatus.STOPPED
    assert took < 1.0


def test_workers_are_reused_unless_fresh(tmp_path: Path, make_pool) -> None:
    def pids(pool: LocalPool) -> set[float]:
        seen = set()
        for n in (1, 2, 3):
            pool.submit(_spec(tmp_path, n, pid_of_worker))
            seen |= {e.metrics["pid"] for e in _drain(pool, 1) if isinstance(e, Report)}
        return seen

    with make_pool(1) as pool:
        assert len(pids(pool)) == 1
    with make_pool(1, fresh=True) as pool:
        assert len(pids(pool)) == 3


def test_a_killed_worker_fails_its_trial_and_is_replaced(tmp_path: Path, make_pool) -> None:
    with make_pool(1) as pool:
        pool.submit(_spec(tmp_path, 1, sleeping_with_pid))
        pid = None
        while pid is None:
            for event in pool.poll(1.0):
                if isinstance(event, Report):
                    pid = int(event.metrics["pid"])
        os.kill(pid, signal.SIGKILL)
        finished = _drain(pool, 1)[-1]
        assert finished.status is TrialStatus.FAILED
        assert finished.retryable
        assert "killed by SIGKILL" in finished.error or "actor died" in finished.error
        pool.submit(_spec(tmp_path, 2, counting, epochs=2))
        assert _drain(pool, 1)[-1].status is TrialStatus.COMPLETED
