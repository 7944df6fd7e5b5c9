"""Requests per second of ``tuner serve`` for the two calls a polling client makes most.

``python tests/benchmarks/run.py serve``: a finished tuning job of 1,000 training jobs (10
epochs each, inserted straight into SQLite as ``bench_dashboard`` does), a real ``tuner
serve`` subprocess with SigV4 on, and unmodified boto3 clients on the same machine:

* DescribeHyperParameterTuningJob of that job (counters and best training job over 1,000);
* ListTrainingJobsForHyperParameterTuningJob, 100 training jobs a page (AWS's maximum),
  walking the 10 pages with NextToken, sorted by Name and by FinalObjectiveMetricValue.

Each is measured for ``--seconds`` (default 5) with one client thread and with four; client
and server share the machine's cores, so the figures include boto3's own signing and parsing.
No peer is measured: no open-source tool answers these operations for tuning jobs of its own.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_dashboard import build_job  # noqa: E402


def _load_helper() -> Any:
    """tests/helpers/serve.py by its path: a package of the SageMaker SDK's dependencies
    (smdebug-rulesconfig) installs a top-level ``tests`` that ``import tests`` would find."""
    path = HERE.parent / "helpers" / "serve.py"
    spec = importlib.util.spec_from_file_location("serve_helper", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


ServeProcess = _load_helper().ServeProcess

JOB = "bench-serve"
TRIALS = 1000
PAGE = 100


def _calls(client: Any) -> dict[str, Callable[[], None]]:
    def describe() -> None:
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=JOB)

    def pages(sort_by: str) -> Callable[[], None]:
        state: dict[str, str | None] = {"token": None}

        def one_page() -> None:
            kwargs: dict[str, Any] = {"MaxResults": PAGE, "SortBy": sort_by}
            if state["token"]:
                kwargs["NextToken"] = state["token"]
            reply = client.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=JOB, **kwargs
            )
            assert len(reply["TrainingJobSummaries"]) > 0
            state["token"] = reply.get("NextToken")

        return one_page

    return {
        "DescribeHyperParameterTuningJob": describe,
        "ListTrainingJobsFor... (100/page, by Name)": pages("Name"),
        "ListTrainingJobsFor... (100/page, by objective)": pages("FinalObjectiveMetricValue"),
    }


def _measure(serve: Any, name: str, threads: int, seconds: float) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    clients = [serve.client() for _ in range(threads)]
    calls = [_calls(c)[name] for c in clients]
    for call in calls:  # connections open, first page read
        call()
    stop_at = time.perf_counter() + seconds

    def loop(i: int) -> None:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            calls[i]()
            latencies[i].append(time.perf_counter() - start)

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    flat = sorted(x for lane in latencies for x in lane)
    return {
        "operation": name,
        "threads": threads,
        "requests": len(flat),
        "requests_per_s": round(len(flat) / elapsed, 1),
        "median_ms": round(1000 * statistics.median(flat), 2),
        "p95_ms": round(1000 * flat[int(0.95 * (len(flat) - 1))], 2),
    }


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    seconds = float(getattr(args, "seconds", 5.0))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = root / "serve.db"
        build_job(f"sqlite:///{db}", JOB, TRIALS, 10)
        serve = ServeProcess(db, root).start()
        try:
            for name in _calls(None):
                for threads in (1, 4):
                    results.append(_measure(serve, name, threads, seconds))
                    print(results[-1], file=sys.stderr)  # noqa: T201
        finally:
            serve.stop()
    table = Table(title=f"tuner serve: a job of {TRIALS:,} training jobs, boto3 clients, SigV4")
    for column in ("operation", "client threads", "requests/s", "median ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for r in results:
        table.add_row(
            r["operation"],
            str(r["threads"]),
            f"{r['requests_per_s']:.0f}",
            f"{r['median_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
        )
    return table, {"trials": TRIALS, "page": PAGE, "seconds_each": seconds, "results": results}
