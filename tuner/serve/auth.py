"""AWS Signature Version 4 on every request, checked with botocore's own signer.

The server is configured with one access key and its secret (``--access-key-id`` and
``--secret-access-key``, or ``TUNER_ACCESS_KEY_ID`` / ``TUNER_SECRET_ACCESS_KEY``). For each
request it rebuilds what the client signed (method, path, query, the headers named in
``SignedHeaders`` with their received values, the body) as a botocore ``AWSRequest``, and has
``botocore.auth.SigV4Auth`` compute the canonical request, the string to sign and the
signature for the request's own ``X-Amz-Date`` and credential scope; the two signatures are
compared in constant time. No SigV4 arithmetic is written here.

Refusals, with AWS's error codes (AWS's JSON services answer so; the statuses are AWS's common
errors): no ``Authorization`` header: MissingAuthenticationTokenException; a header that is
not ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``, or a scope whose
date or service does not match: IncompleteSignatureException; another access key:
UnrecognizedClientException; a signature that does not match: InvalidSignatureException; a
request date more than :data:`MAX_CLOCK_SKEW_S` away from the server's clock:
InvalidSignatureException ("Signature expired"), which also bounds how long a captured request
can be replayed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tuner.serve.wire import ApiError

SERVICE = "sagemaker"
#: AWS refuses a request signed more than 15 minutes before or after its own clock.
MAX_CLOCK_SKEW_S = 15 * 60

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9\-;.]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class ServerCredentials:
    """The one access key the server accepts, with its secret."""

    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class ReceivedRequest:
    """What the server received, as the signer needs it (header names in any case)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


def _refuse(code: str, message: str, status: int = 403) -> ApiError:
    return ApiError(code, message, status)


def verify(request: ReceivedRequest, credentials: ServerCredentials, *, now: float) -> None:
    """Raise :class:`ApiError` unless ``request`` carries a valid SigV4 signature."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise _refuse("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        raise _refuse(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            "of an AWS4-HMAC-SHA256 signature",
            400,
        )
    access_key, _, scope = match["credential"].partition("/")
    date, region, service, terminal = (scope.split("/") + ["", "", "", ""])[:4]
    amz_date = headers.get("x-amz-date", "")
    if service != SERVICE or terminal != "aws4_request" or not amz_date.startswith(date):
        raise _refuse(
            "IncompleteSignatureException",
            f"Credential should be scoped to a valid date and the service {SERVICE!r}, "
            f"got {match['credential']!r}",
            400,
        )
    if not hmac.compare_digest(access_key, credentials.access_key_id):
        raise _refuse(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    _check_date(amz_date, now)
    expected = _signature(request, headers, match["signed"], amz_date, region, credentials)
    if not hmac.compare_digest(expected, match["signature"]):
        raise _refuse(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )


def _check_date(amz_date: str, now: float) -> None:
    try:
        signed_at = dt.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise _refuse(
            "IncompleteSignatureException",
            f"X-Amz-Date {amz_date!r} is not a SigV4 timestamp",
            400,
        ) from None
    skew = signed_at.timestamp() - now
    if abs(skew) > MAX_CLOCK_SKEW_S:
        server = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).strftime(SIGV4_TIMESTAMP)
        side = "earlier" if skew < 0 else "later"
        raise _refuse(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now {side} than the server's {server} "
            f"by more than {MAX_CLOCK_SKEW_S // 60} minutes.",
        )


def _signature(
    request: ReceivedRequest,
    headers: Mapping[str, str],
    signed: str,
    amz_date: str,
    region: str,
    credentials: ServerCredentials,
) -> str:
    """botocore's signature of the request as the client signed it."""
    names = signed.split(";")
    if "host" not in names or any(name not in headers for name in names):
        raise _refuse(
            "IncompleteSignatureException",
            f"SignedHeaders {signed!r} must include host and only headers the request carries",
            400,
        )
    rebuilt = AWSRequest(
        method=request.method,
        url=request.url,
        headers={name: headers[name] for name in names},
        data=request.body,
    )
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(request.body).hexdigest():
        # botocore signs the declared hash in place of the body's: it must be the body's.
        raise _refuse("InvalidSignatureException", "X-Amz-Content-SHA256 is not the body's hash")
    rebuilt.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key), SERVICE, region
    )
    if signer.signed_headers(signer.headers_to_sign(rebuilt)) != signed:
        # A header botocore never signs (user-agent, expect, ...) was named as signed.
        raise _refuse(
            "IncompleteSignatureException",
            f"SignedHeaders {signed!r} names unsignable headers",
            400,
        )
    canonical = signer.canonical_request(rebuilt)
    return str(signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt))
