"""A training callable works wherever users write one, and the user's main module never re-runs.

Each case runs a real Python process that tunes a function defined in a plain script with no
``if __name__ == "__main__"`` guard, in ``python -c``, or in a module of the user's own. The
script appends a line to a file every time its top level runs: it must run exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BODY = """
from pathlib import Path
from tuner import HyperparameterTuner, ContinuousParameter, IntegerParameter
Path("runs.txt").open("a").write("top level ran\\n")
{definition}
tuner = HyperparameterTuner(
    train, "loss", {{"x": ContinuousParameter(-2.0, 2.0), "k": IntegerParameter(1, 3)}},
    objective_type="Minimize", max_jobs=4, max_parallel_jobs=2, random_seed=0,
    storage="sqlite:///calls.db", output_path="out",
)
tuner.fit(job_name="calls")
Path("result.json").write_text(json.dumps(tuner.describe()["TrainingJobStatusCounters"]))
"""

PLAIN = """
import json
OFFSET = 0.25
def helper(x):
    return x * x + OFFSET
def train(hp, ctx):
    for epoch in range(1, 3):
        ctx.report(epoch, loss=helper(hp["x"]) * hp["k"])
"""

MODULE = """
OFFSET = 0.25
def train(hp, ctx):
    for epoch in range(1, 3):
        ctx.report(epoch, loss=(hp["x"] ** 2 + OFFSET) * hp["k"])
"""


def _check(tmp_path: Path, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    counters = json.loads((tmp_path / "result.json").read_text())
    assert counters["Completed"] == 4
    assert (tmp_path / "runs.txt").read_text().count("top level ran") == 1


def test_plain_script_without_main_guard(tmp_path: Path) -> None:
    script = tmp_path / "tune_me.py"
    script.write_text(textwrap.dedent(BODY.format(definition=PLAIN)))
    _check(
        tmp_path,
        subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        ),
    )


def test_python_dash_c(tmp_path: Path) -> None:
    code = textwrap.dedent(BODY.format(definition=PLAIN))
    _check(
        tmp_path,
        subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
        ),
    )


@pytest.mark.parametrize("where", ["beside", "package_dir"])
def test_function_from_a_user_module(tmp_path: Path, where: str) -> None:
    folder = tmp_path if where == "beside" else tmp_path / "mylib"
    folder.mkdir(exist_ok=True)
    (folder / "my_training.py").write_text(MODULE)
    prefix = "import json\n" + (
        "" if where == "beside" else "import sys; sys.path.insert(0, 'mylib')\n"
    )
    script = tmp_path / "run.py"
    script.write_text(
        prefix + textwrap.dedent(BODY.format(definition="from my_training import train"))
    )
    _check(
        tmp_path,
        subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        ),
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("True", True),
        ("false", False),
        ("3", 3),
        ("-7", -7),
        ("0.25", 0.25),
        ("1e-3", 1e-3),
        ("nan", "nan"),
        ("inf", "inf"),
        ("adam", "adam"),
        ("", ""),
        (5, 5),
    ],
)
def test_static_values_reach_callables_as_literals(raw, expected) -> None:
    from tuner.callables import parse_literal

    assert parse_literal(raw) == expected
    assert type(parse_literal(raw)) is type(expected)


def test_tuned_values_are_typed_by_their_range() -> None:
    from strategies import CategoricalParameter, ContinuousParameter, IntegerParameter, SearchSpace
    from tuner.callables import callable_hyperparameters

    space = SearchSpace(
        {
            "lr": ContinuousParameter(1e-4, 1.0),
            "depth": IntegerParameter(1, 8),
            "opt": CategoricalParameter(["adam", "2"]),
        }
    )
    typed = callable_hyperparameters(space, {"lr": "0.01", "depth": "3", "opt": "2", "n": "10"})
    assert typed == {"lr": 0.01, "depth": 3, "opt": 2, "n": 10}
    assert type(typed["depth"]) is int and type(typed["lr"]) is float
