"""``python -m workbench.tasks.math_report``: the warmed tiny math policy's property record as a table,
its known front and where the policy stands (workbench/tasks/math_front.py; docs/tasks.md)."""
from __future__ import annotations

from typing import Sequence

from workbench.tasks import math_front as F


def report(record: dict, shares: dict[str, float], limit: int) -> str:
    """Markdown: per-difficulty form rates and per-form accuracy, the front, the policy's point and distance."""
    lines = ["| difficulty | share | direct rate | worked rate | other rate | direct accuracy | worked accuracy | "
             "direct compliance | worked compliance |", "|---" * 9 + "|"]
    for d, p in F.properties(record, limit).items():
        cells = [f"{p.get(k, float('nan')):.3f}" for k in ("direct_rate", "worked_rate", "other_rate", "direct_accuracy",
                                                           "worked_accuracy", "direct_compliance", "worked_compliance")]
        lines.append(f"| {d} | {shares.get(d, 0):.2f} | " + " | ".join(cells) + " |")
    point = F.record_point(record, shares, limit)
    vertices = ", ".join(f"({a:.3f}, {c:.3f})" for a, c in F.front_vertices(record, shares, limit))
    lines += ["", f"{record['prompts']} held-out prompts x {record['samples']} samples, temperature {record['temperature']}, "
              f"top_p {record['top_p']}, length limit {limit} tokens.",
              f"Front vertices (accuracy, compliance): {vertices}.",
              f"The policy's point: accuracy {point[0]:.3f}, compliance {point[1]:.3f}; "
              f"front_distance {F.front_distance(record, shares, limit, *point):.3f}."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m workbench.tasks.math_report [--seed N] [task.key=value ...]``: the property table of the
    default tiny model for conf/task/math.yaml (built if the cache lacks it); ``--seed`` re-measures it."""
    import argparse
    import json

    from omegaconf import OmegaConf

    from workbench import models, tasks
    from workbench.models.tiny import INFO, build_tiny, load_dir
    from workbench.train.config import CONF_DIR

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seed", type=int, default=None, help="re-measure with this sampling seed")
    parser.add_argument("overrides", nargs="*", help="task options, e.g. task.warmup.samples=32")
    args = parser.parse_args(argv)
    bad = [o for o in args.overrides if not o.startswith("task.") or "=" not in o]
    if bad:
        parser.error(f"overrides must look like task.key=value, got {bad}")
    node = OmegaConf.merge(OmegaConf.load(CONF_DIR / "task" / "math.yaml"),
                           OmegaConf.from_dotlist([o[len("task."):] for o in args.overrides]))
    task = tasks.build(node)
    model_cfg = models.parse(OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "tiny.yaml")))
    path = build_tiny(model_cfg, task)
    record = json.loads((path / INFO).read_text())["properties"]
    if args.seed is not None:
        model, tokenizer = load_dir(path)
        e = task.cfg.eval
        record = F.measure(model, tokenizer, task._eval, task.cfg.warmup.samples, e.temperature, e.top_p,
                         record["max_new_tokens"], seed=args.seed)
    difficulties = task.eval_dataset()["difficulty"]
    shares = {d: difficulties.count(d) / len(difficulties) for d in sorted(set(difficulties))}
    print(f"{path}\n\n{report(record, shares, task.cfg.length_limit)}")


if __name__ == "__main__":
    main()
