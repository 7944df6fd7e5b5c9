"""XGBoost as SageMaker's built-in algorithm runs it: its hyperparameters, metrics and model file.

A tuning job written for SageMaker's ``sagemaker-xgboost`` image must run here unchanged, so this
module accepts every hyperparameter that image documents (with its names, ranges and defaults),
emits its objective metrics under the same names (``validation:auc``, ``train:rmse``), makes sure
the tuning objective is evaluated even when ``eval_metric`` does not list it (as the container
does), and saves the model as ``xgboost-model`` in the trial's output folder.

The installed xgboost is newer than the one SageMaker documents. Hyperparameters that AWS still
accepts but that have no meaning here are accepted with SageMaker's validation and ignored (not
passed to xgboost): those xgboost dropped (``lambda_bias``, ``single_precision_histogram``,
``deterministic_histogram``, ``sketch_eps``, ``dsplit``, ``prob_buffer_row``, ``predictor``,
``silent``), and the container's own switches (``use_dask_gpu_training``,
``save_model_on_termination``). ``dsplit`` matters because the SageMaker console fills it into
XGBoost 1.x jobs. The container's aliases ``learning_rate``, ``min_split_loss``, ``reg_lambda``
and ``reg_alpha`` mean ``eta``, ``gamma``, ``lambda`` and ``alpha`` (the canonical name wins when
both are given). ``tree_method=gpu_hist`` becomes ``hist`` on a CUDA device. Metrics xgboost
does not compute (``accuracy``, ``f1``, ``mse``) are computed here from the predictions, only
when asked for.

One report per boosting round goes to the engine from an xgboost callback, which also honours
``ctx.should_stop()`` and ``early_stopping_rounds``; the round's index, not wall time, is the
epoch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse
import xgboost as xgb

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
    is_reserved,
    parse_hyperparameters,
)
from algorithms.checkpoints import resume_state, save_epoch, wants_epoch_checkpoints
from algorithms.data import Features, load_channel

logger = logging.getLogger(__name__)

#: The model's file name in the output folder, as SageMaker's container names it.
MODEL_FILENAME = "xgboost-model"

#: Data sets a metric can be computed on, in the order xgboost evaluates them.
DATA_SETS = ("train", "validation")

OBJECTIVES = (
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:logistic",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:gamma",
    "reg:tweedie",
    "reg:linear",  # SageMaker still lists it; xgboost renamed it reg:squarederror
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "survival:cox",
    "survival:aft",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
)
_BINARY_OBJECTIVES = frozenset(
    {"binary:logistic", "binary:logitraw", "binary:hinge", "reg:logistic"}
)
_MULTI_OBJECTIVES = frozenset({"multi:softmax", "multi:softprob"})

#: Metrics xgboost computes itself, by the name it reports them under.
_NATIVE_METRICS: dict[str, Direction] = {
    "auc": "Maximize",
    "aucpr": "Maximize",
    "error": "Minimize",
    "logloss": "Minimize",
    "mae": "Minimize",
    "map": "Maximize",
    "merror": "Minimize",
    "mlogloss": "Minimize",
    "ndcg": "Maximize",
    "pre": "Maximize",
    "rmse": "Minimize",
    "rmsle": "Minimize",
    "mape": "Minimize",
    "mphe": "Minimize",
    "poisson-nloglik": "Minimize",
    "gamma-nloglik": "Minimize",
    "gamma-deviance": "Minimize",
    "tweedie-nloglik": "Minimize",
    "cox-nloglik": "Minimize",
    "aft-nloglik": "Minimize",
    "interval-regression-accuracy": "Maximize",
}
#: Metrics SageMaker's container adds to xgboost's; computed here from the predictions.
_OWN_METRICS: dict[str, Direction] = {"accuracy": "Maximize", "f1": "Maximize", "mse": "Minimize"}
#: Metrics xgboost also accepts with a parameter: error@0.7, ndcg@5, ndcg@5-, map@10, pre@3 ...
_PARAMETRISED_METRICS = frozenset({"error", "ndcg", "map", "pre", "tweedie-nloglik"})
_METRIC_PARAMETER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)-?")


class MetricDirections(Mapping[str, Direction]):
    """Direction of every metric name XGBoost can report, ``validation:auc`` and the like.

    Iterating yields the plain names. Lookups also accept xgboost's parametrised spellings, such
    as ``validation:ndcg@5`` or ``train:error@0.7``: xgboost reports those names (the default
    metric of ``rank:ndcg`` is ``ndcg@32``) and they cannot all be listed in advance.
    """

    def __init__(self, plain: Mapping[str, Direction]) -> None:
        self._plain = dict(plain)

    def __getitem__(self, key: str) -> Direction:
        if key in self._plain:
            return self._plain[key]
        data_set, colon, metric = key.partition(":")
        if colon and data_set in DATA_SETS and _is_metric(metric):
            return _NATIVE_METRICS[metric.partition("@")[0]]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._plain)

    def __len__(self) -> int:
        return len(self._plain)


#: Every metric this algorithm reports, for both data sets: AMT's objective metrics and more.
METRICS = MetricDirections(
    {
        f"{data_set}:{metric}": direction
        for data_set in DATA_SETS
        for metric, direction in sorted({**_NATIVE_METRICS, **_OWN_METRICS}.items())
    }
)


def _is_metric(name: str) -> bool:
    """Whether ``name`` (no data-set prefix) is a metric this algorithm can evaluate."""
    base, at, parameter = name.partition("@")
    if not at:
        return base in _NATIVE_METRICS or base in _OWN_METRICS
    return base in _PARAMETRISED_METRICS and _METRIC_PARAMETER.fullmatch(parameter) is not None


def _spec(
    kind: Any, default: Any = None, description: str = "", **bounds: Any
) -> HyperparameterSpec:
    return HyperparameterSpec(kind=kind, default=default, description=description, **bounds)


def _unit(default: float, description: str, *, min_open: bool = True) -> HyperparameterSpec:
    """A ratio in (0, 1] (or [0, 1] when ``min_open`` is false)."""
    return _spec("float", default, description, min_value=0, max_value=1, min_open=min_open)


def _flag(default: int, description: str) -> HyperparameterSpec:
    """SageMaker's 0/1 integer switches."""
    return _spec("int", default, description, min_value=0, max_value=1)


#: SageMaker XGBoost's hyperparameters: the "XGBoost hyperparameters" page of the developer guide
#: (ranges as it documents them, e.g. colsample_bylevel, colsample_bytree and subsample in [0, 1],
#: colsample_bynode in (0, 1]) and those its container validates
#: (aws/sagemaker-xgboost-container: algorithm_mode/hyperparameter_validation.py), deprecated ones
#: included. Defaults are SageMaker's and informative: apart
#: from objective and seed, a hyperparameter that was not given is not passed to xgboost, so the
#: installed xgboost's default applies (the same value, except base_score and tree_method).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "num_round": HyperparameterSpec(
            "int", required=True, min_value=1, description="Number of boosting rounds."
        ),
        "num_class": _spec(
            "int",
            None,
            "Number of classes; required for multi:softmax and multi:softprob.",
            min_value=2,
        ),
        "alpha": _spec("float", 0.0, "L1 regularisation on weights.", min_value=0),
        "base_score": _spec(
            "float",
            None,
            "Initial prediction of every instance (xgboost >= 2 estimates it "
            "from the labels when not given; SageMaker's 1.x images used 0.5).",
        ),
        "booster": _spec(
            "str", "gbtree", "Booster to use.", choices=("gbtree", "gblinear", "dart")
        ),
        "colsample_bylevel": _unit(
            1.0, "Column subsample ratio for each tree level, in [0, 1].", min_open=False
        ),
        "colsample_bynode": _unit(1.0, "Column subsample ratio for each split, in (0, 1]."),
        "colsample_bytree": _unit(
            1.0, "Column subsample ratio for each tree, in [0, 1].", min_open=False
        ),
        "csv_weights": _flag(
            0, "1: the second column of the training data (after the label) is instance weights."
        ),
        "deterministic_histogram": _spec(
            "bool",
            True,
            "Build GPU histograms deterministically (always so in xgboost >= 2; "
            "accepted, not passed).",
        ),
        "dsplit": _spec(
            "str",
            "row",
            "Data split mode of distributed training (removed from xgboost; accepted, "
            "not passed).",
            choices=("row", "col"),
        ),
        "early_stopping_rounds": _spec(
            "int",
            None,
            "Stop when the validation metric has not improved for this many rounds "
            "and keep the best model (needs a validation channel).",
            min_value=1,
        ),
        "eta": _spec(
            "float", 0.3, "Learning rate (step-size shrinkage).", min_value=0, max_value=1
        ),
        "eval_metric": _spec(
            "str",
            None,
            "Comma-separated evaluation metrics; default follows the objective "
            "(xgboost's: rmse for regression, logloss or mlogloss for classification, ndcg@32 "
            "or map@32 for ranking).",
        ),
        "gamma": _spec("float", 0.0, "Minimum loss reduction to split a leaf.", min_value=0),
        "grow_policy": _spec(
            "str", "depthwise", "How new nodes are added.", choices=("depthwise", "lossguide")
        ),
        "interaction_constraints": _spec(
            "str", None, "Allowed feature interactions as nested lists, e.g. [[0, 1], [2, 3]]."
        ),
        "lambda": _spec("float", 1.0, "L2 regularisation on weights.", min_value=0),
        "lambda_bias": _spec(
            "float",
            0.0,
            "L2 regularisation on the gblinear bias (removed from xgboost; accepted, not passed).",
            min_value=0,
            max_value=1,
        ),
        "max_bin": _spec("int", 256, "Maximum number of histogram bins (hist).", min_value=2),
        "max_delta_step": _spec("float", 0.0, "Maximum delta step of leaf outputs.", min_value=0),
        "max_depth": _spec("int", 6, "Maximum tree depth; 0 means no limit.", min_value=0),
        "max_leaves": _spec("int", 0, "Maximum number of leaves; 0 means no limit.", min_value=0),
        "min_child_weight": _spec(
            "float", 1.0, "Minimum sum of instance weight in a child.", min_value=0
        ),
        "monotone_constraints": _spec(
            "str", None, "Monotonicity constraint per feature, e.g. (1,0,-1)."
        ),
        "normalize_type": _spec(
            "str", "tree", "Dart: normalisation algorithm.", choices=("tree", "forest")
        ),
        "nthread": _spec(
            "int", None, "Threads; default OMP_NUM_THREADS when set, else all cores.", min_value=1
        ),
        "objective": _spec(
            "str", "reg:squarederror", "Learning task and objective.", choices=OBJECTIVES
        ),
        "one_drop": _flag(0, "Dart: always drop at least one tree."),
        "predictor": _spec(
            "str",
            "auto",
            "Predictor algorithm (removed from xgboost 2, the device decides; accepted, "
            "not passed).",
            choices=("auto", "cpu_predictor", "gpu_predictor"),
        ),
        "prob_buffer_row": _spec(
            "int",
            None,
            "Row buffer ratio of old xgboost (removed; accepted, not passed).",
            min_value=1,
            min_open=True,
        ),
        "process_type": _spec(
            "str", "default", "Boosting process to run.", choices=("default", "update")
        ),
        "rate_drop": _spec(
            "float", 0.0, "Dart: fraction of trees to drop.", min_value=0, max_value=1
        ),
        "refresh_leaf": _flag(1, "Refresh updater: also update leaf values."),
        "sample_type": _spec(
            "str", "uniform", "Dart: sampling algorithm.", choices=("uniform", "weighted")
        ),
        "scale_pos_weight": _spec(
            "float", 1.0, "Balance of positive and negative weights.", min_value=0, min_open=True
        ),
        "seed": _spec(
            "int",
            0,
            "Random seed.",
            min_value=-(2**31),
            max_value=2**31 - 1,
            min_open=True,
            max_open=True,
        ),
        "save_model_on_termination": _spec(
            "bool",
            False,
            "Save the model when the job is stopped (the model is saved whenever training ends "
            "here; accepted, not passed).",
        ),
        "silent": _flag(
            0,
            "1: no messages (XGBoost 0.72/0.90 images; replaced by verbosity; accepted, "
            "not passed).",
        ),
        "single_precision_histogram": _spec(
            "bool",
            False,
            "Single-precision GPU histograms (removed from xgboost; accepted, not passed).",
        ),
        "sketch_eps": _spec(
            "float",
            0.03,
            "Approx sketch accuracy, in [0, 1] (replaced by max_bin in xgboost >= 2; accepted, "
            "not passed).",
            min_value=0,
            max_value=1,
        ),
        "skip_drop": _spec(
            "float", 0.0, "Dart: probability of skipping dropout.", min_value=0, max_value=1
        ),
        "subsample": _unit(1.0, "Row subsample ratio for each tree, in [0, 1].", min_open=False),
        "tree_method": _spec(
            "str",
            "auto",
            "Tree construction algorithm; gpu_hist means hist on a CUDA device.",
            choices=("auto", "exact", "approx", "hist", "gpu_hist"),
        ),
        "tweedie_variance_power": _spec(
            "float",
            1.5,
            "Variance power of reg:tweedie.",
            min_value=1,
            max_value=2,
            min_open=True,
            max_open=True,
        ),
        "updater": _spec("str", None, "Comma-separated tree updaters to run, in order."),
        "use_dask_gpu_training": _spec(
            "bool",
            False,
            "Distributed GPU training with Dask (single process here; accepted, not passed).",
        ),
        "verbosity": _spec("int", 1, "Verbosity of xgboost's messages.", min_value=0, max_value=3),
        # Validated by SageMaker's container though not on the documentation page.
        "num_parallel_tree": _spec(
            "int", 1, "Parallel trees per round (random forests).", min_value=1
        ),
        "sampling_method": _spec(
            "str", "uniform", "Row sampling method.", choices=("uniform", "gradient_based")
        ),
        "aft_loss_distribution": _spec(
            "str",
            "normal",
            "survival:aft: distribution of Z.",
            choices=("normal", "logistic", "extreme"),
        ),
        "aft_loss_distribution_scale": _spec(
            "float", 1.0, "survival:aft: scale of the distribution.", min_value=0
        ),
        # The container's aliases (declare_alias): passed to xgboost under the canonical name.
        "learning_rate": _spec("float", 0.3, "Alias of eta.", min_value=0, max_value=1),
        "min_split_loss": _spec("float", 0.0, "Alias of gamma.", min_value=0),
        "reg_lambda": _spec("float", 1.0, "Alias of lambda.", min_value=0),
        "reg_alpha": _spec("float", 0.0, "Alias of alpha.", min_value=0),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
#: AMT's page gives max_depth [0, 10]; 0 (no depth limit) only works with the lossguide grow
#: policy, so the range starts at 1.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "alpha": continuous(0, 1000),
        "colsample_bylevel": continuous(0.1, 1),
        "colsample_bynode": continuous(0.1, 1),
        "colsample_bytree": continuous(0.5, 1),
        "eta": continuous(0.1, 0.5),
        "gamma": continuous(0, 5),
        "lambda": continuous(0, 1000),
        "max_delta_step": integer(0, 10),
        "max_depth": integer(1, 10),
        "min_child_weight": continuous(0, 120),
        "num_round": integer(1, 4000),
        "subsample": continuous(0.5, 1),
    }
)

#: The container's aliases and the hyperparameter each stands for.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "learning_rate": "eta",
        "min_split_loss": "gamma",
        "reg_lambda": "lambda",
        "reg_alpha": "alpha",
    }
)

#: Handled by this module rather than passed to xgboost under their own names.
_HANDLED = frozenset(
    {
        "num_round",
        "num_class",
        "csv_weights",
        "early_stopping_rounds",
        "eval_metric",
        "nthread",
        "objective",
        "seed",
        "tree_method",
        *ALIASES,
    }
)
#: Gone from the installed xgboost (it would warn "not used"): accepted, validated, dropped.
_DROPPED = frozenset(
    {
        "deterministic_histogram",  # histograms are always deterministic since xgboost 2.0
        "dsplit",  # distributed data split, removed in xgboost 1.x; the console still sends it
        "lambda_bias",  # removed from gblinear in xgboost 1.x
        "predictor",  # removed in xgboost 2.0; the device decides
        "prob_buffer_row",  # removed in xgboost 1.x
        "save_model_on_termination",  # the container's SIGTERM switch; the model is always saved
        "silent",  # replaced by verbosity in xgboost 1.0
        "single_precision_histogram",  # removed in xgboost 2.0
        "sketch_eps",  # removed in xgboost 2.0; approx uses max_bin
        "use_dask_gpu_training",  # Dask is SageMaker's multi-GPU transport; one process here
    }
)


@dataclass(frozen=True)
class XGBoostModel:
    """A trained booster; ``predict`` takes features shaped like the training data's."""

    booster: xgb.Booster

    def predict(self, X: Features) -> np.ndarray:
        """Predictions for the rows of ``X``: values, classes or probabilities, by objective."""
        return np.asarray(self.booster.predict(xgb.DMatrix(X)))


def load(path: Path | str) -> XGBoostModel:
    """The model that ``train`` saved in ``path``, an output folder or the model file itself."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no XGBoost model at {file}"
        raise FileNotFoundError(msg)
    booster = xgb.Booster()
    booster.load_model(bytearray(file.read_bytes()))  # UBJSON or JSON, told apart by content
    return XGBoostModel(booster)


@dataclass
class _Plan:
    """What ``train`` does, decided from the hyperparameters before any data is read."""

    params: dict[str, Any]
    num_round: int
    objective: str
    num_class: int | None
    own_metrics: list[str]
    csv_weights: bool
    early_stopping_rounds: int | None
    stopping_metric: str | None  # "validation:<metric>", or None: xgboost's last metric


class XGBoostAlgorithm:
    """SageMaker's built-in XGBoost algorithm (``sagemaker-xgboost`` images)."""

    name = "xgboost"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on the ``train`` channel, report every round, save ``xgboost-model``.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or the tuning
                objective cannot be evaluated (for example no validation channel).
            ValueError: the ``train`` channel is missing, data are malformed, or labels do not
                fit the objective.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        plan = _plan(values, given=set(hyperparameters), channels=channels, device=ctx.device)
        dtrain, dvalidation = _load_data(plan, channels)
        evals = [(dtrain, "train")]
        if dvalidation is not None:
            evals.append((dvalidation, "validation"))
        stopping = None
        if plan.early_stopping_rounds is not None and dvalidation is not None:
            stopping = _EarlyStopping(plan.early_stopping_rounds, plan.stopping_metric)
        resumed = _resumed(ctx, stopping)
        done = resumed.rounds if resumed else 0
        reporter = _Reporter(ctx, evals, plan.own_metrics, plan.objective, stopping, offset=done)
        remaining = plan.num_round - done
        if stopping is not None and stopping.stale >= stopping.rounds:
            remaining = 0  # the checkpoint was taken as early stopping ended training
        booster = xgb.train(
            plan.params,
            dtrain,
            num_boost_round=max(remaining, 0),
            evals=evals,
            callbacks=[reporter],
            verbose_eval=False,
            xgb_model=resumed.booster if resumed else None,
        )
        if stopping is not None and stopping.best_epoch is not None and _is_tree(plan.params):
            # As xgboost's save_best: the model served is the best one, as SageMaker documents.
            booster = booster[: stopping.best_epoch + 1]
        _save(booster, ctx.output_dir)

    def load(self, path: Path | str) -> XGBoostModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = XGBoostAlgorithm()


# -- planning ------------------------------------------------------------------------------------


def _plan(
    values: Mapping[str, Any], *, given: set[str], channels: Mapping[str, Path], device: str
) -> _Plan:
    problems: list[str] = []
    objective = values["objective"]
    if objective == "reg:linear":
        objective = "reg:squarederror"
    params: dict[str, Any] = {"objective": objective, "seed": values["seed"]}
    for name in sorted(given - _HANDLED - _DROPPED):
        if not is_reserved(name):
            params[name] = values[name]
    for alias, canonical in ALIASES.items():
        if alias not in given:
            continue
        if canonical in given:
            logger.info("both %s and its alias %s given; %s is used", canonical, alias, canonical)
        else:
            params[canonical] = values[alias]
    dropped = sorted(given & _DROPPED)
    if dropped:
        logger.info(
            "not passed to xgboost %s (removed, or no meaning here): %s", xgb.__version__, dropped
        )

    num_class = values["num_class"]
    if objective in _MULTI_OBJECTIVES:
        if num_class is None:
            problems.append(
                f"hyperparameter 'num_class' is required when objective is {objective} "
                "(an integer >= 2, the number of classes)"
            )
        else:
            params["num_class"] = num_class
    elif num_class is not None:
        logger.info("num_class is only used by multi:softmax and multi:softprob; ignored")
        num_class = None

    nthread = values["nthread"] if "nthread" in given else _threads_from_environment()
    if nthread is not None:
        params["nthread"] = nthread
    tree_method = values["tree_method"]
    wants_gpu = tree_method == "gpu_hist"
    if "tree_method" in given:
        params["tree_method"] = "hist" if wants_gpu else tree_method
    if device.startswith("cuda"):
        params["device"] = device
    elif wants_gpu:
        # SageMaker's gpu_hist is hist on a GPU; xgboost falls back to the CPU if it finds none.
        params["device"] = "cuda"

    requested = _eval_metrics(values["eval_metric"], problems)
    objective_metric = _objective_metric(values.get("_tuning_objective_metric"), problems)
    has_validation = "validation" in channels
    if objective_metric is not None:
        data_set, metric = objective_metric
        if data_set == "validation" and not has_validation:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': validation:{metric} needs a "
                "'validation' channel"
            )
        if metric not in requested:
            requested.append(metric)  # SageMaker's container evaluates the objective as well
    if problems:
        raise HyperparameterError(problems)

    native = [metric for metric in requested if metric not in _OWN_METRICS]
    if native:
        params["eval_metric"] = native

    early_stopping_rounds = values["early_stopping_rounds"]
    stopping_metric = None
    if early_stopping_rounds is not None and not has_validation:
        logger.warning("early_stopping_rounds needs a validation channel; training all rounds")
    elif objective_metric is not None and objective_metric[0] == "validation":
        stopping_metric = f"validation:{objective_metric[1]}"
    elif requested:
        stopping_metric = f"validation:{requested[-1]}"

    return _Plan(
        params=params,
        num_round=values["num_round"],
        objective=objective,
        num_class=num_class,
        own_metrics=[metric for metric in requested if metric in _OWN_METRICS],
        csv_weights=bool(values["csv_weights"]),
        early_stopping_rounds=early_stopping_rounds,
        stopping_metric=stopping_metric,
    )


def _eval_metrics(raw: str | None, problems: list[str]) -> list[str]:
    if raw is None:
        return []
    metrics: list[str] = []
    for name in (part.strip() for part in raw.split(",")):
        if not name or name in metrics:
            continue
        if not _is_metric(name):
            problems.append(
                f"hyperparameter 'eval_metric': {name!r} is not a metric of xgboost; known: "
                + ", ".join(sorted({**_NATIVE_METRICS, **_OWN_METRICS}))
                + " (error, ndcg, map, pre and tweedie-nloglik also as name@value)"
            )
        metrics.append(name)
    return metrics


def _objective_metric(raw: object, problems: list[str]) -> tuple[str, str] | None:
    if raw is None:
        return None
    text = str(raw).strip()
    data_set, _, metric = text.partition(":")
    if data_set not in DATA_SETS or not _is_metric(metric):
        problems.append(
            f"hyperparameter '_tuning_objective_metric': {text!r} is not a metric of xgboost; "
            f"known: {', '.join(METRICS)}"
        )
        return None
    return data_set, metric


def _threads_from_environment() -> int | None:
    """OMP_NUM_THREADS if set to a positive integer: the engine's way to share cores."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _is_tree(params: Mapping[str, Any]) -> bool:
    return bool(params.get("booster", "gbtree") != "gblinear")


# -- data ----------------------------------------------------------------------------------------


def _load_data(
    plan: _Plan, channels: Mapping[str, Path]
) -> tuple[xgb.DMatrix, xgb.DMatrix | None]:
    if "train" not in channels:
        msg = (
            "XGBoost needs a 'train' channel (got "
            + (", ".join(repr(name) for name in channels) or "none")
            + ")"
        )
        raise InputError(msg)
    X, y = load_channel(channels["train"])
    weights = None
    if plan.csv_weights:
        if scipy.sparse.issparse(X) or X.shape[1] < 1:
            msg = "csv_weights=1 needs CSV training data with a weight column after the label"
            raise InputError(msg)
        weights, X = X[:, 0], np.ascontiguousarray(X[:, 1:])
    X_val = y_val = None
    if "validation" in channels:
        X_val, y_val = load_channel(channels["validation"])
        X, X_val = _aligned(X, X_val, plan.csv_weights)
    _check_labels(y, "train", plan)
    if y_val is not None:
        _check_labels(y_val, "validation", plan)
    nthread = plan.params.get("nthread")
    dtrain = _dmatrix(X, y, weights, plan.objective, nthread)
    dvalidation = None
    if X_val is not None and y_val is not None:
        dvalidation = _dmatrix(X_val, y_val, None, plan.objective, nthread)
    return dtrain, dvalidation


def _dmatrix(
    X: Features, y: np.ndarray, weights: np.ndarray | None, objective: str, nthread: int | None
) -> xgb.DMatrix:
    matrix = xgb.DMatrix(X, label=y, weight=weights, nthread=nthread)
    if objective == "survival:aft":
        # One label column carries no censoring interval: every observation is uncensored.
        matrix.set_float_info("label_lower_bound", y)
        matrix.set_float_info("label_upper_bound", y)
    return matrix


def _aligned(
    train: Features, validation: Features, csv_weights: bool
) -> tuple[Features, Features]:
    """Train and validation features with the same number of columns, or a clear error."""
    if scipy.sparse.issparse(train) and scipy.sparse.issparse(validation):
        width = max(train.shape[1], validation.shape[1])
        return _widened(train, width), _widened(validation, width)
    if train.shape[1] != validation.shape[1]:
        hint = (
            " (with csv_weights=1 only the train channel has a weight column, as in SageMaker)"
            if csv_weights
            else ""
        )
        msg = (
            f"the validation channel has {validation.shape[1]} features but the train channel "
            f"has {train.shape[1]}{hint}"
        )
        raise InputError(msg)
    return train, validation


def _widened(X: scipy.sparse.csr_matrix, width: int) -> scipy.sparse.csr_matrix:
    if X.shape[1] == width:
        return X
    return scipy.sparse.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], width))


def _check_labels(y: np.ndarray, channel: str, plan: _Plan) -> None:
    if plan.objective in _BINARY_OBJECTIVES:
        bad = np.flatnonzero((y < 0) | (y > 1))
        if bad.size:
            msg = (
                f"{channel} channel: label {y[bad[0]]:g} (row {bad[0] + 1}) is out of range for "
                f"objective {plan.objective}; labels must be in [0, 1]"
            )
            raise InputError(msg)
    elif plan.objective in _MULTI_OBJECTIVES and plan.num_class is not None:
        bad = np.flatnonzero((y < 0) | (y >= plan.num_class) | (y != np.floor(y)))
        if bad.size:
            msg = (
                f"{channel} channel: label {y[bad[0]]:g} (row {bad[0] + 1}) is not a class of "
                f"num_class={plan.num_class}; labels must be integers in [0, {plan.num_class})"
            )
            raise InputError(msg)


def _save(booster: xgb.Booster, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / MODEL_FILENAME).write_bytes(bytes(booster.save_raw("ubj")))


# -- reporting and stopping ----------------------------------------------------------------------


@dataclass
class _EarlyStopping:
    """Stop after ``rounds`` rounds without improvement, as xgboost's EarlyStopping does.

    Kept here rather than using xgboost's callback so that the metrics computed by this module
    (accuracy, f1, mse) can drive it too, at full precision.
    """

    rounds: int
    metric: str | None  # "validation:<metric>"; None until the first round picks xgboost's last
    best: float | None = None
    best_epoch: int | None = None
    stale: int = 0

    def update(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        if self.metric is None:
            validation = [name for name in metrics if name.startswith("validation:")]
            if not validation:
                return False
            self.metric = validation[-1]
        value = metrics.get(self.metric)
        if value is None or np.isnan(value):
            return False
        maximize = METRICS.get(self.metric, "Minimize") == "Maximize"
        if self.best is None or (value > self.best if maximize else value < self.best):
            self.best, self.best_epoch, self.stale = value, epoch, 0
            return False
        self.stale += 1
        return self.stale >= self.rounds


@dataclass
class _Resumed:
    """Where a training job's checkpoint left it: the rounds done and the model so far."""

    rounds: int
    booster: bytearray


def _resumed(ctx: TrainingContext, stopping: _EarlyStopping | None) -> _Resumed | None:
    """The training job's checkpoint (see :mod:`algorithms.checkpoints`), restoring the early
    stopping state into ``stopping``; None when it has none. xgboost continues a model given
    as ``xgb_model`` with the same round-by-round updates, so a resumed job grows the same
    trees (exactly, without row or column subsampling, whose random state is not saved)."""
    state = resume_state(ctx)
    if not isinstance(state, dict) or state.get("algorithm") != "xgboost":
        return None
    if stopping is not None and state.get("stopping") is not None:
        for name, value in state["stopping"].items():
            setattr(stopping, name, value)
    return _Resumed(int(state["rounds"]), bytearray(state["booster"]))


class _Reporter(xgb.callback.TrainingCallback):
    """Reports every round's metrics to the engine and ends training when asked to.

    ``offset``: the rounds a resumed training job had done before (xgboost numbers the rounds
    of a continued model from 0 again). After each round's report the model is checkpointed
    when the training job asks for per-epoch checkpoints.
    """

    def __init__(
        self,
        ctx: TrainingContext,
        evals: Sequence[tuple[xgb.DMatrix, str]],
        own_metrics: Sequence[str],
        objective: str,
        stopping: _EarlyStopping | None,
        *,
        offset: int = 0,
    ) -> None:
        super().__init__()
        self.offset = offset
        self.ctx = ctx
        self.evals = list(evals)
        self.own_metrics = list(own_metrics)
        self.objective = objective
        self.stopping = stopping
        self._truth: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        for matrix, name in self.evals:
            weights = matrix.get_weight()
            self._truth[name] = (matrix.get_label(), weights if weights.size else None)

    def after_iteration(
        self, model: xgb.Booster, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]
    ) -> bool:
        metrics: dict[str, float] = {}
        for data_set, by_metric in evals_log.items():
            for metric, history in by_metric.items():
                metrics[f"{data_set}:{metric}"] = float(np.ravel(history[-1])[0])
        if self.own_metrics:
            for matrix, data_set in self.evals:
                labels, weights = self._truth[data_set]
                predictions = model.predict(matrix)
                for metric in self.own_metrics:
                    value = _OWN_METRIC_FUNCTIONS[metric](
                        predictions, labels, weights, self.objective
                    )
                    metrics[f"{data_set}:{metric}"] = value
        rounds = self.offset + epoch + 1
        try:
            self.ctx.report(rounds, **metrics)
        except StopTraining:
            return True  # asked to stop since the last report: end now, keeping the model
        if self.ctx.should_stop():
            return True
        stop = self.stopping is not None and self.stopping.update(rounds - 1, metrics)
        self._checkpoint(model, rounds)
        return stop

    def _checkpoint(self, model: xgb.Booster, rounds: int) -> None:
        if not wants_epoch_checkpoints(self.ctx):
            return
        stopping = dataclasses.asdict(self.stopping) if self.stopping is not None else None
        state = {"algorithm": "xgboost", "rounds": rounds, "stopping": stopping}
        save_epoch(self.ctx, state | {"booster": bytes(model.save_raw("ubj"))})


def _predicted_classes(predictions: np.ndarray, objective: str) -> np.ndarray:
    if predictions.ndim == 2:  # multi:softprob
        return np.asarray(np.argmax(predictions, axis=1))
    if objective == "multi:softmax":
        return np.asarray(np.rint(predictions), dtype=np.int64)
    threshold = 0.0 if objective == "binary:logitraw" else 0.5  # logitraw predicts margins
    return np.asarray(predictions > threshold, dtype=np.int64)


def _true_classes(labels: np.ndarray, objective: str) -> np.ndarray:
    if objective in _MULTI_OBJECTIVES:
        return np.asarray(np.rint(labels), dtype=np.int64)
    return np.asarray(labels > 0.5, dtype=np.int64)


def _accuracy(
    predictions: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, objective: str
) -> float:
    correct = _predicted_classes(predictions, objective) == _true_classes(labels, objective)
    return float(np.average(correct, weights=weights))


def _f1(
    predictions: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, objective: str
) -> float:
    """Binary F1 of class 1; macro-averaged F1 over the classes for multi-class objectives."""
    from sklearn.metrics import f1_score

    average = "macro" if objective in _MULTI_OBJECTIVES else "binary"
    return float(
        f1_score(
            _true_classes(labels, objective),
            _predicted_classes(predictions, objective),
            average=average,
            sample_weight=weights,
            zero_division=0,
        )
    )


def _mse(
    predictions: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, objective: str
) -> float:
    values = _predicted_classes(predictions, objective) if predictions.ndim == 2 else predictions
    return float(np.average((np.asarray(values, dtype=np.float64) - labels) ** 2, weights=weights))


_OWN_METRIC_FUNCTIONS = {"accuracy": _accuracy, "f1": _f1, "mse": _mse}
