"""Random search, AMT's ``Random`` strategy: each trial an independent draw on each scale.

Trial ``n`` draws from ``rng_for(seed, n)``, so the same seed gives the same configurations
whatever the parallelism and whatever order trials finish in (AMT promises "up to 100%
reproducibility" for Random with a seed; ours is exact). A draw that a pending trial already
has is drawn again from the same generator (see :func:`strategies.base.sample_distinct`), so
parallel trials of a small discrete space do not run the same configuration.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Suggestion, Trial, pending_configs, rng_for, sample_distinct
from strategies.space import SearchSpace


class RandomStrategy:
    """Independent uniform draws on each range's scale (Bergstra & Bengio, JMLR 2012)."""

    def __init__(self, space: SearchSpace, *, seed: int) -> None:
        self.space = space
        self.seed = seed

    def ask(self, history: Sequence[Trial]) -> Suggestion | None:
        rng = rng_for(self.seed, len(history) + 1)
        return Suggestion(sample_distinct(self.space, rng, pending_configs(history)))
