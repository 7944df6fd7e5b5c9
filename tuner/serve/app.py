"""The server's web app (Starlette, as the dashboard's): ``POST /`` in AWS JSON 1.1.

Every request is authenticated first (:mod:`tuner.serve.auth`; unless the server was started
with ``--insecure-no-auth``, which binds to 127.0.0.1 only), its body read up to
:data:`~tuner.serve.wire.MAX_BODY_BYTES` (a larger one is refused before it is read), its
operation looked up from ``X-Amz-Target`` and its parameters checked against botocore's input
shape; the handler runs in a worker thread (storage reads and the coordinators' set-up block).
Any error of the engine becomes AWS's ``InternalFailure`` (500) with a request id to find the
traceback in the server's log; it never takes the server down.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tuner.serve.auth import ReceivedRequest, ServerCredentials, verify
from tuner.serve.operations import SageMakerApi
from tuner.serve.wire import (
    CONTENT_TYPE,
    MAX_BODY_BYTES,
    ApiError,
    encode,
    operation_for,
    parse_body,
)

log = logging.getLogger(__name__)


def create_app(api: SageMakerApi, credentials: ServerCredentials | None) -> Starlette:
    """The app for ``api``; ``credentials`` None: no authentication (loopback only)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(api.runner.open)
        await run_in_threadpool(api.runner.resume_own_jobs)
        yield
        await run_in_threadpool(api.runner.shutdown)

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            body = await _read_body(request)
            if credentials is not None:
                verify(_received(request, body), credentials, now=time.time())
            operation = operation_for(request.headers.get("x-amz-target"), api.operations)
            params = parse_body(body, operation)
            result = await run_in_threadpool(api.call, operation.name, params)
            return _reply(200, encode(result), request_id)
        except ApiError as exc:
            return _reply(exc.status, exc.body(), request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            error = ApiError(
                "InternalFailure",
                f"the server failed on this request; its log has the details "
                f"(request {request_id})",
                500,
            )
            return _reply(500, error.body(), request_id)

    return Starlette(routes=[Route("/", endpoint, methods=["POST"])], lifespan=lifespan)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    too_big = ApiError(
        "RequestEntityTooLargeException",
        f"the request body is larger than {MAX_BODY_BYTES} bytes",
        413,
    )
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _received(request: Request, body: bytes) -> ReceivedRequest:
    url = request.url
    query = f"?{url.query}" if url.query else ""
    host = request.headers.get("host", url.netloc)
    return ReceivedRequest(
        method=request.method,
        url=f"{url.scheme}://{host}{url.path}{query}",
        headers=dict(request.headers),
        body=body,
    )


def _reply(status: int, body: bytes, request_id: str) -> Response:
    headers: dict[str, Any] = {"x-amzn-RequestId": request_id}
    return Response(body, status_code=status, media_type=CONTENT_TYPE, headers=headers)
