"""JSON result files that are valid JSON: an undefined number (NaN, inf) is written as null, with a warning.

Python's `json` writes NaN as a bare `NaN`, which strict JSON readers (jq, JavaScript, many others) reject.
A metric is undefined when its clips are missing, e.g. U without unseen-class test clips; null says so.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

from avgzsl.formats.atomic import atomic_output

log = logging.getLogger("avgzsl")


def undefined_to_null(value, where: str = "") -> tuple[object, list[str]]:
    """A copy of `value` with every non-finite float replaced by None, and the '/'-joined keys replaced."""
    if isinstance(value, dict):
        out, replaced = {}, []
        for k, v in value.items():
            out[k], sub = undefined_to_null(v, f"{where}/{k}" if where else str(k))
            replaced += sub
        return out, replaced
    if isinstance(value, (list, tuple)):
        out, replaced = [], []
        for i, v in enumerate(value):
            item, sub = undefined_to_null(v, f"{where}/{i}")
            out.append(item)
            replaced += sub
        return out, replaced
    if isinstance(value, float) and not math.isfinite(value):
        return None, [where]
    return value, []


def json_text(value) -> str:
    """Indented, key-sorted strict JSON text of `value`, undefined numbers as null."""
    clean, _ = undefined_to_null(value)
    return json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, value) -> list[str]:
    """Write `json_text(value)` atomically; returns (and logs) the keys written as null."""
    _, replaced = undefined_to_null(value)
    if replaced:
        shown = ", ".join(replaced[:6]) + (f" and {len(replaced) - 6} more" if len(replaced) > 6 else "")
        name = "/".join(Path(path).parts[-2:])  # the run may be staged under a temporary folder name
        log.warning("%s: %d undefined value(s) written as null: %s", name, len(replaced), shown)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json_text(value))
    return replaced
