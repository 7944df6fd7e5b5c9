"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

The tests start ``python -m tuner.dashboard`` in a subprocess on a free port over a SQLite file
filled by real tuning jobs (LocalPool, Python callables), then click through it as a user
would: the job list, a job with its charts, the trials table, a training job and its log, a
running job whose counters move without a reload, and values full of HTML that must show as
text. Then the small things that made pages look broken, at a 1,440 px window: a job with the
longest name AMT allows and ten long-named hyperparameters must not widen the page, the
objective chart hides stopped training jobs and takes a log axis, a stopped training job's
page names the rule (median rule, Hyperband), the epoch and the value instead of a red
failure box, both axes of a training job's chart are titled, the importance chart's labels are
not clipped, an empty log says so, a click on a chart's point opens its training job, and the
trials table sorts by a hyperparameter. Screenshots go to ``test-artifacts/`` at the
repository root and to pytest's tmp_path.

Needs ``pip install playwright`` (its wheel bundles the driver) and ``apt-get install
chromium``; never ``playwright install``: the system chromium is used. Skipped without them.
"""

from __future__ import annotations

import json
import math
import os
import re
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

from tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperbandStrategyConfig,
    HyperparameterTuner,
    IntegerParameter,
    StrategyConfig,
)
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
#: A job as wide as they come: the longest tuning job name AMT allows and ten hyperparameters
#: with long names whose sampled values have 17 digits.
WIDE = "a-rather-long-tuning-job-name-v01"[:32]
WIDE_RANGES = {
    f"{word}_regularisation_strength_of_the_{i:02d}th_layer": ContinuousParameter(0.001, 1.0)
    for i, word in enumerate(
        (
            "dropout",
            "l1",
            "l2",
            "weight_decay",
            "label_smoothing",
            "momentum",
            "warmup",
            "gradient_clipping",
            "feature_fraction",
            "bagging",
        ),
        start=1,
    )
}
VIEWPORT = {"width": 1440, "height": 1000}

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


def quiet_train(hp, ctx):
    """Prints nothing (an empty log); the first hyperparameter sets the loss, so the median
    rule stops the unlucky ones."""
    first = hp[next(iter(WIDE_RANGES))]
    for epoch in range(1, 7):
        ctx.report(epoch, loss=first + 1.0 / epoch)
        time.sleep(0.05)


def rising_train(hp, ctx):
    """Accuracy rising to a plateau set by x: Hyperband stops the low plateaus at a rung."""
    for epoch in range(1, 10):
        ctx.report(epoch, accuracy=hp["x"] * (1 - 0.5**epoch))
        time.sleep(0.03)


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
    common = dict(max_parallel_jobs=2, random_seed=3, storage=url, output_path=workdir / "out")
    HyperparameterTuner(
        quiet_train,
        "loss",
        WIDE_RANGES,
        objective_type="Minimize",
        max_jobs=12,
        early_stopping_type="Auto",
        strategy="Random",
        **common,
    ).fit(job_name=WIDE)
    HyperparameterTuner(
        rising_train,
        "accuracy",
        {"x": ContinuousParameter(0.1, 1.0)},
        max_jobs=12,
        strategy="Hyperband",
        strategy_config=StrategyConfig(HyperbandStrategyConfig(max_resource=9, min_resource=1)),
        **common,
    ).fit(job_name="hb")
    storage = SqlStorage(url)
    assert any(t.status == "Failed" for t in storage.trials("evil"))
    for job, rule in ((WIDE, "median"), ("hb", "Hyperband")):
        stopped = [t for t in storage.trials(job) if t.status == "Stopped"]
        assert stopped and all(rule in (t.failure_reason or "") for t in stopped), job
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
    context = browser.new_context(viewport=VIEWPORT)
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
    assert rows.count() == 4
    page.locator("#jobs-table th[data-sort=name]").click()  # name, ascending
    page.wait_for_function(
        f"document.querySelector('#jobs-body tr[data-job]').dataset.job === '{WIDE}'"
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


# ----------------------------------------------------------------------------------------------
# The small things that made pages look broken or hid information
# ----------------------------------------------------------------------------------------------
DRAWN = """id => { const e = document.getElementById(id);
    return !!e && !!e.data && e.data.length > 0 && e.querySelector('.main-svg') !== null; }"""
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


def wait_drawn(page: Any, chart_id: str) -> None:
    page.wait_for_function(DRAWN, arg=chart_id)


def significant_digits(text: str) -> int:
    return len(text.lower().split("e")[0].lstrip("+-").replace(".", "").lstrip("0"))


def stopped_trials(db_url: str, job: str) -> list[Any]:
    return [t for t in SqlStorage(db_url).trials(job) if t.status == "Stopped"]


def test_pages_fit_a_1440px_window_with_long_names_and_many_hyperparameters(
    server: str, watched: Watched, db_url: str, tmp_path
) -> None:
    page = watched.page
    page.goto(f"{server}/jobs/{WIDE}")
    wait_drawn(page, "chart-importance")  # the analysis table is filled too
    assert page.evaluate(PAGE_WIDTH) <= VIEWPORT["width"]
    # Every cell keeps to its column: long names wrap instead of widening it...
    spilled = page.evaluate(
        """() => Array.from(document.querySelectorAll('table.fixed th, table.fixed td'))
            .filter(c => !c.classList.contains('reason') && c.scrollWidth > c.clientWidth + 1)
            .map(c => c.textContent)"""
    )
    assert spilled == []
    # ...the hyperparameters' 17-digit values are rounded as the objective is (6 digits), the
    # exact value in the tooltip...
    cells = page.evaluate(
        """() => Array.from(document.querySelectorAll('#trials-body td.hp, #best-hyperparameters td'))
            .map(td => [td.textContent, td.title])"""
    )
    assert len(cells) == 12 * 10 + 10
    for text, exact in cells:
        assert significant_digits(text) <= 6 < significant_digits(exact)
        assert float(text) == pytest.approx(float(exact), rel=1e-5)
    # ...and ten of them scroll inside the table's own box, not the page.
    box = page.evaluate(
        """() => { const b = document.getElementById('trials-table').parentElement;
            return {scrolls: b.scrollWidth > b.clientWidth, right: b.getBoundingClientRect().right}; }"""
    )
    assert box["scrolls"] and box["right"] <= VIEWPORT["width"]
    screenshot(page, "dashboard-wide-job", tmp_path)
    number = stopped_trials(db_url, WIDE)[0].number
    for path in ("/", f"/jobs/{WIDE}/trials/{number}"):
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(PAGE_WIDTH) <= VIEWPORT["width"], path
    assert not watched.errors, watched.errors


OBJECTIVE_STATE = """() => {
    const e = document.getElementById('chart-objective');
    const trace = uid => e.data.find(t => t.uid === uid);
    return {
        stoppedVisible: trace('stopped').visible !== false,
        stopped: trace('stopped').y, completed: trace('completed').y,
        range: e._fullLayout.yaxis.range, type: e._fullLayout.yaxis.type,
        markers: e.querySelectorAll('.scatterlayer .trace path.point').length,
    };
}"""


def test_objective_chart_hides_stopped_jobs_and_takes_a_log_axis(
    server: str, watched: Watched, tmp_path
) -> None:
    page = watched.page
    page.goto(f"{server}/jobs/{WIDE}")
    wait_drawn(page, "chart-objective")
    before = page.evaluate(OBJECTIVE_STATE)
    completed, stopped = before["completed"], before["stopped"]
    assert before["stoppedVisible"] and before["type"] == "linear"
    assert before["markers"] == len(completed) + len(stopped)
    # The stopped ones (lower is better here) stopped high: they set the top of the axis.
    assert max(stopped) > max(completed) and before["range"][1] >= max(stopped)
    page.locator("#objective-hide-stopped").check()
    page.wait_for_function(f"({OBJECTIVE_STATE})().stoppedVisible === false")
    hidden = page.evaluate(OBJECTIVE_STATE)
    assert hidden["markers"] == len(completed)
    assert max(completed) <= hidden["range"][1] < max(stopped)  # the axis fits what is left
    page.locator("#objective-log").check()
    page.wait_for_function(f"({OBJECTIVE_STATE})().type === 'log'")
    screenshot(page, "dashboard-objective-hidden-log", tmp_path)
    page.locator("#objective-hide-stopped").uncheck()
    page.locator("#objective-log").uncheck()
    page.wait_for_function(
        f"(s => s.stoppedVisible && s.type === 'linear')(({OBJECTIVE_STATE})())"
    )
    assert not watched.errors, watched.errors


def test_a_stopped_job_says_which_rule_stopped_it_and_an_empty_log_says_so(
    server: str, watched: Watched, db_url: str, tmp_path
) -> None:
    page = watched.page
    storage = SqlStorage(db_url)
    for job, metric, rule in (
        (WIDE, "loss", "median stopping rule"),
        ("hb", "accuracy", "Hyperband"),
    ):
        trial = stopped_trials(db_url, job)[-1]
        found = re.search(r"(\d+) reports?;|rung (\d+);", trial.failure_reason)
        assert found, trial.failure_reason
        reports = int(found.group(1) or found.group(2))
        epoch, value = [(p.epoch, p.value) for p in storage.curves(job, [metric])[trial.number]][
            reports - 1
        ]
        page.goto(f"{server}/jobs/{job}/trials/{trial.number}")
        page.wait_for_selector("#trial-stop:not([hidden])")
        assert page.locator("#trial-failure").is_hidden()  # a stop is not a failure
        text = page.locator("#stop-text").inner_text()
        assert text.startswith(("Stopped early by the " + rule, "Stopped early by " + rule))
        assert re.search(rf"at epoch {epoch}\b", text) and f"{metric} was {value:.6g}" in text
        assert re.search(r"(That median|The cutoff) was \S+\.", text), text  # compared value
        assert page.locator("#stop-reason").inner_text() == trial.failure_reason
        colour = page.evaluate("getComputedStyle(document.getElementById('trial-stop')).color")
        assert colour != page.evaluate(
            "(() => { const p = document.createElement('p'); p.className = 'error';"
            " document.body.appendChild(p); return getComputedStyle(p).color; })()"
        )
        screenshot(page, f"dashboard-stopped-{'median' if job == WIDE else 'hyperband'}", tmp_path)
    # quiet_train prints nothing: no empty log box, a note saying why.
    done = next(t for t in storage.trials(WIDE) if t.status == "Completed")
    page.goto(f"{server}/jobs/{WIDE}/trials/{done.number}")
    page.wait_for_selector("#trial-status")
    assert page.locator("#log").is_hidden()
    assert "no log lines were written" in page.locator("#log-info").inner_text()
    assert not watched.errors, watched.errors


def test_both_axes_of_a_trials_chart_are_titled(
    server: str, watched: Watched, db_url: str
) -> None:
    page = watched.page
    done = next(t for t in SqlStorage(db_url).trials("evil") if t.status == "Completed")
    page.goto(f"{server}/jobs/evil/trials/{done.number}")
    wait_drawn(page, "chart-trial")
    titles = page.evaluate(
        """() => { const e = document.getElementById('chart-trial');
            const text = sel => (e.querySelector(sel) || {}).textContent;
            return [text('.g-ytitle'), text('.g-y2title'),
                    e.data.map(t => [t.name, t.yaxis])]; }"""
    )
    assert titles == ["loss", "accuracy", [["loss", "y"], ["accuracy", "y2"]]]
    assert not watched.errors, watched.errors


def test_importance_labels_are_not_clipped(server: str, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{server}/jobs/{WIDE}")
    wait_drawn(page, "chart-importance")
    labels = page.evaluate(
        """() => { const e = document.getElementById('chart-importance');
            const left = e.querySelector('.main-svg').getBoundingClientRect().left;
            return Array.from(e.querySelectorAll('.yaxislayer-above .ytick text'))
                .map(t => [t.textContent, t.getBoundingClientRect().left - left]); }"""
    )
    assert labels and {name for name, _ in labels} <= set(WIDE_RANGES)
    assert all(offset >= 0 for _, offset in labels), labels
    assert not watched.errors, watched.errors


def _click_point(page: Any, chart: str, trace: int, point: int) -> int:
    """Click one plotted point of a chart; returns the trial number it carries."""
    where = page.evaluate(
        """([chart, trace, point]) => {
            const e = document.getElementById(chart);
            const marker = e.querySelectorAll('.scatterlayer .trace')[trace]
                .querySelectorAll('path.point')[point];
            marker.scrollIntoView({block: 'center'});
            const box = marker.getBoundingClientRect();
            return {x: box.x + box.width / 2, y: box.y + box.height / 2,
                    number: e.data[trace].customdata[point]}; }""",
        [chart, trace, point],
    )
    page.mouse.move(where["x"], where["y"])
    page.mouse.click(where["x"], where["y"])
    return int(where["number"])


def test_clicking_a_point_opens_its_training_job(server: str, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{server}/jobs/{WIDE}")
    wait_drawn(page, "chart-objective")
    # A stopped one: far from the best-so-far line, which would win the hover otherwise.
    stopped = page.evaluate(
        "document.getElementById('chart-objective').data.findIndex(t => t.uid === 'stopped')"
    )
    number = _click_point(page, "chart-objective", stopped, 0)
    page.wait_for_url(f"{server}/jobs/{WIDE}/trials/{number}")
    assert page.locator("h1").inner_text().startswith(f"{WIDE}-{number:03d}-")
    page.go_back()
    wait_drawn(page, "chart-importance")  # the readings have retitled the charts: all is still
    wait_drawn(page, "chart-param-0")  # loaded by its own request, after or before the importance
    number = _click_point(page, "chart-param-0", 0, 0)
    page.wait_for_url(f"{server}/jobs/{WIDE}/trials/{number}")
    assert not watched.errors, watched.errors


def test_the_trials_table_sorts_by_a_hyperparameter(server: str, watched: Watched) -> None:
    page = watched.page
    name = next(iter(WIDE_RANGES))
    page.goto(f"{server}/jobs/{WIDE}")
    header = page.locator(f'#trials-table th[data-sort="hp:{name}"]')
    column = 6  # #, name, status, objective, epochs, then the hyperparameters in order

    def values() -> list[float]:
        cells = page.locator(f"#trials-body tr td:nth-child({column})")
        return [float(c.get_attribute("title")) for c in cells.all()]

    header.click()
    page.wait_for_selector(f'#trials-table th[data-sort="hp:{name}"].sorted-asc')
    ascending = values()
    assert len(ascending) == 12 and ascending == sorted(ascending)
    header.click()
    page.wait_for_selector(f'#trials-table th[data-sort="hp:{name}"].sorted-desc')
    assert values() == sorted(ascending, reverse=True)
    assert not watched.errors, watched.errors
