"""Math objectives: answer extraction, normalisation and the per-completion scorers.

Answer forms, as DAPO-Math-17K asks for them: the last ``\\boxed{...}`` if any, else the text after
the last ``Answer:`` marker (to the end of that line). Everything here is linear in the text length,
so a runaway completion costs no more than reading it once.
"""
from __future__ import annotations

import re
from fractions import Fraction

MARKER = "Answer:"

_LATEX_NOISE = [r"\left", r"\right", r"\!", r"\,", r"\;", r"\displaystyle", "$", "^\\circ", "^{\\circ}", "\\%", "%"]
_TEXT_WRAP = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)(/\d+)?")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced braces), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i = start + len("\\boxed{")
    depth = 1
    for j in range(i, len(text)):
        ch = text[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None  # unclosed box: no answer given


def after_marker(text: str) -> str | None:
    """Text after the last ``Answer:`` marker up to the end of its line, or None."""
    pos = text.rfind(MARKER)
    if pos < 0:
        return None
    return text[pos + len(MARKER):].split("\n", 1)[0]


def extract_answer(text: str) -> str | None:
    """The completion's final answer (boxed beats marker), stripped; None when there is none."""
    answer = last_boxed(text)
    if answer is None:
        answer = after_marker(text)
    if answer is None:
        return None
    answer = answer.strip()
    return answer or None


def normalise(answer: str) -> str:
    """Canonical string form: LaTeX noise, spaces, trailing dots and thousands commas removed."""
    s = answer.strip()
    inner = last_boxed(s)
    if inner is not None:
        s = inner
    for noise in _LATEX_NOISE:
        s = s.replace(noise, "")
    s = _TEXT_WRAP.sub(r"\1", s)
    s = _FRAC.sub(r"(\1)/(\2)", s)
    s = s.replace(" ", "").rstrip(".").lower()
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    if re.fullmatch(r"\(?[-+]?\d+\)?/\(?\d+\)?", s):
        s = s.replace("(", "").replace(")", "")
    return s


def as_number(s: str) -> Fraction | None:
    """Exact value of a normalised integer, decimal or a/b fraction; None when it is not a number."""
    if not _NUMBER.fullmatch(s):
        return None
    try:
        if "/" in s:
            num, den = s.split("/")
            return Fraction(Fraction(num), Fraction(den))
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def answers_match(predicted: str | None, truth: str) -> bool:
    """True when both normalise to the same number or, failing that, the same string."""
    if predicted is None:
        return False
    p, t = normalise(predicted), normalise(str(truth))
    if not p:
        return False
    pn, tn = as_number(p), as_number(t)
    if pn is not None and tn is not None:
        return pn == tn
    return p == t


def accuracy_score(text: str, answer: str, checker: str = "workbench") -> float:
    """1.0 when the completion's answer equals ``answer`` under ``checker`` (workbench: the extraction
    and normalisation above; dapo, math_verify: workbench/tasks/math_checkers.py), else 0.0."""
    from workbench.tasks.math_checkers import is_correct  # it builds on this module

    return 1.0 if is_correct(text, answer, checker) else 0.0


def format_score(text: str) -> float:
    """1.0 when the answer is in the required form: exactly one answer (one ``Answer:`` marker or one
    ``\\boxed{}``), non-empty, and nothing but whitespace after the answer's line."""
    boxes, markers = text.count("\\boxed{"), text.count(MARKER)
    if boxes + markers != 1:
        return 0.0
    if markers:
        tail = text[text.rfind(MARKER) + len(MARKER):]
        line, _, rest = tail.partition("\n")
        return 1.0 if line.strip() and not rest.strip() else 0.0
    return 1.0 if (last_boxed(text) or "").strip() else 0.0


def length_score(n_tokens: int, limit: int) -> float:
    """1.0 when the completion is at most ``limit`` tokens (both papers' binary length reward)."""
    return 1.0 if n_tokens <= limit else 0.0
