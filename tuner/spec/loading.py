"""Reading spec files: the JSON or YAML body of a CreateHyperParameterTuningJob request.

A spec file is refused, with one problem naming the file, when it cannot be read, is larger than
:data:`MAX_SPEC_BYTES` (far above any valid request: AMT's limits on counts and lengths keep one
under a few MB), is not UTF-8 text, is not valid JSON (``.json``) or YAML (any other name),
nests deeper than Python can parse, or is not an object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tuner.errors import InvalidSpecError
from tuner.spec.model import TuningJobSpec
from tuner.spec.validation import spec_from_request

#: The largest spec file read.
MAX_SPEC_BYTES = 16 * 1024 * 1024
#: libyaml's loader when PyYAML was built with it (tens of times faster on a large file).
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_request_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML request file; raises InvalidSpecError naming the file on bad syntax."""
    p = Path(path)
    text = _read_text(p)
    is_json = p.suffix.lower() == ".json"
    kind = "JSON" if is_json else "YAML"
    try:
        data = json.loads(text) if is_json else yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        msg = f"{p}: not valid {kind}: {exc}"
        raise InvalidSpecError([msg]) from None
    except RecursionError:
        msg = f"{p}: not a spec: its {kind} nests too deeply to be read"
        raise InvalidSpecError([msg]) from None
    if not isinstance(data, dict):
        msg = f"{p}: the spec must be an object with the fields of CreateHyperParameterTuningJob"
        raise InvalidSpecError([msg])
    return data


def _read_text(p: Path) -> str:
    """The file's text: at most MAX_SPEC_BYTES of UTF-8."""
    try:
        with p.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        msg = f"{p}: cannot read the spec file ({exc.strerror or exc})"
        raise InvalidSpecError([msg]) from None
    if len(raw) > MAX_SPEC_BYTES:
        msg = (
            f"{p}: the spec file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB; a "
            "CreateHyperParameterTuningJob request is far smaller"
        )
        raise InvalidSpecError([msg])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = (
            f"{p}: not a spec: a JSON or YAML file is UTF-8 text, but byte {exc.start} is "
            f"0x{raw[exc.start]:02x}"
        )
        raise InvalidSpecError([msg]) from None


def load_spec(path: str | Path) -> TuningJobSpec:
    """Load and validate a spec file; relative data paths resolve against the file's folder."""
    p = Path(path)
    return spec_from_request(load_request_file(p), base_dir=p.resolve().parent)
