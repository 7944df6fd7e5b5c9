"""RecordIO-protobuf channels: the protobuf package's codec against the hand-written one it
replaced, and against reading the same data as CSV / libsvm, all in the same run.

The hand-written codec (a pure-Python protobuf wire-format reader and writer with numpy) is
loaded from the git history (commit ``HAND_CODEC_COMMIT``) so that both are measured on the
same machine in the same process; without git it is left out, saying so. Each figure is the
median of ``--repeats`` runs. Channels: dense 50 columns and sparse 1,000 columns at 2% density,
with labels, ``--trials`` thousand rows (default 50,000).

Goal (issue 12): keep the hand-written codec only if it is clearly faster on a large channel.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from rich.table import Table

from algorithms.data import load_channel, write_csv, write_libsvm
from algorithms.recordio import read_recordio_protobuf, write_recordio_protobuf

HAND_CODEC_COMMIT = "c544cd95f4190d898318879065663269e2b55566"
ROOT = Path(__file__).resolve().parents[2]


def _hand_codec() -> types.ModuleType | None:
    try:
        source = subprocess.run(
            ["git", "show", f"{HAND_CODEC_COMMIT}:algorithms/recordio.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("hand_recordio", loader=None)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["hand_recordio"] = module  # dataclasses look their module up
    exec(compile(source, "hand_recordio.py", "exec"), module.__dict__)  # noqa: S102
    return module


def _median_s(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _channels(n: int) -> dict[str, tuple[Any, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "dense 50": (rng.normal(size=(n, 50)), rng.integers(0, 2, n).astype(float)),
        "sparse 1000 (2%)": (
            scipy.sparse.random(n, 1000, density=0.02, random_state=0, format="csr"),
            rng.integers(0, 2, n).astype(float),
        ),
    }


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    n = args.trials * 250 if args.trials != 200 else 50_000  # --trials N: N*250 rows
    hand = _hand_codec()
    table = Table("channel", "format / codec", "write s", "read s", "file MB")
    results: dict[str, Any] = {"rows": n, "hand_codec_commit": HAND_CODEC_COMMIT, "results": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (X, y) in _channels(n).items():
            codecs = [
                ("recordio-protobuf, protobuf", write_recordio_protobuf, read_recordio_protobuf)
            ]
            if hand is not None:
                codecs.append(
                    (
                        "recordio-protobuf, hand-written",
                        hand.write_recordio_protobuf,
                        hand.read_recordio_protobuf,
                    )
                )
            text_writer = write_libsvm if scipy.sparse.issparse(X) else write_csv
            codecs.append(
                (
                    "libsvm" if scipy.sparse.issparse(X) else "csv",
                    text_writer,
                    load_channel,
                )
            )
            for label, write, read in codecs:
                path = Path(tmp) / f"{name.split()[0]}-{label.split(',')[-1].strip()}.data"
                write_s = _median_s(functools.partial(write, path, X, y), args.repeats)
                read_s = _median_s(functools.partial(read, path), args.repeats)
                size = path.stat().st_size / 1e6
                table.add_row(name, label, f"{write_s:.2f}", f"{read_s:.2f}", f"{size:.1f}")
                results["results"].append(
                    {
                        "channel": name,
                        "codec": label,
                        "write_s": write_s,
                        "read_s": read_s,
                        "mb": size,
                    }
                )
    if hand is None:
        table.caption = f"the hand-written codec was not found (git show {HAND_CODEC_COMMIT})"
    print(f"{n} rows, median of {args.repeats}", file=sys.stderr)  # noqa: T201
    return table, results
