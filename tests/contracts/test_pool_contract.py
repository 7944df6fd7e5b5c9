"""The worker-pool contract, run on every pool: LocalPool (worker subprocesses), RayPool (actors
on a real local Ray) and SimulatedPool (learning curves on simulated time).

A trial is described by a behaviour (``counting``, ``failing``, ``reporting_slowly``); each pool
fixture turns it into what that pool runs: a Python training function for the real pools, a
learning curve for the simulated one. The tests in the second half need real processes (a log
file, worker reuse, a worker killed from outside) and run on the real pools only.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from strategies import TrialStatus
from tuner.clock import SimulatedClock
from tuner.pools import Finished, LocalPool, Report, Started, TrialSpec, WorkerPool
from tuner.pools.simulated import SimulatedPool


# -- the trials, as training functions (real pools) -------------------------------------------------
def counting(hp, ctx):
    for epoch in range(1, hp["epochs"] + 1):
        ctx.report(epoch, loss=1.0 / epoch)
    print("done training")


def failing(hp, ctx):
    ctx.report(1, loss=1.0)
    raise RuntimeError("bad things")


def reporting_slowly(hp, ctx):
    for epoch in range(1, 1000):
        ctx.report(epoch, loss=1.0)
        time.sleep(0.05)


def sleeping(hp, ctx):
    ctx.report(1, loss=1.0)
    time.sleep(60)


def sleeping_with_pid(hp, ctx):
    ctx.report(1, pid=float(os.getpid()))
    time.sleep(60)


def pid_of_worker(hp, ctx):
    ctx.report(1, pid=float(os.getpid()))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (counting, failing, reporting_slowly, sleeping, sleeping_with_pid, pid_of_worker)
}


# -- the same trials, as learning curves (simulated pool) ---------------------------------------------
def learning_curve(hp: dict[str, Any]) -> Iterator[dict[str, float]]:
    behaviour = hp["behaviour"]
    if behaviour == "counting":
        yield from ({"loss": 1.0 / e} for e in range(1, hp["epochs"] + 1))
    elif behaviour == "failing":
        yield {"loss": 1.0}
        raise RuntimeError("bad things")
    else:  # reporting_slowly, sleeping: long enough to be stopped
        yield from ({"loss": 1.0} for _ in range(1, 100_000))


@dataclass
class PoolUnderTest:
    """A pool implementation and how to describe trials to it."""

    kind: str
    make: Callable[..., WorkerPool]  # make(n, fresh=False)
    tmp_path: Path

    def spec(self, number: int, behaviour: str, *, gated: bool = False, **hp: Any) -> TrialSpec:
        """The trial, waiting for a decision after each report if ``gated``."""
        blob = cloudpickle.dumps(FUNCTIONS[behaviour]) if self.kind != "simulated" else None
        return TrialSpec(
            job_name="job",
            number=number,
            attempt=1,
            training_job_name=f"job-{number}",
            hyperparameters={**hp, "behaviour": behaviour},
            channels={},
            output_dir=str(self.tmp_path / f"t{number}"),
            callable_key=hashlib.sha1(blob).hexdigest() if blob else None,
            callable_blob=blob,
            wait_for_decision=gated,
        )


def _local(tmp_path: Path) -> PoolUnderTest:
    return PoolUnderTest(
        "local", lambda n, fresh=False: LocalPool(n, fresh_worker_per_trial=fresh), tmp_path
    )


def _ray(tmp_path: Path, request: pytest.FixtureRequest) -> PoolUnderTest:
    ray_session = request.getfixturevalue("ray_session")
    from tuner.pools.ray_pool import RayPool

    assert ray_session.is_initialized()
    return PoolUnderTest("ray", lambda n, fresh=False: RayPool(n, warm=not fresh), tmp_path)


def _simulated(tmp_path: Path) -> PoolUnderTest:
    def make(n: int, fresh: bool = False) -> SimulatedPool:
        return SimulatedPool(n, learning_curve, clock=SimulatedClock(), seconds_per_epoch=0.05)

    return PoolUnderTest("simulated", make, tmp_path)


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray), "simulated"])
def pool(request: pytest.FixtureRequest, tmp_path: Path) -> PoolUnderTest:
    if request.param == "local":
        return _local(tmp_path)
    if request.param == "ray":
        return _ray(tmp_path, request)
    return _simulated(tmp_path)


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def real_pool(request: pytest.FixtureRequest, tmp_path: Path) -> PoolUnderTest:
    return _local(tmp_path) if request.param == "local" else _ray(tmp_path, request)


def _drain(pool: WorkerPool, until_finished: int, timeout_s: float = 30.0) -> list:
    events, finished = [], 0
    deadline = time.monotonic() + timeout_s
    while finished < until_finished and time.monotonic() < deadline:
        for event in pool.poll(0.5):
            events.append(event)
            finished += isinstance(event, Finished)
    return events


# -- every pool ------------------------------------------------------------------------------------
def test_reports_stream_in_order_then_exactly_one_finish(pool: PoolUnderTest) -> None:
    with pool.make(2) as p:
        p.submit(pool.spec(1, "counting", epochs=5))
        events = _drain(p, 1)
        assert p.poll(0.1) == []  # nothing after the Finished
    kinds = [type(e) for e in events]
    assert kinds[0] is Started and kinds[-1] is Finished and kinds.count(Finished) == 1
    assert [e.epoch for e in events if isinstance(e, Report)] == [1, 2, 3, 4, 5]
    assert events[-1].status is TrialStatus.COMPLETED
    assert all(e.number == 1 for e in events)


def test_a_failure_becomes_an_event_with_the_error(pool: PoolUnderTest) -> None:
    with pool.make(1) as p:
        p.submit(pool.spec(1, "failing"))
        finished = _drain(p, 1)[-1]
    assert finished.status is TrialStatus.FAILED
    assert "RuntimeError: bad things" in finished.error and finished.retryable


def test_free_slots_and_parallelism(pool: PoolUnderTest) -> None:
    with pool.make(2) as p:
        assert p.free_slots == 2
        p.submit(pool.spec(1, "counting", epochs=1))
        p.submit(pool.spec(2, "counting", epochs=1))
        assert p.free_slots == 0
        with pytest.raises(RuntimeError, match="no free slot"):
            p.submit(pool.spec(3, "counting", epochs=1))
        events = _drain(p, 2)
        assert p.free_slots == 2
    assert sorted(e.number for e in events if isinstance(e, Finished)) == [1, 2]


@pytest.mark.parametrize("behaviour", ["reporting_slowly", "sleeping"])
def test_a_stop_ends_the_trial_within_a_second(pool: PoolUnderTest, behaviour: str) -> None:
    with pool.make(1) as p:
        p.submit(pool.spec(1, behaviour))
        while not any(isinstance(e, Report) for e in p.poll(1.0)):
            pass
        asked = time.monotonic()
        p.stop(1)
        p.stop(1)  # idempotent
        events = _drain(p, 1, timeout_s=5)
        took = time.monotonic() - asked
    assert events[-1].status is TrialStatus.STOPPED
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert took < 1.0


def test_a_stop_of_an_unknown_or_finished_trial_is_ignored(pool: PoolUnderTest) -> None:
    with pool.make(1) as p:
        p.stop(99)
        p.submit(pool.spec(1, "counting", epochs=1))
        _drain(p, 1)
        p.stop(1)
        assert p.poll(0.1) == [] and p.free_slots == 1


def _reports_until_quiet(pool: WorkerPool, quiet_s: float = 0.3) -> list[int]:
    """The epochs reported from now until nothing more arrives for ``quiet_s`` after the first
    report (which may take a while: a Ray actor starting)."""
    epochs: list[int] = []
    deadline = time.monotonic() + 30
    while not epochs and time.monotonic() < deadline:
        epochs += [e.epoch for e in pool.poll(1.0) if isinstance(e, Report)]
    while events := pool.poll(quiet_s):
        epochs += [e.epoch for e in events if isinstance(e, Report)]
    return epochs


def test_a_gated_trial_waits_at_each_report_until_told_to_go_on(pool: PoolUnderTest) -> None:
    with pool.make(1) as p:
        p.submit(pool.spec(1, "counting", gated=True, epochs=3))
        assert _reports_until_quiet(p) == [1]  # it waits: epoch 2 has not started
        p.proceed(1)
        assert _reports_until_quiet(p) == [2]
        p.proceed(1)
        assert _reports_until_quiet(p) == [3]
        p.proceed(1)  # after its last report: training returns
        events = _drain(p, 1)
    assert [type(e) for e in events] == [Finished]
    assert events[0].status is TrialStatus.COMPLETED


@pytest.mark.parametrize("k", [1, 4, 50])
def test_a_gated_trial_stopped_after_report_k_never_reports_again(
    pool: PoolUnderTest, k: int
) -> None:
    """Instantaneous epochs: without the wait, a stop would arrive many epochs late."""
    with pool.make(1) as p:
        p.submit(pool.spec(1, "counting", gated=True, epochs=50))
        epochs: list[int] = []
        finished = None
        deadline = time.monotonic() + 30
        while finished is None and time.monotonic() < deadline:
            for event in p.poll(1.0):
                if isinstance(event, Report):
                    epochs.append(event.epoch)
                    (p.stop if event.epoch == k else p.proceed)(1)
                elif isinstance(event, Finished):
                    finished = event
    assert epochs == list(range(1, k + 1))
    assert finished is not None and finished.status is TrialStatus.STOPPED


# -- pools that run real processes --------------------------------------------------------------------
def test_the_trials_output_goes_to_its_log(real_pool: PoolUnderTest) -> None:
    with real_pool.make(1) as p:
        p.submit(real_pool.spec(1, "counting", epochs=2))
        _drain(p, 1)
        p.submit(real_pool.spec(2, "failing"))
        _drain(p, 1)
    assert "done training" in (real_pool.tmp_path / "t1" / "training-job.log").read_text()
    assert "Traceback" in (real_pool.tmp_path / "t2" / "training-job.log").read_text()


def test_workers_are_reused_unless_fresh(real_pool: PoolUnderTest) -> None:
    def pids(p: WorkerPool) -> set[float]:
        seen = set()
        for n in (1, 2, 3):
            p.submit(real_pool.spec(n, "pid_of_worker"))
            seen |= {e.metrics["pid"] for e in _drain(p, 1) if isinstance(e, Report)}
        return seen

    with real_pool.make(1) as p:
        assert len(pids(p)) == 1
    with real_pool.make(1, fresh=True) as p:
        assert len(pids(p)) == 3


def test_a_killed_worker_fails_its_trial_and_is_replaced(real_pool: PoolUnderTest) -> None:
    with real_pool.make(1) as p:
        p.submit(real_pool.spec(1, "sleeping_with_pid"))
        pid = None
        while pid is None:
            for event in p.poll(1.0):
                if isinstance(event, Report):
                    pid = int(event.metrics["pid"])
        os.kill(pid, signal.SIGKILL)
        finished = _drain(p, 1)[-1]
        assert finished.status is TrialStatus.FAILED
        assert finished.retryable
        assert "killed by SIGKILL" in finished.error or "actor died" in finished.error
        p.submit(real_pool.spec(2, "counting", epochs=2))
        assert _drain(p, 1)[-1].status is TrialStatus.COMPLETED
