"""Benchmark runner: ``python tests/benchmarks/run.py NAME [--trials N] [--out DIR]``.

Each benchmark is a module ``bench_NAME.py`` beside this file with
``run(args) -> (rich.table.Table, dict)``; the runner prints the table and writes the dict as
JSON to ``OUT/NAME.json`` (default ``benchmark-results/``). Benchmarks are not collected by
pytest: speed and quality targets live here, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

from rich.console import Console

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem[len("bench_") :] for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", choices=available())
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    parser.add_argument(
        "--slots", type=int, default=None, help="trials at once (where it is a choice: wide)"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts of the benchmark to run (where it has parts: algorithms)",
    )
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location(
        f"bench_{args.name}", HERE / f"bench_{args.name}.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    # Registered before it runs: dataclasses and worker processes look modules up by name.
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    started = time.time()
    table, data = module.run(args)
    data["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    data["seconds"] = round(time.time() - started, 1)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped to a file: do not fold the table at 80 columns
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.name}.json"
    path.write_text(json.dumps(data, indent=2))
    print(f"wrote {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
