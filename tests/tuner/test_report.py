"""The report: its JSON data, the terminal tables, the readings, the HTML page and ``cmd_report``.

Jobs are written straight into a real SQLite file (exact statuses, stopped trials, awkward
categorical values, a 200-trial job in milliseconds); the readings are also checked on
hand-built effects.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest
import stored_jobs
from rich.console import Console

from tuner import CategoricalParameter, ContinuousParameter, IntegerParameter
from tuner.objective import Objective, ObjectiveType
from tuner.reports.analytics import TuningJobAnalytics
from tuner.reports.effects import (
    EffectStrength,
    ImportanceMethod,
    ParameterEffect,
    ParameterImportance,
)
from tuner.reports.html import render_html
from tuner.reports.report import build_report, reading, summary_line
from tuner.reports.terminal import cmd_report, render_terminal
from tuner.storage import SqlStorage

MINIMIZE = Objective("loss", ObjectiveType.MINIMIZE)
MAXIMIZE = Objective("validation:auc", ObjectiveType.MAXIMIZE)
EVIL = '</script><script>alert("x")</script>'
RANGES = {
    "eta": ContinuousParameter(1e-4, 1.0),  # Auto: logarithmic
    "momentum": ContinuousParameter(0.5, 0.999, "ReverseLogarithmic"),
    "max_depth": IntegerParameter(1, 10),
    "booster": CategoricalParameter(["gbtree", "dart", EVIL]),
}


def store_job(
    storage: SqlStorage,
    name: str,
    trials: Sequence[tuple[Mapping[str, object], Sequence[float], str]],
    *,
    objective: Objective = MINIMIZE,
    ranges: Mapping[str, object] = RANGES,
    start: float = 1_700_000_000.0,
) -> None:
    """A finished job: each trial is (hyperparameters, objective curve, final status)."""
    stored_jobs.store_job(
        storage,
        name,
        ranges,
        trials,
        objective=objective,
        start=start,
        other_metrics=lambda value: {"train:loss": value / 2},
        failure_reason="out of memory",
        max_jobs=500,
    )


def planted_trials(n: int, seed: int, objective: Objective = MINIMIZE) -> list:
    """eta (log scale) and booster matter; max_depth and momentum are noise.

    For a Maximize objective the value is negated, so lower eta and gbtree stay better.
    """
    rng = np.random.default_rng(seed)
    sign = 1.0 if objective.type is ObjectiveType.MINIMIZE else -1.0
    out = []
    for i in range(n):
        hp = {
            "eta": float(10 ** rng.uniform(-4, 0)),
            "momentum": float(1 - 10 ** rng.uniform(-3, math.log10(0.5))),
            "max_depth": int(rng.integers(1, 11)),
            "booster": str(rng.choice(["gbtree", "dart", EVIL])),
        }
        final = 1.0 * math.log10(hp["eta"]) + (0.0 if hp["booster"] == "gbtree" else 2.0)
        final += float(rng.normal(0, 0.3))
        n_epochs = 2 if i % 7 == 3 else 5
        curve = [sign * (final + 2.0 / e) for e in range(1, n_epochs + 1)]
        status = "Failed" if i % 11 == 5 else ("Stopped" if n_epochs == 2 else "Completed")
        out.append((hp, curve, status))
    return out


@pytest.fixture
def storage(db_url) -> SqlStorage:
    return SqlStorage(db_url)


@pytest.fixture(scope="module")
def planted_url(tmp_path_factory) -> str:
    """A database holding the planted job (read-only for the tests that share it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('planted') / 'tuner.db'}"
    store_job(SqlStorage(url), "planted", planted_trials(40, seed=2))
    return url


@pytest.fixture
def planted(planted_url) -> TuningJobAnalytics:
    return TuningJobAnalytics("planted", planted_url)


@pytest.fixture(scope="module")
def planted_report(planted_url) -> dict:
    return build_report(TuningJobAnalytics("planted", planted_url).snapshot())


def _terminal(report: Mapping) -> str:
    console = Console(file=io.StringIO(), width=200, record=True)
    render_terminal(report, console)
    return console.export_text()


# -- the data ------------------------------------------------------------------------------------
def test_report_finds_the_planted_effects(planted_report) -> None:
    report = planted_report
    assert report["Summary"].startswith("lower eta is better; booster=gbtree is best")
    assert "little effect" in report["Summary"]
    first = report["Effects"][0]
    assert first["Parameter"] == "eta" and first["Scale"] == "Logarithmic"
    assert first["Strength"] == "strong" and first["Reading"] == "lower eta is better"
    assert list(report["Importance"]["Scores"])[0] == "eta"
    assert report["Importance"]["Method"] == "fanova"
    stopped_or_completed = [r["TrainingJobStatus"] for r in report["TopTrainingJobs"]]
    assert set(stopped_or_completed) <= {"Completed", "Stopped"}
    assert len(report["TopTrainingJobs"]) == 10
    values = [r["FinalObjectiveValue"] for r in report["TopTrainingJobs"]]
    assert (
        values == sorted(values) and values[0] == report["BestTrainingJob"]["FinalObjectiveValue"]
    )
    assert report["NTrialsWithObjective"] == sum(
        1 for _, curve, status in planted_trials(40, seed=2) if status != "Failed"
    )
    assert report["TrainingJobStatusCounters"]["Stopped"] > 0
    assert report["TrainingJobStatusCounters"]["NonRetryableError"] > 0


def test_readings_say_better_in_the_objective_direction(storage) -> None:
    store_job(storage, "auc", planted_trials(40, seed=2, objective=MAXIMIZE), objective=MAXIMIZE)
    report = build_report(TuningJobAnalytics("auc", storage).snapshot())
    eta = next(e for e in report["Effects"] if e["Parameter"] == "eta")
    assert eta["Value"] < 0  # auc falls as eta grows ...
    assert eta["Reading"] == "lower eta is better"  # ... so lower is better
    assert report["Summary"].startswith("lower eta is better; booster=gbtree is best")
    best = report["TopTrainingJobs"][0]["FinalObjectiveValue"]
    assert best == max(r["FinalObjectiveValue"] for r in report["TopTrainingJobs"])


def _effect(**changes) -> ParameterEffect:
    base = {
        "parameter": "eta",
        "kind": "Continuous",
        "scale": "Logarithmic",
        "n_trials": 30,
        "statistic": "spearman_rho",
        "value": 0.7,
        "p_value": 0.001,
        "strength": EffectStrength.STRONG,
        "better": "lower",
        "median_of_best": 0.01,
    }
    return ParameterEffect(**(base | changes))


def _importance(scores: Mapping[str, float], *, conclusive: bool = True) -> ParameterImportance:
    return ParameterImportance(
        ImportanceMethod.FANOVA, "fANOVA", 30, 0, dict(scores), 0.8, conclusive
    )


@pytest.mark.parametrize(
    ("effect", "importance", "expected"),
    [
        (_effect(), None, "lower eta is better"),
        (_effect(better="higher"), None, "higher eta is better"),
        (_effect(strength=EffectStrength.MODERATE), None, "lower eta tends to be better"),
        (_effect(strength=EffectStrength.WEAK), None, "eta has little effect"),
        (
            _effect(strength=EffectStrength.WEAK, value=0.05),
            _importance({"eta": 0.8}),
            "eta matters, but not monotonically: best near 0.01",
        ),
        (
            _effect(strength=EffectStrength.WEAK, value=0.05),
            _importance({"eta": 0.8}, conclusive=False),
            "eta has little effect",
        ),
        (_effect(strength=EffectStrength.INCONCLUSIVE, n_trials=5), None, "too few trials"),
        (_effect(strength=EffectStrength.CONSTANT), None, "eta did not vary"),
        (
            _effect(
                parameter="booster", kind="Categorical", statistic="eta_squared", better="dart"
            ),
            None,
            "booster=dart is best",
        ),
    ],
)
def test_reading(effect, importance, expected) -> None:
    assert reading(effect, importance).startswith(expected)


def test_an_optimum_inside_the_range_reads_as_not_monotone(storage) -> None:
    rng = np.random.default_rng(7)  # a sample where rho(x, loss) is a "moderate" -0.37
    ranges = {"x": ContinuousParameter(-4.0, 6.0), "y": ContinuousParameter(0.0, 1.0)}
    trials = []
    for _ in range(40):
        x, y = float(rng.uniform(-4, 6)), float(rng.uniform(0, 1))
        trials.append(
            ({"x": x, "y": y}, [(x - 1.0) ** 2 + float(rng.normal(0, 0.5))], "Completed")
        )
    store_job(storage, "bowl", trials, ranges=ranges)
    report = build_report(TuningJobAnalytics("bowl", storage).snapshot())
    x = report["Effects"][0]
    assert x["Parameter"] == "x" and x["Finding"] == "nonmonotone"
    assert x["Reading"].startswith("x matters, but not monotonically: best near")
    assert abs(x["MedianOfBest"] - 1.0) < 1.0 and 0.3 < x["BestPosition"] < 0.7
    assert report["Summary"].endswith("y has little effect")


def test_summary_line_groups_little_effects_and_refuses_small_samples() -> None:
    effects = [
        _effect(),
        _effect(parameter="gamma", strength=EffectStrength.WEAK),
        _effect(parameter="alpha", strength=EffectStrength.WEAK),
    ]
    assert summary_line(effects, None, 30) == (
        "lower eta is better; gamma and alpha have little effect"
    )
    assert summary_line(effects, None, 5).startswith("too few trials to conclude: 5")


def test_small_job_reports_too_few_trials(storage) -> None:
    store_job(storage, "tiny", planted_trials(5, seed=1))
    report = build_report(TuningJobAnalytics("tiny", storage).snapshot())
    assert report["Summary"].startswith("too few trials to conclude")
    assert all(e["Strength"] == "inconclusive" for e in report["Effects"])
    assert not report["Importance"]["Conclusive"]
    assert any("too few trials" in n for n in report["Notes"])


def test_job_without_objective_values_still_reports(storage) -> None:
    store_job(
        storage,
        "broken",
        [({"eta": 0.1, "momentum": 0.9, "max_depth": 2, "booster": "dart"}, [1.0], "Failed")],
    )
    report = build_report(TuningJobAnalytics("broken", storage).snapshot())
    assert report["BestTrainingJob"] is None and report["TopTrainingJobs"] == []
    assert "no training job has an objective value" in _terminal(report)
    json.dumps(report, allow_nan=False)


# -- JSON and terminal agree ---------------------------------------------------------------------
def test_json_has_every_field_of_the_terminal_report(planted_report) -> None:
    report = planted_report
    text = json.dumps(report, allow_nan=False)  # plain JSON: no NaN, no datetime objects
    from_json = json.loads(text)
    terminal = _terminal(report)
    # The terminal is rendered from the JSON data alone: the same text either way.
    assert _terminal(from_json) == terminal
    for key in (
        "TuningJobNames",
        "Jobs",
        "Objective",
        "TrainingJobStatusCounters",
        "ObjectiveStatusCounters",
        "BestTrainingJob",
        "TopTrainingJobs",
        "Effects",
        "Importance",
        "Summary",
        "Notes",
        "Thresholds",
    ):
        assert key in from_json
    assert from_json["Jobs"][0]["CreationTime"].startswith("2023-11-14T")
    assert from_json["BestTrainingJob"]["TrainingJobName"] in terminal
    for row in from_json["TopTrainingJobs"]:
        assert row["TrainingJobName"] in terminal
    for effect in from_json["Effects"]:
        assert effect["Reading"] in terminal
        assert {"Parameter", "Scale", "NTrials", "Value", "PValue", "Importance"} <= set(effect)
    assert from_json["Summary"] in terminal
    assert "Completed" in terminal and "Minimize loss" in terminal


def test_report_is_stable_for_a_fixed_seed(planted, planted_report) -> None:
    assert json.dumps(build_report(planted.snapshot())) == json.dumps(planted_report)


# -- HTML ------------------------------------------------------------------------------------------
def test_html_report_is_self_contained_with_every_chart(planted, planted_report) -> None:
    snapshot, report = planted.snapshot(), planted_report
    page = render_html(report, snapshot, planted.learning_curves())
    # No network: every script is inline, no stylesheet or script comes from a URL.
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?https?://", page, re.IGNORECASE)
    # Outside the plotly.js bundle (whose code mentions URLs in strings) there is no URL at all.
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()) == 1
    assert not re.search(r"https?://", page.replace(get_plotlyjs(), ""))
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js is inlined
    n_charts = page.count("Plotly.newPlot(")
    # objective, 4 parameters, parallel coordinates, importance, 2 learning-curve metrics
    assert n_charts == 9
    for title in (
        "the best so far",
        "Parallel coordinates",
        "importance (fANOVA",
        "learning curves: loss",
        "learning curves: train:loss",
        "eta (log scale)",
        "momentum (reverse-log scale",
        '"type":"parcoords"',
        '"type":"box"',
        '"shape":"hv"',
        "stopped here",
    ):
        assert title in page, title
    # User strings never break out: the categorical value appears only escaped.
    assert EVIL not in page
    assert html_escaped(EVIL) in page
    data = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
    )
    assert json.loads(data.group(1)) == json.loads(json.dumps(report))


def test_parallel_lines_put_the_best_training_job_in_the_brightest_band(planted) -> None:
    from tuner.reports import html as report_html

    snapshot = planted.snapshot()
    frame = snapshot.dataframe()
    figure = report_html.parallel_lines_chart(snapshot.parameters, frame, "loss", "Minimize")
    interactive = report_html.parallel_chart(snapshot.parameters, frame, "loss", "Minimize")
    *bands, colour_bar = figure["data"]
    n_axes = len(interactive["data"][0]["dimensions"])
    n_lines = len(interactive["data"][0]["dimensions"][0]["values"])
    # every line crosses every axis once, then a gap; positions are on [0, 1]
    assert sum(t["y"].count(None) for t in bands) == n_lines
    assert all(len(t["x"]) % (n_axes + 1) == 0 for t in bands)
    assert all(0.0 <= y <= 1.0 for t in bands for y in t["y"] if y is not None)
    # the lowest loss sits at the bottom of the last (objective) axis, in the last band
    brightest = bands[-1]
    objective_positions = brightest["y"][n_axes - 1 :: n_axes + 1]
    assert min(objective_positions) == 0.0
    assert colour_bar["marker"]["reversescale"] is True
    assert len(figure["layout"]["shapes"]) == n_axes
    labels = [a["text"] for a in figure["layout"]["annotations"] if a.get("yanchor") == "bottom"]
    assert labels[-1] == "loss"


def test_every_chart_follows_plotlys_schema(planted, planted_report) -> None:
    import plotly.graph_objects as go

    from tuner.reports import html as report_html

    snapshot, report = planted.snapshot(), planted_report
    frame = snapshot.dataframe()
    curves = planted.learning_curves()
    figures = [
        report_html.objective_chart(frame, "loss", "Minimize"),
        report_html.parallel_chart(snapshot.parameters, frame, "loss", "Minimize"),
        report_html.importance_chart(report["Importance"]),
        report_html.parallel_lines_chart(snapshot.parameters, frame, "loss", "Minimize"),
        report_html.curve_chart(curves, "loss", report["BestTrainingJob"]["TrainingJobName"]),
        *(report_html.parameter_chart(p, frame, "loss", "r") for p in snapshot.parameters),
    ]
    for figure in figures:
        go.Figure(figure)  # raises ValueError on any property plotly does not know
    curve = figures[4]
    stopped = next(t for t in curve["data"] if t["name"] == "stopped here")
    n_stopped = int(frame["StoppedEarly"].sum())
    assert len(stopped["x"]) == n_stopped and set(stopped["marker"].values()) >= {"x"}
    assert curve["data"][-1]["name"].startswith("best: planted-")
    assert figures[5 + 0]["layout"]["xaxis"]["type"] == "log"  # eta, Auto -> log


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


# -- the command -----------------------------------------------------------------------------------
def _args(db_url: str, name, **changes) -> argparse.Namespace:
    return argparse.Namespace(
        **({"name": name, "db": db_url, "json": False, "html": None, "csv": None} | changes)
    )


def test_cmd_report_json_html_and_csv(planted_url, tmp_path, capsys) -> None:
    db_url = planted_url
    html_path, csv_path = tmp_path / "report.html", tmp_path / "trials.csv"
    code = cmd_report(_args(db_url, "planted", json=True, html=str(html_path), csv=str(csv_path)))
    assert code == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["TuningJobNames"] == ["planted"] and data["Summary"].startswith("lower eta")
    said = captured.err.replace("\n", "")  # a long path wraps at the console's width
    assert "report.html" in said and "trials.csv" in said
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    frame = pd.read_csv(csv_path)
    assert len(frame) == 40 and "FinalObjectiveValue" in frame.columns


def test_cmd_report_prints_tables(planted_url, capsys) -> None:
    assert cmd_report(_args(planted_url, ["planted"])) == 0
    out = capsys.readouterr().out
    assert "best training job" in out and "top 10 training jobs" in out
    assert "Reading: lower eta is better" in out


# -- several jobs ----------------------------------------------------------------------------------
def test_report_across_jobs_names_the_overall_best(storage, db_url, capsys) -> None:
    store_job(storage, "parent", planted_trials(20, seed=3), start=1_700_000_000.0)
    store_job(storage, "child", planted_trials(20, seed=4), start=1_700_001_000.0)
    assert cmd_report(_args(db_url, ["child", "parent"], json=True)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["TuningJobNames"] == ["parent", "child"]
    assert [j["TrainingJobs"] for j in data["Jobs"]] == [20, 20]
    analytics = TuningJobAnalytics("parent", storage, include=["child"])
    frame = analytics.dataframe()
    best = data["BestTrainingJob"]
    assert best["FinalObjectiveValue"] == frame["FinalObjectiveValue"].min()
    assert (
        best["TuningJobName"] == frame.loc[frame["FinalObjectiveValue"].idxmin(), "TuningJobName"]
    )
    assert data["NTrialsWithObjective"] == frame["FinalObjectiveValue"].notna().sum()
    assert cmd_report(_args(db_url, ["child", "parent"])) == 0
    assert "overall best training job" in capsys.readouterr().out


# -- speed -----------------------------------------------------------------------------------------
def test_two_hundred_trials_report_quickly(storage, tmp_path) -> None:
    store_job(storage, "big", planted_trials(200, seed=9))
    analytics = TuningJobAnalytics("big", storage)
    import optuna.importance  # noqa: F401  (import time is not report time)
    import scipy.stats  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    started = time.perf_counter()
    snapshot = analytics.snapshot()
    report = build_report(snapshot)
    render_html(report, snapshot, analytics.learning_curves())
    _terminal(report)
    assert time.perf_counter() - started < 8.0  # about 1.5 s alone; the CI machine is shared
