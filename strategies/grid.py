"""Grid search, AMT's ``Grid`` strategy: every combination of the categorical ranges, once.

AMT allows only categorical ranges with Grid, and the number of training jobs is the number of
combinations. Trial ``n`` takes combination ``n - 1`` in the order of :meth:`SearchSpace.grid`
(declaration order, last range fastest); a retried trial keeps its number, so no combination is
visited twice and none is skipped. The seed plays no part.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Suggestion, Trial
from strategies.space import SearchSpace


class GridStrategy:
    """Walks the grid of categorical combinations in a fixed order; ``None`` when done."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.size = space.grid_size()
        # Fails early, with the offending name, when a range is not categorical.
        if self.size:
            space.grid_point(0)

    def ask(self, history: Sequence[Trial]) -> Suggestion | None:
        index = len(history)
        if index >= self.size:
            return None
        return Suggestion(self.space.grid_point(index))
