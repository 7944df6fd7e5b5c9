"""DeepAR's data: JSON Lines time series, frequencies, lags and time features, as SageMaker has.

**Records.** Each line of a channel's files is one JSON object (SageMaker's "DeepAR input/output
interface"): ``start``, a timestamp (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``); ``target``, an
array of numbers in which a missing value is ``"NaN"`` (or ``null``); optionally ``cat``, an
array of non-negative integers (one group per categorical feature; a lone integer is taken as
an array of one), and ``dynamic_feat``, an array of arrays of numbers, each as long as
``target`` and without missing values. A channel is one file or a folder of them (hidden files
skipped, sub-folders read, names sorted); a file may be gzipped (told by its first bytes, so
``.json.gz`` and unnamed ones alike). Blank lines are skipped. Anything else is an
:class:`~algorithms.base.InputError` naming the channel, the file and the line.

**Frequencies.** ``time_freq`` is SageMaker's: an optional multiple and ``M``, ``W``, ``D``,
``H`` or ``min`` (``5min``, ``2H``). A series' ``start`` is taken as the period holding it
(``2024-01-15 13:47`` starts an hourly series at 13:00), as GluonTS, on which SageMaker's
DeepAR is built, does.

**Lags** (:func:`lags_for`): SageMaker documents them only by example ("for daily frequency
... previous week, 2 weeks, 3 weeks, 4 weeks, and year"); we take GluonTS's rule, which gives
exactly those: lags 1 to 7 always, then each seasonal cycle of the finer units up from the
frequency (the hours, days, weeks, months and years it holds) with its neighbours, at most
:data:`MAX_LAG` steps back.

**Time features** (:func:`time_features`), GluonTS's per frequency, each scaled to
``[-0.5, 0.5]``: monthly: month of year; weekly: day of month, week of year; daily: day of
week, day of month, day of year; hourly: hour of day and the daily ones; minutely: minute of
hour and the hourly ones. The model adds the series' age, ``log10(2 + t)``.

:func:`seasonal_series` generates related seasonal series with a trend (seeded), for the tests,
the examples and the benchmark.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from algorithms.base import InputError

#: The farthest lag, in steps (GluonTS's ``lag_ub``).
MAX_LAG = 1200
UNITS = ("M", "W", "D", "H", "min")
_FREQUENCY = re.compile(r"^\s*(\d*)\s*(M|W|D|H|min)\s*$")
_PANDAS_UNIT = {"M": "M", "W": "W", "D": "D", "H": "h", "min": "min"}
_MINUTES = {"min": 1, "H": 60, "D": 1440, "W": 10080}
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Frequency:
    """A parsed ``time_freq``: ``multiple`` steps of ``unit`` (one of :data:`UNITS`)."""

    multiple: int
    unit: str

    def __str__(self) -> str:
        return f"{self.multiple if self.multiple != 1 else ''}{self.unit}"

    @property
    def pandas(self) -> str:
        """The frequency as a pandas Period alias (``h`` for hours)."""
        return f"{self.multiple}{_PANDAS_UNIT[self.unit]}"

    def period(self, start: Any) -> pd.Period:
        """The period holding timestamp ``start``."""
        return pd.Period(pd.Timestamp(start), freq=self.pandas)

    def index(self, start: pd.Period, length: int) -> pd.DatetimeIndex:
        """The start times of ``length`` steps from ``start``."""
        return pd.period_range(start, periods=length, freq=self.pandas).start_time


def parse_frequency(text: str) -> Frequency:
    """``time_freq`` as a :class:`Frequency`; ValueError unless it is ``[n](M|W|D|H|min)``."""
    match = _FREQUENCY.match(str(text))
    if match is None or (match.group(1) and int(match.group(1)) == 0):
        msg = f"{text!r} is not a frequency: an optional positive multiple and M, W, D, H or min"
        raise ValueError(msg)
    return Frequency(int(match.group(1) or 1), match.group(2))


def _around(middle: float, delta: int) -> list[int]:
    centre = int(middle)
    return [centre + i for i in range(-delta, delta + 1)]


def lags_for(frequency: Frequency, upper: int = MAX_LAG) -> tuple[int, ...]:
    """The lags (steps back) fed to the network: 1..7 and the frequency's seasonal cycles."""
    n, unit = frequency.multiple, frequency.unit
    groups: list[list[int]] = []
    if unit == "M":
        groups += [_around(k * 12 / n, 1) for k in range(1, 4)]
    else:
        minutes = _MINUTES[unit] * n
        hour, day, week = 60 / minutes, 1440 / minutes, 10080 / minutes
        if unit == "min":
            groups += [_around(k * hour, 2) for k in range(1, 4)]
        if unit in ("min", "H"):
            groups += [_around(k * day, 1) for k in range(1, 8)]
        if unit in ("min", "H", "D"):
            groups += [_around(k * week, 1) for k in range(1, 5)] + [_around(30 * day, 1)]
        groups += [_around(k * 52 * week, 1) for k in range(1, 4)]
        groups += [[int(4 * week), int(8 * week), int(12 * week)]]
    seasonal = sorted({lag for group in groups for lag in group if 7 < lag <= upper})
    return (1, 2, 3, 4, 5, 6, 7, *seasonal)


def _scaled(values: Any, low: float, high: float) -> np.ndarray:
    """``values`` in ``[low, high]`` mapped onto ``[-0.5, 0.5]``."""
    return (np.asarray(values, dtype=np.float64) - low) / (high - low) - 0.5


def time_features(frequency: Frequency, times: pd.DatetimeIndex) -> np.ndarray:
    """GluonTS's time features of ``times`` for ``frequency``: ``(len(times), n)``, in
    ``[-0.5, 0.5]``."""
    unit = frequency.unit
    columns: list[np.ndarray] = []
    if unit == "M":
        columns.append(_scaled(times.month, 1, 12))
    elif unit == "W":
        columns.append(_scaled(times.day, 1, 31))
        columns.append(_scaled(times.isocalendar().week.to_numpy(), 1, 53))
    else:
        if unit == "min":
            columns.append(_scaled(times.minute, 0, 59))
        if unit in ("min", "H"):
            columns.append(_scaled(times.hour, 0, 23))
        columns.append(_scaled(times.day_of_week, 0, 6))
        columns.append(_scaled(times.day, 1, 31))
        columns.append(_scaled(times.day_of_year, 1, 366))
    return np.stack(columns, axis=1)


def n_time_features(frequency: Frequency) -> int:
    """How many columns :func:`time_features` gives for ``frequency``."""
    return {"M": 1, "W": 2, "D": 3, "H": 4, "min": 5}[frequency.unit]


# -- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One time series as read: ``target`` has NaN where a value is missing; ``dynamic_feat``
    is ``(features, len(target))`` or None; ``where`` names its channel, file and line."""

    start: pd.Period
    target: np.ndarray
    cat: tuple[int, ...] | None
    dynamic_feat: np.ndarray | None
    where: str


def _numbers(values: Any, where: str, field: str, *, missing_ok: bool) -> np.ndarray:
    """A JSON array of numbers as float64, ``"NaN"``/``null`` as NaN where ``missing_ok``."""
    if not isinstance(values, list) or not values:
        raise InputError(f"{where}: {field!r} must be a non-empty array of numbers")
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        if isinstance(value, bool):
            value = "bool"
        if value is None or (isinstance(value, str) and value.strip().lower() == "nan"):
            if not missing_ok:
                raise InputError(f"{where}: {field!r} has a missing value at index {i}")
            out[i] = math.nan
            continue
        if not isinstance(value, (int, float)) or math.isinf(value):
            msg = f'{where}: {field!r}[{i}] is {value!r}, not a number (or "NaN")'
            raise InputError(msg)
        if math.isnan(value) and not missing_ok:
            raise InputError(f"{where}: {field!r} has a missing value at index {i}")
        out[i] = value
    return out


def _categories(value: Any, where: str) -> tuple[int, ...]:
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        msg = f"{where}: 'cat' must be an array of non-negative integers, got {value!r}"
        raise InputError(msg)
    return tuple(values)


def _dynamic(value: Any, where: str, length: int) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: 'dynamic_feat' must be a non-empty array of arrays")
    rows = []
    for i, row in enumerate(value):
        values = _numbers(row, where, f"dynamic_feat[{i}]", missing_ok=False)
        if len(values) != length:
            msg = (
                f"{where}: dynamic_feat[{i}] has {len(values)} values but 'target' has "
                f"{length}; each dynamic feature needs one value per target value"
            )
            raise InputError(msg)
        rows.append(values)
    return np.stack(rows)


def parse_record(record: Any, where: str, frequency: Frequency, *, extra_steps: int = 0) -> Series:
    """One JSON record as a :class:`Series`; ``extra_steps``: how much longer than ``target``
    each dynamic feature must be (a forecast's ``prediction_length``, else 0)."""
    if not isinstance(record, Mapping):
        raise InputError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    if "start" not in record:
        raise InputError(f"{where}: the record has no 'start' timestamp")
    if "target" not in record:
        raise InputError(f"{where}: the record has no 'target'")
    try:
        start = frequency.period(record["start"])
    except (TypeError, ValueError, OverflowError):
        msg = (
            f"{where}: 'start' is {record['start']!r}, not a timestamp such as "
            "'2024-01-31 00:00:00'"
        )
        raise InputError(msg) from None
    if start is pd.NaT or not isinstance(record["start"], str):
        raise InputError(f"{where}: 'start' is {record['start']!r}, not a timestamp string")
    target = _numbers(record["target"], where, "target", missing_ok=True)
    cat = _categories(record["cat"], where) if record.get("cat") is not None else None
    dynamic = (
        _dynamic(record["dynamic_feat"], where, len(target) + extra_steps)
        if record.get("dynamic_feat") is not None
        else None
    )
    return Series(start, target, cat, dynamic, where)


def channel_files(path: Path, name: str) -> list[Path]:
    """The files of channel ``name``: the file itself, or every non-hidden file under the
    folder, sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{name} channel: {path} does not exist")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise InputError(f"{name} channel: the folder {path} holds no files")
    return files


def _lines(file: Path) -> Iterator[tuple[int, str]]:
    with file.open("rb") as handle:
        gzipped = handle.read(2) == _GZIP_MAGIC
    with gzip.open(file, "rb") if gzipped else file.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{file.name} line {number} is not UTF-8") from None


def read_series(path: Path, name: str, frequency: Frequency) -> list[Series]:
    """Every series in channel ``name`` (at ``path``), checked record by record.

    Raises:
        InputError: a file or line that is not a valid record, named with the channel, the
            file and the line; or a channel holding no series.
    """
    series = []
    for file in channel_files(path, name):
        try:
            for number, line in _lines(file):
                if not line.strip():
                    continue
                where = f"{name} channel, {file.name} line {number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    msg = f"{where}: not JSON ({exc.msg}); one JSON object per line"
                    raise InputError(msg) from None
                series.append(parse_record(record, where, frequency))
        except (OSError, EOFError) as exc:
            raise InputError(f"{name} channel: cannot read {file.name} ({exc})") from None
        except InputError as exc:
            if not str(exc).startswith(f"{name} channel"):
                raise InputError(f"{name} channel, {exc}") from None
            raise
    if not series:
        raise InputError(f"{name} channel: it holds no time series")
    return series


# -- generated series -----------------------------------------------------------------------------


def seasonal_series(
    n_series: int,
    length: int,
    *,
    period: int = 24,
    start: str = "2024-01-01 00:00:00",
    noise: float = 0.3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Related series: a level, a trend and a shared seasonal shape of ``period`` steps whose
    amplitude differs by group (``cat``), plus Gaussian noise; as JSON Lines records."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    shape = np.sin(2 * np.pi * t / period) + 0.5 * np.sin(4 * np.pi * t / period + 1.0)
    records = []
    for i in range(n_series):
        group = i % 3
        level = rng.uniform(5.0, 15.0)
        trend = rng.uniform(0.01, 0.04) * level / 10
        amplitude = (1.0 + group) * level / 8
        values = level + trend * t + amplitude * shape + noise * rng.standard_normal(length)
        records.append(
            {
                "start": start,
                "target": [round(float(v), 4) for v in values],
                "cat": [group],
            }
        )
    return records


def split_for_test(
    records: Sequence[Mapping[str, Any]], prediction_length: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, test) as SageMaker advises: train without the last ``prediction_length`` points
    (of ``target`` and of each dynamic feature), test the whole series (evaluated on those last
    points)."""
    train = []
    for record in records:
        cut = {**record, "target": list(record["target"])[:-prediction_length]}
        if record.get("dynamic_feat") is not None:
            cut["dynamic_feat"] = [list(f)[:-prediction_length] for f in record["dynamic_feat"]]
        train.append(cut)
    return train, [dict(record) for record in records]


def write_json_lines(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    """``records`` as a JSON Lines file (folders created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path
