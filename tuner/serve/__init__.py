"""``tuner serve``: the SageMaker API on the wire, for unmodified boto3 and SageMaker SDK code.

::

    tuner serve [--db URL] [--host 127.0.0.1] [--port 8080] [--executor local|ray]
                [--ray-address ADDRESS] [--max-concurrent-jobs N]
                [--max-parallel-training-jobs N] [--output DIR]
                [--access-key-id ID --secret-access-key SECRET | --insecure-no-auth]

Point a client at it and the same code runs here::

    boto3.client("sagemaker", endpoint_url="http://127.0.0.1:8080", region_name="us-east-1",
                 aws_access_key_id=ID, aws_secret_access_key=SECRET)

The credentials come from the flags or from ``TUNER_ACCESS_KEY_ID`` and
``TUNER_SECRET_ACCESS_KEY`` (better: a flag's value shows in the process list). Without them
the server refuses to start, unless ``--insecure-no-auth`` is given, and then it binds only to
a loopback address. Modules: :mod:`~tuner.serve.wire` (the protocol),
:mod:`~tuner.serve.auth` (SigV4), :mod:`~tuner.serve.operations` (the handlers),
:mod:`~tuner.serve.jobs` (coordinators in threads, resumed after a restart),
:mod:`~tuner.serve.capacity` (fair shares of the workers), :mod:`~tuner.serve.app`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from tuner.pools.factory import DEFAULT_EXECUTOR, EXECUTORS

if TYPE_CHECKING:
    from tuner.serve.auth import ServerCredentials

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: AMT's default quota is 100 concurrent tuning jobs per account; one machine runs fewer.
DEFAULT_MAX_CONCURRENT_JOBS = 10
ACCESS_KEY_ENV = "TUNER_ACCESS_KEY_ID"
SECRET_KEY_ENV = "TUNER_SECRET_ACCESS_KEY"

err = Console(stderr=True, soft_wrap=True)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options after ``tuner serve`` (``--db`` is added by tuner.cli)."""
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--executor", choices=EXECUTORS, default=DEFAULT_EXECUTOR)
    p.add_argument("--ray-address", default=None, help="run training jobs on this Ray cluster")
    p.add_argument(
        "--max-concurrent-jobs",
        type=_positive,
        default=DEFAULT_MAX_CONCURRENT_JOBS,
        help="tuning jobs running at once; one more is ResourceLimitExceeded "
        f"(default {DEFAULT_MAX_CONCURRENT_JOBS})",
    )
    p.add_argument(
        "--max-parallel-training-jobs",
        type=_positive,
        default=os.cpu_count() or 1,
        help="training jobs running at once over all tuning jobs, shared fairly "
        "(default: the CPU count)",
    )
    p.add_argument("--output", type=Path, default=None, help="folder for model artifacts")
    p.add_argument("--access-key-id", default=os.environ.get(ACCESS_KEY_ENV))
    p.add_argument("--secret-access-key", default=os.environ.get(SECRET_KEY_ENV))
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept unsigned requests (binds to 127.0.0.1 only)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit 2 for a configuration that would be unsafe."""
    from tuner.dashboard.cli import is_loopback
    from tuner.serve.auth import ServerCredentials

    credentials = None
    if args.access_key_id and args.secret_access_key:
        credentials = ServerCredentials(args.access_key_id, args.secret_access_key)
    elif args.access_key_id or args.secret_access_key:
        err.print("error: give both --access-key-id and --secret-access-key (or neither)")
        return 2
    elif not args.insecure_no_auth:
        err.print(
            f"error: tuner serve checks AWS SigV4 signatures: give --access-key-id and "
            f"--secret-access-key (or {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}); "
            "--insecure-no-auth accepts unsigned requests on 127.0.0.1 only"
        )
        return 2
    elif not is_loopback(args.host):
        err.print(f"error: --insecure-no-auth binds to a loopback address only, not {args.host}")
        return 2
    return _serve(args, credentials)


def _serve(args: argparse.Namespace, credentials: ServerCredentials | None) -> int:
    import uvicorn

    from tuner.serve.app import create_app
    from tuner.serve.jobs import JobRunner, RunnerConfig
    from tuner.serve.operations import SageMakerApi
    from tuner.storage import SqlStorage

    config = RunnerConfig(
        db=args.db,
        executor="ray" if args.ray_address else args.executor,
        ray_address=args.ray_address,
        max_concurrent_jobs=args.max_concurrent_jobs,
        capacity=args.max_parallel_training_jobs,
        output=args.output,
    )
    storage = SqlStorage(args.db)
    api = SageMakerApi(storage, JobRunner(config))
    app = create_app(api, credentials)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="on",
        )
    )
    auth = "SigV4" if credentials is not None else "no authentication"
    err.print(
        f"tuner serve: the SageMaker API of {storage.url} at http://{args.host}:{args.port} "
        f"({auth}; Ctrl+C stops, running jobs resume at the next start)",
        markup=False,
        highlight=False,
    )
    try:
        server.run()
    finally:
        storage.close()
    return 0
