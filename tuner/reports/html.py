"""The static HTML report: one self-contained file that opens offline.

plotly.js is bundled inline once (``plotly.offline.get_plotlyjs()``), and each chart is a
``<div>`` plus a ``Plotly.newPlot`` call with the figure's JSON, so the page loads nothing from
the network. Charts: the objective by training job with the best-so-far line, each
hyperparameter against the objective on its own scale (log axes for Logarithmic, a
``-log10(1 - x)`` axis for ReverseLogarithmic, boxes for categorical values), a
parallel-coordinates plot, the importance bars and the learning curves, with training jobs that
were stopped early drawn as X markers.

A big job is drawn from a sample (:func:`chart_trials`, stated on the page): at most
:data:`MAX_CHART_JOBS` training jobs with an objective value as points (the objective chart,
each hyperparameter, parallel coordinates): the :data:`CHART_BEST` best, every one that set a
new best (so the best-so-far line stays exact) and a seeded uniform sample of the others; and
at most :data:`MAX_CURVE_JOBS` learning curves (the :data:`CURVE_BEST` best and a seeded
uniform sample). The tables, the readings and the report data use every training job.

Every user-provided string (job names, categorical values, metric names, failure reasons) is
escaped: with :func:`html.escape` in the page, and with ``\\u003c``-style escapes inside the
JSON that sits in ``<script>`` elements, so a value such as ``</script>`` cannot end one.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from strategies.space import ScalingType
from tuner.describe import objective_status
from tuner.errors import MissingDependencyError
from tuner.objective import ObjectiveType
from tuner.reports import sample
from tuner.reports.analytics import AnalyticsSnapshot
from tuner.reports.report import (
    comparison_text,
    condition_text,
    effect_text,
    fmt_number,
    sample_text,
)
from tuner.reports.tuned_parameters import TunedParameter
from tuner.status import TrialStatus
from tuner.storage.records import TrainingJobRecord

#: Learning-curve charts drawn: the objective metric first, then the other metrics.
MAX_CURVE_METRICS = 4
#: Training jobs with an objective value drawn as points at most (plus every new best), of
#: which the best: plotly draws a few thousand SVG markers per chart without trouble.
MAX_CHART_JOBS = 2000
CHART_BEST = 100
#: Learning curves drawn at most, of which the best.
MAX_CURVE_JOBS = 200
CURVE_BEST = 20
_CONFIG = {"displaylogo": False, "responsive": True}
_COLORS = {
    TrialStatus.COMPLETED: "#1f77b4",
    TrialStatus.STOPPED: "#d62728",
    TrialStatus.FAILED: "#7f7f7f",
}
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.reading { font-size: 1.1em; padding: 0.6em 1em; background: #eef6ee;
           border-left: 4px solid #4a4; }
.note { color: #8a6d3b; } .dim { color: #777; font-size: 0.85em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 1em; }
.chart { min-height: 340px; } .wide { min-height: 460px; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element (no '<', '>' or '&' left unescaped)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


Figure = dict[str, Any]  # plotly's figure shape: {"data": [traces], "layout": {...}}


class _Charts:
    """Collects figures as ``<div>`` + ``Plotly.newPlot`` snippets with unique ids."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, figure: Figure, *, css_class: str = "chart") -> str:
        self.count += 1
        div_id = f"chart-{self.count}"
        return (
            f'<div id="{div_id}" class="{css_class}"></div>\n'
            f"<script>(function () {{ var f = {_script_json(figure)}; "
            f'Plotly.newPlot("{div_id}", f.data, f.layout, {json.dumps(_CONFIG)}); }})();</script>'
        )


def _nums(values: Any) -> list[float | None]:
    """Plain floats for JSON; NaN and infinities become null (a gap in plotly)."""
    return [
        float(v) if v is not None and math.isfinite(float(v)) else None
        for v in np.asarray(values, dtype=float)
    ]


def _axis(title: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "title": {"text": html.escape(title)},
        "gridcolor": "#eee",
        "zeroline": False,
        **kwargs,
    }


def _layout(title: str, **kwargs: Any) -> dict[str, Any]:
    # Figures are plain dicts (building graph_objects is ten times slower on big jobs); the
    # tests check every figure against plotly's schema with plotly.graph_objects.Figure.
    return {
        "title": {"text": html.escape(title), "font": {"size": 14}},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "closest",
        **kwargs,
    }


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    values = pd.to_numeric(frame["FinalObjectiveValue"], errors="coerce")
    return frame[np.isfinite(values.to_numpy(dtype=float))]


def _hover(frame: pd.DataFrame) -> list[str]:
    return [
        html.escape(f"{name} ({status})")
        for name, status in zip(frame["TrainingJobName"], frame["TrainingJobStatus"], strict=True)
    ]


def _marker(statuses: Any) -> dict[str, Any]:
    stopped = [s == TrialStatus.STOPPED for s in statuses]
    return {
        "symbol": ["x" if s else "circle" for s in stopped],
        "color": [
            _COLORS[TrialStatus.STOPPED] if s else _COLORS[TrialStatus.COMPLETED] for s in stopped
        ],
        "size": [9 if s else 7 for s in stopped],
    }


def objective_chart(
    frame: pd.DataFrame,
    metric: str,
    objective_type: str,
    *,
    order: Sequence[int] | np.ndarray | None = None,
) -> Figure:
    """Objective by training job (in running order) and the best-so-far line.

    ``order``: each row's position among all training jobs (1, 2, ... by default), for a
    frame of drawn rows (:func:`chart_trials`).
    """
    order = np.arange(1, len(frame) + 1) if order is None else np.asarray(order)
    values = pd.to_numeric(frame["FinalObjectiveValue"], errors="coerce").to_numpy(dtype=float)
    scored = np.isfinite(values)
    best = pd.to_numeric(frame["BestSoFar"], errors="coerce").to_numpy(dtype=float)
    has_best = np.isfinite(best)
    return {
        "data": [
            {
                "type": "scatter",
                "x": order[scored].tolist(),
                "y": _nums(values[scored]),
                "mode": "markers",
                "name": "training job (X: stopped early)",
                "marker": _marker(frame["TrainingJobStatus"][scored]),
                "hovertext": _hover(frame[scored]),
            },
            {
                "type": "scatter",
                "x": order[has_best].tolist(),
                "y": _nums(best[has_best]),
                "mode": "lines",
                "line": {"shape": "hv", "color": "#2ca02c", "width": 2},
                "name": "best so far",
            },
        ],
        "layout": _layout(
            f"{objective_type} {metric}: each training job and the best so far",
            xaxis=_axis("training job (in order of creation)"),
            yaxis=_axis(metric),
            legend={"orientation": "h", "y": -0.2},
        ),
    }


def _reverse_log_ticks(scaled: np.ndarray) -> tuple[list[float], list[str]]:
    lo, hi = np.nanmin(scaled), np.nanmax(scaled)
    ks = [k for k in range(int(math.floor(lo)), int(math.ceil(hi)) + 1) if lo - 0.5 <= k]
    return [float(k) for k in ks], [f"{1 - 10.0**-k:.6g}" for k in ks]


def _category(value: Any) -> str | None:
    # The DataFrame reads numeric-looking categorical values as floats, as the SDK does.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _categories(parameter: TunedParameter, values: Sequence[str | None]) -> list[str]:
    order = list(getattr(parameter.range, "values", []))
    return order + sorted({v for v in values if v is not None and v not in order})


def parameter_chart(
    parameter: TunedParameter, frame: pd.DataFrame, metric: str, reading: str
) -> Figure:
    """One hyperparameter against the objective, on the parameter's own scale."""
    scored = _scored(frame)
    y = scored["FinalObjectiveValue"].to_numpy(dtype=float)
    title = f"{parameter.name}: {reading}"
    hover = _hover(scored)
    if parameter.is_categorical:
        values = [_category(v) for v in scored[parameter.name]]
        traces = []
        for category in _categories(parameter, values):
            mask = np.array([v == category for v in values], dtype=bool)
            if not mask.any():
                continue
            traces.append(
                {
                    "type": "box",
                    "y": _nums(y[mask]),
                    "name": html.escape(category),
                    "boxpoints": "all",
                    "jitter": 0.4,
                    "pointpos": 0,
                    "hovertext": [h for h, m in zip(hover, mask, strict=True) if m],
                    "showlegend": False,
                }
            )
        layout = _layout(title, xaxis=_axis(parameter.name, type="category"), yaxis=_axis(metric))
        return {"data": traces, "layout": layout}
    x = pd.to_numeric(scored[parameter.name], errors="coerce").to_numpy(dtype=float)
    xaxis = _axis(parameter.name)
    if parameter.scale is ScalingType.LOGARITHMIC:
        xaxis = _axis(f"{parameter.name} (log scale)", type="log")
    elif parameter.scale is ScalingType.REVERSE_LOGARITHMIC:
        x = parameter.to_scale(x)
        tickvals, ticktext = _reverse_log_ticks(x) if np.isfinite(x).any() else ([], [])
        xaxis = _axis(
            f"{parameter.name} (reverse-log scale, -log10(1 - x))",
            tickvals=tickvals,
            ticktext=ticktext,
        )
    trace = {
        "type": "scatter",
        "x": _nums(x),
        "y": _nums(y),
        "mode": "markers",
        "marker": _marker(scored["TrainingJobStatus"]),
        "hovertext": hover,
        "showlegend": False,
    }
    return {"data": [trace], "layout": _layout(title, xaxis=xaxis, yaxis=_axis(metric))}


def _log_ticks(scaled: np.ndarray) -> tuple[list[float], list[str]] | None:
    lo, hi = np.nanmin(scaled), np.nanmax(scaled)
    ks = [k for k in range(int(math.floor(lo)), int(math.ceil(hi)) + 1) if lo <= k <= hi]
    if len(ks) < 2:
        return None
    return [float(k) for k in ks], [f"{10.0**k:g}" for k in ks]


def _parallel_dimensions(
    parameters: Sequence[TunedParameter], frame: pd.DataFrame, metric: str
) -> list[dict[str, Any]] | None:
    """The axes of a parallel-coordinates plot: each hyperparameter on its scale, then the
    objective; each ``{"label", "values"[, "tickvals", "ticktext"]}`` with labels escaped.

    Training jobs missing a hyperparameter (jobs analysed together that tuned different sets)
    are left out: a line needs a value on every axis.
    """
    scored = _scored(frame)
    if scored.empty or not parameters:
        return None
    columns: list[np.ndarray] = []
    dims: list[dict[str, Any]] = []
    for p in parameters:
        if p.is_categorical:
            cats = [_category(v) for v in scored[p.name]]
            labels = _categories(p, cats)
            index = {v: i for i, v in enumerate(labels)}
            columns.append(np.array([index[c] if c is not None else np.nan for c in cats]))
            dims.append(
                {
                    "label": html.escape(p.name),
                    "tickvals": list(range(len(labels))),
                    "ticktext": [html.escape(v) for v in labels],
                }
            )
            continue
        scaled = p.to_scale(pd.to_numeric(scored[p.name], errors="coerce").to_numpy(dtype=float))
        columns.append(scaled)
        dim: dict[str, Any] = {"label": html.escape(p.scale_label)}
        if p.scale is ScalingType.LOGARITHMIC and np.isfinite(scaled).any():
            ticks = _log_ticks(scaled[np.isfinite(scaled)])
            if ticks is not None:
                dim.update(label=html.escape(p.name), tickvals=ticks[0], ticktext=ticks[1])
        dims.append(dim)
    columns.append(scored["FinalObjectiveValue"].to_numpy(dtype=float))
    dims.append({"label": html.escape(metric)})
    matrix = np.column_stack(columns)
    complete = np.isfinite(matrix).all(axis=1)
    if not complete.any():
        return None
    for dim, column in zip(dims, matrix[complete].T, strict=True):
        dim["values"] = _nums(column)
    return dims


def parallel_chart(
    parameters: Sequence[TunedParameter], frame: pd.DataFrame, metric: str, objective_type: str
) -> Figure | None:
    """Parallel coordinates with plotly's ``parcoords`` (WebGL): axes can be dragged to filter.

    Every hyperparameter on its scale, then the objective, which also colours the lines.
    WebGL costs a second or more to start where the browser has no GPU (a headless browser, a
    VM), so the dashboard draws :func:`parallel_lines_chart` first and this on request.
    """
    dims = _parallel_dimensions(parameters, frame, metric)
    if dims is None:
        return None
    trace = {
        "type": "parcoords",
        "dimensions": dims,
        "line": {
            "color": dims[-1]["values"],
            "colorscale": "Viridis",
            # The brightest colour is always the best objective value.
            "reversescale": objective_type == "Minimize",
            "showscale": True,
            "colorbar": {"title": {"text": html.escape(metric)}},
        },
    }
    title = "every training job across the hyperparameters (drag an axis to filter)"
    layout = _layout(title, margin={"l": 80, "r": 80, "t": 80, "b": 40})
    return {"data": [trace], "layout": layout}


#: Colour bands of :func:`parallel_lines_chart` (one SVG trace each).
PARALLEL_BANDS = 12


def _axis_ticks(dim: Mapping[str, Any], lo: float, hi: float) -> list[tuple[float, str]]:
    """(value, text) ticks of one axis: its own (categories, powers of ten) or five even ones."""
    if "tickvals" in dim:
        return [
            (float(v), str(t))
            for v, t in zip(dim["tickvals"], dim["ticktext"], strict=True)
            if lo <= float(v) <= hi or lo == hi
        ]
    if lo == hi:
        return [(lo, f"{lo:.4g}")]
    return [(float(v), f"{v:.3g}") for v in np.linspace(lo, hi, 5)]


def parallel_lines_chart(
    parameters: Sequence[TunedParameter], frame: pd.DataFrame, metric: str, objective_type: str
) -> Figure | None:
    """The same parallel coordinates as :func:`parallel_chart`, drawn as SVG lines.

    Ten times quicker to draw than ``parcoords`` without a GPU (about 0.1 s for 550 lines
    against 1.2 s in headless chromium): each axis is scaled to [0, 1] between its smallest
    and largest value, the lines are grouped into :data:`PARALLEL_BANDS` bands of equal
    objective width, one trace per band coloured on the Viridis scale with the brightest
    colour for the best value, drawn last so the best lines lie on top. Axes and their ticks
    are layout shapes and annotations; an invisible marker trace carries the colour bar.
    """
    dims = _parallel_dimensions(parameters, frame, metric)
    if dims is None:
        return None
    from plotly.colors import sample_colorscale

    matrix = np.array([dim["values"] for dim in dims], dtype=float).T  # rows x axes
    lows, highs = matrix.min(axis=0), matrix.max(axis=0)
    spans = np.where(highs > lows, highs - lows, 1.0)
    unit = np.where(highs > lows, (matrix - lows) / spans, 0.5)
    objective = matrix[:, -1]
    # goodness in [0, 1]: 1 is the best objective value, whichever the direction
    lo, hi = float(lows[-1]), float(highs[-1])
    goodness = (objective - lo) / (hi - lo) if hi > lo else np.ones_like(objective)
    if objective_type == "Minimize":
        goodness = 1.0 - goodness
    bands = np.minimum((goodness * PARALLEL_BANDS).astype(int), PARALLEL_BANDS - 1)
    colors = sample_colorscale(
        "Viridis", [(b + 0.5) / PARALLEL_BANDS for b in range(PARALLEL_BANDS)]
    )
    n_axes = len(dims)
    traces: list[dict[str, Any]] = []
    for band in range(PARALLEL_BANDS):
        rows = unit[bands == band]
        if not len(rows):
            continue
        xs = np.tile(np.append(np.arange(n_axes, dtype=float), np.nan), len(rows))
        ys = np.column_stack([rows, np.full(len(rows), np.nan)]).ravel()
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": _nums(xs),
                "y": _nums(ys),
                "line": {"color": colors[band], "width": 1},
                "opacity": 0.35 + 0.5 * band / max(PARALLEL_BANDS - 1, 1),
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    traces.append(  # the colour bar, on the objective's own values
        {
            "type": "scatter",
            "mode": "markers",
            "x": [None],
            "y": [None],
            "hoverinfo": "skip",
            "showlegend": False,
            "marker": {
                "color": [lo, hi],
                "cmin": lo,
                "cmax": hi,
                "colorscale": "Viridis",
                "reversescale": objective_type == "Minimize",
                "showscale": True,
                "colorbar": {"title": {"text": html.escape(metric)}},
            },
        }
    )
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, dim in enumerate(dims):
        shapes.append(
            {
                "type": "line",
                "x0": i,
                "x1": i,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#444", "width": 1},
            }
        )
        annotations.append(
            {
                "x": i,
                "y": 1.04,
                "text": dim["label"],
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"size": 12},
            }
        )
        for value, text in _axis_ticks(dim, float(lows[i]), float(highs[i])):
            position = (value - lows[i]) / spans[i] if highs[i] > lows[i] else 0.5
            annotations.append(
                {
                    "x": i,
                    "y": float(position),
                    "text": html.escape(text) if "tickvals" not in dim else text,
                    "showarrow": False,
                    "xanchor": "right",
                    "xshift": -4,
                    "font": {"size": 10, "color": "#555"},
                }
            )
    hidden = {"visible": False, "fixedrange": True}
    title = "every training job across the hyperparameters, brightest = best"
    layout = _layout(
        title,
        margin={"l": 80, "r": 40, "t": 90, "b": 30},
        xaxis={**hidden, "range": [-0.5, n_axes - 0.6]},
        yaxis={**hidden, "range": [-0.04, 1.08]},
        shapes=shapes,
        annotations=annotations,
        hovermode=False,
    )
    return {"data": traces, "layout": layout}


def importance_chart(importance: Mapping[str, Any]) -> Figure | None:
    """Horizontal bars, the most important hyperparameter on top."""
    scores = [(k, v) for k, v in importance["Scores"].items() if v is not None]
    if not scores:
        return None
    scores.reverse()
    method = "fANOVA" if importance["Method"] == "fanova" else "permutation importance"
    r2 = importance["ModelR2"]
    drawn = importance.get("Sample") or {}
    of = f" of {drawn['Of']}" if drawn.get("Sampled") else ""
    title = (
        f"importance ({method}, {importance['NTrials']} trials{of}, "
        f"out-of-bag R^2 {fmt_number(r2, 2)})"
    )
    if not importance["Conclusive"]:
        title += ": not conclusive"
    trace = {
        "type": "bar",
        "x": [v for _, v in scores],
        "y": [html.escape(k) for k, _ in scores],
        "orientation": "h",
        "marker": {"color": "#1f77b4" if importance["Conclusive"] else "#aaaaaa"},
    }
    layout = _layout(title, xaxis=_axis("share", tickformat=".0%"), yaxis=_axis(""))
    return {"data": [trace], "layout": layout}


def curve_chart(curves: pd.DataFrame, metric: str, best_name: str | None) -> Figure | None:
    """Learning curves of one metric, one line per training job; stopped ones end in an X."""
    data = curves[curves["MetricName"] == metric]
    if data.empty:
        return None
    data = data.sort_values(["TuningJobName", "TrialNumber", "Epoch"], kind="stable")
    names = data["TrainingJobName"].to_numpy()
    epochs = data["Epoch"].to_numpy(dtype=int)
    values = data["Value"].to_numpy(dtype=float)
    statuses = data["TrainingJobStatus"].to_numpy()
    stopped_early = data["StoppedEarly"].to_numpy(dtype=bool)
    # Consecutive rows of one training job form one polyline; a None between two polylines
    # lets a single trace per status draw them all (hundreds of traces make plotly crawl).
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    ends = np.r_[starts[1:], len(names)]
    lines: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
    stops: list[int] = []
    best: tuple[list[int], list[float | None]] | None = None
    for a, b in zip(starts, ends, strict=True):
        xs, ys, texts = lines.setdefault(str(statuses[a]), ([], [], []))
        label = html.escape(str(names[a]))
        xs += [*epochs[a:b].tolist(), None]
        ys += [*_nums(values[a:b]), None]
        texts += [label] * (b - a) + [None]
        if stopped_early[a]:
            stops.append(b - 1)
        if names[a] == best_name:
            best = (epochs[a:b].tolist(), _nums(values[a:b]))
    traces: list[dict[str, Any]] = []
    for status, color in _COLORS.items():
        if status in lines:
            xs, ys, texts = lines[status]
            traces.append(
                {
                    "type": "scatter",
                    "x": xs,
                    "y": ys,
                    "hovertext": texts,
                    "mode": "lines",
                    "line": {"color": color, "width": 1},
                    "opacity": 0.5,
                    "name": "stopped early" if status == TrialStatus.STOPPED else status.lower(),
                    "connectgaps": False,
                }
            )
    if stops:
        traces.append(
            {
                "type": "scatter",
                "x": epochs[stops].tolist(),
                "y": _nums(values[stops]),
                "hovertext": [html.escape(str(names[i])) for i in stops],
                "mode": "markers",
                "marker": {"symbol": "x", "size": 10, "color": _COLORS[TrialStatus.STOPPED]},
                "name": "stopped here",
            }
        )
    if best is not None and best_name is not None:
        traces.append(
            {
                "type": "scatter",
                "x": best[0],
                "y": best[1],
                "mode": "lines+markers",
                "line": {"color": "#2ca02c", "width": 3},
                "name": f"best: {html.escape(best_name)}",
            }
        )
    layout = _layout(
        f"learning curves: {metric}",
        xaxis=_axis("epoch"),
        yaxis=_axis(metric),
        legend={"orientation": "h", "y": -0.2},
    )
    return {"data": traces, "layout": layout}


# ----------------------------------------------------------------------------------------------
# What a big job's charts draw
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChartSample:
    """The training jobs a report's charts draw (all of them for a job that is small enough).

    ``rows``: positions in the snapshot's trials of the training jobs drawn as points (those
    with an objective value, in running order), of ``scored`` in all; ``curves``: the training
    jobs whose learning curves are drawn, of ``of`` training jobs in all.
    """

    rows: np.ndarray
    scored: int
    curves: list[tuple[str, TrainingJobRecord]]
    of: int
    seed: int

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.scored or len(self.curves) < self.of

    def description(self) -> str:
        """What the charts draw, in a sentence for the page ("every training job" or a sample)."""
        if not self.sampled:
            return "every training job"
        parts = []
        if len(self.rows) < self.scored:
            parts.append(
                f"{len(self.rows):,} of the {self.scored:,} training jobs with an objective value "
                f"as points: the {CHART_BEST} best, every one that set a new best and a uniform "
                f"random sample (seed {self.seed}) of the others"
            )
        else:
            parts.append(f"all {self.scored:,} training jobs with an objective value as points")
        if len(self.curves) < self.of:
            parts.append(
                f"the learning curves of {len(self.curves):,} of the {self.of:,} training jobs: "
                f"the {CURVE_BEST} best and a uniform random sample (seed {self.seed})"
            )
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "Points": len(self.rows),
            "PointsOf": self.scored,
            "Curves": len(self.curves),
            "CurvesOf": self.of,
            "Sampled": self.sampled,
            "Seed": self.seed,
            "Description": self.description(),
        }


def chart_trials(snapshot: AnalyticsSnapshot, *, seed: int = sample.SEED) -> ChartSample:
    """The training jobs the charts draw (the rule in the module docstring)."""
    objective = snapshot.objective
    sign = -1.0 if objective.type is ObjectiveType.MAXIMIZE else 1.0
    scored_rows, losses = [], []
    all_losses = np.full(len(snapshot.trials), np.nan)
    for i, (_, t) in enumerate(snapshot.trials):
        value = t.final_value
        if objective_status(t) == "Succeeded" and value is not None and math.isfinite(value):
            scored_rows.append(i)
            losses.append(sign * value)
            all_losses[i] = sign * value
    positions = np.asarray(scored_rows, dtype=np.intp)
    loss = np.asarray(losses, dtype=float)
    drawn = sample.importance_sample(loss, size=MAX_CHART_JOBS, best=CHART_BEST, seed=seed)
    picked = np.asarray(drawn.indices, dtype=np.intp)
    if drawn.sampled:
        before = np.r_[np.inf, np.minimum.accumulate(loss)[:-1]]
        picked = np.union1d(picked, np.flatnonzero(loss < before))
    rows = positions[picked] if len(positions) else positions
    curves = sample.importance_sample(all_losses, size=MAX_CURVE_JOBS, best=CURVE_BEST, seed=seed)
    return ChartSample(
        rows,
        len(positions),
        [snapshot.trials[i] for i in curves.indices],
        len(snapshot.trials),
        seed,
    )


# ----------------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------------
def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tables(report: Mapping[str, Any]) -> list[str]:
    objective = report["Objective"]
    metric = objective["MetricName"]
    parts = []
    rows: list[list[Any]] = [
        [
            j["HyperParameterTuningJobName"],
            j["HyperParameterTuningJobStatus"],
            j["Strategy"],
            j["TrainingJobs"],
            j["CreationTime"],
            j["HyperParameterTuningEndTime"] or "",
        ]
        for j in report["Jobs"]
    ]
    parts.append(
        _table(["Tuning job", "Status", "Strategy", "Training jobs", "Created", "Ended"], rows)
    )
    counters = report["TrainingJobStatusCounters"] | {
        f"Objective {k}": v for k, v in report["ObjectiveStatusCounters"].items()
    }
    parts.append(_table(list(counters), [list(counters.values())]))
    if report.get("Comparison"):
        parts.append(
            f'<p class="note"><b>Compared:</b> {_e(comparison_text(report["Comparison"]))}</p>'
        )
    if report["Effects"]:
        parts.append(f'<p class="note"><b>Sample:</b> {_e(sample_text(report))}</p>')
    parts.append(f'<p class="reading"><b>Reading:</b> {_e(report["Summary"])}</p>')
    parts.extend(f'<p class="note">Note: {_e(n)}</p>' for n in report["Notes"])
    best = report["BestTrainingJob"]
    label = (
        "Overall best training job" if len(report["TuningJobNames"]) > 1 else "Best training job"
    )
    parts.append(f"<h2>{label}</h2>")
    if best is None:
        parts.append("<p>No training job has an objective value yet.</p>")
    else:
        rows = [
            ["TrainingJobName", best["TrainingJobName"]],
            ["TuningJobName", best["TuningJobName"]],
            [f"{objective['Type']} {metric}", fmt_number(best["FinalObjectiveValue"], 6)],
            ["TrainingJobStatus", best["TrainingJobStatus"]],
            *([k, v] for k, v in best["TunedHyperParameters"].items()),
        ]
        parts.append(_table(["", ""], rows))
    top = report["TopTrainingJobs"]
    if top:
        tuned = list(top[0]["TunedHyperParameters"])
        parts.append(f"<h2>Top {len(top)} training jobs</h2>")
        parts.append(
            _table(
                ["#", "TrainingJobName", metric, "Status", "Epochs", *tuned],
                [
                    [
                        r["Rank"],
                        r["TrainingJobName"],
                        fmt_number(r["FinalObjectiveValue"], 6),
                        r["TrainingJobStatus"],
                        r["EpochsReported"],
                        *(r["TunedHyperParameters"].get(n, "") for n in tuned),
                    ]
                    for r in top
                ],
            )
        )
    if report["Effects"]:
        parts.append("<h2>Hyperparameters and the objective, strongest first</h2>")
        rows = []
        for e in report["Effects"]:
            effect = effect_text(e, eta="eta²", first="; ", between=", ")
            share = e["Importance"]
            when = condition_text(e)
            rows.append(
                [
                    e["Parameter"] if when is None else f"{e['Parameter']} ({when})",
                    e["Scale"] or "Categorical",
                    e["NTrials"],
                    effect,
                    fmt_number(e["PValue"], 2),
                    "-" if share is None else f"{share:.0%}",
                    e["Strength"],
                    e["Reading"],
                ]
            )
        parts.append(
            _table(
                ["Parameter", "Scale", "n", "Effect", "p", "Importance", "Strength", "Reading"],
                rows,
            )
        )
        importance = report["Importance"]
        if importance:
            drawn = importance.get("Sample") or {}
            of = f" (a sample of {drawn['Of']})" if drawn.get("Sampled") else ""
            parts.append(
                f'<p class="dim">Importance: {_e(importance["Description"])}; '
                f"{_e(importance['NTrials'])} trials{_e(of)}, seed {_e(importance['Seed'])}, "
                f"out-of-bag R² {_e(fmt_number(importance['ModelR2'], 2))}.</p>"
            )
    t = report["Thresholds"]
    parts.append(
        f'<p class="dim">Spearman rho on each parameter\'s own scale; eta² from a one-way '
        f"analysis of variance. Strong: |rho| ≥ {t['StrongRho']} or eta² ≥ "
        f"{t['StrongEtaSquared']}; moderate: |rho| ≥ {t['ModerateRho']} or eta² ≥ "
        f"{t['ModerateEtaSquared']}; both with p &lt; {t['Alpha']}. Nothing is concluded below "
        f"{t['MinTrials']} trials; importances need an out-of-bag R² of at least "
        f"{t['MinModelR2']}. Not monotone (read as best near the best bin's centre): a binned "
        f"eta² (Kruskal-Wallis over quantile bins) of at least {t['NonmonotoneEtaSquared']} "
        f"with p &lt; {t['Alpha']}, at least {t['NonmonotoneMargin']} above rho².</p>"
    )
    return parts


def render_html(
    report: Mapping[str, Any], snapshot: AnalyticsSnapshot, curves: pd.DataFrame
) -> str:
    """The whole page as a string (plotly.js inline)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        msg = "the HTML report needs plotly: pip install plotly"
        raise MissingDependencyError(msg) from None
    drawn = chart_trials(snapshot)
    full = snapshot.dataframe()
    frame = full.iloc[drawn.rows] if len(drawn.rows) < len(full) else full
    if len(drawn.curves) < len(snapshot.trials) and not curves.empty:
        names = {t.name for _, t in drawn.curves}
        curves = curves[curves["TrainingJobName"].isin(names)]
    metric = report["Objective"]["MetricName"]
    objective_type = report["Objective"]["Type"]
    readings = {e["Parameter"]: e["Reading"] for e in report["Effects"]}
    charts = _Charts()
    body = [
        f"<h1>Tuning report: {_e(' + '.join(report['TuningJobNames']))}</h1>",
        *_tables(report),
    ]

    body.append("<h2>Objective by training job</h2>")
    body.append(f'<p class="note"><b>Charts draw:</b> {_e(drawn.description())}.</p>')
    order = drawn.rows + 1 if frame is not full else None
    objective = objective_chart(frame, metric, objective_type, order=order)
    body.append(charts.div(objective, css_class="wide"))
    parameters = snapshot.parameters
    if parameters:
        body.append("<h2>Each hyperparameter against the objective, on its own scale</h2>")
        body.append('<div class="grid">')
        rank = {name: i for i, name in enumerate(readings)}  # strongest effect first
        for p in sorted(parameters, key=lambda p: rank.get(p.name, len(rank))):
            body.append(charts.div(parameter_chart(p, frame, metric, readings.get(p.name, ""))))
        body.append("</div>")
        parallel = parallel_chart(parameters, frame, metric, objective_type)
        if parallel is not None:
            body.append("<h2>Parallel coordinates</h2>")
            body.append(charts.div(parallel, css_class="wide"))
    if report["Importance"]:
        bars = importance_chart(report["Importance"])
        if bars is not None:
            body.append("<h2>Importance</h2>")
            body.append(charts.div(bars))
    metrics = list(dict.fromkeys(curves["MetricName"])) if not curves.empty else []
    metrics = ([metric] if metric in metrics else []) + [m for m in metrics if m != metric]
    best = report["BestTrainingJob"]
    curve_divs = []
    for m in metrics[:MAX_CURVE_METRICS]:
        lines = curve_chart(curves, m, best["TrainingJobName"] if best else None)
        if lines is not None:
            curve_divs.append(charts.div(lines, css_class="wide"))
    if curve_divs:
        body.append("<h2>Learning curves</h2>")
        body.extend(curve_divs)
    title = _e(f"Tuning report: {' + '.join(report['TuningJobNames'])}")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{title}</title>",
            f"<style>{_CSS}</style>",
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            *body,
            f'<script type="application/json" id="report-data">{_script_json(report)}</script>',
            '<script type="application/json" id="chart-sample">'
            f"{_script_json(drawn.to_dict())}</script>",
            "</body></html>",
        ]
    )


def write_html_report(
    path: str | Path, report: Mapping[str, Any], snapshot: AnalyticsSnapshot, curves: pd.DataFrame
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(render_html(report, snapshot, curves), encoding="utf-8")
    return target
