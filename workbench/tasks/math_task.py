"""The ``math`` task: accuracy and length objectives (optionally format), generated or DAPO data.

Objectives (binary, in ``objectives`` order):
  accuracy  the extracted final answer equals the ground truth after normalisation;
  length    the completion is at most ``length_limit`` tokens (both papers: 4,000 on real data);
            with ``condition_length_on_accuracy`` it counts only when the answer is correct (GDPO);
  format    exactly one answer, in the required ``Answer:``/``\\boxed{}`` form, at the end.

Generated data mixes easy and hard additions (workbench/tasks/math_data.py); with the tiny model the
evaluation also reports per-difficulty form rates and per-form accuracies, and ``front_distance`` to
the warmed policy's known front (workbench/tasks/math_front.py). Design and measurements: docs/tasks.md.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from workbench.tasks import math_checkers, math_data, math_front, math_rewards as mr
from workbench.tasks.common import SplitTask
from workbench.tasks.config import EvalOptions, check, from_mapping
from workbench.tasks.registry import register
from workbench.tasks.text import completion_text, token_length

OBJECTIVES = ("accuracy", "length", "format")
SOURCES = ("generated", "dapo")
log = logging.getLogger(__name__)


@dataclass
class MathData:
    source: str = "generated"       # generated (offline additions) | dapo (DAPO-Math-17K parquet)
    path: str | None = None         # local parquet for source=dapo
    hub_name: str = "BytedTsinghua-SIA/DAPO-Math-17k"  # used only when path is null and a network exists
    n_train: int | None = 12000     # training prompts (null: every remaining row of real data)
    n_eval: int = 200               # held-out prompts, disjoint from training
    seed: int = 0                   # data generation / split seed
    digits: int = 3                 # generated: operand digits of hard problems
    easy_digits: int = 2            # generated: operand digits of easy problems
    easy_frac: float = 0.6          # generated: share of easy problems in both splits
    chat: bool = True               # real data: prompt as chat messages (TRL conversational) vs plain text


@dataclass
class WorkedShare:
    """Share of warm-up demonstrations in the worked form, per difficulty (the rest are direct)."""

    easy: float = 0.6
    hard: float = 0.6


@dataclass
class MathWarmup:
    """The tiny model's supervised warm-up mix (generated data only) and how its properties are measured."""

    worked_frac: WorkedShare = field(default_factory=WorkedShare)  # per difficulty: worked demonstrations
    unmarked_frac: float = 0.1      # share whose answer lacks the `Answer:` marker (format and accuracy 0)
    samples: int = 16               # completions per held-out prompt for the warmed policy's property record
    steps: int | None = None        # warm-up steps for this task (null: the model's warmup.steps)


@dataclass
class MathConfig:
    name: str = "math"
    kind: str = "llm"
    objectives: list = field(default_factory=lambda: ["accuracy", "length"])  # K=2; add format for K=3
    length_limit: int = 12          # tokens (eos included); tiny direct answers fit, worked ones do not
    condition_length_on_accuracy: bool = False  # GDPO: length reward only for correct answers
    checker: str = "workbench"      # accuracy's answer rule: workbench | dapo | math_verify (math_checkers.py)
    data: MathData = field(default_factory=MathData)
    eval: EvalOptions = field(default_factory=EvalOptions)
    warmup: MathWarmup = field(default_factory=MathWarmup)

    def __post_init__(self):
        self.objectives = list(self.objectives)
        bad = [o for o in self.objectives if o not in OBJECTIVES]
        check(not bad and self.objectives and len(set(self.objectives)) == len(self.objectives),
              f"task.objectives={self.objectives}: choose distinct names from {list(OBJECTIVES)}")
        check(self.length_limit > 0, "task.length_limit must be a positive token count")
        check(self.data.source in SOURCES, f"task.data.source={self.data.source!r}: valid sources are {list(SOURCES)}")
        check(self.kind == "llm", "task.kind must be `llm` for the math task")
        math_checkers.check_available(self.checker)
        shares = {"warmup.unmarked_frac": self.warmup.unmarked_frac, "data.easy_frac": self.data.easy_frac,
                  **{f"warmup.worked_frac.{d}": v for d, v in asdict(self.warmup.worked_frac).items()}}
        for key, value in shares.items():
            check(isinstance(value, (int, float)) and 0.0 <= value <= 1.0, f"task.{key}={value!r} must lie in [0, 1]")
        check(1 <= self.data.easy_digits < self.data.digits,
              f"task.data.easy_digits={self.data.easy_digits} must lie in [1, digits={self.data.digits}): "
              "easy problems have fewer digits than hard ones")
        check(self.warmup.samples > 0, "task.warmup.samples must be a positive number of completions per prompt")


class MathTask(SplitTask):
    """Math word/arithmetic problems scored on accuracy, length and (optionally) format."""

    cfg: MathConfig
    _warned_front = False  # policy_metrics warns once per task about a missing or unusable front

    # ---- data -----------------------------------------------------------------------------------
    def _load(self) -> tuple[list[dict], list[dict]]:
        d = self.cfg.data
        if d.source == "generated":
            return math_data.generate(d.n_train or 0, d.n_eval, d.seed, d.digits, d.easy_digits, d.easy_frac)
        rows = math_data.read_dapo(d.path) if d.path else math_data.load_hub_rows(d.hub_name)
        train, held = math_data.split_rows(rows, d.n_train, d.n_eval, d.seed)
        shape = (lambda r: {"prompt": r["messages"], "answer": r["answer"]}) if d.chat else \
                (lambda r: {"prompt": r["question"], "answer": r["answer"]})
        return [shape(r) for r in train], [shape(r) for r in held]

    # ---- objectives -----------------------------------------------------------------------------
    def _scorers(self):
        limit, conditioned, checker = self.cfg.length_limit, self.cfg.condition_length_on_accuracy, self.cfg.checker

        def accuracy(text, ids, answer="", **_):
            return mr.accuracy_score(text, answer, checker)

        def length(text, ids, answer="", **_):
            ok = mr.length_score(token_length(text, ids), limit)
            return ok * mr.accuracy_score(text, answer, checker) if conditioned else ok

        def fmt(text, ids, **_):
            return mr.format_score(text)

        return {"accuracy": accuracy, "length": length, "format": fmt}

    def evaluate(self, prompts: Sequence[Any], completions: Sequence[Any], rows: dict[str, list[Any]],
                 completion_lengths: Sequence[int]) -> dict[str, float]:
        """Mean accuracy, length compliance (never conditioned: it is the Pareto axis), format rate
        and mean completion length (tokens) over the sampled completions; on generated data also,
        per difficulty ``d``: ``d/worked_rate`` and ``d/<form>_accuracy`` for each form sampled."""
        n = len(completions)
        if n == 0:
            raise ValueError("evaluate() got no completions")
        texts = [completion_text(c) for c in completions]
        acc = [mr.accuracy_score(t, a, self.cfg.checker) for t, a in zip(texts, rows["answer"])]
        ok = [mr.length_score(int(k), self.cfg.length_limit) for k in completion_lengths]
        fmt = [mr.format_score(t) for t in texts]
        out = {"accuracy": sum(acc) / n, "length": sum(ok) / n, "format": sum(fmt) / n,
               "mean_length": sum(completion_lengths) / n}
        if "difficulty" in rows:
            out.update(per_difficulty(rows["difficulty"], [math_data.answer_form(t) for t in texts], acc))
        return out

    def policy_metrics(self, model, rows: dict[str, list[Any]], scores: dict[str, float]) -> dict[str, float]:
        """``front_distance`` and ``front_accuracy_gap`` of the evaluated (accuracy, length) point against the
        front of ``model``'s property record (kept in its config by the tiny builder); empty without a usable
        record, with one warning saying why (a metric never stops a run)."""
        record = getattr(getattr(model, "config", None), "property_record", None)
        if record is None or "difficulty" not in rows:
            return {}
        e = self.cfg.eval
        try:
            if (record["temperature"], record["top_p"]) != (e.temperature, e.top_p):
                raise ValueError(f"the policy's property record was sampled at temperature {record['temperature']}, "
                                 f"top_p {record['top_p']}, this evaluation at {e.temperature}, {e.top_p}")
            shares = {d: c / len(rows["difficulty"]) for d, c in Counter(rows["difficulty"]).items()}
            point = (record, shares, self.cfg.length_limit, scores["accuracy"], scores["length"])
            return {"front_distance": math_front.front_distance(*point),
                    "front_accuracy_gap": math_front.accuracy_gap(*point)}
        except (KeyError, TypeError, ValueError) as err:
            if not self._warned_front:
                log.warning("no eval/front_distance: %s", err)
                self._warned_front = True
            return {}

    # ---- tiny-model warm-up (generated data only) ------------------------------------------------
    def warmup_examples(self, n: int, seed: int) -> list[tuple[str, str]]:
        """``n`` (prompt, completion) demonstrations drawn from the training split."""
        w, out = self.cfg.warmup, []
        for row, (form, mark) in self.sample_rows(n, seed, 2):
            a, b = math_data.operands(row["prompt"])
            worked = form < getattr(w.worked_frac, row["difficulty"])
            text = math_data.worked_solution(a, b) if worked else math_data.direct_solution(a, b)
            if mark < w.unmarked_frac:
                text = text.replace(mr.MARKER, "= ")
            out.append((row["prompt"], text))
        return out

    def vocab_texts(self) -> list[str]:
        """Texts whose characters the tiny tokenizer must cover."""
        a, b = 10 ** self.cfg.data.digits - 1, 10 ** (self.cfg.data.digits - 1)
        return ["0123456789+= \n", mr.MARKER, math_data.worked_solution(a, b), "\\boxed{}"]

    def vocab_tokens(self) -> list[str]:
        """Multi-character strings the tiny tokenizer keeps as one token (none for math)."""
        return []

    def warmup_key(self) -> dict:
        """Everything that changes the warm-up data or the property record: part of the tiny model's cache key."""
        d = self.cfg.data
        return {"task": "math", "digits": d.digits, "easy_digits": d.easy_digits, "easy_frac": d.easy_frac,
                "seed": d.seed, "n_train": d.n_train, "n_eval": d.n_eval, "warmup": self._mix()}

    def measure_policy(self, model, tokenizer, max_new_tokens: int) -> dict:
        """The warmed policy's property record on the whole held-out split (workbench/tasks/math_front.py),
        sampled at the task's evaluation temperature and top_p, ``warmup.samples`` completions per prompt."""
        e = self.cfg.eval
        return math_front.measure(model, tokenizer, self._eval, self.cfg.warmup.samples, e.temperature, e.top_p,
                                  max_new_tokens)


def per_difficulty(difficulties: Sequence[str], forms: Sequence[str], accuracy: Sequence[float]) -> dict[str, float]:
    """Per difficulty ``d``: ``d/worked_rate`` and ``d/<form>_accuracy`` (only for forms that occur)."""
    out: dict[str, float] = {}
    for d in sorted(set(difficulties)):
        picked = [(f, a) for dd, f, a in zip(difficulties, forms, accuracy) if dd == d]
        out[f"{d}/worked_rate"] = sum(f == "worked" for f, _ in picked) / len(picked)
        for form in math_data.FORMS:
            hits = [a for f, a in picked if f == form]
            if hits:
                out[f"{d}/{form}_accuracy"] = sum(hits) / len(hits)
    return out


@register("math")
def build_math(cfg: dict) -> MathTask:
    return MathTask(from_mapping(MathConfig, cfg, "task"))
