"""RayPool: each trial runs in a Ray actor that holds the trial's CPUs and GPUs.

The same pool interface as the LocalPool, on a local Ray started on demand (the embedded
default for one machine) or on a cluster (``address="auto"`` or ``"ray://host:10001"``).

How events travel: an actor runs the trial in a thread and appends its events (started,
reports, finished) to a buffer; the pool keeps one long-poll ``drain`` call outstanding per
running actor and waits on all of them with ``ray.wait``, so reports reach the coordinator as
they happen, in batches, with no polling loop inside the actors. The actor's ``run`` call is
watched as well: if it fails, the actor died (killed, out of memory, node lost) and the trial
ends Failed with Ray's reason, retryable.

Nodes that come and go: a trial whose node was lost ends Failed with a reason that names the
node ("Ray node 2dc7fea8 was lost"), retryable. The pool then fits itself to what is left: it
runs at most as many trials as the live cluster holds (checked after every actor death and
every :data:`CAPACITY_CHECK_S` seconds, so nodes that join later are used too, up to the
parallelism asked for), and gives back the warm actors it no longer needs, which would
otherwise hold the CPUs that a retried trial's new actor waits for.

Ray Client (``ray://`` addresses): when the connection drops, Ray's client retries for 30 s
and then gives up; the pool does not reconnect either. It raises
:class:`~tuner.errors.ExecutorLostError` naming the address, which ends the coordinator's run
with the tuning job left as it was in the database (finished training jobs kept, the running
ones to run again): ``tuner resume NAME`` continues it once the cluster is reachable.

Warm actors: like AMT's warm pools, an actor that finished a trial waits for the next trial with
the same resource shape instead of being replaced, so the interpreter, the imports and Ray's
actor start-up are paid once per slot, not once per trial (``warm=False`` gives a fresh actor
per trial).

Stopping: ``stop`` sets the trial's stop flag through a concurrent actor call (the trial ends
at its next report, or at once if it waits for the decision on its last one; ``proceed`` lets
such a trial go on); after ``stop_grace_s`` without a finished event the actor is killed.

GPUs: an actor granted GPUs trains with ``device="cuda:0"``, the first of the devices Ray made
visible to it (Ray sets ``CUDA_VISIBLE_DEVICES`` to the GPUs it assigned, physical ids recorded
in the worker name). Fractional GPUs (``num_gpus=0.5``) put two trials on one GPU.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from strategies.base import TrialStatus
from tuner.errors import ExecutorLostError, MissingDependencyError
from tuner.pools.base import Event, Finished, Report, Started, TrialSpec
from tuner.pools.stop_deadlines import StopDeadlines
from tuner.spec.resources import Resources

log = logging.getLogger(__name__)

#: How long one drain call waits inside the actor for new events before returning empty.
DRAIN_WAIT_S = 5.0
#: After the first new event, wait this long for more so events travel in batches.
DRAIN_BATCH_S = 0.002
#: "Node Id: 2dc7fea86b76..." in Ray's reason for an actor that died with its node.
_NODE_IN_REASON = re.compile(r"Node Id: ([0-9a-f]{8,})")
#: How often the pool compares its parallelism with what the live cluster holds.
CAPACITY_CHECK_S = 5.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        msg = (
            "the Ray executor needs Ray: pip install 'tuner[ray]' (or pip install 'ray[default]')"
        )
        raise MissingDependencyError(msg) from exc
    return ray


class TrialActor:
    """Runs trials one at a time; ``drain`` and ``stop`` run concurrently with ``run``."""

    def __init__(self) -> None:
        # Import the trial runner now, while the actor boots, not when the first trial starts.
        from tuner.pools.trial_runner import TrialControl

        self._events: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()
        self._control = TrialControl()
        self._waits = False  # the current trial waits for a decision after each report
        self._current: int | None = None
        self._callables: dict[str, Callable[..., Any]] = {}
        self._worker = "ray"

    def describe(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return {
            "pid": os.getpid(),
            "node": context.get_node_id(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        }

    def _emit(self, event: tuple[Any, ...]) -> None:
        if event[0] == "started":
            event = (*event, self._worker)
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def run(self, job: dict[str, Any], blob: bytes | None) -> None:
        import ray

        from tuner.pools.trial_runner import execute_trial

        if blob is not None and job["callable_key"] not in self._callables:
            self._callables[job["callable_key"]] = cloudpickle.loads(blob)
        self._control.reset()
        self._waits = bool(job.get("wait_for_decision"))
        self._current = job["number"]
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        device = "cuda:0" if gpu_ids else "cpu"
        node = ray.get_runtime_context().get_node_id()[:8]
        self._worker = f"ray:{node}:pid{os.getpid()}:{device}" + (
            f" (GPU {','.join(gpu_ids)})" if gpu_ids else ""
        )
        try:
            execute_trial(
                job, self._emit, self._control, self._callables.__getitem__, device=device
            )
        finally:
            self._current = None

    def drain(self, wait_s: float) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + wait_s
        with self._cond:
            while not self._events:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            # Wait a moment for more, unless nothing more can come: the trial ended, or it
            # waits for the decision on the report it just sent.
            last = self._events[-1][0]
            if last != "finished" and not (last == "report" and self._waits):
                self._cond.wait(DRAIN_BATCH_S)
            events, self._events = self._events, []
        return events

    def stop(self, number: int) -> None:
        if self._current == number:
            self._control.stop()

    def proceed(self, number: int) -> None:
        if self._current == number:
            self._control.proceed()


@dataclass(eq=False)
class _Slot:
    """One actor and, while it runs a trial, the outstanding calls watching it."""

    actor: Any
    name: str
    number: int | None = None
    run_ref: Any = None
    drain_ref: Any = None
    known_callables: set[str] = field(default_factory=set)
    #: The first 8 hex digits of the Ray node the actor runs on, once it has started a trial.
    node: str | None = None


class RayPool:
    """Runs up to ``n_slots`` trials at once, each in a Ray actor holding ``resources``."""

    def __init__(
        self,
        n_slots: int,
        resources: Resources | None = None,
        *,
        address: str | None = None,
        warm: bool = True,
        prestart: bool = True,
        stop_grace_s: float = 0.5,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if n_slots < 1:
            msg = f"n_slots must be >= 1, got {n_slots}"
            raise ValueError(msg)
        self.ray = _import_ray()
        self.address = address
        self.n_slots = self.requested_slots = n_slots
        self.warm = warm
        self.stop_grace_s = stop_grace_s
        self._started_ray = False
        if not self.ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            kwargs.update(init_kwargs or {})
            if address:
                kwargs["address"] = address
                kwargs.setdefault(
                    "runtime_env",
                    {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}},
                )
            self.ray.init(**kwargs)
            self._started_ray = True
        try:
            self.resources = (resources or Resources()).capped(*self.node_capacity())
        except ValueError:
            if self._started_ray:
                self.ray.shutdown()
            raise
        self.n_slots = min(n_slots, self.cluster_slots())
        if self.n_slots < n_slots:
            log.warning(
                "the cluster fits %d trials of %s CPU / %s GPU at once; running %d, not %d",
                self.n_slots,
                self.resources.num_cpus,
                self.resources.num_gpus,
                self.n_slots,
                n_slots,
            )
        self._actor_class = self.ray.remote(TrialActor).options(
            num_cpus=self.resources.num_cpus,
            num_gpus=self.resources.num_gpus,
            max_concurrency=4,
        )
        self._idle: list[_Slot] = []
        self._running: dict[int, _Slot] = {}
        self._stop_deadlines = StopDeadlines(stop_grace_s)
        self._ids = itertools.count(1)
        self._closed = False
        self._capacity_checked = time.monotonic()
        if warm and prestart:
            # Start the actors now (asynchronously): they boot while the job is being set up.
            self._idle.extend(self._new_slot() for _ in range(self.n_slots))

    def node_capacity(self) -> tuple[float, float]:
        """(CPUs, GPUs) of the largest alive node: a trial runs on one node."""
        cpus, gpus = 0.0, 0.0
        for node in self.ray.nodes():
            if node.get("Alive"):
                res = node.get("Resources", {})
                cpus = max(cpus, float(res.get("CPU", 0.0)))
                gpus = max(gpus, float(res.get("GPU", 0.0)))
        return cpus, gpus

    def cluster_slots(self) -> int:
        """How many trials of this pool's shape the cluster can hold at once (at least 1).

        Parallelism beyond that would leave actors waiting for resources that warm actors of
        finished trials hold, so it is capped instead (AMT caps by account quota the same way).
        """
        total = self.ray.cluster_resources()
        fits = (
            [int(total.get("CPU", 0.0) // self.resources.num_cpus)]
            if self.resources.num_cpus
            else []
        )
        if self.resources.num_gpus:
            fits.append(int(total.get("GPU", 0.0) // self.resources.num_gpus))
        return max(1, min(fits)) if fits else self.n_slots

    # -- pool interface ---------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        return 0 if self._closed else max(0, self.n_slots - len(self._running))

    def _fit_to_cluster(self) -> None:
        """Run as many trials as the live cluster holds (at most those asked for).

        Called after an actor died and every :data:`CAPACITY_CHECK_S`: after a node is lost,
        warm idle actors beyond the new capacity are killed, so the actors of retried trials
        get their resources; a node that joins raises the capacity again.
        """
        self._capacity_checked = time.monotonic()
        try:
            fits = min(self.requested_slots, self.cluster_slots())
        except Exception:  # the cluster is unreachable: keep the parallelism as it is
            log.debug("could not read the cluster's resources", exc_info=True)
            return
        if fits != self.n_slots:
            log.warning("the live cluster fits %d trials at once (was %d)", fits, self.n_slots)
            self.n_slots = fits
        while self._idle and len(self._idle) + len(self._running) > self.n_slots:
            self._discard(self._idle.pop())

    def _lost_node(self, node: str | None) -> str | None:
        """``node`` if Ray reports it dead (or no longer knows it), else None."""
        if node is None:
            return None
        try:
            for info in self.ray.nodes():
                if str(info.get("NodeID", "")).startswith(node):
                    return None if info.get("Alive") else node
        except Exception:  # the cluster is unreachable: Ray's own reason must do
            return None
        return node

    def _new_slot(self) -> _Slot:
        name = f"ray-actor-{next(self._ids)}"
        return _Slot(self._actor_class.remote(), name)

    def submit(self, spec: TrialSpec) -> None:
        if self.free_slots <= 0:
            msg = "submit() called with no free slot"
            raise RuntimeError(msg)
        slot = self._idle.pop() if self._idle else self._new_slot()
        blob = None
        if spec.callable_key is not None and spec.callable_key not in slot.known_callables:
            blob = spec.callable_blob
            slot.known_callables.add(spec.callable_key)
        job = spec.job_message(self.resources.memory_mb)
        slot.number = spec.number
        try:
            slot.run_ref = slot.actor.run.remote(job, blob)
            slot.drain_ref = slot.actor.drain.remote(DRAIN_WAIT_S)
        except ConnectionError as exc:
            raise self._lost_connection(exc) from exc
        self._running[spec.number] = slot

    def stop(self, number: int) -> None:
        slot = self._running.get(number)
        if slot is None or not self._stop_deadlines.request(number):
            return
        slot.actor.stop.remote(number)

    def proceed(self, number: int) -> None:
        slot = self._running.get(number)
        if slot is not None and number not in self._stop_deadlines:
            slot.actor.proceed.remote(number)

    def poll(self, timeout_s: float) -> list[Event]:
        try:
            return self._poll(timeout_s)
        except ConnectionError as exc:  # Ray Client gave up on a dropped connection
            raise self._lost_connection(exc) from exc

    def _lost_connection(self, exc: Exception) -> ExecutorLostError:
        msg = (
            f"lost the connection to the Ray cluster at {self.address or 'the local Ray'} "
            f"({exc}); the tuning job is kept as it was in the database: run "
            "`tuner resume NAME` once the cluster is reachable"
        )
        return ExecutorLostError(msg)

    def _poll(self, timeout_s: float) -> list[Event]:
        events: list[Event] = []
        refs = {}
        for slot in self._running.values():
            if slot.drain_ref is not None:  # None once a drain found the actor dead
                refs[slot.drain_ref] = ("drain", slot)
            refs[slot.run_ref] = ("run", slot)
        if refs:
            wait = self._stop_deadlines.wait_s(timeout_s)
            ready, _ = self.ray.wait(list(refs), num_returns=1, timeout=wait)
            if ready:
                ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=0)
            # Drains first, so a trial's reports come before a death noticed on its run call.
            for ref in sorted(ready, key=lambda r: refs[r][0] != "drain"):
                kind, slot = refs[ref]
                if slot.number is None or self._running.get(slot.number) is not slot:
                    continue
                if kind == "drain":
                    self._on_drain(slot, ref, events)
                else:
                    self._on_run_done(slot, ref, events)
        elif timeout_s > 0:
            time.sleep(min(timeout_s, 0.05))
        self._enforce_stop_deadlines(events)
        if time.monotonic() - self._capacity_checked > CAPACITY_CHECK_S:
            self._fit_to_cluster()
        return events

    def _on_drain(self, slot: _Slot, ref: Any, events: list[Event]) -> None:
        try:
            batch = self.ray.get(ref)
        except Exception:  # the actor died: its run call reports why
            slot.drain_ref = None
            return
        finished = False
        for message in batch:
            kind = message[0]
            if kind == "started":
                worker = message[3] if len(message) > 3 else slot.name
                if worker.startswith("ray:"):
                    slot.node = worker.split(":")[1]
                events.append(Started(message[1], worker, message[2]))
            elif kind == "report":
                _, number, epoch, metrics, at = message
                events.append(Report(number, epoch, metrics, at))
            elif kind == "finished":
                _, number, status, error, retryable, at = message
                self._finish(
                    slot, TrialStatus(status), error, retryable, at, events, reusable=True
                )
                finished = True
        if not finished and slot.number is not None:
            slot.drain_ref = slot.actor.drain.remote(DRAIN_WAIT_S)

    def _on_run_done(self, slot: _Slot, ref: Any, events: list[Event]) -> None:
        try:
            self.ray.get(ref)
        except Exception as exc:  # ActorDiedError, OutOfMemoryError, node lost ...
            number = slot.number
            assert number is not None
            self._discard(slot)
            if number in self._stop_deadlines:
                self._finish(slot, TrialStatus.STOPPED, None, False, time.time(), events)
            else:
                reason = " ".join(str(exc).split())[:600]
                # A trial killed before it started has no node yet; Ray's reason names it.
                named = _NODE_IN_REASON.search(reason)
                lost = self._lost_node(slot.node or (named.group(1)[:8] if named else None))
                where = f"Ray node {lost} was lost; " if lost else ""
                error = (
                    f"InternalServerError: {where}Ray actor died ({type(exc).__name__}): {reason}"
                )
                self._finish(slot, TrialStatus.FAILED, error, True, time.time(), events)
            self._fit_to_cluster()
            return
        # The run returned: its finished event is in the buffer; the drain call returns it.
        if slot.drain_ref is None:
            slot.drain_ref = slot.actor.drain.remote(0.0)

    def _finish(
        self,
        slot: _Slot,
        status: TrialStatus,
        error: str | None,
        retryable: bool,
        at: float,
        events: list[Event],
        *,
        reusable: bool = False,
    ) -> None:
        """Emit the trial's Finished event; a healthy actor goes back to the idle list if warm."""
        number = slot.number
        if number is None or self._running.get(number) is not slot:
            return
        del self._running[number]
        self._stop_deadlines.discard(number)
        slot.number = slot.run_ref = slot.drain_ref = None
        events.append(Finished(number, status, at, error, retryable))
        if reusable and self.warm and not self._closed:
            self._idle.append(slot)
        elif reusable:
            self._discard(slot)

    def _discard(self, slot: _Slot) -> None:
        if slot in self._idle:
            self._idle.remove(slot)
        try:
            self.ray.kill(slot.actor, no_restart=True)
        except Exception:  # already dead
            log.debug("actor %s already gone", slot.name)

    def _enforce_stop_deadlines(self, events: list[Event]) -> None:
        for number in self._stop_deadlines.overdue():
            slot = self._running.get(number)
            if slot is None:
                continue
            log.info("trial %s did not stop in time; killing actor %s", number, slot.name)
            self._discard(slot)
            self._finish(slot, TrialStatus.STOPPED, None, False, time.time(), events)

    def shutdown(self) -> None:
        """Kill every actor; stop the local Ray if this pool started it."""
        self._closed = True
        for slot in [*self._idle, *self._running.values()]:
            self._discard(slot)
        self._idle.clear()
        self._running.clear()
        if self._started_ray:
            try:
                self.ray.shutdown()
            except ConnectionError:  # a Ray Client connection that is already gone
                log.debug("Ray's connection was already gone at shutdown")

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
