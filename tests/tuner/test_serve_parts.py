"""The pieces of ``tuner serve`` without a server: SigV4 checks, the wire format, fair shares."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tuner.serve.auth import ReceivedRequest, ServerCredentials, verify
from tuner.serve.capacity import Capacity, allocate
from tuner.serve.wire import ApiError, encode, operation_for, parse_body, service_model

KEYS = ServerCredentials("AKIDEXAMPLE", "secret-example")
URL = "http://127.0.0.1:8080/"


def _signed(body: bytes = b"{}", *, secret: str = KEYS.secret_access_key, **headers: str):
    request = AWSRequest(
        method="POST",
        url=URL,
        data=body,
        headers={"X-Amz-Target": "SageMaker.ListTags", **headers},
    )
    SigV4Auth(Credentials(KEYS.access_key_id, secret), "sagemaker", "eu-west-1").add_auth(request)
    # The HTTP client adds Host, which botocore signed from the URL.
    return ReceivedRequest("POST", URL, {"Host": "127.0.0.1:8080", **request.headers}, body)


def _code(request: ReceivedRequest, *, now: float | None = None) -> str:
    with pytest.raises(ApiError) as caught:
        verify(request, KEYS, now=time.time() if now is None else now)
    return caught.value.code


def test_a_request_botocore_signed_is_accepted_in_any_region() -> None:
    verify(_signed(), KEYS, now=time.time())


def test_tampering_with_anything_signed_is_refused() -> None:
    good = _signed(b'{"ResourceArn": "a"}')
    other_body = ReceivedRequest(good.method, good.url, good.headers, b'{"ResourceArn": "b"}')
    assert _code(other_body) == "InvalidSignatureException"
    headers = {**good.headers, "X-Amz-Target": "SageMaker.DeleteTags"}
    assert _code(ReceivedRequest(good.method, good.url, headers, good.body)) == (
        "InvalidSignatureException"
    )
    assert _code(_signed(secret="wrong")) == "InvalidSignatureException"


def test_a_declared_payload_hash_must_be_the_bodys() -> None:
    lying = _signed(b"{}", **{"X-Amz-Content-SHA256": "0" * 64})
    assert _code(lying) == "InvalidSignatureException"


def test_missing_malformed_foreign_and_stale_signatures_are_refused() -> None:
    good = _signed()
    unsigned = {k: v for k, v in good.headers.items() if k != "Authorization"}
    assert _code(ReceivedRequest("POST", URL, unsigned, b"{}")) == (
        "MissingAuthenticationTokenException"
    )
    garbled = {**good.headers, "Authorization": "AWS4-HMAC-SHA256 nonsense"}
    assert _code(ReceivedRequest("POST", URL, garbled, b"{}")) == "IncompleteSignatureException"
    foreign = ServerCredentials("AKIDOTHER", KEYS.secret_access_key)
    with pytest.raises(ApiError) as caught:
        verify(good, foreign, now=time.time())
    assert caught.value.code == "UnrecognizedClientException"
    assert _code(good, now=time.time() + 16 * 60) == "InvalidSignatureException"
    assert _code(good, now=time.time() - 16 * 60) == "InvalidSignatureException"
    verify(good, KEYS, now=time.time() + 14 * 60)  # within AWS's 15 minutes


def test_another_service_scope_is_refused() -> None:
    request = AWSRequest(method="POST", url=URL, data=b"{}", headers={})
    SigV4Auth(Credentials(KEYS.access_key_id, KEYS.secret_access_key), "s3", "us-east-1").add_auth(
        request
    )
    received = ReceivedRequest("POST", URL, {"Host": "127.0.0.1:8080", **request.headers}, b"{}")
    assert _code(received) == "IncompleteSignatureException"


def test_requests_are_checked_against_botocores_input_shapes() -> None:
    supported = frozenset({"ListHyperParameterTuningJobs"})
    op = operation_for("SageMaker.ListHyperParameterTuningJobs", supported)
    assert parse_body(b'{"MaxResults": 5}', op) == {"MaxResults": 5}
    with pytest.raises(ApiError, match="MaxResults"):
        parse_body(b'{"MaxResults": "five"}', op)
    with pytest.raises(ApiError, match="Bogus"):
        parse_body(b'{"Bogus": 1}', op)
    with pytest.raises(ApiError, match="SortBy") as caught:
        parse_body(b'{"SortBy": "Size"}', op)
    assert caught.value.code == "ValidationException"
    with pytest.raises(ApiError) as caught:
        operation_for("SageMaker.CreateEndpoint", supported)
    assert caught.value.code == "UnknownOperationException"


def test_responses_carry_timestamps_as_epoch_seconds_and_botocore_parses_them() -> None:
    from botocore.parsers import create_parser

    when = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone.utc)
    body = encode({"HyperParameterTuningJobArn": "arn:x", "CreationTime": when})
    assert json.loads(body)["CreationTime"] == when.timestamp()
    shape = service_model().operation_model("CreateHyperParameterTuningJob").output_shape
    parsed = create_parser("json").parse({"status_code": 200, "headers": {}, "body": body}, shape)
    assert parsed["HyperParameterTuningJobArn"] == "arn:x"
    with pytest.raises(ValueError, match="finite"):
        encode({"Value": float("nan")})


@pytest.mark.parametrize(
    ("slots", "demands", "expected"),
    [
        (8, {"a": 2, "b": 10}, {"a": 2, "b": 6}),  # a small job keeps its ask, b takes the rest
        (8, {"a": 10, "b": 10}, {"a": 4, "b": 4}),
        (7, {"a": 10, "b": 10, "c": 10}, {"a": 3, "b": 2, "c": 2}),  # the remainder to the first
        (2, {"a": 5, "b": 5, "c": 5}, {"a": 1, "b": 1, "c": 1}),  # never none
        (4, {"a": 1}, {"a": 1}),
    ],
)
def test_capacity_is_shared_max_min_fairly(slots, demands, expected) -> None:
    assert allocate(slots, demands) == expected


def test_a_new_job_shrinks_the_shares_and_a_leaving_one_gives_them_back() -> None:
    capacity = Capacity(4)
    capacity.join("a", 4)
    assert capacity.share("a") == 4
    capacity.join("b", 4)
    assert (capacity.share("a"), capacity.share("b")) == (2, 2)
    capacity.leave("a")
    assert capacity.share("b") == 4
    assert capacity.share("a") == 0


@pytest.mark.parametrize("objective_type", ["Maximize", "Minimize"])
def test_the_databases_digest_describes_a_job_as_the_loaded_records_do(
    db_url: str, objective_type: str
) -> None:
    """Counters, best training job (ties to the first) and output folder, computed in SQL."""
    from pathlib import Path

    from strategies.base import TrialStatus
    from tuner import trial_pages
    from tuner.describe import describe_stored_job
    from tuner.storage import SqlStorage

    examples = Path(__file__).resolve().parents[2] / "examples"
    request = json.loads((examples / "xgboost-breast-cancer.json").read_text())
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"] = (
        objective_type
    )
    del request["TrainingJobDefinition"]["OutputDataConfig"]  # filled from the trials' folder
    storage = SqlStorage(db_url)
    storage.create_job("j", request, strategy="Random", seed=1, status="InProgress", now=1.0)
    ends = [
        (TrialStatus.COMPLETED, 0.5, None),
        (TrialStatus.COMPLETED, 0.9, None),
        (TrialStatus.STOPPED, 0.9, None),  # ties with number 2: the first one wins
        (TrialStatus.STOPPED, 0.1, None),
        (TrialStatus.FAILED, None, True),
        (TrialStatus.FAILED, None, False),
        (TrialStatus.COMPLETED, None, None),  # never reported: ObjectiveStatus Failed
        (TrialStatus.IN_PROGRESS, None, None),
        (TrialStatus.PENDING, None, None),
    ]
    for number, (status, value, retryable) in enumerate(ends, start=1):
        storage.add_trial(
            "j",
            number,
            name=f"j-{number:03d}",
            hyperparameters={"eta": "0.1"},
            now=2.0,
            output_dir=f"/out/j-{number:03d}" if number > 1 else None,
        )
        if status is TrialStatus.IN_PROGRESS:
            storage.mark_running("j", number, worker="w", now=3.0)
        elif status is not TrialStatus.PENDING:
            storage.finish_trial(
                "j",
                number,
                status=status,
                now=4.0,
                final_value=value,
                final_metrics={} if value is None else {"validation:auc": value},
                n_reports=1,
                retryable=retryable,
            )
    from_sql = trial_pages.describe_job(storage, "j", now=10.0)
    assert from_sql == describe_stored_job(storage, "j", now=10.0)
    best = from_sql["BestTrainingJob"]["TrainingJobName"]
    assert best == ("j-002" if objective_type == "Maximize" else "j-004")
    assert from_sql["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"] == "/out"
