"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

The tests start ``python -m tuner.dashboard`` in a subprocess on a free port over a SQLite file
filled by real tuning jobs (LocalPool, Python callables), then click through it as a user
would: the job list, a job with its charts, the trials table, a training job and its log, a
running job whose counters move without a reload, and values full of HTML that must show as
text. Screenshots go to ``test-artifacts/`` at the repository root and to pytest's tmp_path.

Needs ``pip install playwright`` (its wheel bundles the driver) and ``apt-get install
chromium``; never ``playwright install``: the system chromium is used. Skipped without them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tuner import CategoricalParameter, ContinuousParameter, HyperparameterTuner, IntegerParameter
from tuner.storage import SqlStorage

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
RANGES = {
    "x": ContinuousParameter(0.01, 10.0),
    "n": IntegerParameter(1, 4),
    "c": CategoricalParameter(["plain", XSS_SCRIPT, XSS_IMG]),
}

if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs Playwright for Python (pip install playwright)"
)


def evil_train(hp, ctx):
    print(f"starting with c={hp['c']} {XSS_SCRIPT}")
    if hp["c"] == XSS_IMG:
        raise RuntimeError(f"broken {XSS_IMG} {XSS_SCRIPT}")
    for epoch in range(1, 5):
        loss = (math.log10(hp["x"]) - 0.3) ** 2 + hp["n"] / epoch
        ctx.report(epoch, loss=loss, accuracy=1.0 / (1.0 + loss))
        print(f"epoch {epoch} loss {loss:.4f}")


def slow_train(hp, ctx):
    for epoch in range(1, 5):
        ctx.report(epoch, loss=hp["x"] ** 2 + 1.0 / epoch)
        time.sleep(0.4)


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard-browser")


@pytest.fixture(scope="module")
def db_url(workdir: Path) -> str:
    url = f"sqlite:///{workdir / 'tuner.db'}"
    for name, fn, ranges, max_jobs in (
        ("evil", evil_train, RANGES, 14),
        ("quadratic", evil_train, {**RANGES, "c": CategoricalParameter(["plain"])}, 10),
    ):
        HyperparameterTuner(
            fn,
            "loss",
            ranges,
            objective_type="Minimize",
            max_jobs=max_jobs,
            max_parallel_jobs=2,
            random_seed=5,
            storage=url,
            output_path=workdir / "out",
            strategy="Random",
        ).fit(job_name=name)
    assert any(t.status == "Failed" for t in SqlStorage(url).trials("evil"))
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(db_url: str, workdir: Path) -> Iterator[str]:
    """``python -m tuner.dashboard`` in a subprocess; yields its base URL."""
    port = _free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "tuner.dashboard", "--db", db_url, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TUNER_DASHBOARD_TOKEN": ""},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=5) as response:
                    assert json.loads(response.read())["ReadOnly"] is True
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"the dashboard did not start: {(workdir / 'server.log').read_text()}"
                    )
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Watched:
    """A page plus what it did: dialogs that opened, script errors, console errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text}") if msg.type == "error" else None
            ),
        )

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield Watched(page)
    context.close()


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Save a full-page screenshot into tmp_path and test-artifacts/."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)
    assert path.stat().st_size > 10_000
    return path


CHARTS_DRAWN = """() => {
    const drawn = e => e && e.classList.contains('js-plotly-plot') && e.data && e.data.length > 0
                       && e.querySelector('.main-svg') !== null;
    const params = Array.from(document.querySelectorAll('#charts-parameters > div'));
    const curves = Array.from(document.querySelectorAll('#charts-curves > div'));
    return drawn(document.getElementById('chart-objective'))
        && drawn(document.getElementById('chart-parallel'))
        && drawn(document.getElementById('chart-importance'))
        && params.length === 3 && params.every(drawn)
        && curves.length === 2 && curves.every(drawn);
}"""


def wait_for_charts(page: Any) -> None:
    """Every chart drawn."""
    page.wait_for_selector("#charts-parameters .js-plotly-plot")
    page.wait_for_function(CHARTS_DRAWN)


def objective_column(page: Any) -> list[float | None]:
    cells = page.locator("#trials-body tr td:nth-child(4)").all_inner_texts()
    return [None if c.strip() == "-" else float(c) for c in cells]


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------
def test_list_job_charts_sorting_and_a_trial(server: str, watched: Watched, tmp_path) -> None:
    page = watched.page
    page.goto(f"{server}/")
    rows = page.locator("#jobs-body tr[data-job]")
    assert rows.count() == 2
    page.locator("#jobs-table th[data-sort=name]").click()  # name, ascending
    page.wait_for_function(
        "document.querySelector('#jobs-body tr[data-job]').dataset.job === 'evil'"
    )
    page.locator("#jobs-table th[data-sort=name]").click()  # name, descending
    page.wait_for_function(
        "document.querySelector('#jobs-body tr[data-job]').dataset.job === 'quadratic'"
    )
    page.locator("#jobs-search").fill("EVI")
    page.wait_for_function("document.querySelectorAll('#jobs-body tr[data-job]').length === 1")
    screenshot(page, "dashboard-jobs", tmp_path)

    page.get_by_role("link", name="evil", exact=True).click()
    page.wait_for_url(f"{server}/jobs/evil")
    wait_for_charts(page)
    charts = page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => ({
            id: e.id, traces: e.data.length,
            points: e.data.reduce((n, t) => n + ((t.x || t.y || (t.dimensions || [{}])[0].values
                                                  || []).length), 0)}))"""
    )
    assert len(charts) >= 8
    assert all(c["traces"] > 0 and c["points"] > 0 for c in charts), charts
    summary = json.loads(page.evaluate("fetch('/api/jobs/evil').then(r => r.text())"))
    objective = next(c for c in charts if c["id"] == "chart-objective")
    n_scored = summary["ObjectiveStatusCounters"]["Succeeded"]
    assert objective["points"] == 2 * n_scored  # every training job, and the best-so-far line
    assert page.locator("#analysis-table tbody tr").count() == 3
    # Parallel coordinates: SVG lines first; the button switches to WebGL parcoords and back.
    parallel_type = "() => (document.getElementById('chart-parallel').data || [{}])[0].type"
    assert page.evaluate(parallel_type) == "scatter"
    page.locator("#parallel-mode").click()
    page.wait_for_function(f"({parallel_type})() === 'parcoords'")
    page.wait_for_selector("#chart-parallel .parcoords")
    page.locator("#parallel-mode").click()
    page.wait_for_function(f"({parallel_type})() === 'scatter'")
    assert page.locator("#counter-Completed").inner_text() == str(
        summary["TrainingJobStatusCounters"]["Completed"]
    )

    # Sort the trials table by the objective, both ways, then filter it by status.
    header = page.locator("#trials-table th[data-sort=objective]")
    header.click()
    page.wait_for_selector("#trials-table th[data-sort=objective].sorted-asc")
    values = objective_column(page)
    scored = [v for v in values if v is not None]
    assert scored == sorted(scored) and len(scored) == n_scored
    assert values[len(scored) :] == [None] * (len(values) - len(scored))
    header.click()
    page.wait_for_selector("#trials-table th[data-sort=objective].sorted-desc")
    assert [v for v in objective_column(page) if v is not None] == sorted(scored, reverse=True)
    page.select_option("#trials-status", "Failed")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#trials-body tr td:nth-child(3)'))"
        ".every(td => td.textContent === 'Failed')"
    )
    assert (
        page.locator("#trials-body tr").count()
        == summary["TrainingJobStatusCounters"]["RetryableError"]
    )
    page.select_option("#trials-status", "All")
    page.wait_for_function("document.querySelectorAll('#trials-body tr').length === 14")
    header.click()  # back to ascending: the best training job first
    page.wait_for_selector("#trials-table th[data-sort=objective].sorted-asc")
    screenshot(page, "dashboard-job", tmp_path)

    best_name = summary["BestTrainingJob"]["TrainingJobName"]
    page.locator("#trials-body tr").first.get_by_role("link").click()
    page.wait_for_url(f"{server}/jobs/evil/trials/{summary['BestTrainingJob']['TrialNumber']}")
    assert page.locator("h1").inner_text().startswith(best_name)
    page.wait_for_function(
        "(() => { const e = document.getElementById('chart-trial');"
        " return e.data && e.data.length === 2; })()"
    )
    log = page.locator("#log").inner_text()
    assert "epoch 4 loss" in log and "starting with c=" in log
    assert page.locator("#metrics-table tbody tr").count() == 4
    assert page.locator("#trial-status").inner_text() == "Completed"
    screenshot(page, "dashboard-trial", tmp_path)
    assert not watched.dialogs
    assert not watched.errors, watched.errors


def test_user_values_render_as_text_and_never_run(
    server: str, watched: Watched, db_url: str, tmp_path
) -> None:
    page = watched.page
    trials = SqlStorage(db_url).trials("evil")
    failed = next(t for t in trials if t.status == "Failed")
    page.goto(f"{server}/jobs/evil?status=Failed")
    wait_for_charts(page)
    page.select_option("#trials-status", "All")
    page.wait_for_function("document.querySelectorAll('#trials-body tr').length === 14")
    found = page.evaluate(
        """([script, img]) => {
            const cells = Array.from(document.querySelectorAll('#trials-body td'));
            const svgText = Array.from(document.querySelectorAll('#charts-parameters text'))
                .map(t => t.textContent);
            return {
                scriptCell: cells.some(td => td.textContent === script),
                imgCell: cells.some(td => td.textContent === img),
                reason: cells.some(td => td.textContent.includes('broken ' + img)),
                chartLabel: svgText.some(t => t.includes(script)),
                images: document.querySelectorAll('img').length,
                scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
                spec: document.getElementById('spec').textContent.includes(img),
            };
        }""",
        [XSS_SCRIPT, XSS_IMG],
    )
    assert found == {
        "scriptCell": True,
        "imgCell": True,
        "reason": True,
        "chartLabel": True,  # plotly shows the value itself, not &lt;script&gt;
        "images": 0,
        "scripts": ["/static/vendor/plotly.min.js", "/static/dashboard.js"],
        "spec": True,
    }
    page.goto(f"{server}/jobs/evil/trials/{failed.number}")
    page.wait_for_selector("#trial-status")
    assert XSS_IMG in page.locator("#failure-reason").inner_text()
    log = page.locator("#log").inner_text()
    assert XSS_SCRIPT in log and "RuntimeError: broken" in log
    assert page.locator("#hyperparameters td").all_inner_texts().count(XSS_IMG) == 1
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    time.sleep(0.5)  # give any injected handler a chance to fire
    screenshot(page, "dashboard-escaping", tmp_path)
    assert watched.dialogs == []
    assert not watched.errors, watched.errors


def test_a_running_jobs_counters_change_without_reload(
    server: str, watched: Watched, db_url: str, workdir: Path, tmp_path
) -> None:
    tuner = HyperparameterTuner(
        slow_train,
        "loss",
        {"x": ContinuousParameter(-1.0, 1.0)},
        objective_type="Minimize",
        max_jobs=30,
        max_parallel_jobs=1,
        random_seed=0,
        storage=db_url,
        output_path=workdir / "out-live",
        strategy="Random",
    )
    tuner.fit(job_name="live", wait=False)
    page = watched.page
    try:
        page.goto(f"{server}/jobs/live")
        assert page.locator("#job-status").inner_text() == "InProgress"
        page.evaluate("window.__notReloaded = true")
        before = int(page.locator("#counter-Completed").inner_text())
        page.wait_for_function(
            f"parseInt(document.getElementById('counter-Completed').textContent) > {before}",
            timeout=30_000,
        )
        page.wait_for_function(
            "document.querySelectorAll('#trials-body tr[data-number]').length >= 2"
        )
        assert page.evaluate("window.__notReloaded") is True
        assert "live" in page.locator("#live-state").inner_text()
        screenshot(page, "dashboard-live", tmp_path)
    finally:
        tuner.stop_tuning_job()
        tuner.wait()
    page.wait_for_function(
        "document.getElementById('job-status').textContent === 'Stopped'", timeout=30_000
    )
    assert page.evaluate("window.__notReloaded") is True
    assert not watched.dialogs
    assert not watched.errors, watched.errors
