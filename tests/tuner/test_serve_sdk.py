"""The SageMaker Python SDK (v2) against ``tuner serve``, with only its session pointed here.

The one-time set-up the README documents: a ``sagemaker.Session`` over a boto3 session with
the server's credentials and a SageMaker client whose ``endpoint_url`` is the server, a role
ARN (any; nothing is assumed), and an ``s3://`` ``output_path`` on the Estimator (the SDK
refuses ``file://`` outside its local mode and would otherwise look up a default bucket; the
server writes the artifacts to its own ``--output`` folder). The data channels are ``file://``
URIs, which the server reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from tests.helpers.serve import ACCESS_KEY, REGION, SECRET_KEY, ServeProcess

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import sagemaker  # noqa: E402  (after the warning switch)
from sagemaker.estimator import Estimator  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter  # noqa: E402


@pytest.fixture
def session(tmp_path: Path):
    serve = ServeProcess(tmp_path / "serve.db", tmp_path).start()
    boto_session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    client = boto_session.client("sagemaker", endpoint_url=serve.endpoint)
    yield sagemaker.Session(boto_session=boto_session, sagemaker_client=client)
    serve.stop()


def test_the_sdk_tunes_waits_reads_and_attaches(session, datasets) -> None:
    data = datasets["breast_cancer"]
    estimator = Estimator(
        image_uri=sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"),
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        instance_count=1,
        instance_type="ml.m5.xlarge",
        output_path="s3://any-bucket/sdk-output",
        sagemaker_session=session,
        hyperparameters={"objective": "binary:logistic", "num_round": 15, "eval_metric": "auc"},
    )
    tuner = HyperparameterTuner(
        estimator,
        "validation:auc",
        {"eta": ContinuousParameter(0.05, 0.5), "max_depth": IntegerParameter(2, 8)},
        max_jobs=4,
        max_parallel_jobs=2,
        objective_type="Maximize",
        random_seed=7,
    )
    tuner.fit(
        {
            "train": TrainingInput(f"file://{data / 'train.csv'}", content_type="text/csv"),
            "validation": TrainingInput(
                f"file://{data / 'validation.csv'}", content_type="text/csv"
            ),
        },
        job_name="sdk-xgb",
    )
    tuner.wait()
    best = tuner.best_training_job()
    assert best.startswith("sdk-xgb-")

    frame = tuner.analytics().dataframe()
    assert len(frame) == 4
    assert {"eta", "max_depth", "FinalObjectiveValue", "TrainingJobName"} <= set(frame.columns)
    assert frame["FinalObjectiveValue"].max() > 0.9
    top = frame.sort_values("FinalObjectiveValue", ascending=False).iloc[0]
    assert top["TrainingJobName"] == best

    attached = HyperparameterTuner.attach("sdk-xgb", sagemaker_session=session)
    assert attached.best_training_job() == best
    assert attached.max_jobs == 4
    assert attached.estimator.image_uri == estimator.image_uri
    assert attached.estimator.instance_type == "ml.m5.xlarge"
    described = session.sagemaker_client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="sdk-xgb"
    )
    assert described["HyperParameterTuningJobStatus"] == "Completed"
