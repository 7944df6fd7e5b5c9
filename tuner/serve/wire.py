"""AWS JSON 1.1, the SageMaker API's wire protocol, as botocore's service model defines it.

A request is ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` and a JSON body; a reply
is a JSON body of the operation's output shape (``application/x-amz-json-1.1``, timestamps as
epoch seconds, as AWS sends them), or an error ``{"__type": Code, "message": ...}`` with AWS's
HTTP status. The shapes come from ``botocore.session.get_session().get_service_model(
"sagemaker")``, never from hand-copied field lists: requests are checked with botocore's own
``ParamValidator`` against the operation's input shape, so a wrong type or a missing member is
a ValidationException naming the member, as AWS words it.

HTTP statuses, where AWS documents them (common errors of the AWS APIs) and our choice where it
is silent: every client error is 400, authentication refusals 403 (an unknown access key, a
signature that does not match or has expired, a missing one), a body over
:data:`MAX_BODY_BYTES` 413, an error of the engine itself 500 (``InternalFailure``). botocore
parses each as a ``ClientError`` whose ``Error.Code`` is the ``__type``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

TARGET_PREFIX = "SageMaker."
CONTENT_TYPE = "application/x-amz-json-1.1"
#: The largest request body accepted (4 MiB: a CreateHyperParameterTuningJob request with ten
#: definitions of 100 hyperparameters each is under 1 MiB; bigger is refused before it is read).
MAX_BODY_BYTES = 4 * 1024 * 1024


class ApiError(Exception):
    """An error as the SageMaker API answers it: ``code`` is the ``__type``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> bytes:
        # "message" is what the issue and AWS's JSON protocol send; botocore also fills the
        # modelled error shapes' "Message" member from it.
        return json.dumps({"__type": self.code, "message": self.message}).encode()


def validation_error(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def not_found(message: str) -> ApiError:
    return ApiError("ResourceNotFound", message)


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def operation_for(target: str | None, supported: frozenset[str]) -> OperationModel:
    """The operation an ``X-Amz-Target`` header names (UnknownOperationException otherwise)."""
    if not target or not target.startswith(TARGET_PREFIX):
        raise ApiError("UnknownOperationException", f"unknown operation target {target!r}")
    name = target[len(TARGET_PREFIX) :]
    if name not in supported:
        raise ApiError(
            "UnknownOperationException",
            f"{name} is not an operation tuner serve answers; it answers "
            f"{', '.join(sorted(supported))}",
        )
    return service_model().operation_model(name)


def parse_body(body: bytes, operation: OperationModel) -> dict[str, Any]:
    """The request's parameters, checked against the operation's input shape."""
    try:
        params = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError("SerializationException", f"the request body is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ApiError("SerializationException", "the request body must be a JSON object")
    if operation.input_shape is not None:
        report = ParamValidator().validate(params, operation.input_shape)
        if report.has_errors():
            raise validation_error(report.generate_report())
        problems: list[str] = []
        _check_enums(params, operation.input_shape, "", problems)
        if problems:
            raise validation_error("; ".join(problems))
    return params


def _check_enums(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    """botocore's validator leaves enums to the service: a value outside one is named here."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        for key, item in value.items():
            if key in members:
                _check_enums(item, members[key], f"{path}.{key}" if path else key, problems)
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _check_enums(item, shape.member, f"{path}[{i}]", problems)
    elif kind == "string" and isinstance(value, str):
        allowed = list(shape.enum or [])
        if allowed and value not in allowed:
            problems.append(
                f"Value {value!r} at '{path}' failed to satisfy constraint: Member must satisfy "
                f"enum value set: [{', '.join(allowed)}]"
            )


def _wire_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    msg = f"cannot serialise {type(value).__name__}"
    raise TypeError(msg)


def encode(response: dict[str, Any]) -> bytes:
    """The JSON body of a response: datetimes as epoch seconds; a float that is not finite
    (JSON has none) is refused rather than sent as text botocore cannot read."""
    _check_finite(response)
    return json.dumps(response, default=_wire_value, separators=(",", ":")).encode()


def _check_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"a response value is not finite: {value!r}"
        raise ValueError(msg)
    if isinstance(value, dict):
        for item in value.values():
            _check_finite(item)
    elif isinstance(value, list):
        for item in value:
            _check_finite(item)


def epoch_seconds(value: Any) -> float:
    """A request timestamp (epoch seconds, as botocore sends them, or an ISO 8601 string)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    from botocore.utils import parse_to_aware_datetime

    return float(parse_to_aware_datetime(value).timestamp())
