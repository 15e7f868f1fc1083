"""Validation of what the analysis reads and where it writes: each check says what is wrong and names the
file or the flag, so a broken run is skipped with a reason and a bad argument fails before anything is written."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

from workbench import metrics as M

# A summary.json may carry the known Pareto front of its task instance: a list of points, each one
# value per eval axis in ``eval_axes`` order (analysis.indicators scores runs against it).
KNOWN_FRONT = "known_front"


def read_json(path: Path) -> tuple[dict | None, str | None]:
    """(object, None), or (None, why it cannot be read, naming the file)."""
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None, f"no {path.name}"
    except UnicodeDecodeError:
        return None, f"{path.name} is not UTF-8 text (binary?)"
    except json.JSONDecodeError as err:
        return None, f"{path.name} is not valid JSON (truncated?): {err.msg} at line {err.lineno}"
    except OSError as err:
        return None, f"{path.name} cannot be read: {err.strerror or err}"
    if not isinstance(obj, dict):
        return None, f"{path.name} holds a JSON {type(obj).__name__}, not an object"
    return obj, None


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v) -> bool:
    return is_number(v) and float(v).is_integer()


def is_names(v) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v)


# summary.json's typed keys: (check, what it should be). eval/* values are checked separately.
_SUMMARY_TYPES = {
    "method": (lambda v: isinstance(v, str), "a string"), "task": (lambda v: isinstance(v, str), "a string"),
    "model": (lambda v: isinstance(v, str), "a string"), "seed": (is_int, "an integer"),
    "G": (is_int, "an integer"), "K": (is_int, "an integer"), "step": (lambda v: v is None or is_int(v), "an integer"),
    "objectives": (is_names, "a list of names"), "eval_axes": (is_names, "a list of names"),
    "weights": (lambda v: v is None or (isinstance(v, list) and all(map(is_number, v))), "null or a list of numbers"),
}


def type_problem(summary: dict) -> str | None:
    """Why ``summary`` (a summary.json object) has a value of the wrong type, or None."""
    for key, (ok, expected) in _SUMMARY_TYPES.items():
        if key in summary and not ok(summary[key]):
            return f"summary.json: {key} is {summary[key]!r:.40} ({type(summary[key]).__name__}), expected {expected}"
    if isinstance(summary.get("weights"), list) and len(summary["weights"]) != len(summary["objectives"]):
        return f"summary.json: {len(summary['weights'])} weights for {len(summary['objectives'])} objectives"
    for key, value in summary.items():
        if key.startswith(M.EVAL + "/") and not (value is None or is_number(value)):
            return f"summary.json: {key} is {value!r:.40} ({type(value).__name__}), expected a number or null"
    return None


def range_problem(summary: dict) -> str | None:
    """Why a well-typed ``summary`` holds a value no run can have (the analysis would misread it), or None."""
    for key, value in summary.items():
        if key.startswith(M.EVAL + "/") and is_number(value) and not math.isfinite(value):
            return f"summary.json: {key} is {value} (not finite)"
    if is_number(summary.get("G")) and summary["G"] < 2:
        return f"summary.json: G is {summary['G']} (a group has at least 2 completions)"
    if is_number(summary.get("seed")) and summary["seed"] < 0:
        return f"summary.json: seed is {summary['seed']} (seeds are >= 0)"
    weights = summary.get("weights")
    if isinstance(weights, list) and weights and (any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0):
        return f"summary.json: weights {weights} (each must be finite and >= 0, not all 0)"
    return None


def known_front_of(summary: dict, where: Path) -> tuple | None:
    """summary.json's known front as a tuple of points (one value per eval axis), or None; a malformed
    one is ignored with a warning (the run itself is still usable)."""
    front = summary.get(KNOWN_FRONT)
    if front is None:
        return None
    dims = len(summary["eval_axes"])
    if (isinstance(front, list) and front and all(isinstance(p, list) and len(p) == dims and all(map(is_number, p))
                                                  for p in front)):
        return tuple(tuple(float(v) for v in p) for p in front)
    warnings.warn(f"{where}: ignoring {KNOWN_FRONT}: expected a list of points with {dims} numbers each "
                  f"(one per eval axis)", stacklevel=4)
    return None


def check_out_dir(out) -> None:
    """Raise a ValueError (workbench.outputs.FolderRefused) when the analysis may not write into ``out``: empty,
    a file or under one, a run directory or inside one, or a non-empty folder it did not create (no
    ``.workbench-report``). Called before anything is loaded; the folder is created and marked by
    ``workbench.outputs.claim_report_dir`` when the report is written."""
    from workbench.outputs import check_report_dir

    check_report_dir(out)
