"""The dashboard's server and JSON API, without a browser.

A real uvicorn server runs in a thread over a real SQLite file. The data comes from real tuning
jobs (LocalPool, Python callables whose categorical values, exception messages and log lines
carry HTML) and from a 12,000-trial job inserted in bulk (beyond Optuna's dashboard), so the
aggregation, pagination and downsampling run on real rows. Also: escaping in the
server-rendered pages, read-only access, the token and Host rules, and a coordinator writing
while the API is hammered.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from sqlalchemy import insert, select, text
from sqlalchemy.exc import OperationalError

from strategies.base import Trial, TrialStatus
from strategies.median_rule import MedianStoppingRule
from tuner import CategoricalParameter, ContinuousParameter, HyperparameterTuner, IntegerParameter
from tuner.dashboard import charts
from tuner.dashboard.app import _host_name, create_app, fmt_param
from tuner.dashboard.cli import cmd_dashboard, is_loopback
from tuner.dashboard.reader import DashboardReader, evenly_spaced, read_log_tail
from tuner.dashboard.stops import describe_stop, stop_report
from tuner.describe import describe_tuning_job, training_job_name
from tuner.objective import ObjectiveType
from tuner.reports.analytics import TuningJobAnalytics
from tuner.reports.report import build_report
from tuner.storage import SqlStorage
from tuner.storage import schema as s

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
RANGES = {
    "x": ContinuousParameter(0.01, 10.0),  # Auto: logarithmic
    "n": IntegerParameter(1, 4),
    "c": CategoricalParameter(["plain", XSS_SCRIPT, XSS_IMG]),
}


def evil_train(hp, ctx):
    """Prints and raises HTML; fails whenever the categorical value is the <img> one."""
    print(f"starting with c={hp['c']} {XSS_SCRIPT}")
    if hp["c"] == XSS_IMG:
        raise RuntimeError(f"broken {XSS_IMG} {XSS_SCRIPT}")
    for epoch in range(1, 5):
        loss = (math.log10(hp["x"]) - 0.3) ** 2 + hp["n"] / epoch
        ctx.report(epoch, loss=loss, accuracy=1.0 / (1.0 + loss))
        print(f"epoch {epoch} loss {loss:.4f}")


def slowish(hp, ctx):
    for epoch in range(1, 4):
        ctx.report(epoch, loss=hp["x"] ** 2 + 1.0 / epoch)
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------
# Fixtures: databases and a server in a thread
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two finished jobs: 'evil' (HTML everywhere, some failures) and 'quiet-job'."""
    tmp = tmp_path_factory.mktemp("dashboard-real")
    url = f"sqlite:///{tmp / 'tuner.db'}"
    for name, max_jobs, seed in (("evil", 14, 5), ("quiet-job", 4, 1)):
        HyperparameterTuner(
            evil_train if name == "evil" else slowish,
            "loss",
            RANGES if name == "evil" else {"x": ContinuousParameter(-1.0, 1.0)},
            objective_type="Minimize",
            max_jobs=max_jobs,
            max_parallel_jobs=2,
            random_seed=seed,
            storage=url,
            output_path=tmp / "out",
            strategy="Random",
        ).fit(job_name=name)
    trials = SqlStorage(url).trials("evil")
    assert any(t.status == "Failed" for t in trials), "the fixture needs a failed trial"
    assert any(t.hyperparameters["c"] == XSS_SCRIPT and t.final_value for t in trials)
    return url


def bulk_job(url: str, name: str, n_trials: int, n_epochs: int, *, seed: int = 0) -> None:
    """A finished job written straight into the tables (Completed, some Stopped and Failed)."""
    rng = np.random.default_rng(seed)
    storage = SqlStorage(url)
    groups: dict[str, list] = {}
    for pname, rng_ in RANGES.items():
        groups.setdefault(f"{rng_.kind}ParameterRanges", []).append(rng_.as_tuning_range(pname))
    request = {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": n_trials, "MaxParallelTrainingJobs": 4},
            "ParameterRanges": groups,
        },
        "TrainingJobDefinition": {"AlgorithmSpecification": {"TrainingImage": "xgboost"}},
    }
    t0 = 1_700_000_000.0
    storage.create_job(name, request, strategy="Random", seed=seed, status="InProgress", now=t0)
    with storage.engine.begin() as conn:
        job_id = conn.execute(
            select(s.tuning_jobs.c.id).where(s.tuning_jobs.c.name == name)
        ).scalar()
        x = 10 ** rng.uniform(-2, 1, n_trials)
        value = 1.0 - (np.log10(x) - 0.2) ** 2 / 4 + rng.normal(0, 0.02, n_trials)
        kind = rng.random(n_trials)
        status = np.where(kind < 0.03, "Failed", np.where(kind < 0.1, "Stopped", "Completed"))
        rows = [
            {
                "tuning_job_id": job_id,
                "number": i + 1,
                "name": training_job_name(name, i + 1),
                "hyperparameters_json": json.dumps(
                    {
                        "x": repr(float(x[i])),
                        "n": str(i % 4 + 1),
                        "c": ["plain", XSS_SCRIPT][i % 2],
                    }
                ),
                "status": str(status[i]),
                "final_value": None if status[i] == "Failed" else float(value[i]),
                "created_at": t0 + i,
                "started_at": t0 + i + 0.1,
                "ended_at": t0 + i + 0.1 + (i % 7),
                "failure_reason": "AlgorithmError: boom" if status[i] == "Failed" else None,
                "retryable": bool(status[i] == "Failed"),
                "attempt": 1,
                "n_reports": n_epochs,
            }
            for i in range(n_trials)
        ]
        conn.execute(insert(s.training_jobs), rows)
        ids = dict(
            conn.execute(
                select(s.training_jobs.c.number, s.training_jobs.c.id).where(
                    s.training_jobs.c.tuning_job_id == job_id
                )
            ).all()
        )
        conn.execute(
            insert(s.metrics),
            [
                {
                    "training_job_id": ids[i + 1],
                    "attempt": 1,
                    "epoch": e,
                    "name": "auc",
                    "value": float(value[i] - 0.1 / e),
                    "at": t0 + i + e,
                }
                for i in range(n_trials)
                for e in range(1, n_epochs + 1)
            ],
        )
    storage.set_job_status(name, "Completed", now=t0 + n_trials + 10, ended=True)
    storage.close()


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard-big') / 'tuner.db'}"
    bulk_job(url, "big", 12_000, 3)
    return url


class Server:
    """The dashboard app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(
    url: str, *, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) without following redirects or raising on errors."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with _opener.open(request, timeout=60) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def get_json(url: str, expected: int = 200) -> Any:
    status, _, body = fetch(url)
    assert status == expected, (url, status, body[:500])
    return json.loads(body)


@pytest.fixture(scope="module")
def real(real_db: str) -> Iterator[Server]:
    with Server(create_app(real_db)) as server:
        yield server


@pytest.fixture(scope="module")
def big(big_db: str) -> Iterator[Server]:
    with Server(create_app(big_db)) as server:
        yield server


def wait_for_analysis(url: str, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        status, _, body = fetch(url)
        if status == 200:
            return json.loads(body)
        assert status == 202, body
        assert time.monotonic() < deadline, "the analysis never finished"
        time.sleep(0.2)


# ----------------------------------------------------------------------------------------------
# The JSON API
# ----------------------------------------------------------------------------------------------
def test_jobs_list_search_sort_and_pages(real: Server) -> None:
    data = get_json(f"{real.base}/api/jobs?sort=name&order=asc")
    names = [j["HyperParameterTuningJobName"] for j in data["TuningJobs"]]
    assert names == ["evil", "quiet-job"] and data["Total"] == 2
    evil = data["TuningJobs"][0]
    assert evil["HyperParameterTuningJobStatus"] == "Completed"
    assert evil["Strategy"] == "Random" and evil["TrainingJobs"] == 14
    assert evil["Objective"] == {"MetricName": "loss", "Type": "Minimize"}
    assert evil["CreationTime"] and evil["DurationSeconds"] >= 0
    desc = get_json(f"{real.base}/api/jobs?sort=name&order=desc")
    assert [j["HyperParameterTuningJobName"] for j in desc["TuningJobs"]] == names[::-1]
    # Search is a case-insensitive substring; % and _ are literal characters.
    found = get_json(f"{real.base}/api/jobs?search=QUIET")["TuningJobs"]
    assert [j["HyperParameterTuningJobName"] for j in found] == ["quiet-job"]
    assert get_json(f"{real.base}/api/jobs?search=%25")["Total"] == 0
    assert get_json(f"{real.base}/api/jobs?search=_")["Total"] == 0
    page2 = get_json(f"{real.base}/api/jobs?sort=name&order=asc&per_page=1&page=2")
    assert [j["HyperParameterTuningJobName"] for j in page2["TuningJobs"]] == ["quiet-job"]
    for key in ("status", "strategy", "created", "duration", "trials", "best"):
        assert get_json(f"{real.base}/api/jobs?sort={key}")["Total"] == 2
    assert fetch(f"{real.base}/api/jobs?sort=bogus")[0] == 400
    assert fetch(f"{real.base}/api/jobs?page=0")[0] == 400


def test_job_summary_agrees_with_describe(real: Server, real_db: str) -> None:
    storage = SqlStorage(real_db)
    for name in ("evil", "quiet-job"):
        described = describe_tuning_job(storage.load_job(name), storage.trials(name), now=0)
        summary = get_json(f"{real.base}/api/jobs/{name}")
        assert summary["TrainingJobStatusCounters"] == described["TrainingJobStatusCounters"]
        assert summary["ObjectiveStatusCounters"] == described["ObjectiveStatusCounters"]
        best = described["BestTrainingJob"]
        assert summary["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
        assert summary["BestObjectiveValue"] == pytest.approx(
            best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        )
        assert summary["BestTrainingJob"]["TunedHyperParameters"] == best["TunedHyperParameters"]
        assert summary["IsLive"] is False
    spec = get_json(f"{real.base}/api/jobs/evil/spec")
    assert spec["HyperParameterTuningJobConfig"]["Strategy"] == "Random"
    assert fetch(f"{real.base}/api/jobs/missing")[0] == 404


def test_trials_are_paginated_sorted_and_filtered(real: Server, real_db: str) -> None:
    trials = SqlStorage(real_db).trials("evil")
    base = f"{real.base}/api/jobs/evil/trials"
    pages = [get_json(f"{base}?per_page=5&page={p}") for p in (1, 2, 3)]
    numbers = [t["TrialNumber"] for page in pages for t in page["TrainingJobs"]]
    assert numbers == list(range(1, 15)) and pages[0]["Total"] == 14
    assert pages[0]["TunedHyperParameters"] == ["x", "n", "c"]
    by_value = get_json(f"{base}?sort=objective&order=asc&per_page=100")["TrainingJobs"]
    values = [t["FinalObjectiveValue"] for t in by_value]
    scored = [v for v in values if v is not None]
    assert scored == sorted(scored)
    assert values == scored + [None] * (len(values) - len(scored))  # no value: last
    desc = get_json(f"{base}?sort=objective&order=desc&per_page=100")["TrainingJobs"]
    assert [t["FinalObjectiveValue"] for t in desc][: len(scored)] == scored[::-1]
    failed = get_json(f"{base}?status=Failed")
    assert failed["Total"] == sum(t.status == "Failed" for t in trials) > 0
    assert all(t["TrainingJobStatus"] == "Failed" for t in failed["TrainingJobs"])
    assert all(XSS_IMG in t["FailureReason"] for t in failed["TrainingJobs"])
    completed = get_json(f"{base}?status=Completed&sort=duration&order=desc")
    assert all(t["TrainingJobStatus"] == "Completed" for t in completed["TrainingJobs"])
    durations = [t["DurationSeconds"] for t in completed["TrainingJobs"]]
    assert durations == sorted(durations, reverse=True)
    assert all(t["EpochsReported"] == 4 for t in completed["TrainingJobs"])
    for key in ("name", "status", "created", "started", "ended"):
        assert get_json(f"{base}?sort={key}&order=desc")["Total"] == 14
    assert fetch(f"{base}?status=Nope")[0] == 400
    assert fetch(f"{base}?per_page=100000")[0] == 400
    assert fetch(f"{base}?page=x")[0] == 400


def test_trials_sort_by_a_hyperparameter_on_its_own_scale(real: Server, real_db: str) -> None:
    base = f"{real.base}/api/jobs/evil/trials?per_page=100"
    for name, key in (("x", float), ("n", int), ("c", str)):
        asc = get_json(f"{base}&sort=hp:{name}")
        assert asc["Sort"] == f"hp:{name}" and asc["Total"] == 14
        values = [t["TunedHyperParameters"][name] for t in asc["TrainingJobs"]]
        assert values == sorted(values, key=key)  # numbers by value: "10" after "9"
        desc = get_json(f"{base}&sort=hp:{name}&order=desc")["TrainingJobs"]
        assert [t["TunedHyperParameters"][name] for t in desc] == sorted(
            values, key=key, reverse=True
        )
    assert fetch(f"{base}&sort=hp:nope")[0] == 400
    # The page renders each hyperparameter header as a sort key, and the sorted one marked.
    html = fetch(f"{real.base}/jobs/evil?sort=hp:x&order=desc")[2].decode()
    assert 'data-sort="hp:x" class="hp sortable sorted-desc"' in html


def test_the_tables_round_hyperparameters_as_they_round_values() -> None:
    assert fmt_param("0.08809041615519646") == "0.0880904"
    assert fmt_param("1.8398262972795156") == "1.83983"
    assert fmt_param("0.00129535479294258356") == "0.00129535"
    assert fmt_param("3.3e-07") == "3.3e-07"  # already short: as stored
    assert fmt_param("1234567") == "1234567"  # an integer keeps every digit
    assert fmt_param("12345678.25") == "1.23457e+07"
    assert fmt_param(XSS_SCRIPT) == XSS_SCRIPT and fmt_param("007") == "007"
    assert fmt_param(None) == ""


def test_a_stop_is_described_by_its_rule_epoch_and_value() -> None:
    # The median rule's own words, from the rule itself: a change there shows up here.
    history = [
        Trial(n, {}, TrialStatus.COMPLETED, 0.1, tuple((e, 0.1) for e in (1, 2, 3)))
        for n in (1, 2, 3)
    ]
    decision = MedianStoppingRule().should_stop(
        Trial(4, {}, TrialStatus.IN_PROGRESS, None, ((10, 0.5), (20, 0.7))), history
    )
    assert decision is not None and stop_report(decision.reason) == 2
    note = describe_stop(decision.reason, "validation:auc", (20, 0.7))
    assert note["Rule"] == "median stopping rule" and (note["Epoch"], note["Value"]) == (20, 0.7)
    assert note["Text"].startswith(
        "Stopped early by the median stopping rule at epoch 20 (its 2nd report): "
        "validation:auc was 0.7, worse than the median"
    )
    assert "not recorded" in note["Text"] and note["Reason"] == decision.reason
    assert decision.threshold == pytest.approx(0.1)  # what the coordinator adds to the reason
    recorded = describe_stop(f"{decision.reason}; value 0.7 against 0.1", "loss", (20, 0.7))
    assert "That median was 0.1." in recorded["Text"] and recorded["Report"] == 2
    cut = describe_stop(
        "Hyperband: not in the top 1/3 of its bracket at rung 3; value 1.5 against 1.25",
        "loss",
        (3, 1.5),
    )
    assert "The cutoff was 1.25." in cut["Text"]
    hyperband = describe_stop(
        "Hyperband: not in the top 1/3 of its bracket at rung 3", "loss", (3, 1.5), bracket=1
    )
    assert hyperband["Rule"] == "Hyperband" and hyperband["Report"] == 3
    assert "at epoch 3: loss was 1.5, not in the top 1/3 of bracket 1" in hyperband["Text"]
    ended = describe_stop("tuning job ended: stopped by the user", "loss", None)
    assert ended["Rule"] is None and ended["Text"] == (
        "Stopped because the tuning job ended: stopped by the user."
    )
    assert describe_stop(None, "loss", None)["Text"] == "Stopped; no reason was recorded."


def test_a_stopped_trials_page_has_a_note_not_a_failure_box(big: Server, big_db: str) -> None:
    stopped = next(t for t in SqlStorage(big_db).trials("big") if t.status == "Stopped")
    data = get_json(f"{big.base}/api/jobs/big/trials/{stopped.number}")
    assert data["StopNote"]["Text"] == "Stopped; no reason was recorded."
    html = fetch(f"{big.base}/jobs/big/trials/{stopped.number}")[2].decode()
    assert '<div id="trial-stop" class="stop-note">' in html  # shown
    assert '<div id="trial-failure" hidden>' in html
    done = next(t for t in SqlStorage(big_db).trials("big") if t.status == "Completed")
    assert get_json(f"{big.base}/api/jobs/big/trials/{done.number}")["StopNote"] is None


def test_a_trials_chart_titles_both_axes_and_shares_one_between_like_metrics() -> None:
    trial = {
        "MetricNames": ["train:auc", "validation:auc", "train:logloss"],
        "ObjectiveMetricName": "validation:auc",
        "Metrics": [
            {"Epoch": e, "Values": {"train:auc": 0.9, "validation:auc": 0.8, "train:logloss": 1}}
            for e in (1, 2)
        ],
    }
    figure = charts.trial_figure(trial)
    assert figure is not None
    axes = {t["name"]: t["yaxis"] for t in figure["data"]}
    assert axes == {"validation:auc": "y", "train:auc": "y", "train:logloss": "y2"}
    layout = figure["layout"]
    assert layout["yaxis"]["title"]["text"] == "validation:auc, train:auc"
    assert layout["yaxis2"]["title"]["text"] == "train:logloss"
    one = charts.trial_figure({**trial, "MetricNames": ["validation:auc"]})
    assert one is not None and "yaxis2" not in one["layout"]


def test_chart_points_carry_their_trial_numbers(real: Server, real_db: str) -> None:
    trials = {t.number: t for t in SqlStorage(real_db).trials("evil")}
    api = f"{real.base}/api/jobs/evil/charts"
    points = get_json(f"{api}/objective")["Figure"]["data"][0]
    assert points["customdata"] == points["x"]
    for item in get_json(f"{api}/parameters")["Figures"]:
        for trace in item["Figure"]["data"]:
            assert len(trace["customdata"]) == len(trace["y"]) > 0
            for number, y in zip(trace["customdata"], trace["y"], strict=True):
                assert trials[number].final_value == pytest.approx(y)
    for item in get_json(f"{api}/curves")["Figures"]:
        for trace in item["Figure"]["data"]:
            texts = trace.get("hovertext") or [trace["name"].removeprefix("best: ")] * len(
                trace["x"]
            )
            for number, label in zip(trace["customdata"], texts, strict=True):
                assert (number is None) == (label is None)
                assert number is None or trials[number].name == label


def test_trial_has_hyperparameters_metrics_failure_and_log(real: Server, real_db: str) -> None:
    trials = SqlStorage(real_db).trials("evil")
    failed = next(t for t in trials if t.status == "Failed")
    done = next(t for t in trials if t.status == "Completed")
    data = get_json(f"{real.base}/api/jobs/evil/trials/{done.number}")
    assert data["TrainingJobName"] == done.name
    assert data["TunedHyperParameters"]["c"] == done.hyperparameters["c"]
    assert data["MetricNames"] == ["loss", "accuracy"]
    assert [row["Epoch"] for row in data["Metrics"]] == [1, 2, 3, 4]
    assert data["Metrics"][-1]["Values"]["loss"] == pytest.approx(done.final_value)
    assert data["Log"]["Found"] and any(
        line.startswith("epoch 4") for line in data["Log"]["Lines"]
    )
    assert data["Figure"]["data"][0]["name"] == "loss"
    bad = get_json(f"{real.base}/api/jobs/evil/trials/{failed.number}")
    assert bad["TrainingJobStatus"] == "Failed" and XSS_IMG in bad["FailureReason"]
    assert any(XSS_SCRIPT in line for line in bad["Log"]["Lines"])
    assert any("RuntimeError" in line for line in bad["Log"]["Lines"])  # the traceback
    assert fetch(f"{real.base}/api/jobs/evil/trials/999")[0] == 404


def test_chart_endpoints_return_valid_plotly_figures(real: Server, real_db: str) -> None:
    import plotly.graph_objects as go

    api = f"{real.base}/api/jobs/evil"
    scored = [
        t for t in SqlStorage(real_db).trials("evil") if t.status == "Completed" and t.final_value
    ]
    objective = get_json(f"{api}/charts/objective")
    points, best = objective["Figure"]["data"]
    assert points["x"] == [t.number for t in scored]
    assert best["y"][-1] == pytest.approx(min(t.final_value for t in scored))
    assert objective["Sample"] == {
        "Shown": len(scored),
        "Total": len(scored),
        "Sampled": False,
        "How": "all",
    }
    parameters = get_json(f"{api}/charts/parameters")
    assert sorted(f["Parameter"] for f in parameters["Figures"]) == ["c", "n", "x"]
    assert {t["type"] for t in parameters["Parallel"]["data"]} == {"scatter"}  # SVG
    assert parameters["ParallelInteractive"]["data"][0]["type"] == "parcoords"  # WebGL
    curves = get_json(f"{api}/charts/curves")
    assert curves["Metrics"] == ["loss", "accuracy"]
    figures = [objective["Figure"], parameters["Parallel"], parameters["ParallelInteractive"]]
    figures += [f["Figure"] for f in parameters["Figures"] + curves["Figures"]]
    for figure in figures:
        go.Figure(figure)  # raises on anything outside plotly's schema
        assert figure["data"]
    # Categorical values reach plotly escaped (plotly renders labels as HTML-like text).
    c_chart = next(f["Figure"] for f in parameters["Figures"] if f["Parameter"] == "c")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in {t["name"] for t in c_chart["data"]}


def test_analysis_is_the_reports_table(real: Server, real_db: str) -> None:
    data = wait_for_analysis(f"{real.base}/api/jobs/evil/analysis")
    report = build_report(TuningJobAnalytics("evil", real_db).snapshot())
    assert [r["Parameter"] for r in data["Rows"]] == [e["Parameter"] for e in report["Effects"]]
    assert [r["Reading"] for r in data["Rows"]] == [e["Reading"] for e in report["Effects"]]
    assert data["Summary"] == report["Summary"]
    assert data["ImportanceFigure"]["data"][0]["type"] == "bar"
    assert data["Sample"]["Sampled"] is False
    # Readings now title the hyperparameter charts.
    parameters = get_json(f"{real.base}/api/jobs/evil/charts/parameters")
    assert parameters["WithReadings"] is True


def test_a_large_job_is_paginated_and_downsampled(big: Server, big_db: str) -> None:
    api = f"{big.base}/api/jobs/big"
    summary = get_json(api)
    assert summary["TrainingJobs"] == 12_000
    storage = SqlStorage(big_db)
    described = describe_tuning_job(storage.load_job("big"), storage.trials("big"), now=0)
    assert summary["TrainingJobStatusCounters"] == described["TrainingJobStatusCounters"]
    assert (
        summary["BestTrainingJob"]["TrainingJobName"]
        == (described["BestTrainingJob"]["TrainingJobName"])
    )
    deep = get_json(f"{api}/trials?sort=objective&order=desc&page=200&per_page=50")
    assert len(deep["TrainingJobs"]) == 50 and deep["Total"] == 12_000
    last = get_json(f"{api}/trials?page=240&per_page=50")["TrainingJobs"]
    assert [t["TrialNumber"] for t in last] == list(range(11_951, 12_001))

    objective = get_json(f"{api}/charts/objective")
    completed, stopped, best = objective["Figure"]["data"]
    assert (completed["uid"], stopped["uid"]) == ("completed", "stopped")
    assert objective["Sample"]["Sampled"] and objective["Sample"]["Total"] > 10_000
    assert len(completed["x"]) + len(stopped["x"]) <= charts.MAX_OBJECTIVE_POINTS + 100
    assert best["y"][-1] == pytest.approx(summary["BestObjectiveValue"])  # Maximize: the max
    top = max(completed["y"] + stopped["y"])
    assert top == pytest.approx(summary["BestObjectiveValue"])
    assert completed["customdata"] == completed["x"] and stopped["customdata"] == stopped["x"]
    parameters = get_json(f"{api}/charts/parameters")
    assert parameters["Sample"]["Shown"] <= charts.CHART_SAMPLE + charts.TOP_K
    dimensions = parameters["ParallelInteractive"]["data"][0]["dimensions"]
    lines = parameters["Parallel"]["data"][:-1]  # one trace per colour band, then the colour bar
    drawn = sum(sum(1 for y in t["y"] if y is None) for t in lines)  # a gap ends each line
    assert drawn == parameters["ParallelSample"]["Shown"]
    assert len(dimensions[0]["values"]) == parameters["ParallelSample"]["Shown"]
    assert parameters["ParallelSample"]["Shown"] <= charts.PARALLEL_SAMPLE + charts.TOP_K
    assert max(dimensions[-1]["values"]) == pytest.approx(summary["BestObjectiveValue"])
    curves = get_json(f"{api}/charts/curves")
    assert curves["Sample"]["Shown"] <= charts.MAX_CURVES
    best_curve = next(t for t in curves["Figures"][0]["Figure"]["data"] if "best" in t["name"])
    assert best_curve["name"].endswith(summary["BestTrainingJob"]["TrainingJobName"])


def test_long_curves_are_thinned_in_sql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    bulk_job(url, "long", 3, 5000)
    reader = DashboardReader(url)
    trial = reader.trial("long", 1)
    epochs = [row["Epoch"] for row in trial["Metrics"]]
    assert trial["EpochsTotal"] == 5000 and trial["EpochsReported"] == 5000
    assert len(epochs) <= 1000 and epochs[0] == 1 and epochs[-1] == 5000
    job = reader.load_job("long")
    trials, points = reader.curve_points(job, [1, 2, 3], max_points=200)
    assert sorted(trials) == [1, 2, 3]
    for number in (1, 2, 3):
        mine = [e for n, e, _, _ in points if n == number]
        assert len(mine) <= 203 and mine[0] == 1 and mine[-1] == 5000
    figure = charts.curve_figures(reader, job)["Figures"][0]["Figure"]
    xs = [x for trace in figure["data"] for x in trace["x"] if x is not None]
    # three curves plus the best one drawn again, each at most MAX_CURVE_POINTS + 3 points
    assert max(xs) == 5000 and len(xs) <= 4 * (charts.MAX_CURVE_POINTS + 3)


def test_jobs_without_results_still_render(tmp_path: Path) -> None:
    """A job with only a pending trial, and one whose trials all failed without a value."""
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    storage = SqlStorage(url)
    request = {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]
            },
        }
    }
    now = time.time()
    storage.create_job(
        "waiting", request, strategy="Bayesian", seed=0, status="InProgress", now=now
    )
    storage.add_trial("waiting", 1, name="waiting-1", hyperparameters={"x": "0.5"}, now=now)
    storage.create_job("broken", request, strategy="Bayesian", seed=0, status="Failed", now=now)
    for number in (1, 2):
        storage.add_trial(
            "broken", number, name=f"b-{number}", hyperparameters={"x": "1"}, now=now
        )
        storage.add_report("broken", number, attempt=1, epoch=1, metrics={"other": 1.0}, at=now)
        storage.finish_trial(
            "broken",
            number,
            status="Failed",
            now=now,
            final_value=None,
            final_metrics={},
            n_reports=1,
            failure_reason="boom",
            retryable=False,
        )
    storage.close()
    with Server(create_app(url)) as server:
        for name in ("waiting", "broken"):
            api = f"{server.base}/api/jobs/{name}"
            summary = get_json(api)
            assert summary["BestTrainingJob"] is None and summary["BestObjectiveValue"] is None
            assert get_json(f"{api}/charts/objective")["Figure"]["data"][0]["x"] == []
            parameters = get_json(f"{api}/charts/parameters")
            assert parameters["Parallel"] is None and parameters["ParallelInteractive"] is None
            assert get_json(f"{api}/charts/curves")["Figures"] == []
            assert "too few trials" in wait_for_analysis(f"{api}/analysis")["Summary"]
            assert get_json(f"{api}/trials/1")["FinalObjectiveValue"] is None
            for page in (f"/jobs/{name}", f"/jobs/{name}/trials/1"):
                assert fetch(server.base + page)[0] == 200
        assert summary["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 2}
        assert summary["TrainingJobStatusCounters"]["NonRetryableError"] == 2
        listing = get_json(f"{server.base}/api/jobs?sort=best")["TuningJobs"]
        assert [j["BestObjectiveValue"] for j in listing] == [None, None]


def test_static_assets_are_served_locally(real: Server) -> None:
    status, headers, body = fetch(f"{real.base}/static/vendor/plotly.min.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert len(body) > 1_000_000 and b"plotly" in body[:2000].lower()
    assert fetch(f"{real.base}/static/dashboard.js")[0] == 200
    assert fetch(f"{real.base}/static/dashboard.css")[0] == 200
    for page in ("/", "/jobs/evil", "/jobs/evil/trials/1"):
        html = fetch(real.base + page)[2].decode()
        assert "http://" not in html and "https://" not in html  # nothing from a CDN


# ----------------------------------------------------------------------------------------------
# Escaping
# ----------------------------------------------------------------------------------------------
def _escaped(value: str) -> str:
    # Jinja's escape: & < > " ' as entities.
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def test_pages_escape_every_user_value(real: Server, real_db: str) -> None:
    trials = SqlStorage(real_db).trials("evil")
    failed = next(t for t in trials if t.status == "Failed")
    scripted = next(t for t in trials if t.hyperparameters["c"] == XSS_SCRIPT)
    pages = {
        "/": None,
        "/jobs/evil": [XSS_SCRIPT, XSS_IMG],  # table cells, failure reasons, the spec
        f"/jobs/evil/trials/{failed.number}": [XSS_IMG, XSS_SCRIPT],  # reason, log, value
        f"/jobs/evil/trials/{scripted.number}": [XSS_SCRIPT],
    }
    for path, values in pages.items():
        status, headers, body = fetch(real.base + path)
        html = body.decode()
        assert status == 200
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "<img" not in html
        assert html.count("<script") == html.count('<script src="/static/')
        for value in values or []:
            assert value not in html
            assert _escaped(value) in html, (path, value)


def test_api_json_keeps_values_verbatim(real: Server) -> None:
    status, headers, body = fetch(f"{real.base}/api/jobs/evil/trials?status=Failed")
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    reasons = [t["FailureReason"] for t in json.loads(body)["TrainingJobs"]]
    assert all(XSS_IMG in r and XSS_SCRIPT in r for r in reasons)


# ----------------------------------------------------------------------------------------------
# Read-only
# ----------------------------------------------------------------------------------------------
def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_the_dashboard_never_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    bulk_job(url, "frozen", 60, 3)
    path = tmp_path / "tuner.db"
    before = _digest(path)
    app = create_app(url)
    with Server(app) as server:
        for route in (
            "/",
            "/jobs/frozen",
            "/jobs/frozen/trials/3",
            "/api/jobs",
            "/api/jobs/frozen",
            "/api/jobs/frozen/trials?sort=objective",
            "/api/jobs/frozen/trials/3",
            "/api/jobs/frozen/charts/objective",
            "/api/jobs/frozen/charts/parameters",
            "/api/jobs/frozen/charts/curves",
            "/api/jobs/frozen/spec",
        ):
            assert fetch(server.base + route)[0] == 200, route
        wait_for_analysis(f"{server.base}/api/jobs/frozen/analysis")
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert fetch(f"{server.base}/api/jobs/frozen", method=method)[0] == 405
        engine = app.state.reader.engine
        for statement in (
            "DELETE FROM training_jobs",
            "UPDATE tuning_jobs SET status = 'Failed'",
            "CREATE TABLE intruder (x INTEGER)",
        ):
            with (
                pytest.raises(OperationalError, match="readonly|read-only|query_only"),
                engine.begin() as conn,
            ):
                conn.execute(text(statement))
    assert _digest(path) == before


def test_a_missing_database_is_an_error_not_a_new_file(tmp_path: Path, capsys) -> None:
    args = argparse.Namespace(db=str(tmp_path / "nope.db"), host="127.0.0.1", port=0, token=None)
    assert cmd_dashboard(args) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


# ----------------------------------------------------------------------------------------------
# Token and Host rules
# ----------------------------------------------------------------------------------------------
def test_every_request_needs_the_token_when_one_is_set(real_db: str) -> None:
    token = "s3cret/+token"
    with Server(create_app(real_db, token=token, allowed_hosts=None)) as server:
        for path in (
            "/",
            "/jobs/evil",
            "/api/jobs",
            "/api/jobs/evil/charts/objective",
            "/static/dashboard.js",
            "/static/vendor/plotly.min.js",
            "/nowhere",
        ):
            assert fetch(server.base + path)[0] == 401, path
            wrong = {"Authorization": "Bearer nope"}
            assert fetch(server.base + path, headers=wrong)[0] == 401, path
        bearer = {"Authorization": f"Bearer {token}"}
        for path in ("/", "/api/jobs", "/static/dashboard.js"):
            assert fetch(server.base + path, headers=bearer)[0] == 200, path
        quoted = urllib.parse.quote(token, safe="")
        assert fetch(f"{server.base}/api/jobs?token={quoted}")[0] == 200
        assert fetch(f"{server.base}/api/jobs?token=wrong")[0] == 401
        # A page opened with ?token= trades it for a cookie and drops it from the address.
        status, headers, _ = fetch(f"{server.base}/jobs/evil?token={quoted}&page=1")
        assert status == 303 and headers["location"] == "/jobs/evil?page=1"
        cookie = headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        assert fetch(f"{server.base}/jobs/evil", headers={"Cookie": cookie})[0] == 200
        assert fetch(f"{server.base}/api/jobs", headers={"Cookie": cookie})[0] == 200
        assert fetch(f"{server.base}/api/jobs", headers={"Cookie": "x=y"})[0] == 401


def test_without_a_token_only_loopback_host_names_are_answered(real: Server) -> None:
    assert fetch(f"{real.base}/api/jobs", headers={"Host": "evil.example"})[0] == 400
    assert fetch(f"{real.base}/api/jobs", headers={"Host": "evil.example:8765"})[0] == 400
    for host in (f"127.0.0.1:{real.port}", f"localhost:{real.port}", "[::1]:8765"):
        assert fetch(f"{real.base}/api/jobs", headers={"Host": host})[0] == 200, host


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("[::1]:8765", "::1"),
        ("localhost", "localhost"),
        ("[::1]", "::1"),
        ("example.com:80", "example.com"),
    ],
)
def test_host_name_of_a_host_header(header: str, expected: str) -> None:
    assert _host_name(header) == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("::", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_beyond_localhost_needs_a_token(real_db: str, monkeypatch, capsys) -> None:
    monkeypatch.delenv("TUNER_DASHBOARD_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        args = argparse.Namespace(db=real_db, host=host, port=8765, token=None)
        assert cmd_dashboard(args) == 2
        assert "without a token" in capsys.readouterr().err
    result = subprocess.run(
        [sys.executable, "-m", "tuner.dashboard", "--db", real_db, "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "TUNER_DASHBOARD_TOKEN" in result.stderr


# ----------------------------------------------------------------------------------------------
# A coordinator writing while the dashboard reads
# ----------------------------------------------------------------------------------------------
def test_reading_while_a_coordinator_writes(tmp_path: Path, caplog) -> None:
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    tuner = HyperparameterTuner(
        slowish,
        "loss",
        {"x": ContinuousParameter(-1.0, 1.0)},
        objective_type="Minimize",
        max_jobs=24,
        max_parallel_jobs=2,
        early_stopping_type="Auto",
        random_seed=2,
        storage=url,
        output_path=tmp_path / "out",
        strategy="Random",
    )
    caplog.set_level(logging.WARNING)
    tuner.fit(job_name="busy", wait=False)
    errors: list[str] = []
    statuses: list[int] = []
    done = threading.Event()
    with Server(create_app(url)) as server:
        api = f"{server.base}/api/jobs/busy"
        routes = [
            api,
            f"{api}/trials?sort=objective",
            f"{api}/charts/objective",
            f"{api}/charts/curves",
            f"{api}/charts/parameters",
            f"{api}/trials/1",
            f"{api}/analysis",
            f"{server.base}/api/jobs",
            f"{server.base}/jobs/busy",
        ]

        def hammer(offset: int) -> None:
            i = offset
            deadline = time.monotonic() + 60
            while not done.is_set() and time.monotonic() < deadline:
                try:
                    status, _, body = fetch(routes[i % len(routes)])
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
                else:
                    statuses.append(status)
                    if status not in (200, 202):
                        errors.append(f"{routes[i % len(routes)]}: {status} {body[:300]!r}")
                i += 1

        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        try:
            tuner.wait()
        finally:
            done.set()
            for t in threads:
                t.join()
        final = get_json(api)
    assert not errors, errors[:5]
    assert len(statuses) > 20
    assert final["HyperParameterTuningJobStatus"] == "Completed"
    counters = final["TrainingJobStatusCounters"]
    assert counters["Completed"] + counters["Stopped"] == 24
    assert "database is locked" not in caplog.text
    assert tuner.describe()["HyperParameterTuningJobStatus"] == "Completed"


# ----------------------------------------------------------------------------------------------
# Pure helpers
# ----------------------------------------------------------------------------------------------
def test_downsampling_keeps_extremes_and_every_new_best() -> None:
    rng = np.random.default_rng(0)
    losses = rng.normal(size=50_000)
    idx = charts.downsample_indices(losses, 1000)
    assert len(idx) <= 1000 + 50 and np.all(np.diff(idx) > 0)
    assert set(charts.improving(losses)) <= set(idx)
    assert losses.argmin() in idx and losses.argmax() in idx
    # The best-so-far at the kept points equals the one over all points.
    full = np.minimum.accumulate(losses)
    assert np.array_equal(np.minimum.accumulate(losses[idx]), full[idx])
    assert np.array_equal(charts.downsample_indices(losses[:500], 1000), np.arange(500))
    assert charts.improving(np.array([3.0, 2.0, 2.0, 5.0, 1.0])).tolist() == [0, 1, 4]


def test_samples_are_seeded_and_best_first() -> None:
    a = charts.sample_indices(10_000, 100)
    assert np.array_equal(a, charts.sample_indices(10_000, 100)) and len(set(a)) == 100
    assert charts.sample_indices(50, 100).tolist() == list(range(50))
    series = charts.ScoredSeries(
        np.array([1, 2, 3, 4]), np.array([0.5, 0.9, 0.9, 0.1]), np.zeros(4, dtype=bool)
    )
    assert charts.best_indices(series, ObjectiveType.MAXIMIZE, 2).tolist() == [1, 2]
    assert charts.best_indices(series, ObjectiveType.MINIMIZE, 1).tolist() == [3]
    assert evenly_spaced(5, 10) == [0, 1, 2, 3, 4]
    spaced = evenly_spaced(1000, 10)
    assert spaced[0] == 0 and spaced[-1] == 999 and len(spaced) == 10


def test_log_tail_reads_the_end_of_the_trials_log(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "job-001"
    folder.mkdir(parents=True)
    lines = [f"line {i} {XSS_SCRIPT}" for i in range(5000)]
    (folder / "training-job.log").write_text("\n".join(lines) + "\n")
    tail = read_log_tail(str(folder))
    assert tail["Found"] and tail["Truncated"] and tail["Lines"] == lines[-200:]
    relative = read_log_tail("out/job-001", base_dir=tmp_path)  # relative to the database
    assert relative["Lines"] == lines[-200:]
    missing = read_log_tail(str(tmp_path / "elsewhere"))
    assert missing["Found"] is False and missing["Lines"] == []
    assert read_log_tail(None)["Path"] is None


def test_an_empty_log_says_so_instead_of_an_empty_box(real: Server) -> None:
    data = get_json(f"{real.base}/api/jobs/quiet-job/trials/1")  # slowish prints nothing
    assert data["Log"]["Found"] and data["Log"]["Lines"] == []
    html = fetch(f"{real.base}/jobs/quiet-job/trials/1")[2].decode()
    assert "is empty: no log lines were written." in html
    assert '<pre class="log" id="log" hidden>' in html
