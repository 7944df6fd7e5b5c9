"""``tuner serve`` in a subprocess, and boto3 clients pointed at it, as a user would run them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

ACCESS_KEY = "AKIDTUNERTEST"
SECRET_KEY = "tuner-test-secret"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """A running ``tuner serve`` on a free port of 127.0.0.1 (restartable on the same port)."""

    def __init__(self, db: Path, cwd: Path, *extra: str) -> None:
        self.db = db
        self.cwd = cwd
        self.extra = extra
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.log = cwd / "serve.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServeProcess:
        command = [sys.executable, "-m", "tuner.cli", "serve", "--db", str(self.db)]
        command += ["--port", str(self.port), "--output", str(self.cwd / "artifacts")]
        command += ["--access-key-id", ACCESS_KEY, "--secret-access-key", SECRET_KEY]
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [*command, *self.extra],
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"tuner serve did not listen in {timeout} s: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Stop the server (SIGTERM: a clean shutdown; SIGKILL: a crash of its whole group)."""
        assert self.proc is not None
        if sig == signal.SIGKILL:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def client(self, **changes: Any) -> Any:
        """A boto3 SageMaker client for this server (``changes``: other credentials ...)."""
        settings: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
        }
        settings.update(changes)
        return boto3.client("sagemaker", **settings)


def wait_until_terminal(client: Any, name: str, timeout: float = 180) -> dict[str, Any]:
    """The polling loop people write: describe until the job is no longer running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if described["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return dict(described)
        time.sleep(0.5)
    raise AssertionError(f"{name} still {described['HyperParameterTuningJobStatus']}")
