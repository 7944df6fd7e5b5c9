"""The ``tuner`` command line.

::

    tuner run SPEC [--db URL]            run (or resume) the tuning job a spec file describes
    tuner resume NAME [--db URL]         resume an interrupted job from the database alone
    tuner validate SPEC [--executor local|ray] [--require-gpu]
                                         check a spec file, print every problem, run nothing
    tuner list [--db URL] [--format F]   tuning jobs with status, counters and best objective
    tuner describe NAME [--db URL] [--format F] [--json [--extensions]]
                                         DescribeHyperParameterTuningJob
    tuner trials NAME [--db URL] [--format F] [--max-results N] [--next-token T]
                                         ListTrainingJobsForHyperParameterTuningJob, a page
    tuner best NAME [--db URL] [--format F]   the best training job
    tuner stop NAME [--db URL]           ask a running job to stop
    tuner report NAME [NAME ...] [--db URL] [--json] [--html FILE] [--csv FILE]
    tuner submit SPEC --address URL      run the job on a Ray cluster (Ray Jobs API)
    tuner dashboard [--db URL] [--host 127.0.0.1] [--port 8765] [--token T]   web dashboard
    tuner serve [--db URL] [--host 127.0.0.1] [--port 8080] [--executor local|ray]
                [--max-concurrent-jobs N]    the SageMaker API on the wire (tuner.serve)

The database defaults to ``./tuner.db`` (or ``$TUNER_DB``); only ``run`` creates it, a command
that reads a missing one fails naming the path. Exit status: 0 success, 1 the job ended Failed
or Stopped, 2 bad input (invalid spec, unknown job, no such database, a foreign NextToken).

Output (``--format``, F = table|tsv|json): a table for a person on a terminal (numbers to 6
significant digits, training jobs by number, empty columns left out), tab-separated text with
a header and whole values when stdout is a pipe or a file, and AMT's response as JSON
(``--json`` is ``--format json``). ``tuner run`` writes progress to stderr and its result, the
best training job, to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tuner import trial_pages
from tuner.coordinator import Coordinator, Progress
from tuner.describe import (
    best_trial,
    describe_stored_job,
    objective_of,
    request_extensions,
    to_json,
    training_job_summary,
    tuning_job_summary,
)
from tuner.errors import InvalidSpecError, JobExistsError, JobNotFoundError, TunerError
from tuner.formatting import (
    MISSING,
    cell_text,
    format_hyperparameter,
    format_number,
    trial_number_text,
)
from tuner.pools.factory import DEFAULT_EXECUTOR, EXECUTORS, make_pool
from tuner.spec.loading import load_request_file, load_spec
from tuner.spec.model import TuningJobSpec
from tuner.spec.placement import place
from tuner.spec.validation import spec_from_request
from tuner.status import JobStatus
from tuner.storage import (
    DatabaseNotFoundError,
    DatabaseOpenError,
    DatabaseTooNewError,
    JobRecord,
    SqlStorage,
    Storage,
    TrainingJobRecord,
)
from tuner.trial_pages import (
    DEFAULT_MAX_RESULTS,
    MAX_RESULTS_LIMIT,
    InvalidNextTokenError,
    Listing,
    decode_token,
    encode_token,
)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _db_default() -> str:
    return os.environ.get("TUNER_DB", "sqlite:///tuner.db")


def _progress_text(p: Progress, metric: str) -> Text:
    done = p.completed + p.failed + p.stopped
    best = f"{format_number(p.best_value)} ({p.best_trial})" if p.best_value is not None else "-"
    return Text.assemble(
        (f"{p.name}", "bold"),
        f"  {done}/{p.max_jobs} done",
        (f"  {p.running} running", "cyan"),
        (f"  {p.failed} failed", "red" if p.failed else ""),
        f"  {p.stopped} stopped",
        (f"  best {metric} {best}", "green"),
    )


def _run_coordinator(coordinator: Coordinator, quiet: bool) -> int:
    metric = coordinator.objective.metric
    if quiet:
        outcome = coordinator.run()
    elif err.is_terminal:
        with Live(console=err, refresh_per_second=8, transient=False) as live:
            coordinator.on_progress = lambda p: live.update(_progress_text(p, metric))
            outcome = coordinator.run()
            live.update(_progress_text(coordinator.progress(), metric))
    else:
        last = {"done": -1, "at": 0.0}

        def line(p: Progress) -> None:
            done = p.completed + p.failed + p.stopped
            now = time.monotonic()
            if done != last["done"] and (now - last["at"] >= 2.0 or done == p.max_jobs):
                last.update(done=done, at=now)
                err.print(_progress_text(p, metric))

        coordinator.on_progress = line
        outcome = coordinator.run()
    style = {JobStatus.COMPLETED: "green", JobStatus.FAILED: "red"}.get(outcome.status, "yellow")
    err.print(Text.assemble("tuning job ", (outcome.name, "bold"), " ", (outcome.status, style)))
    if outcome.failure_reason:
        err.print(f"FailureReason: {outcome.failure_reason}")
    _print_result(coordinator.storage, outcome.name)
    return 0 if outcome.status is JobStatus.COMPLETED else 1


def _print_result(storage: Storage, name: str) -> None:
    """The answer of ``tuner run`` on stdout (progress went to stderr), so that
    ``tuner run spec.json > result.txt`` keeps it: the best training job as ``tuner best``
    prints it (a table in a terminal, a TSV row in a file)."""
    job = storage.load_job(name)
    best = best_trial(storage.trials(name), objective_of(job))
    if best is None:
        err.print(f"no training job of {name} has an objective value", highlight=False)
        return
    if out.is_terminal:
        err.print("best training job:", highlight=False)
    _print_best(job, best, "table" if out.is_terminal else "tsv")


def cmd_run(args: argparse.Namespace) -> int:
    if args.name:
        request = load_request_file(args.spec)
        request["HyperParameterTuningJobName"] = args.name
        spec = spec_from_request(request, base_dir=Path(args.spec).resolve().parent)
    else:
        spec = load_spec(args.spec)
    return _run_spec(spec, args)


def _placed(spec: TuningJobSpec, args: argparse.Namespace) -> TuningJobSpec:
    """The spec fitted to where it runs, as ``run`` and ``validate`` both see it; a fallback to
    the CPU is printed as a warning."""
    placement = place(
        spec,
        executor=args.executor,
        ray_address=getattr(args, "ray_address", None),
        require_gpu=args.require_gpu,
    )
    if placement.warning:
        err.print(f"warning: {placement.warning}", markup=False, highlight=False)
    return placement.spec


def _run_spec(spec: TuningJobSpec, args: argparse.Namespace) -> int:
    spec = _placed(spec, args)
    from tuner.script import prepare_job

    spec, warnings = prepare_job(spec, install=getattr(args, "install_requirements", False))
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    storage = SqlStorage(args.db)
    pool = make_pool(
        spec,
        executor=args.executor,
        ray_address=args.ray_address,
        fresh_workers=args.fresh_workers,
    )
    try:
        coordinator = Coordinator(spec, storage, pool, output_root=args.output)
        coordinator.start()
        return _run_coordinator(coordinator, args.quiet)
    except KeyboardInterrupt:  # the second Ctrl-C, while the first one's stop was under way
        err.print(
            f"interrupted: exiting at once; tuning job {spec.name} is left resumable "
            f"(tuner resume {shlex.quote(spec.name)})",
            markup=False,
            highlight=False,
        )
        return 130
    finally:
        pool.shutdown()


def cmd_resume(args: argparse.Namespace) -> int:
    import cloudpickle

    storage = SqlStorage(args.db, create=False)
    job = storage.load_job(args.name)
    if job.status.is_terminal:
        # Nothing to resume: say so, as an answer rather than as an error (exit 0).
        out.print(
            f"tuning job {job.name!r} is already finished: {job.status}; nothing to resume "
            f"(see tuner describe {shlex.quote(job.name)})",
            markup=False,
            highlight=False,
        )
        return 0
    train_fn = cloudpickle.loads(job.callable_blob) if job.callable_blob else None
    spec = spec_from_request(job.request, base_dir=Path.cwd(), train_fn=train_fn)
    return _run_spec(spec, args)


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _placed(load_spec(args.spec), args)
    if spec.is_multi:
        tuned = ", ".join(
            f"{d.name}: {d.algorithm or 'callable'}, {len(d.space.ranges)} tuned, "
            f"objective {d.objective.metric}"
            for d in spec.definitions
        )
        what = f"{len(spec.definitions)} training job definitions ({tuned})"
    else:
        what = (
            f"{len(spec.space.ranges)} tuned hyperparameters, "
            f"objective {spec.objective.type.value} {spec.objective.metric}"
        )
    out.print(
        f"{args.spec}: valid. Tuning job {spec.name!r}, strategy {spec.strategy}, "
        f"{spec.max_jobs} training jobs, {what}",
        markup=False,
        highlight=False,
    )
    return 0


def _reader(db: str) -> SqlStorage:
    """The database of a command that only reads: never created (a missing one: exit 2)."""
    return SqlStorage(db, create=False)


def _output_format(args: argparse.Namespace) -> str:
    """``--json`` or ``--format``; else a table for a person, TSV for a pipe or a file."""
    if getattr(args, "json", False):
        return "json"
    if args.format is not None:
        return str(args.format)
    return "table" if out.is_terminal else "tsv"


def _print_json(data: Any) -> None:
    out.print_json(to_json(data))


def _write_tsv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Tab-separated lines with a header and whole values, written as each row comes."""
    write = sys.stdout.write
    write("\t".join(header) + "\n")
    for row in rows:
        write("\t".join(cell_text(c) for c in row) + "\n")
    sys.stdout.flush()


def _fitting(
    header: Sequence[str], rows: Sequence[Sequence[str]], shown: list[int], drop: Sequence[str]
) -> tuple[list[int], list[str]]:
    """The columns that fit the terminal uncut, leaving out the ``drop`` ones in that order
    (a column left out is better than every cell cut to ``Comple...``)."""
    width = out.width

    def natural(i: int) -> int:
        return max([len(header[i]), *(len(r[i]) for r in rows)]) + 3

    left_out: list[str] = []
    for name in drop:
        if sum(natural(i) for i in shown) <= width:
            break
        if name in header and header.index(name) in shown:
            shown = [i for i in shown if header[i] != name]
            left_out.append(name)
    return shown, left_out


def _print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    keep: Sequence[str] = (),
    wrap: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> None:
    """A compact rich table without the columns that are empty in every row (``keep`` always
    stays) and, on a narrow terminal, without the ``drop`` columns it needs to leave out (said
    on stderr). Only the ``wrap`` columns wrap; a cell is folded rather than cut."""
    shown = [
        i
        for i, name in enumerate(header)
        if name in keep or any(row[i] not in ("", MISSING) for row in rows)
    ]
    shown, left_out = _fitting(header, rows, shown, drop)
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for i in shown:
        table.add_column(header[i], no_wrap=header[i] not in wrap, overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    out.print(table)
    if left_out:
        err.print(
            f"left out to fit {out.width} columns: {', '.join(left_out)} (--format tsv has all)",
            markup=False,
            highlight=False,
        )


def _when(value: dt.datetime | None) -> str:
    """A timestamp for a person: to the second, in UTC as stored."""
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M")


def _iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.isoformat()


# -- list ---------------------------------------------------------------------------------------

_LIST_TSV = (
    "HyperParameterTuningJobName",
    "HyperParameterTuningJobStatus",
    "Strategy",
    "ObjectiveMetricName",
    "BestObjectiveValue",
    "Completed",
    "InProgress",
    "Failed",
    "Stopped",
    "CreationTime",
)
_LIST_TABLE = (
    "Name",
    "Status",
    "Strategy",
    "Objective",
    "Best",
    "Training jobs",
    "Created",
)


def _job_row(storage: SqlStorage, job: JobRecord) -> list[Any]:
    """One job's values in ``_LIST_TSV`` order (raw: numbers and times as they are)."""
    trials = storage.trials(job.name)
    summary = tuning_job_summary(job, trials)
    objective = objective_of(job)
    best = best_trial(trials, objective)
    c = summary["TrainingJobStatusCounters"]
    return [
        job.name,
        summary["HyperParameterTuningJobStatus"],
        summary["Strategy"],
        objective.metric,
        best.final_value if best is not None else None,
        c["Completed"],
        c["InProgress"],
        c["RetryableError"] + c["NonRetryableError"],
        c["Stopped"],
        summary["CreationTime"],
    ]


def _counts(row: Sequence[Any]) -> str:
    """The training job counters of a ``_job_row`` in words, zeros left out."""
    counted = zip(("Completed", "InProgress", "Failed", "Stopped"), row[5:9], strict=True)
    return ", ".join(f"{n} {label}" for label, n in counted if n) or "none"


def _dashboard_order(jobs: Sequence[JobRecord]) -> list[JobRecord]:
    """Newest first, ties by name: the dashboard's default order (sort=created, order=desc)."""
    by_name = sorted(jobs, key=lambda j: j.name.lower())
    return sorted(by_name, key=lambda j: j.created_at, reverse=True)


def cmd_list(args: argparse.Namespace) -> int:
    storage = _reader(args.db)
    fmt = _output_format(args)
    if fmt == "json":  # AWS's response as before: oldest first
        summaries = [tuning_job_summary(j, storage.trials(j.name)) for j in storage.list_jobs()]
        _print_json({"HyperParameterTuningJobSummaries": summaries})
        return 0
    rows = (_job_row(storage, job) for job in _dashboard_order(storage.list_jobs()))
    if fmt == "tsv":
        _write_tsv(_LIST_TSV, ([*r[:-1], _iso(r[-1])] for r in rows))
        return 0
    cells = [[*map(str, r[:4]), format_number(r[4]), _counts(r), _when(r[9])] for r in rows]
    _print_table(
        _LIST_TABLE,
        cells,
        keep=("Name", "Status"),
        wrap=("Training jobs", "Created"),
        drop=("Strategy", "Created", "Objective", "Training jobs"),
    )
    return 0


# -- describe -----------------------------------------------------------------------------------


def _describe_fields(described: dict[str, Any], job: JobRecord) -> list[tuple[str, Any]]:
    """(field, whole value) pairs of DescribeHyperParameterTuningJob for ``--format tsv``."""
    config = described["HyperParameterTuningJobConfig"]
    objective = config.get("HyperParameterTuningJobObjective") or {}
    fields: list[tuple[str, Any]] = [
        ("HyperParameterTuningJobName", job.name),
        ("HyperParameterTuningJobStatus", described["HyperParameterTuningJobStatus"]),
        ("Strategy", job.strategy),
        ("ObjectiveType", objective.get("Type", objective_of(job).type.value)),
        ("ObjectiveMetricName", objective.get("MetricName", objective_of(job).metric)),
    ]
    for group in ("TrainingJobStatusCounters", "ObjectiveStatusCounters"):
        fields += [(f"{group}.{k}", v) for k, v in described[group].items()]
    for key in ("CreationTime", "HyperParameterTuningEndTime", "LastModifiedTime"):
        if key in described:
            fields.append((key, _iso(described[key])))
    if "FailureReason" in described:
        fields.append(("FailureReason", described["FailureReason"]))
    best = described.get("BestTrainingJob")
    if best:
        fields.append(("BestTrainingJob.TrainingJobName", best["TrainingJobName"]))
        metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
        fields.append(("BestTrainingJob.FinalObjectiveValue", metric["Value"]))
        fields += [
            (f"BestTrainingJob.TunedHyperParameters.{k}", v)
            for k, v in best["TunedHyperParameters"].items()
        ]
    return fields


def _describe_table(described: dict[str, Any], job: JobRecord, extensions: dict[str, Any]) -> None:
    config = described["HyperParameterTuningJobConfig"]
    table = Table(show_header=False, title=f"tuning job {job.name}")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("Status", described["HyperParameterTuningJobStatus"])
    table.add_row("Strategy", job.strategy)
    objective = config.get("HyperParameterTuningJobObjective")
    if objective is None:
        objective = {"Type": objective_of(job).type.value, "MetricName": objective_of(job).metric}
    table.add_row("Objective", f"{objective['Type']} {objective['MetricName']}")
    table.add_row(
        "Training jobs",
        ", ".join(f"{k} {v}" for k, v in described["TrainingJobStatusCounters"].items() if v),
    )
    table.add_row(
        "Objective status",
        ", ".join(f"{k} {v}" for k, v in described["ObjectiveStatusCounters"].items() if v),
    )
    table.add_row("Created", _when(described["CreationTime"]))
    if "HyperParameterTuningEndTime" in described:
        table.add_row("Ended", _when(described["HyperParameterTuningEndTime"]))
    if "FailureReason" in described:
        table.add_row("FailureReason", described["FailureReason"])
    best = described.get("BestTrainingJob")
    if best:
        table.add_row("Best training job", best["TrainingJobName"])
        value = best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        table.add_row("  objective", format_number(value))
        table.add_row(
            "  hyperparameters",
            ", ".join(
                f"{k}={format_hyperparameter(v)}" for k, v in best["TunedHyperParameters"].items()
            ),
        )
    for path, value in extensions.items():
        if path != "HyperParameterTuningJobConfig.Strategy":  # the Strategy row shows it
            table.add_row(path, value if isinstance(value, str) else to_json(value, indent=None))
    out.print(table)


def cmd_describe(args: argparse.Namespace) -> int:
    storage = _reader(args.db)
    job = storage.load_job(args.name)
    described = describe_stored_job(storage, args.name, now=time.time())
    extensions = request_extensions(job)
    fmt = _output_format(args)
    if fmt == "json":
        # AWS's shape as is; --extensions adds our fields left out of it, in one block of ours.
        if args.extensions:
            described["TunerExtensions"] = extensions
        _print_json(described)
    elif fmt == "tsv":
        fields = _describe_fields(described, job)
        fields += [
            (f"TunerExtensions.{path}", v if isinstance(v, str) else to_json(v, indent=None))
            for path, v in extensions.items()
        ]
        _write_tsv(("Field", "Value"), fields)
    else:
        _describe_table(described, job, extensions)
    return 0


# -- trials and best ----------------------------------------------------------------------------

#: Rows of a ``tuner trials`` table when --max-results is not given: about one screen.
TABLE_PAGE_SIZE = 20

_TRIAL_TSV = (
    "TrainingJobName",
    "TrainingJobStatus",
    "ObjectiveStatus",
    "FinalObjectiveValue",
    "CreationTime",
    "TrainingStartTime",
    "TrainingEndTime",
)


def _tuned_names(job: JobRecord, summaries: Sequence[dict[str, Any]]) -> list[str]:
    """The tuned hyperparameters as columns: the request's ranges in order, then any other a
    training job has, so every page of one job has the same columns."""
    names: dict[str, None] = {}
    configs = [job.request.get("HyperParameterTuningJobConfig") or {}]
    for definition in job.request.get("TrainingJobDefinitions") or []:
        configs.append({"ParameterRanges": definition.get("HyperParameterRanges") or {}})
    for config in configs:
        for ranges in (config.get("ParameterRanges") or {}).values():
            for r in ranges or []:
                names.setdefault(str(r["Name"]), None)
    for summary in summaries:
        for name in summary["TunedHyperParameters"]:
            names.setdefault(name, None)
    return list(names)


def _final_value(summary: dict[str, Any]) -> float | None:
    final = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
    return None if final is None else final["Value"]


def _is_multi(job: JobRecord) -> bool:
    """A multi-algorithm job: its training jobs say which definition they ran."""
    return len(job.request.get("TrainingJobDefinitions") or []) > 1


def _trial_tsv_header(job: JobRecord, tuned: Sequence[str]) -> tuple[str, ...]:
    first = ("TrainingJobDefinitionName",) if _is_multi(job) else ()
    return (*first, *_TRIAL_TSV, *tuned, "FailureReason")


def _trial_tsv_row(job: JobRecord, summary: dict[str, Any], tuned: Sequence[str]) -> list[Any]:
    hyperparameters = summary["TunedHyperParameters"]
    first = [summary.get("TrainingJobDefinitionName")] if _is_multi(job) else []
    return [
        *first,
        summary["TrainingJobName"],
        summary["TrainingJobStatus"],
        summary["ObjectiveStatus"],
        _final_value(summary),
        _iso(summary.get("CreationTime")),
        _iso(summary.get("TrainingStartTime")),
        _iso(summary.get("TrainingEndTime")),
        *(hyperparameters.get(n) for n in tuned),
        summary.get("FailureReason"),
    ]


def _trial_cells(number: int, summary: dict[str, Any], tuned: Sequence[str]) -> list[str]:
    """A table row: the trial number for the name, numbers rounded, the reason cut to 60."""
    hyperparameters = summary["TunedHyperParameters"]
    return [
        trial_number_text(number),
        summary.get("TrainingJobDefinitionName") or "",
        summary["TrainingJobStatus"],
        format_number(_final_value(summary)),
        *(
            format_hyperparameter(hyperparameters[n]) if n in hyperparameters else ""
            for n in tuned
        ),
        (summary.get("FailureReason") or "")[:60],
    ]


def _objective_header(job: JobRecord) -> str:
    """The objective column's name: the metric, or each definition's when they differ."""
    metrics = [
        str((d.get("TuningObjective") or {}).get("MetricName"))
        for d in job.request.get("TrainingJobDefinitions") or []
    ]
    distinct = list(dict.fromkeys(metrics))
    return " / ".join(distinct) if len(distinct) > 1 else objective_of(job).metric


def _next_page_hint(args: argparse.Namespace, token: str) -> str:
    """The command that prints the next page: the same flags and the token."""
    parts = ["tuner", "trials", shlex.quote(args.name)]
    if args.db != _db_default():
        parts += ["--db", shlex.quote(args.db)]
    for flag, value, default in (
        ("--sort-by", args.sort_by, "Name"),
        ("--sort-order", args.sort_order, "Ascending"),
        ("--status", args.status, None),
        ("--max-results", args.max_results, None),
        ("--format", args.format, None),
    ):
        if value != default:
            parts += [flag, shlex.quote(str(value))]
    if args.json:
        parts.append("--json")
    return " ".join([*parts, "--next-token", token])


def cmd_trials(args: argparse.Namespace) -> int:
    storage = _reader(args.db)
    job = storage.load_job(args.name)
    fmt = _output_format(args)
    listing = Listing(job.name, args.sort_by, args.sort_order, args.status)
    offset = decode_token(listing, args.next_token) if args.next_token else 0
    size = args.max_results or (TABLE_PAGE_SIZE if fmt == "table" else DEFAULT_MAX_RESULTS)
    records, more = trial_pages.page(storage, listing, offset=offset, max_results=size)
    objective = objective_of(job)
    summaries = [training_job_summary(job, r, objective) for r in records]
    token = encode_token(listing, offset + len(records)) if more else None
    if fmt == "json":
        response: dict[str, Any] = {"TrainingJobSummaries": summaries}
        if token is not None:
            response["NextToken"] = token
        _print_json(response)
        return 0
    tuned = _tuned_names(job, summaries)
    if fmt == "tsv":
        rows = (_trial_tsv_row(job, s, tuned) for s in summaries)
        _write_tsv(_trial_tsv_header(job, tuned), rows)
    else:
        total = trial_pages.count(storage, listing)
        shown = f"{offset + 1}-{offset + len(records)}" if records else "none"
        _print_table(
            ("Trial", "Definition", "Status", _objective_header(job), *tuned, "FailureReason"),
            [_trial_cells(r.number, s, tuned) for r, s in zip(records, summaries, strict=True)],
            title=f"{job.name}: training jobs {shown} of {total}",
            keep=("Trial", "Status"),
            wrap=("FailureReason",),
            drop=("FailureReason", *reversed(tuned)),
        )
    if token is not None:
        err.print(
            f"more training jobs: {_next_page_hint(args, token)}", markup=False, highlight=False
        )
    return 0


def _print_best(job: JobRecord, best: TrainingJobRecord, fmt: str) -> None:
    """The best training job: a row of ``tuner trials`` for a pipe, two lines or more for a
    person (the same rounding as every table)."""
    objective = objective_of(job)
    summary = training_job_summary(job, best, objective)
    if fmt == "json":
        _print_json(summary)
    elif fmt == "tsv":
        tuned = _tuned_names(job, [summary])
        _write_tsv(_trial_tsv_header(job, tuned), [_trial_tsv_row(job, summary, tuned)])
    else:
        value = format_number(best.final_value)
        metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get(
            "MetricName", objective.metric
        )
        definition = summary.get("TrainingJobDefinitionName")
        named = f"  (definition {definition})" if definition else ""
        out.print(f"{summary['TrainingJobName']}  {metric} = {value}{named}", highlight=False)
        for k, v in summary["TunedHyperParameters"].items():
            out.print(f"  {k} = {format_hyperparameter(v)}", highlight=False)


def cmd_best(args: argparse.Namespace) -> int:
    storage = _reader(args.db)
    job = storage.load_job(args.name)
    best = best_trial(storage.trials(args.name), objective_of(job))
    if best is None:
        err.print(f"Best training job not available for tuning job: {args.name}")
        return 1
    _print_best(job, best, _output_format(args))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    storage = SqlStorage(args.db, create=False)
    job = storage.load_job(args.name)
    if job.status is not JobStatus.IN_PROGRESS:
        err.print(
            f"tuning job {args.name!r} is {job.status}; only an InProgress job can be stopped"
        )
        return 1
    storage.set_job_status(args.name, JobStatus.STOPPING, now=time.time())
    out.print(f"tuning job {args.name!r} is Stopping")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from tuner.reports.terminal import (
        cmd_report,  # pandas, scipy and plotly load for this command only
    )

    SqlStorage(args.db, create=False).close()  # a missing database: an error, never created

    return cmd_report(args)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from tuner.dashboard import cmd_dashboard  # starlette and uvicorn load for this command only

    return cmd_dashboard(args)


def _cmd_serve(args: argparse.Namespace) -> int:
    from tuner.serve import cmd_serve  # starlette, uvicorn and the handlers load for it only

    return cmd_serve(args)


def cmd_submit(args: argparse.Namespace) -> int:
    from tuner import submit

    if args.status or args.logs or args.stop:
        job_id = args.status or args.logs or args.stop
        if args.status:
            out.print(submit.job_status(job_id, address=args.address))
        elif args.logs:
            out.print(
                submit.job_logs(job_id, address=args.address),
                end="",
                markup=False,
                highlight=False,
            )
        else:
            stopped = submit.stop_job(job_id, address=args.address)
            out.print(f"{job_id}: {'stop requested' if stopped else 'already finished'}")
        return 0
    if args.spec is None:
        err.print("error: give a SPEC to submit, or one of --status/--logs/--stop JOB_ID")
        return 2
    job_id = submit.submit_job(
        args.spec, address=args.address, db=args.db, name=args.name, executor=args.executor
    )
    out.print(job_id)
    if args.follow:
        status = submit.follow_job(
            job_id,
            address=args.address,
            write=lambda text: err.print(text, end="", markup=False, highlight=False),
        )
        err.print(f"Ray job {job_id} {status}")
        return 0 if status == "SUCCEEDED" else 1
    return 0


_Command = Callable[[argparse.Namespace], int]
_Subparsers = Any  # argparse's _SubParsersAction is private


def _add_command(
    sub: _Subparsers, name: str, fn: _Command, help_text: str, *, db: bool = True
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(fn=fn)
    if db:
        p.add_argument(
            "--db",
            default=_db_default(),
            help="SQLAlchemy URL or SQLite file (default ./tuner.db)",
        )
    return p


def _add_run_arguments(p: argparse.ArgumentParser, *, run: bool) -> None:
    """``run SPEC`` and ``resume NAME``: where trials run and what is shown."""
    p.add_argument("spec" if run else "name")
    if run:
        p.add_argument(
            "--name",
            default=None,
            help="run under this name instead of the spec's HyperParameterTuningJobName",
        )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for model artifacts (default: a local S3OutputPath or ./tuner-output)",
    )
    p.add_argument(
        "--fresh-workers",
        action="store_true",
        help="a new worker process (or Ray actor) for every training job",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=DEFAULT_EXECUTOR,
        help="where training jobs run: local worker processes (default) or Ray actors",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="join this Ray cluster (auto, ray://host:10001); implies --executor ray",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--install-requirements",
        action="store_true",
        help="script mode: pip-install the source directory's requirements.txt into this "
        "environment once, before the job runs (default: a warning)",
    )
    _add_gpu_argument(p)


def _add_gpu_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--require-gpu",
        action="store_true",
        help="refuse a job that asks for a GPU this machine lacks, instead of training on the CPU",
    )


def _add_format_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=("table", "tsv", "json"),
        default=None,
        help="table (rounded, for a person), tsv (whole values and a header, for a pipe) or "
        "json (= --json); default: table on a terminal, tsv otherwise",
    )
    p.add_argument("--json", action="store_true", help="AMT's response shape as JSON")


def _max_results(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_RESULTS_LIMIT:
        msg = f"must be 1 to {MAX_RESULTS_LIMIT} (AWS's MaxResults), got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _add_trials_arguments(trials: argparse.ArgumentParser) -> None:
    trials.add_argument(
        "--sort-by",
        default="Name",
        choices=["Name", "CreationTime", "Status", "FinalObjectiveMetricValue"],
    )
    trials.add_argument("--sort-order", default="Ascending", choices=["Ascending", "Descending"])
    trials.add_argument(
        "--status",
        default=None,
        choices=["InProgress", "Completed", "Failed", "Stopping", "Stopped"],
    )
    trials.add_argument(
        "--max-results",
        type=_max_results,
        default=None,
        help=f"training jobs per page, 1 to {MAX_RESULTS_LIMIT} (default {DEFAULT_MAX_RESULTS} "
        f"as in AWS; {TABLE_PAGE_SIZE} in a table)",
    )
    trials.add_argument(
        "--next-token",
        default=None,
        help="the page after the one that printed this token (its NextToken)",
    )


def _add_reading_commands(sub: _Subparsers) -> None:
    """``list``, ``describe``, ``trials``, ``best``, ``stop``."""
    _add_format_argument(_add_command(sub, "list", cmd_list, "list tuning jobs"))
    for name, fn, text in (
        ("describe", cmd_describe, "describe a tuning job (DescribeHyperParameterTuningJob)"),
        ("trials", cmd_trials, "list a tuning job's training jobs"),
        ("best", cmd_best, "the best training job of a tuning job"),
        ("stop", cmd_stop, "ask a running tuning job to stop"),
    ):
        p = _add_command(sub, name, fn, text)
        p.add_argument("name")
        if name != "stop":
            _add_format_argument(p)
    sub.choices["describe"].add_argument(
        "--extensions",
        action="store_true",
        help="with --json: add our fields that AWS's shape lacks (NumGpus, TPE, ...) as a "
        "top-level TunerExtensions block",
    )
    _add_trials_arguments(sub.choices["trials"])


def _add_report_commands(sub: _Subparsers) -> None:
    """``report`` and ``dashboard``."""
    p = _add_command(
        sub, "report", _cmd_report, "best job, top trials, correlations and importance of a job"
    )
    p.add_argument("name", nargs="+", help="tuning job; more names are analysed together")
    p.add_argument("--json", action="store_true", help="the report's data as JSON")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--csv", metavar="FILE", help="export the training jobs as CSV (export_csv)")
    p = _add_command(
        sub, "dashboard", _cmd_dashboard, "serve the read-only web dashboard of tuning jobs"
    )
    from tuner.dashboard.cli import add_arguments as add_dashboard_arguments

    add_dashboard_arguments(p)  # --host 127.0.0.1, --port 8765, --token ($TUNER_DASHBOARD_TOKEN)
    p = _add_command(
        sub, "serve", _cmd_serve, "serve the SageMaker API (boto3, the SageMaker SDK) on the wire"
    )
    from tuner.serve import add_arguments as add_serve_arguments

    add_serve_arguments(p)  # --host 127.0.0.1, --port 8080, --executor, credentials ...


def _add_submit_command(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "submit",
        help="submit a tuning job to a Ray cluster (Ray Jobs API), or inspect one",
        description="Submit SPEC to a Ray cluster: coordinator there, its trials on the nodes",
    )
    p.set_defaults(fn=cmd_submit)
    p.add_argument(
        "spec",
        nargs="?",
        help="the spec file, inside the working directory (which is shipped to the cluster)",
    )
    p.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS", "http://127.0.0.1:8265"),
        help="the cluster's dashboard address (default $RAY_ADDRESS or http://127.0.0.1:8265)",
    )
    p.add_argument(
        "--db",
        default=None,
        help="database URL for the coordinator on the cluster (default: ~/tuner.db on the head)",
    )
    p.add_argument("--name", default=None, help="tuning job name instead of the spec's")
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="ray",
        help="where the trials run on the cluster (default ray)",
    )
    p.add_argument(
        "--follow", action="store_true", help="stream the coordinator's output until the job ends"
    )
    p.add_argument("--status", metavar="JOB_ID", help="print a submitted job's status")
    p.add_argument("--logs", metavar="JOB_ID", help="print a submitted job's output")
    p.add_argument("--stop", metavar="JOB_ID", help="stop a submitted job")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuner", description="Hyperparameter tuning with AMT's job spec."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_text = "run a tuning job from an AMT CreateHyperParameterTuningJob spec (JSON or YAML)"
    _add_run_arguments(_add_command(sub, "run", cmd_run, run_text), run=True)
    resume = _add_command(sub, "resume", cmd_resume, "resume an interrupted tuning job")
    _add_run_arguments(resume, run=False)
    validate_text = "check a spec file and print every problem"
    validate = _add_command(sub, "validate", cmd_validate, validate_text, db=False)
    validate.add_argument("spec")
    validate.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=DEFAULT_EXECUTOR,
        help="check for where the training jobs would run (default local: this machine's GPUs)",
    )
    _add_gpu_argument(validate)
    _add_reading_commands(sub)
    _add_report_commands(sub)
    _add_submit_command(sub)
    from tuner.db_cli import add_db_command

    add_db_command(sub, _db_default())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except InvalidSpecError as exc:
        err.print(
            f"[red]error:[/red] invalid tuning job spec ({len(exc.problems)} problem"
            f"{'s' if len(exc.problems) != 1 else ''}):",
            highlight=False,
        )
        for problem in exc.problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        return 2
    except (
        JobNotFoundError,
        JobExistsError,
        DatabaseNotFoundError,
        DatabaseOpenError,
        DatabaseTooNewError,
        InvalidNextTokenError,
    ) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    except TunerError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    except KeyboardInterrupt:
        return 130


def entry_point(argv: Sequence[str] | None = None) -> Any:
    sys.exit(main(argv))


if __name__ == "__main__":
    entry_point()
