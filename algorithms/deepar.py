"""DeepAR, SageMaker's built-in forecasting algorithm (the ``forecasting-deepar`` image), in torch.

**The model** is Salinas, Flunkert, Gasthaus and Januschowski's "DeepAR: probabilistic
forecasting with autoregressive recurrent networks" (International Journal of Forecasting,
2020), as GluonTS, on which SageMaker's container is built, lays it out. One network is
trained on all the series of the ``train`` channel. At every step ``t`` its input is the
series' lagged values (:func:`algorithms.deepar_data.lags_for`: lags 1 to 7 and the seasonal
cycles of ``time_freq``), divided by the series' scale, the time features of ``time_freq``
(:func:`algorithms.deepar_data.time_features`), the series' age ``log10(2 + t)``, its
``dynamic_feat`` at ``t``, and two static inputs: a learned embedding of
``embedding_dimension`` numbers for each categorical feature of ``cat``, and the log of the
scale. ``num_layers`` LSTM layers of ``num_cells`` cells (residual connections from the second
layer on, zoneout regularisation at ``dropout_rate`` on the cells' states while training, as
SageMaker documents) feed a linear head giving the parameters of the ``likelihood``'s
distribution of the value at ``t``. The scale of a series (of a training window) is
``1 + mean |value|`` over the observed values of its context, the paper's ``nu``; the
distributions are scaled by it (the negative binomial as the paper says: mean ``nu * mu``,
shape ``alpha / sqrt(nu)``), and ``beta``, whose values live in (0, 1), is not scaled.

**Likelihoods**: ``gaussian`` (mean, softplus standard deviation), ``student-T`` (with
``2 + softplus`` degrees of freedom), ``negative-binomial`` (softplus mean and shape; targets
must be non-negative), ``beta`` (softplus concentrations; targets must lie in [0, 1], and
are clipped to [1e-6, 1 - 1e-6] for the likelihood) and ``deterministic-L1`` (a point forecast
trained on the absolute error, so every sample path is that forecast).

**Training** samples windows of ``context_length + prediction_length`` steps (with the history
its lags need before them; what lies before a series' start counts as missing) whose
forecast part lies within the series, and minimises the negative log-likelihood of every
observed value of the window, the context's included, with teacher forcing. Missing values
(``"NaN"``) are fed as 0 and left out of the loss and the scale. Where SageMaker leaves the
details open, ours:

* An epoch is one pass over the training data's time points: from each series
  ``ceil((len - prediction_length) / (context_length + prediction_length))`` windows (at
  least one) at random places, shuffled into mini-batches of ``mini_batch_size``. A series of
  ``prediction_length`` values or fewer has no window and is left out of training.
* Adam at ``learning_rate``, every gradient component clipped to [-10, 10], and the learning
  rate halved after 10 epochs without a better ``train:loss`` (not below 5e-5): GluonTS's
  trainer defaults.
* The model kept is the one of the epoch with the lowest ``train:loss`` (SageMaker logs
  "Final loss: ... (occurred at epoch N)"); ``train:final_loss`` is that loss.
  ``early_stopping_patience`` ends training once that many epochs have passed without a lower
  ``train:loss``.

**Metrics.** After every epoch: ``train:loss`` (the epoch's mean negative log-likelihood per
observed value, as trained) and ``train:final_loss`` (the lowest so far: the final loss if
training ended there); with a ``test`` channel, the kept model's ``test:RMSE``,
``test:mean_wQuantileLoss`` and ``test:wQuantileLoss[q]`` for each of ``test_quantiles``, so
the last report holds the saved model's scores and early stopping can act on any epoch.
As SageMaker does, each test series is forecast from all its values but the last
``prediction_length``, which are the truth: the test channel holds the train series extended by
``prediction_length``. ``test:RMSE`` is the root mean squared error of the mean of
``num_eval_samples`` sample paths over every observed truth value; ``wQuantileLoss[q]`` is
``2 * sum |(y - q_hat) (1{y <= q_hat} - q)| / sum |y|`` with ``q_hat`` the sample paths'
``q``-quantile; ``mean_wQuantileLoss`` their mean. AMT's objective metrics for DeepAR are
``test:RMSE``, ``test:mean_wQuantileLoss`` and ``train:final_loss`` (AMT.md 17.1); the rest are
informational.

**Categorical and dynamic features.** ``cardinality`` ``auto`` infers the number of categorical
features and each one's groups from the train series (every series must then have the same
number of ``cat`` values, or none); ``ignore`` or ``[]`` uses none; a list such as ``[3, 5]``
requires every series to have that many ``cat`` values, each below its cardinality.
``num_dynamic_feat`` is the same for ``dynamic_feat``: ``auto``, ``ignore`` or a count. An empty
string, which SageMaker lists beside them without giving it a meaning of its own, is taken as
unset: ``auto``. A test series needs the same features as the train series, and a ``cat``
value beyond the training cardinality is refused.

**The model** (``deepar-model.pt``: the configuration and the network's weights) loads with
:func:`load`; :meth:`DeepARModel.predict` forecasts ``prediction_length`` steps after each
given series: sample paths, their mean and quantiles; :meth:`DeepARModel.invoke` answers
SageMaker's endpoint request (``{"instances": [...], "configuration": {...}}``) in its response
shape. With ``dynamic_feat`` a series to forecast needs ``prediction_length`` more feature values
than target values. Training runs on ``ctx.device``; windows, zoneout and sample paths come
from seeded generators, so a run on the CPU repeats exactly.

**Checkpoints** (when the training job asks for them, :mod:`algorithms.checkpoints`): after
every epoch's report, the network, Adam's state, the learning rate, the kept model and its
epoch, and every random state (the windows' numpy generator, torch's, CUDA's on a GPU). A job
run again resumes after that epoch and trains on exactly as if it had never stopped; one whose
checkpoint is the epoch early stopping ended it at only saves the kept model again.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    TrainingContext,
    TuningRange,
    continuous,
    integer,
    parse_hyperparameters,
)
from algorithms.checkpoints import wants_epoch_checkpoints
from algorithms.deepar_data import (
    Frequency,
    Series,
    lags_for,
    n_time_features,
    parse_frequency,
    parse_record,
    read_series,
    time_features,
)
from algorithms.torch_util import (
    configure_threads,
    restore_training_state,
    save_training_state,
    torch,
    torch_device,
)

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "deepar-model.pt"
#: Seeds of training (windows, zoneout, initialisation) and of the evaluation's sample paths.
SEED = 0
EVAL_SEED = 1
LIKELIHOODS = ("gaussian", "beta", "negative-binomial", "student-T", "deterministic-L1")
DEFAULT_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: GluonTS's trainer defaults: gradient clipping, learning-rate decay on a plateau.
CLIP_GRADIENT = 10.0
DECAY_PATIENCE, DECAY_FACTOR, MIN_LEARNING_RATE = 10, 0.5, 5e-5
#: Sample paths drawn at once, at most, when forecasting (series x samples).
SAMPLE_ROWS = 4096

METRICS: Mapping[str, Direction] = MappingProxyType(
    {
        "test:RMSE": "Minimize",
        "test:mean_wQuantileLoss": "Minimize",
        "train:final_loss": "Minimize",
    }
)


def quantile_metric(quantile: float) -> str:
    """The name of the test metric of one quantile, ``test:wQuantileLoss[0.1]``."""
    return f"test:wQuantileLoss[{quantile:g}]"


#: Reported as well, informational: the per-epoch loss and the default quantiles' losses.
REPORTED_METRICS = ("train:loss", *(quantile_metric(q) for q in DEFAULT_QUANTILES))


class FeatureCountSpec(HyperparameterSpec):
    """``auto``, ``ignore`` or ``""`` (auto), or a count (``num_dynamic_feat``)."""

    def allowed(self) -> str:
        return "auto, ignore or a positive integer"

    def parse(self, name: str, raw: object) -> Any:
        text = str(raw).strip().strip("'\"")
        if text.lower() in ("", "auto"):
            return "auto"
        if text.lower() == "ignore":
            return "ignore"
        if text.isdigit() and int(text) > 0:
            return int(text)
        raise ValueError(f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}")


class CardinalitySpec(HyperparameterSpec):
    """``auto`` (or ``""``), ``ignore``, or a list of positive integers (``[2, 3]``, ``2,3``)."""

    def allowed(self) -> str:
        return "auto, ignore or an array of positive integers such as [2, 3]"

    def parse(self, name: str, raw: object) -> Any:
        text = str(raw).strip().strip("'\"")
        if text.lower() in ("", "auto"):
            return "auto"
        if text.lower() == "ignore":
            return "ignore"
        parts = [part.strip() for part in text.strip("[]").split(",") if part.strip()]
        if text.startswith("[") and not parts:
            return ()
        if parts and all(part.isdigit() and int(part) > 0 for part in parts):
            return tuple(int(part) for part in parts)
        raise ValueError(f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}")


class QuantilesSpec(HyperparameterSpec):
    """A list of quantiles strictly between 0 and 1: ``[0.1, 0.5, 0.9]`` or ``0.1,0.5,0.9``."""

    def allowed(self) -> str:
        return "an array of numbers strictly between 0 and 1, such as [0.1, 0.5, 0.9]"

    def parse(self, name: str, raw: object) -> Any:
        text = str(raw).strip()
        bad = ValueError(f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}")
        parts = [part.strip().strip("'\"") for part in text.strip("[]").split(",")]
        try:
            values = [float(part) for part in parts]
        except ValueError:
            raise bad from None
        if not values or not all(0.0 < value < 1.0 for value in values):
            raise bad
        return tuple(dict.fromkeys(values))


class FrequencySpec(HyperparameterSpec):
    """SageMaker's ``time_freq``: an optional multiple and M, W, D, H or min (``5min``)."""

    def allowed(self) -> str:
        return "an optional positive integer followed by M, W, D, H or min, such as 5min"

    def parse(self, name: str, raw: object) -> Any:
        try:
            return parse_frequency(str(raw))
        except ValueError:
            msg = f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}"
            raise ValueError(msg) from None


#: SageMaker DeepAR's hyperparameters ("DeepAR Hyperparameters" in the developer guide).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "context_length": HyperparameterSpec(
            "int",
            required=True,
            min_value=1,
            description="Steps the model sees before a forecast.",
        ),
        "epochs": HyperparameterSpec(
            "int", required=True, min_value=1, description="Most passes over the training data."
        ),
        "prediction_length": HyperparameterSpec(
            "int", required=True, min_value=1, description="Steps forecast (the horizon)."
        ),
        "time_freq": FrequencySpec(
            "str", required=True, description="Granularity of the series: M, W, D, H, min."
        ),
        "cardinality": CardinalitySpec(
            "str", "auto", description="Groups of each categorical feature (cat)."
        ),
        "dropout_rate": HyperparameterSpec(
            "float",
            0.1,
            min_value=0.0,
            max_value=1.0,
            max_open=True,
            description="Zoneout rate of the LSTM states while training.",
        ),
        "early_stopping_patience": HyperparameterSpec(
            "int",
            None,
            min_value=1,
            description="Epochs without a lower train:loss before training ends (unset: off).",
        ),
        "embedding_dimension": HyperparameterSpec(
            "int", 10, min_value=1, description="Embedding size of each categorical feature."
        ),
        "learning_rate": HyperparameterSpec(
            "float", 1e-3, min_value=0.0, min_open=True, description="Adam's learning rate."
        ),
        "likelihood": HyperparameterSpec(
            "str", "student-T", choices=LIKELIHOODS, description="The noise model."
        ),
        "mini_batch_size": HyperparameterSpec(
            "int", 128, min_value=1, description="Training windows per mini-batch."
        ),
        "num_cells": HyperparameterSpec(
            "int", 40, min_value=1, description="Cells in each LSTM layer."
        ),
        "num_dynamic_feat": FeatureCountSpec(
            "str", "auto", description="Dynamic features used (dynamic_feat)."
        ),
        "num_eval_samples": HyperparameterSpec(
            "int", 100, min_value=1, description="Sample paths per test series."
        ),
        "num_layers": HyperparameterSpec("int", 2, min_value=1, description="LSTM layers."),
        "test_quantiles": QuantilesSpec(
            "str", DEFAULT_QUANTILES, description="Quantiles scored on the test channel."
        ),
    }
)

#: AMT's recommended ranges (its deepar-tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "epochs": integer(1, 1000),
        "context_length": integer(1, 200),
        "mini_batch_size": integer(32, 1028),
        "learning_rate": continuous(1e-5, 1e-1, "Logarithmic"),
        "num_cells": integer(30, 200),
        "num_layers": integer(1, 8),
        "dropout_rate": continuous(0.0, 0.2),
        "embedding_dimension": integer(1, 50),
    }
)


# -- layout of the inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """What the network reads and forecasts; fixed at training, saved with the model."""

    frequency: Frequency
    context_length: int
    prediction_length: int
    lags: tuple[int, ...]
    cardinality: tuple[int, ...]
    num_dynamic_feat: int
    likelihood: str

    @property
    def max_lag(self) -> int:
        return self.lags[-1]

    @property
    def n_covariates(self) -> int:
        """Time features, the age, and the dynamic features, per step."""
        return n_time_features(self.frequency) + 1 + self.num_dynamic_feat


@dataclass(frozen=True)
class Prepared:
    """A series ready for windows: values (missing as 0), observed flags, covariates, cat."""

    values: np.ndarray  # (T,)
    observed: np.ndarray  # (T,), 1.0 where observed
    covariates: np.ndarray  # (T + extra, n_covariates)
    cat: tuple[int, ...]


def prepare(series: Series, layout: Layout, extra_steps: int = 0) -> Prepared:
    """``series`` as the network reads it, with covariates ``extra_steps`` beyond its end."""
    length = len(series.target)
    steps = length + extra_steps
    times = layout.frequency.index(series.start, steps)
    columns = [time_features(layout.frequency, times), np.log10(2.0 + np.arange(steps))[:, None]]
    if layout.num_dynamic_feat:
        assert series.dynamic_feat is not None
        columns.append(series.dynamic_feat[: layout.num_dynamic_feat, :steps].T)
    observed = ~np.isnan(series.target)
    return Prepared(
        values=np.where(observed, series.target, 0.0),
        observed=observed.astype(np.float64),
        covariates=np.concatenate(columns, axis=1),
        cat=tuple(series.cat or ())[: len(layout.cardinality)],
    )


@dataclass(frozen=True)
class Batch:
    """Windows as tensors: ``sequence``/``observed`` ``(B, max_lag + context + prediction)``,
    ``covariates`` ``(B, context + prediction, C)``, ``cat`` ``(B, n_cat)``."""

    sequence: torch.Tensor
    observed: torch.Tensor
    covariates: torch.Tensor
    cat: torch.Tensor


def make_batch(
    items: Sequence[tuple[Prepared, int]], layout: Layout, device: torch.device
) -> Batch:
    """The windows whose forecast starts at step ``t0`` of each ``(series, t0)``."""
    context, horizon, max_lag = layout.context_length, layout.prediction_length, layout.max_lag
    sequences, observed, covariates = [], [], []
    for prepared, t0 in items:
        positions = np.arange(t0 - context - max_lag, t0 + horizon)
        inside = (positions >= 0) & (positions < len(prepared.values))
        clipped = np.clip(positions, 0, len(prepared.values) - 1)
        sequences.append(np.where(inside, prepared.values[clipped], 0.0))
        observed.append(np.where(inside, prepared.observed[clipped], 0.0))
        steps = positions[max_lag:]
        known = steps >= 0
        rows = np.zeros((len(steps), layout.n_covariates))
        rows[known] = prepared.covariates[steps[known]]
        covariates.append(rows)
    cats = [prepared.cat for prepared, _ in items]

    def tensor(array: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=dtype, device=device)

    return Batch(
        sequence=tensor(np.stack(sequences)),
        observed=tensor(np.stack(observed)),
        covariates=tensor(np.stack(covariates)),
        cat=tensor(np.asarray(cats, dtype=np.int64).reshape(len(items), -1), torch.int64),
    )


# -- the network ----------------------------------------------------------------------------------

_N_PARAMETERS = {
    "gaussian": 2,
    "student-T": 3,
    "negative-binomial": 2,
    "beta": 2,
    "deterministic-L1": 1,
}
_EPS = 1e-6


class Likelihood:
    """The ``likelihood``'s distribution from the head's raw outputs and the series' scale."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _distribution(self, raw: torch.Tensor, scale: torch.Tensor) -> Any:
        softplus = torch.nn.functional.softplus
        dists = torch.distributions
        if self.name == "gaussian":
            return dists.Normal(
                raw[..., 0] * scale, (softplus(raw[..., 1]) + _EPS) * scale, validate_args=False
            )
        if self.name == "student-T":
            return dists.StudentT(
                2.0 + softplus(raw[..., 2]),
                raw[..., 0] * scale,
                (softplus(raw[..., 1]) + _EPS) * scale,
                validate_args=False,
            )
        if self.name == "negative-binomial":
            mean = (softplus(raw[..., 0]) + _EPS) * scale
            shape = (softplus(raw[..., 1]) + _EPS) / torch.sqrt(scale)
            return dists.NegativeBinomial(
                total_count=1.0 / shape, logits=torch.log(mean * shape), validate_args=False
            )
        return dists.Beta(
            softplus(raw[..., 0]) + _EPS, softplus(raw[..., 1]) + _EPS, validate_args=False
        )

    def loss(self, raw: torch.Tensor, scale: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-value loss: the negative log-likelihood (deterministic-L1: absolute error)."""
        if self.name == "deterministic-L1":
            return (target - raw[..., 0] * scale).abs()
        if self.name == "beta":
            target = target.clamp(_EPS, 1.0 - _EPS)
        return -self._distribution(raw, scale).log_prob(target)

    def sample(self, raw: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """One draw per row (deterministic-L1: the point forecast)."""
        if self.name == "deterministic-L1":
            return raw[..., 0] * scale
        return self._distribution(raw, scale).sample().to(raw.dtype)


State = list[tuple[torch.Tensor, torch.Tensor]]


class Network(torch.nn.Module):
    """Embeddings, the zoneout LSTM stack (residual from the second layer) and the head."""

    def __init__(self, layout: Layout, values: Mapping[str, Any]) -> None:
        super().__init__()
        self.layout = layout
        self.zoneout = float(values["dropout_rate"])
        width = int(values["embedding_dimension"])
        cells = int(values["num_cells"])
        self.embeddings = torch.nn.ModuleList(
            torch.nn.Embedding(groups, width) for groups in layout.cardinality
        )
        inputs = len(layout.lags) + layout.n_covariates + width * len(layout.cardinality) + 1
        self.cells = torch.nn.ModuleList(
            torch.nn.LSTMCell(inputs if i == 0 else cells, cells)
            for i in range(int(values["num_layers"]))
        )
        self.head = torch.nn.Linear(cells, _N_PARAMETERS[layout.likelihood])
        self.likelihood = Likelihood(layout.likelihood)
        self.register_buffer("lag_offsets", torch.tensor(layout.lags, dtype=torch.int64))

    def scale(self, batch: Batch) -> torch.Tensor:
        """``1 + mean |value|`` over each window's observed context values (beta: 1)."""
        if self.layout.likelihood == "beta":
            return torch.ones(batch.sequence.shape[0], device=batch.sequence.device)
        start = self.layout.max_lag
        window = slice(start, start + self.layout.context_length)
        observed = batch.observed[:, window]
        total = (batch.sequence[:, window].abs() * observed).sum(dim=1)
        return 1.0 + total / observed.sum(dim=1).clamp_min(1.0)

    def static(self, batch: Batch, scale: torch.Tensor) -> torch.Tensor:
        parts = [embed(batch.cat[:, i]) for i, embed in enumerate(self.embeddings)]
        return torch.cat([*parts, torch.log(scale)[:, None]], dim=1)

    def lagged(self, sequence: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """Lagged values for window steps ``steps``: ``(B, len(steps), n_lags)``."""
        index = self.layout.max_lag + steps[:, None] - self.get_buffer("lag_offsets")[None, :]
        return sequence[:, index]

    def step(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One time step through the LSTM stack; zoneout on the states while training."""
        new_state: State = []
        inputs = x
        for i, cell in enumerate(self.cells):
            assert isinstance(cell, torch.nn.LSTMCell)
            previous = state[i] if state is not None else None
            h, c = cell(inputs, previous)
            if self.training and self.zoneout > 0 and previous is not None:
                keep_h = torch.rand_like(h) < self.zoneout
                keep_c = torch.rand_like(c) < self.zoneout
                h = torch.where(keep_h, previous[0], h)
                c = torch.where(keep_c, previous[1], c)
            new_state.append((h, c))
            inputs = h + inputs if i > 0 else h
        return inputs, new_state

    def unroll(self, inputs: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        outputs = []
        for t in range(inputs.shape[1]):
            output, state = self.step(inputs[:, t], state)
            outputs.append(output)
        assert state is not None
        return torch.stack(outputs, dim=1), state

    def inputs(self, batch: Batch, scale: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        lagged = self.lagged(batch.sequence, steps) / scale[:, None, None]
        static = self.static(batch, scale)[:, None, :].expand(-1, len(steps), -1)
        return torch.cat([lagged, batch.covariates[:, steps], static], dim=2)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of the losses, number of observed values) over the windows' steps."""
        length = self.layout.context_length + self.layout.prediction_length
        steps = torch.arange(length, device=batch.sequence.device)
        scale = self.scale(batch)
        outputs, _ = self.unroll(self.inputs(batch, scale, steps), None)
        raw = self.head(outputs)
        target = batch.sequence[:, self.layout.max_lag :]
        weights = batch.observed[:, self.layout.max_lag :]
        losses = self.likelihood.loss(raw, scale[:, None], target)
        return (losses * weights).sum(), weights.sum()

    @torch.no_grad()
    def sample_paths(self, batch: Batch, num_samples: int) -> torch.Tensor:
        """``(B, num_samples, prediction_length)`` sample paths after each window's context."""
        context, horizon = self.layout.context_length, self.layout.prediction_length
        device = batch.sequence.device
        scale = self.scale(batch)
        _, state = self.unroll(
            self.inputs(batch, scale, torch.arange(context, device=device)), None
        )
        repeat = lambda t: t.repeat_interleave(num_samples, dim=0)  # noqa: E731
        sequence = repeat(batch.sequence).clone()
        static = repeat(self.static(batch, scale))
        covariates, scale = repeat(batch.covariates), repeat(scale)
        state = [(repeat(h), repeat(c)) for h, c in state]
        for j in range(context, context + horizon):
            steps = torch.tensor([j], device=device)
            lagged = self.lagged(sequence, steps)[:, 0] / scale[:, None]
            x = torch.cat([lagged, covariates[:, j], static], dim=1)
            output, state = self.step(x, state)
            draw = self.likelihood.sample(self.head(output), scale)
            sequence[:, self.layout.max_lag + j] = draw
        paths = sequence[:, self.layout.max_lag + context :]
        return paths.reshape(-1, num_samples, horizon)


# -- forecasts and their scores -------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    """The forecast of one series: ``samples`` ``(num_samples, prediction_length)``, their mean
    and the quantiles asked for (keyed as SageMaker keys them, ``"0.1"``); ``start`` is the
    period of the first forecast step."""

    start: pd.Period
    samples: np.ndarray
    mean: np.ndarray
    quantiles: Mapping[str, np.ndarray]


def forecast_paths(
    network: Network,
    items: Sequence[tuple[Prepared, int]],
    num_samples: int,
    device: torch.device,
    seed: int = EVAL_SEED,
) -> np.ndarray:
    """Sample paths ``(len(items), num_samples, prediction_length)`` after each ``(series,
    t0)``, drawn in chunks from a generator seeded with ``seed``."""
    network.eval()
    chunk = max(1, SAMPLE_ROWS // num_samples)
    out = []
    devices = _rng_devices(device)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for begin in range(0, len(items), chunk):
            batch = make_batch(items[begin : begin + chunk], network.layout, device)
            out.append(network.sample_paths(batch, num_samples).double().cpu().numpy())
    return np.concatenate(out)


def _quantile_key(quantile: float) -> str:
    return f"{quantile:g}"


def scores(paths: np.ndarray, truth: np.ndarray, quantiles: Sequence[float]) -> dict[str, float]:
    """``test:RMSE``, ``test:mean_wQuantileLoss`` and each ``test:wQuantileLoss[q]`` of sample
    ``paths`` ``(series, samples, steps)`` against ``truth`` ``(series, steps)``; a NaN truth
    value is left out."""
    observed = ~np.isnan(truth)
    if not observed.any():
        msg = "test channel: no test series has an observed value in its last prediction_length"
        raise InputError(msg)
    y = np.where(observed, truth, 0.0)
    mean = paths.mean(axis=1)
    rmse = math.sqrt(float((((mean - y) ** 2) * observed).sum() / observed.sum()))
    denominator = max(float(np.abs(y).sum()), 1e-12)
    metrics: dict[str, float] = {"test:RMSE": rmse}
    losses = []
    for q in quantiles:
        estimate = np.quantile(paths, q, axis=1)
        loss = np.abs((estimate - y) * ((y <= estimate) - q)) * observed
        losses.append(2.0 * float(loss.sum()) / denominator)
        metrics[quantile_metric(q)] = losses[-1]
    metrics["test:mean_wQuantileLoss"] = float(np.mean(losses))
    return metrics


def _rng_devices(device: torch.device) -> list[int]:
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


# -- resolving features ---------------------------------------------------------------------------


def resolve_cardinality(
    setting: Any, train: Sequence[Series], test: Sequence[Series]
) -> tuple[int, ...]:
    """The cardinality of each categorical feature used; checks every series' ``cat``."""
    if setting in ("ignore", ()):
        return ()
    if setting == "auto":
        with_cat = [s for s in train if s.cat]
        if not with_cat:
            return ()
        width = len(with_cat[0].cat or ())
        for s in train:
            if s.cat is None or len(s.cat) != width:
                got = "no 'cat'" if s.cat is None else f"{len(s.cat)} 'cat' values"
                msg = f"{s.where}: the series has {got} but {with_cat[0].where} has {width}"
                raise InputError(msg)
        cardinality = tuple(max(s.cat[i] for s in train if s.cat) + 1 for i in range(width))
    else:
        cardinality = tuple(setting)
        _check_cat(train, cardinality, "cardinality is")
    _check_cat(test, cardinality, "training found cardinality")
    return cardinality


def _check_cat(series: Sequence[Series], cardinality: tuple[int, ...], source: str) -> None:
    for s in series:
        if s.cat is None or len(s.cat) != len(cardinality):
            got = 0 if s.cat is None else len(s.cat)
            msg = (
                f"{s.where}: 'cat' has {got} values but {source} {list(cardinality)}: one "
                "value per categorical feature"
            )
            raise InputError(msg)
        for i, (value, groups) in enumerate(zip(s.cat, cardinality, strict=True)):
            if value >= groups:
                msg = (
                    f"{s.where}: cat[{i}] is {value}, but {source} {list(cardinality)}: "
                    f"values of feature {i} must be below {groups}"
                )
                raise InputError(msg)


def resolve_dynamic(setting: Any, train: Sequence[Series], test: Sequence[Series]) -> int:
    """How many dynamic features are used; checks every series has that many."""
    if setting == "ignore":
        return 0
    if setting == "auto":
        first = train[0].dynamic_feat
        count = 0 if first is None else len(first)
        source = f"{train[0].where} has {count}"
    else:
        count, source = int(setting), f"num_dynamic_feat is {setting}"
    for s in (*train, *test):
        got = 0 if s.dynamic_feat is None else len(s.dynamic_feat)
        if got < count or (setting == "auto" and got != count):
            msg = f"{s.where}: the series has {got} dynamic features but {source}"
            raise InputError(msg)
    return count


def check_targets(series: Sequence[Series], likelihood: str) -> None:
    """Targets the likelihood can model: non-negative (negative-binomial), in [0, 1] (beta)."""
    for s in series:
        values = s.target[~np.isnan(s.target)]
        if likelihood == "negative-binomial" and (values < 0).any():
            msg = (
                f"{s.where}: a target value is negative; likelihood negative-binomial "
                "models counts"
            )
            raise InputError(msg)
        if likelihood == "beta" and ((values < 0) | (values > 1)).any():
            msg = f"{s.where}: a target value lies outside [0, 1], which likelihood beta needs"
            raise InputError(msg)


# -- the saved model ------------------------------------------------------------------------------


class DeepARModel:
    """A trained DeepAR network that forecasts ``prediction_length`` steps of given series."""

    def __init__(
        self,
        layout: Layout,
        values: Mapping[str, Any],
        state_dict: Mapping[str, Any],
        device: str = "cpu",
    ) -> None:
        self.layout = layout
        self.values = dict(values)
        self.device = torch_device(device)
        self.network = Network(layout, values).to(self.device)
        self.network.load_state_dict(dict(state_dict))
        self.network.eval()

    @property
    def prediction_length(self) -> int:
        return self.layout.prediction_length

    def _series(self, instances: Sequence[Mapping[str, Any]]) -> list[Prepared]:
        extra = self.prediction_length if self.layout.num_dynamic_feat else 0
        prepared = []
        for i, record in enumerate(instances):
            series = parse_record(
                record, f"instance {i}", self.layout.frequency, extra_steps=extra
            )
            if self.layout.cardinality:
                _check_cat([series], self.layout.cardinality, "the model was trained with")
            got = 0 if series.dynamic_feat is None else len(series.dynamic_feat)
            if got < self.layout.num_dynamic_feat:
                msg = (
                    f"instance {i}: it has {got} dynamic features, the model needs "
                    f"{self.layout.num_dynamic_feat} (each prediction_length longer than target)"
                )
                raise InputError(msg)
            prepared.append(prepare(series, self.layout, self.prediction_length))
        return prepared

    def predict(
        self,
        instances: Sequence[Mapping[str, Any]],
        *,
        num_samples: int | None = None,
        quantiles: Sequence[float] | None = None,
        seed: int = EVAL_SEED,
    ) -> list[Forecast]:
        """A :class:`Forecast` for each record (``start``, ``target``, ``cat``,
        ``dynamic_feat``), from ``num_samples`` paths (default ``num_eval_samples``)."""
        samples = int(num_samples or self.values["num_eval_samples"])
        wanted = tuple(quantiles if quantiles is not None else self.values["test_quantiles"])
        prepared = self._series(instances)
        items = [(p, len(p.values)) for p in prepared]
        paths = forecast_paths(self.network, items, samples, self.device, seed)
        forecasts = []
        for record, p, series_paths in zip(instances, prepared, paths, strict=True):
            start = self.layout.frequency.period(record["start"]) + len(p.values)
            forecasts.append(
                Forecast(
                    start=start,
                    samples=series_paths,
                    mean=series_paths.mean(axis=0),
                    quantiles={
                        _quantile_key(q): np.quantile(series_paths, q, axis=0) for q in wanted
                    },
                )
            )
        return forecasts

    def invoke(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """SageMaker's endpoint request (``instances`` and ``configuration``: ``num_samples``,
        ``output_types`` of mean, quantiles, samples, and ``quantiles``) and its response."""
        configuration = dict(request.get("configuration") or {})
        types = configuration.get("output_types", ["mean", "quantiles"])
        quantiles = [
            float(q) for q in configuration.get("quantiles", self.values["test_quantiles"])
        ]
        forecasts = self.predict(
            list(request.get("instances") or []),
            num_samples=configuration.get("num_samples"),
            quantiles=quantiles,
        )
        predictions = []
        for forecast in forecasts:
            answer: dict[str, Any] = {}
            if "mean" in types:
                answer["mean"] = forecast.mean.tolist()
            if "quantiles" in types:
                answer["quantiles"] = {k: v.tolist() for k, v in forecast.quantiles.items()}
            if "samples" in types:
                answer["samples"] = forecast.samples.tolist()
            predictions.append(answer)
        return {"predictions": predictions}


def _layout_to_json(layout: Layout) -> dict[str, Any]:
    return {
        "time_freq": str(layout.frequency),
        "context_length": layout.context_length,
        "prediction_length": layout.prediction_length,
        "lags": list(layout.lags),
        "cardinality": list(layout.cardinality),
        "num_dynamic_feat": layout.num_dynamic_feat,
        "likelihood": layout.likelihood,
    }


def _save(output_dir: Path, layout: Layout, values: Mapping[str, Any], state: Any) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    network_values = {
        name: values[name]
        for name in ("dropout_rate", "embedding_dimension", "num_cells", "num_layers")
    }
    network_values["num_eval_samples"] = values["num_eval_samples"]
    network_values["test_quantiles"] = list(values["test_quantiles"])
    config = json.dumps({"layout": _layout_to_json(layout), "values": network_values})
    cpu_state = {name: tensor.detach().cpu() for name, tensor in state.items()}
    torch.save({"config": config, "state_dict": cpu_state}, output_dir / MODEL_FILENAME)


def load(path: Path | str, *, device: str = "cpu") -> DeepARModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no DeepAR model at {file}")
    saved = torch.load(file, map_location=device, weights_only=True)
    config = json.loads(saved["config"])
    raw = config["layout"]
    layout = Layout(
        frequency=parse_frequency(raw["time_freq"]),
        context_length=int(raw["context_length"]),
        prediction_length=int(raw["prediction_length"]),
        lags=tuple(raw["lags"]),
        cardinality=tuple(raw["cardinality"]),
        num_dynamic_feat=int(raw["num_dynamic_feat"]),
        likelihood=raw["likelihood"],
    )
    values = dict(config["values"])
    values["test_quantiles"] = tuple(values["test_quantiles"])
    return DeepARModel(layout, values, saved["state_dict"], device)


# -- training -------------------------------------------------------------------------------------


class Trainer:
    """One training run: the network, its optimizer, the prepared series, the best epoch."""

    def __init__(
        self,
        values: Mapping[str, Any],
        layout: Layout,
        train: Sequence[Prepared],
        test: Sequence[Prepared],
        device: torch.device,
    ) -> None:
        self.values, self.layout, self.device = values, layout, device
        horizon = layout.prediction_length
        window = layout.context_length + horizon
        self.train = [p for p in train if len(p.values) > horizon]
        if not self.train:
            msg = (
                f"train channel: every series has {horizon} values or fewer; a training window "
                "needs more than prediction_length"
            )
            raise InputError(msg)
        self.windows = [max(1, math.ceil((len(p.values) - horizon) / window)) for p in self.train]
        self.test = list(test)
        self.rng = np.random.default_rng(SEED)
        torch.manual_seed(SEED)
        self.network = Network(layout, values).to(device)
        self.learning_rate = float(values["learning_rate"])
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=self.learning_rate)
        self.best_loss = math.inf
        self.best_state: dict[str, torch.Tensor] = copy.deepcopy(self.network.state_dict())
        self.best_epoch = 0
        self.best_scores: dict[str, float] | None = None

    def _epoch_items(self) -> list[tuple[Prepared, int]]:
        horizon = self.layout.prediction_length
        items: list[tuple[Prepared, int]] = []
        for prepared, count in zip(self.train, self.windows, strict=True):
            ends = self.rng.integers(1, len(prepared.values) - horizon + 1, size=count)
            items.extend((prepared, int(t0)) for t0 in ends)
        order = self.rng.permutation(len(items))
        return [items[i] for i in order]

    def train_epoch(self) -> float:
        """One pass; the mean loss per observed value, as trained."""
        self.network.train()
        size = int(self.values["mini_batch_size"])
        items = self._epoch_items()
        total = count = 0.0
        for begin in range(0, len(items), size):
            batch = make_batch(items[begin : begin + size], self.layout, self.device)
            loss_sum, observed = self.network.loss(batch)
            if float(observed) == 0:
                continue
            self.optimizer.zero_grad(set_to_none=True)
            (loss_sum / observed).backward()
            with torch.no_grad():
                for parameter in self.network.parameters():
                    if parameter.grad is not None:
                        parameter.grad.clamp_(-CLIP_GRADIENT, CLIP_GRADIENT)
            self.optimizer.step()
            total += float(loss_sum.detach())
            count += float(observed)
        return total / count if count else math.nan

    def end_epoch(self, epoch: int, loss: float) -> bool:
        """Keep the model if ``loss`` is the lowest yet, decay the learning rate on a plateau;
        True if the model improved."""
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            self.best_state = copy.deepcopy(self.network.state_dict())
            self.best_scores = None
            return True
        if (epoch - self.best_epoch) % DECAY_PATIENCE == 0:
            self.learning_rate = max(MIN_LEARNING_RATE, self.learning_rate * DECAY_FACTOR)
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate
        return False

    def checkpointed(self) -> dict[str, Any]:
        """What a checkpoint holds, as :func:`~algorithms.torch_util.save_training_state`
        takes it (the rest of the state goes in its ``extra``: :meth:`extra`)."""
        return {"modules": {"network": self.network}, "optimizers": [self.optimizer]}

    def extra(self) -> dict[str, Any]:
        """The state beside the network's and the optimizer's: the windows' generator, the
        learning rate, the kept model (CUDA's random state on a GPU: zoneout draws there)."""
        return {
            "rng": self.rng.bit_generator.state,
            "learning_rate": self.learning_rate,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "best_state": {name: t.detach().cpu() for name, t in self.best_state.items()},
            "best_scores": self.best_scores,
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None,
        }

    def restore(self, extra: Mapping[str, Any]) -> None:
        """Take back the state :meth:`extra` saved (after ``restore_training_state``)."""
        self.rng.bit_generator.state = extra["rng"]
        self.learning_rate = float(extra["learning_rate"])
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate
        self.best_loss, self.best_epoch = float(extra["best_loss"]), int(extra["best_epoch"])
        self.best_state = {
            name: tensor.to(self.device) for name, tensor in extra["best_state"].items()
        }
        self.best_scores = extra["best_scores"]
        if extra["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(extra["cuda_rng"], self.device)

    def evaluate_best(self) -> dict[str, float]:
        """The test scores of the kept model (computed once per kept model)."""
        if self.best_scores is None:
            evaluated = Network(self.layout, self.values).to(self.device)
            evaluated.load_state_dict(self.best_state)
            horizon = self.layout.prediction_length
            items = [(p, len(p.values) - horizon) for p in self.test]
            paths = forecast_paths(
                evaluated, items, int(self.values["num_eval_samples"]), self.device
            )
            truth = np.stack(
                [
                    np.where(p.observed[-horizon:] > 0, p.values[-horizon:], np.nan)
                    for p in self.test
                ]
            )
            self.best_scores = scores(paths, truth, self.values["test_quantiles"])
        return self.best_scores


def _check_objective(values: Mapping[str, Any], channels: Mapping[str, Path]) -> None:
    objective = values.get("_tuning_objective_metric")
    if objective is None:
        return
    where = "hyperparameter '_tuning_objective_metric'"
    if objective not in METRICS:
        msg = f"{where}: {objective!r} is not a metric of deepar; known: {', '.join(METRICS)}"
        raise HyperparameterError([msg])
    channel = str(objective).partition(":")[0]
    if channel not in channels:
        raise HyperparameterError([f"{where}: {objective} needs a {channel!r} channel"])


def _read(
    values: Mapping[str, Any], channels: Mapping[str, Path]
) -> tuple[list[Series], list[Series]]:
    if "train" not in channels:
        got = ", ".join(repr(name) for name in channels) or "none"
        raise InputError(f"deepar needs a 'train' channel (got {got})")
    unknown = sorted(set(channels) - {"train", "test"})
    if unknown:
        logger.info("deepar reads the train and test channels; ignoring %s", unknown)
    frequency = values["time_freq"]
    train = read_series(channels["train"], "train", frequency)
    test = read_series(channels["test"], "test", frequency) if "test" in channels else []
    horizon = values["prediction_length"]
    for s in test:
        if len(s.target) <= horizon:
            msg = (
                f"{s.where}: a test series needs more than prediction_length ({horizon}) values: "
                "its last prediction_length values are the truth, those before the context"
            )
            raise InputError(msg)
    check_targets([*train, *test], values["likelihood"])
    return train, test


def _layout(values: Mapping[str, Any], train: list[Series], test: list[Series]) -> Layout:
    return Layout(
        frequency=values["time_freq"],
        context_length=values["context_length"],
        prediction_length=values["prediction_length"],
        lags=lags_for(values["time_freq"]),
        cardinality=resolve_cardinality(values["cardinality"], train, test),
        num_dynamic_feat=resolve_dynamic(values["num_dynamic_feat"], train, test),
        likelihood=values["likelihood"],
    )


class DeepARAlgorithm:
    """SageMaker's built-in DeepAR forecasting algorithm."""

    name = "deepar"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on ``train``, score ``test`` every epoch, keep the best epoch, save the model.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or the
                objective needs a missing ``test`` channel.
            InputError: the ``train`` channel is missing, a record is malformed or does not
                fit ``cardinality``/``num_dynamic_feat``/``likelihood`` (named with its channel,
                file and line), or training diverged.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check_objective(values, channels)
        train, test = _read(values, channels)
        layout = _layout(values, train, test)
        device = torch_device(ctx.device)
        cells = values["num_cells"]
        # The network runs one time step at a time: an op's work is one step's.
        configure_threads(values["mini_batch_size"] * cells * (cells + 64) * 8)
        with torch.random.fork_rng(devices=_rng_devices(device)):
            trainer = Trainer(
                values,
                layout,
                [prepare(s, layout) for s in train],
                [prepare(s, layout) for s in test],
                device,
            )
            try:
                self._epochs(trainer, values, ctx)
            finally:
                _save(ctx.output_dir, layout, values, trainer.best_state)
        logger.info(
            "deepar: final loss %.6g (occurred at epoch %d)", trainer.best_loss, trainer.best_epoch
        )

    def _epochs(self, trainer: Trainer, values: Mapping[str, Any], ctx: TrainingContext) -> None:
        patience = values["early_stopping_patience"]
        start = 1
        resumed = restore_training_state(ctx, "deepar", **trainer.checkpointed())
        if resumed is not None:
            start = resumed[0] + 1
            trainer.restore(resumed[1])
            if resumed[1]["stopped"]:
                return  # early stopping had ended it: the checkpoint holds the final model
        for epoch in range(start, values["epochs"] + 1):
            if ctx.should_stop():
                break
            loss = trainer.train_epoch()
            if not math.isfinite(loss):
                msg = (
                    f"deepar diverged at epoch {epoch}: train:loss is {loss}; lower learning_rate"
                )
                raise InputError(msg)
            trainer.end_epoch(epoch, loss)
            metrics = {"train:loss": loss, "train:final_loss": trainer.best_loss}
            if trainer.test:
                metrics.update(trainer.evaluate_best())
            ctx.report(epoch, **metrics)
            stopped = patience is not None and epoch - trainer.best_epoch >= patience
            if wants_epoch_checkpoints(ctx):
                extra = {**trainer.extra(), "stopped": stopped}
                save_training_state(ctx, "deepar", epoch, **trainer.checkpointed(), extra=extra)
            if stopped:
                logger.info("deepar: no lower train:loss in %d epochs; stopping", patience)
                break

    def load(self, path: Path | str) -> DeepARModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = DeepARAlgorithm()
