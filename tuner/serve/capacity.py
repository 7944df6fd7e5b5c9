"""Worker capacity shared fairly by the tuning jobs a server runs at once.

Each running job asks for up to its MaxParallelTrainingJobs; the server has ``slots`` training
jobs' worth of workers (``--max-parallel-training-jobs``, default the CPU count). Slots are
shared max-min fairly (water-filling): a job that asks for less than an equal share keeps what
it asked for and the rest is split among the others, each job gets at least one slot, and the
remainder of an uneven split goes to the jobs that started first. A new job's arrival shrinks
the others' shares; they give slots back as their running training jobs end (nothing is
stopped to make room), which is how a shared cluster queue behaves.

:class:`SharedPool` applies a job's share to its worker pool: ``free_slots`` is the smaller
of the pool's own and what the share leaves, so the coordinator, which only ever submits while
``free_slots > 0``, needs no change.
"""

from __future__ import annotations

import threading

from tuner.pools.base import Event, Finished, TrialSpec, WorkerPool


class Capacity:
    """The slots of the server's workers and the jobs that share them."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            msg = f"capacity must be at least one training job, got {slots}"
            raise ValueError(msg)
        self.slots = slots
        self._demands: dict[str, int] = {}  # job name -> slots asked for, in order of arrival
        self._lock = threading.Lock()

    def join(self, job: str, demand: int) -> None:
        with self._lock:
            self._demands[job] = max(1, demand)

    def leave(self, job: str) -> None:
        with self._lock:
            self._demands.pop(job, None)

    def share(self, job: str) -> int:
        """The slots ``job`` may use now (0 for a job that has not joined)."""
        with self._lock:
            return allocate(self.slots, self._demands).get(job, 0)


def allocate(slots: int, demands: dict[str, int]) -> dict[str, int]:
    """Max-min fair shares of ``slots`` for ``demands`` (each at least 1; ties by order)."""
    order = list(demands)
    given = dict.fromkeys(order, 0)
    remaining = slots
    wanting = [job for job in order if demands[job] > 0]
    while remaining > 0 and wanting:
        each, extra = divmod(remaining, len(wanting))
        if each == 0:  # fewer slots than jobs: one each to the first ones
            for job in wanting[:extra]:
                given[job] += 1
            break
        for job in wanting:
            take = min(each, demands[job] - given[job])
            given[job] += take
            remaining -= take
        wanting = [job for job in wanting if given[job] < demands[job]]
    return {job: max(1, n) for job, n in given.items()}


class SharedPool:
    """A job's worker pool limited to the job's share of the server's :class:`Capacity`."""

    def __init__(self, pool: WorkerPool, capacity: Capacity, job: str, demand: int) -> None:
        self.pool = pool
        self.capacity = capacity
        self.job = job
        self._running: set[int] = set()
        capacity.join(job, demand)

    @property
    def free_slots(self) -> int:
        left = self.capacity.share(self.job) - len(self._running)
        return max(0, min(self.pool.free_slots, left))

    def submit(self, spec: TrialSpec) -> None:
        self._running.add(spec.number)
        self.pool.submit(spec)

    def poll(self, timeout_s: float) -> list[Event]:
        events = self.pool.poll(timeout_s)
        for event in events:
            if isinstance(event, Finished):
                self._running.discard(event.number)
        return events

    def stop(self, number: int) -> None:
        self.pool.stop(number)

    def proceed(self, number: int) -> None:
        self.pool.proceed(number)

    def shutdown(self) -> None:
        self.capacity.leave(self.job)
        self.pool.shutdown()
