"""The ``tool`` task: ToolRL-style ``format`` and ``correctness`` objectives, both in [0, 1]
(scoring in workbench/tasks/tool_rewards.py), on generated catalogues or ToolRL JSON data."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from workbench.tasks import tool_data, tool_rewards as tr
from workbench.tasks.common import SplitTask
from workbench.tasks.config import EvalOptions, check, from_mapping
from workbench.tasks.math_data import split_rows
from workbench.tasks.registry import register
from workbench.tasks.text import completion_text

OBJECTIVES = ("correctness", "format")
SOURCES = ("generated", "toolrl")


@dataclass
class ToolData:
    source: str = "generated"       # generated (offline catalogues) | toolrl (ToolRL rlla JSON)
    path: str | None = None         # local JSON/JSONL for source=toolrl (no hub copy is loaded)
    n_train: int | None = 4000      # training prompts (null: every remaining row of real data)
    n_eval: int = 200               # held-out prompts, disjoint from training
    seed: int = 0                   # generation / split seed
    n_tools: int = 3                # generated: tools shown per prompt (the right one + distractors)
    chat: bool = True               # real data: system+user chat messages vs one plain-text prompt


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
        check(self.kind == "llm", "task.kind must be `llm` for the tool task")
        check(0.0 <= self.warmup.no_think_frac <= 1.0, "task.warmup.no_think_frac must lie in [0, 1]")


class ToolTask(SplitTask):
    """Single-turn tool calling scored on format and call correctness."""

    cfg: ToolConfig

    def _load(self) -> tuple[list[dict], list[dict]]:
        d = self.cfg.data
        if d.source == "generated":
            return tool_data.generate(d.n_train or 0, d.n_eval, d.seed, d.n_tools)
        train, held = split_rows(tool_data.read_toolrl(d.path), d.n_train, d.n_eval, d.seed)

        def shape(r):
            if d.chat:
                prompt = [{"role": "system", "content": r["system"]}, {"role": "user", "content": r["user"]}]
            else:
                prompt = f"{r['system']}\n\n{r['user']}".strip()
            return {"prompt": prompt, "gold": r["gold"]}

        return [shape(r) for r in train], [shape(r) for r in held]

    def _scorers(self):
        return {"format": lambda text, ids, **_: tr.format_score(text),
                "correctness": lambda text, ids, gold="[]", **_: tr.correctness_score(text, gold)}

    def evaluate(self, prompts: Sequence[Any], completions: Sequence[Any], rows: dict[str, list[Any]],
                 completion_lengths: Sequence[int]) -> dict[str, float]:
        """Mean format, mean correctness, exact-call rate (correctness 1) and mean length (tokens)."""
        n = len(completions)
        if n == 0:
            raise ValueError("evaluate() got no completions")
        texts = [completion_text(c) for c in completions]
        fmt = [tr.format_score(t) for t in texts]
        cor = [tr.correctness_score(t, g) for t, g in zip(texts, rows["gold"])]
        return {"format": sum(fmt) / n, "correctness": sum(cor) / n,
                "exact": sum(c == 1.0 for c in cor) / n, "mean_length": sum(completion_lengths) / n}

    # ---- tiny-model warm-up (generated data only) ------------------------------------------------
    def warmup_examples(self, n: int, seed: int) -> list[tuple[str, str]]:
        """``n`` (prompt, completion) demonstrations drawn from the training split."""
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
        d = self.cfg.data
        return {"task": "tool", "seed": d.seed, "n_train": d.n_train, "n_eval": d.n_eval,
                "n_tools": d.n_tools, "warmup": self._mix()}


@register("tool")
def build_tool(cfg: dict) -> ToolTask:
    return ToolTask(from_mapping(ToolConfig, cfg, "task"))
