"""``tuner serve`` driven only through an unmodified boto3 client, over real HTTP.

The server runs as a subprocess on a real SQLite file; the jobs train xgboost on the breast
cancer CSV channels. Responses are parsed by botocore itself (a field of the wrong type or
shape would raise there) and checked against the API model's shapes.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.helpers.serve import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    ServeProcess,
    wait_until_terminal,
)
from tests.tuner.test_response_shapes import assert_shape

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _request(datasets: dict[str, Path], name: str, **config: Any) -> dict[str, Any]:
    """The README's example request, small: 15 boosting rounds, the data of this test run."""
    request = json.loads((EXAMPLES / "xgboost-breast-cancer.json").read_text())
    request["HyperParameterTuningJobName"] = name
    data = datasets["breast_cancer"]
    channels = request["TrainingJobDefinition"]["InputDataConfig"]
    channels[0]["DataSource"]["S3DataSource"]["S3Uri"] = f"file://{data / 'train.csv'}"
    channels[1]["DataSource"]["S3DataSource"]["S3Uri"] = f"file://{data / 'validation.csv'}"
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = str(
        config.pop("num_round", 15)
    )
    tuning = request["HyperParameterTuningJobConfig"]
    tuning["ResourceLimits"]["MaxNumberOfTrainingJobs"] = config.pop("max_jobs", 6)
    tuning["ResourceLimits"]["MaxParallelTrainingJobs"] = config.pop("parallel", 2)
    tuning["TrainingJobEarlyStoppingType"] = "Off"
    tuning.update(config)
    return request


@pytest.fixture
def server(tmp_path: Path):
    serve = ServeProcess(tmp_path / "serve.db", tmp_path).start()
    yield serve
    if serve.proc is not None and serve.proc.poll() is None:
        serve.stop()


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return dict(caught.value.response)


def test_a_job_created_with_boto3_runs_and_is_read_back(server: ServeProcess, datasets) -> None:
    sm = server.client()
    created = sm.create_hyper_parameter_tuning_job(**_request(datasets, "served-xgb"))
    assert created["HyperParameterTuningJobArn"].endswith(":hyper-parameter-tuning-job/served-xgb")

    described = wait_until_terminal(sm, "served-xgb")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert sum(described["TrainingJobStatusCounters"].values()) == 6
    best = described["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] > 0.9
    described.pop("ResponseMetadata")
    assert_shape(described, "DescribeHyperParameterTuningJobResponse", "over the wire")

    # The paginator people use, two training jobs a page; sorted by the objective.
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName="served-xgb",
        SortBy="FinalObjectiveMetricValue",
        SortOrder="Descending",
        PaginationConfig={"PageSize": 2},
    )
    pages = list(pages)
    assert [len(p["TrainingJobSummaries"]) for p in pages] == [2, 2, 2]
    summaries = [s for p in pages for s in p["TrainingJobSummaries"]]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values == sorted(values, reverse=True)
    assert summaries[0]["TrainingJobName"] == best["TrainingJobName"]

    listed = sm.list_hyper_parameter_tuning_jobs(NameContains="SERVED", SortBy="CreationTime")
    assert [
        j["HyperParameterTuningJobName"] for j in listed["HyperParameterTuningJobSummaries"]
    ] == ["served-xgb"]

    training = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert training["TrainingJobStatus"] == "Completed"
    assert training["TuningJobArn"] == created["HyperParameterTuningJobArn"]
    metrics = {m["MetricName"]: m["Value"] for m in training["FinalMetricDataList"]}
    assert metrics["validation:auc"] == pytest.approx(values[0])
    assert training["HyperParameters"]["_tuning_objective_metric"] == "validation:auc"
    # botocore's own waiter for training jobs works on ours.
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=best["TrainingJobName"], WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    all_training = sm.get_paginator("list_training_jobs").paginate(
        NameContains="served-xgb", PaginationConfig={"PageSize": 4}
    )
    assert [len(p["TrainingJobSummaries"]) for p in all_training] == [4, 2]

    _check_tags(sm, created["HyperParameterTuningJobArn"], training["TrainingJobArn"])

    sm.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName="served-xgb")
    gone = _error(sm.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="served-xgb")
    assert gone["Error"]["Code"] == "ResourceNotFound"


def _check_tags(sm: Any, tuning_arn: str, training_arn: str) -> None:
    assert sm.list_tags(ResourceArn=tuning_arn)["Tags"] == [{"Key": "project", "Value": "demo"}]
    sm.add_tags(ResourceArn=tuning_arn, Tags=[{"Key": "owner", "Value": "<script>x</script>"}])
    keys = [t["Key"] for t in sm.list_tags(ResourceArn=tuning_arn)["Tags"]]
    assert keys == ["project", "owner"]
    # A training job carries its tuning job's tags (AMT propagates them).
    assert {t["Key"] for t in sm.list_tags(ResourceArn=training_arn)["Tags"]} == {
        "project",
        "owner",
    }
    sm.delete_tags(ResourceArn=tuning_arn, TagKeys=["project"])
    assert sm.list_tags(ResourceArn=tuning_arn)["Tags"] == [
        {"Key": "owner", "Value": "<script>x</script>"}
    ]
    reserved = _error(sm.add_tags, ResourceArn=tuning_arn, Tags=[{"Key": "aws:x", "Value": "1"}])
    assert reserved["Error"]["Code"] == "ValidationException"


def test_errors_come_back_as_aws_gives_them(server: ServeProcess, datasets) -> None:
    sm = server.client()
    bad = _request(datasets, "bad-job")
    ranges = bad["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"]
    ranges[0]["MinValue"] = "5"  # above its MaxValue: botocore sends it, the engine refuses it
    error = _error(sm.create_hyper_parameter_tuning_job, **bad)
    assert error["Error"]["Code"] == "ValidationException"
    assert "ContinuousParameterRanges[0]" in error["Error"]["Message"], error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400

    hostile = _request(datasets, "x")
    hostile["HyperParameterTuningJobName"] = "a/../../b;rm"  # never reaches a path or a shell
    error = _error(sm.create_hyper_parameter_tuning_job, **hostile)
    assert error["Error"]["Code"] == "ValidationException"
    assert "HyperParameterTuningJobName" in error["Error"]["Message"]

    missing = _error(sm.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="nope")
    assert missing["Error"]["Code"] == "ResourceNotFound"
    missing = _error(sm.describe_training_job, TrainingJobName="nope-001-0123abcd")
    assert missing["Error"]["Code"] == "ResourceNotFound"
    listed = _error(
        sm.list_training_jobs_for_hyper_parameter_tuning_job, HyperParameterTuningJobName="nope"
    )
    assert listed["Error"]["Code"] == "ResourceNotFound"

    sm.create_hyper_parameter_tuning_job(**_request(datasets, "twice", max_jobs=2))
    again = _error(sm.create_hyper_parameter_tuning_job, **_request(datasets, "TWICE"))
    assert again["Error"]["Code"] == "ResourceInUse"

    unknown = _error(sm.list_endpoints)
    assert unknown["Error"]["Code"] == "UnknownOperationException"
    token = _error(
        sm.list_training_jobs_for_hyper_parameter_tuning_job,
        HyperParameterTuningJobName="twice",
        NextToken="bm90LWEtdG9rZW4",
    )
    assert token["Error"]["Code"] == "ValidationException"

    wrong_secret = server.client(aws_secret_access_key="not-the-secret")
    refused = _error(wrong_secret.list_hyper_parameter_tuning_jobs)
    assert refused["Error"]["Code"] == "InvalidSignatureException"
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 403
    other_key = server.client(aws_access_key_id="AKIDSOMEONEELSE")
    assert _error(other_key.list_hyper_parameter_tuning_jobs)["Error"]["Code"] == (
        "UnrecognizedClientException"
    )
    wait_until_terminal(sm, "twice")


def _raw(server: ServeProcess, body: bytes, *, signed_at: float | None, target: str) -> Any:
    """A request signed by botocore's signer at ``signed_at`` (None: unsigned), sent by urllib."""
    url = server.endpoint + "/"
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    if signed_at is not None:
        signer = botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sagemaker", REGION)
        real = botocore.auth.get_current_datetime  # naive UTC, as botocore keeps it
        at = dt.datetime.fromtimestamp(signed_at, tz=dt.timezone.utc).replace(tzinfo=None)
        botocore.auth.get_current_datetime = lambda: at  # type: ignore[assignment]
        try:
            signer.add_auth(request)
        finally:
            botocore.auth.get_current_datetime = real  # type: ignore[assignment]
    sent = urllib.request.Request(url, data=body, headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(sent, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _oversized(server: ServeProcess) -> tuple[int, str]:
    """Announce a 5 MiB body and send none of it: the refusal comes before it is read."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("Content-Length", str(5 * 1024 * 1024))
        conn.putheader("X-Amz-Target", "SageMaker.ListHyperParameterTuningJobs")
        conn.endheaders()
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())["__type"]
    finally:
        conn.close()


def test_unsigned_stale_and_oversized_requests_are_refused(server: ServeProcess) -> None:
    target = "SageMaker.ListHyperParameterTuningJobs"
    status, body = _raw(server, b"{}", signed_at=time.time(), target=target)
    assert (status, body) == (200, {"HyperParameterTuningJobSummaries": []})
    status, body = _raw(server, b"{}", signed_at=None, target=target)
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    status, body = _raw(server, b"{}", signed_at=time.time() - 20 * 60, target=target)
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    assert "expired" in body["message"]
    assert _oversized(server) == (413, "RequestEntityTooLargeException")
    status, body = _raw(server, b"{not json", signed_at=time.time(), target=target)
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = _raw(server, b"{}", signed_at=time.time(), target="Other.Operation")
    assert (status, body["__type"]) == (400, "UnknownOperationException")


def test_a_stopped_job_and_the_concurrency_limit(tmp_path: Path, datasets) -> None:
    serve = ServeProcess(tmp_path / "serve.db", tmp_path, "--max-concurrent-jobs", "1").start()
    try:
        sm = serve.client()
        long_job = _request(datasets, "long-job", max_jobs=50, num_round=2000)
        sm.create_hyper_parameter_tuning_job(**long_job)
        limited = _error(sm.create_hyper_parameter_tuning_job, **_request(datasets, "second"))
        assert limited["Error"]["Code"] == "ResourceLimitExceeded"
        _wait_for_running_training_job(sm, "long-job")
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="long-job")
        described = wait_until_terminal(sm, "long-job", timeout=60)
        assert described["HyperParameterTuningJobStatus"] == "Stopped"
        assert described["TrainingJobStatusCounters"]["InProgress"] == 0
        assert described["TrainingJobStatusCounters"]["Stopped"] >= 1
        again = _error(sm.stop_hyper_parameter_tuning_job, HyperParameterTuningJobName="long-job")
        assert again["Error"]["Code"] == "ValidationException"
        # Its slot is free again.
        sm.create_hyper_parameter_tuning_job(**_request(datasets, "second", max_jobs=2))
        assert wait_until_terminal(sm, "second")["HyperParameterTuningJobStatus"] == "Completed"
    finally:
        serve.stop()


def _wait_for_running_training_job(sm: Any, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, StatusEquals="InProgress"
        )["TrainingJobSummaries"]
        if any("TrainingStartTime" in s for s in running):
            return
        time.sleep(0.2)
    raise AssertionError(f"no training job of {name} started")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["shutdown", "crash"])
def test_a_job_survives_a_server_restart(tmp_path: Path, datasets, how: int) -> None:
    """Stopped or killed mid-job, a new server on the database finishes the job with exactly
    MaxNumberOfTrainingJobs training jobs, none lost or run twice."""
    serve = ServeProcess(tmp_path / "serve.db", tmp_path).start()
    sm = serve.client()
    sm.create_hyper_parameter_tuning_job(
        **_request(datasets, "restarted", max_jobs=8, num_round=80)
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counters = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="restarted")[
            "TrainingJobStatusCounters"
        ]
        if counters["Completed"] >= 2 and counters["InProgress"] >= 1:
            break
        time.sleep(0.2)
    serve.stop(how)
    serve.start()
    try:
        described = wait_until_terminal(serve.client(), "restarted")
        assert described["HyperParameterTuningJobStatus"] == "Completed"
        assert described["TrainingJobStatusCounters"]["Completed"] == 8
        names = [
            s["TrainingJobName"]
            for p in serve.client()
            .get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
            .paginate(HyperParameterTuningJobName="restarted")
            for s in p["TrainingJobSummaries"]
        ]
        assert sorted(int(n.split("-")[-2]) for n in names) == list(range(1, 9))
    finally:
        serve.stop()


def test_boto3_and_tuner_run_give_the_same_trials(
    server: ServeProcess, datasets, tmp_path
) -> None:
    """Same spec and RandomSeed, one training job at a time: the same hyperparameters in order,
    and each side sees the other's job in the shared database."""
    request = _request(datasets, "by-boto3", max_jobs=4, parallel=1)
    server.client().create_hyper_parameter_tuning_job(**request)
    spec = tmp_path / "same.json"
    spec.write_text(json.dumps({**request, "HyperParameterTuningJobName": "by-cli"}))
    run = subprocess.run(
        [sys.executable, "-m", "tuner.cli", "run", str(spec), "--db", str(server.db), "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    sm = server.client()
    wait_until_terminal(sm, "by-boto3")

    def tuned(name: str) -> list[dict[str, str]]:
        listed = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, SortBy="Name"
        )
        return [s["TunedHyperParameters"] for s in listed["TrainingJobSummaries"]]

    assert tuned("by-boto3") == tuned("by-cli")
    assert len(tuned("by-cli")) == 4
    names = [
        j["HyperParameterTuningJobName"]
        for j in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    ]
    assert names == ["by-boto3", "by-cli"]
    _check_job_listing(sm)


def _check_job_listing(sm: Any) -> None:
    """ListHyperParameterTuningJobs' sort, filters and paging on the two jobs."""
    pages = sm.get_paginator("list_hyper_parameter_tuning_jobs").paginate(
        SortBy="Name", SortOrder="Descending", PaginationConfig={"PageSize": 1}
    )
    pages = list(pages)
    assert len(pages) == 2
    assert [
        p["HyperParameterTuningJobSummaries"][0]["HyperParameterTuningJobName"] for p in pages
    ] == [
        "by-cli",
        "by-boto3",
    ]
    old = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    assert (
        sm.list_hyper_parameter_tuning_jobs(CreationTimeBefore=old)[
            "HyperParameterTuningJobSummaries"
        ]
        == []
    )
    after = sm.list_hyper_parameter_tuning_jobs(CreationTimeAfter=old, StatusEquals="Completed")
    assert len(after["HyperParameterTuningJobSummaries"]) == 2
    assert (
        sm.list_hyper_parameter_tuning_jobs(StatusEquals="InProgress")[
            "HyperParameterTuningJobSummaries"
        ]
        == []
    )


def test_the_server_refuses_to_start_unsafely(tmp_path: Path) -> None:
    def serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tuner.cli", "serve", "--db", str(tmp_path / "x.db"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", **env},
        )

    no_credentials = serve()
    assert no_credentials.returncode == 2
    assert "--access-key-id" in no_credentials.stderr
    exposed = serve("--insecure-no-auth", "--host", "0.0.0.0")
    assert exposed.returncode == 2
    assert "loopback" in exposed.stderr
    half = serve("--access-key-id", "AKID")
    assert half.returncode == 2


@pytest.mark.ray
def test_two_jobs_at_once_on_ray(tmp_path: Path, datasets) -> None:
    """With --executor ray the jobs share one Ray of the server's: the first to finish does
    not take the other's actors down."""
    serve = ServeProcess(tmp_path / "serve.db", tmp_path, "--executor", "ray").start()
    try:
        sm = serve.client()
        sm.create_hyper_parameter_tuning_job(**_request(datasets, "ray-short", max_jobs=2))
        sm.create_hyper_parameter_tuning_job(**_request(datasets, "ray-long", max_jobs=6))
        for name, jobs in (("ray-short", 2), ("ray-long", 6)):
            described = wait_until_terminal(sm, name, timeout=300)
            assert described["HyperParameterTuningJobStatus"] == "Completed", described
            assert described["TrainingJobStatusCounters"]["Completed"] == jobs
    finally:
        serve.stop()
