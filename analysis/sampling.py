"""`python -m analysis.sampling runs/ [--out DIR]`: what dynamic sampling cost and what it removed.

Per task, model, loss setting, dynamic-sampling mode and method (seeds pooled): the generation batches, the
completions generated per batch (the configured batch plus ``dynamic/extra_completions``), the extra
generation as a share of the configured batch, the groups dropped and filled per batch, each objective's
zero-spread fraction (``variance/<objective>/zero_spread_frac``) and the median step time; then, for every mode
other than ``off``, the ratio of its completions and step time to the ``off`` runs of the same task, model,
loss and method. Reads the run store's metrics.jsonl (workbench.metrics keys). Writes sampling.md and
sampling.csv into --out (default reports/sampling) and prints the table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analysis.checks import check_out_dir
from analysis.load import load_runs
from analysis.tables import markdown
from workbench import metrics as M

KEYS = ["task", "model", "loss", "dynamic_sampling", "method"]


def per_run(runs: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """One row per run: generation batches, completions per batch, extra share, dropped / filled groups per
    batch, zero-spread fraction per objective and the median step time."""
    rows = []
    for run in runs.itertuples(index=False):
        mine = steps[steps["run"] == run.run]
        batch = run.G * _prompts(run)
        generated = mine[M.REWARD_TOTAL].notna() if M.REWARD_TOTAL in mine else pd.Series(False, index=mine.index)
        batches = int(generated.sum())
        col = lambda key: mine.loc[generated, key].fillna(0.0) if key in mine else pd.Series(0.0, index=mine.index[generated])  # noqa: E731
        extra = float(col(M.DS_EXTRA_COMPLETIONS).sum())
        row = {k: getattr(run, k, None) for k in KEYS}
        row.update(run=run.run, seed=run.seed, batches=batches, batch=batch,
                   completions_per_batch=(batch * batches + extra) / batches if batches else float("nan"),
                   extra_share=extra / (batch * batches) if batches else float("nan"),
                   dropped_per_batch=float(col(M.DS_GROUPS_DROPPED).sum()) / batches if batches else float("nan"),
                   filled_per_batch=float(col(M.DS_GROUPS_FILLED).sum()) / batches if batches else float("nan"),
                   step_time=float(mine[M.STEP_TIME].median()) if M.STEP_TIME in mine else float("nan"))
        for objective in run.objectives:
            key = M.zero_spread_frac(objective)
            row[f"zero_spread/{objective}"] = float(mine.loc[generated, key].mean()) if key in mine else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _prompts(run) -> int:
    """Prompts per generation batch: from the run's config (train.batch_size, else prompts_per_step)."""
    import yaml

    cfg = yaml.safe_load((Path(run.path) / "config.yaml").read_text())
    train = cfg.get("train") or {}
    if train.get("batch_size"):
        return int(train["batch_size"]) // int(cfg["G"])
    return int(train.get("prompts_per_step", 4))


def table(per: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds per (task, model, loss, mode, method), with the ratios to the matching ``off`` cell."""
    per = per.assign(loss=per["loss"].fillna("trl"), dynamic_sampling=per["dynamic_sampling"].fillna("off"))
    value_cols = [c for c in per.columns if c not in KEYS + ["run", "seed", "batch"]]
    cells = per.groupby(KEYS, sort=True).agg(runs=("run", "count"), **{c: (c, "mean") for c in value_cols})
    cells = cells.reset_index()
    off = cells[cells["dynamic_sampling"] == "off"].set_index(["task", "model", "loss", "method"])
    ratios = []
    for row in cells.itertuples(index=False):
        key = (row.task, row.model, row.loss, row.method)
        if row.dynamic_sampling == "off" or key not in off.index:
            ratios.append((float("nan"), float("nan")))
            continue
        base = off.loc[key]
        ratios.append((row.completions_per_batch / base["completions_per_batch"], row.step_time / base["step_time"]))
    cells["completions_vs_off"] = [r[0] for r in ratios]
    cells["step_time_vs_off"] = [r[1] for r in ratios]
    return cells


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="folder of run directories (e.g. runs/loss_study)")
    parser.add_argument("--out", default="reports/sampling", help="output folder (default: reports/sampling)")
    args = parser.parse_args(argv)
    check_out_dir(args.out)
    tables = load_runs(args.runs, steps=True)
    if "dynamic_sampling" not in tables.runs.columns:
        raise SystemExit(f"no run under {args.runs} records dynamic_sampling (LLM runs made before it existed?)")
    cells = table(per_run(tables.runs, tables.steps))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells.to_csv(out / "sampling.csv", index=False)
    shown = cells.set_index("method").round(3)
    text = "# Dynamic sampling: generation cost\n\n" + markdown(shown) + "\n"
    (out / "sampling.md").write_text(text)
    print(text)
    print(f"written: {out / 'sampling.md'}, {out / 'sampling.csv'}")


if __name__ == "__main__":
    main()
