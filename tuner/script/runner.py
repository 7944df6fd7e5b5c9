"""Runs a script-mode training job: the entry point as a subprocess, watched to its end.

:class:`ScriptTrainer` has the built-in algorithms' ``train(hyperparameters, channels, ctx)``,
so a worker runs it like any algorithm. It lays out the training job's SageMaker folder, copies
the source into it, and starts ``python ENTRY --name value ...`` (``/bin/sh`` for other entry
points, as the toolkit runs shell scripts) with this environment's interpreter, in the copy,
with the toolkit's ``SM_*`` variables, in a process group of its own so that a stop ends
everything the script started.

Both output streams are read by threads into one queue; this thread writes each line to the
training job's log (the worker already points fds 1 and 2 there), matches the
MetricDefinitions and reports. A report may wait for the coordinator's decision (the median
rule, Hyperband) while the script runs on; the pipes' buffers hold what it prints meanwhile. A
stop (a decision, the training job's MaxRuntimeInSeconds, the tuning job's end) ends the
group: SIGTERM, then SIGKILL after ``kill_grace_s``. The grace is shorter than the pools'
own (half a second before they kill the worker), and on Linux the script is also tied to the
worker's life (``PR_SET_PDEATHSIG``), so no script outlives a killed worker.

The script's checkpoint folder is given as ``SM_CHECKPOINT_DIR`` (see
:mod:`tuner.checkpointing`): where SageMaker's containers have ``/opt/ml/checkpoints``, which
all trials here would share.

A non-zero exit fails the training job with the last lines of stderr, as SageMaker's
``AlgorithmError: ExecuteUserScriptError`` does.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from algorithms.base import StopTraining, TrainingContext
from tuner.script.layout import (
    TrainingFolder,
    command_args,
    environment_variables,
    lay_out,
    resource_config,
    split_hyperparameters,
    training_env,
)
from tuner.script.metrics import Datapoints, MetricParser, compile_definitions
from tuner.script.source import REQUIREMENTS, copy_source, has_requirements

#: SIGTERM, then SIGKILL this long after, if the script is still running.
KILL_GRACE_S = 0.3
#: The script's checkpoint folder (its /opt/ml/checkpoints; ours, SageMaker has no variable for
#: it): files the script writes there are there again when a retry or a resumed job runs it.
CHECKPOINT_VARIABLE = "SM_CHECKPOINT_DIR"
#: How often a script that prints nothing is checked for a stop.
STOP_POLL_S = 0.05
#: Lines of stderr kept for the FailureReason, and its length cap (AMT's is 1024 characters).
TAIL_LINES = 10
TAIL_CHARS = 800

#: Started first on Linux: ties the script to its parent (the worker) and then becomes it.
_TRAMPOLINE = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(137)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class ExecuteUserScriptError(Exception):
    """The script exited with a non-zero status (SageMaker's name for this failure)."""


def script_command(entry_point: str, args: list[str]) -> list[str]:
    """How the toolkit runs an entry point: Python for ``.py``, the shell otherwise."""
    if entry_point.endswith(".py"):
        return [sys.executable, entry_point, *args]
    return ["/bin/sh", entry_point, *args]


def _with_trampoline(command: list[str]) -> list[str]:
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-c", _TRAMPOLINE, str(os.getpid()), *command]


def _read(stream: IO[bytes], name: str, lines: queue.Queue[tuple[str, bytes | None]]) -> None:
    for line in iter(stream.readline, b""):
        lines.put((name, line))
    lines.put((name, None))


def end_process_group(proc: subprocess.Popen[bytes], grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the script's process group, SIGKILL it after ``grace_s``; reap the script."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # what ignored SIGTERM, the script's children too
    proc.wait()


class ScriptTrainer:
    """A script-mode training job, run like a built-in algorithm."""

    def __init__(
        self,
        script: Mapping[str, Any],
        *,
        training_job_name: str,
        kill_grace_s: float = KILL_GRACE_S,
    ) -> None:
        self.script = dict(script)
        self.training_job_name = training_job_name
        self.kill_grace_s = kill_grace_s

    def _prepare(
        self,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> tuple[list[str], Path, dict[str, str]]:
        """Lay out the folder, copy the source; the command, its folder and its environment."""
        folder = TrainingFolder(Path(ctx.output_dir))
        resources = resource_config(str(self.script.get("instance_type") or "local"))
        lay_out(folder, hyperparameters, channels, resources)
        source = Path(self.script["source"])
        code = copy_source(source, folder.code_dir)
        if has_requirements(source) and not self.script.get("requirements_installed"):
            _log(
                f"[tuner] {REQUIREMENTS} in {source} was not installed "
                "(see --install-requirements)"
            )
        user, platform = split_hyperparameters(hyperparameters)
        gpus = 1 if ctx.device.startswith("cuda") else 0
        env = training_env(
            folder,
            hyperparameters,
            channels,
            resources,
            job_name=self.training_job_name,
            module_dir=str(source),
            num_gpus=gpus,
        )
        variables = dict(os.environ)
        variables.update(environment_variables(env, platform))
        variables["PYTHONUNBUFFERED"] = "1"  # metrics stream as they are printed
        checkpoints = getattr(ctx, "checkpoint_dir", None)
        if checkpoints is not None:  # kept across the job's attempts: see tuner.checkpointing
            Path(checkpoints).mkdir(parents=True, exist_ok=True)
            variables[CHECKPOINT_VARIABLE] = str(checkpoints)
        variables["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p
        )
        entry = str(self.script["entry_point"])
        return script_command(entry, command_args(user)), code, variables

    def train(
        self,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        command, code, variables = self._prepare(hyperparameters, channels, ctx)
        _log(f"[tuner] script mode: {' '.join(command)}  (in {code})")
        proc = subprocess.Popen(  # noqa: S603 - the user's own script, by design
            _with_trampoline(command),
            cwd=code,
            env=variables,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, ended as a whole
        )
        parser = MetricParser(compile_definitions(self.script.get("metric_definitions") or []))
        try:
            tail = self._follow(proc, parser, ctx)
        finally:
            if proc.poll() is None:
                end_process_group(proc, self.kill_grace_s)
            for line in parser.summary():
                _log(line)
        if proc.returncode != 0:
            raise ExecuteUserScriptError(_failure(command, proc.returncode, tail))

    def _follow(
        self, proc: subprocess.Popen[bytes], parser: MetricParser, ctx: TrainingContext
    ) -> deque[str]:
        """Stream the output to its end (or a stop); the last lines of stderr."""
        lines: queue.Queue[tuple[str, bytes | None]] = queue.Queue()
        assert proc.stdout is not None and proc.stderr is not None
        for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            threading.Thread(target=_read, args=(stream, name, lines), daemon=True).start()
        datapoints = Datapoints(str(self.script["objective"]))
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        open_streams = 2
        while open_streams:
            if ctx.should_stop():
                raise StopTraining
            try:
                name, raw = lines.get(timeout=STOP_POLL_S)
            except queue.Empty:
                continue
            if raw is None:
                open_streams -= 1
                continue
            os.write(1 if name == "stdout" else 2, raw)
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if name == "stderr" and text.strip():
                tail.append(text)
            for metric, value in parser.feed(text):
                report = datapoints.add(metric, value)
                if report is not None:
                    ctx.report(report[0], **report[1])  # may wait, or raise StopTraining
        proc.wait()
        rest = datapoints.rest()
        if rest is not None and proc.returncode == 0:
            ctx.report(rest[0], **rest[1])
        return tail


def _log(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


def _failure(command: list[str], returncode: int, tail: deque[str]) -> str:
    how = f"ExitCode {returncode}"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            how = f"killed by {signal.Signals(-returncode).name}"
    text = "\n".join(tail) or "(nothing on stderr)"
    if len(text) > TAIL_CHARS:
        text = "..." + text[-TAIL_CHARS:]
    return f'{how}\nErrorMessage "{text}"\nCommand "{" ".join(command[1:])}"'
