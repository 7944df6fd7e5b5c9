"""The dashboard at scale: a tuning job of 100,000 training jobs with 30 epochs each.

Builds the job straight into a SQLite file through SqlStorage's tables (bulk executemany
inserts: 100,000 training jobs, 3,000,000 metric rows), plus 20 small jobs so that the list
has company, then starts ``python -m tuner.dashboard`` in a subprocess and times, over HTTP:

* the job list (``/api/jobs`` and the ``/`` page),
* the job page and each JSON response its charts need (objective, hyperparameters and
  parallel coordinates, learning curves), the first trials page and one sorted by objective
  deep into the table, a training job's page, and the correlations and importance (computed
  in the background: the time until they are ready),
* with Playwright and Debian's chromium when both are there: the time from opening the job
  page until every chart is drawn (plotly's ``.js-plotly-plot`` elements holding data), and
  from a click on the parallel coordinates' "interactive" button until the WebGL version is,
* the server's resident memory at start, once every request ran (the analysis imports
  scikit-learn, about 80 MB, once), and after 5 and 10 more rounds of every request, one
  after another and from 4 threads at once: flat means the last two agree.

Goals (issue 8): the list in under a second, the charts drawn in under two, memory flat.
``--trials`` sets the size (the runner's default of 200 is raised to 100,000 here unless
given explicitly above 200); ``--repeats`` how often each request is timed (median).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table
from sqlalchemy import insert, select

from tuner import CategoricalParameter, ContinuousParameter, IntegerParameter
from tuner.api import build_request
from tuner.describe import training_job_name
from tuner.storage import SqlStorage
from tuner.storage import schema as s

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RANGES = {
    "eta": ContinuousParameter(1e-4, 1.0),  # Auto: logarithmic
    "max_depth": IntegerParameter(1, 12),
    "subsample": ContinuousParameter(0.5, 1.0),
    "booster": CategoricalParameter(["gbtree", "dart", "gblinear"]),
}
METRIC = "validation:rmse"


# ----------------------------------------------------------------------------------------------
# The synthetic job
# ----------------------------------------------------------------------------------------------
def build_job(
    url: str, name: str, n_trials: int, n_epochs: int, *, seed: int = 0, chunk: int = 20_000
) -> None:
    """Insert a finished Random job of ``n_trials`` training jobs with ``n_epochs`` each.

    About 90% Completed, 7% Stopped early (fewer epochs), 3% Failed (a failure reason, no
    objective). The objective falls with epochs and depends on eta (log scale), max_depth and
    booster, plus noise, so the charts and the analysis have something to show.
    """
    rng = np.random.default_rng(seed)
    storage = SqlStorage(url)
    request = build_request(
        job_name=name,
        algorithm_reference="xgboost",
        objective_metric_name=METRIC,
        objective_type="Minimize",
        hyperparameter_ranges=RANGES,
        strategy="Random",
        max_jobs=n_trials,
        max_parallel_jobs=8,
        max_runtime_in_seconds=None,
        early_stopping_type="Auto",
        random_seed=seed,
        static_hyperparameters={"num_round": n_epochs},
        metric_definitions=None,
        inputs={"train": "data/train.csv", "validation": "data/validation.csv"},
        output_path="out",
        max_retry_attempts=None,
        max_training_job_runtime_in_seconds=None,
        environment=None,
        completion_criteria=None,
    )
    t0 = time.time() - n_trials * 2.0
    storage.create_job(name, request, strategy="Random", seed=seed, status="InProgress", now=t0)
    with storage.engine.begin() as conn:
        job_id = conn.execute(
            select(s.tuning_jobs.c.id).where(s.tuning_jobs.c.name == name)
        ).scalar()
    boosters = ["gbtree", "dart", "gblinear"]
    epochs = np.arange(1, n_epochs + 1, dtype=float)
    for start in range(0, n_trials, chunk):
        numbers = np.arange(start + 1, min(n_trials, start + chunk) + 1)
        k = len(numbers)
        eta = 10 ** rng.uniform(-4, 0, k)
        depth = rng.integers(1, 13, k)
        subsample = rng.uniform(0.5, 1.0, k)
        booster = rng.integers(0, 3, k)
        final = (
            (np.log10(eta) + 1.5) ** 2 * 0.3
            + 0.05 * np.abs(depth - 6)
            + np.array([0.0, 0.1, 0.4])[booster]
            + rng.normal(0, 0.05, k)
            + 0.5
        )
        kind = rng.random(k)
        status = np.where(kind < 0.03, "Failed", np.where(kind < 0.10, "Stopped", "Completed"))
        n_done = np.where(status == "Stopped", rng.integers(1, max(2, n_epochs // 2), k), n_epochs)
        n_done = np.where(status == "Failed", rng.integers(0, n_epochs, k), n_done)
        created = t0 + numbers * 2.0
        rows = []
        for i in range(k):
            number = int(numbers[i])
            scored = status[i] != "Failed" and n_done[i] > 0
            curve_end = final[i] * (1 + 2.0 / (n_done[i] if n_done[i] else 1))
            rows.append(
                {
                    "tuning_job_id": job_id,
                    "number": number,
                    "name": training_job_name(name, number),
                    "hyperparameters_json": json.dumps(
                        {
                            "eta": repr(float(eta[i])),
                            "max_depth": str(int(depth[i])),
                            "subsample": repr(float(subsample[i])),
                            "booster": boosters[int(booster[i])],
                            "num_round": str(n_epochs),
                        }
                    ),
                    "status": str(status[i]),
                    "final_value": float(curve_end) if scored else None,
                    "final_metrics_json": json.dumps({METRIC: float(curve_end)})
                    if scored
                    else "{}",
                    "created_at": float(created[i]),
                    "started_at": float(created[i]) + 0.1,
                    "ended_at": float(created[i]) + 1.5,
                    "failure_reason": "AlgorithmError: MemoryError: out of memory at round 7"
                    if status[i] == "Failed"
                    else None,
                    "retryable": bool(status[i] == "Failed"),
                    "attempt": 1,
                    "n_reports": int(n_done[i]),
                    "worker": "local-0",
                    "output_dir": f"out/{training_job_name(name, number)}",
                }
            )
        with storage.engine.begin() as conn:
            conn.execute(insert(s.training_jobs), rows)
            ids = dict(
                conn.execute(
                    select(s.training_jobs.c.number, s.training_jobs.c.id).where(
                        s.training_jobs.c.tuning_job_id == job_id,
                        s.training_jobs.c.number.between(int(numbers[0]), int(numbers[-1])),
                    )
                ).all()
            )
            metric_rows = []
            for i in range(k):
                n = int(n_done[i])
                if n == 0:
                    continue
                curve = final[i] * (1 + 2.0 / epochs[:n])
                trial_id = ids[int(numbers[i])]
                at = float(created[i])
                metric_rows.extend(
                    {
                        "training_job_id": trial_id,
                        "attempt": 1,
                        "epoch": e + 1,
                        "name": METRIC,
                        "value": float(curve[e]),
                        "at": at + 0.05 * e,
                    }
                    for e in range(n)
                )
            conn.execute(insert(s.metrics), metric_rows)
    storage.set_job_status(name, "Completed", now=t0 + n_trials * 2.0 + 5, ended=True)
    storage.close()


# ----------------------------------------------------------------------------------------------
# The server and the measurements
# ----------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (loopback only)
        return response.status, response.read()


def _time(url: str, repeats: int) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(repeats):
        start = time.perf_counter()
        _, body = _get(url)
        times.append(time.perf_counter() - start)
        size = len(body)
    return statistics.median(times), size


def _start_server(db: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tuner.dashboard", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _get(f"http://127.0.0.1:{port}/api/health")
            return process
        except OSError:
            if process.poll() is not None:
                msg = f"the dashboard did not start: {process.stderr.read().decode() if process.stderr else ''}"
                raise RuntimeError(msg) from None
            time.sleep(0.2)
    process.kill()
    msg = "the dashboard did not answer within 60 s"
    raise RuntimeError(msg)


def _hammer(urls: list[str], *, rounds: int, threads: int = 4) -> None:
    """Every URL ``rounds`` times one after another, then as often from ``threads`` at once."""
    for _ in range(rounds):
        for url in urls:
            _get(url)
    workers = [
        threading.Thread(target=lambda: [_get(u) for _ in range(rounds) for u in urls])
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def _browser_draw(base: str, job: str, repeats: int) -> dict[str, float] | None:
    """Seconds from opening a page until it shows its data (None: no browser).

    The job page: until the objective, hyperparameter, parallel-coordinates (SVG lines) and
    learning-curve charts hold data. Then, on that page, from a click on the parallel
    coordinates' "interactive" button until plotly's WebGL parcoords are drawn (informational:
    an on-request view, slow where the browser has no GPU).
    """
    if not Path(CHROMIUM).exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    drawn = "e => e && e.data && e.data.length > 0 && e.querySelector('.main-svg') !== null"
    charts = f"""() => {{
        const drawn = {drawn};
        const all = sel => {{ const l = Array.from(document.querySelectorAll(sel));
                              return l.length > 0 && l.every(drawn); }};
        return drawn(document.getElementById('chart-objective'))
            && drawn(document.getElementById('chart-parallel'))
            && all('#charts-parameters > div') && all('#charts-curves > div');
    }}"""
    parcoords = (
        "() => { const e = document.getElementById('chart-parallel');"
        " return e.data && e.data[0].type === 'parcoords' && e.querySelector('.parcoords'); }"
    )
    first, interactive, listing = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/jobs/{job}")  # warm: plotly.js into the cache
            page.wait_for_function(charts, timeout=60_000)
            for _ in range(repeats):
                start = time.perf_counter()
                page.goto(f"{base}/jobs/{job}")
                page.wait_for_function(charts, timeout=60_000, polling=50)
                first.append(time.perf_counter() - start)
                start = time.perf_counter()
                page.locator("#parallel-mode").click()
                page.wait_for_function(parcoords, timeout=60_000, polling=50)
                interactive.append(time.perf_counter() - start)
                start = time.perf_counter()
                page.goto(f"{base}/")
                page.wait_for_selector("#jobs-body tr[data-job]")
                listing.append(time.perf_counter() - start)
            shots = Path("benchmark-results")
            shots.mkdir(exist_ok=True)
            page.goto(f"{base}/jobs/{job}")
            page.wait_for_function(charts, timeout=60_000)
            page.wait_for_function(
                "document.querySelector('#analysis-table tbody tr') !== null", timeout=300_000
            )
            page.screenshot(path=str(shots / "dashboard-100k.png"), full_page=True)
        finally:
            browser.close()
    return {
        "list_page_s": statistics.median(listing),
        "job_page_charts_s": statistics.median(first),
        "interactive_parallel_s": statistics.median(interactive),
    }


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    n_trials = args.trials if args.trials > 200 else 100_000
    n_epochs = 30
    repeats = max(1, args.repeats)
    job = "big-job"
    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    db = f"sqlite:///{tmp / 'tuner.db'}"
    results: dict[str, Any] = {"trials": n_trials, "epochs": n_epochs, "repeats": repeats}
    process = None
    try:
        start = time.perf_counter()
        build_job(db, job, n_trials, n_epochs)
        for i in range(20):
            build_job(db, f"small-job-{i:02d}", 50, 10, seed=i + 1)
        results["build_s"] = round(time.perf_counter() - start, 1)
        results["db_mb"] = round((tmp / "tuner.db").stat().st_size / 2**20, 1)

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        process = _start_server(db, port)
        results["rss_start_mb"] = round(_rss_mb(process.pid), 1)
        api = f"{base}/api/jobs/{job}"
        requests = {
            "list: /api/jobs": f"{base}/api/jobs",
            "list page: /": f"{base}/",
            "job page HTML": f"{base}/jobs/{job}",
            "job summary": api,
            "trials, page 1": f"{api}/trials",
            "trials by objective, page 1000": f"{api}/trials?sort=objective&order=desc&page=1000",
            "trials filtered Stopped": f"{api}/trials?status=Stopped&sort=duration",
            "chart: objective": f"{api}/charts/objective",
            "chart: hyperparameters + parallel": f"{api}/charts/parameters",
            "chart: learning curves": f"{api}/charts/curves",
            "training job page": f"{base}/jobs/{job}/trials/{n_trials // 2}",
        }
        timings: dict[str, dict[str, float]] = {}
        for label, url in requests.items():  # the first call, on a cold page cache
            cold, _ = _time(url, 1)
            timings[label] = {"cold_s": round(cold, 3)}
        for label, url in requests.items():
            seconds, size = _time(url, repeats)
            timings[label].update(seconds=round(seconds, 3), kb=round(size / 1024, 1))

        start = time.perf_counter()
        while True:
            status, _ = _get(f"{api}/analysis")
            if status == 200 or time.perf_counter() - start > 300:
                break
            time.sleep(0.25)
        timings["analysis ready (background)"] = {
            "seconds": round(time.perf_counter() - start, 3),
            "kb": round(len(_get(f"{api}/analysis")[1]) / 1024, 1),
        }
        results["rss_warm_mb"] = round(_rss_mb(process.pid), 1)
        chart_keys = [k for k in timings if k.startswith("chart:")]
        results["charts_api_total_s"] = round(sum(timings[k]["seconds"] for k in chart_keys), 3)
        results["browser"] = _browser_draw(base, job, repeats)
        urls = list(requests.values())
        for rounds in (5, 10):
            _hammer(urls, rounds=5)
            results[f"rss_after_{rounds}_rounds_mb"] = round(_rss_mb(process.pid), 1)
        results["timings"] = timings
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    table = Table(
        title=f"Dashboard on a job of {n_trials:,} training jobs x {n_epochs} epochs "
        f"(median of {repeats}; DB {results['db_mb']} MB, built in {results['build_s']} s)"
    )
    table.add_column("request")
    table.add_column("seconds", justify="right")
    table.add_column("first call", justify="right")
    table.add_column("KB", justify="right")
    for label, t in results["timings"].items():
        cold = f"{t['cold_s']:.3f}" if "cold_s" in t else ""
        table.add_row(label, f"{t['seconds']:.3f}", cold, f"{t['kb']:.1f}")
    table.add_row("all chart APIs, one after another", f"{results['charts_api_total_s']:.3f}", "")
    browser = results["browser"]
    if browser:
        table.add_row("browser: list page until rows shown", f"{browser['list_page_s']:.3f}", "")
        table.add_row(
            "browser: job page until objective, hyperparameter, parallel-coordinates and curve "
            "charts drawn",
            f"{browser['job_page_charts_s']:.3f}",
            "",
        )
        table.add_row(
            "browser: click 'interactive' until the WebGL parallel coordinates are drawn",
            f"{browser['interactive_parallel_s']:.3f}",
            "",
        )
    else:
        table.add_row("browser", "skipped (no chromium or playwright)", "")
    table.add_row(
        "server RSS MB: start / warm (every request once, analysis done) / after the browser "
        "and 5 more rounds / after 10",
        f"{results['rss_start_mb']} / {results['rss_warm_mb']} / "
        f"{results['rss_after_5_rounds_mb']} / {results['rss_after_10_rounds_mb']}",
        "",
    )
    results["cpus"] = os.cpu_count()
    return table, results
