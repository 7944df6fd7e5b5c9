"""Training time and quality of our built-in algorithms against scikit-learn, on the same data.

* linear-learner (binary_classifier, SageMaker's default mini_batch_size 1000, 5 epochs) vs
  SGDClassifier(log_loss) and LogisticRegression, on a generated 60,000 x 50 classification
  problem: validation accuracy.
* linear-learner multiclass_classifier (SageMaker's defaults: 15 epochs, mini_batch_size
  1000, num_models auto, adam) vs LogisticRegression on standardised features, on iris, wine,
  digits and a generated 20,000 x 40 four-class problem (stratified 60/20/20 train /
  validation / test; ours chooses among its models on validation): test accuracy.
* kmeans vs MiniBatchKMeans, on 100,000 generated points (20-d, 10 blobs): test mean squared
  distance to the nearest centre.
* knn vs KNeighborsClassifier (brute force), on digits (1,437 train / 360 test) and on a
  generated 20,000 x 30 problem: test accuracy (fit + predict).
* lda vs LatentDirichletAllocation (online and batch variational Bayes, 10 passes each), on
  3,750 documents drawn from a planted 10-topic model over 1,000 words (3,000 train / 750
  test): held-out per-word log-likelihood by document completion (test:pwll).
* ntm (adam, 10 epochs) on the same planted corpus (3,000 train / 750 validation documents):
  validation:total_loss, the negative evidence lower bound in nats per document, against a
  unigram model's negative log-likelihood of the same documents (word frequencies of the
  training documents, add-one smoothed); scikit-learn has no neural topic model.
* ip-insights (5 epochs, vector_dim 32) on 125,000 generated (entity, IPv4) pairs, 2,000
  entities each on 3 random /24 subnets (100,000 train / 25,000 validation):
  validation:discriminator_auc against the same fixed negatives scored by two counting
  baselines, the /24's popularity and the entity's training pairs in the /24 (which is told the
  subnet size); scikit-learn has no such model.
* blazingtext supervised (SageMaker's defaults, and learning_rate 0.5) vs CountVectorizer
  (1-2-grams) with SGDClassifier(log_loss) and with MultinomialNB, on 100,000 generated
  ``__label__`` lines (20 classes, 50 keywords each making 3 in 10 words, a Zipf background of
  5,000 words; 80,000 train / 20,000 validation): validation accuracy. The Word2Vec modes
  (SageMaker's defaults) vs PPMI + TruncatedSVD (Levy and Goldberg's count baseline), on 20,000
  generated 12-word sentences about 60 planted synonym groups of 5 words in 12 topics: Spearman's rho of the
  vectors' cosines against the planted similarity set (train:mean_rho's statistic).
* random-cut-forest vs IsolationForest (100 trees of 256 samples each), on 100,000 correlated
  Gaussian 5-d training rows and 100,000 test rows with 1% planted anomalies: test F1 with
  SageMaker's three-sigma rule on each one's scores (ours: test:f1), scoring all 100,000.
* deepar (gaussian, 30 epochs) vs a seasonal-naive forecast, on 50 generated related hourly
  series of 21 days (level, trend, a daily shape by group, noise): test RMSE over the last 24
  hours of each test series (the train series extended by a day).
* semantic-segmentation (fcn on a ResNet-50 from scratch, 10 epochs of adam) vs predicting
  the commonest class everywhere, on 48 generated 64x64 JPEG images of rectangles and discs
  with PNG masks (32 train / 16 validation): validation mIOU.
* object-detection (SSD on VGG-16 at an eighth of its channels, from scratch, 30 epochs of
  adam) vs detecting each class at its mean training box in every image (no image seen), on 128
  generated 64x64 PNG images of coloured squares, discs and triangles with JSON annotations
  (96 train / 32 validation): validation mAP at IoU 0.5 (VOC).
* object2vec (pooled_embedding encoders, 10 epochs) on two planted pair problems (10,000
  train / 2,000 validation JSON Lines pairs): token sequences labelled by a shared topic
  (validation accuracy, vs LogisticRegression on the two bags of words, alone and with their
  product) and vectors labelled by their dot product (validation mse, vs Ridge on [u, v],
  alone and with u * v).
* seq2seq (RNN with attention, and CNN; 8 epochs of adam) on a generated translation task
  (2,000 train / 500 validation pairs, the target the source reversed with renamed tokens):
  validation BLEU against copying the source and a word-by-word translation told the
  renaming, in source order; scikit-learn has no sequence model.

Both sides start from the same CSV files on disk (label first, SageMaker's layout). Two times
per method: "seconds" from the files (ours: Algorithm.train, which reads its channels;
scikit-learn: pandas.read_csv of the same files, then fit and score), and "fit seconds"
without the reading (ours: the reading time, measured separately with the same reader,
subtracted). Ours runs in process through Algorithm.train with a minimal TrainingContext, on
the CPU with the machine's cores, like scikit-learn. Median of ``--repeats`` timed rounds after
one untimed warm-up round for every method: the first use of torch.optim imports
torch._dynamo (about 1.7 s), which a warm trial worker pays once, not per trial.
Goal (issue 6): same quality, no slower on CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import load_digits, make_blobs, make_classification
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from algorithms import get_algorithm
from algorithms.data import load_channel

Split = tuple[np.ndarray, np.ndarray]


class _Context:
    device = "cpu"

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.metrics: dict[str, float] = {}

    def report(self, epoch: int, **metrics: float) -> None:
        self.metrics.update(metrics)

    def should_stop(self) -> bool:
        return False


def _write(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.7g")
    return path


def _read(path: Path) -> Split:
    values = pd.read_csv(path, header=None).to_numpy(dtype=np.float64)
    return values[:, 1:], values[:, 0]


def _compare(
    problem: str,
    metric: str,
    data: dict[str, Split],
    ours: tuple[str, str, dict[str, Any], str],
    theirs: dict[str, Callable[[dict[str, Split]], float]],
    repeats: int,
) -> list[dict[str, Any]]:
    """Rows for one problem: ours (label, algorithm, hyperparameters, metric key) and theirs."""
    label, algorithm, hyperparameters, key = ours
    runs: dict[str, list[tuple[float, float, float]]] = {
        label: [],
        **{name: [] for name in theirs},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {name: _write(root / f"{name}.csv", X, y) for name, (X, y) in data.items()}
        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)
            start = time.perf_counter()
            for path in paths.values():
                load_channel(path)
            reading = time.perf_counter() - start
            ctx = _Context(root / f"out{round_}")
            start = time.perf_counter()
            get_algorithm(algorithm).train(
                {k: str(v) for k, v in hyperparameters.items()},
                paths,  # type: ignore[arg-type]
                ctx,  # type: ignore[arg-type]
            )
            seconds = time.perf_counter() - start
            runs[label].append((seconds, seconds - reading, ctx.metrics[key]))
            for name, fit_and_score in theirs.items():
                start = time.perf_counter()
                loaded = {channel: _read(path) for channel, path in paths.items()}
                read = time.perf_counter() - start
                quality = fit_and_score(loaded)
                seconds = time.perf_counter() - start
                runs[name].append((seconds, seconds - read, quality))
    return _median_rows(problem, metric, runs)


def linear(repeats: int) -> list[dict[str, Any]]:
    X, y = make_classification(60_000, 50, n_informative=20, random_state=0)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.2, random_state=0)

    def sgd(d: dict[str, Split]) -> float:
        model = SGDClassifier(loss="log_loss", random_state=0).fit(*d["train"])
        return float(model.score(*d["validation"]))

    def logreg(d: dict[str, Split]) -> float:
        return float(LogisticRegression(max_iter=200).fit(*d["train"]).score(*d["validation"]))

    hp = {
        "predictor_type": "binary_classifier",
        "epochs": 5,
        "mini_batch_size": 1000,
        "feature_dim": 50,
        "num_models": 1,
    }
    return _compare(
        "binary 60k x 50",
        "validation accuracy",
        {"train": (X_tr, y_tr), "validation": (X_va, y_va)},
        (
            "linear-learner (ours, 5 epochs)",
            "linear-learner",
            hp,
            "validation:binary_classification_accuracy",
        ),
        {"SGDClassifier(log_loss)": sgd, "LogisticRegression": logreg},
        repeats,
    )


def linear_learner_multiclass(repeats: int) -> list[dict[str, Any]]:
    """Multiclass linear-learner with SageMaker's defaults against LogisticRegression."""
    from sklearn.datasets import load_iris, load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logreg(d: dict[str, Split]) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        return float(model.fit(*d["train"]).score(*d["test"]))

    problems = {
        "iris (90 train / 30 test), 3 classes": load_iris(return_X_y=True),
        "wine (106 train / 36 test), 3 classes": load_wine(return_X_y=True),
        "digits (1,078 train / 360 test), 10 classes": load_digits(return_X_y=True),
        "generated 20k x 40, 4 classes": make_classification(
            20_000, 40, n_informative=20, n_classes=4, random_state=0
        ),
    }
    rows = []
    for problem, (X, y) in problems.items():
        X_tr, X_rest, y_tr, y_rest = train_test_split(
            X, y, test_size=0.4, random_state=0, stratify=y
        )
        X_va, X_te, y_va, y_te = train_test_split(
            X_rest, y_rest, test_size=0.5, random_state=1, stratify=y_rest
        )
        hp = {"predictor_type": "multiclass_classifier", "num_classes": int(np.unique(y).size)}
        rows += _compare(
            problem,
            "test accuracy",
            {"train": (X_tr, y_tr), "validation": (X_va, y_va), "test": (X_te, y_te)},
            (
                "linear-learner (ours, defaults, 15 epochs)",
                "linear-learner",
                hp,
                "test:multiclass_accuracy",
            ),
            {"LogisticRegression (standardised)": logreg},
            repeats,
        )
    return rows


def kmeans(repeats: int) -> list[dict[str, Any]]:
    X, _ = make_blobs(120_000, 20, centers=10, random_state=0)
    X_tr, X_te = X[:100_000], X[100_000:]

    def minibatch(d: dict[str, Split]) -> float:
        model = MiniBatchKMeans(10, batch_size=5000, n_init=1, random_state=0).fit(d["train"][0])
        test = d["test"][0]
        return float(
            ((test[:, None, :] - model.cluster_centers_[None]) ** 2).sum(-1).min(1).mean()
        )

    hp = {
        "k": 10,
        "feature_dim": 20,
        "epochs": 2,
        "mini_batch_size": 5000,
        "init_method": "kmeans++",
    }
    return _compare(
        "blobs 100k x 20, k=10",
        "test msd (lower is better)",
        {"train": (X_tr, np.zeros(len(X_tr))), "test": (X_te, np.zeros(len(X_te)))},
        ("kmeans (ours)", "kmeans", hp, "test:msd"),
        {"MiniBatchKMeans": minibatch},
        repeats,
    )


def knn(repeats: int) -> list[dict[str, Any]]:
    rows = []
    digits = load_digits(return_X_y=True)
    generated = make_classification(25_000, 30, n_informative=15, random_state=0)

    def brute(d: dict[str, Split]) -> float:
        return float(KNeighborsClassifier(5, algorithm="brute").fit(*d["train"]).score(*d["test"]))

    for label, (X, y) in (("digits", digits), ("generated 20k x 30", generated)):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
        hp = {
            "k": 5,
            "predictor_type": "classifier",
            "feature_dim": X.shape[1],
            "sample_size": len(X_tr),
        }
        rows += _compare(
            label,
            "test accuracy",
            {"train": (X_tr, y_tr), "test": (X_te, y_te)},
            ("knn (ours, torch brute force)", "knn", hp, "test:accuracy"),
            {"KNeighborsClassifier(brute)": brute},
            repeats,
        )
    return rows


def _planted_corpus(
    n_docs: int, n_words: int, n_topics: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Word counts drawn from a known topic model: (train docs, test docs), 4 to 1."""
    rng = np.random.default_rng(seed)
    topics = rng.dirichlet(np.full(n_words, 0.05), size=n_topics)
    mixtures = rng.dirichlet(np.full(n_topics, 0.2), size=n_docs)
    lengths = rng.poisson(100, size=n_docs)
    docs = np.stack(
        [rng.multinomial(n, m @ topics) for n, m in zip(lengths, mixtures, strict=True)]
    )
    split = n_docs * 4 // 5
    return docs[:split].astype(np.float64), docs[split:].astype(np.float64)


def lda(repeats: int) -> list[dict[str, Any]]:
    """lda vs scikit-learn's LatentDirichletAllocation used directly, the same passes each.

    Both are scored by the same held-out per-word log-likelihood (document completion,
    ``algorithms.lda.per_word_log_likelihood``); ours also scores every pass (test and a
    training sample), which scikit-learn's fit does not.
    """
    import scipy.sparse
    from sklearn.decomposition import LatentDirichletAllocation

    from algorithms.lda import per_word_log_likelihood

    n_topics, n_words, passes, batch = 10, 1000, 10, 256
    X_tr, X_te = _planted_corpus(3750, n_words, n_topics)

    def fit_and_score(method: str) -> Callable[[dict[str, Split]], float]:
        def score(d: dict[str, Split]) -> float:
            train = scipy.sparse.csr_matrix(d["train"][0])
            model = LatentDirichletAllocation(
                n_topics,
                doc_topic_prior=1.0 / n_topics,
                learning_method=method,
                batch_size=batch,
                total_samples=train.shape[0],
                max_iter=passes,
                random_state=0,
            ).fit(train)
            test = scipy.sparse.csr_matrix(d["test"][0])
            prior = np.full(n_topics, 1.0 / n_topics)
            return per_word_log_likelihood(test, model.components_, prior)

        return score

    hp = {
        "num_topics": n_topics,
        "feature_dim": n_words,
        "mini_batch_size": batch,
        "max_restarts": 1,
        "max_iterations": passes,
    }
    problem = f"planted topics {len(X_tr)} docs x {n_words} words, k={n_topics}"
    metric = "test pwll (higher is better)"
    data = {"train": (X_tr, np.zeros(len(X_tr))), "test": (X_te, np.zeros(len(X_te)))}
    rows = _compare(
        problem,
        metric,
        data,
        (f"lda (ours, online VB, {passes} passes, 1 restart)", "lda", hp, "test:pwll"),
        {
            f"LatentDirichletAllocation(online, {passes} passes)": fit_and_score("online"),
            f"LatentDirichletAllocation(batch, {passes} passes)": fit_and_score("batch"),
        },
        repeats,
    )
    # Restarts: the best of 5 initialisations after one pass continues (4 extra passes).
    restarts = {**hp, "max_restarts": 5}
    label = f"lda (ours, online VB, {passes} passes, 5 restarts)"
    return rows + _compare(
        problem, metric, data, (label, "lda", restarts, "test:pwll"), {}, repeats
    )


def ntm(repeats: int) -> list[dict[str, Any]]:
    """ntm on the lda problem's corpus, against a unigram model's NLL of the same documents.

    The negative ELBO bounds a document's negative log-likelihood from above, so beating the
    unigram model's exact NLL means the topics explain the documents.
    """
    n_topics, n_words, epochs = 10, 1000, 10
    X_tr, X_va = _planted_corpus(3750, n_words, n_topics)

    def unigram(d: dict[str, Split]) -> float:
        counts = d["train"][0].sum(axis=0) + 1.0
        log_frequencies = np.log(counts / counts.sum())
        return float(-(d["validation"][0] @ log_frequencies).mean())

    hp = {
        "num_topics": n_topics,
        "feature_dim": n_words,
        "optimizer": "adam",
        "learning_rate": 0.01,
        "mini_batch_size": 64,
        "epochs": epochs,
        "num_patience_epochs": epochs + 1,
    }
    data = {"train": (X_tr, np.zeros(len(X_tr))), "validation": (X_va, np.zeros(len(X_va)))}
    return _compare(
        f"planted topics {len(X_tr)} docs x {n_words} words, k={n_topics}",
        "validation total_loss, nats/doc (lower is better)",
        data,
        (f"ntm (ours, adam, {epochs} epochs)", "ntm", hp, "validation:total_loss"),
        {"unigram word frequencies (NLL)": unigram},
        repeats,
    )


def _planted_anomalies(n: int, d: int, seed: int) -> Split:
    """Correlated Gaussian rows, 1% of them pushed far off: (X, 1 for an anomaly else 0)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ np.random.default_rng(99).normal(size=(d, d))
    labels = np.zeros(n)
    planted = rng.choice(n, n // 100, replace=False)
    labels[planted] = 1
    X[planted] += rng.normal(size=(planted.size, d)) * 4 * X.std(axis=0)
    return X, labels


def random_cut_forest(repeats: int) -> list[dict[str, Any]]:
    """Both score the 100,000 test rows and flag those 3 sigma above their mean test score."""
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import f1_score

    from algorithms.random_cut_forest import anomalies

    data = {"train": _planted_anomalies(100_000, 5, 0), "test": _planted_anomalies(100_000, 5, 1)}

    def isolation(d: dict[str, Split]) -> float:
        model = IsolationForest(n_estimators=100, max_samples=256, random_state=0)
        scores = -model.fit(d["train"][0]).score_samples(d["test"][0])
        return float(f1_score(d["test"][1], anomalies(scores)))

    # The train file's first column is written as a label too; feature_dim 5 drops it.
    hp = {"feature_dim": 5, "num_trees": 100, "num_samples_per_tree": 256}
    return _compare(
        "planted anomalies 100k x 5, 1%",
        "test f1 (3-sigma rule)",
        data,
        ("random-cut-forest (ours, 100 x 256)", "random-cut-forest", hp, "test:f1"),
        {"IsolationForest(100 x 256)": isolation},
        repeats,
    )


def _planted_pairs(
    n_entities: int, n_pairs: int, seed: int = 0
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(entity, IPv4) pairs, each entity on 3 random /24 subnets of its own: (train, validation),
    4 to 1."""
    rng = np.random.default_rng(seed)
    subnets = rng.integers(0, 2**24, size=(n_entities, 3))
    entities = rng.integers(0, n_entities, size=n_pairs)
    nets = subnets[entities, rng.integers(0, 3, size=n_pairs)]
    ips = (nets << 8) | rng.integers(0, 256, size=n_pairs)
    pairs = [(f"user-{e}", int(ip)) for e, ip in zip(entities, ips, strict=True)]
    split = n_pairs * 4 // 5
    return pairs[:split], pairs[split:]


def ip_insights(repeats: int) -> list[dict[str, Any]]:
    """ip-insights against frequency baselines, all scored on the same validation negatives.

    Both sides score the validation pairs and the fixed negatives ip-insights' objective uses
    (one random and one shuffled negative per pair, ``validation_negatives``). The baselines
    count training pairs: of the same /24 (any entity: popularity), and of the same entity in
    the same /24 (told the subnet size, which the model must find itself). scikit-learn has no
    such model.
    """
    from collections import Counter

    from algorithms.ip_insights import format_ipv4, read_pairs, validation_negatives
    from algorithms.torch_util import roc_auc

    n_entities, n_pairs, epochs = 2000, 125_000, 5
    train, validation = _planted_pairs(n_entities, n_pairs)
    hp = {
        "num_entity_vectors": 2 * n_entities,  # SageMaker's advice: twice the distinct ids
        "vector_dim": 32,
        "epochs": epochs,
        "mini_batch_size": 1000,
        "learning_rate": 0.01,
    }
    problem = f"planted subnets, {len(train)} pairs, {n_entities} entities"
    metric = "validation discriminator_auc"
    runs: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {}
        for name, rows in (("train", train), ("validation", validation)):
            paths[name] = root / f"{name}.csv"
            paths[name].write_text("".join(f"{e},{format_ipv4(ip)}\n" for e, ip in rows))

        def scored(rows_of: int) -> tuple[Any, Any, np.ndarray]:
            true = read_pairs("validation", paths["validation"], rows_of)
            negatives = validation_negatives(true)
            labels = np.r_[np.ones(len(true)), np.zeros(len(negatives))] > 0.5
            return np.r_[true.entities, negatives.entities], np.r_[true.ips, negatives.ips], labels

        def popularity() -> float:
            seen = Counter((read_pairs("train", paths["train"], 1).ips >> 8).tolist())
            _, ips, labels = scored(1)
            return roc_auc(labels, np.array([seen[ip >> 8] for ip in ips.tolist()]))

        def entity_subnet() -> float:
            rows = 2**62  # so large that no two ids collide: exact entity counts
            train_pairs = read_pairs("train", paths["train"], rows)
            seen = Counter(
                zip(train_pairs.entities.tolist(), (train_pairs.ips >> 8).tolist(), strict=True)
            )
            entities, ips, labels = scored(rows)
            keys = zip(entities.tolist(), (ips >> 8).tolist(), strict=True)
            return roc_auc(labels, np.array([seen[key] for key in keys]))

        baselines = {
            "/24 popularity (any entity)": popularity,
            "entity's pairs in the /24 (told the subnet)": entity_subnet,
        }
        label = f"ip-insights (ours, {epochs} epochs)"
        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)
            ctx = _Context(root / f"out{round_}")
            start = time.perf_counter()
            get_algorithm("ip-insights").train(
                {k: str(v) for k, v in hp.items()},
                paths,  # type: ignore[arg-type]
                ctx,  # type: ignore[arg-type]
            )
            seconds = time.perf_counter() - start
            auc = ctx.metrics["validation:discriminator_auc"]
            runs.setdefault(label, []).append((seconds, seconds, auc))
            for name, baseline in baselines.items():
                _timed(runs, name, baseline)
    return _median_rows(problem, metric, runs)


def _labelled_lines(n_lines: int, seed: int) -> list[str]:
    """``__label__<class> words`` lines: 20 classes, each with 50 keywords of its own that make
    3 in 10 of a line's 10 words; the rest drawn from a Zipf background of 5,000 words."""
    classes, keywords, vocabulary, length = 20, 50, 5000, 10
    keys = np.random.default_rng(123).permutation(vocabulary)[: classes * keywords]
    keys = keys.reshape(classes, keywords)
    zipf = 1.0 / np.arange(1, vocabulary + 1)
    rng = np.random.default_rng(seed)
    labels = rng.integers(classes, size=n_lines)
    is_key = rng.random((n_lines, length)) < 0.3
    key_words = keys[labels[:, None], rng.integers(keywords, size=(n_lines, length))]
    background = rng.choice(vocabulary, size=(n_lines, length), p=zipf / zipf.sum())
    words = np.where(is_key, key_words, background)
    return [
        f"__label__{y} " + " ".join(f"w{w}" for w in row)
        for y, row in zip(labels, words, strict=True)
    ]


def _planted_sentences(
    n_lines: int, seed: int = 0
) -> tuple[list[str], list[tuple[str, str, float]]]:
    """Sentences about 60 synonym groups of 5 words in 12 topics, and a similarity set.

    A 12-word line is about one group: each word is from that group (1 in 10), a group of its
    topic (1 in 10, its own included) or a Zipf background of 2,000 words. The set scores
    every pair within a group 9 and as many random pairs of one topic 5 and of two topics 1,
    as the shipped set does for the packaged corpus.
    """
    n_topics, per_topic, per_group, background, length = 12, 5, 5, 2000, 12
    n_groups = n_topics * per_topic
    group_words = np.arange(n_groups * per_group).reshape(n_groups, per_group)
    zipf = 1.0 / np.arange(1, background + 1)
    rng = np.random.default_rng(seed)
    groups = rng.integers(n_groups, size=n_lines)
    draw = rng.random((n_lines, length))
    own = group_words[groups[:, None], rng.integers(per_group, size=(n_lines, length))]
    sibling = (groups[:, None] // per_topic) * per_topic + rng.integers(
        per_topic, size=(n_lines, length)
    )
    other = group_words[sibling, rng.integers(per_group, size=(n_lines, length))]
    filler = rng.choice(background, size=(n_lines, length), p=zipf / zipf.sum())
    words = np.where(draw < 0.1, own, np.where(draw < 0.2, other, -1 - filler))
    name = {True: "g{}", False: "f{}"}
    lines = [
        " ".join(name[bool(w >= 0)].format(w if w >= 0 else -1 - w) for w in row) for row in words
    ]
    pairs = [
        (f"g{a}", f"g{b}", 9.0)
        for g in range(n_groups)
        for i, a in enumerate(group_words[g])
        for b in group_words[g][i + 1 :]
    ]
    topic_of = np.arange(n_groups * per_group) // (per_topic * per_group)
    target = len(pairs)
    drawn: dict[float, list[tuple[str, str, float]]] = {5.0: [], 1.0: []}
    while min(len(v) for v in drawn.values()) < target:
        a, b = (int(v) for v in rng.integers(n_groups * per_group, size=2))
        score = 5.0 if topic_of[a] == topic_of[b] else 1.0
        if a // per_group != b // per_group and len(drawn[score]) < target:
            drawn[score].append((f"g{a}", f"g{b}", score))
    pairs += drawn[5.0] + drawn[1.0]
    return lines, pairs


def _ppmi_svd(path: Path, dim: int, window: int = 5, min_count: int = 5) -> Any:
    """Word vectors by SVD of the positive PMI matrix (Levy and Goldberg 2014): counts of
    words within ``window`` of each other, context counts smoothed to the power 0.75."""
    import scipy.sparse
    from sklearn.decomposition import TruncatedSVD

    from algorithms.blazingtext import WordVectors, read_sentences, vocabulary

    sentences = read_sentences("train", path)
    words, _ = vocabulary(sentences, min_count)
    index = {w: i for i, w in enumerate(words)}
    ids = [np.array([index[w] for w in s if w in index], dtype=np.int64) for s in sentences]
    flat = np.concatenate(ids)
    line = np.repeat(np.arange(len(ids)), [len(s) for s in ids])
    rows, cols = [], []
    for shift in range(1, window + 1):
        same = line[:-shift] == line[shift:]
        rows += [flat[:-shift][same], flat[shift:][same]]
        cols += [flat[shift:][same], flat[:-shift][same]]
    n = len(words)
    counts = scipy.sparse.coo_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
    ).tocsr()
    total = counts.sum()
    word_p = np.asarray(counts.sum(axis=1)).ravel() / total
    context = np.asarray(counts.sum(axis=0)).ravel() ** 0.75
    context_p = context / context.sum()
    coo = counts.tocoo()
    pmi = np.log(coo.data / total / (word_p[coo.row] * context_p[coo.col]))
    keep = pmi > 0
    ppmi = scipy.sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n, n))
    svd = TruncatedSVD(dim, algorithm="randomized", random_state=0)
    vectors = svd.fit_transform(ppmi) / np.sqrt(svd.singular_values_)  # U * sqrt(S)
    return WordVectors(tuple(words), vectors, np.zeros((0, dim)), np.zeros(0, dtype=np.int64))


def _timed(
    runs: dict[str, list[tuple[float, float, float]]], label: str, fit: Callable[[], float]
) -> None:
    """One run of ``fit`` (it reads its own data, so its fit time is its whole time)."""
    start = time.perf_counter()
    quality = fit()
    seconds = time.perf_counter() - start
    runs.setdefault(label, []).append((seconds, seconds, quality))


def _median_rows(
    problem: str, metric: str, runs: dict[str, list[tuple[float, float, float]]]
) -> list[dict[str, Any]]:
    """Rows of (seconds, fit seconds, quality) runs after the warm-up round (each method's
    first)."""
    return [
        {
            "problem": problem,
            "method": name,
            "metric": metric,
            "seconds": statistics.median(v[0] for v in values[1:]),
            "fit_seconds": statistics.median(v[1] for v in values[1:]),
            "quality": statistics.median(v[2] for v in values[1:]),
        }
        for name, values in runs.items()
    ]


def blazingtext_supervised(repeats: int) -> list[dict[str, Any]]:
    """Supervised BlazingText against scikit-learn's linear text classifiers, same files."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    n_lines = 100_000
    lines = _labelled_lines(n_lines, seed=0)
    split = n_lines * 4 // 5
    ours = {
        "ours, SageMaker's defaults (5 epochs, lr 0.05, bigrams)": {"mode": "supervised"},
        "ours, learning_rate 0.5": {"mode": "supervised", "learning_rate": 0.5},
    }
    runs: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {"train": root / "train.txt", "validation": root / "validation.txt"}
        paths["train"].write_text("".join(line + "\n" for line in lines[:split]))
        paths["validation"].write_text("".join(line + "\n" for line in lines[split:]))

        def theirs(model: Any, ngrams: tuple[int, int]) -> Callable[[], float]:
            def fit() -> float:
                data = {
                    name: [line.split(" ", 1) for line in path.read_text().splitlines()]
                    for name, path in paths.items()
                }
                vectorizer = CountVectorizer(token_pattern=r"\S+", ngram_range=ngrams)
                X = vectorizer.fit_transform([text for _, text in data["train"]])
                model.fit(X, [label for label, _ in data["train"]])
                X_val = vectorizer.transform([text for _, text in data["validation"]])
                return float(model.score(X_val, [label for label, _ in data["validation"]]))

            return fit

        baselines = {
            "SGDClassifier(log_loss), 1-2-grams": theirs(
                SGDClassifier(loss="log_loss", random_state=0), (1, 2)
            ),
            "MultinomialNB, 1-2-grams": theirs(MultinomialNB(), (1, 2)),
        }
        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)
            for label, hp in ours.items():

                def fit(hp: dict[str, Any] = hp, out: str = f"{label[:12]}{round_}") -> float:
                    ctx = _Context(root / out)
                    get_algorithm("blazingtext").train(
                        {k: str(v) for k, v in hp.items()},
                        paths,  # type: ignore[arg-type]
                        ctx,  # type: ignore[arg-type]
                    )
                    return ctx.metrics["validation:accuracy"]

                _timed(runs, f"blazingtext supervised ({label})", fit)
            for name, baseline in baselines.items():
                _timed(runs, name, baseline)
    problem = f"text classification, {split} lines, 20 classes"
    return _median_rows(problem, "validation accuracy", runs)


def blazingtext_word2vec(repeats: int) -> list[dict[str, Any]]:
    """The Word2Vec modes against PPMI + truncated SVD, scored on the same similarity set."""
    from algorithms.blazingtext import load, mean_rho

    lines, pairs = _planted_sentences(20_000)
    runs: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "train.txt"
        path.write_text("".join(line + "\n" for line in lines))
        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)
            for mode in ("skipgram", "cbow", "batch_skipgram"):

                def fit(mode: str = mode, out: Path = root / f"{mode}{round_}") -> float:
                    get_algorithm("blazingtext").train(
                        {"mode": mode, "evaluation": "false"},
                        {"train": path},  # type: ignore[dict-item]
                        _Context(out),  # type: ignore[arg-type]
                    )
                    return mean_rho(load(out), [pairs])  # type: ignore[arg-type]

                _timed(runs, f"blazingtext {mode} (ours, SageMaker's defaults)", fit)
            _timed(
                runs,
                "PPMI + TruncatedSVD (dim 100, window 5)",
                lambda: mean_rho(_ppmi_svd(path, 100), [pairs]),
            )
    problem = f"planted synonyms, {len(lines)} lines, 300 words in 60 groups"
    return _median_rows(problem, "Spearman rho (mean_rho)", runs)


def blazingtext(repeats: int) -> list[dict[str, Any]]:
    """Both BlazingText families: supervised and Word2Vec."""
    return blazingtext_supervised(repeats) + blazingtext_word2vec(repeats)


def deepar(repeats: int) -> list[dict[str, Any]]:
    """DeepAR against a seasonal-naive forecast on related seasonal series, same test split.

    50 generated hourly series of 21 days (a level, a trend and a daily shape whose amplitude
    depends on the series' group, Gaussian noise of 1), the test channel the train series
    extended by a day: test RMSE over each series' last 24 hours. Seasonal naive forecasts each
    hour by the same hour a day before. scikit-learn has no forecaster.
    """
    from algorithms.deepar_data import seasonal_series, split_for_test, write_json_lines

    horizon = period = 24
    records = seasonal_series(50, 24 * 21, period=period, noise=1.0)
    hp = {
        "time_freq": "H",
        "context_length": 24,
        "prediction_length": horizon,
        "epochs": 30,
        "num_cells": 40,
        "num_layers": 2,
        "mini_batch_size": 64,
        "learning_rate": 0.005,
        "num_eval_samples": 100,
        "likelihood": "gaussian",
    }

    def seasonal_naive(path: Path) -> float:
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        truth = np.array([r["target"][-horizon:] for r in lines])
        naive = np.array([r["target"][-horizon - period : -period] for r in lines])
        return float(np.sqrt(np.mean((truth - naive) ** 2)))

    runs: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train, test = split_for_test(records, horizon)
        paths = {
            "train": write_json_lines(root / "train.json", train),
            "test": write_json_lines(root / "test.json", test),
        }
        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)

            def fit(out: Path = root / f"out{round_}") -> float:
                ctx = _Context(out)
                get_algorithm("deepar").train(
                    {k: str(v) for k, v in hp.items()},
                    paths,  # type: ignore[arg-type]
                    ctx,  # type: ignore[arg-type]
                )
                return ctx.metrics["test:RMSE"]

            _timed(runs, f"deepar (ours, gaussian, {hp['epochs']} epochs)", fit)
            _timed(
                runs,
                "seasonal naive (same hour a day before)",
                lambda: seasonal_naive(paths["test"]),
            )
    problem = f"related seasonal series, {len(records)} x {24 * 20} hours, horizon {horizon}"
    return _median_rows(problem, "test RMSE (lower is better)", runs)


def object2vec(repeats: int) -> list[dict[str, Any]]:
    """Object2Vec on two planted pair problems, against linear models of the two inputs.

    Topics: 10,000 train / 2,000 validation pairs of 6-12 token ids (8 topics of 12 ids, 40
    filler ids), labelled 1 when both are about the same topic (half are): validation accuracy
    of ours (pooled_embedding encoders) against LogisticRegression on the two bags of words
    side by side, and, a stronger reference told the interaction, with their elementwise
    product added. Vectors: 10,000 / 2,000 pairs of 6-d standard normal vectors labelled by
    their dot product plus noise (sd 0.1): validation mean squared error of ours against Ridge
    on ``[u, v]`` and on ``[u, v, u * v]`` (the second is the true model's features).
    """
    from sklearn.linear_model import Ridge

    from algorithms.object2vec import planted_topic_pairs, planted_vector_pairs, write_jsonlines

    shared = {
        "enc0_network": "pooled_embedding",
        "enc0_token_embedding_dim": 32,
        "enc_dim": 32,
        "mlp_dim": 64,
        "learning_rate": 0.005,
        "mini_batch_size": 64,
    }
    problems = {
        "topics": (
            planted_topic_pairs,
            {"enc0_max_seq_len": 20, "enc0_vocab_size": 136, "epochs": 10},
            "validation:accuracy",
        ),
        "vectors": (
            planted_vector_pairs,
            {
                "enc0_max_seq_len": 1,
                "enc0_vocab_size": 2,
                "epochs": 10,
                "output_layer": "mean_squared_error",
                "comparator_list": "hadamard",
            },
            "validation:mean_squared_error",
        ),
    }

    def features(path: Path, product: bool, width: int) -> tuple[np.ndarray, np.ndarray]:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        if width:  # token ids: bags of words
            bags = np.zeros((len(records), 2, width))
            for i, record in enumerate(records):
                np.add.at(bags[i, 0], record["in0"], 1.0)
                np.add.at(bags[i, 1], record["in1"], 1.0)
            left, right = bags[:, 0], bags[:, 1]
        else:
            left = np.array([r["in0"] for r in records])
            right = np.array([r["in1"] for r in records])
        X = np.hstack([left, right, left * right] if product else [left, right])
        return X, np.array([r["label"] for r in records])

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for problem, (generate, hp, key) in problems.items():
            paths = {
                "train": write_jsonlines(root / problem / "train.jsonl", generate(10_000, 1)),
                "validation": write_jsonlines(
                    root / problem / "validation.jsonl", generate(2_000, 2)
                ),
            }
            width = 136 if problem == "topics" else 0
            runs: dict[str, list[tuple[float, float, float]]] = {}
            settings = {**shared, **hp}
            for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)

                def fit(
                    hp: dict = settings,
                    key: str = key,
                    paths: dict[str, Path] = paths,
                    out: Path = root / f"{problem}{round_}",
                ) -> float:
                    ctx = _Context(out)
                    get_algorithm("object2vec").train(
                        {k: str(v) for k, v in hp.items()},
                        paths,  # type: ignore[arg-type]
                        ctx,  # type: ignore[arg-type]
                    )
                    return ctx.metrics[key]

                _timed(runs, f"object2vec (ours, pooled_embedding, {hp['epochs']} epochs)", fit)
                for product in (False, True):

                    def reference(
                        product: bool = product, width: int = width, paths: dict = paths
                    ) -> float:
                        X, y = features(paths["train"], product, width)
                        X_val, y_val = features(paths["validation"], product, width)
                        if width:
                            model = LogisticRegression(max_iter=2000).fit(X, y)
                            return float(model.score(X_val, y_val))
                        ridge = Ridge().fit(X, y)
                        return float(np.mean((ridge.predict(X_val) - y_val) ** 2))

                    name = "LogisticRegression" if width else "Ridge"
                    inputs = "bags of words" if width else "the vectors u and v"
                    label = f"{name} on {inputs}" + (" + their product" if product else "")
                    _timed(runs, label, reference)
            title = (
                "topic pairs, 10000 train, 8 topics (label: same topic)"
                if width
                else "vector pairs, 10000 train, 6-d (label: u . v + noise)"
            )
            metric = "validation accuracy" if width else "validation mse (lower is better)"
            rows += _median_rows(title, metric, runs)
    return rows


def semantic_segmentation(repeats: int) -> list[dict[str, Any]]:
    """Semantic segmentation (FCN on a ResNet-50 from scratch) against a constant prediction.

    Generated 64x64 JPEG images of rectangles and discs with their PNG masks (3 classes, 32
    train / 16 validation): validation mIOU of ours (10 epochs of adam, learning_rate 0.001,
    mini_batch_size 8) against predicting the training masks' commonest class (background)
    everywhere. scikit-learn has no segmentation model.
    """
    from algorithms.segmentation_shapes import majority_class_scores, write_shapes

    hp = {
        "num_classes": 3,
        "num_training_samples": 32,
        "use_pretrained_model": "False",
        "base_size": 64,
        "crop_size": 64,
        "epochs": 10,
        "mini_batch_size": 8,
        "optimizer": "adam",
        "learning_rate": 0.001,
    }
    runs: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        channels = write_shapes(root / "data", n_train=32, n_validation=16, size=64, seed=1)
        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)

            def fit(out: Path = root / f"out{round_}") -> float:
                ctx = _Context(out)
                get_algorithm("semantic-segmentation").train(
                    {k: str(v) for k, v in hp.items()},
                    channels,  # type: ignore[arg-type]
                    ctx,  # type: ignore[arg-type]
                )
                return ctx.metrics["validation:mIOU"]

            _timed(runs, "semantic-segmentation (ours, fcn, resnet-50, 10 epochs)", fit)
            _timed(
                runs,
                "constant majority class (background)",
                lambda: majority_class_scores(channels)[0],
            )
    problem = "shapes, 32 train / 16 validation 64x64 images, 3 classes"
    return _median_rows(problem, "validation mIOU", runs)


class _BestMap(_Context):
    """Keeps the best validation:mAP reported (object detection keeps the model best by it)."""

    best = 0.0

    def report(self, epoch: int, **metrics: float) -> None:
        super().report(epoch, **metrics)
        self.best = max(self.best, metrics["validation:mAP"])


def object_detection(repeats: int) -> list[dict[str, Any]]:
    """Object detection (SSD) against detecting each class at its mean box, on shapes.

    Generated 64x64 PNG images of 1 or 2 coloured shapes (3 classes) with JSON annotations,
    96 train / 32 validation: validation mAP (IoU 0.5, VOC) of the model kept (the epoch of
    best mAP) of ours, SSD on VGG-16 at an eighth of its channels
    (``ObjectDetectionAlgorithm(width_divisor=8)``: the full network takes about a minute an
    epoch here on two CPU cores), 30 epochs of adam at learning_rate 0.003, mini_batch_size 16,
    from scratch; against every class detected at its mean training box in every image, scored
    by its share of the training boxes (what knowing no image gives). scikit-learn has no
    detector.
    """
    from algorithms.object_detection import ObjectDetectionAlgorithm
    from algorithms.object_detection_data import load_split, write_shapes
    from algorithms.object_detection_metric import mean_average_precision, mean_box_detections

    hp = {
        "num_classes": 3,
        "num_training_samples": 96,
        "use_pretrained_model": 0,
        "image_shape": 64,
        "epochs": 30,
        "mini_batch_size": 16,
        "optimizer": "adam",
        "learning_rate": 0.003,
    }
    algorithm = ObjectDetectionAlgorithm(width_divisor=8)
    runs: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        channels = write_shapes(root / "data", n_train=96, n_validation=32, size=64, seed=1)

        def mean_box() -> float:
            train = load_split(channels, "train", 64, 3, 350)
            validation = load_split(channels, "validation", 64, 3, 350)
            found = mean_box_detections(train.boxes, len(validation), 3)
            return mean_average_precision(found, validation.boxes, 3)

        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)

            def fit(out: Path = root / f"out{round_}") -> float:
                ctx = _BestMap(out)
                algorithm.train(
                    {k: str(v) for k, v in hp.items()},
                    channels,
                    ctx,  # type: ignore[arg-type]
                )
                return ctx.best

            _timed(runs, "object-detection (ours, ssd, vgg-16 / 8, 30 epochs)", fit)
            _timed(runs, "each class at its mean training box", mean_box)
    problem = "shapes, 96 train / 32 validation 64x64 images, 3 classes"
    return _median_rows(problem, "validation mAP (IoU 0.5)", runs)


class _BestBleu(_Context):
    """Keeps the best validation:bleu reported (seq2seq keeps the model best by it)."""

    best = 0.0

    def report(self, epoch: int, **metrics: float) -> None:
        super().report(epoch, **metrics)
        self.best = max(self.best, metrics["validation:bleu"])


def seq2seq(repeats: int) -> list[dict[str, Any]]:
    """Seq2seq (RNN with attention, and CNN) against two references on a generated task.

    The task (:func:`algorithms.seq2seq.reversal_pairs`, 12 source tokens, 3 to 8 a sentence):
    the target is the source reversed with every token renamed (``t3`` -> ``T3``); 2,000 train
    / 500 validation pairs as plain text. Validation BLEU (corpus BLEU as a fraction, greedy
    decoding of the model best by BLEU) of ours (8 epochs of adam, batch_size 32, 64 units,
    embeddings of 32) against copying the source (0: no token is shared) and a word-by-word
    translation told the renaming, in source order (every unigram right, the order is what
    must be learned). scikit-learn has no sequence model.
    """
    from algorithms.seq2seq import reversal_pairs
    from algorithms.seq2seq_bleu import corpus_bleu

    common = {
        "max_num_epochs": 8,
        "batch_size": 32,
        "checkpoint_frequency_num_batches": 63,  # one checkpoint an epoch
        "num_embed_source": 32,
        "num_embed_target": 32,
        "max_seq_len_source": 10,
        "max_seq_len_target": 10,
        "optimized_metric": "bleu",
        "beam_size": 1,
    }
    networks = {
        "rnn": {"rnn_num_hidden": 64, "learning_rate": 0.02},
        "cnn": {
            "encoder_type": "cnn",
            "decoder_type": "cnn",
            "cnn_num_hidden": 64,
            "num_layers_encoder": 2,
            "num_layers_decoder": 2,
            "learning_rate": 0.005,
        },
    }
    lines = {"train": reversal_pairs(2000, seed=1), "validation": reversal_pairs(500, seed=2)}
    pairs = [line.split("\t") for line in lines["validation"]]
    references = [t.split() for _, t in pairs]

    def copy_source() -> float:
        return corpus_bleu([s.split() for s, _ in pairs], references)

    def word_by_word() -> float:
        return corpus_bleu([s.upper().split() for s, _ in pairs], references)

    runs: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {}
        for name, part in lines.items():
            paths[name] = root / f"{name}.txt"
            paths[name].write_text("".join(line + "\n" for line in part))
        for round_ in range(repeats + 1):  # round 0 only warms up (imports, caches)
            for kind, network in networks.items():

                def fit(out: Path = root / f"{kind}{round_}", network=network) -> float:
                    ctx = _BestBleu(out)
                    get_algorithm("seq2seq").train(
                        {k: str(v) for k, v in {**common, **network}.items()},
                        paths,  # type: ignore[arg-type]
                        ctx,  # type: ignore[arg-type]
                    )
                    return ctx.best  # the kept model's, as it is kept best by BLEU

                _timed(runs, f"seq2seq (ours, {kind}, 8 epochs)", fit)
            _timed(runs, "copy the source", copy_source)
            _timed(runs, "word by word, told the renaming (source order)", word_by_word)
    problem = "reversal with renamed tokens, 2,000 train / 500 validation pairs"
    return _median_rows(problem, "validation BLEU (fraction)", runs)


#: The benchmark's parts (``--only linear,deepar`` runs two of them), in the table's order.
PARTS: dict[str, Callable[[int], list[dict[str, Any]]]] = {
    "linear": linear,
    "linear_learner_multiclass": linear_learner_multiclass,
    "kmeans": kmeans,
    "knn": knn,
    "lda": lda,
    "ntm": ntm,
    "ip_insights": ip_insights,
    "blazingtext": blazingtext,
    "deepar": deepar,
    "object2vec": object2vec,
    "object_detection": object_detection,
    "semantic_segmentation": semantic_segmentation,
    "seq2seq": seq2seq,
    "random_cut_forest": random_cut_forest,
}


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    repeats = max(1, args.repeats)
    only = [name for name in getattr(args, "only", "").split(",") if name]
    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        raise SystemExit(f"--only: unknown part(s) {unknown}; parts: {', '.join(PARTS)}")
    rows = []
    for name, part in PARTS.items():
        if not only or name in only:
            rows += part(repeats)
    table = Table(
        title=f"Built-in algorithms vs scikit-learn on the CPU, from the same CSV files (median of {repeats})"
    )
    for column in ("problem", "method", "metric", "quality", "seconds", "fit seconds"):
        table.add_column(
            column, justify="left" if column in ("problem", "method", "metric") else "right"
        )
    for r in rows:
        table.add_row(
            r["problem"],
            r["method"],
            r["metric"],
            f"{r['quality']:.4f}",
            f"{r['seconds']:.3f}",
            f"{r['fit_seconds']:.3f}",
        )
    return table, {"repeats": repeats, "rows": rows}
