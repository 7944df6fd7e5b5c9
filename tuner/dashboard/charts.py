"""The job page's charts and analysis, drawn by the report's figure builders on bounded data.

The figures are :mod:`tuner.reports.html`'s (objective by training job with the best-so-far
line, each hyperparameter on its own scale, parallel coordinates, learning curves with
early-stopped training jobs marked, importance bars) and the correlation and importance table
is :func:`tuner.reports.report.build_report`'s. What this module adds is how much data they get, so
that a job of 100,000 training jobs draws as fast as one of 100:

* Objective by training job: all scored training jobs when there are at most
  :data:`MAX_OBJECTIVE_POINTS`; else the best and worst of each of ``MAX_OBJECTIVE_POINTS / 2``
  consecutive buckets, plus every training job that set a new best, so the extremes and the
  best-so-far line (computed over all of them) stay exact.
* Hyperparameter charts: a seeded random sample of :data:`CHART_SAMPLE` scored training jobs
  plus the :data:`TOP_K` best; parallel coordinates: :data:`PARALLEL_SAMPLE` of those plus the
  same best, as SVG lines (``Parallel``, drawn at once) and as plotly's WebGL ``parcoords``
  whose axes filter when dragged (``ParallelInteractive``, drawn on request: WebGL takes over
  a second to start in a browser without a GPU).
* Correlations and importance: a seeded random sample of :data:`ANALYSIS_SAMPLE` (the
  statistics and the forest cost seconds per thousand trials); a job that small gets exactly
  ``tuner report``'s numbers. They run in the background (:class:`AnalysisCache`).
* Learning curves: the :data:`CURVE_TOP` best, the running and the stopped-early training jobs
  and a random sample, :data:`MAX_CURVES` in all, each thinned in SQL to about
  :data:`MAX_CURVE_POINTS` epochs (the first and the last kept).

Every sample says what it was drawn from (``Sample``), so the page can say so.

On top of the report's figures: each point carries its trial number in ``customdata`` (a
click opens that training job's page), the objective chart's stopped-early training jobs are a
trace of their own (``uid`` "stopped", which the page can hide), and every axis makes room for
its labels (``automargin``), so long hyperparameter names are not clipped.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tuner.dashboard.reader import DashboardReader, LoadedJob, ScoredSeries, evenly_spaced
from tuner.describe import training_job_name
from tuner.objective import ObjectiveType
from tuner.reports.analytics import (
    LEARNING_CURVE_COLUMNS,
    AnalyticsSnapshot,
    learning_curve_row,
)
from tuner.reports.html import (
    MAX_CURVE_METRICS,
    Figure,
    curve_chart,
    importance_chart,
    objective_chart,
    parallel_chart,
    parallel_lines_chart,
    parameter_chart,
)
from tuner.reports.report import build_report, comparison_text, effect_text, fmt_number
from tuner.status import TrialStatus

logger = logging.getLogger(__name__)

#: Points of the objective chart at most (before adding the training jobs that set a best):
#: plotly draws 2,000 SVG markers in a fifth of a second, 4,000 in two thirds.
MAX_OBJECTIVE_POINTS = 2000
#: Scored training jobs in the hyperparameter charts and in the parallel coordinates (each
#: plus the TOP_K best). Parallel coordinates are drawn with WebGL, slow without a GPU.
CHART_SAMPLE = 1000
PARALLEL_SAMPLE = 500
TOP_K = 50
#: Scored training jobs the correlations and importance are computed on.
ANALYSIS_SAMPLE = 500
#: Learning curves drawn at most, of which the best, the running and the stopped ones.
MAX_CURVES = 100
CURVE_TOP = 10
CURVE_RUNNING = 20
CURVE_STOPPED = 20
#: Epochs per learning curve at most (evenly spaced, first and last kept).
MAX_CURVE_POINTS = 200
#: Seed of every sample (the same page shows the same sample).
SEED = 0
_RUNNING_COLOR = "#ff7f0e"


# ----------------------------------------------------------------------------------------------
# Pure selection helpers (tested on arrays)
# ----------------------------------------------------------------------------------------------
def oriented(values: np.ndarray, objective_type: ObjectiveType) -> np.ndarray:
    """Values as losses: lower is better."""
    return -values if objective_type is ObjectiveType.MAXIMIZE else values


def improving(losses: np.ndarray) -> np.ndarray:
    """Indices where the running best improves (the first value included)."""
    if len(losses) == 0:
        return np.array([], dtype=np.int64)
    before = np.r_[np.inf, np.minimum.accumulate(losses)[:-1]]
    return np.flatnonzero(losses < before)


def downsample_indices(losses: np.ndarray, max_points: int) -> np.ndarray:
    """Indices that keep the best and worst of each bucket and every new best, in order."""
    n = len(losses)
    if n <= max_points:
        return np.arange(n)
    n_buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, n_buckets + 1).astype(np.int64)
    keep = [improving(losses)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b > a:
            chunk = losses[a:b]
            keep.append(np.array([a + int(np.argmin(chunk)), a + int(np.argmax(chunk))]))
    return np.unique(np.concatenate(keep))


def best_indices(series: ScoredSeries, objective_type: ObjectiveType, k: int) -> np.ndarray:
    """Indices of the ``k`` best values of ``series`` (the lower number first on ties)."""
    return np.argsort(oriented(series.values, objective_type), kind="stable")[:k]


def sample_indices(n: int, size: int, seed: int = SEED) -> np.ndarray:
    """A seeded random sample of ``size`` indices of ``range(n)`` (all of them if fewer)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _sample_info(shown: int, total: int, how: str) -> dict[str, Any]:
    return {"Shown": int(shown), "Total": int(total), "Sampled": shown < total, "How": how}


# ----------------------------------------------------------------------------------------------
# Charts
# ----------------------------------------------------------------------------------------------
def objective_figure(reader: DashboardReader, job: LoadedJob) -> dict[str, Any]:
    """The objective of each scored training job by number, with the best-so-far line."""
    series = reader.scored_series(job)
    objective = job.objective
    losses = oriented(series.values, objective.type)
    best = np.minimum.accumulate(losses) if len(losses) else losses
    best_reported = oriented(best, objective.type)
    idx = downsample_indices(losses, MAX_OBJECTIVE_POINTS)
    numbers = series.numbers[idx]
    frame = pd.DataFrame(
        {
            "FinalObjectiveValue": series.values[idx],
            "BestSoFar": best_reported[idx],
            "TrainingJobStatus": np.where(
                series.stopped[idx], TrialStatus.STOPPED.value, TrialStatus.COMPLETED.value
            ),
            "TrainingJobName": [training_job_name(job.record.name, int(n)) for n in numbers],
        }
    )
    figure = objective_chart(frame, objective.metric, objective.type.value)
    # Every row is scored, so both traces hold every row: plot them at their numbers.
    points, best_line = figure["data"]
    best_line["x"] = numbers.tolist()
    figure["data"] = [*_split_stopped(points, numbers, series.stopped[idx]), best_line]
    figure["layout"]["xaxis"]["title"]["text"] = "training job number"
    tidy(figure)
    how = "best and worst per bucket of consecutive training jobs, and every new best"
    return {
        "Figure": figure,
        "Sample": _sample_info(len(idx), len(losses), how if len(idx) < len(losses) else "all"),
    }


def _split_stopped(
    points: dict[str, Any], numbers: np.ndarray, stopped: np.ndarray
) -> list[dict[str, Any]]:
    """The report's one trace of points as two: completed, then stopped early (``uid``).

    A stopped training job's value is its value where it stopped, often far below the
    completed ones: as a trace of its own the page can hide it (and plotly then fits the axis
    to what is left). Each point carries its trial number in ``customdata`` (a click opens it).
    """
    out = []
    for mask, uid, name in (
        (~stopped, "completed", "completed"),
        (stopped, "stopped", "stopped early (X)"),
    ):
        if not mask.any():
            continue

        def part(values: Sequence[Any], mask: np.ndarray = mask) -> list[Any]:
            return [v for v, keep in zip(values, mask, strict=True) if keep]

        out.append(
            {
                **points,
                "uid": uid,
                "name": name,
                "x": numbers[mask].tolist(),
                "y": part(points["y"]),
                "hovertext": part(points["hovertext"]),
                "customdata": numbers[mask].tolist(),
                "marker": {key: part(v) for key, v in points["marker"].items()},
            }
        )
    return out


def tidy(figure: Figure | None) -> Figure | None:
    """Axes that make room for their labels (``automargin``): long names are not clipped."""
    if figure is not None:
        for key, axis in figure["layout"].items():
            if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
                axis["automargin"] = True
    return figure


def link_points(
    figure: Figure, frame: pd.DataFrame, extra: Mapping[str, int] | None = None
) -> None:
    """Give every point a ``customdata`` trial number, so that a click opens its page.

    The report's builders label each point with the training job's escaped name (with its
    status in the scatter charts) in ``hovertext``; ``frame`` maps those labels back to
    numbers. Traces without hovertext take ``extra[trace name]`` for every point.
    """
    numbers: dict[str, int] = {}
    for name, status, number in zip(
        frame["TrainingJobName"], frame["TrainingJobStatus"], frame["TrialNumber"], strict=True
    ):
        numbers[html.escape(str(name))] = int(number)
        numbers[html.escape(f"{name} ({status})")] = int(number)
    for trace in figure["data"]:
        texts = trace.get("hovertext")
        if isinstance(texts, list):
            trace["customdata"] = [None if t is None else numbers.get(t) for t in texts]
        elif extra and trace.get("name") in extra and isinstance(trace.get("x"), list):
            trace["customdata"] = [extra[trace["name"]]] * len(trace["x"])


def _chart_trials(
    reader: DashboardReader, job: LoadedJob, series: ScoredSeries, size: int, top: int
) -> list[tuple[str, Any]]:
    picked = set(series.numbers[sample_indices(len(series.numbers), size)].tolist())
    if top and len(series.numbers) > size:
        picked.update(series.numbers[best_indices(series, job.objective.type, top)].tolist())
    return [(job.record.name, t) for t in reader.trials_by_number(job, picked)]


def parameter_figures(
    reader: DashboardReader, job: LoadedJob, readings: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Each hyperparameter against the objective on its scale, and parallel coordinates."""
    series = reader.scored_series(job)
    trials = _chart_trials(reader, job, series, CHART_SAMPLE, TOP_K)
    snapshot = AnalyticsSnapshot((job.record,), tuple(trials))
    parameters = snapshot.parameters
    objective = job.objective
    figures: list[dict[str, Any]] = []
    parallel = interactive = None
    parallel_rows = 0
    if trials and parameters:
        frame = snapshot.dataframe()
        readings = readings or {}
        order = {name: i for i, name in enumerate(readings)}  # strongest effect first
        for p in sorted(parameters, key=lambda p: order.get(p.name, len(order))):
            figure = parameter_chart(p, frame, objective.metric, readings.get(p.name, ""))
            if not readings.get(p.name):
                figure["layout"]["title"]["text"] = html.escape(p.name)
            link_points(figure, frame)
            tidy(figure)
            figures.append({"Parameter": p.name, "Figure": figure})
        rows = _parallel_rows(frame, series, job)
        parallel_rows = len(rows)
        args = (parameters, rows, objective.metric, objective.type.value)
        parallel, interactive = tidy(parallel_lines_chart(*args)), parallel_chart(*args)
    how = f"a random sample (seed {SEED}) and the {TOP_K} best"
    return {
        "Figures": figures,
        "Parallel": parallel,
        "ParallelInteractive": interactive,
        "WithReadings": bool(readings),
        "Sample": _sample_info(len(trials), len(series.numbers), how),
        "ParallelSample": _sample_info(parallel_rows, len(series.numbers), how),
    }


def _parallel_rows(frame: pd.DataFrame, series: ScoredSeries, job: LoadedJob) -> pd.DataFrame:
    """At most PARALLEL_SAMPLE of the charts' rows, plus the TOP_K best."""
    if len(frame) <= PARALLEL_SAMPLE + TOP_K:
        return frame
    numbers = frame["TrialNumber"].to_numpy()
    keep = set(numbers[sample_indices(len(numbers), PARALLEL_SAMPLE, seed=SEED + 1)].tolist())
    keep.update(series.numbers[best_indices(series, job.objective.type, TOP_K)].tolist())
    return frame[frame["TrialNumber"].isin(keep)]


def curve_figures(reader: DashboardReader, job: LoadedJob) -> dict[str, Any]:
    """Learning curves of up to :data:`MAX_CURVE_METRICS` metrics, the objective's first."""
    series = reader.scored_series(job)
    objective = job.objective
    candidates = reader.curve_candidates(job, limit=max(CURVE_RUNNING, CURVE_STOPPED))
    chosen: dict[int, None] = {}  # ordered set
    best = series.numbers[best_indices(series, objective.type, CURVE_TOP)].tolist()
    for n in best:
        chosen[n] = None
    for n in candidates["running"][:CURVE_RUNNING] + candidates["stopped"][:CURVE_STOPPED]:
        chosen[n] = None
    room = MAX_CURVES - len(chosen)
    if room > 0:
        others = np.setdiff1d(series.numbers, np.fromiter(chosen, dtype=np.int64))
        for i in sample_indices(len(others), room):
            chosen[int(others[i])] = None
    trials, points = reader.curve_points(job, chosen, max_points=MAX_CURVE_POINTS)
    frame = _curve_frame(job.record.name, trials, points)
    metrics = list(dict.fromkeys(frame["MetricName"])) if not frame.empty else []
    metrics = ([objective.metric] if objective.metric in metrics else []) + [
        m for m in metrics if m != objective.metric
    ]
    best_name = trials[best[0]].name if best and best[0] in trials else None
    best_trace = {f"best: {html.escape(best_name)}": best[0]} if best_name else {}
    figures = []
    for metric in metrics[:MAX_CURVE_METRICS]:
        figure = curve_chart(frame, metric, best_name)
        if figure is not None:
            _add_running(figure, frame[frame["MetricName"] == metric])
            link_points(figure, frame, best_trace)
            tidy(figure)
            figures.append({"Metric": metric, "Figure": figure})
    total_with_curves = len(series.numbers) + len(candidates["running"])
    how = (
        f"the {CURVE_TOP} best, running and stopped-early training jobs, and a random sample; "
        f"at most {MAX_CURVE_POINTS} epochs each"
    )
    return {
        "Figures": figures,
        "Metrics": metrics,
        "Sample": _sample_info(len(trials), max(total_with_curves, len(trials)), how),
    }


def _curve_frame(
    job_name: str, trials: Mapping[int, Any], points: Sequence[tuple[int, int, str, float]]
) -> pd.DataFrame:
    """Rows in :meth:`TuningJobAnalytics.learning_curves`' shape, each curve downsampled."""
    rows: list[tuple[Any, ...]] = []
    groups: dict[tuple[int, str], list[tuple[int, float]]] = {}
    for number, epoch, metric, value in points:
        groups.setdefault((number, metric), []).append((epoch, value))
    for (number, metric), curve in groups.items():
        for i in evenly_spaced(len(curve), MAX_CURVE_POINTS):
            epoch, value = curve[i]
            rows.append(learning_curve_row(job_name, trials[number], metric, epoch, value, None))
    return pd.DataFrame(rows, columns=LEARNING_CURVE_COLUMNS)


def _add_running(figure: Figure, data: pd.DataFrame) -> None:
    """Running training jobs as one more trace (the report only draws finished ones)."""
    running = data[data["TrainingJobStatus"] == TrialStatus.IN_PROGRESS].sort_values(
        ["TrialNumber", "Epoch"], kind="stable"
    )
    if running.empty:
        return
    xs: list[Any] = []
    ys: list[Any] = []
    texts: list[Any] = []
    for name, curve in running.groupby("TrainingJobName", sort=False):
        xs += [*curve["Epoch"].astype(int).tolist(), None]
        ys += [*(float(v) if np.isfinite(v) else None for v in curve["Value"]), None]
        texts += [html.escape(str(name))] * len(curve) + [None]
    figure["data"].append(
        {
            "type": "scatter",
            "x": xs,
            "y": ys,
            "hovertext": texts,
            "mode": "lines",
            "line": {"color": _RUNNING_COLOR, "width": 2},
            "name": "running",
            "connectgaps": False,
        }
    )


def _measure(metric: str) -> str:
    """``validation:auc`` -> ``auc``: what a metric measures, whichever channel it is on."""
    return metric.rsplit(":", 1)[-1].lower()


def trial_figure(trial: Mapping[str, Any]) -> Figure | None:
    """Every metric of one training job by epoch (the objective's first, others dotted).

    Metrics that measure what the objective measures (``train:auc`` beside
    ``validation:auc``) share its axis, so the gap between them reads true; the others go on
    a second axis, so scales do not clash. Each axis is titled with the metrics it holds.
    """
    names = list(trial["MetricNames"])
    if not names or not trial["Metrics"]:
        return None
    objective = trial["ObjectiveMetricName"]
    names = ([objective] if objective in names else []) + [n for n in names if n != objective]
    axes: dict[str, list[str]] = {"y": [], "y2": []}
    traces = []
    for name in names:
        axis = "y" if _measure(name) == _measure(objective) else "y2"
        axes[axis].append(name)
        points = [(row["Epoch"], row["Values"].get(name)) for row in trial["Metrics"]]
        points = [(e, v) for e, v in points if v is not None]
        traces.append(
            {
                "type": "scatter",
                "x": [e for e, _ in points],
                "y": [v for _, v in points],
                "mode": "lines+markers" if len(points) <= 60 else "lines",
                "name": html.escape(name),
                "line": {
                    "width": 3 if name == objective else 1.5,
                    "dash": "solid" if name == objective else "dot",
                },
                "yaxis": axis,
            }
        )
    layout: dict[str, Any] = {
        "title": {"text": "reported metrics by epoch", "font": {"size": 14}},
        "margin": {"l": 60, "r": 60, "t": 50, "b": 50},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "x unified",
        "xaxis": {"title": {"text": "epoch"}, "gridcolor": "#eee"},
        "yaxis": {"title": {"text": _axis_title(axes["y"] or [objective])}, "gridcolor": "#eee"},
        "legend": {"orientation": "h", "y": -0.2},
    }
    if axes["y2"]:
        layout["yaxis2"] = {
            "title": {"text": _axis_title(axes["y2"])},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
        }
    return tidy({"data": traces, "layout": layout})


def _axis_title(names: Sequence[str]) -> str:
    """The metrics an axis holds, escaped for plotly; a long list is cut after three."""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return html.escape(shown)


# ----------------------------------------------------------------------------------------------
# Correlations and importance, computed in the background
# ----------------------------------------------------------------------------------------------
def analysis(reader: DashboardReader, job: LoadedJob) -> dict[str, Any]:
    """The report's correlation and importance table and bars, on a seeded sample."""
    try:
        return _analysis(reader, job)
    except Exception:
        logger.exception("analysis of tuning job %s failed", job.record.name)
        raise


def _analysis(reader: DashboardReader, job: LoadedJob) -> dict[str, Any]:
    series = reader.scored_series(job)
    trials = _chart_trials(reader, job, series, ANALYSIS_SAMPLE, top=0)

    def objective_curves() -> dict[tuple[str, int], list[tuple[int, float]]]:
        # Read only when too few sampled jobs ran their full budget (a common epoch is needed);
        # unthinned, since the value at one epoch is read from each curve.
        numbers = [t.number for _, t in trials]
        _, points = reader.curve_points(job, numbers, max_points=10**9)
        curves: dict[tuple[str, int], list[tuple[int, float]]] = {}
        for number, epoch, metric, value in points:
            if metric == job.objective.metric:
                curves.setdefault((job.record.name, number), []).append((epoch, value))
        return curves

    snapshot = AnalyticsSnapshot((job.record,), tuple(trials), objective_curves)
    report = build_report(snapshot, seed=SEED)
    rows = [
        {
            "Parameter": e["Parameter"],
            "Scale": e["Scale"] or "Categorical",
            "NTrials": e["NTrials"],
            "Effect": effect_text(e, eta="eta²", first="; ", between=", "),
            "PValue": fmt_number(e["PValue"], 2),
            "Importance": "-" if e["Importance"] is None else f"{e['Importance']:.0%}",
            "Strength": e["Strength"],
            "Reading": e["Reading"],
        }
        for e in report["Effects"]
    ]
    bars = tidy(importance_chart(report["Importance"])) if report["Importance"] else None
    notes = [n for n in report["Notes"] if not n.startswith("still running")]
    notes.insert(0, comparison_text(report["Comparison"]))
    return {
        "Ready": True,
        "Rows": rows,
        "Summary": report["Summary"],
        "Notes": notes,
        "Importance": report["Importance"],
        "ImportanceFigure": bars,
        "Readings": {e["Parameter"]: e["Reading"] for e in report["Effects"]},
        "Thresholds": report["Thresholds"],
        "Comparison": report["Comparison"],
        "Sample": _sample_info(len(trials), len(series.numbers), f"a random sample (seed {SEED})"),
    }


@dataclass
class _Entry:
    key: tuple[Any, ...]
    started: float
    future: Future[dict[str, Any]]
    previous: dict[str, Any] | None = None


class AnalysisCache:
    """Computes :func:`analysis` in one background thread and keeps the latest per job.

    A finished job's result is kept until its training jobs change. A running job's is
    recomputed at most every ``refresh_s`` seconds; meanwhile the last result is served,
    marked ``Stale``. At most ``max_jobs`` jobs are kept, so memory stays bounded.
    """

    def __init__(
        self,
        reader: DashboardReader,
        *,
        refresh_s: float = 30.0,
        max_jobs: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.refresh_s = refresh_s
        self.max_jobs = max_jobs
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-analysis")

    def get(self, job: LoadedJob) -> dict[str, Any]:
        """The analysis if ready (``Ready``), else ``{"Ready": False}``; starts it if needed."""
        key = self.reader.fingerprint(job)
        live = not job.record.status.is_terminal
        with self._lock:
            entry = self._entries.get(job.record.name)
            if entry is not None:
                self._entries.move_to_end(job.record.name)
                fresh = entry.key == key or (
                    live and self.clock() - entry.started < self.refresh_s
                )
                if fresh or not entry.future.done():
                    return self._result(entry, stale=entry.key != key)
            previous = _result_of(entry) if entry is not None else None
            future = self._executor.submit(analysis, self.reader, job)
            entry = _Entry(key, self.clock(), future, previous)
            self._entries[job.record.name] = entry
            while len(self._entries) > self.max_jobs:
                self._entries.popitem(last=False)
            return self._result(entry, stale=False)

    @staticmethod
    def _result(entry: _Entry, *, stale: bool) -> dict[str, Any]:
        result = _result_of(entry)
        if result is None:
            if entry.previous is not None:
                return {**entry.previous, "Stale": True}
            return {"Ready": False}
        return {**result, "Stale": stale}

    def readings(self, job: LoadedJob) -> dict[str, str]:
        """The readings of the latest finished analysis of ``job`` (empty if none yet)."""
        with self._lock:
            entry = self._entries.get(job.record.name)
        result = _result_of(entry) if entry is not None else None
        if result is None and entry is not None:
            result = entry.previous
        return dict(result["Readings"]) if result else {}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _result_of(entry: _Entry | None) -> dict[str, Any] | None:
    if entry is None or not entry.future.done():
        return None
    if entry.future.exception() is not None:
        return {"Ready": True, "Error": str(entry.future.exception()), "Rows": []}
    return entry.future.result()
