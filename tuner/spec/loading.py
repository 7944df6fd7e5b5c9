"""Reading spec files: the JSON or YAML body of a CreateHyperParameterTuningJob request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tuner.errors import InvalidSpecError
from tuner.spec.model import TuningJobSpec
from tuner.spec.validation import spec_from_request


def load_request_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML request file; raises InvalidSpecError naming the file on bad syntax."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        msg = f"{p}: cannot read the spec file ({exc.strerror or exc})"
        raise InvalidSpecError([msg]) from None
    is_json = p.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        msg = f"{p}: not valid {'JSON' if is_json else 'YAML'}: {exc}"
        raise InvalidSpecError([msg]) from None
    if not isinstance(data, dict):
        msg = f"{p}: the spec must be an object with the fields of CreateHyperParameterTuningJob"
        raise InvalidSpecError([msg])
    return data


def load_spec(path: str | Path) -> TuningJobSpec:
    """Load and validate a spec file; relative data paths resolve against the file's folder."""
    p = Path(path)
    return spec_from_request(load_request_file(p), base_dir=p.resolve().parent)
