"""The algorithm contract, run against every built-in algorithm.

Every algorithm in ``algorithms.BUILTIN_ALGORITHMS`` must have a line in :data:`CASES` (a test
fails, it does not skip, when one is missing): a small dataset, hyperparameters that train in
a second, the objective it reports, the hyperparameters AMT documents for it and those it
requires, and the hyperparameter that sets its number of epochs. From that line it gets
every test here: registered under its name, the protocol, every documented hyperparameter
declared, a bad hyperparameter named, a missing channel a clear error, epochs reported in order
with declared metrics only, a stop request honoured after the model is saved, a
``StopTraining`` from ``report`` ending training after saving, the same results for the same
hyperparameters, a saved model that loads and predicts, and training on CUDA where there is
a GPU. What is particular to one algorithm stays in ``tests/algorithms/test_<name>.py``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from algorithm_context import CheckpointingContext, Crash, FakeContext
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.model_selection import train_test_split

from algorithms import BUILTIN_ALGORITHMS, HyperparameterError, InputError, get_algorithm
from algorithms.base import Algorithm, StopTraining, parse_hyperparameters
from algorithms.data import load_channel, write_csv


@dataclass(frozen=True)
class Case:
    """One algorithm's line: what it trains on and what AMT documents for it."""

    name: str
    data: str  # a key of DATASETS
    hyperparameters: dict[str, str]
    objective: str | None  # a declared metric it reports (None: AMT documents none)
    documented: frozenset[str]
    required: frozenset[str]
    epochs: str | None  # the hyperparameter setting its epochs; None: it trains in one pass
    informational: frozenset[str] = field(default_factory=frozenset)  # reported, not tunable
    torch: bool = True


def _names(*groups: str) -> frozenset[str]:
    return frozenset(name for group in groups for name in group.split())


CASES = [
    Case(
        "xgboost",
        "cancer",
        {"num_round": "4", "objective": "binary:logistic", "eval_metric": "auc"},
        "validation:auc",
        _names(
            "num_round num_class alpha base_score booster colsample_bylevel colsample_bynode",
            "colsample_bytree csv_weights deterministic_histogram early_stopping_rounds eta",
            "eval_metric gamma grow_policy interaction_constraints lambda lambda_bias max_bin",
            "max_delta_step max_depth max_leaves min_child_weight monotone_constraints",
            "normalize_type nthread objective one_drop process_type rate_drop refresh_leaf",
            "sample_type scale_pos_weight seed sketch_eps skip_drop single_precision_histogram",
            "subsample tree_method tweedie_variance_power updater use_dask_gpu_training verbosity",
        ),
        frozenset({"num_round"}),
        "num_round",
        torch=False,
    ),
    Case(
        "linear-learner",
        "cancer",
        {"predictor_type": "binary_classifier", "mini_batch_size": "64", "epochs": "3"},
        "validation:binary_classification_accuracy",
        _names(
            "predictor_type num_classes accuracy_top_k balance_multiclass_weights beta_1 beta_2",
            "bias_lr_mult bias_wd_mult binary_classifier_model_selection_criteria",
            "early_stopping_patience early_stopping_tolerance epochs f_beta feature_dim",
            "huber_delta init_bias init_method init_scale init_sigma l1 learning_rate loss",
            "loss_insensitivity lr_scheduler_factor lr_scheduler_minimum_lr lr_scheduler_step",
            "margin mini_batch_size momentum normalize_data normalize_label",
            "num_calibration_samples num_models num_point_for_scaler optimizer",
            "positive_example_weight_mult quantile target_precision target_recall unbias_data",
            "unbias_label use_bias use_lr_scheduler wd",
        ),
        frozenset({"predictor_type"}),
        "epochs",
    ),
    Case(
        "factorization-machines",
        "cancer",
        {
            "predictor_type": "binary_classifier",
            "feature_dim": "30",
            "num_factors": "2",
            "epochs": "3",
            "mini_batch_size": "64",
        },
        "test:binary_classification_accuracy",
        _names(
            "feature_dim num_factors predictor_type clip_gradient epochs eps mini_batch_size",
            "rescale_grad bias_lr bias_wd bias_init_method bias_init_scale bias_init_sigma",
            "bias_init_value linear_lr linear_wd linear_init_method linear_init_scale",
            "linear_init_sigma linear_init_value factors_lr factors_wd factors_init_method",
            "factors_init_scale factors_init_sigma factors_init_value",
        ),
        frozenset({"feature_dim", "num_factors", "predictor_type"}),
        "epochs",
    ),
    Case(
        "knn",
        "iris",
        {"feature_dim": "4", "k": "5", "predictor_type": "classifier", "sample_size": "500"},
        "test:accuracy",
        _names(
            "feature_dim k predictor_type sample_size dimension_reduction_target",
            "dimension_reduction_type faiss_index_ivf_nlists faiss_index_pq_m index_metric",
            "index_type mini_batch_size",
        ),
        frozenset({"feature_dim", "k", "predictor_type", "sample_size"}),
        None,
    ),
    Case(
        "kmeans",
        "iris",
        {"feature_dim": "4", "k": "3", "epochs": "3", "mini_batch_size": "32"},
        "test:msd",
        _names(
            "feature_dim k epochs eval_metrics extra_center_factor half_life_time_size",
            "init_method local_lloyd_init_method local_lloyd_max_iter local_lloyd_num_trials",
            "local_lloyd_tol mini_batch_size",
        ),
        frozenset({"feature_dim", "k"}),
        "epochs",
    ),
    Case(
        "pca",
        "digits",
        {"feature_dim": "64", "mini_batch_size": "100", "num_components": "5"},
        None,
        _names("feature_dim mini_batch_size num_components algorithm_mode subtract_mean"),
        frozenset({"feature_dim", "mini_batch_size", "num_components"}),
        None,
        informational=frozenset({"train:explained_variance_ratio"}),
    ),
    Case(
        "lda",
        "digits",  # pixel intensities 0..16: 64-word count vectors
        {
            "num_topics": "5",
            "feature_dim": "64",
            "mini_batch_size": "200",
            "max_restarts": "2",
            "max_iterations": "3",
        },
        "test:pwll",
        _names("num_topics feature_dim mini_batch_size alpha0 max_restarts max_iterations tol"),
        frozenset({"num_topics", "feature_dim", "mini_batch_size"}),
        "max_iterations",
        informational=frozenset({"train:pwll"}),
        torch=False,
    ),
    Case(
        "ntm",
        "digits",  # pixel intensities 0..16: 64-word count vectors
        {"num_topics": "5", "feature_dim": "64", "epochs": "3", "mini_batch_size": "64"},
        "validation:total_loss",
        _names(
            "num_topics feature_dim batch_norm clip_gradient encoder_layers",
            "encoder_layers_activation epochs learning_rate mini_batch_size",
            "num_patience_epochs optimizer rescale_gradient sub_sample tolerance weight_decay",
        ),
        frozenset({"num_topics", "feature_dim"}),
        "epochs",
        informational=frozenset(
            f"{data}:{loss}"
            for data in ("train", "validation", "test")
            for loss in ("total_loss", "rec_loss", "kld_loss")
        )
        - {"validation:total_loss"},
    ),
    Case(
        "image-classification",
        "images",
        {
            "num_classes": "10",
            "num_training_samples": "48",
            "image_shape": "1,16,16",
            "num_layers": "8",
            "epochs": "2",
            "mini_batch_size": "16",
        },
        "validation:accuracy",
        _names(
            "num_classes num_training_samples augmentation_type beta_1 beta_2",
            "checkpoint_frequency early_stopping early_stopping_min_epochs",
            "early_stopping_patience early_stopping_tolerance epochs eps gamma image_shape",
            "kv_store learning_rate lr_scheduler_factor lr_scheduler_step mini_batch_size",
            "momentum multi_label num_layers optimizer precision_dtype resize top_k",
            "use_pretrained_model use_weighted_loss weight_decay",
        ),
        frozenset({"num_classes", "num_training_samples"}),
        "epochs",
    ),
    Case(
        "ip-insights",
        "ips",  # (entity, IPv4) pairs, each entity on a few subnets of its own
        {"num_entity_vectors": "1000", "vector_dim": "8", "epochs": "2", "mini_batch_size": "200"},
        "validation:discriminator_auc",
        _names(
            "num_entity_vectors vector_dim batch_metrics_publish_interval epochs learning_rate",
            "mini_batch_size num_ip_encoder_layers random_negative_sampling_rate",
            "shuffled_negative_sampling_rate weight_decay",
        ),
        frozenset({"num_entity_vectors", "vector_dim"}),
        "epochs",
        informational=frozenset(
            {
                "train:binary_classification_cross_entropy",
                "validation:binary_classification_cross_entropy",
            }
        ),
    ),
    Case(
        "blazingtext",
        "text",  # __label__<group> lines from the planted synonym groups (supervised mode)
        {"mode": "supervised", "vector_dim": "8", "epochs": "2", "learning_rate": "0.5"},
        "validation:accuracy",
        _names(
            "mode batch_size buckets epochs evaluation learning_rate min_char min_count",
            "max_char negative_samples sampling_threshold subwords vector_dim window_size",
            "early_stopping min_epochs patience word_ngrams",
        ),
        frozenset({"mode"}),
        "epochs",
        informational=frozenset({"train:accuracy"}),
    ),
    Case(
        "semantic-segmentation",
        "shapes",  # 32x32 JPEG images of rectangles and discs with their PNG masks
        {
            "num_classes": "3",
            "num_training_samples": "8",
            "use_pretrained_model": "False",
            "base_size": "32",
            "crop_size": "32",
            "epochs": "2",
            "mini_batch_size": "4",
        },
        "validation:mIOU",
        _names(
            "backbone use_pretrained_model algorithm num_classes num_training_samples",
            "base_size crop_size early_stopping early_stopping_min_epochs",
            "early_stopping_patience early_stopping_tolerance epochs gamma1 gamma2",
            "learning_rate lr_scheduler lr_scheduler_factor lr_scheduler_step mini_batch_size",
            "momentum optimizer syncbn validation_mini_batch_size weight_decay",
        ),
        frozenset({"num_classes", "num_training_samples"}),
        "epochs",
    ),
    Case(
        "deepar",
        "series",  # related hourly seasonal series, JSON Lines; test = train + prediction_length
        {
            "time_freq": "H",
            "context_length": "12",
            "prediction_length": "6",
            "epochs": "2",
            "num_cells": "8",
            "num_layers": "1",
            "mini_batch_size": "16",
            "num_eval_samples": "20",
        },
        "test:RMSE",
        _names(
            "context_length epochs prediction_length time_freq cardinality dropout_rate",
            "early_stopping_patience embedding_dimension learning_rate likelihood",
            "mini_batch_size num_cells num_dynamic_feat num_eval_samples num_layers",
            "test_quantiles",
        ),
        frozenset({"context_length", "epochs", "prediction_length", "time_freq"}),
        "epochs",
        informational=frozenset(
            {"train:loss", *(f"test:wQuantileLoss[{q / 10:g}]" for q in range(1, 10))}
        ),
    ),
    Case(
        "object2vec",
        "pairs",  # JSON Lines token-sequence pairs labelled by a shared planted topic
        {
            "enc0_max_seq_len": "20",
            "enc0_vocab_size": "136",
            "enc0_network": "pooled_embedding",
            "enc_dim": "8",
            "enc0_token_embedding_dim": "8",
            "mlp_dim": "16",
            "epochs": "2",
            "learning_rate": "0.01",
        },
        "validation:accuracy",
        _names(
            "enc0_max_seq_len enc0_vocab_size bucket_width comparator_list dropout",
            "early_stopping_patience early_stopping_tolerance enc_dim enc0_network",
            "enc0_cnn_filter_width enc0_freeze_pretrained_embedding enc0_layers",
            "enc0_pretrained_embedding_file enc0_token_embedding_dim enc0_vocab_file",
            "enc1_network enc1_cnn_filter_width enc1_freeze_pretrained_embedding enc1_layers",
            "enc1_max_seq_len enc1_pretrained_embedding_file enc1_token_embedding_dim",
            "enc1_vocab_file enc1_vocab_size epochs learning_rate mini_batch_size",
            "mlp_activation mlp_dim mlp_layers negative_sampling_rate num_classes optimizer",
            "output_layer tied_token_embedding_weight token_embedding_storage_type weight_decay",
        ),
        frozenset({"enc0_max_seq_len", "enc0_vocab_size"}),
        "epochs",
        informational=frozenset({"train:cross_entropy", "train:mean_squared_error"}),
    ),
    Case(
        "object-detection",
        "boxes",  # generated coloured shapes with their boxes, PNG images + JSON annotations
        {
            "num_classes": "3",
            "num_training_samples": "12",
            "image_shape": "32",
            "epochs": "2",
            "mini_batch_size": "6",
            "use_pretrained_model": "0",
            "base_network": "resnet-50",  # on 32x32 images, faster than the default vgg-16
        },
        "validation:mAP",
        _names(
            "num_classes num_training_samples base_network early_stopping",
            "early_stopping_min_epochs early_stopping_patience early_stopping_tolerance epochs",
            "freeze_layer_pattern image_shape kv_store label_width learning_rate",
            "lr_scheduler_factor lr_scheduler_step mini_batch_size momentum nms_threshold",
            "optimizer overlap_threshold use_pretrained_model weight_decay",
        ),
        frozenset({"num_classes", "num_training_samples"}),
        "epochs",
        informational=frozenset({"train:cross_entropy", "train:smooth_l1"}),
    ),
    Case(
        "random-cut-forest",
        "cancer",  # label first (0/1): ignored in train, the anomaly label in test
        {"feature_dim": "30", "num_trees": "50", "num_samples_per_tree": "64"},
        "test:f1",
        _names("feature_dim eval_metrics num_samples_per_tree num_trees"),
        frozenset({"feature_dim"}),
        None,
        informational=frozenset({"test:accuracy", "test:precision", "test:recall"}),
        torch=False,
    ),
    Case(
        "seq2seq",
        "translations",  # a generated reversal task as RecordIO-protobuf + vocab.*.json
        {
            "max_num_epochs": "2",
            "batch_size": "50",
            "checkpoint_frequency_num_batches": "4",  # 200 pairs: one checkpoint an epoch
            "rnn_num_hidden": "16",
            "num_embed_source": "8",
            "num_embed_target": "8",
            "max_seq_len_source": "10",
            "max_seq_len_target": "10",
            "beam_size": "2",
            "learning_rate": "0.01",
        },
        "validation:bleu",
        _names(
            "max_seq_len_source max_seq_len_target encoder_type decoder_type",
            "num_layers_encoder num_layers_decoder rnn_num_hidden rnn_cell_type",
            "rnn_decoder_state_init rnn_residual_connections rnn_first_residual_layer",
            "cnn_kernel_width_encoder cnn_kernel_width_decoder cnn_num_hidden",
            "cnn_activation_type cnn_hidden_dropout num_embed_source num_embed_target",
            "embed_dropout_source embed_dropout_target rnn_attention_type",
            "rnn_attention_num_hidden rnn_attention_in_upper_layers rnn_decoder_hidden_dropout",
            "batch_size bucketing_enabled bucket_width loss_type training_metric",
            "optimized_metric bleu_sample_size max_num_batches checkpoint_frequency_num_batches",
            "checkpoint_threshold max_num_epochs optimizer_type weight_init_type",
            "weight_init_scale xavier_factor_type learning_rate weight_decay momentum",
            "clip_gradient lr_scheduler_type plateau_reduce_lr_factor",
            "plateau_reduce_lr_threshold fixed_rate_lr_half_life beam_size",
        ),
        frozenset(),
        "max_num_epochs",
        informational=frozenset({"train:perplexity", "train:accuracy"}),
    ),
]


# -- data -----------------------------------------------------------------------------------------
def _csv_split(directory: Path, X: np.ndarray, y: np.ndarray) -> dict[str, Path]:
    """train / validation / test CSV channels, label first, no header."""
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, random_state=0)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
    channels = {name: directory / f"{name}.csv" for name in ("train", "validation", "test")}
    for name, (Xs, ys) in zip(
        channels, ((X_train, y_train), (X_val, y_val), (X_test, y_test)), strict=True
    ):
        write_csv(channels[name], Xs, ys)
    return channels


def _cancer(directory: Path) -> dict[str, Path]:
    X, y = load_breast_cancer(return_X_y=True)
    return _csv_split(directory, (X - X.mean(0)) / X.std(0), y)


def _iris(directory: Path) -> dict[str, Path]:
    return _csv_split(directory, *load_iris(return_X_y=True))


def _digits(directory: Path) -> dict[str, Path]:
    return _csv_split(directory, *load_digits(return_X_y=True))


def _images(directory: Path) -> dict[str, Path]:
    from image_classification_digits import write_digits

    return write_digits(directory, n_train=48, n_validation=16)


def _ips(directory: Path) -> dict[str, Path]:
    """train / validation CSV of (entity, IPv4) pairs: 40 entities, 2 /24 subnets each."""
    rng = np.random.default_rng(0)
    subnets = rng.integers(0, 2**24, size=(40, 2))
    lines = []
    for _ in range(1000):
        entity = int(rng.integers(40))
        ip = (int(subnets[entity, rng.integers(2)]) << 8) | int(rng.integers(256))
        lines.append(f"user-{entity}," + ".".join(str((ip >> s) & 255) for s in (24, 16, 8, 0)))
    channels = {"train": directory / "train.csv", "validation": directory / "validation.csv"}
    channels["train"].write_text("".join(line + "\n" for line in lines[:800]))
    channels["validation"].write_text("".join(line + "\n" for line in lines[800:]))
    return channels


def _text(directory: Path) -> dict[str, Path]:
    """train / validation text files of ``__label__X words`` lines (blazingtext)."""
    from algorithms.blazingtext import planted_corpus

    channels = {"train": directory / "train.txt", "validation": directory / "validation.txt"}
    for seed, (name, path) in enumerate(channels.items(), start=1):
        lines = planted_corpus(400 if name == "train" else 100, seed=seed, labelled=True)
        path.write_text("".join(line + "\n" for line in lines))
    return channels


def _shapes(directory: Path) -> dict[str, Path]:
    """Images and masks in semantic segmentation's four channels (8 train, 4 validation)."""
    from algorithms.segmentation_shapes import write_shapes

    return write_shapes(directory, n_train=8, n_validation=4, size=32)


def _series(directory: Path) -> dict[str, Path]:
    """deepar's JSON Lines channels: 6 hourly series; test extends train by 6 points."""
    from algorithms.deepar_data import seasonal_series, split_for_test, write_json_lines

    train, test = split_for_test(seasonal_series(6, 96), 6)
    return {
        "train": write_json_lines(directory / "train.json", train),
        "test": write_json_lines(directory / "test.json", test),
    }


def _pairs(directory: Path) -> dict[str, Path]:
    """object2vec's JSON Lines channels: 300 / 100 / 100 token-sequence pairs."""
    from algorithms.object2vec import planted_topic_pairs, write_jsonlines

    sizes = {"train": 300, "validation": 100, "test": 100}
    return {
        name: write_jsonlines(directory / f"{name}.jsonl", planted_topic_pairs(n, seed=seed))
        for seed, (name, n) in enumerate(sizes.items(), start=1)
    }


def _translations(directory: Path) -> dict[str, Path]:
    """seq2seq's channels in SageMaker's format: 200 / 50 generated pairs (the target the source
    reversed, tokens renamed) as RecordIO-protobuf, vocab.src.json / vocab.trg.json in vocab."""
    from algorithms.seq2seq import (
        build_vocabulary,
        reversal_pairs,
        write_recordio_pairs,
        write_vocabulary,
    )

    lines = {"train": reversal_pairs(200, seed=1), "validation": reversal_pairs(50, seed=2)}
    source = build_vocabulary([line.split("\t")[0] for line in lines["train"]])
    target = build_vocabulary([line.split("\t")[1] for line in lines["train"]])
    vocab = directory / "vocab"
    vocab.mkdir()
    write_vocabulary(vocab / "vocab.src.json", source)
    write_vocabulary(vocab / "vocab.trg.json", target)
    channels = {"vocab": vocab}
    for name, pairs in lines.items():
        ids = [(source.encode(s), target.encode(t)) for s, t in (p.split("\t") for p in pairs)]
        channels[name] = directory / f"{name}.rec"
        write_recordio_pairs(channels[name], ids)
    return channels


def _boxes(directory: Path) -> dict[str, Path]:
    """object-detection's channels: generated shapes, PNG images with JSON annotations."""
    from algorithms.object_detection_data import write_shapes

    return write_shapes(directory, n_train=12, n_validation=6, size=32)


DATASETS: dict[str, Callable[[Path], dict[str, Path]]] = {
    "pairs": _pairs,
    "cancer": _cancer,
    "iris": _iris,
    "digits": _digits,
    "images": _images,
    "ips": _ips,
    "text": _text,
    "series": _series,
    "shapes": _shapes,
    "boxes": _boxes,
    "translations": _translations,
}


def _features(case: Case, channels: dict[str, Path]) -> Any:
    """A few inputs the saved model can predict on."""
    if case.data == "images":
        return np.zeros((3, 16, 16))
    if case.data == "pairs":  # records as the JSON lines have them (SageMaker's instances)
        return [json.loads(line) for line in channels["train"].read_text().splitlines()[:5]]
    if case.data == "ips":  # (entity, IP) rows, as SageMaker's endpoint takes them
        return [line.split(",") for line in channels["train"].read_text().splitlines()[:5]]
    if case.data == "boxes":  # RGB images, (N, H, W, 3)
        return np.zeros((3, 32, 32, 3), dtype=np.uint8)
    if case.data == "shapes":  # image files, as SageMaker's endpoint takes them
        return sorted(channels["validation"].glob("*.jpg"))[:3]
    if case.data == "series":  # JSON records, as SageMaker's endpoint takes them
        return [json.loads(line) for line in channels["train"].read_text().splitlines()[:5]]
    if case.data == "translations":  # source token-id lists (vocab.src.json's ids)
        return [[4, 5, 6], [7, 6, 5, 4], [8]]
    if case.data == "text":  # lines of text, as SageMaker's endpoint takes them
        return channels["train"].read_text().splitlines()[:5]
    X, _ = load_channel(channels["train"])
    return X[:5]


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-data")


_WRITTEN: dict[tuple[Path, str], dict[str, Path]] = {}


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Case:
    case: Case = request.param
    if case.torch:
        pytest.importorskip("torch")
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two cores shared by the test run
    return case


@pytest.fixture
def channels(case: Case, data_root: Path) -> dict[str, Path]:
    key = (data_root, case.data)
    if key not in _WRITTEN:
        folder = data_root / case.data
        folder.mkdir()
        _WRITTEN[key] = DATASETS[case.data](folder)
    return dict(_WRITTEN[key])


def _train(case: Case, channels: dict[str, Path], ctx: FakeContext, **hp: str) -> FakeContext:
    """Train as the engine does: AMT's ``_tuning_objective_metric`` names the objective."""
    objective = {"_tuning_objective_metric": case.objective} if case.objective else {}
    get_algorithm(case.name).train({**case.hyperparameters, **objective, **hp}, channels, ctx)
    return ctx


def _module(case: Case) -> Any:
    return importlib.import_module(BUILTIN_ALGORITHMS[case.name].split(":")[0])


# -- the contract ----------------------------------------------------------------------------------
def test_every_registered_algorithm_has_a_case() -> None:
    assert {c.name for c in CASES} == set(BUILTIN_ALGORITHMS)


def test_registered_under_its_name_and_follows_the_protocol(case: Case) -> None:
    algorithm = get_algorithm(case.name)
    assert isinstance(algorithm, Algorithm)
    assert algorithm.name == case.name
    assert (
        get_algorithm(f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{case.name}:1") is algorithm
    )
    if case.objective is not None:
        assert algorithm.metrics[case.objective] in ("Minimize", "Maximize")
    assert not case.informational & set(algorithm.metrics)


def test_every_documented_hyperparameter_is_declared(case: Case) -> None:
    specs = get_algorithm(case.name).hyperparameters
    assert case.documented <= set(specs), sorted(case.documented - set(specs))
    assert {n for n, s in specs.items() if s.required} == case.required
    required = {name: case.hyperparameters[name] for name in case.required}
    assert set(parse_hyperparameters(specs, required)) >= set(specs)  # defaults for the rest


def test_bad_and_missing_hyperparameters_are_named(case: Case, channels, tmp_path) -> None:
    specs = get_algorithm(case.name).hyperparameters
    bounded = [
        n for n, s in specs.items() if s.kind in ("int", "float") and s.min_value is not None
    ]
    for name in bounded[:3]:
        below = specs[name].min_value - 1  # type: ignore[operator]
        with pytest.raises(HyperparameterError, match=f"'{name}'"):
            _train(case, channels, FakeContext(tmp_path), **{name: str(below)})
    with pytest.raises(HyperparameterError, match="'no_such_hyperparameter' is not known"):
        _train(case, channels, FakeContext(tmp_path), no_such_hyperparameter="1")
    for name in case.required:
        hp = {k: v for k, v in case.hyperparameters.items() if k != name}
        with pytest.raises(HyperparameterError, match=f"'{name}' is required"):
            get_algorithm(case.name).train(hp, channels, FakeContext(tmp_path))


def test_a_missing_train_channel_is_a_clear_error(case: Case, channels, tmp_path) -> None:
    without_train = {k: v for k, v in channels.items() if k != "train"}
    with pytest.raises(InputError, match="'train' channel"):
        _train(case, without_train, FakeContext(tmp_path))


def test_epochs_are_reported_in_order_with_declared_metrics(
    case: Case, channels, tmp_path
) -> None:
    ctx = _train(case, channels, FakeContext(tmp_path))
    declared = set(get_algorithm(case.name).metrics) | case.informational
    assert ctx.epochs == list(range(1, len(ctx.epochs) + 1)) and ctx.epochs
    for _, metrics in ctx.reports:
        assert set(metrics) <= declared, set(metrics) - declared
        assert all(math.isfinite(v) for v in metrics.values())
    if case.objective is not None:  # some report it with the last epoch only, as AMT's do
        assert case.objective in ctx.reports[-1][1]


def test_a_stop_request_ends_training_after_the_model_is_saved(
    case: Case, channels, tmp_path
) -> None:
    epochs = {case.epochs: "4"} if case.epochs else {}
    ctx = _train(case, channels, FakeContext(tmp_path, stop_after=1), **epochs)
    assert ctx.epochs == [1]
    assert (tmp_path / _module(case).MODEL_FILENAME).exists()


class _StopAtReport(FakeContext):
    """Raises StopTraining at report ``at``, as the engine's context does after a stop request
    that arrived between the algorithm's ``should_stop()`` check and its report."""

    def __init__(self, output_dir: Path, at: int) -> None:
        super().__init__(output_dir)
        self.at = at

    def report(self, epoch: int, **metrics: float) -> None:
        if len(self.reports) + 1 >= self.at:
            raise StopTraining
        super().report(epoch, **metrics)


def test_stop_training_from_report_ends_training_after_the_model_is_saved(
    case: Case, channels, tmp_path
) -> None:
    """It propagates, or training ends there as if asked to stop: no report after it."""
    at = 2 if case.epochs else 1
    epochs = {case.epochs: "4"} if case.epochs else {}
    ctx = _StopAtReport(tmp_path, at)
    with contextlib.suppress(StopTraining):
        _train(case, channels, ctx, **epochs)
    assert len(ctx.reports) == at - 1
    assert (tmp_path / _module(case).MODEL_FILENAME).exists()


def test_the_same_hyperparameters_give_the_same_results(case: Case, channels, tmp_path) -> None:
    first = _train(case, channels, FakeContext(tmp_path / "a"))
    second = _train(case, channels, FakeContext(tmp_path / "b"))
    assert first.reports == second.reports


def test_the_saved_model_loads_and_predicts(case: Case, channels, tmp_path) -> None:
    _train(case, channels, FakeContext(tmp_path))
    model = _module(case).load(tmp_path)
    features = _features(case, channels)
    assert len(model.predict(features)) == len(features)


@pytest.mark.gpu
def test_trains_on_cuda_where_there_is_a_gpu(case: Case, channels, tmp_path) -> None:
    from tuner.spec.resources import local_gpu_count

    if local_gpu_count() == 0:
        pytest.skip("no CUDA device")
    on_cpu = _train(case, channels, FakeContext(tmp_path / "cpu"))
    on_gpu = _train(case, channels, FakeContext(tmp_path / "gpu", device="cuda:0"))
    assert on_gpu.epochs == on_cpu.epochs
    if case.objective is not None:
        assert math.isfinite(on_gpu.last(case.objective))
    features = _features(case, channels)
    assert len(_module(case).load(tmp_path / "gpu").predict(features)) == len(features)


#: The algorithms that checkpoint every epoch when asked (issue 22, point 1); each resumes a
#: crashed training job from its last checkpoint exactly as if it had not stopped.
CHECKPOINTED = frozenset(
    {"xgboost", "ntm", "factorization-machines", "ip-insights", "image-classification"}
    | {"deepar", "object2vec", "semantic-segmentation", "kmeans", "blazingtext"}
    | {"seq2seq", "linear-learner", "object-detection"}
)


def test_a_crashed_training_job_resumes_from_its_last_checkpoint(
    case: Case, channels, tmp_path
) -> None:
    if case.epochs is None:
        pytest.skip(f"{case.name} trains in one pass: there is no epoch to resume from")
    if case.name not in CHECKPOINTED:
        pytest.skip(f"{case.name} saves no checkpoints yet")
    epochs = {case.epochs: "4"}
    whole = CheckpointingContext(tmp_path / "whole", tmp_path / "whole-checkpoints")
    _train(case, channels, whole, **epochs)
    crashed = CheckpointingContext(tmp_path / "a", tmp_path / "checkpoints", crash_at=3)
    with pytest.raises(Crash):
        _train(case, channels, crashed, **epochs)
    resumed = CheckpointingContext(tmp_path / "b", tmp_path / "checkpoints")
    _train(case, channels, resumed, **epochs)
    assert crashed.epochs == [1, 2] and resumed.epochs == [3, 4]
    for (epoch, expected), (_, found) in zip(whole.reports[2:], resumed.reports, strict=True):
        assert found.keys() == expected.keys(), epoch
        for name, value in expected.items():
            assert found[name] == pytest.approx(value, rel=1e-6, abs=1e-9), (epoch, name)
