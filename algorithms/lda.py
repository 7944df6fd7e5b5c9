"""Latent Dirichlet Allocation as SageMaker's built-in ``lda`` image offers it, on scikit-learn.

**What it fits.** SageMaker's LDA is spectral: it estimates the corpus' low-order word moments in
one pass, whitens them and decomposes the third-order tensor by alternating least squares (ALS),
restarted ``max_restarts`` times, at most ``max_iterations`` ALS iterations to a tolerance
``tol`` (Anandkumar et al., "Tensor decompositions for learning latent variable models", JMLR
2014). We fit the same model (documents as mixtures of topics, topics as distributions over
words, a symmetric Dirichlet prior on the mixtures) by online variational Bayes instead, with
scikit-learn's :class:`~sklearn.decomposition.LatentDirichletAllocation` (Hoffman, Blei and Bach,
"Online learning for Latent Dirichlet Allocation", NIPS 2010). Why: it is a maintained, tested
implementation that already is a project dependency; it trains in passes over the data, so each
pass can report ``test:pwll`` and early stopping can act between passes, which a one-shot
tensor decomposition cannot offer; and it maximises (a bound on) the likelihood that
``test:pwll`` measures, where the method of moments does not. The price: many passes over the
corpus where SageMaker reads it once, and its per-document inference is a Python loop (our own
vectorised inference, below, scores and predicts).

**Hyperparameters** are SageMaker's, mapped onto variational Bayes:

* ``num_topics`` -> the number of topics; ``feature_dim`` -> the vocabulary size, the width of
  every document's count vector.
* ``alpha0`` is SageMaker's concentration, the *sum* of the symmetric Dirichlet prior on topic
  mixtures; each topic's prior weight (scikit-learn's ``doc_topic_prior``) is
  ``alpha0 / num_topics``. SageMaker calls it an initial guess that training may refine; here it
  stays fixed. The topics' own prior (``topic_word_prior``, which SageMaker does not expose)
  stays scikit-learn's default, ``1 / num_topics``.
* ``mini_batch_size``, required as in SageMaker, which documents it as "the total number of
  documents in the input corpus": the documents per online update. A value of at least the
  corpus size, as SageMaker's wording suggests, makes each pass one full-corpus update; smaller
  batches converge in fewer passes. The online updates are always scaled by the true number of
  training documents (scikit-learn's ``total_samples``).
* ``max_restarts``: that many seeded initialisations each make the first pass; the one with the
  best ``train:pwll`` then continues and the others are dropped. It keeps SageMaker's meaning,
  several starts and the best local optimum kept, for the price of ``max_restarts - 1`` extra
  passes rather than of as many full fits. Restarts matter: on the benchmark's corpus (10
  planted topics) single seeds end 0.2 nats per word apart, and the first pass already ranks
  them much as the last does.
* ``max_iterations``: the most passes over the training data; each pass is one epoch.
* ``tol``: training ends once a pass moves no topic's word distribution by more than ``tol``
  (L1 distance), the analogue of ALS stopping when its factors stop changing. SageMaker's default
  of 1e-8 is tighter than online updates ever get, so by default all ``max_iterations`` passes
  run (early stopping can end a trial sooner).

**Data.** A channel holds one document per row: ``feature_dim`` non-negative word counts, as
SageMaker's dense CSV (no label column; a first label column is tolerated and dropped when a
row has ``feature_dim + 1`` values, the project's CSV convention) or RecordIO-protobuf, dense or
sparse (read by :mod:`algorithms.data`; sparse records may stop short of the last words).
Counts need not be whole numbers. A negative, missing or infinite count, a short or long row,
a sparse word index beyond ``feature_dim`` or a non-numeric value is an :class:`InputError`
naming the channel and the row (the line, for CSV); rows all of another width than
``feature_dim`` are a :class:`HyperparameterError` (an InputError) naming ``feature_dim``.

**Metric.** ``test:pwll`` (Maximize, AMT's objective for LDA; SageMaker does not say how it
computes it, so this definition is ours) is the per-word log-likelihood of held-out documents
by *document completion* (Wallach et al., "Evaluation methods for topic models", ICML 2009):
each test document's counts are split at random, half and half (a seeded binomial split of
every count), its topic mixture is inferred from the first half and the second half is scored,
``sum(log p(word)) / words``. Unlike scoring a document with a mixture fitted to that same
document, this rewards topics that generalise, so tuning ``num_topics`` on it does not merely
favour more topics. ``exp(-pwll)`` is the held-out perplexity. It is reported after every pass
when there is a ``test`` channel; the informational ``train:pwll`` (the same measure on a fixed
sample of at most :data:`PROBE_DOCS` training documents) is reported always.

The model (``lda-model.npz``) holds the topics' variational Dirichlet parameters and the prior;
:meth:`LDAModel.predict` gives each document's topic mixture, as SageMaker's endpoint does. The
device is ignored: scikit-learn trains on the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse
from scipy.special import digamma

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    StopTraining,
    TrainingContext,
    TuningRange,
    continuous,
    integer,
    parse_hyperparameters,
)
from algorithms.data import Features, load_channel

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "lda-model.npz"

#: Seed of the initialisations (restart ``r`` uses ``SEED + r``), the pass order, the training
#: sample scored as ``train:pwll`` and the half-and-half split of held-out documents.
SEED = 0

#: At most this many training documents (a fixed random sample) are scored as ``train:pwll``.
PROBE_DOCS = 1000

#: Inference of a document's topic mixture: at most this many fixed-point iterations, ending
#: once the mixture's parameters change by less than the tolerance (scikit-learn's defaults).
E_STEP_MAX_ITER = 100
E_STEP_TOL = 1e-3
#: Documents inferred at once, at most, and at most this many documents x words in a chunk
#: (bounds the memory of the vectorised inference).
E_STEP_CHUNK = 2048
E_STEP_CELLS = 1 << 22

METRICS: Mapping[str, Direction] = MappingProxyType({"test:pwll": "Maximize"})
#: Reported as well, informational (AMT documents only test:pwll for LDA).
REPORTED_METRICS = ("train:pwll",)

#: SageMaker LDA's hyperparameters ("LDA Hyperparameters" in the developer guide).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "num_topics": HyperparameterSpec(
            "int", required=True, min_value=1, description="Topics to find."
        ),
        "feature_dim": HyperparameterSpec(
            "int", required=True, min_value=1, description="Vocabulary size (counts per row)."
        ),
        "mini_batch_size": HyperparameterSpec(
            "int",
            required=True,
            min_value=1,
            description="Documents per online update (SageMaker: the corpus' document count).",
        ),
        "alpha0": HyperparameterSpec(
            "float",
            1.0,
            min_value=0.0,
            min_open=True,
            description="Sum of the Dirichlet prior on topic mixtures; each topic: alpha0/k.",
        ),
        "max_restarts": HyperparameterSpec(
            "int",
            10,
            min_value=1,
            description="Seeded initialisations; the best after one pass is kept.",
        ),
        "max_iterations": HyperparameterSpec(
            "int", 1000, min_value=1, description="Most passes over the training data."
        ),
        "tol": HyperparameterSpec(
            "float",
            1e-8,
            min_value=0.0,
            min_open=True,
            description="Stop once no topic moves more than this (L1) in a pass.",
        ),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "alpha0": continuous(0.1, 10, "Logarithmic"),
        "num_topics": integer(1, 150),
    }
)


# -- model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LDAModel:
    """Topics as variational Dirichlet parameters; ``predict`` infers topic mixtures."""

    topic_word: np.ndarray  # (num_topics, feature_dim): lambda, the topics' Dirichlet parameters
    doc_topic_prior: np.ndarray  # (num_topics,): alpha0 / num_topics each

    @property
    def topics(self) -> np.ndarray:
        """Each topic's word distribution (the posterior mean), rows summing to one."""
        return self.topic_word / self.topic_word.sum(axis=1, keepdims=True)

    def transform(self, X: Features) -> np.ndarray:
        """Each row's topic mixture, ``(rows, num_topics)``, rows summing to one."""
        counts = _as_counts(X, self.topic_word.shape[1], "input")
        gamma = infer_mixtures(counts, self.topic_word, self.doc_topic_prior)
        return gamma / gamma.sum(axis=1, keepdims=True)

    def predict(self, X: Features) -> np.ndarray:
        """Same as :meth:`transform` (SageMaker's LDA endpoint returns ``topic_mixture``)."""
        return self.transform(X)

    def per_word_log_likelihood(self, X: Features, seed: int = SEED) -> float:
        """``test:pwll`` of documents ``X``: see :func:`per_word_log_likelihood`."""
        counts = _as_counts(X, self.topic_word.shape[1], "input")
        return per_word_log_likelihood(counts, self.topic_word, self.doc_topic_prior, seed)


def load(path: Path | str) -> LDAModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no LDA model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as saved:
        return LDAModel(
            topic_word=np.array(saved["topic_word"], dtype=np.float64),
            doc_topic_prior=np.array(saved["doc_topic_prior"], dtype=np.float64),
        )


def _save(model: LDAModel, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, topic_word=model.topic_word, doc_topic_prior=model.doc_topic_prior)


# -- inference and the metric --------------------------------------------------------------------


def _exp_dirichlet_expectation(parameters: np.ndarray) -> np.ndarray:
    """``exp(E[log p])`` for Dirichlet rows with these parameters (the VB building block)."""
    total = digamma(parameters.sum(axis=1, keepdims=True))
    return np.exp(digamma(parameters) - total)


def infer_mixtures(
    counts: scipy.sparse.csr_matrix, topic_word: np.ndarray, doc_topic_prior: np.ndarray
) -> np.ndarray:
    """Variational Dirichlet parameters (gamma) of every row's topic mixture, ``(rows, k)``.

    The E-step of variational Bayes (Blei, Ng and Jordan 2003), vectorised over chunks of
    documents instead of scikit-learn's loop over them; deterministic (every gamma starts at
    one), so a saved model predicts the same mixtures every time.
    """
    exp_beta = _exp_dirichlet_expectation(topic_word)
    chunk = _chunk_rows(topic_word.shape[1])
    parts = [
        _infer_chunk(counts[start : start + chunk], exp_beta, doc_topic_prior)
        for start in range(0, counts.shape[0], chunk)
    ]
    if not parts:
        return np.zeros((0, len(doc_topic_prior)))
    return np.vstack(parts)


def _chunk_rows(n_words: int) -> int:
    return max(1, min(E_STEP_CHUNK, E_STEP_CELLS // max(n_words, 1)))


def _infer_chunk(
    counts: scipy.sparse.csr_matrix, exp_beta: np.ndarray, alpha: np.ndarray
) -> np.ndarray:
    """Fixed-point iterations on the documents whose mixture still moves (as scikit-learn does
    document by document: each stops once its mean change is below :data:`E_STEP_TOL`)."""
    gamma = np.ones((counts.shape[0], len(alpha)))
    exp_beta_t = np.ascontiguousarray(exp_beta.T)
    active = np.arange(counts.shape[0])
    for _ in range(E_STEP_MAX_ITER):
        block = counts[active]
        exp_theta = _exp_dirichlet_expectation(gamma[active])
        norm = _mixture_at_counts(exp_theta, exp_beta, exp_beta_t, block) + 1e-100
        weighted = scipy.sparse.csr_matrix(
            (block.data / norm, block.indices, block.indptr), shape=block.shape
        )
        updated = alpha + exp_theta * np.asarray(weighted @ exp_beta_t)
        moving = np.abs(updated - gamma[active]).mean(axis=1) >= E_STEP_TOL
        gamma[active] = updated
        active = active[moving]
        if not active.size:
            break
    return gamma


def _mixture_at_counts(
    theta: np.ndarray, beta: np.ndarray, beta_t: np.ndarray, counts: scipy.sparse.csr_matrix
) -> np.ndarray:
    """``sum_k theta[d, k] * beta[k, w]`` at every stored count ``(d, w)``, in CSR order.

    Dense rows (at least 1/8 of the vocabulary stored) take one matrix product and a gather,
    ten times faster there; sparse rows gather per stored count and never form ``docs x words``.
    """
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    if counts.shape[0] * counts.shape[1] <= 8 * counts.nnz:
        return (theta @ beta)[rows, counts.indices]
    return np.einsum("ik,ik->i", theta[rows], beta_t[counts.indices])


def split_counts(
    counts: scipy.sparse.csr_matrix, seed: int = SEED
) -> tuple[scipy.sparse.csr_matrix, scipy.sparse.csr_matrix]:
    """Each document's counts split at random into (observed, held-out) halves.

    A whole count ``c`` is split binomially (each word token to either half with probability
    1/2); a fraction is halved. The split depends only on the data and ``seed``, so every trial
    of a tuning job is scored on the same held-out words.
    """
    rng = np.random.default_rng(seed)
    whole = np.floor(counts.data)
    observed = rng.binomial(whole.astype(np.int64), 0.5) + (counts.data - whole) / 2
    # copy: eliminate_zeros works in place, and must not touch the caller's index arrays
    first = scipy.sparse.csr_matrix(
        (observed, counts.indices, counts.indptr), shape=counts.shape, copy=True
    )
    second = scipy.sparse.csr_matrix(
        (counts.data - observed, counts.indices, counts.indptr), shape=counts.shape, copy=True
    )
    first.eliminate_zeros()
    second.eliminate_zeros()
    return first, second


def per_word_log_likelihood(
    counts: scipy.sparse.csr_matrix,
    topic_word: np.ndarray,
    doc_topic_prior: np.ndarray,
    seed: int = SEED,
) -> float:
    """Held-out per-word log-likelihood by document completion (the ``pwll`` metrics).

    Each document's mixture is inferred from one half of its counts (:func:`split_counts`) and
    the other half is scored under it: the mean over held-out word tokens of
    ``log sum_k theta_dk * beta_kw``, with ``beta`` the topics' posterior mean. Larger is better.

    Raises:
        InputError: the documents hold no words to score.
    """
    observed, held_out = split_counts(counts, seed)
    if held_out.sum() <= 0:
        msg = "no words to score: every held-out document is empty"
        raise InputError(msg)
    gamma = infer_mixtures(observed, topic_word, doc_topic_prior)
    theta = gamma / gamma.sum(axis=1, keepdims=True)
    topics = topic_word / topic_word.sum(axis=1, keepdims=True)
    topics_t = np.ascontiguousarray(topics.T)
    total = 0.0
    chunk = _chunk_rows(topics.shape[1])
    for start in range(0, counts.shape[0], chunk):
        block = held_out[start : start + chunk]
        probability = _mixture_at_counts(theta[start : start + chunk], topics, topics_t, block)
        total += float(block.data @ np.log(np.maximum(probability, 1e-300)))
    return total / float(held_out.sum())


# -- data ----------------------------------------------------------------------------------------


def counts_of(channel: Path, feature_dim: int, name: str) -> scipy.sparse.csr_matrix:
    """The word counts of a channel, one document per row, as a CSR matrix ``feature_dim`` wide.

    A dense file whose rows hold ``feature_dim - 1`` values after what :func:`load_channel` takes
    for a label has no label column (SageMaker's LDA CSV): its first column is a count.

    Raises:
        InputError: the channel cannot be read, or a row is malformed (named with the channel).
        HyperparameterError: the rows' width is not ``feature_dim``.
    """
    try:
        X, y = load_channel(channel)
    except InputError as exc:
        msg = f"{name} channel: {exc}"
        raise InputError(msg) from None
    if not scipy.sparse.issparse(X) and X.shape[1] + 1 == feature_dim and not np.isnan(y).any():
        X = np.column_stack([y, X])
    if not scipy.sparse.issparse(X) and X.shape[1] != feature_dim:
        msg = (
            f"hyperparameter 'feature_dim' is {feature_dim} but the {name} channel's rows hold "
            f"{X.shape[1]} word counts after a label column ({X.shape[1] + 1} without one); "
            f"row 1 already differs"
        )
        raise HyperparameterError([msg])
    return _as_counts(X, feature_dim, f"{name} channel")


def _as_counts(X: Features, feature_dim: int, where: str) -> scipy.sparse.csr_matrix:
    """``X`` as a float64 CSR matrix of counts, checked: width, and no negative or missing count.

    ``where`` names the data in messages ("train channel"). Sparse rows may stop short of the
    last words (RecordIO records need not be as wide as the vocabulary); dense rows may not.
    """
    if X.ndim != 2 or (not scipy.sparse.issparse(X) and X.shape[1] != feature_dim):
        msg = f"{where}: rows must hold feature_dim ({feature_dim}) word counts, got {X.shape}"
        raise InputError(msg)
    counts = scipy.sparse.csr_matrix(X, dtype=np.float64)
    counts.sort_indices()
    if counts.shape[1] > feature_dim:
        beyond = counts.indices >= feature_dim
        _fail_at(counts, beyond, where, f"is beyond the vocabulary (feature_dim {feature_dim})")
    if counts.shape[1] != feature_dim:
        shape = (counts.shape[0], feature_dim)
        counts = scipy.sparse.csr_matrix((counts.data, counts.indices, counts.indptr), shape=shape)
    _fail_at(counts, ~np.isfinite(counts.data), where, "is missing or not finite")
    _fail_at(counts, counts.data < 0, where, "is negative; word counts must be >= 0")
    return counts


def _fail_at(counts: scipy.sparse.csr_matrix, bad: np.ndarray, where: str, what: str) -> None:
    """Raise an InputError naming the first row and word where ``bad`` (per stored value) holds."""
    if not bad.any():
        return
    position = int(np.flatnonzero(bad)[0])
    row = int(np.searchsorted(counts.indptr, position, side="right")) - 1
    word, value = int(counts.indices[position]), counts.data[position]
    msg = f"{where}, row {row + 1}: the count of word {word} ({float(value):g}) {what}"
    raise InputError(msg)


# -- training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    num_topics: int
    feature_dim: int
    mini_batch_size: int
    alpha0: float
    max_restarts: int
    max_iterations: int
    tol: float

    @property
    def doc_topic_prior(self) -> np.ndarray:
        return np.full(self.num_topics, self.alpha0 / self.num_topics)


def _plan(values: Mapping[str, Any], channels: Mapping[str, Path]) -> _Plan:
    objective = values.get("_tuning_objective_metric")
    if objective is not None:
        if objective not in METRICS:
            msg = (
                f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
                f"lda; known: {', '.join(METRICS)}"
            )
            raise HyperparameterError([msg])
        if "test" not in channels:
            msg = f"hyperparameter '_tuning_objective_metric': {objective} needs a 'test' channel"
            raise HyperparameterError([msg])
    return _Plan(
        num_topics=values["num_topics"],
        feature_dim=values["feature_dim"],
        mini_batch_size=values["mini_batch_size"],
        alpha0=values["alpha0"],
        max_restarts=values["max_restarts"],
        max_iterations=values["max_iterations"],
        tol=values["tol"],
    )


class LDAAlgorithm:
    """SageMaker's built-in LDA algorithm (the ``lda`` image)."""

    name = "lda"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Fit topics on the ``train`` channel, pass by pass, reporting every pass; save them.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, ``feature_dim``
                does not match the data, or the objective needs a missing ``test`` channel.
            InputError: the ``train`` channel is missing, or a channel has a bad row.
        """
        plan = _plan(parse_hyperparameters(self.hyperparameters, hyperparameters), channels)
        if "train" not in channels:
            msg = "LDA needs a 'train' channel (got " + (", ".join(channels) or "none") + ")"
            raise InputError(msg)
        X = counts_of(channels["train"], plan.feature_dim, "train")
        X_test = (
            counts_of(channels["test"], plan.feature_dim, "test") if "test" in channels else None
        )
        if X_test is not None and X_test.sum() <= 0:
            msg = "test channel: every document is empty; there are no words to score"
            raise InputError(msg)
        _Trainer(X, X_test, plan, ctx).run()

    def load(self, path: Path | str) -> LDAModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = LDAAlgorithm()


class _Trainer:
    """One training run: restarts on the first pass, then passes until done, reporting each."""

    def __init__(
        self,
        X: scipy.sparse.csr_matrix,
        X_test: scipy.sparse.csr_matrix | None,
        plan: _Plan,
        ctx: TrainingContext,
    ) -> None:
        self.X, self.X_test, self.plan, self.ctx = X, X_test, plan, ctx
        self.rng = np.random.default_rng(SEED)
        n_probe = min(X.shape[0], PROBE_DOCS)
        self.probe = X[np.sort(self.rng.choice(X.shape[0], n_probe, replace=False))]

    def run(self) -> None:
        """Pass over the data until ``max_iterations``, convergence (``tol``) or a stop request."""
        estimator, first_pwll = self._first_pass()
        model = _model_of(estimator, self.plan)
        train_pwll: float | None = first_pwll
        for epoch in range(1, self.plan.max_iterations + 1):
            converged = False
            if epoch > 1:
                previous = model.topics
                estimator.partial_fit(self._shuffled())
                model, train_pwll = _model_of(estimator, self.plan), None
                converged = _largest_move(previous, model.topics) <= self.plan.tol
            self._report(epoch, model, train_pwll)
            if self.ctx.should_stop() or converged:
                break
        _save(model, self.ctx.output_dir)

    def _first_pass(self) -> tuple[Any, float]:
        """Every restart's first pass over the same order; the best by ``train:pwll`` is kept."""
        order = self._shuffled()
        best, best_pwll = None, -np.inf
        for restart in range(self.plan.max_restarts):
            estimator = _estimator(self.plan, self.X.shape[0], SEED + restart)
            estimator.partial_fit(order)
            pwll = self._pwll(_model_of(estimator, self.plan), self.probe)
            logger.debug("lda restart %d: train:pwll %.6f", restart + 1, pwll)
            if pwll > best_pwll:
                best, best_pwll = estimator, pwll
        return best, best_pwll

    def _shuffled(self) -> scipy.sparse.csr_matrix:
        return self.X[self.rng.permutation(self.X.shape[0])]

    def _pwll(self, model: LDAModel, counts: scipy.sparse.csr_matrix) -> float:
        return per_word_log_likelihood(counts, model.topic_word, model.doc_topic_prior)

    def _report(self, epoch: int, model: LDAModel, train_pwll: float | None) -> None:
        """Report the pass; a StopTraining from the engine saves the model first."""
        if train_pwll is None:
            train_pwll = self._pwll(model, self.probe)
        metrics = {"train:pwll": train_pwll}
        if self.X_test is not None:
            metrics["test:pwll"] = self._pwll(model, self.X_test)
        try:
            self.ctx.report(epoch, **metrics)
        except StopTraining:
            _save(model, self.ctx.output_dir)
            raise


def _estimator(plan: _Plan, n_docs: int, seed: int) -> Any:
    """scikit-learn's online LDA, with any positive prior weight per topic.

    scikit-learn caps ``doc_topic_prior`` at 1 (sparse mixtures, its usual use), but SageMaker
    accepts any positive ``alpha0``: ``alpha0 = 5`` with 3 topics (the SDK's own LDA tuning
    test draws alpha0 up to 10) is a weight of 5/3. The variational updates hold for any
    positive weight, so the cap is lifted; ``alpha0`` is validated as positive by its
    HyperparameterSpec before this runs.
    """
    from sklearn.decomposition import LatentDirichletAllocation

    class AnyPriorLDA(LatentDirichletAllocation):  # type: ignore[misc]
        _parameter_constraints = {
            **LatentDirichletAllocation._parameter_constraints,
            "doc_topic_prior": "no_validation",
        }

    return AnyPriorLDA(
        n_components=plan.num_topics,
        doc_topic_prior=plan.alpha0 / plan.num_topics,
        learning_method="online",
        batch_size=min(plan.mini_batch_size, n_docs),
        total_samples=n_docs,
        random_state=seed,
    )


def _largest_move(before: np.ndarray, after: np.ndarray) -> float:
    """The L1 distance that the topic which moved most in a pass moved (``tol`` bounds it)."""
    return float(np.abs(after - before).sum(axis=1).max())


def _model_of(estimator: Any, plan: _Plan) -> LDAModel:
    return LDAModel(
        topic_word=np.array(estimator.components_, dtype=np.float64),
        doc_topic_prior=plan.doc_topic_prior,
    )
