"""Random Cut Forest as SageMaker's built-in anomaly detector runs it, vectorised in numpy.

SageMaker's RCF (Guha et al., "Robust random cut forest based anomaly detection on streams",
ICML 2016) gives every point an anomaly score: low for normal points, high for anomalies. This
module builds and scores the forest the same way:

* **Samples.** Each of the ``num_trees`` trees gets its own uniform sample of
  ``num_samples_per_tree`` training rows, drawn without replacement (all rows when there are
  fewer). That is the distribution SageMaker's reservoir sampling gives over a stream; the
  channel is in memory here, so the sample is drawn directly.
* **Cuts.** A node's points are split by a random cut: a dimension chosen with probability
  proportional to its range in the node's bounding box, then a value uniform in that range
  (points ``<= cut`` go left). Cutting stops at single points (or identical copies of one
  point). Every tree is built level by level, all trees at once: each level is a few numpy
  calls over all the points, whatever the number of nodes.
* **Score.** A tree's score of a point ``x`` is the expected change of the tree's complexity
  if ``x`` were inserted, Amazon's random-cut-forest library's displacement-style anomaly score
  (the one SageMaker documents as "the expected change in complexity of the tree ... inversely
  proportional to the resulting depth of the point"). Walking ``x`` down its path, the node at
  depth ``k`` with bounding box ``B`` separates ``x`` from its points with probability
  ``p = e / (R + e)``, where ``R`` is the sum of ``B``'s side lengths and ``e`` how much longer
  they become when ``B`` is stretched to hold ``x`` (the chance that a random cut of the
  stretched box falls outside ``B``). Separated at depth ``k``, ``x`` would become a leaf at
  depth ``k + 1`` and the tree scores ``1 / (k + 1)``; reaching a leaf at depth ``k`` it scores
  ``1 / (k + 1)``, or ``(1 - m / 2n) / (k + log2(m + 1))`` when ``x`` equals that leaf's point
  (held ``m`` times, ``n`` points in the tree). The expectation over the path, times
  ``log2(n + 1)``, is the tree's score, in bits: a point isolated at the root scores
  ``log2(n + 1)`` (8 bits for 255 samples), a typical point about one. The forest's score is
  the mean over its trees.
* **Scoring speed.** Each tree is flat numpy arrays (cut dimension and value, children, mass,
  bounding boxes, one row per node) and all points go down a tree together, one level at a
  time, by numpy indexing: no Python loop per point or per node. Points are held
  feature-major and scored 16,384 at a time (the arrays of a level then stay in the cache).
  On the 2-core development machine, one thread: scoring 100,000 points of 5 features with 100
  trees of 256 samples takes 5.3 s (16 s with 20 features: the work is depth x features per
  point and tree); building the forest from 100,000 rows takes 0.04 s. scikit-learn's compiled
  IsolationForest fits and scores the same in 0.5 s: it needs only each point's depth, where
  this score needs the bounding box of every node on the path.

**Test metrics and the three-sigma rule.** With a labelled ``test`` channel (SageMaker's
``text/csv;label_size=1``: the label, 1 for an anomaly and 0 for a normal point, is the first
column), a test point is predicted anomalous when its score is more than three standard
deviations above the mean score, the mean and (population) standard deviation being those *of
the test channel's scores*. That is how SageMaker's tuning page words it ("RCF calculates anomaly
scores for test data points and then labels the data points as anomalous if their scores are
beyond three standard deviations from the mean score"), and the rule then adapts to the test
set's own spread; training scores would understate it, since a row a tree holds in its sample
scores low in that tree. ``test:f1`` (the objective AMT
documents, maximised) and the informational ``test:precision`` and ``test:recall`` (for
``precision_recall_fscore``) and ``test:accuracy`` (for ``accuracy``) compare these predictions
with the labels, anomalies being the positive class. RCF makes one pass, so everything is
reported once, as epoch 1 (with no metrics when there is no ``test`` channel).

The ``train`` channel has no label: a CSV row is ``feature_dim`` numbers. A CSV with one more
column is taken to have a label first (SageMaker's ``label_size=1``), which is ignored.
RecordIO-protobuf works for both channels (the test labels are the records' labels); sparse
input is densified. The model is the forest, saved as one ``.npz`` file; ``load(...).predict``
gives scores, as SageMaker's endpoint does. Training is seeded: the same data and
hyperparameters give the same forest and scores. Everything runs on the CPU, whatever
``ctx.device`` says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    TrainingContext,
    TuningRange,
    integer,
    parse_hyperparameters,
    parse_name_list,
)
from algorithms.data import load_channel

#: The model's file name in the output folder.
MODEL_FILENAME = "random-cut-forest-model.npz"

#: Seed of the tree samples and cuts (SageMaker's RCF takes no seed).
SEED = 0

#: A test point is anomalous when its score is more than this many standard deviations above
#: the mean test score.
SIGMAS = 3.0

#: Rows scored at once: bounds the memory of routing (a few arrays of rows x feature_dim);
#: 16,384 was fastest, a level's arrays then staying in a 2 MiB cache.
SCORE_CHUNK = 1 << 14

METRICS: Mapping[str, Direction] = MappingProxyType({"test:f1": "Maximize"})
#: Reported as well, informational (AMT documents only test:f1 for RCF).
REPORTED_METRICS = ("test:accuracy", "test:precision", "test:recall")
EVAL_METRICS = ("accuracy", "precision_recall_fscore")

#: SageMaker RCF's hyperparameters ("RCF Hyperparameters" in the developer guide), plus
#: ``mini_batch_size``, which the SageMaker Python SDK's RandomCutForest estimator sends.
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "feature_dim": HyperparameterSpec(
            "int",
            required=True,
            min_value=1,
            max_value=10000,
            description="Number of features in the input.",
        ),
        "eval_metrics": HyperparameterSpec(
            "str",
            '["accuracy", "precision_recall_fscore"]',
            description='Test metrics to report: a JSON list of "accuracy" and '
            '"precision_recall_fscore" (a comma-separated list is accepted too).',
        ),
        "num_samples_per_tree": HyperparameterSpec(
            "int",
            256,
            min_value=1,
            max_value=2048,
            description="Training rows sampled for each tree.",
        ),
        "num_trees": HyperparameterSpec(
            "int", 100, min_value=50, max_value=1000, description="Trees in the forest."
        ),
        # Not on the developer guide's page; the SDK's estimator always sends 1000.
        "mini_batch_size": HyperparameterSpec(
            "int",
            1000,
            min_value=1,
            description="Rows per mini-batch (the SageMaker SDK sends 1000); accepted, ignored: "
            "the channel is read whole.",
        ),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "num_samples_per_tree": integer(1, 2048),
        "num_trees": integer(50, 1000),
    }
)


# -- the forest ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forest:
    """Random cut trees as flat arrays, one row per node; node ``roots[t]`` is tree ``t``'s root.

    A leaf has ``cut_dim == -1`` and ``left == right == -1``; its bounding box is its point.
    Children are numbered in pairs, ``right == left + 1``, which routing relies on.
    """

    roots: np.ndarray  # (trees,) int64
    tree_mass: np.ndarray  # (trees,) points sampled into each tree
    cut_dim: np.ndarray  # (nodes,) int64
    cut_value: np.ndarray  # (nodes,) float64
    left: np.ndarray  # (nodes,) int64
    right: np.ndarray  # (nodes,) int64
    mass: np.ndarray  # (nodes,) points under the node
    lo: np.ndarray  # (nodes, feature_dim) bounding box
    hi: np.ndarray  # (nodes, feature_dim)

    @property
    def feature_dim(self) -> int:
        return int(self.lo.shape[1])

    def score(self, X: Any) -> np.ndarray:
        """The anomaly score of every row of ``X``: the mean of the trees' scores, in bits."""
        rows = _dense(X, self.feature_dim)
        boxes = _Boxes(
            lo=np.ascontiguousarray(self.lo.T),
            hi=np.ascontiguousarray(self.hi.T),
            span=(self.hi - self.lo).sum(axis=1),
        )
        scores = np.zeros(rows.shape[0])
        for start in range(0, rows.shape[0], SCORE_CHUNK):
            chunk = np.ascontiguousarray(rows[start : start + SCORE_CHUNK].T)
            total = np.zeros(chunk.shape[1])
            for tree in range(self.roots.size):
                total += self._tree_score(chunk, tree, boxes)
            scores[start : start + chunk.shape[1]] = total / self.roots.size
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """Anomaly scores of the rows of ``X`` (what SageMaker's RCF endpoint returns)."""
        return self.score(X)

    def _tree_score(self, x: np.ndarray, tree: int, boxes: _Boxes) -> np.ndarray:
        """One tree's score of every column of ``x`` (features x points), a level at a time.

        Top-down form of the expectation: ``survive`` is the chance a point was not separated
        above the current level; each level adds ``survive * p / (depth + 1)`` to its ``acc``.
        Points are kept feature-major, so that sums over features add contiguous rows, and the
        arrays are compacted as points reach their leaves.
        """
        n_points = int(self.tree_mass[tree])
        out = np.zeros(x.shape[1])
        rows = np.arange(x.shape[1])
        node = np.full(x.shape[1], self.roots[tree])
        points, survive, acc = x, np.ones(x.shape[1]), np.zeros(x.shape[1])
        depth = 0
        while rows.size:
            child = self.left[node]
            leaf = child < 0
            if leaf.any():
                at = np.flatnonzero(leaf)
                leaf_score = self._leaf_score(points[:, at], node[at], depth, n_points, boxes)
                out[rows[at]] = acc[at] + survive[at] * leaf_score
                inner = np.flatnonzero(~leaf)
                if not inner.size:
                    break
                rows, node, child = rows[inner], node[inner], child[inner]
                survive, acc, points = survive[inner], acc[inner], points[:, inner]
            separated = _separation(points, node, boxes)
            acc += survive * separated / (depth + 1)
            survive *= 1.0 - separated
            go_right = points[self.cut_dim[node], np.arange(rows.size)] > self.cut_value[node]
            node = child + go_right  # the right child is always left + 1
            depth += 1
        return out * np.log2(n_points + 1)

    def _leaf_score(
        self, points: np.ndarray, node: np.ndarray, depth: int, n_points: int, boxes: _Boxes
    ) -> np.ndarray:
        """``1 / (depth + 1)``, or the damped score of a point the leaf already holds."""
        seen = (points == np.take(boxes.lo, node, axis=1)).all(axis=0)
        mass = self.mass[node]
        damped = (1.0 - mass / (2.0 * n_points)) / (depth + np.log2(mass + 1.0))
        return np.where(seen, damped, 1.0 / (depth + 1))


@dataclass(frozen=True)
class _Boxes:
    """The forest's bounding boxes feature-major, ``(feature_dim, nodes)``, for scoring."""

    lo: np.ndarray
    hi: np.ndarray
    span: np.ndarray  # (nodes,) sum of the side lengths


def _separation(points: np.ndarray, node: np.ndarray, boxes: _Boxes) -> np.ndarray:
    """The chance that a random cut of ``node``'s box stretched to hold a point separates it.

    ``e / (R + e)``: ``R`` the box's side lengths summed, ``e`` how much the stretch adds.
    """
    below = np.take(boxes.lo, node, axis=1)
    below -= points
    above = np.take(boxes.hi, node, axis=1)
    np.subtract(points, above, out=above)
    np.maximum(below, above, out=below)
    np.maximum(below, 0.0, out=below)
    stretch = below.sum(axis=0)
    return stretch / (boxes.span[node] + stretch)


def build_forest(
    X: np.ndarray, num_trees: int, num_samples_per_tree: int, rng: np.random.Generator
) -> Forest:
    """A forest of ``num_trees`` random cut trees, each on its own sample of the rows of ``X``."""
    samples = _samples(X.shape[0], num_trees, num_samples_per_tree, rng)
    points = np.ascontiguousarray(X[samples.ravel()], dtype=np.float64)
    per_tree = samples.shape[1]
    levels = list(_levels(points, np.repeat(np.arange(num_trees), per_tree), rng))
    return Forest(
        roots=np.arange(num_trees, dtype=np.int64),
        tree_mass=np.full(num_trees, per_tree, dtype=np.int64),
        **{key: np.concatenate([level[key] for level in levels]) for key in levels[0]},
    )


def _samples(n_rows: int, num_trees: int, per_tree: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of each tree's sample, ``(num_trees, min(per_tree, n_rows))``."""
    size = min(per_tree, n_rows)
    return np.stack([rng.choice(n_rows, size=size, replace=False) for _ in range(num_trees)])


def _levels(
    points: np.ndarray, node_of: np.ndarray, rng: np.random.Generator
) -> Iterator[dict[str, np.ndarray]]:
    """The nodes of all trees, one level at a time, in node-id order.

    ``node_of[i]`` is the node point ``i`` is in; the nodes of a level have consecutive ids
    (children are numbered in the order of their parents), so the levels concatenated are
    indexed by node id.
    """
    active = np.arange(points.shape[0])
    next_id = int(node_of.max()) + 1
    while active.size:
        order = np.argsort(node_of, kind="stable")
        active, node_of = active[order], node_of[order]
        starts = np.flatnonzero(np.r_[True, node_of[1:] != node_of[:-1]])
        at = points[active]
        lo = np.minimum.reduceat(at, starts, axis=0)
        hi = np.maximum.reduceat(at, starts, axis=0)
        mass = np.diff(np.r_[starts, active.size])
        split = (hi - lo).sum(axis=1) > 0
        dim, cut = _cuts(lo[split], hi[split], rng)
        left = np.full(starts.size, -1, dtype=np.int64)
        left[split] = next_id + 2 * np.arange(dim.size)
        right = np.where(split, left + 1, -1)
        next_id += 2 * dim.size
        cut_dim = np.full(starts.size, -1, dtype=np.int64)
        cut_dim[split] = dim
        cut_value = np.zeros(starts.size)
        cut_value[split] = cut
        yield {
            "cut_dim": cut_dim,
            "cut_value": cut_value,
            "left": left,
            "right": right,
            "mass": mass.astype(np.int64),
            "lo": lo,
            "hi": hi,
        }
        parent = np.repeat(np.arange(starts.size), mass)
        keep = split[parent]
        active, at, parent = active[keep], at[keep], parent[keep]
        go_left = at[np.arange(active.size), cut_dim[parent]] <= cut_value[parent]
        node_of = np.where(go_left, left[parent], right[parent])


def _cuts(
    lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random cut of every box: a dimension with probability proportional to its range, a
    value uniform in that range; the cut is below the box's top, so both sides get points."""
    spans = hi - lo
    cumulative = np.cumsum(spans, axis=1)
    target = rng.random(lo.shape[0]) * cumulative[:, -1]
    dim = np.minimum((cumulative <= target[:, None]).sum(axis=1), lo.shape[1] - 1)
    rows = np.arange(lo.shape[0])
    low, high = lo[rows, dim], hi[rows, dim]
    cut = low + rng.random(lo.shape[0]) * (high - low)
    return dim, np.where(cut < high, cut, low)


def anomalies(scores: np.ndarray, sigmas: float = SIGMAS) -> np.ndarray:
    """SageMaker's rule: a score more than ``sigmas`` standard deviations above the mean."""
    scores = np.asarray(scores, dtype=np.float64)
    return scores > scores.mean() + sigmas * scores.std()


def classification_metrics(
    predicted: np.ndarray, labels: np.ndarray, eval_metrics: tuple[str, ...]
) -> dict[str, float]:
    """``test:`` metrics of predicted anomalies against 0/1 labels (anomaly = positive)."""
    predicted = np.asarray(predicted, dtype=bool)
    actual = np.asarray(labels) == 1
    true_pos = float(np.sum(predicted & actual))
    precision = true_pos / max(float(predicted.sum()), 1.0)
    recall = true_pos / max(float(actual.sum()), 1.0)
    metrics: dict[str, float] = {}
    if "accuracy" in eval_metrics:
        metrics["test:accuracy"] = float(np.mean(predicted == actual))
    if "precision_recall_fscore" in eval_metrics:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        metrics.update({"test:precision": precision, "test:recall": recall, "test:f1": f1})
    return metrics


# -- saving and loading --------------------------------------------------------------------------


def save(forest: Forest, output_dir: Path | str) -> Path:
    """Write ``forest`` to ``output_dir``/``MODEL_FILENAME``; returns the file."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    file = output_dir / MODEL_FILENAME
    with file.open("wb") as handle:
        np.savez(handle, **{name: getattr(forest, name) for name in _FIELDS})
    return file


def load(path: Path | str) -> Forest:
    """The forest that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no random cut forest model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as saved:
        return Forest(**{name: np.array(saved[name]) for name in _FIELDS})


_FIELDS = ("roots", "tree_mass", "cut_dim", "cut_value", "left", "right", "mass", "lo", "hi")


# -- training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    feature_dim: int
    num_trees: int
    num_samples_per_tree: int
    eval_metrics: tuple[str, ...]


class RandomCutForestAlgorithm:
    """SageMaker's built-in Random Cut Forest algorithm (the ``randomcutforest`` image)."""

    name = "random-cut-forest"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Build the forest on ``train``, save it, report epoch 1 (test metrics with ``test``).

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or
                ``feature_dim`` does not fit a channel, or the objective needs a missing
                ``test`` channel.
            InputError: the ``train`` channel is missing, or a channel has a bad row (the
                message names the channel and the row).
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        plan = _plan(values, channels)
        if "train" not in channels:
            msg = "random-cut-forest needs a 'train' channel (got "
            raise InputError(msg + (", ".join(channels) or "none") + ")")
        X, _ = read_channel(channels["train"], plan.feature_dim, "train", labelled=False)
        test = (
            read_channel(channels["test"], plan.feature_dim, "test", labelled=True)
            if "test" in channels
            else None
        )
        rng = np.random.default_rng(SEED)
        forest = build_forest(X, plan.num_trees, plan.num_samples_per_tree, rng)
        save(forest, ctx.output_dir)  # before the report: a stop there keeps the model
        metrics: dict[str, float] = {}
        if test is not None:
            X_test, labels = test
            predicted = anomalies(forest.score(X_test))
            metrics = classification_metrics(predicted, labels, plan.eval_metrics)
        ctx.report(1, **metrics)

    def load(self, path: Path | str) -> Forest:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = RandomCutForestAlgorithm()


def _plan(values: Mapping[str, Any], channels: Mapping[str, Path]) -> _Plan:
    problems: list[str] = []
    eval_metrics = parse_name_list(
        "eval_metrics",
        values["eval_metrics"],
        EVAL_METRICS,
        '["accuracy", "precision_recall_fscore"]',
        problems,
    )
    objective = values.get("_tuning_objective_metric")
    if objective is not None:
        if objective not in METRICS:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
                f"random-cut-forest; known: {', '.join(METRICS)}"
            )
        elif "test" not in channels:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective} needs a labelled "
                "'test' channel"
            )
        elif "precision_recall_fscore" not in eval_metrics:
            eval_metrics.append("precision_recall_fscore")  # the objective is always evaluated
    if problems:
        raise HyperparameterError(problems)
    return _Plan(
        feature_dim=values["feature_dim"],
        num_trees=values["num_trees"],
        num_samples_per_tree=values["num_samples_per_tree"],
        eval_metrics=tuple(eval_metrics),
    )


# -- channels ------------------------------------------------------------------------------------


def read_channel(
    channel: Path, feature_dim: int, name: str, *, labelled: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Dense features ``(rows, feature_dim)`` and labels (NaN where none) of a channel.

    A CSV file with ``feature_dim`` columns has no label; with one more, the first is the label.
    ``labelled`` channels (``test``) need a 0/1 label on every row.
    """
    try:
        X, y = load_channel(channel)
    except InputError as exc:
        msg = f"{name} channel: {exc}"
        raise InputError(msg) from exc
    if not scipy.sparse.issparse(X) and X.shape[1] + 1 == feature_dim and not labelled:
        X, y = np.column_stack([y, X]), np.full(X.shape[0], np.nan)
    elif X.shape[1] != feature_dim and not (scipy.sparse.issparse(X) and X.shape[1] < feature_dim):
        label = "after the label column" if labelled else f"({X.shape[1] + 1} without a label)"
        msg = (
            f"hyperparameter 'feature_dim' is {feature_dim} but the {name} channel has "
            f"{X.shape[1]} features {label}"
        )
        raise HyperparameterError([msg])
    dense = _dense(X, feature_dim)
    bad = ~np.isfinite(dense).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        msg = f"{name} channel: row {row} has a missing or infinite value; every feature is needed"
        raise InputError(msg)
    if labelled:
        _check_labels(y, name)
    return dense, y


def _check_labels(y: np.ndarray, name: str) -> None:
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        found = "no label" if np.isnan(y[row - 1]) else f"label {float(y[row - 1]):g}"
        msg = (
            f"{name} channel: row {row} has {found}; test:f1 needs a label on every row, 1 "
            "(anomaly) or 0 (normal): the first CSV column, or a RecordIO record's label"
        )
        raise InputError(msg)


def _dense(X: Any, feature_dim: int) -> np.ndarray:
    """``X`` as a C-contiguous float64 array with ``feature_dim`` columns (sparse widened)."""
    if scipy.sparse.issparse(X):
        matrix = scipy.sparse.csr_matrix(X)
        if matrix.shape[1] < feature_dim:
            matrix = scipy.sparse.csr_matrix(
                (matrix.data, matrix.indices, matrix.indptr),
                shape=(matrix.shape[0], feature_dim),
            )
        X = matrix.toarray()
    dense = np.ascontiguousarray(X, dtype=np.float64)
    if dense.ndim != 2 or dense.shape[1] != feature_dim:
        msg = f"X must have {feature_dim} columns, got shape {dense.shape}"
        raise InputError(msg)
    return dense
