"""Which training jobs a costly statistic is computed on when a job has too many of them.

fANOVA's cost grows faster than the number of training jobs (Optuna's forest of 32 trees on 4
hyperparameters, one core: about 0.8 s at 200 jobs, 1.3 s at 300, 2 s at 400; a report of
2,000 jobs used to spend 25 s in it, one of 10,000 jobs over 8 minutes), so the importance of
a big job is computed on a sample; every other statistic (rank correlations, binned shapes,
eta squared) still uses every compared training job, and the best and the top training jobs
every training job.

The rule (:func:`importance_sample`): all compared training jobs when there are at most
:data:`MAX_IMPORTANCE_JOBS`; otherwise a best-weighted stratified sample of that many: the
:data:`BEST_JOBS` best by the compared objective value (ties to the earlier job), so the region
the search converged on is always modelled, plus a uniform random sample of the others drawn
with ``numpy.random.default_rng(seed)`` (:data:`SEED` by default), so the same database gives the
same sample and the same report. The result says what it was drawn from, and every report
states it (``Sample`` in the JSON, a line in the terminal and the HTML).

Pure logic on arrays (no storage), like :mod:`tuner.reports.comparable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Compared training jobs the importance is computed on at most (all of them up to this).
MAX_IMPORTANCE_JOBS = 300
#: The best training jobs always in the sample (the rest is a uniform random sample).
BEST_JOBS = 50
#: Seed of the sample: fixed, so a report of the same database is the same report.
SEED = 0

ALL = "all"
BEST_AND_UNIFORM = "best-and-uniform"


@dataclass(frozen=True, slots=True)
class Sample:
    """Positions (sorted) of the sampled jobs among ``of`` compared ones, and how drawn."""

    indices: tuple[int, ...]
    of: int
    best: int
    seed: int
    rule: str

    @property
    def jobs(self) -> int:
        return len(self.indices)

    @property
    def sampled(self) -> bool:
        return self.jobs < self.of

    @property
    def description(self) -> str:
        """One sentence for the reports: how many of how many, and how they were chosen."""
        if not self.sampled:
            return f"all {self.of} compared training jobs"
        return (
            f"{self.jobs} of {self.of} compared training jobs: the {self.best} best by "
            f"objective plus a uniform random sample (seed {self.seed}) of "
            f"{self.jobs - self.best} of the other {self.of - self.best}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The report's ``Importance.Sample`` block (also the top-level ``Sample``)."""
        return {
            "Jobs": self.jobs,
            "Of": self.of,
            "Sampled": self.sampled,
            "Rule": self.rule,
            "Best": self.best,
            "Seed": self.seed,
            "MaxJobs": MAX_IMPORTANCE_JOBS,
            "Description": self.description,
        }


def importance_sample(
    losses: np.ndarray,
    *,
    size: int = MAX_IMPORTANCE_JOBS,
    best: int = BEST_JOBS,
    seed: int = SEED,
) -> Sample:
    """The sample of the module doc; ``losses`` are the compared values, lower is better.

    NaN losses sort last (they are never among the best).
    """
    values = np.asarray(losses, dtype=float)
    n = len(values)
    if n <= size:
        return Sample(tuple(range(n)), n, 0, seed, ALL)
    best = min(best, size)
    order = np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")
    top = order[:best]
    rest = np.sort(order[best:])
    drawn = np.random.default_rng(seed).choice(len(rest), size=size - best, replace=False)
    picked = np.sort(np.concatenate([top, rest[drawn]]))
    return Sample(tuple(int(i) for i in picked), n, best, seed, BEST_AND_UNIFORM)
