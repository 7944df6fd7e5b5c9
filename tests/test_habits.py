"""The habits that keep the code in shape, checked by the test suite (and so by CI).

ruff with the project's configuration, the import layering of DESIGN.md (import-linter's
contracts in pyproject.toml: strategies and algorithms never import tuner, nor each other; the
storage, the spec, the pools and the reports never drive the coordinator), mypy --strict on
the three packages, and no function longer than :data:`MAX_FUNCTION_LINES`. The tools come with
the ``test`` extra; a missing one is a failure, not a skip.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tuner", "strategies", "algorithms")
#: The longest a function of the packages may be, decorators and docstring included.
MAX_FUNCTION_LINES = 120


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(command[0], path=str(Path(sys.executable).parent)) or shutil.which(
        command[0]
    )
    assert executable is not None, f"{command[0]} is not installed: pip install -e '.[test]'"
    return subprocess.run(
        [executable, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packages_are_formatted() -> None:
    result = _run("ruff", "format", "--check", "--no-cache", *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_follow_the_layers() -> None:
    result = _run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.slow
def test_mypy_strict_passes() -> None:
    result = _run("mypy", *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_function_is_longer_than_the_limit() -> None:
    too_long = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    length = (node.end_lineno or node.lineno) - start + 1
                    if length > MAX_FUNCTION_LINES:
                        too_long.append(
                            f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {length}"
                        )
    assert not too_long, too_long
