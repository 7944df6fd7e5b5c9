"""``tuner report`` on big jobs: the importance sample, what the report says about it, the
linear-time bootstrap, the charts' sample and a report of a few thousand training jobs.

Jobs are built straight into SQLite with the dashboard benchmark's ``build_job`` (3,000
training jobs in about a second). No timing is asserted here: speed lives in
``tests/benchmarks/bench_report_scale.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from bench_dashboard import build_job
from rich.console import Console
from scipy.stats import rankdata

from tuner.reports import comparable, effects, sample
from tuner.reports.analytics import AnalyticsSnapshot, TuningJobAnalytics
from tuner.reports.html import (
    CHART_BEST,
    CURVE_BEST,
    MAX_CHART_JOBS,
    MAX_CURVE_JOBS,
    chart_trials,
    render_html,
)
from tuner.reports.report import build_report
from tuner.reports.terminal import cmd_report, render_terminal

BIG = 3000


@pytest.fixture(scope="module")
def big_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'tuner.db'}"
    build_job(url, "big", BIG, 10)
    return url


@pytest.fixture(scope="module")
def small_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('small') / 'tuner.db'}"
    build_job(url, "small", 120, 10, seed=1)
    return url


@pytest.fixture(scope="module")
def big_report(big_url: str) -> dict:
    return build_report(TuningJobAnalytics("big", big_url).snapshot())


def _terminal(report: dict) -> str:
    console = Console(file=io.StringIO(), width=200, record=True)
    render_terminal(report, console)
    return console.export_text()


# -- the sample rule -------------------------------------------------------------------------------
def test_the_sample_is_every_job_when_there_are_few() -> None:
    losses = np.random.default_rng(0).normal(size=sample.MAX_IMPORTANCE_JOBS)
    drawn = sample.importance_sample(losses)
    assert drawn.indices == tuple(range(len(losses)))
    assert not drawn.sampled and drawn.rule == sample.ALL and drawn.best == 0
    assert drawn.to_dict()["Sampled"] is False
    assert drawn.description == f"all {len(losses)} compared training jobs"


def test_the_sample_is_capped_holds_the_best_and_is_seeded() -> None:
    losses = np.random.default_rng(1).normal(size=5000)
    drawn = sample.importance_sample(losses)
    assert drawn.jobs == sample.MAX_IMPORTANCE_JOBS and drawn.of == 5000 and drawn.sampled
    assert list(drawn.indices) == sorted(set(drawn.indices))  # sorted, no repeats
    best = np.argsort(losses, kind="stable")[: sample.BEST_JOBS]
    assert set(best.tolist()) <= set(drawn.indices)
    assert drawn == sample.importance_sample(losses)  # the same seed, the same sample
    other = sample.importance_sample(losses, seed=sample.SEED + 1)
    assert other.indices != drawn.indices
    assert set(best.tolist()) <= set(other.indices)
    text = drawn.description
    assert "300 of 5000" in text and "50 best" in text and "seed 0" in text


def test_the_sample_ranks_nan_last_and_honours_its_arguments() -> None:
    losses = np.r_[np.full(10, np.nan), np.arange(90, dtype=float)]
    drawn = sample.importance_sample(losses, size=20, best=5, seed=3)
    assert drawn.jobs == 20 and {10, 11, 12, 13, 14} <= set(drawn.indices)
    assert sample.importance_sample(losses, size=20, best=50).best == 20  # best <= size


# -- the bootstrap -------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [5, 60, 700])
@pytest.mark.parametrize("ties", [False, True])
def test_the_linear_bootstrap_equals_ranking_every_resample(n: int, ties: bool) -> None:
    g = np.random.default_rng(n)
    x = g.integers(0, 4, n).astype(float) if ties else g.uniform(size=n)
    y = x + g.normal(size=n)
    got = effects._bootstrap_rho(x, y, np.random.default_rng(9), 300)
    idx = np.random.default_rng(9).integers(0, n, size=(300, n))
    a, b = rankdata(x[idx], axis=1), rankdata(y[idx], axis=1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(denom > 0, (a * b).sum(axis=1) / denom, np.nan)
    rho = rho[np.isfinite(rho)]
    expected = tuple(np.percentile(rho, [2.5, 97.5])) if len(rho) >= 150 else None
    assert got == pytest.approx(expected, abs=1e-12) if expected else got is None


def test_fewer_resamples_only_for_very_many_trials() -> None:
    assert effects.bootstrap_resamples(2000) == effects.N_BOOTSTRAP
    many = effects.bootstrap_resamples(100_000)
    assert effects.MIN_BOOTSTRAP <= many < effects.N_BOOTSTRAP


def test_array_curves_compare_like_lists() -> None:
    curves = [[(1, 3.0), (2, 2.0), (2, 1.5), (4, 1.0)], [(1, 2.0), (3, 1.2)], [(1, 5.0)]] * 6
    jobs = [comparable.ScoredJob(False, c[-1][1], c) for c in curves]
    arrays = [comparable.ScoredJob(False, c[-1][1], np.array(c, dtype=float)) for c in curves]
    assert comparable.choose(jobs) == comparable.choose(arrays)
    for c in curves:
        for epoch in range(5):
            assert comparable.value_at(c, epoch) == comparable.value_at(np.array(c), epoch)


# -- the report says what it sampled ----------------------------------------------------------------
def test_a_big_report_states_its_sample_everywhere(big_url: str, big_report: dict) -> None:
    drawn = big_report["Sample"]
    compared = big_report["Comparison"]["Jobs"]
    assert compared > sample.MAX_IMPORTANCE_JOBS
    assert drawn["Sampled"] and drawn["Jobs"] == sample.MAX_IMPORTANCE_JOBS
    assert drawn["Of"] == compared
    assert big_report["Importance"]["Sample"] == drawn
    assert big_report["Importance"]["NTrials"] <= sample.MAX_IMPORTANCE_JOBS
    # The effects still use every compared job; the best is over every training job.
    assert all(e["NTrials"] == compared for e in big_report["Effects"])
    analytics = TuningJobAnalytics("big", big_url)
    assert (
        big_report["BestTrainingJob"]["TrainingJobName"]
        == (analytics.best_training_job()["TrainingJobName"])
    )
    json.dumps(big_report, allow_nan=False)
    line = next(s for s in _terminal(big_report).splitlines() if s.startswith("Sample:"))
    assert f"300 of {compared} compared training jobs" in line and "seed 0" in line
    snapshot = analytics.snapshot()
    page = render_html(big_report, snapshot, analytics.learning_curves())
    assert "<b>Sample:</b> importance on 300 of" in page
    assert f"300 trials of {compared}" in page  # the importance chart's title


def test_a_small_report_says_no_sample(small_url: str, tmp_path: Path) -> None:
    analytics = TuningJobAnalytics("small", small_url)
    snapshot = analytics.snapshot()
    report = build_report(snapshot)
    assert report["Sample"]["Sampled"] is False
    assert report["Sample"]["Jobs"] == report["Comparison"]["Jobs"]
    assert "Sample: none: importance on all" in _terminal(report)
    page = render_html(report, snapshot, analytics.learning_curves())
    assert "<b>Sample:</b> none: importance on all" in page
    assert "<b>Charts draw:</b> every training job." in page


# -- the charts of a big job ---------------------------------------------------------------------
def test_the_charts_of_a_big_job_draw_a_stated_sample(big_url: str, big_report: dict) -> None:
    analytics = TuningJobAnalytics("big", big_url)
    snapshot = analytics.snapshot()
    drawn = chart_trials(snapshot)
    assert drawn.sampled and drawn.scored == big_report["NTrialsWithObjective"]
    assert MAX_CHART_JOBS <= len(drawn.rows) < MAX_CHART_JOBS + 100  # plus each new best
    assert len(drawn.curves) == MAX_CURVE_JOBS and drawn.of == BIG
    best = big_report["BestTrainingJob"]["TrainingJobName"]
    assert best in {t.name for _, t in drawn.curves}
    assert best in {snapshot.trials[i][1].name for i in drawn.rows}
    assert chart_trials(snapshot).rows.tolist() == drawn.rows.tolist()  # seeded
    assert f"the {CHART_BEST} best" in drawn.description()
    assert f"the {CURVE_BEST} best" in drawn.description()
    # The curves read for the sample are the full frame's rows of those training jobs.
    some = analytics.learning_curves(trials=drawn.curves)
    names = {t.name for _, t in drawn.curves}
    every = analytics.learning_curves()
    expected = every[every["TrainingJobName"].isin(names)].reset_index(drop=True)
    assert some.equals(expected)
    page = render_html(big_report, snapshot, some)
    sampled = json.loads(re.search(r'id="chart-sample">(.*?)</script>', page).group(1))
    assert sampled["Points"] == len(drawn.rows) and sampled["CurvesOf"] == BIG
    assert f"{len(drawn.rows):,} of the {drawn.scored:,} training jobs" in page
    # Plotted x positions are the training jobs' own places in the run, not 1..n.
    assert f'"x":[{int(drawn.rows[0]) + 1},' in page


def test_common_resource_reads_compact_curves(big_url: str) -> None:
    analytics = TuningJobAnalytics("big", big_url)
    snapshot = analytics.snapshot(comparison=comparable.COMMON_RESOURCE)
    as_lists = {
        ("big", n): [(p.epoch, p.value) for p in points]
        for n, points in analytics.storage.curves("big", ["validation:rmse"]).items()
    }
    listed = AnalyticsSnapshot(
        snapshot.jobs, snapshot.trials, as_lists, comparable.COMMON_RESOURCE
    )
    assert snapshot.comparison() == listed.comparison()
    assert snapshot.comparison().rule == comparable.COMMON_RESOURCE


# -- the command on a few thousand training jobs ---------------------------------------------------
def _args(db_url: str, name: str, **changes: object) -> argparse.Namespace:
    return argparse.Namespace(
        **({"name": name, "db": db_url, "json": False, "html": None, "csv": None} | changes)
    )


def test_cmd_report_of_a_few_thousand_jobs(big_url: str, tmp_path: Path, capsys) -> None:
    html_path = tmp_path / "report.html"
    assert cmd_report(_args(big_url, "big", json=True, html=str(html_path))) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["Sample"]["Sampled"] and data["NTrialsWithObjective"] > 2000
    assert "wrote the HTML report" in captured.err
    assert "\x1b[" not in captured.err  # no progress bar when stderr is not a terminal
    page = html_path.read_text(encoding="utf-8")
    assert "<b>Sample:</b>" in page and "<b>Charts draw:</b>" in page
    assert cmd_report(_args(big_url, "big")) == 0
    out = capsys.readouterr().out
    assert "Sample: importance on 300 of" in out and "best training job" in out
