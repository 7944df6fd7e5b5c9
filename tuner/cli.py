"""The ``tuner`` command line.

::

    tuner run SPEC [--db URL]            run (or resume) the tuning job a spec file describes
    tuner resume NAME [--db URL]         resume an interrupted job from the database alone
    tuner validate SPEC [--executor local|ray] [--require-gpu]
                                         check a spec file, print every problem, run nothing
    tuner list [--db URL] [--json]       tuning jobs with status and counters
    tuner describe NAME [--db URL] [--json [--extensions]]   DescribeHyperParameterTuningJob
    tuner trials NAME [--db URL] [--json]     ListTrainingJobsForHyperParameterTuningJob
    tuner best NAME [--db URL] [--json]       the best training job
    tuner stop NAME [--db URL]           ask a running job to stop
    tuner report NAME [NAME ...] [--db URL] [--json] [--html FILE] [--csv FILE]
    tuner submit SPEC --address URL      run the job on a Ray cluster (Ray Jobs API)
    tuner dashboard [--db URL] [--host 127.0.0.1] [--port 8765] [--token T]   web dashboard

The database defaults to ``./tuner.db`` (or ``$TUNER_DB``). Exit status: 0 success, 1 the job
ended Failed or Stopped, 2 bad input (invalid spec, unknown job).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tuner.coordinator import Coordinator, Progress
from tuner.describe import (
    best_trial,
    describe_stored_job,
    list_training_jobs,
    objective_of,
    request_extensions,
    to_json,
    training_job_summary,
    tuning_job_summary,
)
from tuner.errors import InvalidSpecError, JobExistsError, JobNotFoundError, TunerError
from tuner.pools.factory import DEFAULT_EXECUTOR, EXECUTORS, make_pool
from tuner.spec.loading import load_request_file, load_spec
from tuner.spec.model import TuningJobSpec
from tuner.spec.placement import place
from tuner.spec.validation import spec_from_request
from tuner.status import JobStatus
from tuner.storage import SqlStorage

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _db_default() -> str:
    return os.environ.get("TUNER_DB", "sqlite:///tuner.db")


def _progress_text(p: Progress, metric: str) -> Text:
    done = p.completed + p.failed + p.stopped
    best = f"{p.best_value:.6g} ({p.best_trial})" if p.best_value is not None else "-"
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
    if outcome.status is JobStatus.COMPLETED:
        storage = coordinator.storage
        job = storage.load_job(outcome.name)
        best = best_trial(storage.trials(outcome.name), objective_of(job))
        if best is not None:
            err.print(
                f"best training job {best.name}: {objective_of(job).metric} = {best.final_value}"
            )
            err.print(f"  hyperparameters: {dict(best.hyperparameters)}")
    return 0 if outcome.status is JobStatus.COMPLETED else 1


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
    finally:
        pool.shutdown()


def cmd_resume(args: argparse.Namespace) -> int:
    import cloudpickle

    storage = SqlStorage(args.db)
    job = storage.load_job(args.name)
    train_fn = cloudpickle.loads(job.callable_blob) if job.callable_blob else None
    spec = spec_from_request(job.request, base_dir=Path.cwd(), train_fn=train_fn)
    return _run_spec(spec, args)


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _placed(load_spec(args.spec), args)
    out.print(
        f"{args.spec}: valid. Tuning job {spec.name!r}, strategy {spec.strategy}, "
        f"{spec.max_jobs} training jobs, {len(spec.space.ranges)} tuned hyperparameters, "
        f"objective {spec.objective.type.value} {spec.objective.metric}"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    storage = SqlStorage(args.db)
    summaries = [tuning_job_summary(job, storage.trials(job.name)) for job in storage.list_jobs()]
    if args.json:
        out.print_json(to_json({"HyperParameterTuningJobSummaries": summaries}))
        return 0
    table = Table(
        "Name", "Status", "Strategy", "Completed", "InProgress", "Failed", "Stopped", "Created"
    )
    for s in summaries:
        c = s["TrainingJobStatusCounters"]
        table.add_row(
            s["HyperParameterTuningJobName"],
            s["HyperParameterTuningJobStatus"],
            s["Strategy"],
            str(c["Completed"]),
            str(c["InProgress"]),
            str(c["RetryableError"] + c["NonRetryableError"]),
            str(c["Stopped"]),
            s["CreationTime"].strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    storage = SqlStorage(args.db)
    job = storage.load_job(args.name)
    described = describe_stored_job(storage, args.name, now=time.time())
    extensions = request_extensions(job)
    if args.json:
        # AWS's shape as is; --extensions adds our fields left out of it, in one block of ours.
        if args.extensions:
            described["TunerExtensions"] = extensions
        out.print_json(to_json(described))
        return 0
    config = described["HyperParameterTuningJobConfig"]
    table = Table(show_header=False, title=f"tuning job {job.name}")
    table.add_row("Status", described["HyperParameterTuningJobStatus"])
    table.add_row("Strategy", job.strategy)
    objective = config["HyperParameterTuningJobObjective"]
    table.add_row("Objective", f"{objective['Type']} {objective['MetricName']}")
    table.add_row(
        "Training jobs",
        ", ".join(f"{k} {v}" for k, v in described["TrainingJobStatusCounters"].items()),
    )
    table.add_row(
        "Objective status",
        ", ".join(f"{k} {v}" for k, v in described["ObjectiveStatusCounters"].items()),
    )
    table.add_row("Created", str(described["CreationTime"]))
    if "HyperParameterTuningEndTime" in described:
        table.add_row("Ended", str(described["HyperParameterTuningEndTime"]))
    if "FailureReason" in described:
        table.add_row("FailureReason", described["FailureReason"])
    best = described.get("BestTrainingJob")
    if best:
        table.add_row("Best training job", best["TrainingJobName"])
        table.add_row(
            "  objective", str(best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
        )
        table.add_row(
            "  hyperparameters",
            ", ".join(f"{k}={v}" for k, v in best["TunedHyperParameters"].items()),
        )
    for path, value in extensions.items():
        if path != "HyperParameterTuningJobConfig.Strategy":  # the Strategy row shows it
            table.add_row(path, value if isinstance(value, str) else to_json(value, indent=None))
    out.print(table)
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    storage = SqlStorage(args.db)
    job = storage.load_job(args.name)
    rows = list_training_jobs(
        job,
        storage.trials(args.name),
        sort_by=args.sort_by,
        sort_order=args.sort_order,
        status_equals=args.status,
    )
    if args.json:
        out.print_json(to_json({"TrainingJobSummaries": rows}))
        return 0
    tuned = list(rows[0]["TunedHyperParameters"]) if rows else []
    table = Table("TrainingJobName", "Status", "Objective", *tuned, "FailureReason")
    for r in rows:
        final = r.get("FinalHyperParameterTuningJobObjectiveMetric")
        table.add_row(
            r["TrainingJobName"],
            r["TrainingJobStatus"],
            f"{final['Value']:.6g}" if final else "-",
            *(r["TunedHyperParameters"].get(n, "") for n in tuned),
            (r.get("FailureReason") or "")[:60],
        )
    out.print(table)
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    storage = SqlStorage(args.db)
    job = storage.load_job(args.name)
    objective = objective_of(job)
    best = best_trial(storage.trials(args.name), objective)
    if best is None:
        err.print(f"Best training job not available for tuning job: {args.name}")
        return 1
    summary = training_job_summary(job, best, objective)
    if args.json:
        out.print_json(to_json(summary))
        return 0
    out.print(f"{summary['TrainingJobName']}  {objective.metric} = {best.final_value}")
    for k, v in summary["TunedHyperParameters"].items():
        out.print(f"  {k} = {v}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    storage = SqlStorage(args.db)
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

    return cmd_report(args)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from tuner.dashboard import cmd_dashboard  # starlette and uvicorn load for this command only

    return cmd_dashboard(args)


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


def _add_reading_commands(sub: _Subparsers) -> None:
    """``list``, ``describe``, ``trials``, ``best``, ``stop``."""
    _add_command(sub, "list", cmd_list, "list tuning jobs").add_argument(
        "--json", action="store_true"
    )
    for name, fn, text in (
        ("describe", cmd_describe, "describe a tuning job (DescribeHyperParameterTuningJob)"),
        ("trials", cmd_trials, "list a tuning job's training jobs"),
        ("best", cmd_best, "the best training job of a tuning job"),
        ("stop", cmd_stop, "ask a running tuning job to stop"),
    ):
        p = _add_command(sub, name, fn, text)
        p.add_argument("name")
        if name != "stop":
            p.add_argument("--json", action="store_true", help="AMT's response shape as JSON")
    sub.choices["describe"].add_argument(
        "--extensions",
        action="store_true",
        help="with --json: add our fields that AWS's shape lacks (NumGpus, TPE, ...) as a "
        "top-level TunerExtensions block",
    )
    trials = sub.choices["trials"]
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
    except (JobNotFoundError, JobExistsError) as exc:
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
