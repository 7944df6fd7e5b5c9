"""``tuner report`` at scale: wall time and peak memory at 2,000 / 10,000 / 100,000 trials.

Builds (once, then reuses) SQLite databases of one finished Random job each with
``bench_dashboard.build_job`` (30 epochs per training job, about 90% Completed, 7% Stopped,
3% Failed, planted effects of eta, max_depth and booster), cached under
``OUT/report-scale-db/``. Then runs ``tuner report NAME --db URL`` in a subprocess three ways
(terminal text piped to a file, ``--json``, ``--html FILE``) and measures each one's wall time
and peak resident memory (``os.wait4``'s ``ru_maxrss`` of that child alone).

Run it alone (``python tests/benchmarks/bench_report_scale.py [--trials N] [--out DIR]``) or
through the runner (``python tests/benchmarks/run.py report_scale``): either prints the table and
writes ``OUT/report_scale.json`` (``OUT`` is ``benchmark-results/`` by default).

Goal (issue 16 point 2): every mode under 5 s at 10,000 trials and under 30 s at 100,000, peak
memory under 1 GB. ``--trials N`` runs one size (any value but the runner's default of 200);
otherwise 2,000 and 10,000, and 100,000 when ``TUNER_BENCH_REPORT_100K=1``. A run that takes
longer than ``TUNER_BENCH_REPORT_TIMEOUT`` seconds (default 1,800) is killed and marked so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_dashboard import build_job  # noqa: E402

JOB = "scale"
EPOCHS = 30
GOALS_S = {2000: None, 10_000: 5.0, 100_000: 30.0}
GOAL_MB = 1024.0
MODES = ("terminal", "json", "html")


def database(root: Path, n_trials: int) -> str:
    """The cached database of ``n_trials`` training jobs (built on first use)."""
    path = root / f"report-scale-{n_trials}.db"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        build_job(f"sqlite:///{partial}", JOB, n_trials, EPOCHS)
        partial.rename(path)
        print(  # noqa: T201
            f"built {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
    return f"sqlite:///{path}"


def measure(url: str, mode: str, workdir: Path, timeout: float) -> dict[str, Any]:
    """Run one ``tuner report`` and return its wall time, peak RSS and exit status."""
    command = [sys.executable, "-m", "tuner.cli", "report", JOB, "--db", url]
    if mode == "json":
        command.append("--json")
    elif mode == "html":
        command += ["--html", str(workdir / "report.html")]
    out = workdir / f"report-{mode}.out"
    started = time.perf_counter()
    with out.open("wb") as stdout:
        child = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
        deadline = started + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    timed_out = seconds > timeout
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    written = workdir / "report.html" if mode == "html" else out
    text = written.read_text(encoding="utf-8", errors="replace") if written.exists() else ""
    # Every mode states what was sampled: a "Sample:" line, a "Sample" block, a page note.
    states_sample = '"Sample"' in text if mode == "json" else "Sample:" in text
    return {
        "mode": mode,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1) if usage else None,
        "exit": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "stdout_bytes": out.stat().st_size,
        "output_bytes": written.stat().st_size if written.exists() else 0,
        "states_sample": states_sample,
        "stderr_tail": stderr[-400:] if os.waitstatus_to_exitcode(status) else "",
    }


def sizes(args: argparse.Namespace) -> list[int]:
    if args.trials != 200:
        return [args.trials]
    chosen = [2000, 10_000]
    if os.environ.get("TUNER_BENCH_REPORT_100K") == "1":
        chosen.append(100_000)
    return chosen


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    root = args.out / "report-scale-db"
    root.mkdir(parents=True, exist_ok=True)
    timeout = float(os.environ.get("TUNER_BENCH_REPORT_TIMEOUT", "1800"))
    table = Table(title="tuner report at scale (wall time, peak RSS of the report process)")
    for header in ("trials", "mode", "seconds", "peak MB", "output MB", "goal", "ok"):
        table.add_column(header)
    results = []
    for n in sizes(args):
        url = database(root, n)
        for mode in MODES:
            result = {"trials": n, **measure(url, mode, root, timeout)}
            goal = GOALS_S.get(n)
            result["goal_s"] = goal
            result["meets_goal"] = (
                result["exit"] == 0
                and result["states_sample"]
                and (goal is None or result["seconds"] < goal)
                and (result["peak_rss_mb"] or 0) < GOAL_MB
            )
            results.append(result)
            seconds = f"{result['seconds']:.1f}" + (" (killed)" if result["timed_out"] else "")
            table.add_row(
                f"{n:,}",
                mode,
                seconds,
                f"{result['peak_rss_mb']:.0f}",
                f"{result['output_bytes'] / 1e6:.2f}",
                "-" if goal is None else f"< {goal:g} s, < 1 GB",
                "yes" if result["meets_goal"] else "no",
            )
            print(result, file=sys.stderr)  # noqa: T201
    return table, {"epochs": EPOCHS, "goal_mb": GOAL_MB, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=200, help="one size (default: all)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    args = parser.parse_args(argv)
    started = time.time()
    table, data = run(args)
    data["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    data["seconds"] = round(time.time() - started, 1)
    Console(width=160).print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "report_scale.json"
    path.write_text(json.dumps(data, indent=2))
    print(f"wrote {path} ({data['seconds']} s)")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
