"""The report in a terminal (rich tables), and ``tuner report``.

Renders the data of :func:`tuner.reports.report.build_report`; ``--json`` prints that data and
``--html`` writes :mod:`tuner.reports.html`'s page of it, so the three always agree.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from tuner.describe import to_json
from tuner.reports.analytics import TuningJobAnalytics
from tuner.reports.report import (
    build_report,
    comparison_text,
    condition_text,
    effect_text,
    fmt_number,
    report_steps,
    sample_text,
    short_text,
)

# ----------------------------------------------------------------------------------------------
# Terminal
# ----------------------------------------------------------------------------------------------
_SCALES = {"Linear": "linear", "Logarithmic": "log", "ReverseLogarithmic": "reverse-log"}


def _top_table(top: Sequence[Mapping[str, Any]], metric: str, console: Console) -> Table:
    """One column per hyperparameter when that fits the console, else one cell per job."""
    tuned = list(top[0]["TunedHyperParameters"])
    for compact in (False, True):
        table = Table("#", title=f"top {len(top)} training jobs")
        # Names are what users copy: never cut them, let the other columns give way.
        width = max(len(row["TrainingJobName"]) for row in top)
        table.add_column("TrainingJobName", no_wrap=True, min_width=width)
        table.add_column(metric, no_wrap=True)
        table.add_column("Status")
        if not compact:
            table.add_column("Epochs")
        for header in ["Hyperparameters"] if compact else tuned:
            table.add_column(header, overflow="fold")
        for row in top:
            values = [(n, short_text(row["TunedHyperParameters"].get(n, ""))) for n in tuned]
            cells = [
                str(row["Rank"]),
                row["TrainingJobName"],
                fmt_number(row["FinalObjectiveValue"], 6),
                row["TrainingJobStatus"],
            ]
            if compact:
                cells.append("\n".join(f"{n}={v}" for n, v in values))
            else:
                cells += [str(row["EpochsReported"]), *(v for _, v in values)]
            table.add_row(*cells)
        wide = console.options.update_width(10_000)
        if console.measure(table, options=wide).maximum <= console.width:
            break
    return table


def render_terminal(report: Mapping[str, Any], console: Console) -> None:
    """Rich tables of the report's data (uses nothing but the JSON data)."""
    names = report["TuningJobNames"]
    objective = report["Objective"]
    head = Table(
        show_header=False, title=f"tuning job{'s' if len(names) > 1 else ''} " + " + ".join(names)
    )
    for job in report["Jobs"]:
        label = "Status" if len(names) == 1 else f"Status of {job['HyperParameterTuningJobName']}"
        head.add_row(label, f"{job['HyperParameterTuningJobStatus']} ({job['Strategy']})")
    head.add_row("Objective", f"{objective['Type']} {objective['MetricName']}")
    head.add_row(
        "Training jobs",
        ", ".join(f"{k} {v}" for k, v in report["TrainingJobStatusCounters"].items()),
    )
    head.add_row(
        "Objective status",
        ", ".join(f"{k} {v}" for k, v in report["ObjectiveStatusCounters"].items()),
    )
    console.print(head)

    best = report["BestTrainingJob"]
    if best is None:
        console.print("no training job has an objective value yet")
    else:
        title = "overall best training job" if len(names) > 1 else "best training job"
        table = Table(show_header=False, title=title)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, min_width=len(best["TrainingJobName"]))
        table.add_row("TrainingJobName", best["TrainingJobName"])
        if len(names) > 1:
            table.add_row("TuningJobName", best["TuningJobName"])
        table.add_row(objective["MetricName"], fmt_number(best["FinalObjectiveValue"], 6))
        table.add_row("TrainingJobStatus", best["TrainingJobStatus"])
        for k, v in best["TunedHyperParameters"].items():
            table.add_row(f"  {k}", short_text(v))
        console.print(table)

    top = report["TopTrainingJobs"]
    if top:
        console.print(_top_table(top, objective["MetricName"], console))

    importance = report["Importance"]
    if report["Effects"]:
        caption = None
        if importance:
            drawn = importance.get("Sample") or {}
            of = f" (a sample of {drawn['Of']})" if drawn.get("Sampled") else ""
            caption = (
                f"importance: {importance['Description']}; {importance['NTrials']} trials{of}, "
                f"seed {importance['Seed']}, out-of-bag R^2 {fmt_number(importance['ModelR2'], 2)}"
            )
        table = Table(
            Column("Parameter", overflow="fold"),
            Column("n", no_wrap=True),
            Column("Effect", overflow="fold"),
            Column("p", no_wrap=True),
            Column("Importance", no_wrap=True),
            Column("Strength", no_wrap=True),
            Column("Reading", overflow="fold"),
            title="hyperparameters and the objective, strongest first",
            caption=caption,
        )
        for e in report["Effects"]:
            share = e["Importance"]
            table.add_row(
                Text.assemble(
                    e["Parameter"],
                    "\n",
                    (_SCALES.get(e["Scale"], "categorical"), "dim"),
                    *(("\n", (when, "dim")) if (when := condition_text(e)) else ()),
                ),
                str(e["NTrials"]),
                effect_text(e),
                fmt_number(e["PValue"], 2),
                "-" if share is None else f"{share:.0%}",
                e["Strength"],
                e["Reading"],
            )
        console.print(table)
    if report.get("Comparison"):
        console.print(Text.assemble(("Compared: ", "bold"), comparison_text(report["Comparison"])))
    if report["Effects"]:
        console.print(Text.assemble(("Sample: ", "bold"), sample_text(report)))
    console.print(Text.assemble(("Reading: ", "bold"), report["Summary"]))
    for note in report["Notes"]:
        console.print(Text(f"Note: {note}", style="yellow"))
    t = report["Thresholds"]
    console.print(
        Text(
            f"strong: |rho| >= {t['StrongRho']} or eta^2 >= {t['StrongEtaSquared']}, moderate: "
            f"|rho| >= {t['ModerateRho']} or eta^2 >= {t['ModerateEtaSquared']}, both with "
            f"p < {t['Alpha']}; nothing is concluded below {t['MinTrials']} trials",
            style="dim",
        )
    )


# ----------------------------------------------------------------------------------------------
# Command line (registered by tuner.cli)
# ----------------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    """``tuner report NAME [NAME ...] [--db URL] [--json] [--html FILE] [--csv FILE]``.

    Several names are analysed together (a warm-start parent and its children). Tables or JSON
    go to stdout, messages about written files to stderr, and while it works a progress bar
    (only when stderr is a terminal).
    """
    names = [args.name] if isinstance(args.name, str) else list(args.name)
    err = Console(stderr=True)
    with _ProgressBar(err) as bar:
        bar.step("reading the training jobs")
        analytics = TuningJobAnalytics(names[0], args.db, include=names[1:])
        snapshot = analytics.snapshot()
        steps = report_steps(len(snapshot.parameters))
        bar.total(1 + steps + (2 if args.html else 0) + (1 if args.csv else 0))
        report = build_report(snapshot, progress=lambda what, done, _: bar.step(what, 1 + done))
        done = 1 + steps
        if args.html:
            from tuner.reports.html import chart_trials, write_html_report

            bar.step("reading the learning curves", done)
            curves = analytics.learning_curves(trials=chart_trials(snapshot).curves)
            bar.step("writing the HTML report", done + 1)
            path = write_html_report(Path(args.html), report, snapshot, curves)
            done += 2
        if args.csv:
            bar.step("writing the CSV", done)
            snapshot.dataframe().to_csv(args.csv, index=False)
    # The tables go out once the bar is gone (both may share one terminal).
    out = Console(soft_wrap=bool(args.json))
    if not out.is_terminal:
        out.width = max(out.width, 160)  # a pipe or a file has no width to respect
    if args.json:
        out.print_json(to_json(report))
    else:
        render_terminal(report, out)
    if args.csv:
        err.print(f"wrote the training jobs to {args.csv}", markup=False, highlight=False)
    if args.html:
        err.print(f"wrote the HTML report to {path}", markup=False, highlight=False)
    return 0


class _ProgressBar:
    """A rich progress bar on stderr, shown only when stderr is a terminal (then cleared)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task("tuner report", total=None)

    def __enter__(self) -> _ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def total(self, steps: int) -> None:
        self.progress.update(self.task, total=steps)

    def step(self, what: str, done: int | None = None) -> None:
        self.progress.update(self.task, description=what, completed=done or 0)
