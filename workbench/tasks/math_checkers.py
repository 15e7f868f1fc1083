"""Answer checkers for the math accuracy reward (``task.checker``): is a completion's answer the
ground truth? One registry, three rules (docs/benchmarks-data.md compares them on a corpus):

workbench    (default) math_rewards.py: the last ``\\boxed{}``, else the last ``Answer:`` line; LaTeX
             noise, fractions, ``\\text{}``, thousands commas, spaces and case normalised; equal as exact
             numbers (1/2 = 0.5) or else as strings.
dapo         DAPO's own rule (verl's ``math_dapo`` reward, the DVAO paper's math setup): only the last 300
             characters, the last ``Answer:`` line (case-insensitive, no ``\\boxed`` fallback), Minerva's
             normalisation of both sides (text after the last ``=``, unit words and TeX noise dropped,
             ``$..$``/``\\text``/``\\boxed`` unwrapped, ``\\fracab`` shorthand), then string equality.
math_verify  the workbench's answer extraction, then Hugging Face's math-verify: both sides parsed
             (LaTeX or plain) to SymPy and compared symbolically (fractions = decimals, intervals, sets,
             ``x = 5`` = ``5``, units ignored). math-verify's own extraction is not used: it misses
             ``Answer:582`` (no space) and reads ``12 08 05 Answer:582`` as 5.

math-verify bounds each parse and comparison with ``signal.alarm`` (``TIMEOUT_S``), which only works in
a process's main thread: elsewhere it raises. TRL calls reward functions from the training loop's main
thread (one process per rank under torchrun), so the alarm applies there; from any other thread the
check runs in a one-process worker pool (its own main thread, same timeouts), killed and restarted if it
ever outlives ``WORKER_TIMEOUT_S``. A check that times out or fails scores False; none raises.
"""
from __future__ import annotations

import atexit
import importlib.util
import re
import threading
from typing import Callable

from workbench.tasks import math_rewards as mr

TIMEOUT_S = 3          # math-verify's own per-parse and per-comparison limit (seconds)
WORKER_TIMEOUT_S = 60  # off the main thread: worker start-up (imports SymPy) + 2 parses + 1 comparison
INSTALL = 'pip install "math-verify[antlr4_9_3]>=0.9,<0.10"'

# ---- dapo: Minerva's normalisation as DAPO applies it ----------------------------------------------
_DAPO_TAIL = 300
_DAPO_ANSWER = re.compile(r"(?i)Answer\s*:\s*([^\n]+)")
_DAPO_REPLACE = [("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), ("\\ ", ""), (" ", ""), ("mbox", "text"),
                 (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}")]
_DAPO_DROP = ["square", "ways", "integers", "dollars", "mph", "inches", "hours", "km", "units", "\\ldots", "sue",
              "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters", "meals",
              "edges", "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}",
              "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}", "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;",
              ",\\!", "{,}", '"', "\\dots"]
_DAPO_REWRITE = [  # in order: keep the first $...$, unwrap \text \textbf \overline (lazy) and \boxed (greedy)
    (re.compile(r"(.*?)(\$)(.*?)(\$)(.*)"), "$\\3$"), (re.compile(r"(\\text\{)(.*?)(\})"), "\\2"),
    (re.compile(r"(\\textbf\{)(.*?)(\})"), "\\2"), (re.compile(r"(\\overline\{)(.*?)(\})"), "\\2"),
    (re.compile(r"(\\boxed\{)(.*)(\})"), "\\2"), (re.compile(r"(frac)([^{])(.)"), "frac{\\2}{\\3}"),
    (re.compile(r"(sqrt)([^{])"), "sqrt{\\2}")]


def dapo_normalise(answer: str) -> str:
    """Minerva's final-answer normalisation (Lewkowycz et al. 2022), as DAPO's reward applies it."""
    s = answer.split("=")[-1]
    for old, new in _DAPO_REPLACE:
        s = s.replace(old, new)
    for noise in _DAPO_DROP:
        s = s.replace(noise, "")
    for pattern, repl in _DAPO_REWRITE:
        s = pattern.sub(repl, s)
    s = s.replace("$", "")
    if s.replace(",", "").isdigit():
        s = s.replace(",", "")
    return s.strip()


def dapo_correct(text: str, truth: str) -> bool:
    found = _DAPO_ANSWER.findall(text[-_DAPO_TAIL:])
    return dapo_normalise(found[-1] if found else "[INVALID]") == dapo_normalise(truth)


# ---- math_verify ------------------------------------------------------------------------------------
def _math_verify_equal(answer: str, truth: str) -> bool:
    """math-verify on two bare answers; each is boxed so that math-verify reads it as LaTeX (plain
    numbers included) whatever its own extraction would pick. Main thread only (signal timeouts)."""
    from math_verify import parse, verify

    gold = parse(f"\\boxed{{{truth}}}", parsing_timeout=TIMEOUT_S)
    pred = parse(f"\\boxed{{{answer}}}", parsing_timeout=TIMEOUT_S)
    return bool(gold and pred and verify(gold, pred, timeout_seconds=TIMEOUT_S))


_pool = None
_pool_lock = threading.Lock()


def _close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.terminate()
        _pool = None


atexit.register(_close_pool)


def _in_worker(answer: str, truth: str) -> bool:
    """``_math_verify_equal`` in a spawned one-process pool, where math-verify's alarms work."""
    global _pool
    import multiprocessing

    with _pool_lock:
        try:
            if _pool is None:
                _pool = multiprocessing.get_context("spawn").Pool(1)
            return bool(_pool.apply_async(_math_verify_equal, (answer, truth)).get(WORKER_TIMEOUT_S))
        except Exception:  # noqa: BLE001 - a hung or dead worker is replaced; the answer scores False
            _close_pool()
            return False


def math_verify_correct(text: str, truth: str) -> bool:
    answer = mr.extract_answer(text)
    if answer is None:
        return False
    try:
        if threading.current_thread() is threading.main_thread():
            return _math_verify_equal(answer, str(truth))
        return _in_worker(answer, str(truth))
    except Exception:  # noqa: BLE001 - math-verify already turns its errors into False; belt and braces
        return False


# ---- registry ---------------------------------------------------------------------------------------
CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "workbench": lambda text, truth: mr.answers_match(mr.extract_answer(text), str(truth)),
    "dapo": lambda text, truth: dapo_correct(text, str(truth)),
    "math_verify": math_verify_correct,
}


def check_available(name: str) -> None:
    """Raise (at config time) for an unknown checker or a missing math-verify, saying how to fix it."""
    if name not in CHECKERS:
        raise ValueError(f"task.checker={name!r}: valid checkers are {list(CHECKERS)}")
    if name == "math_verify" and importlib.util.find_spec("math_verify") is None:
        raise ModuleNotFoundError(f"task.checker=math_verify needs the math-verify package: {INSTALL} "
                                  "(a dependency of this project: `make install` installs it)")


def is_correct(text: str, truth: str, checker: str = "workbench") -> bool:
    """Whether the completion ``text`` answers ``truth`` under ``checker``."""
    return CHECKERS[checker](text, truth)
