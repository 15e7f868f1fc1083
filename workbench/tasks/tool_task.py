"""The ``tool`` task: ToolRL-style ``format`` and ``correctness`` objectives, both in [0, 1]
(scoring in workbench/tasks/tool_rewards.py), on generated catalogues, ToolRL JSON data or BFCL
(workbench/tasks/bfcl_data.py; correctness and the per-category eval by BFCL's rules, bfcl_scoring.py)."""
from __future__ import annotations

import dataclasses
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from workbench.tasks import bfcl_data, bfcl_scoring, tool_data, tool_rewards as tr
from workbench.tasks.common import SplitTask
from workbench.tasks.config import EvalOptions, check, from_mapping
from workbench.tasks.math_data import split_rows
from workbench.tasks.registry import register
from workbench.tasks.text import completion_text

OBJECTIVES = ("correctness", "format")
SOURCES = ("generated", "toolrl", "bfcl")
log = logging.getLogger(__name__)


@dataclass
class ToolData:
    source: str = "generated"       # generated (offline catalogues) | toolrl (ToolRL rlla JSON) | bfcl (BFCL v4)
    path: str | None = None         # toolrl: local JSON/JSONL; bfcl: a BFCL data folder (null: the bfcl-eval wheel's)
    categories: list | None = None  # bfcl: categories to load (null: every single-turn Python one)
    n_train: int | None = 4000      # training prompts (null: every remaining row of real data)
    n_eval: int = 200               # held-out prompts, disjoint from training
    seed: int = 0                   # generation / split seed
    n_tools: int = 3                # generated: tools shown per prompt (the right one + distractors)
    chat: bool = True               # real data: chat messages (bfcl: the model's chat template, tools passed) vs plain text


@dataclass
class ToolWarmup:
    """The tiny model's supervised warm-up mix (generated data only)."""

    no_think_frac: float = 0.2      # demonstrations without the <think> block: format 0, correctness intact
    steps: int | None = None        # warm-up steps for this task (null: the model's warmup.steps)


@dataclass
class ToolConfig:
    name: str = "tool"
    kind: str = "llm"
    objectives: list = field(default_factory=lambda: list(OBJECTIVES))
    data: ToolData = field(default_factory=ToolData)
    eval: EvalOptions = field(default_factory=EvalOptions)
    warmup: ToolWarmup = field(default_factory=ToolWarmup)

    def __post_init__(self):
        self.objectives = list(self.objectives)
        bad = [o for o in self.objectives if o not in OBJECTIVES]
        check(not bad and self.objectives and len(set(self.objectives)) == len(self.objectives),
              f"task.objectives={self.objectives}: choose distinct names from {list(OBJECTIVES)}")
        check(self.data.source in SOURCES, f"task.data.source={self.data.source!r}: valid sources are {list(SOURCES)}")
        check(self.data.source != "toolrl" or bool(self.data.path),
              "task.data.source=toolrl needs task.data.path=/path/to/rlla_rl.json")
        if self.data.source == "bfcl":
            cats = self.data.categories  # null: all; one name (a Hydra scalar) counts as a list of one
            cats = bfcl_data.CATEGORIES if cats is None else [cats] if isinstance(cats, str) else cats
            self.data.categories = list(dict.fromkeys(cats))
            bfcl_data.check_categories(self.data.categories)
            n = len(self.data.categories)
            check(min(self.data.n_eval, self.eval.n_prompts) >= n,
                  f"task.data.n_eval={self.data.n_eval} and task.eval.n_prompts={self.eval.n_prompts} must be at least "
                  f"the number of BFCL categories ({n}) so every category is evaluated; raise them or pick fewer categories")
        else:
            check(self.data.categories is None, "task.data.categories applies to task.data.source=bfcl only")
        check(self.kind == "llm", "task.kind must be `llm` for the tool task")
        check(0.0 <= self.warmup.no_think_frac <= 1.0, "task.warmup.no_think_frac must lie in [0, 1]")


class ToolTask(SplitTask):
    """Single-turn tool calling scored on format and call correctness."""

    cfg: ToolConfig

    def _load(self) -> tuple[list[dict], list[dict]]:
        d = self.cfg.data
        if d.source == "generated":
            return tool_data.generate(d.n_train or 0, d.n_eval, d.seed, d.n_tools)
        if d.source == "bfcl":
            train, held = bfcl_data.split(bfcl_data.load(d.categories, d.path), d.n_train, d.n_eval, d.seed)
            self._messages = {r["id"]: r.pop("messages") for r in train + held}
            for r in train + held:  # no tokenizer yet: the compact layout until use_tokenizer
                r["prompt"] = bfcl_data.render(self._messages[r["id"]], json.loads(r["functions"]))
            return train, held
        train, held = split_rows(tool_data.read_toolrl(d.path), d.n_train, d.n_eval, d.seed)

        def shape(r):
            if d.chat:
                prompt = [{"role": "system", "content": r["system"]}, {"role": "user", "content": r["user"]}]
            else:
                prompt = f"{r['system']}\n\n{r['user']}".strip()
            return {"prompt": prompt, "gold": r["gold"]}

        return [shape(r) for r in train], [shape(r) for r in held]

    def use_tokenizer(self, tokenizer) -> None:
        """BFCL rows: render every prompt for this policy's tokenizer (its chat template with the row's
        functions as tools, or the compact text layout; bfcl_data.render) and warn about characters it
        cannot encode. workbench.models.build calls this; other sources keep their prompts."""
        if self.cfg.data.source != "bfcl":
            return
        for r in self._train + self._eval:
            r["prompt"] = bfcl_data.render(self._messages[r["id"]], json.loads(r["functions"]), tokenizer,
                                           self.cfg.data.chat)
        unk = getattr(tokenizer, "unk_token_id", None)
        if tokenizer is not None and unk is not None:
            shown = [r["prompt"] for r in self._eval[: self.cfg.eval.n_prompts]]
            ids = [i for p in shown for i in tokenizer(p, add_special_tokens=False)["input_ids"]]
            share = sum(i == unk for i in ids) / max(1, len(ids))
            if share:
                log.warning("BFCL prompts: %.1f%% of this tokenizer's tokens are %s (characters outside its vocabulary, "
                            "as with the tiny model's character set); expect scores near 0", 100 * share,
                            tokenizer.unk_token)

    def _scorers(self):
        if self.cfg.data.source == "bfcl":
            def correctness(text, ids, category="", functions="[]", answer="[]", **_):
                return bfcl_scoring.score_text(text, category, functions, answer)[0]

            return {"format": lambda text, ids, **_: tr.format_score(text), "correctness": correctness}
        return {"format": lambda text, ids, **_: tr.format_score(text),
                "correctness": lambda text, ids, gold="[]", **_: tr.correctness_score(text, gold)}

    def evaluate(self, prompts: Sequence[Any], completions: Sequence[Any], rows: dict[str, list[Any]],
                 completion_lengths: Sequence[int]) -> dict[str, float]:
        """Mean format, mean correctness, exact-call rate (correctness 1) and mean length (tokens); BFCL
        rows add ``bfcl`` (share passing BFCL's check, categories pooled) and ``bfcl_<category>``."""
        n = len(completions)
        if n == 0:
            raise ValueError("evaluate() got no completions")
        texts = [completion_text(c) for c in completions]
        fmt = [tr.format_score(t) for t in texts]
        out: dict[str, float] = {}
        if self.cfg.data.source == "bfcl":
            scored = [bfcl_scoring.score_text(t, c, f, a) for t, c, f, a in
                      zip(texts, rows["category"], rows["functions"], rows["answer"])]
            cor = [score for score, _ in scored]
            by_category = defaultdict(list)
            for category, (_, ok) in zip(rows["category"], scored):
                by_category[category].append(ok)
            out["bfcl"] = sum(ok for _, ok in scored) / n
            out.update({f"bfcl_{c}": sum(v) / len(v) for c, v in sorted(by_category.items())})
        else:
            cor = [tr.correctness_score(t, g) for t, g in zip(texts, rows["gold"])]
        return {"format": sum(fmt) / n, "correctness": sum(cor) / n, "exact": sum(c == 1.0 for c in cor) / n,
                "mean_length": sum(completion_lengths) / n, **out}

    # ---- tiny-model warm-up (generated data only) ------------------------------------------------
    def _warmup_source(self) -> "ToolTask":
        """The task whose generated rows warm the tiny model up: this one, except for BFCL (an eval set,
        mostly outside the tiny character vocabulary), which shares the default generated tool task's
        warmed model (same cache key), so `model=tiny` runs the BFCL harness without a new warm-up."""
        if self.cfg.data.source != "bfcl":
            return self
        if getattr(self, "_twin", None) is None:
            self._twin = ToolTask(dataclasses.replace(self.cfg, data=ToolData()))
        return self._twin

    def warmup_examples(self, n: int, seed: int) -> list[tuple[str, str]]:
        """``n`` (prompt, completion) demonstrations drawn from the training split."""
        if self._warmup_source() is not self:
            return self._warmup_source().warmup_examples(n, seed)
        out = []
        for row, (draw,) in self.sample_rows(n, seed, 1):
            think = draw >= self.cfg.warmup.no_think_frac
            out.append((row["prompt"], tool_data.demonstration(row["gold"], with_think=think)))
        return out

    def vocab_texts(self) -> list[str]:
        """Texts whose characters the tiny tokenizer must cover."""
        return [" ".join(v) for v in tool_data.VALUES.values()] + ["tools: user: ( ) , \n {}[]\":"]

    def vocab_tokens(self) -> list[str]:
        """Tags, JSON glue, tool and argument names: one token each for the tiny tokenizer."""
        args = sorted({a for names, _ in tool_data.TOOLS.values() for a in names})
        return list(tr.TAGS) + tool_data.JSON_GLUE + sorted(tool_data.TOOLS) + args

    def warmup_key(self) -> dict:
        if self._warmup_source() is not self:
            return self._warmup_source().warmup_key()
        d = self.cfg.data
        return {"task": "tool", "seed": d.seed, "n_train": d.n_train, "n_eval": d.n_eval,
                "n_tools": d.n_tools, "warmup": self._mix()}


@register("tool")
def build_tool(cfg: dict) -> ToolTask:
    return ToolTask(from_mapping(ToolConfig, cfg, "task"))
