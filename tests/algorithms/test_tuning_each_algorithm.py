"""Every tunable built-in algorithm tuned end to end by a short real job through the CLI.

Each case writes a small scikit-learn dataset as CSV channels, an AMT spec naming the
algorithm, runs ``tuner run`` in a subprocess and checks the job Completed with objective
values from every training job.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_job import run_and_describe
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.model_selection import train_test_split

pytestmark = pytest.mark.slow


def _write(path: Path, X: np.ndarray, y: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.8g")
    return str(path)


def _channels(
    tmp_path: Path, loader, names=("train", "validation", "test")
) -> tuple[dict[str, str], int]:
    X, y = loader(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    X_tr, X_rest, y_tr, y_rest = train_test_split(X, y, test_size=0.4, random_state=0)
    X_va, X_te, y_va, y_te = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
    data = {"train": (X_tr, y_tr), "validation": (X_va, y_va), "test": (X_te, y_te)}
    return {n: _write(tmp_path / "data" / n / f"{n}.csv", *data[n]) for n in names}, X.shape[1]


def _count_channels(tmp_path: Path) -> dict[str, str]:
    """Digits' pixel intensities (0..16) as 64-word count vectors, label first, for ntm."""
    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=0)
    data = {"train": (X_tr, y_tr), "validation": (X_va, y_va)}
    return {n: _write(tmp_path / "data" / n / f"{n}.csv", *data[n]) for n in data}


def _pair_channels(tmp_path: Path) -> dict[str, str]:
    """(entity, IPv4) CSV pairs for ip-insights: 50 entities, each on 2 /24 subnets of its own."""
    rng = np.random.default_rng(0)
    subnets = rng.integers(0, 2**24, size=(50, 2))
    lines = []
    for _ in range(2000):
        entity = int(rng.integers(50))
        ip = (int(subnets[entity, rng.integers(2)]) << 8) | int(rng.integers(256))
        lines.append(f"user-{entity}," + ".".join(str((ip >> s) & 255) for s in (24, 16, 8, 0)))
    paths = {}
    for name, part in (("train", lines[:1600]), ("validation", lines[1600:])):
        path = tmp_path / "data" / name / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in part))
        paths[name] = str(path)
    return paths


def _jsonlines_channels(tmp_path: Path) -> dict[str, str]:
    """object2vec's JSON Lines pairs: token sequences labelled by a shared planted topic."""
    from algorithms.object2vec import planted_topic_pairs, write_jsonlines

    sizes = {"train": 2000, "validation": 400}
    return {
        name: str(write_jsonlines(tmp_path / name / f"{name}.jsonl", planted_topic_pairs(n, seed)))
        for seed, (name, n) in enumerate(sizes.items(), start=1)
    }


def _series_channels(tmp_path: Path) -> dict[str, str]:
    """deepar's JSON Lines series: 9 related hourly series; test extends train by 12 points."""
    from algorithms.deepar_data import seasonal_series, split_for_test, write_json_lines

    train, test = split_for_test(seasonal_series(9, 24 * 6), 12)
    return {
        "train": str(write_json_lines(tmp_path / "train" / "train.json", train)),
        "test": str(write_json_lines(tmp_path / "test" / "test.json", test)),
    }


def _text_channels(tmp_path: Path, *, labelled: bool) -> dict[str, str]:
    """blazingtext's text channels from the planted synonym groups: labelled by group
    (supervised: train and validation) or plain sentences (Word2Vec: train)."""
    from algorithms.blazingtext import planted_corpus

    parts = {"train": planted_corpus(1000, seed=1, labelled=labelled)}
    if labelled:
        parts["validation"] = planted_corpus(300, seed=2, labelled=True)
    paths = {}
    for name, lines in parts.items():
        path = tmp_path / "data" / name / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines))
        paths[name] = str(path)
    return paths


def _spec(
    name: str,
    algorithm: str,
    metric: str,
    direction: str,
    ranges: dict,
    static: dict,
    channels: dict,
) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": direction, "MetricName": metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": ranges,
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"AlgorithmName": algorithm, "TrainingInputMode": "File"},
            "StaticHyperParameters": {k: str(v) for k, v in static.items()},
            "InputDataConfig": [
                {
                    "ChannelName": c,
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": p}},
                }
                for c, p in channels.items()
            ],
        },
    }


def _cases(tmp_path: Path) -> dict[str, dict]:
    bc, d_bc = _channels(tmp_path / "bc", load_breast_cancer)
    iris, d_iris = _channels(tmp_path / "iris", load_iris)
    diabetes, _ = _channels(tmp_path / "diabetes", load_diabetes)

    def log_range(n, lo, hi):
        return {
            "Name": n,
            "MinValue": str(lo),
            "MaxValue": str(hi),
            "ScalingType": "Logarithmic",
        }

    return {
        "linear-learner": _spec(
            "ll",
            "linear-learner",
            "validation:objective_loss",
            "Minimize",
            {
                "ContinuousParameterRanges": [
                    log_range("learning_rate", 1e-3, 0.1),
                    log_range("wd", 1e-6, 1e-2),
                ]
            },
            {
                "predictor_type": "binary_classifier",
                "epochs": 5,
                "mini_batch_size": 64,
                "feature_dim": d_bc,
            },
            bc,
        ),
        "factorization-machines": _spec(
            "fm",
            "factorization-machines",
            "test:rmse",
            "Minimize",
            {
                "IntegerParameterRanges": [
                    {"Name": "num_factors", "MinValue": "2", "MaxValue": "8"}
                ]
            },
            {"predictor_type": "regressor", "epochs": 5, "feature_dim": 10, "mini_batch_size": 64},
            diabetes,
        ),
        "knn": _spec(
            "knn",
            "knn",
            "test:accuracy",
            "Maximize",
            {"IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "15"}]},
            {"predictor_type": "classifier", "feature_dim": d_iris, "sample_size": 90},
            iris,
        ),
        "ntm": _spec(
            "ntm",
            "ntm",
            "validation:total_loss",
            "Minimize",
            {
                "ContinuousParameterRanges": [log_range("learning_rate", 1e-3, 0.05)],
                "CategoricalParameterRanges": [
                    {"Name": "encoder_layers_activation", "Values": ["sigmoid", "relu"]}
                ],
            },
            {
                "num_topics": 5,
                "feature_dim": 64,
                "optimizer": "adam",
                "epochs": 3,
                "mini_batch_size": 64,
            },
            _count_channels(tmp_path / "digits"),
        ),
        "ip-insights": _spec(
            "ipi",
            "ip-insights",
            "validation:discriminator_auc",
            "Maximize",
            {
                "ContinuousParameterRanges": [log_range("learning_rate", 1e-3, 0.05)],
                "IntegerParameterRanges": [
                    {"Name": "vector_dim", "MinValue": "8", "MaxValue": "32"}
                ],
            },
            {"num_entity_vectors": 1000, "epochs": 3, "mini_batch_size": 200},
            _pair_channels(tmp_path / "pairs"),
        ),
        "blazingtext": _spec(
            "bt-supervised",
            "blazingtext",
            "validation:accuracy",
            "Maximize",
            {
                "ContinuousParameterRanges": [log_range("learning_rate", 0.1, 1.0)],
                "IntegerParameterRanges": [
                    {"Name": "word_ngrams", "MinValue": "1", "MaxValue": "2"}
                ],
            },
            {"mode": "supervised", "vector_dim": 16, "epochs": 5},
            _text_channels(tmp_path / "text", labelled=True),
        ),
        "blazingtext-word2vec": _spec(
            "bt-word2vec",
            "blazingtext",
            "train:mean_rho",
            "Maximize",
            {"CategoricalParameterRanges": [{"Name": "mode", "Values": ["skipgram", "cbow"]}]},
            {"vector_dim": 16, "epochs": 3, "sampling_threshold": 0.001, "min_count": 1},
            _text_channels(tmp_path / "sentences", labelled=False),
        ),
        "object2vec": _spec(
            "o2v",
            "object2vec",
            "validation:accuracy",
            "Maximize",
            {
                "ContinuousParameterRanges": [log_range("learning_rate", 0.003, 0.03)],
                "IntegerParameterRanges": [{"Name": "enc_dim", "MinValue": "8", "MaxValue": "32"}],
            },
            {
                "enc0_max_seq_len": 20,
                "enc0_vocab_size": 136,
                "enc0_network": "pooled_embedding",
                "enc0_token_embedding_dim": 16,
                "mlp_dim": 32,
                "epochs": 10,
            },
            _jsonlines_channels(tmp_path / "o2v"),
        ),
        "deepar": _spec(
            "deepar",
            "deepar",
            "test:RMSE",
            "Minimize",
            {
                "ContinuousParameterRanges": [log_range("learning_rate", 1e-3, 3e-2)],
                "IntegerParameterRanges": [
                    {"Name": "num_cells", "MinValue": "8", "MaxValue": "16"}
                ],
            },
            {
                "time_freq": "H",
                "context_length": 12,
                "prediction_length": 12,
                "epochs": 3,
                "num_layers": 1,
                "mini_batch_size": 32,
                "num_eval_samples": 20,
            },
            _series_channels(tmp_path / "series"),
        ),
        "kmeans": _spec(
            "kmeans",
            "kmeans",
            "test:msd",
            "Minimize",
            {"IntegerParameterRanges": [{"Name": "k", "MinValue": "2", "MaxValue": "5"}]},
            {"feature_dim": d_iris, "epochs": 3, "mini_batch_size": 50},
            iris,
        ),
    }


@pytest.mark.parametrize(
    "algorithm",
    [
        "linear-learner",
        "factorization-machines",
        "knn",
        "kmeans",
        "ntm",
        "ip-insights",
        "blazingtext",
        "blazingtext-word2vec",
        "deepar",
        "object2vec",
    ],
)
def test_algorithm_tuned_end_to_end_through_the_cli(algorithm: str, tmp_path: Path) -> None:
    spec = _cases(tmp_path)[algorithm]
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 3
    value = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert np.isfinite(value)
    if algorithm == "knn":
        assert value > 0.8
    if algorithm in ("ip-insights", "blazingtext"):
        assert value > 0.8
    if algorithm == "object2vec":  # logistic regression on the two bags of words: 0.46
        assert value > 0.7
    if algorithm == "blazingtext-word2vec":
        assert value > 0.5


def test_image_classification_tuned_end_to_end(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
    from image_classification_digits import write_digits

    channels = write_digits(tmp_path / "images", n_train=200, n_validation=60)
    spec = _spec(
        "ic",
        "image-classification",
        "validation:accuracy",
        "Maximize",
        {
            "ContinuousParameterRanges": [
                {
                    "Name": "learning_rate",
                    "MinValue": "0.01",
                    "MaxValue": "0.1",
                    "ScalingType": "Logarithmic",
                }
            ]
        },
        {
            "num_classes": 10,
            "num_training_samples": 200,
            "image_shape": "1,16,16",
            "num_layers": 8,
            "epochs": 2,
            "mini_batch_size": 32,
        },
        {k: str(v) for k, v in channels.items()},
    )
    spec["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 2
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuner.cli",
            "run",
            str(path),
            "--db",
            str(tmp_path / "t.db"),
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr


def test_semantic_segmentation_tuned_end_to_end(tmp_path: Path) -> None:
    """Two training jobs of an FCN on 32x32 shapes (a ResNet-50 from scratch, one epoch)."""
    from algorithms.segmentation_shapes import write_shapes

    channels = write_shapes(tmp_path / "shapes", n_train=8, n_validation=4, size=32)
    spec = _spec(
        "ss",
        "semantic-segmentation",
        "validation:mIOU",
        "Maximize",
        {
            "ContinuousParameterRanges": [
                {
                    "Name": "learning_rate",
                    "MinValue": "0.0001",
                    "MaxValue": "0.01",
                    "ScalingType": "Logarithmic",
                }
            ]
        },
        {
            "num_classes": 3,
            "num_training_samples": 8,
            "use_pretrained_model": "False",
            "base_size": 32,
            "crop_size": 32,
            "epochs": 1,
            "mini_batch_size": 4,
        },
        {k: str(v) for k, v in channels.items()},
    )
    spec["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 2
    described = run_and_describe(spec, tmp_path, timeout=600)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 2
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert best["MetricName"] == "validation:mIOU" and 0.0 <= best["Value"] <= 1.0


def test_object_detection_tuned_end_to_end(tmp_path: Path) -> None:
    """Two training jobs of SSD (the real ResNet-50 from scratch, one epoch) on 32x32 shapes,
    as PNG images with JSON annotations, tuning the optimizer and the learning rate."""
    from algorithms.object_detection_data import write_shapes

    channels = write_shapes(tmp_path / "boxes", n_train=8, n_validation=4, size=32)
    spec = _spec(
        "od",
        "object-detection",
        "validation:mAP",
        "Maximize",
        {
            "ContinuousParameterRanges": [
                {
                    "Name": "learning_rate",
                    "MinValue": "0.0001",
                    "MaxValue": "0.01",
                    "ScalingType": "Logarithmic",
                }
            ],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
        },
        {
            "num_classes": 3,
            "num_training_samples": 8,
            "base_network": "resnet-50",
            "use_pretrained_model": 0,
            "image_shape": 32,
            "epochs": 1,
            "mini_batch_size": 4,
        },
        {k: str(v) for k, v in channels.items()},
    )
    spec["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 2
    for channel in spec["TrainingJobDefinition"]["InputDataConfig"]:
        channel["ContentType"] = "application/x-image"
    described = run_and_describe(spec, tmp_path, timeout=600)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 2
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert best["MetricName"] == "validation:mAP" and 0.0 <= best["Value"] <= 1.0


def test_seq2seq_tuned_end_to_end(tmp_path: Path) -> None:
    """Three training jobs of seq2seq (RNN with attention) on a generated translation task in
    SageMaker's format: RecordIO-protobuf token ids, vocab.src.json / vocab.trg.json."""
    from algorithms.seq2seq import (
        build_vocabulary,
        reversal_pairs,
        write_recordio_pairs,
        write_vocabulary,
    )

    lines = {"train": reversal_pairs(1000, seed=1), "validation": reversal_pairs(200, seed=2)}
    source = build_vocabulary([line.split("\t")[0] for line in lines["train"]])
    target = build_vocabulary([line.split("\t")[1] for line in lines["train"]])
    vocab = tmp_path / "data" / "vocab"
    vocab.mkdir(parents=True)
    write_vocabulary(vocab / "vocab.src.json", source)
    write_vocabulary(vocab / "vocab.trg.json", target)
    channels = {"vocab": str(vocab)}
    for name, part in lines.items():
        path = tmp_path / "data" / name / f"{name}.rec"
        path.parent.mkdir(parents=True)
        pairs = [line.split("\t") for line in part]
        write_recordio_pairs(path, [(source.encode(s), target.encode(t)) for s, t in pairs])
        channels[name] = str(path)
    spec = _spec(
        "s2s",
        "seq2seq",
        "validation:bleu",
        "Maximize",
        {
            "ContinuousParameterRanges": [
                {
                    "Name": "learning_rate",
                    "MinValue": "0.005",
                    "MaxValue": "0.02",
                    "ScalingType": "Logarithmic",
                }
            ],
        },
        {
            "max_num_epochs": 6,
            "batch_size": 32,
            "checkpoint_frequency_num_batches": 32,  # one checkpoint an epoch
            "rnn_num_hidden": 64,
            "num_embed_source": 32,
            "num_embed_target": 32,
            "max_seq_len_source": 10,
            "max_seq_len_target": 10,
            "beam_size": 1,
        },
        channels,
    )
    for channel in spec["TrainingJobDefinition"]["InputDataConfig"]:
        if channel["ChannelName"] != "vocab":
            channel["ContentType"] = "application/x-recordio-protobuf"
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 3
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert best["MetricName"] == "validation:bleu" and best["Value"] > 0.5  # copying: 0
