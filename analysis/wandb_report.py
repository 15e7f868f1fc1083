"""`python -m analysis.wandb_report --project P [--entity E] [--runs runs/]`: a saved W&B workspace and report.

Builds, with wandb's Report and Workspace API (the ``wandb-workspaces`` package), a saved workspace view
and a report whose panels mirror the local plots: sections objectives, weights, variances, advantages,
train and eval (eval axes as a scatter: the Pareto view), each line the mean over seeds of one method
with a +-1 std band. Needs W&B online: with WANDB_MODE offline/disabled, no WANDB_API_KEY or an
unreachable server it prints why it skipped and exits 0 (never a prompt, never a hang: the server is
probed with a short timeout first). --dry-run prints the panels without contacting anything.
The objectives come from --objectives/--eval-axes or from the summaries of the runs under --runs.
"""
from __future__ import annotations

import argparse
import os
import sys

from workbench import metrics as M
from workbench.logger import wandb_server_problem

SECTIONS = ("objectives", "weights", "variances", "advantages", "train", "eval")
GROUP_KEY = "method.name"   # the W&B config key the trainer logs each run's method under


def panel_spec(objectives, eval_axes) -> dict[str, list[tuple[str, list[str]]]]:
    """Section name -> list of (kind, keys) panels: ("line", [y keys]) or ("scatter", [x, y]).

    Same metrics, in the same order, as analysis.stability and analysis.pareto plot locally; every key
    comes from workbench.metrics, so W&B and the run store agree.
    """
    if not objectives or len(eval_axes) < 1:
        raise ValueError("panel_spec needs the task's objectives and eval axes (see --objectives/--eval-axes)")
    evals = [M.eval_metric(a) for a in eval_axes]
    return {
        "objectives": [("line", [M.reward_mean(o)]) for o in objectives] + [("line", [M.REWARD_TOTAL])],
        "weights": [("line", [M.weight(o)]) for o in objectives] + [("line", [M.base_weight(o)]) for o in objectives],
        "variances": [("line", [M.group_std(o)]) for o in objectives] +
                     [("line", [M.zero_spread_frac(o)]) for o in objectives],
        "advantages": [("line", [k]) for k in (M.ADV_SQ_MEAN, M.ADV_ABS_MAX, M.ADV_ABS_MEAN, M.ZERO_VAR_FRAC)],
        "train": [("line", [k]) for k in (M.GRAD_NORM, M.LOSS, M.KL, M.COMPLETION_LENGTH, M.STEP_TIME)],
        "eval": [("line", [k]) for k in evals] + [("scatter", [x, y]) for i, x in enumerate(evals) for y in evals[i + 1:]],
    }


def check_online(timeout: float = 3.0) -> tuple[bool, str]:
    """(True, "") when W&B can be used now, else (False, why). Probes the server with a TCP connect of
    at most ``timeout`` seconds so a machine without network never hangs on wandb's own retries."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        return False, f"WANDB_MODE={mode}; set WANDB_MODE=online to build dashboards"
    if not os.environ.get("WANDB_API_KEY"):
        return False, "no WANDB_API_KEY in the environment; export it (see `wandb login`) to build dashboards"
    problem = wandb_server_problem(timeout)  # the probe the run logger uses too
    return (False, problem) if problem else (True, "")


def _line(keys, title=None):
    import wandb_workspaces.reports.v2 as wr

    # mean over seeds with a +-1 std band per method, like the local stability plots
    return wr.LinePlot(title=title or keys[0], x="Step", y=list(keys), groupby=wr.Config(GROUP_KEY),
                       groupby_aggfunc="mean", groupby_rangefunc="stddev")


def _panels(spec_panels):
    import wandb_workspaces.reports.v2 as wr

    return [_line(keys) if kind == "line" else wr.ScatterPlot(title=f"{keys[0]} vs {keys[1]}", x=keys[0], y=keys[1])
            for kind, keys in spec_panels]


def build_workspace(entity: str | None, project: str, spec, name: str = "DVAO workbench"):
    """A wandb_workspaces Workspace with one open section per spec section (not saved)."""
    import wandb_workspaces.workspaces as ws

    sections = [ws.Section(name=s, panels=_panels(p), is_open=True) for s, p in spec.items()]
    return ws.Workspace(entity=entity, project=project, name=name, sections=sections)


def build_report(entity: str | None, project: str, spec, title: str = "DVAO workbench: multi-reward GRPO"):
    """A wandb_workspaces Report: one heading and panel grid per section, runs grouped by method (not saved)."""
    import wandb_workspaces.reports.v2 as wr

    blocks = []
    for section, panels in spec.items():
        runset = wr.Runset(entity=entity, project=project, name=section, groupby=[f"config.{GROUP_KEY}"])
        blocks += [wr.H2(text=section), wr.PanelGrid(runsets=[runset], panels=_panels(panels))]
    return wr.Report(entity=entity, project=project, title=title, blocks=blocks,
                     description="Panels mirror `python -m analysis.stability` and `analysis.pareto`.")


def _objectives_from_runs(root) -> tuple[list[str], list[str]]:
    from analysis.load import load_runs

    runs = load_runs(root, steps=False).runs
    return list(runs["objectives"].iloc[0]), list(runs["eval_axes"].iloc[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.wandb_report", description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True, help="W&B project the runs were logged to")
    parser.add_argument("--entity", default=None, help="W&B entity (default: your default entity)")
    parser.add_argument("--runs", default=None, help="read objectives and eval axes from these run directories")
    parser.add_argument("--objectives", nargs="+", default=None, help="objective names, e.g. accuracy length")
    parser.add_argument("--eval-axes", nargs="+", default=None, help="eval axis names, e.g. accuracy length_ok")
    parser.add_argument("--kind", choices=("workspace", "report", "both"), default="both")
    parser.add_argument("--dry-run", action="store_true", help="print the panels and exit; contacts nothing")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the server probe")
    args = parser.parse_args(argv)
    try:
        objectives, eval_axes = (args.objectives, args.eval_axes)
        if args.runs:
            objectives, eval_axes = _objectives_from_runs(args.runs)
        if not objectives or not eval_axes:
            raise ValueError("give --runs runs/ or both --objectives and --eval-axes")
        spec = panel_spec(objectives, eval_axes)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    if args.dry_run:
        for section, panels in spec.items():
            print(f"{section}: " + "; ".join(f"{kind} {', '.join(keys)}" for kind, keys in panels))
        return 0
    ok, why = check_online(args.timeout)
    if not ok:
        print(f"skipped: W&B dashboards not built: {why}")
        return 0
    try:
        import wandb_workspaces  # noqa: F401
    except ImportError:
        print("skipped: the wandb-workspaces package is missing; `pip install wandb-workspaces`")
        return 0
    if args.kind in ("workspace", "both"):
        print(f"workspace: {build_workspace(args.entity, args.project, spec).save().url}")
    if args.kind in ("report", "both"):
        print(f"report: {build_report(args.entity, args.project, spec).save().url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
