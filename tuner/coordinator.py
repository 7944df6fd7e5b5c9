"""The coordinator: one event loop, one writer to the database.

::

    resume: load the job and its trials from storage
    loop:
        while free slots and budget left: config = strategy.ask(history) -> store Pending -> submit
        for event in pool.poll(timeout):
            Started  -> store InProgress
            Report   -> store; if stopper.should_stop(trial, history): pool.stop(trial)
            Finished -> store; retry if retryable and attempts left
        check completion: max jobs, max runtime, target value, best not improving, convergence

The coordinator keeps an in-memory mirror of the trials (it is the only writer, so the mirror
cannot drift) and hands strategies and stopping rules immutable snapshots of it; the writes of
one loop iteration share one transaction.

Choices where AMT is silent (AMT.md section 19):

* A trial's final objective is the last value it reported (AMT's "latest" rule), also when it
  was stopped early or by its MaxRuntimeInSeconds. A Completed trial that never reported the
  objective has ObjectiveStatus Failed.
* Retries (``RetryStrategy.MaximumRetryAttempts``) rerun the same training job (same name and
  hyperparameters, a new attempt) after any retryable failure: a worker that died or an
  exception in the training code. Invalid hyperparameters (a client error) are not retried.
* ``MaxRuntimeInSeconds`` of the tuning job stops the running trials (Stopped) and ends the job
  as Completed, like the other completion criteria. A user's stop (Ctrl-C, ``tuner stop``) ends
  it as Stopped. The job ends Failed only when no training job produced an objective value.
* ``BestObjectiveNotImproving``: trials are taken in the order they finish; one that does not
  beat the best so far by at least 1% (relative to ``|best|``) counts as not improving, one that
  does resets the count.
* ``ConvergenceDetected`` (AMT's algorithm is not public): the job has converged when the last
  ``max(10, MaxNumberOfTrainingJobs // 5)`` finished trials did not improve the best by 1%.
* On resume, trials that were running when the coordinator died are run again from the start
  (a new attempt, same number and hyperparameters); finished trials are kept as they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import secrets
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from strategies import (
    GridStrategy,
    HyperbandStrategy,
    MedianStoppingRule,
    RandomStrategy,
    SearchSpace,
    Strategy,
    Trial,
    TrialStatus,
)
from strategies.base import EarlyStopper
from tuner.describe import TERMINAL_JOB_STATUSES, training_job_name
from tuner.errors import JobExistsError
from tuner.pools.base import Finished, Report, Started, TrialSpec, WorkerPool
from tuner.spec import TuningJobSpec
from tuner.storage import SqlStorage

log = logging.getLogger(__name__)

#: Relative improvement that counts for BestObjectiveNotImproving and convergence (AMT: 1%).
IMPROVEMENT_THRESHOLD = 0.01
#: Stop reason of a trial that ran Hyperband's whole budget (recorded as Completed).
MAX_RESOURCE_REASON = "Hyperband: MaxResource"
#: How often the coordinator looks for a stop request recorded by another process.
STOP_REQUEST_CHECK_S = 1.0


def _bayesian(space: SearchSpace, seed: int) -> Strategy:
    from strategies.bayesian import BayesianStrategy

    return BayesianStrategy(space, seed=seed)


def make_strategy(spec: TuningJobSpec, seed: int) -> Strategy:
    """The strategy a spec names. Hyperband is also the job's early stopper (its rungs)."""
    if spec.strategy == "Grid":
        return GridStrategy(spec.space)
    if spec.strategy == "Random":
        return RandomStrategy(spec.space, seed=seed)
    if spec.strategy == "Hyperband" and spec.hyperband is not None:
        hb = spec.hyperband
        return HyperbandStrategy(
            spec.space,
            seed=seed,
            min_resource=hb.min_resource,
            max_resource=hb.max_resource,
            reduction_factor=hb.reduction_factor,
            model_based=hb.model_based,
            model_factory=_bayesian if hb.model_based else None,
        )
    if spec.strategy == "Bayesian":
        return _bayesian(spec.space, seed)
    if spec.strategy == "TPE":
        from strategies.tpe import TPEStrategy

        return TPEStrategy(spec.space, seed=seed)
    msg = f"strategy {spec.strategy!r} is not available"
    raise ValueError(msg)


def make_stopper(spec: TuningJobSpec, strategy: Strategy) -> EarlyStopper | None:
    """The median rule for early stopping Auto; Hyperband stops trials at its own rungs."""
    if isinstance(strategy, HyperbandStrategy):
        return strategy
    return MedianStoppingRule() if spec.early_stopping else None


def callable_hyperparameters(
    space: SearchSpace, hyperparameters: Mapping[str, str]
) -> dict[str, Any]:
    """Typed values for a Python callable: tuned ones by their range, the rest parsed as literals.

    Integer ranges give ``int``, continuous ones ``float``, categorical values stay strings
    unless they read as numbers; static values read as int, float or bool (``True``/``False``/
    ``true``/``false``) when they can, else stay strings. Built-in algorithms get AMT's strings.
    """
    out: dict[str, Any] = {}
    for name, raw in hyperparameters.items():
        rng = space.ranges.get(name)
        if rng is not None and rng.kind != "Categorical":
            out[name] = rng.cast(raw)
        else:
            out[name] = parse_literal(raw)
    return out


def pickle_callable(fn: Callable[..., Any]) -> bytes:
    """cloudpickle ``fn`` so a fresh worker interpreter can run it.

    Functions from ``__main__`` (scripts, ``python -c``, notebooks) and closures go by value
    anyway. A function from a module of the user's own (not installed in site-packages) goes by
    value too, because the worker may not be able to import that module (a test file, a module
    loaded from a path); installed packages go by reference, as usual.
    """
    module_name = getattr(fn, "__module__", None)
    module = sys.modules.get(module_name) if module_name else None
    file = getattr(module, "__file__", None) or ""
    by_value = (
        module is not None
        and module_name not in ("__main__", "builtins")
        and file
        and not any(part in file for part in ("site-packages", "dist-packages"))
        and not file.startswith(sys.base_prefix)
    )
    if not by_value or module_name in cloudpickle.list_registry_pickle_by_value():
        return cloudpickle.dumps(fn)
    cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(fn)
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def parse_literal(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    if raw in ("True", "true"):
        return True
    if raw in ("False", "false"):
        return False
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


@dataclass
class _TrialState:
    """The coordinator's mutable view of one trial (the database row mirrored in memory)."""

    number: int
    name: str
    tuned: dict[str, str]
    status: TrialStatus = TrialStatus.PENDING
    attempt: int = 1
    curve: list[tuple[int, float]] = field(default_factory=list)
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_value: float | None = None
    n_reports: int = 0
    started: float | None = None  # monotonic, for the per-trial runtime limit
    stop_reason: str | None = None


@dataclass(frozen=True)
class JobOutcome:
    """How the tuning job ended."""

    name: str
    status: str
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
        storage: SqlStorage,
        pool: WorkerPool,
        *,
        output_root: Path | None = None,
        poll_interval_s: float = 0.5,
        on_progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.storage = storage
        self.pool = pool
        self.output_root = Path(output_root or spec.output_path or Path.cwd() / "tuner-output")
        self.poll_interval_s = poll_interval_s
        self.on_progress = on_progress
        self.clock = clock
        self.objective = spec.objective
        self.stopper: EarlyStopper | None = None
        self._trials: dict[int, _TrialState] = {}
        self._counts: Counter[TrialStatus] = Counter()  # trials by status, kept by _set_status
        self._history: list[Trial] = []
        self._retry_queue: deque[int] = deque()
        self._running: set[int] = set()
        self._exhausted = False
        self._best: float | None = None
        self._best_name: str | None = None
        self._not_improving = 0
        self._improvement_best: float | None = None
        self._completion_details: dict[str, Any] = {}
        self._callable_blob: bytes | None = None
        self._callable_key: str | None = None
        self._started_monotonic = time.monotonic()
        self._last_stop_check = 0.0
        self.seed = 0
        self.strategy: Strategy | None = None
        self._outcome: JobOutcome | None = None

    # -- set-up ------------------------------------------------------------------------------
    def start(self) -> None:
        """Create the job in storage, or load it for a resume if it exists and is unfinished."""
        spec = self.spec
        if spec.train_fn is not None:
            self._callable_blob = pickle_callable(spec.train_fn)
            self._callable_key = hashlib.sha1(self._callable_blob).hexdigest()
        now = self.clock()
        try:
            job = self.storage.load_job(spec.name)
        except LookupError:
            job = None
        if job is None:
            self.seed = (
                spec.random_seed if spec.random_seed is not None else secrets.randbelow(2**31)
            )
            self.storage.create_job(
                spec.name,
                spec.request,
                strategy=spec.strategy,
                seed=self.seed,
                status="InProgress",
                now=now,
                callable_blob=self._callable_blob,
            )
        else:
            if job.status in TERMINAL_JOB_STATUSES:
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
            self.seed = job.seed
        self.strategy = make_strategy(spec, self.seed)
        self.stopper = make_stopper(spec, self.strategy)
        if job is not None:
            self._load(now)

    def _load(self, now: float) -> None:
        """Rebuild the in-memory mirror from storage; requeue trials that were interrupted."""
        curves = self.storage.curves(self.spec.name, [self.objective.metric])
        records = self.storage.trials(self.spec.name)
        finished_in_order = []
        with self.storage.batch():
            self.storage.set_job_status(self.spec.name, "InProgress", now=now)
            for r in records:
                state = _TrialState(
                    r.number, r.name, dict(r.hyperparameters), TrialStatus(r.status), r.attempt
                )
                state.curve = [(p.epoch, p.value) for p in curves.get(r.number, [])]
                state.last_value = r.final_value
                state.last_metrics = dict(r.final_metrics)
                state.n_reports = r.n_reports
                if not state.status.is_finished:
                    state.attempt += 1
                    state.status = TrialStatus.PENDING
                    state.curve, state.last_value, state.last_metrics, state.n_reports = (
                        [],
                        None,
                        {},
                        0,
                    )
                    self.storage.restart_trial(
                        self.spec.name,
                        r.number,
                        attempt=state.attempt,
                        reason="interrupted: the coordinator stopped while it ran",
                        now=now,
                    )
                    self._retry_queue.append(r.number)
                else:
                    finished_in_order.append((r.ended_at or 0.0, r.number))
                self._trials[r.number] = state
                self._counts[state.status] += 1
                self._history.append(self._snapshot(state))
        for _, number in sorted(finished_in_order):
            state = self._trials[number]
            if state.status is not TrialStatus.FAILED and state.last_value is not None:
                self._note_result(state)

    # -- helpers -------------------------------------------------------------------------------
    def _bracket_of(self, number: int) -> int | None:
        strategy = self.strategy
        return strategy.bracket_of(number) if isinstance(strategy, HyperbandStrategy) else None

    def _snapshot(self, state: _TrialState) -> Trial:
        orient = self.objective.orient
        return Trial(
            number=state.number,
            config=self.spec.space.cast(state.tuned),
            status=state.status,
            value=orient(state.last_value) if state.last_value is not None else None,
            curve=tuple((e, orient(v)) for e, v in state.curve),
            bracket=self._bracket_of(state.number),
        )

    def _refresh(self, state: _TrialState) -> Trial:
        snapshot = self._snapshot(state)
        self._history[state.number - 1] = snapshot
        return snapshot

    def _trial_spec(self, state: _TrialState) -> TrialSpec:
        spec = self.spec
        hyperparameters: Mapping[str, Any] = spec.hyperparameters_for(state.tuned)
        if spec.train_fn is not None:
            hyperparameters = callable_hyperparameters(spec.space, hyperparameters)
        return TrialSpec(
            job_name=spec.name,
            number=state.number,
            attempt=state.attempt,
            training_job_name=state.name,
            hyperparameters=hyperparameters,
            channels={k: str(v) for k, v in spec.channels.items()},
            output_dir=str(self.output_root / state.name),
            algorithm=spec.algorithm,
            callable_key=self._callable_key,
            callable_blob=self._callable_blob,
            environment=dict(spec.environment),
        )

    def _submit(self, state: _TrialState) -> None:
        self.pool.submit(self._trial_spec(state))
        self._running.add(state.number)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> JobOutcome:
        """Run (or resume) the job to its end. Ctrl-C stops it cleanly as Stopped."""
        if self.strategy is None:
            self.start()
        try:
            while self.step():
                pass
        except KeyboardInterrupt:
            return self._stop_job("Stopped", reason=None, user=True)
        return self._outcome or self._finish_job()

    def step(self) -> bool:
        """One iteration: launch, handle events, check limits. False once the job should end."""
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
            self._outcome = self._stop_job("Stopped", reason=None, user=True)
            return False
        reason = self._completion_reason()
        if reason is not None:
            self._stop_running(reason)
            return False
        return bool(self._running or self._retry_queue or not self._budget_spent())

    def _budget_spent(self) -> bool:
        return self._exhausted or len(self._trials) >= self.spec.max_jobs

    def _launch(self) -> None:
        while self.pool.free_slots > 0:
            if self._retry_queue:
                self._submit(self._trials[self._retry_queue.popleft()])
                continue
            if self._budget_spent() or self._completion_reason() is not None:
                return
            assert self.strategy is not None
            config = self.strategy.ask(self._history)
            if config is None:
                self._exhausted = True
                return
            number = len(self._trials) + 1
            state = _TrialState(
                number, training_job_name(self.spec.name, number), self.spec.space.format(config)
            )
            self.storage.add_trial(
                self.spec.name,
                number,
                name=state.name,
                hyperparameters=state.tuned,
                now=self.clock(),
                output_dir=str(self.output_root / state.name),
                bracket=self._bracket_of(number),
            )
            self._trials[number] = state
            self._counts[state.status] += 1
            self._history.append(self._snapshot(state))
            self._submit(state)

    def _handle(self, event: Started | Report | Finished) -> None:
        state = self._trials.get(event.number)
        if state is None or event.number not in self._running:
            return
        if isinstance(event, Started):
            self._set_status(state, TrialStatus.IN_PROGRESS)
            state.started = time.monotonic()
            self.storage.mark_running(
                self.spec.name, state.number, worker=event.worker, now=event.at
            )
            self._refresh(state)
        elif isinstance(event, Report):
            self._on_report(state, event)
        else:
            self._on_finished(state, event)

    def _on_report(self, state: _TrialState, event: Report) -> None:
        state.n_reports += 1
        state.last_metrics.update(event.metrics)
        self.storage.add_report(
            self.spec.name,
            state.number,
            attempt=state.attempt,
            epoch=event.epoch,
            metrics=event.metrics,
            at=event.at,
        )
        value = event.metrics.get(self.objective.metric)
        if value is None:
            return
        state.curve.append((event.epoch, value))
        state.last_value = value
        snapshot = self._refresh(state)
        if (
            self.stopper is not None
            and state.stop_reason is None
            and self.stopper.should_stop(snapshot, self._history)
        ):
            state.stop_reason = self._stop_reason(len(state.curve))
            self.pool.stop(state.number)

    def _stop_reason(self, resource: int) -> str:
        stopper = self.stopper
        if isinstance(stopper, HyperbandStrategy):
            schedule = stopper.schedule
            if resource >= schedule.max_resource:
                return f"{MAX_RESOURCE_REASON} ({schedule.max_resource}) reached"
            return f"Hyperband: not in the top 1/{schedule.eta} of its bracket at rung {resource}"
        return "early stopping: worse than the median of previous training jobs"

    def _on_finished(self, state: _TrialState, event: Finished) -> None:
        self._running.discard(state.number)
        if (
            event.status is TrialStatus.FAILED
            and event.retryable
            and state.attempt <= self.spec.max_retry_attempts
        ):
            log.info("training job %s failed (%s); retrying", state.name, event.error)
            state.attempt += 1
            self._set_status(state, TrialStatus.PENDING)
            state.curve, state.last_value, state.last_metrics, state.n_reports = [], None, {}, 0
            state.stop_reason = None
            self.storage.restart_trial(
                self.spec.name,
                state.number,
                attempt=state.attempt,
                reason=event.error,
                now=event.at,
            )
            self._retry_queue.append(state.number)
            self._refresh(state)
            return
        status = event.status
        if status is TrialStatus.STOPPED and (state.stop_reason or "").startswith(
            MAX_RESOURCE_REASON
        ):
            # It ran its whole budget: AMT stops it there, but it is complete, not cut short.
            status, state.stop_reason = TrialStatus.COMPLETED, None
            event = dataclasses.replace(event, status=status)
        self._set_status(state, event.status)
        final_value = state.last_value if event.status is not TrialStatus.FAILED else None
        reason = {TrialStatus.FAILED: event.error, TrialStatus.STOPPED: state.stop_reason}.get(
            event.status
        )
        self.storage.finish_trial(
            self.spec.name,
            state.number,
            status=event.status.value,
            now=event.at,
            final_value=final_value,
            final_metrics=state.last_metrics,
            n_reports=state.n_reports,
            failure_reason=reason,
            retryable=event.retryable if event.status is TrialStatus.FAILED else None,
        )
        self._refresh(state)
        if final_value is not None:
            self._note_result(state)

    def _note_result(self, state: _TrialState) -> None:
        """Track the best value and the not-improving count, in the order trials finish."""
        value = state.last_value
        assert value is not None
        if self.objective.is_better(value, self._best):
            self._best, self._best_name = value, state.name
        reference = self._improvement_best
        if reference is None:
            improved = True
        else:
            gain = self.objective.orient(reference) - self.objective.orient(value)
            improved = gain >= IMPROVEMENT_THRESHOLD * max(abs(reference), 1e-12)
        if improved:
            self._not_improving = 0
            self._improvement_best = value
        else:
            self._not_improving += 1
            if self.objective.is_better(value, reference):
                self._improvement_best = value
        self._completion_details["NumberOfTrainingJobsObjectiveNotImproving"] = self._not_improving

    def _enforce_trial_runtime(self) -> None:
        limit = self.spec.trial_max_runtime_s
        now = time.monotonic()
        for number in self._running:
            state = self._trials[number]
            if (
                state.started is not None
                and state.stop_reason is None
                and now - state.started > limit
            ):
                state.stop_reason = (
                    f"MaxRuntimeExceeded: the training job ran longer than {limit:g} s"
                )
                self.pool.stop(number)

    def _stop_requested(self) -> bool:
        now = time.monotonic()
        if now - self._last_stop_check < STOP_REQUEST_CHECK_S:
            return False
        self._last_stop_check = now
        return self.storage.load_job(self.spec.name).status == "Stopping"

    def _completion_reason(self) -> str | None:
        spec = self.spec
        if (
            spec.max_runtime_s is not None
            and time.monotonic() - self._started_monotonic >= spec.max_runtime_s
        ):
            return "MaxRuntimeInSeconds reached"
        target = spec.target_objective_value
        if (
            target is not None
            and self._best is not None
            and self.objective.reaches(self._best, target)
        ):
            return "TargetObjectiveMetricValue reached"
        if (
            spec.max_jobs_not_improving is not None
            and self._not_improving >= spec.max_jobs_not_improving
        ):
            return "BestObjectiveNotImproving reached"
        if spec.complete_on_convergence:
            window = max(10, spec.max_jobs // 5)
            if self._not_improving >= window:
                self._completion_details.setdefault("ConvergenceDetectedTime", self.clock())
                return "ConvergenceDetected"
        return None

    # -- endings --------------------------------------------------------------------------------
    def _stop_running(self, reason: str) -> None:
        """Stop every running trial and wait for them to end (a stop takes under a second)."""
        for number in list(self._running):
            self._trials[number].stop_reason = (
                self._trials[number].stop_reason or f"tuning job ended: {reason}"
            )
            self.pool.stop(number)
        self._retry_queue.clear()
        deadline = time.monotonic() + 10.0
        while self._running and time.monotonic() < deadline:
            events = self.pool.poll(0.2)
            with self.storage.batch():
                for event in events:
                    self._handle(event)
        if self._running:
            # The pool did not confirm in time: record them as Stopped ourselves.
            with self.storage.batch():
                for number in list(self._running):
                    self._on_finished(
                        self._trials[number], Finished(number, TrialStatus.STOPPED, self.clock())
                    )

    def _stop_job(self, status: str, *, reason: str | None, user: bool) -> JobOutcome:
        now = self.clock()
        self.storage.set_job_status(self.spec.name, "Stopping", now=now)
        self._stop_running("stopped by the user" if user else (reason or "stopped"))
        # Pending retries never ran again: record them as Stopped.
        with self.storage.batch():
            for state in self._trials.values():
                if not state.status.is_finished:
                    self._running.add(state.number)
                    self._on_finished(state, Finished(state.number, TrialStatus.STOPPED, now))
            self.storage.set_job_status(
                self.spec.name,
                status,
                now=self.clock(),
                ended=True,
                completion=self._completion_details,
            )
        return JobOutcome(self.spec.name, status)

    def _finish_job(self) -> JobOutcome:
        now = self.clock()
        if self._best is None and self._trials:
            failures = [s for s in self._trials.values() if s.status is TrialStatus.FAILED]
            reason = "No training job produced an objective value"
            if failures:
                first = self.storage.trials(self.spec.name)[failures[0].number - 1].failure_reason
                reason += f"; {len(failures)} training jobs failed, e.g. {first}"
            else:
                reason += f"; no training job reported the metric {self.objective.metric!r}"
            self.storage.set_job_status(
                self.spec.name,
                "Failed",
                now=now,
                reason=reason,
                ended=True,
                completion=self._completion_details,
            )
            return JobOutcome(self.spec.name, "Failed", reason)
        self.storage.set_job_status(
            self.spec.name, "Completed", now=now, ended=True, completion=self._completion_details
        )
        return JobOutcome(self.spec.name, "Completed")

    def _set_status(self, state: _TrialState, status: TrialStatus) -> None:
        """Change a trial's status, keeping the counts the progress display reads in step."""
        self._counts[state.status] -= 1
        self._counts[status] += 1
        state.status = status

    def progress(self) -> Progress:
        counts = self._counts
        return Progress(
            name=self.spec.name,
            completed=counts[TrialStatus.COMPLETED],
            running=counts[TrialStatus.IN_PROGRESS] + counts[TrialStatus.PENDING],
            failed=counts[TrialStatus.FAILED],
            stopped=counts[TrialStatus.STOPPED],
            max_jobs=self.spec.max_jobs,
            best_value=self._best,
            best_trial=self._best_name,
        )


def replace_spec(spec: TuningJobSpec, **changes: Any) -> TuningJobSpec:
    """A copy of ``spec`` with fields changed (tests use it for limits AMT forbids in requests)."""
    return dataclasses.replace(spec, **changes)
