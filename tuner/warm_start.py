"""Warm start: a tuning job that learns from earlier tuning jobs, its parents (AMT.md section 9).

::

    from tuner import HyperparameterTuner, WarmStartConfig, WarmStartTypes

    config = WarmStartConfig(WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, parents={"parent-job"})
    tuner = HyperparameterTuner(..., warm_start_config=config)

How the parents reach the strategy. A strategy is a pure function of (space, seed, history), so
warm start is only a longer history: when the coordinator starts (or resumes: resume is replay)
it reads the parents' training jobs from the database, maps each into this job's search space
(:func:`parent_observations`) and puts them, as finished trials numbered -1, -2, ..., before the
job's own trials in the history the strategy sees (:class:`WarmStartHistory`). Nothing of a
parent is written to the child: the parents' rows stay theirs, the child's training jobs are
numbered from 1 and only they count toward its ``MaxNumberOfTrainingJobs``, completion criteria
and early stopping (the stopping rules see the job's own trials only). Only direct parents are
read (AMT: warm start is not recursive; grandparents are not used).

How a parent's training job maps into this job's space, for both warm start types (the rules
are the same; IdenticalDataAndAlgorithm only checks more, see :func:`load_parents`):

* a hyperparameter this job tunes takes the parent trial's tuned value, or else the parent's
  static value (a static hyperparameter made tunable, which AMT allows);
* a value outside this job's range (or a category it does not list) leaves the trial out
  rather than clipping it: a clipped point would claim a result the parent never measured
  there;
* a hyperparameter this job tunes that the parent neither tuned nor set leaves the trial out
  (imputing a value would invent the configuration the parent ran);
* hyperparameters the parent tuned that this job does not tune are dropped (a tunable made
  static, or removed);
* a Failed parent training job is kept as failed (Bayesian imputes the worst value there, so the
  child avoids where training broke); a Completed or Stopped one keeps its final objective.

Choices where AMT is silent or where a local engine differs:

* Parents' training jobs count toward AMT's per-job training-job limit (500 in the text, 750
  now); this engine does not enforce AWS quotas (see :mod:`tuner.spec.validation`), so it does
  not either. The Bayesian strategy bounds its own cost (at most 300 observations).
* The rule "at most 10 tunable-to-static changes plus static value changes" is not enforced;
  static value changes are allowed and parent trials are used as they are.
* TransferLearning may add or remove hyperparameters (AMT asks the same total of static plus
  tuned hyperparameters for both types; here only IdenticalDataAndAlgorithm keeps that rule).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from strategies.base import Trial, TrialStatus
from strategies.space import Config, SearchSpace
from tuner.describe import objective_of
from tuner.errors import InvalidSpecError
from tuner.objective import Objective
from tuner.spec.model import TuningJobSpec
from tuner.spec.problems import ALGORITHM, DEFINITION, OBJECTIVE, RANGES, STATIC, Problems
from tuner.spec.ranges import request_ranges
from tuner.spec.warm_start import (
    USES_OBSERVATIONS,
    WarmStartTypes,
    parent_names,
    parent_path,
    warm_start_type,
)
from tuner.storage.base import Storage
from tuner.storage.records import JobRecord, TrainingJobRecord

__all__ = [
    "ParentJob",
    "ParentObservations",
    "WarmStartConfig",
    "WarmStartHistory",
    "WarmStartTypes",
    "load_parents",
    "parent_observations",
    "warm_start_observations",
]

log = logging.getLogger(__name__)


class WarmStartConfig:
    """The SageMaker SDK's ``WarmStartConfig(warm_start_type, parents)``.

    ``parents`` is a set of tuning job names, as in the SDK; the request lists them sorted, so
    the same config always makes the same request (a resume compares requests).
    """

    def __init__(self, warm_start_type: WarmStartTypes | str, parents: Iterable[str]) -> None:
        try:
            self.type = WarmStartTypes(warm_start_type)
        except ValueError:
            allowed = ", ".join(t.value for t in WarmStartTypes)
            msg = f"Invalid type: {warm_start_type!r}, valid warm start types are: {allowed}"
            raise ValueError(msg) from None
        if isinstance(parents, str):
            parents = {parents}
        self.parents: set[str] = set(parents or ())
        if not self.parents:
            msg = f"Invalid parents: {parents!r}, parents should not be None/empty"
            raise ValueError(msg)

    @classmethod
    def from_job_desc(cls, warm_start_config: Mapping[str, Any] | None) -> WarmStartConfig | None:
        """The config of a request or DescribeHyperParameterTuningJob response (None if absent)."""
        if not warm_start_config:
            return None
        parents = parent_names({"WarmStartConfig": warm_start_config})
        return cls(warm_start_config["WarmStartType"], parents)

    def to_input_req(self) -> dict[str, Any]:
        """The request's ``WarmStartConfig``."""
        return {
            "WarmStartType": self.type.value,
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": name} for name in sorted(self.parents)
            ],
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WarmStartConfig):
            return NotImplemented
        return (self.type, self.parents) == (other.type, other.parents)

    def __hash__(self) -> int:
        return hash((self.type, frozenset(self.parents)))

    def __repr__(self) -> str:
        return f"WarmStartConfig({self.type.value!r}, parents={sorted(self.parents)!r})"


# -- the parents in the database ---------------------------------------------------------------


@dataclass(frozen=True)
class ParentJob:
    """One parent tuning job as read from the database: its row and its training jobs."""

    record: JobRecord
    trials: tuple[TrainingJobRecord, ...]

    @property
    def name(self) -> str:
        return self.record.name


def load_parents(spec: TuningJobSpec, storage: Storage) -> tuple[ParentJob, ...]:
    """The spec's parents, checked against the database; () without a WarmStartConfig.

    Raises:
        InvalidSpecError: one message per problem, each naming the field: a parent that is not
            in this database or has not ended, another objective, a hyperparameter whose type
            changed; for IdenticalDataAndAlgorithm also another algorithm, other data, or
            another number of static plus tuned hyperparameters.
    """
    names = parent_names(spec.request)
    if not names:
        return ()
    kind = warm_start_type(spec.request)
    problems = Problems()
    parents: list[ParentJob] = []
    for index, name in enumerate(names):
        path = parent_path(index)
        try:
            record = storage.load_job(name)
        except LookupError:
            problems.add(
                path,
                f"no tuning job {name!r} in this database; a parent must be an earlier "
                "tuning job stored in the same database",
            )
            continue
        if not record.status.is_terminal:
            problems.add(
                path,
                f"parent {name!r} is {record.status}; a parent must have ended (Completed, "
                "Stopped or Failed): wait for it to end, or stop it",
            )
            continue
        _check_parent(spec, record, kind, problems)
        parents.append(ParentJob(record, tuple(storage.trials(record.name))))
    if problems:
        raise InvalidSpecError(problems.items)
    return tuple(parents)


def _definition(request: Mapping[str, Any]) -> Mapping[str, Any]:
    definition = request.get("TrainingJobDefinition")
    return definition if isinstance(definition, Mapping) else {}


def _ranges_request(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    config = request.get("HyperParameterTuningJobConfig") or {}
    return config.get("ParameterRanges")


def _static(request: Mapping[str, Any]) -> dict[str, str]:
    return dict(_definition(request).get("StaticHyperParameters") or {})


def _algorithm(request: Mapping[str, Any]) -> str | None:
    spec = _definition(request).get("AlgorithmSpecification") or {}
    return spec.get("TrainingImage") or spec.get("AlgorithmName")


def _data(request: Mapping[str, Any]) -> dict[str, Any]:
    """Channel name -> where its data is, as the request wrote it."""
    out: dict[str, Any] = {}
    for channel in _definition(request).get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        out[channel.get("ChannelName")] = source.get("S3Uri")
    return out


def _check_parent(
    spec: TuningJobSpec, parent: JobRecord, kind: WarmStartTypes | None, problems: Problems
) -> None:
    """The rules between this job and one parent that has ended."""
    name = parent.name
    theirs = objective_of(parent)
    ours = spec.objective
    if (theirs.metric, theirs.type) != (ours.metric, ours.type):
        problems.add(
            OBJECTIVE,
            f"must be the same as parent {name!r}'s ({theirs.type.value} {theirs.metric}), "
            f"got {ours.type.value} {ours.metric}",
        )
    their_ranges = request_ranges(_ranges_request(parent.request))
    for hp, ours_range in spec.space.ranges.items():
        their_range = their_ranges.get(hp)
        if their_range is not None and their_range.kind != ours_range.kind:
            problems.add(
                RANGES,
                f"{hp!r} is {ours_range.kind} here but {their_range.kind} in parent {name!r}; "
                "warm start keeps each hyperparameter's type",
            )
    if kind is not WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM:
        return
    why = "IdenticalDataAndAlgorithm needs the parents'"
    if _algorithm(spec.request) != _algorithm(parent.request):
        problems.add(
            ALGORITHM,
            f"{why} algorithm: parent {name!r} ran {_algorithm(parent.request)!r}, this job "
            f"{_algorithm(spec.request)!r} (use TransferLearning for another algorithm)",
        )
    if _data(spec.request) != _data(parent.request):
        problems.add(
            f"{DEFINITION}.InputDataConfig",
            f"{why} data: parent {name!r} read {_data(parent.request)}, this job "
            f"{_data(spec.request)} (use TransferLearning for other data)",
        )
    ours_count = len(set(_static(spec.request)) | set(spec.space.ranges))
    theirs_count = len(set(_static(parent.request)) | set(their_ranges))
    if ours_count != theirs_count:
        problems.add(
            STATIC,
            f"{why} number of static plus tuned hyperparameters: {theirs_count} in parent "
            f"{name!r}, {ours_count} here (use TransferLearning to add or remove some)",
        )


# -- the parents' trials as observations --------------------------------------------------------


@dataclass(frozen=True)
class ParentObservations:
    """The parents' training jobs as the strategy sees them, and how many were left out."""

    trials: tuple[Trial, ...] = ()
    outside: int = 0  # a value outside this job's range or categories
    missing: int = 0  # a hyperparameter this job tunes that the parent did not set


def _config_in(
    space: SearchSpace, tuned: Mapping[str, str], static: Mapping[str, str]
) -> Config | str:
    """The parent trial's configuration in ``space``, or why it is left out.

    A conditional hyperparameter that is inactive in the trial is absent from it, as in the
    child's own trials; only an active one that is missing leaves the trial out."""
    raw = {name: tuned.get(name, static.get(name)) for name in space.ranges}
    active = space.active({n: v for n, v in raw.items() if v is not None})
    config: Config = {}
    for name, rng in space.ranges.items():
        if name not in active:
            continue
        value = raw[name]
        if value is None:
            return "missing"
        if not rng.is_valid(value):
            return "outside"
        config[name] = rng.cast(value)
    return config


def parent_observations(
    space: SearchSpace, objective: Objective, parents: Sequence[ParentJob]
) -> ParentObservations:
    """The parents' finished training jobs mapped into ``space`` (rules: module docstring).

    Numbered -1, -2, ... in parent order then training job order, so they never collide with
    the job's own trials (numbered from 1); values oriented for minimisation like the rest.
    """
    trials: list[Trial] = []
    left_out = {"outside": 0, "missing": 0}
    for parent in parents:
        static = _static(parent.record.request)
        for t in parent.trials:
            if not t.status.is_finished:
                continue
            config = _config_in(space, t.hyperparameters, static)
            if isinstance(config, str):
                left_out[config] += 1
                continue
            value = None
            if t.status is not TrialStatus.FAILED and t.final_value is not None:
                value = objective.orient(t.final_value)
            trials.append(Trial(-(len(trials) + 1), config, t.status, value))
    return ParentObservations(tuple(trials), **left_out)


def warm_start_observations(spec: TuningJobSpec, storage: Storage) -> ParentObservations:
    """What the spec's strategy sees of its parents (checked by :func:`load_parents` first).

    Empty without a WarmStartConfig, and for Random, whose draws ignore observations.
    """
    parents = load_parents(spec, storage)
    if not parents or not USES_OBSERVATIONS.get(spec.strategy, False):
        return ParentObservations()
    observed = parent_observations(spec.space, spec.objective, parents)
    log.info(
        "warm start of %s: %d observations from %d parents (%d left out: %d outside the "
        "ranges, %d without a value for a tuned hyperparameter)",
        spec.name,
        len(observed.trials),
        len(parents),
        observed.outside + observed.missing,
        observed.outside,
        observed.missing,
    )
    return observed


class WarmStartHistory(Sequence[Trial]):
    """The parents' observations followed by the job's own trials: what the strategy sees.

    A view, rebuilt for each suggestion: the job's own history keeps changing underneath.
    """

    def __init__(self, parents: Sequence[Trial], own: Sequence[Trial]) -> None:
        self._parents = parents
        self._own = own

    def __len__(self) -> int:
        return len(self._parents) + len(self._own)

    def __iter__(self) -> Iterator[Trial]:
        yield from self._parents
        yield from self._own

    @overload
    def __getitem__(self, index: int) -> Trial: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Trial]: ...
    def __getitem__(self, index: int | slice) -> Trial | Sequence[Trial]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        n = len(self._parents)
        return self._parents[index] if index < n else self._own[index - n]
