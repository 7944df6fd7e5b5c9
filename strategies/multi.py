"""Several training job definitions in one search (AMT multi-algorithm TrainingJobDefinitions).

A multi-definition job tunes, say, xgboost and linear-learner on the same data: each definition
has its own algorithm, its own ranges (the names may even clash: both may tune ``eta`` on
different scales) and its own objective metric. Two shapes were possible:

* one joint space with a categorical ``_definition`` dimension and conditional ranges, searched
  by one model; or
* one sub-search per definition (the job's strategy on that definition's own space), with the
  budget shared between them.

This module is the second, because every existing strategy then runs unchanged on a plain
space: no strategy has to learn conditional dimensions, a definition's Gaussian process never
sees the other algorithm's hyperparameters, Grid over several definitions is simply the union
of each definition's grid, and Hyperband or the median rule compare a trial only with trials of
its own definition (whose objective may be another metric on another scale).

The budget is shared round-robin: the next trial goes to the definition with the fewest trials
so far (ties: the order of the definitions), skipping one whose sub-search has nothing left (a
finished grid). This is a pure function of the history, so resume is replay, and it is robust:
a bandit that moves the budget to the definition that looks best would save trials when one
algorithm is clearly worse, but it can starve a slow starter on noisy early results, and AMT
does not document how it shares the budget.

Purity is kept as everywhere in :mod:`strategies`: the only state is a cache of the history
split by definition (:class:`DefinitionHistories`), rebuilt from scratch whenever the history
handed in is not the one seen last time. Each sub-search sees its definition's trials renumbered
1, 2, 3 ... in the order of the job's numbers, with ``_definition`` left out of their
configurations, exactly as a one-definition job of its own would. Its seed is derived from the
job seed and the definition's position, so two definitions never draw the same sequence.

The definition is carried in the configuration under :data:`DEFINITION_KEY` (the coordinator
stores it in its own column and never passes it to a training job); :class:`JointSpace` is the
space the coordinator keeps its trials in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from strategies.base import StopDecision, Suggestion, Trial
from strategies.history import ChangeFeed, TrialHistory
from strategies.registry import Search, StrategyOptions, build_search
from strategies.space import CategoricalParameter, Config, ParamValue, SearchSpace

#: The configuration key that names a trial's definition (hidden from its hyperparameters).
DEFINITION_KEY = "_definition"


@dataclass(frozen=True)
class JointSpace(SearchSpace):
    """The definitions' spaces side by side: ``_definition`` says which one a config is in.

    ``ranges`` holds only the categorical ``_definition`` (the union of the definitions' ranges
    would merge two ranges of the same name); :meth:`cast` and :meth:`format` read the rest of a
    configuration with its own definition's space.
    """

    spaces: Mapping[str, SearchSpace] = field(default_factory=dict)

    @classmethod
    def of(cls, spaces: Mapping[str, SearchSpace]) -> JointSpace:
        return cls({DEFINITION_KEY: CategoricalParameter(list(spaces))}, dict(spaces))

    def space_of(self, config: Mapping[str, object]) -> SearchSpace:
        return self.spaces[str(config[DEFINITION_KEY])]

    def cast(self, tuned: Mapping[str, object]) -> Config:
        if DEFINITION_KEY not in tuned:
            return {}
        rest = {k: v for k, v in tuned.items() if k != DEFINITION_KEY}
        return {DEFINITION_KEY: str(tuned[DEFINITION_KEY]), **self.space_of(tuned).cast(rest)}

    def format(self, config: Mapping[str, ParamValue]) -> dict[str, str]:
        rest = {k: v for k, v in config.items() if k != DEFINITION_KEY}
        return {DEFINITION_KEY: str(config[DEFINITION_KEY]), **self.space_of(config).format(rest)}

    def grid_size(self) -> int:
        """The union of the definitions' grids."""
        return sum(space.grid_size() for space in self.spaces.values())


def definition_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th definition's sub-search (the first keeps the job's seed)."""
    if index == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), index]).generate_state(1)[0] % 2**31)


class DefinitionHistories:
    """The job's history split by definition: one renumbered :class:`TrialHistory` each.

    Kept in step with a :class:`TrialHistory` through a :class:`ChangeFeed` (a report updates
    one entry, not the whole split), so sub-searches and their stopping rules keep their own
    caches; any other sequence rebuilds the split from scratch.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.histories: dict[str, TrialHistory] = {}
        self._where: dict[int, tuple[str, int]] = {}  # job number -> (definition, position)
        self._feed = ChangeFeed(self._reset, self._update)
        self._reset()

    def _reset(self) -> None:
        self.histories = {name: TrialHistory() for name in self.names}
        self._where = {}

    def _update(self, trial: Trial) -> None:
        name = str(trial.config.get(DEFINITION_KEY, self.names[0]))
        sub = self.histories[name]
        known = self._where.get(trial.number)
        position = known[1] if known is not None else len(sub)
        local = dataclasses.replace(
            trial,
            number=position + 1,
            config={k: v for k, v in trial.config.items() if k != DEFINITION_KEY},
        )
        if known is None:
            self._where[trial.number] = (name, position)
            sub.append(local)
        else:
            sub.replace(position, local)

    def sync(self, history: Sequence[Trial]) -> None:
        self._feed.sync(history)

    def local(self, trial: Trial) -> tuple[str, Trial, TrialHistory]:
        """``trial``'s definition, its renumbered snapshot and its definition's history."""
        name, position = self._where[trial.number]
        sub = self.histories[name]
        return name, sub[position], sub


class MultiDefinitionStrategy:
    """One sub-strategy per definition; the next trial goes round-robin (see the module)."""

    def __init__(self, searches: Mapping[str, Search], split: DefinitionHistories) -> None:
        self.searches = dict(searches)
        self.split = split

    def ask(self, history: Sequence[Trial]) -> Suggestion | None:
        self.split.sync(history)
        order = sorted(
            range(len(self.split.names)),
            key=lambda i: (len(self.split.histories[self.split.names[i]]), i),
        )
        for i in order:
            name = self.split.names[i]
            suggestion = self.searches[name].strategy.ask(self.split.histories[name])
            if suggestion is not None:
                config = {DEFINITION_KEY: name, **suggestion.config}
                return Suggestion(config, bracket=suggestion.bracket)
        return None


class MultiDefinitionStopper:
    """Each definition's stopping rule, on that definition's trials only."""

    def __init__(self, searches: Mapping[str, Search], split: DefinitionHistories) -> None:
        self.searches = dict(searches)
        self.split = split

    def should_stop(self, trial: Trial, history: Sequence[Trial]) -> StopDecision | None:
        self.split.sync(history)
        name, local, sub = self.split.local(trial)
        stopper = self.searches[name].stopper
        return None if stopper is None else stopper.should_stop(local, sub)


def build_multi_search(
    name: str,
    spaces: Mapping[str, SearchSpace],
    seed: int,
    *,
    options: Mapping[str, StrategyOptions] | None = None,
    early_stopping: str = "Off",
) -> Search:
    """The strategy ``name`` on each definition's space, sharing one job budget.

    ``options``: each definition's strategy options (Hyperband's resources may be inferred from
    each definition's own static hyperparameters).
    """
    searches = {
        definition: build_search(
            name,
            space,
            definition_seed(seed, index),
            options=(options or {}).get(definition),
            early_stopping=early_stopping,
        )
        for index, (definition, space) in enumerate(spaces.items())
    }
    split = DefinitionHistories(list(spaces))
    stops = any(s.stopper is not None for s in searches.values())
    return Search(
        MultiDefinitionStrategy(searches, split),
        MultiDefinitionStopper(searches, split) if stops else None,
    )
