"""The coordinator: one event loop, one writer to the database.

::

    resume: load the job and its trials from storage
    loop:
        while free slots and budget left: strategy.ask(history) -> store Pending -> submit
        for event in pool.poll(timeout):
            Started  -> store InProgress
            Report   -> store; if stopper.should_stop(trial, history): pool.stop(trial)
            Finished -> store; retry if retryable and attempts left
        check completion: max jobs, max runtime, target value, best not improving, convergence

Everything the loop needs comes in through small interfaces: a
:class:`~tuner.storage.base.Storage`, a :class:`~tuner.pools.base.WorkerPool`, a
:class:`~tuner.clock.Clock` for every timestamp, limit and deadline, and the
:class:`~strategies.registry.Search` that the job's strategy name builds (the strategy and the
stopping rule that goes with it). The coordinator knows no concrete strategy: a suggestion
carries what is recorded with the trial (its bracket), a stop decision says why the trial stops
and whether it counts as Completed. With a :class:`~tuner.clock.SimulatedClock` and the
:class:`~tuner.pools.simulated.SimulatedPool` the same loop runs on simulated time.

The coordinator keeps an in-memory mirror of the trials (:mod:`tuner.trial_book`; it is the
only writer, so the mirror cannot drift) and the writes of one loop iteration share one
transaction. Completion criteria are :mod:`tuner.completion`.

Choices where AMT is silent (AMT.md section 19):

* A trial's final objective is the last value it reported (AMT's "latest" rule), also when it
  was stopped early or by its MaxRuntimeInSeconds. A trial that ran to its end without ever
  reporting the objective ends Failed (``NoObjectiveMetric``, not retried: it would do the
  same again) with ObjectiveStatus Failed. AMT leaves that training job Completed with
  ObjectiveStatus Failed; a Failed status with its reason is what a person needs to notice.
* Retries (``RetryStrategy.MaximumRetryAttempts``) rerun the same training job (same name and
  hyperparameters, a new attempt) after any retryable failure: a worker that died or an
  exception in the training code. Invalid hyperparameters (a client error) are not retried.
* ``MaxRuntimeInSeconds`` of the tuning job stops the running trials (Stopped) and ends the job
  as Completed, like the other completion criteria. A user's stop (Ctrl-C, ``tuner stop``) ends
  it as Stopped. The job ends Failed only when no training job produced an objective value.
* On resume, trials that were running when the coordinator died are run again from the start
  (a new attempt, same number and hyperparameters); finished trials are kept as they are.

One coordinator per job: the lease. :meth:`Coordinator.start` takes the job's lease in the
database (:meth:`~tuner.storage.base.Storage.acquire_lease`, atomic) for ``LEASE_S`` seconds
as holder ``host:pid:token`` (a token of its own, so two coordinators of one process differ),
:meth:`Coordinator.step` renews it every ``LEASE_RENEW_S`` seconds, and the job's end (or
Ctrl-C, or an error out of :meth:`Coordinator.run`) releases it. Lease times are wall-clock
(``time.time()``), never the job's clock, which may be simulated. A second coordinator on the
job is refused with :class:`~tuner.errors.JobLeasedError` (``tuner run``/``resume`` exit 2)
before it writes anything, unless the lease is free, expired, or its holder is known dead:

* same host, and no process has the holder's pid: dead (a ``kill -9``'d ``tuner run`` is
  taken over at once, without waiting for its lease to expire);
* same host and pid as ours, another token: alive (another coordinator of this process, like
  the HTTP server's job threads or a second Python API tuner);
* another host: alive, since its processes cannot be seen from here; wait for the expiry.

A coordinator whose renewal fails (another one took the job over after its lease expired,
e.g. it was suspended for longer than ``LEASE_S``) stops writing: :meth:`Coordinator.step`
raises JobLeasedError.

Multi-algorithm jobs (several ``TrainingJobDefinitions``, :mod:`tuner.spec.definitions`): the
search is :func:`strategies.multi.build_multi_search` (one sub-search per definition, the
budget shared round-robin), a trial's configuration carries its definition under
``_definition``, which is stored with its hyperparameters (the record shows it as
``definition``) and never reaches the training job; everything a trial runs with (algorithm,
statics, channels, objective metric, runtime limit, retries) is its definition's. The best
training job is the best value across definitions (they share the objective's Type).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from algorithms.checkpoints import CheckpointStore
from strategies.base import StopDecision, Suggestion, Trial, TrialStatus
from strategies.multi import DEFINITION_KEY, build_multi_search
from strategies.registry import Search, build_search
from tuner.callables import callable_hyperparameters, pickle_callable
from tuner.channels import trial_channels
from tuner.checkpointing import checkpoint_dir, checkpoint_each_epoch
from tuner.clock import Clock, SystemClock
from tuner.completion import CompletionCriteria, CompletionTracker
from tuner.describe import training_job_name
from tuner.errors import JobExistsError, JobLeasedError
from tuner.pools.base import Event, Finished, Report, Started, TrialSpec, WorkerPool
from tuner.spec.model import DefinitionSpec, TuningJobSpec
from tuner.status import JobStatus
from tuner.storage.base import Storage
from tuner.storage.records import JobRecord
from tuner.trial_book import TrialBook, TrialState
from tuner.warm_start import ParentObservations, WarmStartHistory, warm_start_observations

log = logging.getLogger(__name__)

#: How often the coordinator looks for a stop request recorded by another process.
STOP_REQUEST_CHECK_S = 1.0
#: How long the coordinator waits for the pool to confirm the stops of a job that ends.
STOP_CONFIRM_S = 10.0
#: Why the trials of a job were interrupted when its coordinator died (recorded on resume).
INTERRUPTED_REASON = "interrupted: the coordinator stopped while it ran"
#: How long the job's lease lasts without a renewal (wall-clock seconds).
LEASE_S = 60.0
#: How often a running coordinator renews its lease (wall-clock seconds).
LEASE_RENEW_S = 10.0


def new_lease_holder() -> str:
    """A lease holder id of a coordinator of this process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def lease_holder_alive(holder: str) -> bool:
    """Whether the coordinator ``holder`` may still be running (the module docstring's rule).

    Dead only when it is known: same host and no process has its pid. Another host, another
    coordinator of this process, a pid that exists (or that we may not signal): alive.
    """
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return True
    try:
        pid = int(parts[1])
    except ValueError:
        return True
    if pid == os.getpid():
        return True  # this process: another coordinator of it (ours would have matched)
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as another user's process
        return True
    return True


@dataclass(frozen=True)
class JobOutcome:
    """How the tuning job ended."""

    name: str
    status: JobStatus
    failure_reason: str | None = None


@dataclass(frozen=True)
class Progress:
    """What the progress display shows after each loop iteration."""

    name: str
    completed: int
    running: int
    failed: int
    stopped: int
    max_jobs: int
    best_value: float | None
    best_trial: str | None


class Coordinator:
    """Runs one tuning job to its end (or resumes it), writing everything to ``storage``."""

    def __init__(
        self,
        spec: TuningJobSpec,
        storage: Storage,
        pool: WorkerPool,
        *,
        output_root: Path | None = None,
        poll_interval_s: float = 0.5,
        on_progress: Callable[[Progress], None] | None = None,
        clock: Clock | None = None,
        runner: str | None = None,
    ) -> None:
        self.spec = spec
        #: Who runs the job, stored with it (``"serve"``: the HTTP server, which resumes its own).
        self.runner = runner
        self.storage = storage
        self.pool = pool
        self.output_root = Path(output_root or spec.output_path or Path.cwd() / "tuner-output")
        self.poll_interval_s = poll_interval_s
        self.on_progress = on_progress
        self.clock: Clock = clock or SystemClock()
        self.objective = spec.objective
        self.trials = TrialBook(spec.space, spec.objective)
        self.completion = CompletionTracker(spec.objective, _criteria(spec))
        self.seed = 0
        self.search: Search | None = None
        self.warm_start = ParentObservations()  # the parents' trials the strategy sees
        self._retry_queue: deque[int] = deque()
        self._running: set[int] = set()
        self._exhausted = False
        self._callable_blob: bytes | None = None  # what the job stores for a resume
        # Each definition's pickled callable and its key, as the pools receive them.
        self._callables: dict[str | None, tuple[str, bytes]] = {}
        self._definitions: dict[str | None, DefinitionSpec] = {}
        self._started_at = self.clock.monotonic()
        self._last_stop_check = -STOP_REQUEST_CHECK_S
        self._outcome: JobOutcome | None = None
        # Each definition's channels, laid out on its first submit.
        self._channels: dict[str | None, dict[str, str]] = {}
        #: This coordinator's holder id of the job's lease (``host:pid:token``).
        self.lease_holder = new_lease_holder()
        self._lease_renewed_at: float | None = None  # wall-clock time; None: not held

    # -- set-up ------------------------------------------------------------------------------
    def start(self) -> None:
        """Create the job in storage, or load it for a resume if it exists and is unfinished.

        Takes the job's lease first (JobLeasedError, nothing written, if another live
        coordinator runs the job); a start that fails after that gives it back.
        """
        spec = self.spec
        self._prepare_callables()
        job = self._existing_job()
        # Parents are read (and checked) before anything is written, on a resume again.
        self.warm_start = warm_start_observations(spec, self.storage)
        if job is not None:
            self._acquire_lease()
        try:
            self._start_job(job)
        except BaseException:
            self._release_lease()
            raise

    def _start_job(self, job: JobRecord | None) -> None:
        spec = self.spec
        if job is None:
            self.seed = (
                spec.random_seed if spec.random_seed is not None else secrets.randbelow(2**31)
            )
            with self.storage.batch():  # created with its lease: no one can take it between
                self.storage.create_job(
                    spec.name,
                    spec.request,
                    strategy=spec.strategy,
                    seed=self.seed,
                    status=JobStatus.IN_PROGRESS,
                    now=self.clock.now(),
                    callable_blob=self._callable_blob,
                    runner=self.runner,
                )
                self._acquire_lease()
        else:
            self.seed = job.seed
        self.search = self._build_search()
        if job is not None:
            self._resume()

    def _prepare_callables(self) -> None:
        """Pickle the user's training callables: the job's blob (for a resume) and each
        definition's (for the pools)."""
        spec = self.spec
        if spec.train_fn is not None:
            self._callable_blob = pickle_callable(spec.train_fn)
            key = hashlib.sha1(self._callable_blob).hexdigest()
            self._callables[None] = (key, self._callable_blob)
            return
        fns = {d.name: d.train_fn for d in spec.definitions if d.train_fn is not None}
        if not fns:
            return
        for name, fn in fns.items():
            blob = pickle_callable(fn)
            self._callables[name] = (hashlib.sha1(blob).hexdigest(), blob)
        # The job keeps each one's bytes by DefinitionName: spec_from_request takes that map
        # back on resume (each one pickled as pickle_callable does, by value when it must be).
        self._callable_blob = cloudpickle.dumps(
            {name: blob for name, (_, blob) in self._callables.items() if name is not None}
        )

    def _build_search(self) -> Search:
        spec = self.spec
        early_stopping = "Auto" if spec.early_stopping else "Off"
        if not spec.is_multi:
            return build_search(
                spec.strategy,
                spec.space,
                self.seed,
                options=spec.strategy_options,
                early_stopping=early_stopping,
            )
        named = [d for d in spec.definitions if d.name is not None]
        return build_multi_search(
            spec.strategy,
            {str(d.name): d.space for d in named},
            self.seed,
            options={
                str(d.name): dataclasses.asdict(d.hyperband) if d.hyperband is not None else {}
                for d in named
            },
            early_stopping=early_stopping,
        )

    def _definition_of(self, state: TrialState) -> DefinitionSpec:
        """The training job definition trial ``state`` runs (the job's only one, or its own)."""
        name = state.tuned.get(DEFINITION_KEY) if self.spec.is_multi else None
        definition = self._definitions.get(name)
        if definition is None:
            definition = self._definitions[name] = self.spec.definition(name)
        return definition

    def _metric_of(self, state: TrialState) -> str:
        return self._definition_of(state).objective.metric

    def _existing_job(self) -> JobRecord | None:
        """The stored job of this name, if it may be resumed by this spec (else JobExistsError)."""
        spec = self.spec
        try:
            job = self.storage.load_job(spec.name)
        except LookupError:
            return None
        if job.status.is_terminal:
            msg = (
                f"tuning job {spec.name!r} already exists and is {job.status}; "
                "choose another HyperParameterTuningJobName"
            )
            raise JobExistsError(msg)
        if dict(job.request) != dict(spec.request):
            msg = (
                f"tuning job {spec.name!r} already exists with a different spec; "
                "resume it with the same spec or choose another name"
            )
            raise JobExistsError(msg)
        return job

    def _resume(self) -> None:
        """Rebuild the mirror from storage; requeue trials that were interrupted."""
        now = self.clock.now()
        metrics = sorted({self.spec.definition(None).objective.metric} | self._metrics())
        curves = self.storage.curves(self.spec.name, metrics)
        finished = []
        with self.storage.batch():
            self.storage.set_job_status(self.spec.name, JobStatus.IN_PROGRESS, now=now)
            for r in self.storage.trials(self.spec.name):
                tuned = dict(r.hyperparameters)
                if self.spec.is_multi and r.definition is not None:
                    tuned[DEFINITION_KEY] = r.definition
                state = TrialState(r.number, r.name, tuned, r.bracket, r.status, r.attempt)
                metric = self._metric_of(state)
                state.curve = [
                    (p.epoch, p.value) for p in curves.get(r.number, []) if p.name == metric
                ]
                state.last_value, state.n_reports = r.final_value, r.n_reports
                state.last_metrics = dict(r.final_metrics)
                if state.status.is_finished:
                    finished.append((r.ended_at or 0.0, r.number))
                else:
                    state.attempt += 1
                    state.status = TrialStatus.PENDING
                    state.clear_attempt()
                    self._record_restart(state, INTERRUPTED_REASON, now)
                self.trials.add(state)
        for _, number in sorted(finished):
            self._note_result(self.trials[number])

    def _metrics(self) -> set[str]:
        """Every definition's objective metric."""
        return {d.objective.metric for d in self.spec.definitions}

    # -- the lease -------------------------------------------------------------------------------
    def _acquire_lease(self) -> None:
        now = time.time()
        self.storage.acquire_lease(
            self.spec.name,
            self.lease_holder,
            now=now,
            duration_s=LEASE_S,
            holder_alive=lease_holder_alive,
        )
        self._lease_renewed_at = now

    def _renew_lease(self) -> None:
        """Renew the lease every LEASE_RENEW_S; JobLeasedError if another coordinator took it."""
        now = time.time()
        if self._lease_renewed_at is None or now - self._lease_renewed_at < LEASE_RENEW_S:
            return
        if not self.storage.renew_lease(
            self.spec.name, self.lease_holder, now=now, duration_s=LEASE_S
        ):
            self._lease_renewed_at = None
            job = self.storage.load_job(self.spec.name)
            msg = (
                f"tuning job {self.spec.name!r}: this coordinator ({self.lease_holder}) lost "
                f"its lease to {job.lease_holder or 'nobody'} (it was not renewed within "
                f"{LEASE_S:g} s); it stops without writing more, the other one runs the job"
            )
            raise JobLeasedError(msg)
        self._lease_renewed_at = now

    def _release_lease(self) -> None:
        if self._lease_renewed_at is None:
            return
        self._lease_renewed_at = None
        try:
            self.storage.release_lease(self.spec.name, self.lease_holder)
        except Exception:  # the lease expires by itself; do not hide why we ended
            log.warning("cannot release the lease of tuning job %s", self.spec.name, exc_info=True)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> JobOutcome:
        """Run (or resume) the job to its end. Ctrl-C stops it cleanly as Stopped.

        A second Ctrl-C while it stops is not caught: the KeyboardInterrupt leaves at once,
        the job stays Stopping with its unfinished trials as they were, and a resume runs
        them again (each transaction of the loop is whole or absent, so nothing is torn).
        """
        if self.search is None:
            self.start()
        try:
            try:
                while self.step():
                    pass
            except KeyboardInterrupt:
                log.warning(
                    "stopping tuning job %s; Ctrl-C again exits at once (the job stays "
                    "resumable: tuner resume %s)",
                    self.spec.name,
                    self.spec.name,
                )
                return self._stop_job()
            return self.finish()
        finally:
            self._release_lease()  # ended (released already) or interrupted by an error

    def finish(self) -> JobOutcome:
        """End the job once :meth:`step` said so: its status, end time and completion details
        (a driver that runs the loop itself, like the HTTP server's, calls this)."""
        return self._outcome or self._finish_job()

    def step(self) -> bool:
        """One iteration: launch, handle events, check limits. False once the job should end.

        Raises JobLeasedError, before writing anything, if another coordinator took the job.
        """
        self._renew_lease()
        with self.storage.batch():
            self._launch()
        events = self.pool.poll(self.poll_interval_s if self._running else 0.0)
        with self.storage.batch():
            for event in events:
                self._handle(event)
            self._enforce_trial_runtime()
        if self.on_progress is not None:
            self.on_progress(self.progress())
        if self._stop_requested():
            self._outcome = self._stop_job()
            return False
        reason = self._completion_reason()
        if reason is not None:
            self._stop_running(f"tuning job ended: {reason}")
            return False
        return bool(self._running or self._retry_queue or not self._budget_spent())

    def _budget_spent(self) -> bool:
        return self._exhausted or len(self.trials) >= self.spec.max_jobs

    def _completion_reason(self) -> str | None:
        elapsed = self.clock.monotonic() - self._started_at
        return self.completion.reason(elapsed_s=elapsed, now=self.clock.now())

    def _launch(self) -> None:
        """Fill the free slots: retries first, then new trials while the budget lasts."""
        while self.pool.free_slots > 0:
            if self._retry_queue:
                self._submit(self.trials[self._retry_queue.popleft()])
                continue
            if self._budget_spent() or self._completion_reason() is not None:
                return
            assert self.search is not None
            suggestion = self.search.strategy.ask(self._strategy_history())
            if suggestion is None:
                self._exhausted = True
                return
            self._submit(self._add_trial(suggestion))

    def _strategy_history(self) -> Sequence[Trial]:
        """The job's trials, after the parents' observations of a warm start (never stored)."""
        if not self.warm_start.trials:
            return self.trials.history
        return WarmStartHistory(self.warm_start.trials, self.trials.history)

    def _add_trial(self, suggestion: Suggestion) -> TrialState:
        number = len(self.trials) + 1
        name = training_job_name(self.spec.name, number)
        state = TrialState(
            number, name, self.spec.space.format(suggestion.config), suggestion.bracket
        )
        self.storage.add_trial(
            self.spec.name,
            number,
            name=name,
            hyperparameters=state.tuned,
            now=self.clock.now(),
            output_dir=str(self.output_root / name),
            bracket=suggestion.bracket,
        )
        self.trials.add(state)
        # A new training job starts from scratch, whatever an earlier database left there.
        definition = self._definition_of(state).definition
        CheckpointStore(checkpoint_dir(definition, self.output_root, name)).clear()
        return state

    def _submit(self, state: TrialState) -> None:
        self.pool.submit(self._trial_spec(state))
        state.submitted = self.clock.monotonic()
        self._running.add(state.number)

    def _trial_spec(self, state: TrialState) -> TrialSpec:
        spec = self.spec
        definition = self._definition_of(state)
        tuned = {k: v for k, v in state.tuned.items() if k != DEFINITION_KEY}
        hyperparameters: Mapping[str, Any] = definition.hyperparameters_for(tuned)
        if definition.train_fn is not None:
            hyperparameters = callable_hyperparameters(definition.space, hyperparameters)
        key, blob = self._callables.get(definition.name, (None, None))
        return TrialSpec(
            job_name=spec.name,
            number=state.number,
            attempt=state.attempt,
            training_job_name=state.name,
            hyperparameters=hyperparameters,
            channels=self._trial_channels(definition),
            output_dir=str(self.output_root / state.name),
            algorithm=definition.algorithm,
            checkpoint_dir=str(
                checkpoint_dir(definition.definition, self.output_root, state.name)
            ),
            checkpoint_each_epoch=checkpoint_each_epoch(definition.definition),
            callable_key=key,
            callable_blob=blob,
            environment=dict(definition.environment),
            wait_for_decision=self.search is not None and self.search.stopper is not None,
            script=definition.script,
        )

    def _trial_channels(self, definition: DefinitionSpec) -> dict[str, str]:
        """The channels a training job reads: manifest channels laid out once as folders
        (each definition's in a folder of its own)."""
        channels = self._channels.get(definition.name)
        if channels is None:
            root = self.output_root / self.spec.name
            if definition.name is not None:
                root = root / definition.name
            laid_out = trial_channels(
                definition.definition, definition.channels, definition.algorithm, root
            )
            channels = self._channels[definition.name] = {k: str(v) for k, v in laid_out.items()}
        return channels

    # -- events -------------------------------------------------------------------------------
    def _handle(self, event: Event) -> None:
        state = self.trials.get(event.number)
        if state is None or event.number not in self._running:
            return
        if isinstance(event, Started):
            self._on_started(state, event)
        elif isinstance(event, Report):
            self._on_report(state, event)
        else:
            self._on_finished(state, event)

    def _on_started(self, state: TrialState, event: Started) -> None:
        state.started = state.heard = self.clock.monotonic()
        self.trials.set_status(state, TrialStatus.IN_PROGRESS)
        self.storage.mark_running(self.spec.name, state.number, worker=event.worker, now=event.at)

    def _on_report(self, state: TrialState, event: Report) -> None:
        state.n_reports += 1
        state.heard = self.clock.monotonic()
        finite = {k: v for k, v in event.metrics.items() if math.isfinite(v)}
        state.last_metrics.update(finite)
        self.storage.add_report(
            self.spec.name,
            state.number,
            attempt=state.attempt,
            epoch=event.epoch,
            metrics=finite,
            at=event.at,
        )
        metric = self._metric_of(state)
        value = event.metrics.get(metric)
        if value is not None and not math.isfinite(value):
            # Diverged: it never recovers, and no strategy may fit on it. Stop it, Failed.
            state.fail_reason = (
                f"ObjectiveNotFinite: the objective metric {metric!r} was {value} at epoch "
                f"{event.epoch}: not a finite number"
            )
            self._request_stop(state, StopDecision(state.fail_reason))
            return
        snapshot = None
        if value is not None:
            state.curve.append((event.epoch, value))
            state.last_value = value
            snapshot = self.trials.refresh(state)
        self._decide(state, snapshot)

    def _decide(self, state: TrialState, snapshot: Trial | None) -> None:
        """Answer a report: stop the trial, or let it go on (it waits for this answer).

        ``snapshot`` is the trial after a report of the objective; a report without it is
        answered "go on" at once.
        """
        assert self.search is not None
        stopper = self.search.stopper
        if stopper is None or state.stop is not None:
            return
        if snapshot is not None:
            decision = stopper.should_stop(snapshot, self.trials.history)
            if decision is not None:
                self._request_stop(state, decision)
                return
        self.pool.proceed(state.number)

    def _request_stop(self, state: TrialState, decision: StopDecision) -> None:
        if state.stop is None:
            state.stop = self._with_compared_values(decision)
        self.pool.stop(state.number)

    def _with_compared_values(self, decision: StopDecision) -> StopDecision:
        """The rule's reason with what it compared, in the objective's own direction
        ("...; value 0.912 against 0.934"), so a person (and the dashboard) can see it."""
        if decision.value is None or decision.threshold is None:
            return decision
        orient = self.objective.orient  # its own inverse: a negation or nothing
        value, threshold = orient(decision.value), orient(decision.threshold)
        reason = f"{decision.reason}; value {value:.6g} against {threshold:.6g}"
        return dataclasses.replace(decision, reason=reason)

    def _on_finished(self, state: TrialState, event: Finished) -> None:
        self._running.discard(state.number)
        if self._should_retry(state, event):
            self._retry(state, event)
            return
        status = event.status
        if status is TrialStatus.STOPPED and state.stop is not None and state.stop.completed:
            status = TrialStatus.COMPLETED  # it ran its whole budget: nothing was cut short
        error, retryable = event.error, event.retryable
        if status is TrialStatus.COMPLETED and state.last_value is None:
            state.fail_reason = state.fail_reason or (
                f"NoObjectiveMetric: the training job completed without reporting its "
                f"objective metric {self._definition_of(state).objective.metric!r}"
            )
        if state.fail_reason is not None and status is not TrialStatus.FAILED:
            status, error, retryable = TrialStatus.FAILED, state.fail_reason, False
        self.trials.set_status(state, status)
        final_value = state.last_value if status is not TrialStatus.FAILED else None
        reason = {
            TrialStatus.FAILED: error,
            TrialStatus.STOPPED: state.stop.reason if state.stop else None,
        }.get(status)
        self.storage.finish_trial(
            self.spec.name,
            state.number,
            status=status,
            now=event.at,
            final_value=final_value,
            final_metrics=state.last_metrics,
            n_reports=state.n_reports,
            failure_reason=reason,
            retryable=retryable if status is TrialStatus.FAILED else None,
        )
        self._note_result(state)

    def _should_retry(self, state: TrialState, event: Finished) -> bool:
        return (
            event.status is TrialStatus.FAILED
            and event.retryable
            and state.attempt <= self._definition_of(state).max_retry_attempts
        )

    def _retry(self, state: TrialState, event: Finished) -> None:
        log.info("training job %s failed (%s); retrying", state.name, event.error)
        state.attempt += 1
        state.clear_attempt()
        self.trials.set_status(state, TrialStatus.PENDING)
        self._record_restart(state, event.error, event.at)

    def _record_restart(self, state: TrialState, reason: str | None, now: float) -> None:
        self.storage.restart_trial(
            self.spec.name, state.number, attempt=state.attempt, reason=reason, now=now
        )
        self._retry_queue.append(state.number)

    def _note_result(self, state: TrialState) -> None:
        """Feed a finished trial's final objective to the completion criteria."""
        if state.status is not TrialStatus.FAILED and state.last_value is not None:
            self.completion.record(state.last_value, state.name)

    # -- limits -------------------------------------------------------------------------------
    def _enforce_trial_runtime(self) -> None:
        now = self.clock.monotonic()
        for number in self._running:
            state = self.trials[number]
            # Until it reports its start, a trial's clock runs from its submission: a worker
            # that hangs before it starts (a Ray worker stuck in its crash handler) is
            # stopped by MaxRuntimeInSeconds as well, not waited for forever.
            since = state.started if state.started is not None else state.submitted
            if since is None or state.stop is not None:
                continue
            definition = self._definition_of(state)
            limit = definition.trial_max_runtime_s
            if now - since > limit:
                reason = f"MaxRuntimeExceeded: the training job ran longer than {limit:g} s"
                if state.started is None:
                    reason += " (it never reported starting)"
                self._request_stop(state, StopDecision(reason))
                continue
            silence = definition.max_seconds_between_reports
            if silence is not None and state.heard is not None and now - state.heard > silence:
                state.fail_reason = (
                    f"Hung: the training job reported nothing for {silence:g} s "
                    "(StoppingCondition.MaxSecondsBetweenReports)"
                )
                self._request_stop(state, StopDecision(state.fail_reason))

    def _stop_requested(self) -> bool:
        now = self.clock.monotonic()
        if now - self._last_stop_check < STOP_REQUEST_CHECK_S:
            return False
        self._last_stop_check = now
        return self.storage.load_job(self.spec.name).status is JobStatus.STOPPING

    # -- endings --------------------------------------------------------------------------------
    def _stop_running(self, reason: str) -> None:
        """Stop every unfinished trial and wait for the pool to confirm (a stop takes < 1 s)."""
        decision = StopDecision(reason)
        for state in self.trials.unfinished():
            state.stop = state.stop or decision
            if state.number in self._running:
                self.pool.stop(state.number)
        self._retry_queue.clear()
        deadline = self.clock.monotonic() + STOP_CONFIRM_S
        while self._running and self.clock.monotonic() < deadline:
            events = self.pool.poll(0.2)
            with self.storage.batch():
                for event in events:
                    self._handle(event)
        # Not confirmed in time, or never started again (pending retries): Stopped by us.
        now = self.clock.now()
        with self.storage.batch():
            for state in self.trials.unfinished():
                self._running.add(state.number)
                self._on_finished(state, Finished(state.number, TrialStatus.STOPPED, now))

    def _stop_job(self) -> JobOutcome:
        """The user stopped the job (Ctrl-C, ``tuner stop``): it ends Stopped."""
        self.storage.set_job_status(self.spec.name, JobStatus.STOPPING, now=self.clock.now())
        self._stop_running("tuning job ended: stopped by the user")
        return self._end(JobStatus.STOPPED)

    def _finish_job(self) -> JobOutcome:
        if self.completion.best is None and len(self.trials):
            return self._end(JobStatus.FAILED, self._failure_reason())
        return self._end(JobStatus.COMPLETED)

    def _failure_reason(self) -> str:
        failures = [s.number for s in self.trials if s.status is TrialStatus.FAILED]
        reason = "No training job produced an objective value"
        if not failures:
            metrics = sorted(self._metrics()) or [self.objective.metric]
            named = " or ".join(repr(m) for m in metrics)
            return f"{reason}; no training job reported the metric {named}"
        first = self.storage.trials(self.spec.name)[failures[0] - 1].failure_reason
        return f"{reason}; {len(failures)} training jobs failed, e.g. {first}"

    def _end(self, status: JobStatus, reason: str | None = None) -> JobOutcome:
        self.storage.set_job_status(
            self.spec.name,
            status,
            now=self.clock.now(),
            reason=reason,
            ended=True,
            completion=self.completion.details,
        )
        self._release_lease()
        return JobOutcome(self.spec.name, status, reason)

    def progress(self) -> Progress:
        counts = self.trials.counts
        return Progress(
            name=self.spec.name,
            completed=counts[TrialStatus.COMPLETED],
            running=counts[TrialStatus.IN_PROGRESS] + counts[TrialStatus.PENDING],
            failed=counts[TrialStatus.FAILED],
            stopped=counts[TrialStatus.STOPPED],
            max_jobs=self.spec.max_jobs,
            best_value=self.completion.best,
            best_trial=self.completion.best_name,
        )


def _criteria(spec: TuningJobSpec) -> CompletionCriteria:
    return CompletionCriteria(
        max_jobs=spec.max_jobs,
        max_runtime_s=spec.max_runtime_s,
        target_value=spec.target_objective_value,
        max_jobs_not_improving=spec.max_jobs_not_improving,
        complete_on_convergence=spec.complete_on_convergence,
    )


def replace_spec(spec: TuningJobSpec, **changes: Any) -> TuningJobSpec:
    """A copy of ``spec`` with fields changed (tests use it for limits AMT forbids in requests)."""
    return dataclasses.replace(spec, **changes)
