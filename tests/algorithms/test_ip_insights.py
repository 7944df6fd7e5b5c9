"""Tests for the built-in IP Insights: planted usage patterns, negatives, inputs and errors.

The pairs are generated (seeded, no downloads): 80 entities, each using addresses from 3
random /24 subnets of its own, 50 pairs each, a fifth of them held out as the validation
channel. A held-out pair is a new address (mostly) in one of the entity's subnets, so scoring
it above random and shuffled pairs takes generalising over the subnet, not recalling the pair.
What every algorithm must do (epochs, stops, determinism, a loadable model, CUDA) is in
tests/contracts/test_algorithm_contract.py.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from algorithm_context import FakeContext
from cli_job import run_and_describe

from algorithms import HyperparameterError, InputError, get_algorithm
from algorithms.base import parse_hyperparameters
from algorithms.ip_insights import (
    ALGORITHM,
    HYPERPARAMETERS,
    MODEL_FILENAME,
    REPORTED_METRICS,
    Pairs,
    _Trainer,
    entity_rows,
    format_ipv4,
    load,
    parse_ipv4,
    read_pairs,
    validation_negatives,
)
from algorithms.torch_util import roc_auc

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

N_ENTITIES, PER_ENTITY, SUBNETS = 80, 50, 3
#: Quick settings: a small table (the entities are 80), small vectors, a high rate; the
#: validation AUC passes 0.99 within these epochs on this data (0.996 at 10 epochs).
BASE = {
    "num_entity_vectors": "1000",
    "vector_dim": "16",
    "epochs": "8",
    "mini_batch_size": "200",
    "learning_rate": "0.01",
}
#: Fewer epochs, where only the mechanics are tested.
SHORT = {**BASE, "epochs": "2"}
METRIC = "validation:discriminator_auc"


def _generate(seed: int = 0) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(train, validation) pairs: each entity draws addresses from its own few /24 subnets."""
    rng = np.random.default_rng(seed)
    rows = []
    for entity in range(N_ENTITIES):
        subnets = rng.integers(0, 2**24, size=SUBNETS)
        for _ in range(PER_ENTITY):
            subnet = int(subnets[rng.integers(SUBNETS)])
            rows.append((f"user-{entity}", (subnet << 8) | int(rng.integers(256))))
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    cut = len(shuffled) * 4 // 5
    return shuffled[:cut], shuffled[cut:]


def _write(path: Path, rows: list[tuple[str, int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{entity},{format_ipv4(ip)}\n" for entity, ip in rows))
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    train, validation = _generate()
    directory = tmp_path_factory.mktemp("pairs")
    channels = {
        "train": _write(directory / "train.csv", train),
        "validation": _write(directory / "validation.csv", validation),
    }
    return {"train": train, "validation": validation, "channels": channels}


@pytest.fixture(scope="module")
def trained(planted: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeContext, Path]:
    """One training run on the planted pairs, shared by the tests that only read it."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("trained")
    try:
        ctx = _train(BASE, planted["channels"], out)
    finally:
        torch.set_num_threads(threads)
    return ctx, out


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def _scored(planted: dict) -> tuple[Pairs, np.ndarray]:
    """The validation pairs and their fixed negatives, as scored for the AUC, and the labels."""
    validation = read_pairs("validation", planted["channels"]["validation"], 1000)
    negatives = validation_negatives(validation)
    pairs = Pairs(
        np.r_[validation.entities, negatives.entities], np.r_[validation.ips, negatives.ips]
    )
    return pairs, np.r_[np.ones(len(validation)), np.zeros(len(negatives))] > 0.5


# -- metrics, registration and hyperparameters ---------------------------------------------------


def test_amt_metric_and_direction() -> None:
    assert dict(ALGORITHM.metrics) == {METRIC: "Maximize"}  # AMT.md 17.1
    assert not set(REPORTED_METRICS) & set(ALGORITHM.metrics)
    assert get_algorithm("ip-insights") is ALGORITHM
    assert get_algorithm("382416733822.dkr.ecr.us-east-1.amazonaws.com/ipinsights:1") is ALGORITHM
    assert get_algorithm("ip_insights") is ALGORITHM


def test_defaults_are_sagemakers() -> None:
    """SageMaker's documented defaults (IP Insights Hyperparameters in the developer guide)."""
    values = parse_hyperparameters(
        HYPERPARAMETERS, {"num_entity_vectors": "10", "vector_dim": "8"}
    )
    assert values["batch_metrics_publish_interval"] == 1000
    assert values["epochs"] == 10
    assert values["learning_rate"] == 0.001
    assert values["mini_batch_size"] == 10_000
    assert values["num_ip_encoder_layers"] == 1
    assert values["random_negative_sampling_rate"] == 1
    assert values["shuffled_negative_sampling_rate"] == 1
    assert values["weight_decay"] == 0.00001
    required = {n for n, s in HYPERPARAMETERS.items() if s.required}
    assert required == {"num_entity_vectors", "vector_dim"}


def test_tuning_ranges_are_amts() -> None:
    """AMT's ip-insights-tuning page (AMT.md 17.2), what Autotune tunes over."""
    ranges = {
        name: (r.kind, r.min_value, r.max_value, r.scaling)
        for name, r in ALGORITHM.tuning_ranges.items()
    }
    assert ranges == {
        "epochs": ("Integer", 1, 100, "Auto"),
        "learning_rate": ("Continuous", 1e-4, 0.1, "Logarithmic"),
        "mini_batch_size": ("Integer", 100, 50_000, "Auto"),
        "num_entity_vectors": ("Integer", 10_000, 1_000_000, "Auto"),
        "num_ip_encoder_layers": ("Integer", 1, 10, "Auto"),
        "random_negative_sampling_rate": ("Integer", 0, 10, "Auto"),
        "shuffled_negative_sampling_rate": ("Integer", 0, 10, "Auto"),
        "vector_dim": ("Integer", 8, 256, "Auto"),
        "weight_decay": ("Continuous", 0, 1, "Auto"),
    }


@pytest.mark.parametrize(
    ("name", "boundary", "outside"),
    [
        ("num_entity_vectors", "1", "0"),
        ("num_entity_vectors", "250000000", "250000001"),
        ("vector_dim", "4", "3"),
        ("vector_dim", "4096", "4097"),
        ("batch_metrics_publish_interval", "1", "0"),
        ("epochs", "1", "0"),
        ("learning_rate", "1e-6", "9e-7"),
        ("learning_rate", "10", "10.5"),
        ("mini_batch_size", "1", "0"),
        ("mini_batch_size", "500000", "500001"),
        ("num_ip_encoder_layers", "0", "-1"),
        ("num_ip_encoder_layers", "100", "101"),
        ("random_negative_sampling_rate", "0", "-1"),
        ("random_negative_sampling_rate", "500", "501"),
        ("shuffled_negative_sampling_rate", "0", "-1"),
        ("shuffled_negative_sampling_rate", "500", "501"),
        ("weight_decay", "0", "-0.1"),
        ("weight_decay", "10", "10.1"),
    ],
)
def test_documented_ranges(name: str, boundary: str, outside: str) -> None:
    values = parse_hyperparameters(HYPERPARAMETERS, {**SHORT, name: boundary})
    assert values[name] == pytest.approx(float(boundary))
    with pytest.raises(HyperparameterError, match=f"'{name}'"):
        parse_hyperparameters(HYPERPARAMETERS, {**SHORT, name: outside})


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("num_entity_vectors", "1e3.5", "an integer"),
        ("vector_dim", "wide", "an integer"),
        ("epochs", "2.5", "an integer"),
        ("learning_rate", "nan", "a number"),
        ("mini_batch_size", "many", "an integer"),
        ("num_ip_encoder_layers", "1.5", "an integer"),
        ("random_negative_sampling_rate", "some", "an integer"),
        ("shuffled_negative_sampling_rate", "0.5", "an integer"),
        ("weight_decay", "none", "a number"),
        ("batch_metrics_publish_interval", "often", "an integer"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, name: str, value: str, match: str) -> None:
    """Refused by train itself, before any data is read (the channel does not exist)."""
    with pytest.raises(HyperparameterError, match=f"'{name}'.*{match}"):
        _train({**SHORT, name: value}, {"train": tmp_path / "none.csv"}, tmp_path / "out")


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    hp = {**SHORT, "vector_dim": "2", "epochs": "0", "num_entity_vector": "3"}
    with pytest.raises(HyperparameterError) as caught:
        _train(hp, {"train": tmp_path / "none.csv"}, tmp_path / "out")
    assert len(caught.value.problems) == 3
    assert "'num_entity_vector' is not known" in str(caught.value)


def test_the_objective_needs_a_validation_channel(planted: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "_tuning_objective_metric": METRIC}
    with pytest.raises(HyperparameterError, match="needs a 'validation' channel"):
        _train(hp, {"train": planted["channels"]["train"]}, tmp_path)
    wrong = {**SHORT, "_tuning_objective_metric": "validation:auc"}
    with pytest.raises(HyperparameterError, match="'validation:auc' is not a metric"):
        _train(wrong, planted["channels"], tmp_path)


# -- negatives -----------------------------------------------------------------------------------


def test_both_sampling_rates_zero_is_refused(planted: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "random_negative_sampling_rate": "0", "shuffled_negative_sampling_rate": "0"}
    with pytest.raises(HyperparameterError, match="both 0.*nothing to discriminate") as caught:
        _train(hp, planted["channels"], tmp_path)
    assert "'random_negative_sampling_rate'" in str(caught.value)
    assert "'shuffled_negative_sampling_rate'" in str(caught.value)


@pytest.mark.parametrize(
    "zero", ["random_negative_sampling_rate", "shuffled_negative_sampling_rate"]
)
def test_one_kind_of_negatives_is_enough(planted: dict, tmp_path: Path, zero: str) -> None:
    """Either rate may be 0. The fixed validation negatives hold both kinds, so a model trained
    on one kind is scored on both; here each kind alone teaches the subnets well enough to
    reject the other kind too (0.97 after 4 epochs, either way)."""
    ctx = _train({**BASE, "epochs": "4", zero: "0"}, planted["channels"], tmp_path)
    assert ctx.last(METRIC) > 0.7


def _trainer(rates: tuple[int, int], n: int = 50) -> _Trainer:
    values = parse_hyperparameters(
        HYPERPARAMETERS,
        {
            **SHORT,
            "random_negative_sampling_rate": str(rates[0]),
            "shuffled_negative_sampling_rate": str(rates[1]),
        },
    )
    rows = np.arange(n, dtype=np.int64)
    data = {"train": Pairs(rows, (rows + 1) * 1000)}
    return _Trainer(values, data, pytest.importorskip("torch").device("cpu"))


@pytest.mark.parametrize("rates", [(0, 1), (1, 0), (2, 3), (5, 0), (0, 4)])
def test_the_sampling_rates_are_respected(rates: tuple[int, int]) -> None:
    """Per true pair: R random-address negatives and S shuffled ones, from the same batch."""
    torch = pytest.importorskip("torch")
    random_rate, shuffled_rate = rates
    n = 50
    trainer = _trainer(rates, n)
    entities = torch.arange(n, dtype=torch.int64)
    ips = (entities + 1) * 1000
    all_entities, all_ips, labels = trainer._with_negatives(entities, ips)
    assert len(labels) == n * (1 + random_rate + shuffled_rate)
    assert labels[:n].eq(1).all() and labels[n:].eq(0).all()
    assert torch.equal(all_entities[:n], entities) and torch.equal(all_ips[:n], ips)
    random_end = n * (1 + random_rate)
    assert torch.equal(all_entities[n:random_end], entities.repeat(random_rate))
    drawn = all_ips[n:random_end]
    assert ((drawn >= 0) & (drawn < 2**32)).all()
    shuffled_entities, shuffled_ips = all_entities[random_end:], all_ips[random_end:]
    assert set(shuffled_ips.tolist()) <= set(ips.tolist())  # addresses of the same batch
    own = (shuffled_entities + 1) * 1000
    assert not shuffled_ips.eq(own).any()  # never a pair's own address


def test_validation_negatives_are_fixed_and_of_both_kinds(planted: dict) -> None:
    validation = read_pairs("validation", planted["channels"]["validation"], 1000)
    first, second = validation_negatives(validation), validation_negatives(validation)
    assert np.array_equal(first.ips, second.ips)
    n = len(validation)
    assert len(first) == 2 * n
    assert np.array_equal(first.entities, np.r_[validation.entities, validation.entities])
    shuffled = first.ips[n:]
    assert sorted(shuffled.tolist()) == sorted(validation.ips.tolist())  # a permutation
    assert not (shuffled == validation.ips).all()


# -- quality -------------------------------------------------------------------------------------


def test_every_epoch_reports_the_objective(trained: tuple[FakeContext, Path]) -> None:
    ctx, _ = trained
    assert ctx.epochs == list(range(1, int(BASE["epochs"]) + 1))
    for _, metrics in ctx.reports:
        assert set(metrics) == {METRIC, *REPORTED_METRICS}
    aucs = [metrics[METRIC] for _, metrics in ctx.reports]
    assert aucs[-1] > aucs[0]
    losses = [metrics["train:binary_classification_cross_entropy"] for _, metrics in ctx.reports]
    assert losses[-1] < losses[0]


def test_true_pairs_score_above_random_and_shuffled_ones(
    planted: dict, trained: tuple[FakeContext, Path]
) -> None:
    """Against frequency baselines on the same split and the same negatives.

    * the IP's /24 popularity in training (any entity): blind to shuffled negatives, 0.75 here;
    * the exact (entity, IP) pair's count in training: held-out addresses are mostly new, 0.52;
    * the count of the entity's training pairs in the IP's /24: knows how the data was made
      (the subnet size), 0.998 here. The model learns the subnets from the bits and octets
      without being told, and comes within 0.01 of it (0.99+ at 8 epochs).
    """
    ctx, out = trained
    pairs, truth = _scored(planted)
    model = load(out)
    scores = model.score(_entity_ids(planted, pairs), pairs.ips.tolist())
    auc = roc_auc(truth, scores)
    assert auc == pytest.approx(ctx.last(METRIC), abs=1e-4)  # the saved model is the trained one
    train = read_pairs("train", planted["channels"]["train"], 1000)
    popular = Counter((train.ips >> 8).tolist())
    exact = Counter(zip(train.entities.tolist(), train.ips.tolist(), strict=True))
    subnet = Counter(zip(train.entities.tolist(), (train.ips >> 8).tolist(), strict=True))
    pairs_list = list(zip(pairs.entities.tolist(), pairs.ips.tolist(), strict=True))
    baselines = {
        "popularity": roc_auc(truth, np.array([popular[ip >> 8] for _, ip in pairs_list])),
        "exact": roc_auc(truth, np.array([exact[(e, ip)] for e, ip in pairs_list])),
        "subnet": roc_auc(truth, np.array([subnet[(e, ip >> 8)] for e, ip in pairs_list])),
    }
    assert auc > 0.98, (auc, baselines)
    assert auc > baselines["popularity"] + 0.15
    assert auc > baselines["exact"] + 0.3
    assert auc > baselines["subnet"] - 0.02  # comparable to the one told the subnet size


def _entity_ids(planted: dict, pairs: Pairs) -> list[str]:
    """The entity id of each scored pair: the true pairs', then their random and shuffled
    negatives' (the same ids again, twice)."""
    ids = [entity for entity, _ in planted["validation"]]
    assert len(ids) * 3 == len(pairs)
    return ids * 3


# -- the saved model -----------------------------------------------------------------------------


def test_the_saved_model_loads_and_scores(
    planted: dict, trained: tuple[FakeContext, Path]
) -> None:
    _, out = trained
    model = load(out)
    assert load(out / MODEL_FILENAME).entity_vectors.shape == (1000, 16)
    assert ALGORITHM.load(out).vector_dim == 16
    entity, ip = planted["validation"][0]
    usual = format_ipv4(ip)
    unusual = "8.8.8.8"
    scores = model.predict([[entity, usual], [entity, unusual]])
    assert scores.shape == (2,) and scores[0] > scores[1]
    assert model.predict(np.array([[entity, usual]]))[0] == pytest.approx(scores[0])
    assert model.score([entity], [ip])[0] == pytest.approx(scores[0])  # integers work too
    probability = model.probability([entity, entity], [usual, unusual])
    assert 0 < probability[1] < probability[0] < 1
    assert model.ip_embeddings([usual]).shape == (1, 16)


def test_an_unseen_entity_is_hashed_the_same_way(
    planted: dict, trained: tuple[FakeContext, Path]
) -> None:
    """An id never seen in training hashes to a row like any other; an untrained row is all
    zeros, so it scores 0 (probability 0.5) with every address: no evidence either way."""
    model = load(trained[1])
    seen = set(entity_rows([e for e, _ in planted["train"]], 1000).tolist())
    unseen = next(
        f"stranger-{i}" for i in range(1000) if entity_rows([f"stranger-{i}"], 1000)[0] not in seen
    )
    scores = model.predict([[unseen, "10.0.0.1"], [unseen, "203.0.113.9"]])
    assert np.isfinite(scores).all()
    assert np.allclose(scores, 0.0)
    assert entity_rows([unseen], 1000)[0] == entity_rows([unseen, "x"], 1000)[0]  # stable


def test_entity_hashing_is_stable_across_processes() -> None:
    """BLAKE2b, not Python's salted hash: a model saved today scores the same ids tomorrow."""
    assert entity_rows(["user-0", "user-1", "user-0"], 1000).tolist() == [
        entity_rows(["user-0"], 1000)[0],
        entity_rows(["user-1"], 1000)[0],
        entity_rows(["user-0"], 1000)[0],
    ]
    import hashlib

    digest = hashlib.blake2b(b"user-0", digest_size=8).digest()
    assert entity_rows(["user-0"], 997)[0] == int.from_bytes(digest, "little") % 997


def test_the_model_names_a_bad_address(trained: tuple[FakeContext, Path]) -> None:
    model = load(trained[1])
    with pytest.raises(InputError, match=r"row 2: '10\.0\.0' is not an IPv4 address"):
        model.predict([["a", "10.0.0.1"], ["b", "10.0.0"]])
    with pytest.raises(InputError, match="row 1 has 3 columns"):
        model.predict([["a", "10.0.0.1", "x"]])


# -- data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.0.0.0", 0),
        ("255.255.255.255", 2**32 - 1),
        ("10.1.2.3", 0x0A010203),
        (" 1.2.3.4 ", 0x01020304),
    ],
)
def test_dotted_quads_parse(text: str, value: int) -> None:
    assert parse_ipv4(text) == value
    assert parse_ipv4(format_ipv4(value)) == value


@pytest.mark.parametrize(
    "text", ["1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "a.b.c.d", "", "1..2.3", "::1"]
)
def test_malformed_addresses_are_refused(text: str) -> None:
    assert parse_ipv4(text) is None


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("user-1,10.0.0", r"line 3: '10\.0\.0' is not an IPv4 address"),
        ("user-1", "line 3 has 1 column;"),
        ("user-1,10.0.0.1,extra", "line 3 has 3 columns"),
        (",10.0.0.1", "line 3: the entity id .* is empty"),
        ("user-1,300.0.0.1", r"line 3: '300\.0\.0\.1' is not an IPv4 address"),
    ],
)
@pytest.mark.parametrize("channel", ["train", "validation"])
def test_bad_rows_are_named(
    planted: dict, tmp_path: Path, line: str, match: str, channel: str
) -> None:
    bad = tmp_path / f"{channel}.csv"
    bad.write_text(f"user-0,10.0.0.1\n\n{line}\nuser-2,10.0.0.2\n")
    channels = {**planted["channels"], channel: bad}
    with pytest.raises(InputError, match=f"{channel} channel: {channel}.csv {match}"):
        _train(SHORT, channels, tmp_path / "out")


def test_a_csv_syntax_error_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "train.csv"
    bad.write_text("user-0,10.0.0.1\n" + "x" * 200_000 + ",10.0.0.2\n")  # over csv's limit
    with pytest.raises(InputError, match="train channel: train.csv line 2 is not valid CSV"):
        _train(SHORT, {"train": bad}, tmp_path / "out")


def test_a_header_row_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "train.csv"
    bad.write_text("user,ip\nuser-0,10.0.0.1\n")
    with pytest.raises(InputError, match="line 1: 'ip' is not an IPv4 address.*without a header"):
        _train(SHORT, {"train": bad}, tmp_path / "out")


def test_an_empty_channel_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "train.csv"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="train channel: it holds no"):
        _train(SHORT, {"train": empty}, tmp_path / "out")


def test_a_folder_of_files_gzip_and_quoting(planted: dict, tmp_path: Path) -> None:
    """A channel folder's files are read in order; gzip and CSV-quoted ids work."""
    folder = tmp_path / "train"
    folder.mkdir()
    rows = planted["train"]
    _write(folder / "part-0.csv", rows[:1000])
    with gzip.open(folder / "part-1.csv.gz", "wt") as handle:
        handle.write("".join(f"{e},{format_ipv4(ip)}\n" for e, ip in rows[1000:]))
    (folder / "part-2.csv").write_text('"user, with a comma",10.1.2.3\n')
    pairs = read_pairs("train", folder, 1000)
    assert len(pairs) == len(rows) + 1
    assert pairs.ips[-1] == parse_ipv4("10.1.2.3")
    assert pairs.entities[-1] == entity_rows(["user, with a comma"], 1000)[0]
    ctx = _train(
        SHORT, {"train": folder, "validation": planted["channels"]["validation"]}, tmp_path / "out"
    )
    assert ctx.epochs == [1, 2]


# -- training ------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_model(planted: dict, tmp_path: Path) -> None:
    first = _train(SHORT, planted["channels"], tmp_path / "a")
    second = _train(SHORT, planted["channels"], tmp_path / "b")
    assert first.reports == second.reports
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    assert np.array_equal(a.entity_vectors, b.entity_vectors)
    assert np.array_equal(a.octet_vectors, b.octet_vectors)


@pytest.mark.parametrize("layers", ["0", "3"])
def test_encoder_depth(planted: dict, tmp_path: Path, layers: str) -> None:
    ctx = _train({**SHORT, "num_ip_encoder_layers": layers}, planted["channels"], tmp_path)
    assert len(load(tmp_path).layers) == int(layers)
    assert ctx.last(METRIC) > 0.6


def test_weight_decay_shrinks_the_entity_vectors(planted: dict, tmp_path: Path) -> None:
    """L2 on the rows a mini-batch touches (lazy), as on the encoder."""
    _train({**SHORT, "weight_decay": "0"}, planted["channels"], tmp_path / "none")
    _train({**SHORT, "weight_decay": "1"}, planted["channels"], tmp_path / "strong")
    free = np.linalg.norm(load(tmp_path / "none").entity_vectors)
    decayed = np.linalg.norm(load(tmp_path / "strong").entity_vectors)
    assert decayed < 0.7 * free


def test_batch_metrics_are_logged_at_the_interval(
    planted: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="algorithms.ip_insights")
    hp = {**SHORT, "epochs": "1", "batch_metrics_publish_interval": "5"}
    _train(hp, planted["channels"], tmp_path)
    lines = [r.getMessage() for r in caplog.records if "samples/sec" in r.getMessage()]
    assert len(lines) == len(planted["train"]) // 200 // 5  # 16 batches: at 5, 10 and 15
    assert lines[0].startswith("ip-insights batch 5:")


def test_without_validation_only_the_training_loss_is_reported(
    planted: dict, tmp_path: Path
) -> None:
    ctx = _train(SHORT, {"train": planted["channels"]["train"]}, tmp_path)
    assert [set(m) for _, m in ctx.reports] == [{"train:binary_classification_cross_entropy"}] * 2


# -- end to end ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_tuning_job_through_the_cli(planted: dict, tmp_path: Path) -> None:
    """A real job: the SageMaker image URI, AMT's objective, early stopping on."""
    spec = {
        "HyperParameterTuningJobName": "ipi",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": METRIC},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "learning_rate",
                        "MinValue": "0.001",
                        "MaxValue": "0.05",
                        "ScalingType": "Logarithmic",
                    }
                ],
                "IntegerParameterRanges": [
                    {"Name": "vector_dim", "MinValue": "8", "MaxValue": "32"}
                ],
            },
            "TrainingJobEarlyStoppingType": "Auto",
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/ipinsights:1",
                "TrainingInputMode": "File",
            },
            "StaticHyperParameters": {
                "num_entity_vectors": "1000",
                "epochs": "3",
                "mini_batch_size": "200",
            },
            "InputDataConfig": [
                {
                    "ChannelName": name,
                    "ContentType": "text/csv",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(path)}},
                }
                for name, path in planted["channels"].items()
            ],
        },
    }
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 3
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert best["MetricName"] == METRIC
    assert 0.8 < best["Value"] <= 1.0
