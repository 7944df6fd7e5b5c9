"""Hyperparameters that AWS itself sends are accepted, with the ranges AWS documents.

The SageMaker Python SDK's first-party estimators (``sagemaker.amazon.*``, read at
aws/sagemaker-python-sdk tag v2.257.6) send more than a user sets: ``KMeans`` always adds
``force_dense``, every ``AmazonAlgorithmEstimatorBase`` adds ``feature_dim`` and
``mini_batch_size`` (``src/sagemaker/amazon/amazon_estimator.py``), values go out as ``str()``
of the Python value (``"True"``, ``"1e-05"``) and lists as JSON (``hyperparameter.py``), and
``HyperparameterTuner`` adds ``_tuning_objective_metric`` and, with
``include_cls_metadata=True``, ``sagemaker_estimator_class_name`` and
``sagemaker_estimator_module`` (``src/sagemaker/tuner.py``). The SageMaker console fills
``dsplit`` into XGBoost 1.x jobs, and the XGBoost container validates deprecated names
(aws/sagemaker-xgboost-container: ``algorithm_mode/hyperparameter_validation.py``).

Each corrected bound follows the algorithm's developer guide page (xgboost_hyperparameters,
IC-Hyperparameter, ll_hyperparameters, fact-machines-hyperparameters) or, where the page is
silent, the container's validation: the boundary is accepted, just outside it is refused with
the hyperparameter named.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from algorithm_context import FakeContext
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from algorithms import get_algorithm
from algorithms.base import HyperparameterError, is_reserved, parse_hyperparameters
from algorithms.data import write_csv

#: What HyperparameterTuner.fit(include_cls_metadata=True) adds to the static hyperparameters
#: (src/sagemaker/tuner.py, _prepare_static_hyperparameters: json.dumps of the class and
#: module names), with AMT's objective key.
TUNER_ADDITIONS = {
    "sagemaker_estimator_class_name": '"KMeans"',
    "sagemaker_estimator_module": '"sagemaker.amazon.kmeans"',
    "_tuning_objective_metric": "test:msd",
}

# src/sagemaker/amazon/kmeans.py: KMeans(role, 1, "ml.c5.xlarge", k=3, init_method="kmeans++",
# max_iterations=50, tol=0.001, num_trials=2, local_init_method="random",
# half_life_time_size=0, epochs=2, center_factor=4, eval_metrics=["msd", "ssd"]).fit(records
# with feature_dim=4). KMeans.hyperparameters() starts from dict(force_dense="True");
# KMeans._prepare_for_training's mini_batch_size defaults to 5000; lists go out as JSON.
KMEANS_SDK = {
    "force_dense": "True",
    "k": "3",
    "init_method": "kmeans++",
    "local_lloyd_max_iter": "50",
    "local_lloyd_tol": "0.001",
    "local_lloyd_num_trials": "2",
    "local_lloyd_init_method": "random",
    "half_life_time_size": "0",
    "epochs": "2",
    "extra_center_factor": "4",
    "eval_metrics": '["msd", "ssd"]',
    "feature_dim": "4",
    "mini_batch_size": "5000",
}

# src/sagemaker/amazon/pca.py: PCA(role, 1, "ml.c5.xlarge", num_components=2,
# algorithm_mode="randomized", subtract_mean=True, extra_components=5).fit(records with
# feature_dim=4, num_records=150): mini_batch_size = min(DEFAULT_MINI_BATCH_SIZE=500,
# num_records / instance_count) (amazon_estimator._get_default_mini_batch_size).
PCA_SDK = {
    "num_components": "2",
    "algorithm_mode": "randomized",
    "subtract_mean": "True",
    "extra_components": "5",
    "feature_dim": "4",
    "mini_batch_size": "150",
}

# src/sagemaker/amazon/knn.py: KNN(role, 1, "ml.c5.xlarge", k=5, sample_size=100,
# predictor_type="classifier", dimension_reduction_type="sign", dimension_reduction_target=2,
# index_type="faiss.IVFPQ", index_metric="L2", faiss_index_ivf_nlists="auto",
# faiss_index_pq_m=1).fit(records with feature_dim=4, mini_batch_size=50).
KNN_SDK = {
    "k": "5",
    "sample_size": "100",
    "predictor_type": "classifier",
    "dimension_reduction_type": "sign",
    "dimension_reduction_target": "2",
    "index_type": "faiss.IVFPQ",
    "index_metric": "L2",
    "faiss_index_ivf_nlists": "auto",
    "faiss_index_pq_m": "1",
    "feature_dim": "4",
    "mini_batch_size": "50",
}

# src/sagemaker/amazon/linear_learner.py: LinearLearner(role, 1, "ml.c5.xlarge", every
# binary-classifier argument set: predictor_type="binary_classifier",
# binary_classifier_model_selection_criteria="precision_at_target_recall", target_recall=0.9,
# target_precision=0.8, positive_example_weight_mult="balanced", epochs=5, use_bias=True,
# num_models=2, num_calibration_samples=1000, init_method="normal", init_scale=0.07,
# init_sigma=0.01, init_bias=0.0, optimizer="adam", loss="logistic", wd=0.0001, l1=0.0,
# momentum=0.0, learning_rate=0.01, beta_1=0.9, beta_2=0.999, bias_lr_mult=1.0,
# bias_wd_mult=0.0, use_lr_scheduler=True, lr_scheduler_step=100, lr_scheduler_factor=0.99,
# lr_scheduler_minimum_lr=1e-05, normalize_data=True, normalize_label=False, unbias_data=True,
# unbias_label=False, num_point_for_scaler=10000, margin=1.0, early_stopping_patience=3,
# early_stopping_tolerance=0.001, f_beta=1.0).fit(records with feature_dim=30,
# num_records=5000): mini_batch_size = min(DEFAULT_MINI_BATCH_SIZE=1000, 5000).
LINEAR_LEARNER_BINARY_SDK = {
    "predictor_type": "binary_classifier",
    "binary_classifier_model_selection_criteria": "precision_at_target_recall",
    "target_recall": "0.9",
    "target_precision": "0.8",
    "positive_example_weight_mult": "balanced",
    "epochs": "5",
    "use_bias": "True",
    "num_models": "2",
    "num_calibration_samples": "1000",
    "init_method": "normal",
    "init_scale": "0.07",
    "init_sigma": "0.01",
    "init_bias": "0.0",
    "optimizer": "adam",
    "loss": "logistic",
    "wd": "0.0001",
    "l1": "0.0",
    "momentum": "0.0",
    "learning_rate": "0.01",
    "beta_1": "0.9",
    "beta_2": "0.999",
    "bias_lr_mult": "1.0",
    "bias_wd_mult": "0.0",
    "use_lr_scheduler": "True",
    "lr_scheduler_step": "100",
    "lr_scheduler_factor": "0.99",
    "lr_scheduler_minimum_lr": "1e-05",
    "normalize_data": "True",
    "normalize_label": "False",
    "unbias_data": "True",
    "unbias_label": "False",
    "num_point_for_scaler": "10000",
    "margin": "1.0",
    "early_stopping_patience": "3",
    "early_stopping_tolerance": "0.001",
    "f_beta": "1.0",
    "feature_dim": "30",
    "mini_batch_size": "1000",
}

# The same file, the multiclass and regressor arguments: LinearLearner(...,
# predictor_type="multiclass_classifier", num_classes=3, accuracy_top_k=2,
# balance_multiclass_weights=True, loss="softmax_loss", optimizer="sgd", momentum=0.9) and
# LinearLearner(..., predictor_type="regressor", loss="huber_loss", huber_delta=1.0,
# quantile=0.5, loss_insensitivity=0.01, normalize_label=True, optimizer="rmsprop").
LINEAR_LEARNER_MULTICLASS_SDK = {
    "predictor_type": "multiclass_classifier",
    "num_classes": "3",
    "accuracy_top_k": "2",
    "balance_multiclass_weights": "True",
    "loss": "softmax_loss",
    "optimizer": "sgd",
    "momentum": "0.9",
    "epochs": "5",
    "feature_dim": "4",
    "mini_batch_size": "100",
}
LINEAR_LEARNER_REGRESSOR_SDK = {
    "predictor_type": "regressor",
    "loss": "huber_loss",
    "huber_delta": "1.0",
    "quantile": "0.5",
    "loss_insensitivity": "0.01",
    "normalize_label": "True",
    "optimizer": "rmsprop",
    "epochs": "5",
    "feature_dim": "10",
    "mini_batch_size": "100",
}

# src/sagemaker/amazon/factorization_machines.py: FactorizationMachines(role, 1, "ml.c5.xlarge",
# num_factors=4, predictor_type="binary_classifier", epochs=2, clip_gradient=5.0, eps=1e-08,
# rescale_grad=1.0, bias_lr=0.1, linear_lr=0.001, factors_lr=0.0001, bias_wd=0.01,
# linear_wd=0.001, factors_wd=1e-05, bias_init_method="normal", bias_init_scale=0.01,
# bias_init_sigma=0.01, bias_init_value=0.0, linear_init_method="uniform",
# linear_init_scale=0.01, linear_init_sigma=0.01, linear_init_value=0.0,
# factors_init_method="constant", factors_init_scale=0.001, factors_init_sigma=0.001,
# factors_init_value=0.001).fit(records with feature_dim=30, mini_batch_size=100).
FACTORIZATION_MACHINES_SDK = {
    "num_factors": "4",
    "predictor_type": "binary_classifier",
    "epochs": "2",
    "clip_gradient": "5.0",
    "eps": "1e-08",
    "rescale_grad": "1.0",
    "bias_lr": "0.1",
    "linear_lr": "0.001",
    "factors_lr": "0.0001",
    "bias_wd": "0.01",
    "linear_wd": "0.001",
    "factors_wd": "1e-05",
    "bias_init_method": "normal",
    "bias_init_scale": "0.01",
    "bias_init_sigma": "0.01",
    "bias_init_value": "0.0",
    "linear_init_method": "uniform",
    "linear_init_scale": "0.01",
    "linear_init_sigma": "0.01",
    "linear_init_value": "0.0",
    "factors_init_method": "constant",
    "factors_init_scale": "0.001",
    "factors_init_sigma": "0.001",
    "factors_init_value": "0.001",
    "feature_dim": "30",
    "mini_batch_size": "100",
}

# src/sagemaker/amazon/lda.py: LDA(role, "ml.c5.xlarge", num_topics=5, alpha0=1.0,
# max_restarts=10, max_iterations=1000, tol=1e-8).fit(records with feature_dim=100,
# mini_batch_size=20) (LDA needs mini_batch_size at fit time).
LDA_SDK = {
    "num_topics": "5",
    "alpha0": "1.0",
    "max_restarts": "10",
    "max_iterations": "1000",
    "tol": "1e-08",
    "feature_dim": "100",
    "mini_batch_size": "20",
}

# src/sagemaker/amazon/ntm.py: NTM(role, 1, "ml.c5.xlarge", num_topics=5, encoder_layers=[30, 20],
# epochs=10, encoder_layers_activation="relu", optimizer="adam", tolerance=0.001,
# num_patience_epochs=3, batch_norm=True, rescale_gradient=1.0, clip_gradient=5.0,
# weight_decay=0.0, learning_rate=0.01).fit(records with feature_dim=100, mini_batch_size=64):
# encoder_layers has data_type=list, sent as JSON; the bool goes out as str(True).
NTM_SDK = {
    "num_topics": "5",
    "encoder_layers": "[30, 20]",
    "epochs": "10",
    "encoder_layers_activation": "relu",
    "optimizer": "adam",
    "tolerance": "0.001",
    "num_patience_epochs": "3",
    "batch_norm": "True",
    "rescale_gradient": "1.0",
    "clip_gradient": "5.0",
    "weight_decay": "0.0",
    "learning_rate": "0.01",
    "feature_dim": "100",
    "mini_batch_size": "64",
}

# src/sagemaker/amazon/randomcutforest.py: RandomCutForest(role, 1, "ml.c5.xlarge",
# num_samples_per_tree=256, num_trees=50, eval_metrics=["accuracy", "precision_recall_fscore"])
# .fit(records with feature_dim=5): MINI_BATCH_SIZE = 1000.
RANDOM_CUT_FOREST_SDK = {
    "num_samples_per_tree": "256",
    "num_trees": "50",
    "eval_metrics": '["accuracy", "precision_recall_fscore"]',
    "feature_dim": "5",
    "mini_batch_size": "1000",
}

# src/sagemaker/amazon/ipinsights.py: IPInsights(role, 1, "ml.c5.xlarge", num_entity_vectors=10000,
# vector_dim=128, batch_metrics_publish_interval=100, epochs=10, learning_rate=0.001,
# num_ip_encoder_layers=3, random_negative_sampling_rate=5, shuffled_negative_sampling_rate=5,
# weight_decay=5.0).fit(RecordSet(..., feature_dim=None), mini_batch_size=200), as its unit
# test (tests/unit/test_ipinsights.py) builds it: a feature_dim of None is not sent.
IP_INSIGHTS_SDK = {
    "num_entity_vectors": "10000",
    "vector_dim": "128",
    "batch_metrics_publish_interval": "100",
    "epochs": "10",
    "learning_rate": "0.001",
    "num_ip_encoder_layers": "3",
    "random_negative_sampling_rate": "5",
    "shuffled_negative_sampling_rate": "5",
    "weight_decay": "5.0",
    "mini_batch_size": "200",
}

# BlazingText has no sagemaker.amazon estimator: sagemaker.estimator.Estimator(image_uri=<the
# blazingtext image>).set_hyperparameters(...) sends str() of each value, as the examples
# notebooks set them: introduction_to_amazon_algorithms/blazingtext_word2vec_text8 (batch_skipgram)
# and blazingtext_text_classification_dbpedia (supervised).
BLAZINGTEXT_WORD2VEC_SDK = {
    "mode": "batch_skipgram",
    "epochs": "5",
    "min_count": "5",
    "sampling_threshold": "0.0001",
    "learning_rate": "0.05",
    "window_size": "5",
    "vector_dim": "100",
    "negative_samples": "5",
    "batch_size": "11",
    "evaluation": "True",
    "subwords": "False",
}
BLAZINGTEXT_SUPERVISED_SDK = {
    "mode": "supervised",
    "epochs": "10",
    "min_count": "2",
    "learning_rate": "0.05",
    "vector_dim": "10",
    "early_stopping": "True",
    "patience": "4",
    "min_epochs": "5",
    "word_ngrams": "2",
}

# XGBoost has no sagemaker.amazon estimator: sagemaker.estimator.Estimator(image_uri=<xgboost
# 1.x image>, hyperparameters={...}) sends the user's dict as is. This one is a console-made
# job (the console fills dsplit) with the container's deprecated and alias names
# (hyperparameter_validation.py: dsplit, prob_buffer_row, predictor, save_model_on_termination,
# updater, refresh_leaf, process_type, sketch_eps, csv_weights, base_score, declare_alias).
XGBOOST_CONSOLE = {
    "num_round": "3",
    "objective": "binary:logistic",
    "dsplit": "row",
    "prob_buffer_row": "2",
    "predictor": "cpu_predictor",
    "save_model_on_termination": "false",
    "silent": "0",
    "sketch_eps": "0.03",
    "lambda_bias": "0",
    "refresh_leaf": "1",
    "process_type": "default",
    "updater": "grow_colmaker,prune",
    "csv_weights": "0",
    "base_score": "0.5",
    "learning_rate": "0.2",
    "min_split_loss": "0",
    "reg_lambda": "1",
    "reg_alpha": "0",
    "colsample_bylevel": "1",
    "colsample_bytree": "1",
    "colsample_bynode": "1",
    "subsample": "1",
    "max_depth": "3",
}

# src/sagemaker/model.py and estimator.py: what a Framework estimator adds (sagemaker_program,
# sagemaker_submit_directory, sagemaker_container_log_level, sagemaker_job_name,
# sagemaker_region); the tuner's additions as above.
SDK_FRAMEWORK_ADDITIONS = {
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/source/sourcedir.tar.gz"',
    "sagemaker_container_log_level": "20",
    "sagemaker_job_name": '"xgboost-2024-01-01-00-00-00-000"',
    "sagemaker_region": '"us-east-1"',
    "sagemaker_estimator_class_name": '"XGBoost"',
    "sagemaker_estimator_module": '"sagemaker.xgboost.estimator"',
}

SDK_SENDS = [
    ("kmeans", KMEANS_SDK),
    ("pca", PCA_SDK),
    ("knn", KNN_SDK),
    ("linear-learner", LINEAR_LEARNER_BINARY_SDK),
    ("linear-learner", LINEAR_LEARNER_MULTICLASS_SDK),
    ("linear-learner", LINEAR_LEARNER_REGRESSOR_SDK),
    ("factorization-machines", FACTORIZATION_MACHINES_SDK),
    ("lda", LDA_SDK),
    ("ntm", NTM_SDK),
    ("ip-insights", IP_INSIGHTS_SDK),
    ("blazingtext", BLAZINGTEXT_WORD2VEC_SDK),
    ("blazingtext", BLAZINGTEXT_SUPERVISED_SDK),
    ("random-cut-forest", RANDOM_CUT_FOREST_SDK),
    ("xgboost", XGBOOST_CONSOLE),
]


def _specs(algorithm: str) -> Mapping[str, Any]:
    return get_algorithm(algorithm).hyperparameters


@pytest.mark.parametrize(("algorithm", "sent"), SDK_SENDS, ids=[a for a, _ in SDK_SENDS])
def test_what_the_sdk_sends_parses(algorithm: str, sent: dict[str, str]) -> None:
    values = parse_hyperparameters(_specs(algorithm), sent)
    assert set(sent) <= set(values)


@pytest.mark.parametrize(("algorithm", "sent"), SDK_SENDS, ids=[a for a, _ in SDK_SENDS])
def test_the_tuners_own_names_pass_through(algorithm: str, sent: dict[str, str]) -> None:
    raw = {**sent, **TUNER_ADDITIONS, **SDK_FRAMEWORK_ADDITIONS}
    values = parse_hyperparameters(_specs(algorithm), raw)
    for name in {**TUNER_ADDITIONS, **SDK_FRAMEWORK_ADDITIONS}:
        assert is_reserved(name)
        assert values[name] == raw[name]  # untouched


def test_unknown_names_are_still_refused() -> None:
    with pytest.raises(HyperparameterError, match="'sagemakr_typo' is not known"):
        parse_hyperparameters(_specs("kmeans"), {**KMEANS_SDK, "sagemakr_typo": "1"})
    assert not is_reserved("sagemakerish")


def test_kmeans_accepts_force_dense() -> None:
    specs = _specs("kmeans")
    required = {"feature_dim": "4", "k": "3"}
    assert parse_hyperparameters(specs, {**required, "force_dense": "True"})["force_dense"]
    assert not parse_hyperparameters(specs, {**required, "force_dense": "false"})["force_dense"]
    with pytest.raises(HyperparameterError, match="'force_dense'.*true or false"):
        parse_hyperparameters(specs, {**required, "force_dense": "dense"})


def test_xgboost_accepts_dsplit() -> None:
    specs = _specs("xgboost")
    for value in ("row", "col"):
        assert parse_hyperparameters(specs, {"num_round": "1", "dsplit": value})["dsplit"] == value
    with pytest.raises(HyperparameterError, match="'dsplit'.*one of row, col"):
        parse_hyperparameters(specs, {"num_round": "1", "dsplit": "column"})


def test_static_sagemaker_names_pass_request_validation() -> None:
    from tuner.spec.algorithm import check_algorithm_hyperparameters
    from tuner.spec.problems import Problems

    problems = Problems()
    static = {**KMEANS_SDK, **TUNER_ADDITIONS, "sagemaker_estimator_module": '"x"'}
    check_algorithm_hyperparameters(_specs("kmeans"), static, {}, problems)
    assert problems.items == []
    check_algorithm_hyperparameters(_specs("xgboost"), XGBOOST_CONSOLE, {}, problems)
    assert problems.items == []
    check_algorithm_hyperparameters(_specs("kmeans"), {**KMEANS_SDK, "forced": "1"}, {}, problems)
    assert len(problems.items) == 1
    assert "not a hyperparameter of this algorithm" in problems.items[0]


# -- corrected bounds ----------------------------------------------------------------------------

REQUIRED = {
    "xgboost": {"num_round": "1"},
    "image-classification": {"num_classes": "2", "num_training_samples": "10"},
    "linear-learner": {"predictor_type": "binary_classifier"},
    "factorization-machines": {
        "feature_dim": "4",
        "num_factors": "2",
        "predictor_type": "regressor",
    },
}

#: (algorithm, hyperparameter, the boundary (accepted), just outside it (refused), source).
BOUNDS = [
    # xgboost_hyperparameters: "Range: [0,1]" (colsample_bynode alone is (0,1]).
    ("xgboost", "colsample_bylevel", "0", "-0.001"),
    ("xgboost", "colsample_bytree", "0", "-0.001"),
    ("xgboost", "subsample", "0", "-0.001"),
    # xgboost_hyperparameters: sketch_eps "Range: [0, 1]".
    ("xgboost", "sketch_eps", "0", "-0.001"),
    ("xgboost", "sketch_eps", "1", "1.001"),
    # hyperparameter_validation.py: aft_loss_distribution_scale Interval(min_closed=0),
    # prob_buffer_row Interval(min_open=1.0).
    ("xgboost", "aft_loss_distribution_scale", "0", "-0.001"),
    ("xgboost", "prob_buffer_row", "2", "1"),
    # IC-Hyperparameter: num_classes "positive integer"; beta_1, beta_2, eps, learning_rate,
    # lr_scheduler_factor "Range in [0, 1]".
    ("image-classification", "num_classes", "1", "0"),
    ("image-classification", "beta_1", "1", "1.001"),
    ("image-classification", "beta_2", "1", "1.001"),
    ("image-classification", "eps", "0", "-0.001"),
    ("image-classification", "learning_rate", "0", "-0.001"),
    ("image-classification", "lr_scheduler_factor", "0", "-0.001"),
    # ll_hyperparameters: accuracy_top_k "Positive integers" (no upper bound).
    ("linear-learner", "accuracy_top_k", "2000000", "0"),
    # fact-machines-hyperparameters: eps "Float" (0 accepted; torch refuses a negative one).
    ("factorization-machines", "eps", "0", "-1e-09"),
]


@pytest.mark.parametrize(
    ("algorithm", "name", "boundary", "outside"),
    BOUNDS,
    ids=[f"{a}-{n}-{b}" for a, n, b, _ in BOUNDS],
)
def test_documented_bound(algorithm: str, name: str, boundary: str, outside: str) -> None:
    specs = _specs(algorithm)
    values = parse_hyperparameters(specs, {**REQUIRED[algorithm], name: boundary})
    assert values[name] == float(boundary)
    with pytest.raises(HyperparameterError, match=f"'{name}'"):
        parse_hyperparameters(specs, {**REQUIRED[algorithm], name: outside})


def test_xgboost_colsample_bynode_stays_open_at_zero() -> None:
    specs = _specs("xgboost")
    assert parse_hyperparameters(specs, {"num_round": "1", "colsample_bynode": "1"})
    with pytest.raises(HyperparameterError, match="'colsample_bynode'.*> 0"):
        parse_hyperparameters(specs, {"num_round": "1", "colsample_bynode": "0"})


def test_linear_learner_normalize_data_takes_auto() -> None:
    """ll_hyperparameters: normalize_data "auto, true, or false"."""
    specs = _specs("linear-learner")
    required = REQUIRED["linear-learner"]
    auto = parse_hyperparameters(specs, {**required, "normalize_data": "auto"})
    assert auto["normalize_data"] == "auto"
    off = parse_hyperparameters(specs, {**required, "normalize_data": "False"})
    assert off["normalize_data"] is False
    with pytest.raises(HyperparameterError, match="'normalize_data'"):
        parse_hyperparameters(specs, {**required, "normalize_data": "sometimes"})


def test_image_classification_adam_takes_betas_of_one() -> None:
    """torch's Adam refuses beta = 1; it runs as its limit, and the weights stay finite."""
    torch = pytest.importorskip("torch")
    from algorithms.image_classification import _optimizer

    weight = torch.nn.Parameter(torch.ones(3))
    values = {
        "optimizer": "adam",
        "learning_rate": 0.1,
        "beta_1": 1.0,
        "beta_2": 1.0,
        "eps": 1e-8,
    }
    optimizer = _optimizer(values, [weight])
    for _ in range(3):
        optimizer.zero_grad()
        (weight * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
        optimizer.step()
    assert torch.isfinite(weight).all()
    assert (weight.detach() != 1.0).all()  # it learns: the moments are the gradients' means


# -- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
    directory = tmp_path_factory.mktemp("cancer")
    channels = {"train": directory / "train.csv", "validation": directory / "validation.csv"}
    write_csv(channels["train"], X_train, y_train)
    write_csv(channels["validation"], X_val, y_val)
    return channels


@pytest.mark.usefixtures("one_torch_thread")
def test_kmeans_trains_with_what_the_sdk_and_tuner_send(
    iris: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    ctx = FakeContext(tmp_path)
    get_algorithm("kmeans").train({**KMEANS_SDK, **TUNER_ADDITIONS}, iris, ctx)
    assert KMEANS_SDK["force_dense"] == "True"
    assert ctx.epochs == [1, 2]
    assert np.isfinite(ctx.last("test:msd"))
    assert np.isfinite(ctx.last("test:ssd"))
    assert (tmp_path / "kmeans-model.npz").is_file()


def test_xgboost_trains_with_dsplit_row(
    cancer: dict[str, Path], tmp_path: Path, passed_params: list[dict[str, object]]
) -> None:
    hp = {
        **XGBOOST_CONSOLE,
        "sagemaker_estimator_class_name": '"Estimator"',
        "sagemaker_estimator_module": '"sagemaker.estimator"',
        "_tuning_objective_metric": "validation:auc",
    }
    assert hp["dsplit"] == "row"
    ctx = FakeContext(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_algorithm("xgboost").train(hp, cancer, ctx)
    assert ctx.epochs == [1, 2, 3]
    assert ctx.last("validation:auc") > 0.9
    assert not [w for w in caught if "not used" in str(w.message)]  # nothing xgboost ignores
    (params,) = passed_params
    ignored = ("dsplit", "prob_buffer_row", "predictor", "save_model_on_termination", "silent")
    assert not set(params) & {*ignored, "sketch_eps", "lambda_bias"}
    assert not [name for name in params if name.startswith(("_", "sagemaker_"))]
    # The container's aliases reach xgboost under their canonical names.
    assert params["eta"] == 0.2
    assert params["gamma"] == 0.0
    assert params["lambda"] == 1.0
    assert params["alpha"] == 0.0
    assert not set(params) & {"learning_rate", "min_split_loss", "reg_lambda", "reg_alpha"}
    assert params["updater"] == "grow_colmaker,prune"


def test_xgboost_canonical_name_wins_over_its_alias(
    cancer: dict[str, Path], tmp_path: Path, passed_params: list[dict[str, object]]
) -> None:
    hp = {"num_round": "1", "objective": "binary:logistic", "eta": "0.1", "learning_rate": "0.5"}
    get_algorithm("xgboost").train(hp, cancer, FakeContext(tmp_path))
    assert passed_params[0]["eta"] == 0.1
    assert "learning_rate" not in passed_params[0]


def test_xgboost_trains_with_documented_zero_ratios(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    hp = {
        "num_round": "2",
        "objective": "binary:logistic",
        "colsample_bylevel": "0",
        "colsample_bytree": "0",
        "subsample": "0",
    }
    ctx = FakeContext(tmp_path)
    get_algorithm("xgboost").train(hp, cancer, ctx)
    assert ctx.epochs == [1, 2]  # xgboost keeps at least one column; nothing fails


@pytest.mark.usefixtures("one_torch_thread")
def test_linear_learner_normalize_data_auto_is_true(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    hp = {"predictor_type": "binary_classifier", "epochs": "2", "mini_batch_size": "64"}
    reports = []
    for value in ("auto", "true"):
        ctx = FakeContext(tmp_path / value)
        get_algorithm("linear-learner").train({**hp, "normalize_data": value}, cancer, ctx)
        reports.append(ctx.reports)
    assert reports[0] == reports[1]
