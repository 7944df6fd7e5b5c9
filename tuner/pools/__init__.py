"""Worker pools: where trials run. ``LocalPool`` here; ``RayPool`` in its own module."""

from tuner.pools.base import Event, Finished, Report, Started, TrialSpec, WorkerPool
from tuner.pools.local import LocalPool

__all__ = ["Event", "Finished", "LocalPool", "Report", "Started", "TrialSpec", "WorkerPool"]
