"""Multi-algorithm tuning jobs: a request with several ``TrainingJobDefinitions`` (AMT.md 2, 11).

Each definition is checked as a one-definition request of its own would be (its algorithm,
static hyperparameters, ranges, objective, channels), by the same checks of
:mod:`tuner.spec.validation`, with its problems named where the request wrote them
(``TrainingJobDefinitions[1].HyperParameterRanges...``). The rules of the whole request:

* 1 to 10 definitions, each with a ``DefinitionName`` (AMT's pattern, unique in the job), its
  own ``TuningObjective`` and ``HyperParameterRanges``; the top-level
  ``HyperParameterTuningJobObjective`` and ``ParameterRanges`` are then not given (AMT carries
  them per definition).
* Every ``TuningObjective`` has the same ``Type``: the best training job is the best value
  across definitions, compared directly (the metric names may differ, as in AMT).
* ``WarmStartConfig`` is refused: "Warm start and early stopping are available only when
  tuning a single algorithm" (AMT's developer guide).
* ``TrainingJobEarlyStoppingType: Auto`` runs, although AMT refuses it for several algorithms:
  the median rule then compares a trial with trials of its own definition only (another
  algorithm's curve is on another scale, often another metric).
* ``Strategy`` works as for one definition: Random, Bayesian, TPE and Hyperband search each
  definition's space (:mod:`strategies.multi`); Grid runs the union of the definitions' grids,
  so ``MaxNumberOfTrainingJobs``, if given, must equal the sum of their sizes.
* A definition may be script mode (a framework image with ``sagemaker_program``): its
  training jobs run its own entry point with its own metric definitions, beside built-in
  algorithms and other scripts in the same job.
* ``Autotune`` chooses each definition's ranges as it would for that definition alone (its
  algorithm's recommended ranges, its AutoParameters), written back into the definition so
  Describe shows them; a missing ``MaxNumberOfTrainingJobs`` is the sum of the definitions'
  own choices, at most Autotune's cap of 100.

The spec of such a request keeps the request in its ``TrainingJobDefinitions`` form (stored and
echoed by Describe as given), a :class:`~strategies.multi.JointSpace`, and one
:class:`~tuner.spec.model.DefinitionSpec` per definition; its own algorithm fields are the
first definition's (what the worker pool reserves per trial: the first definition's
resources).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from strategies.multi import JointSpace
from strategies.registry import STRATEGIES
from tuner.errors import InvalidSpecError
from tuner.spec.autotune import autotune_enabled, check_auto_parameters, resolve_autotune
from tuner.spec.model import TuningJobSpec
from tuner.spec.problems import (
    CONFIG,
    DEFINITION,
    DEFINITIONS,
    LIMITS,
    OBJECTIVE,
    RANGES,
    Problems,
)

#: AMT's most definitions per job.
MAX_DEFINITIONS = 10
#: AMT's DefinitionName pattern (1-64 characters).
DEFINITION_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,63}")
#: The members a multi-algorithm definition has that a single TrainingJobDefinition has not.
_OWN_MEMBERS = ("DefinitionName", "TuningObjective", "HyperParameterRanges")

#: The training callables by DefinitionName (as pickled bytes when a job is resumed).
TrainFns = Mapping[str, Callable[..., Any] | bytes]


def is_multi_definition(request: Mapping[str, Any]) -> bool:
    """True for a request with several TrainingJobDefinitions (and no TrainingJobDefinition)."""
    definitions = request.get(DEFINITIONS)
    return (
        isinstance(definitions, list)
        and len(definitions) > 1
        and all(isinstance(d, dict) for d in definitions)
        and DEFINITION not in request
    )


def spec_from_definitions(
    request: dict[str, Any],
    problems: Problems,
    *,
    base_dir: Path,
    train_fns: TrainFns | None,
) -> TuningJobSpec:
    """The spec of a multi-algorithm request (raises InvalidSpecError with every problem)."""
    definitions: list[dict[str, Any]] = request[DEFINITIONS]
    config = request.get(CONFIG) if isinstance(request.get(CONFIG), dict) else {}
    assert isinstance(config, dict)
    names = _check_job(request, config, definitions, train_fns, problems)
    if autotune_enabled(request):
        request = _autotuned(request, config, names, train_fns, problems)
        definitions, config = request[DEFINITIONS], request[CONFIG]
    grid = _is_grid(config)
    checked = []
    for index, definition in enumerate(definitions):
        single = _single_request(request, config, definition, grid=grid)
        sub = _definition_problems(index)
        name = names[index]
        fn = _train_fn((train_fns or {}).get(name)) if name is not None else None
        checked.append((single, _check_definition(single, base_dir, fn, sub), fn))
        for item in sub.items:
            if item not in problems.items:
                problems.items.append(item)
    if grid:
        _check_grid_budget(config, [c for _, c, _ in checked], problems)
    if problems:
        raise InvalidSpecError(problems.items)
    return _build(request, config, checked, names, base_dir, grid=grid)


def _check_job(
    request: Mapping[str, Any],
    config: Mapping[str, Any],
    definitions: list[dict[str, Any]],
    train_fns: TrainFns | None,
    problems: Problems,
) -> list[str | None]:
    """The rules of the whole request (see the module docstring); the definitions' names."""
    if len(definitions) > MAX_DEFINITIONS:
        problems.add(
            DEFINITIONS,
            f"holds {len(definitions)} definitions; at most {MAX_DEFINITIONS} are allowed",
        )
    for member, instead in (
        ("HyperParameterTuningJobObjective", "TuningObjective"),
        ("ParameterRanges", "HyperParameterRanges"),
    ):
        if member in config:
            problems.add(
                f"{CONFIG}.{member}",
                f"is not given with several {DEFINITIONS}: each definition has its own "
                f"{instead} ({DEFINITIONS}[i].{instead})",
            )
    if request.get("WarmStartConfig") is not None:
        problems.add(
            "WarmStartConfig",
            "warm start is available only when tuning a single algorithm; give one "
            "definition, or leave WarmStartConfig out",
        )
    names: list[str | None] = []
    types: dict[str, list[str]] = {}
    for index, definition in enumerate(definitions):
        where = f"{DEFINITIONS}[{index}]"
        name = definition.get("DefinitionName")
        if name is None:
            problems.add(
                f"{where}.DefinitionName", "is required when a job has several definitions"
            )
        elif isinstance(name, str) and not DEFINITION_NAME.fullmatch(name):
            problems.add(
                f"{where}.DefinitionName",
                "must be 1-64 letters, digits or hyphens, starting and ending with a letter or "
                f"digit (pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){{0,63}}), got {name!r}",
            )
        elif name in names:
            first = names.index(name)
            problems.add(
                f"{where}.DefinitionName",
                f"{name!r} is already the name of {DEFINITIONS}[{first}]; names must be unique",
            )
        names.append(name if isinstance(name, str) else None)
        for member in _OWN_MEMBERS[1:]:
            if member not in definition:
                problems.add(f"{where}.{member}", "is required when a job has several definitions")
        objective = definition.get("TuningObjective")
        if isinstance(objective, dict) and isinstance(objective.get("Type"), str):
            types.setdefault(objective["Type"], []).append(f"{where}")
    if len(types) > 1:
        listed = "; ".join(f"{t} in {', '.join(ws)}" for t, ws in types.items())
        problems.add(
            DEFINITIONS,
            "every definition's TuningObjective must have the same Type (the best training "
            f"job is compared across definitions); got {listed}",
        )
    unknown = sorted(set(train_fns or {}) - {n for n in names if n is not None})
    if unknown:
        problems.add(DEFINITIONS, f"no definition is called {', '.join(map(repr, unknown))}")
    return names


def _autotuned(
    request: dict[str, Any],
    config: Mapping[str, Any],
    names: list[str | None],
    train_fns: TrainFns | None,
    problems: Problems,
) -> dict[str, Any]:
    """The request with Autotune's choices made per definition, as a one-definition request
    gets them: each definition's ranges from its algorithm's recommended ones (and its
    AutoParameters), written back into its HyperParameterRanges and StaticHyperParameters so
    Describe shows what was chosen; a missing MaxNumberOfTrainingJobs becomes the sum of
    what each definition alone would get, at most Autotune's cap."""
    from tuner.spec.autotune import MAX_AUTOTUNE_JOBS
    from tuner.spec.validation import _algorithm

    resolved = copy.deepcopy(request)
    total = 0
    for index, definition in enumerate(resolved[DEFINITIONS]):
        single = _single_request(request, config, definition, grid=False)
        name = names[index]
        fn = _train_fn((train_fns or {}).get(name)) if name is not None else None
        algorithm = _algorithm(single, fn)
        known = None if algorithm is None else set(algorithm.hyperparameters)
        sub = _definition_problems(index)
        check_auto_parameters(single, known, sub)
        problems.items.extend(i for i in sub.items if i not in problems.items)
        chosen = resolve_autotune(
            single, {} if algorithm is None else algorithm.tuning_ranges, known
        )
        definition["HyperParameterRanges"] = chosen[CONFIG]["ParameterRanges"]
        static = chosen[DEFINITION].get("StaticHyperParameters")
        if static:
            definition["StaticHyperParameters"] = static
        total += int(chosen[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"])
    limits = resolved.setdefault(CONFIG, {}).setdefault("ResourceLimits", {})
    limits.setdefault("MaxNumberOfTrainingJobs", min(MAX_AUTOTUNE_JOBS, total))
    return resolved


def one_train_fn(train_fns: TrainFns) -> Callable[..., Any] | None:
    """The callable of a one-definition job given by DefinitionName (the only one, if any)."""
    return _train_fn(next(iter(train_fns.values()), None))


def _train_fn(fn: Callable[..., Any] | bytes | None) -> Callable[..., Any] | None:
    """A callable as given, or unpickled from what a stored job keeps for its resume."""
    if isinstance(fn, bytes):
        import cloudpickle

        loaded: Callable[..., Any] = cloudpickle.loads(fn)
        return loaded
    return fn


def _is_grid(config: Mapping[str, Any]) -> bool:
    entry = STRATEGIES.get(str(config.get("Strategy")))
    return entry is not None and entry.categorical_only


def _single_request(
    request: Mapping[str, Any],
    config: Mapping[str, Any],
    definition: Mapping[str, Any],
    *,
    grid: bool,
) -> dict[str, Any]:
    """The definition as a one-definition request (the job's config, its objective and ranges).

    With Grid, the budget is the union of the grids: each definition's own check must not
    compare it with its grid alone.
    """
    own = copy.deepcopy(dict(config))
    own.pop("HyperParameterTuningJobObjective", None)
    own.pop("ParameterRanges", None)
    if "TuningObjective" in definition:
        own["HyperParameterTuningJobObjective"] = definition["TuningObjective"]
    if "HyperParameterRanges" in definition:
        own["ParameterRanges"] = definition["HyperParameterRanges"]
    if grid and isinstance(own.get("ResourceLimits"), dict):
        own["ResourceLimits"] = dict(own["ResourceLimits"])
        own["ResourceLimits"].pop("MaxNumberOfTrainingJobs", None)
    # Autotune stays: its AutoParameters are read, and allowed, as a one-definition job's.
    single = {
        k: v for k, v in request.items() if k not in (DEFINITIONS, CONFIG, "WarmStartConfig")
    }
    single[CONFIG] = own
    single[DEFINITION] = {k: v for k, v in definition.items() if k not in _OWN_MEMBERS}
    return single


def _definition_problems(index: int) -> Problems:
    """A collector that names a definition's problems where the request wrote them."""
    where = f"{DEFINITIONS}[{index}]"
    sub = Problems()
    sub.alias(DEFINITION, where)
    sub.alias(OBJECTIVE, f"{where}.TuningObjective")
    sub.alias(RANGES, f"{where}.HyperParameterRanges")
    return sub


def _check_definition(
    single: dict[str, Any],
    base_dir: Path,
    train_fn: Callable[..., Any] | None,
    problems: Problems,
) -> Any:
    from tuner.spec.validation import _check

    return _check(single, base_dir, train_fn, problems)


def _check_grid_budget(config: Mapping[str, Any], checked: list[Any], problems: Problems) -> None:
    limits = config.get("ResourceLimits")
    max_jobs = limits.get("MaxNumberOfTrainingJobs") if isinstance(limits, dict) else None
    sizes = [c.space.grid_size() for c in checked]
    if isinstance(max_jobs, int) and max_jobs != sum(sizes):
        problems.add(
            f"{LIMITS}.MaxNumberOfTrainingJobs",
            f"with Strategy Grid over several definitions it must equal the number of "
            f"combinations of all their grids, {sum(sizes)} ({' + '.join(map(str, sizes))}), "
            f"or be omitted; got {max_jobs}",
        )


def _build(
    request: dict[str, Any],
    config: Mapping[str, Any],
    checked: list[tuple[dict[str, Any], Any, Callable[..., Any] | None]],
    names: list[str | None],
    base_dir: Path,
    *,
    grid: bool,
) -> TuningJobSpec:
    from tuner.spec.validation import _build as build_single

    specs = [build_single(single, c, base_dir, fn) for single, c, fn in checked]
    # Each definition is its one-definition spec's own (TuningJobSpec.definition), named.
    definitions = tuple(
        dataclasses.replace(s.definition(None), name=name, definition=single[DEFINITION])
        for name, s, (single, _, _) in zip(names, specs, checked, strict=True)
        if name is not None
    )
    space = JointSpace.of({d.name: d.space for d in definitions if d.name is not None})
    first = specs[0]
    max_jobs = space.grid_size() if grid else first.max_jobs
    return dataclasses.replace(
        first,
        request=request,
        space=space,
        max_jobs=max_jobs,
        train_fn=None,
        script=None,
        definitions=definitions,
    )
