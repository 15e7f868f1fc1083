"""`python -m analysis.stability` and `python -m analysis.ablation` on generated run directories."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import ablation, stability, synthetic
from analysis.load import load_runs
from analysis.tables import best_mask, latex, markdown, mean_std
from workbench import metrics as M


def test_smoothing_is_a_centred_moving_average_within_each_run():
    steps = pd.DataFrame({"run": ["a"] * 5 + ["b"] * 3, M.STEP: [1, 2, 3, 4, 5, 1, 2, 3],
                          "x": [0.0, 3.0, 6.0, 9.0, 30.0, 100.0, 200.0, 600.0]})
    out = stability.smooth(steps, ["x"], 3)
    assert out["x"].tolist() == pytest.approx([1.5, 3.0, 6.0, 15.0, 19.5, 150.0, 300.0, 400.0])
    assert stability.smooth(steps, ["x"], None) is steps
    # a run logging every 10th step: a 30-step window averages 3 records
    sparse = steps.assign(**{M.STEP: steps[M.STEP] * 10})
    assert stability.smooth(sparse, ["x"], 30)["x"].tolist() == pytest.approx(out["x"].tolist())
    assert stability.smooth(sparse, ["x"], 4)["x"].tolist() == steps["x"].tolist()
    with pytest.raises(ValueError, match="positive"):
        stability.smooth(steps, ["x"], 0)


def test_curves_average_over_seeds(tmp_path):
    synthetic.write_sweep(tmp_path, methods=("rc", "dvao"), w0s=(0.5,), seeds=(0, 1, 2), steps=10)
    tables = load_runs(tmp_path)
    keys = stability.panel_keys(list(synthetic.OBJECTIVES))
    curve = stability.curves(tables.runs, tables.steps, keys)
    sel = curve[(curve.method == "dvao") & (curve.metric == M.weight("accuracy")) & (curve[M.STEP] == 4)]
    dvao_runs = tables.runs[tables.runs.method == "dvao"].run
    raw = tables.steps[tables.steps.run.isin(dvao_runs) & (tables.steps[M.STEP] == 4)][M.weight("accuracy")]
    assert sel["mean"].item() == pytest.approx(raw.mean()) and sel["std"].item() == pytest.approx(raw.std())
    assert sel["n_seeds"].item() == 3
    assert set(curve.metric) == set(keys) and len(curve) == 2 * len(keys) * 10


def test_stability_cli_writes_figures_and_csv(tmp_path):
    synthetic.write_sweep(tmp_path / "runs", methods=("rc", "dvao"), w0s=(0.3, 0.7), seeds=(0, 1), steps=16)
    out = tmp_path / "out"
    table = stability.main([str(tmp_path / "runs"), "--out", str(out), "--smooth", "15", "--weights", "0.3,0.7"])
    assert set(table.weights) == {"0.3,0.7"}
    csv = pd.read_csv(out / "stability.csv")
    assert len(csv) == len(table) and {M.ADV_SQ_MEAN, M.GRAD_NORM, M.group_std("length")} <= set(csv.metric)
    # DVAO's dynamic weights sum to 1 at every step, smoothing included (a moving average keeps sums)
    w = csv[(csv.method == "dvao") & csv.metric.str.startswith("weight/")].groupby(M.STEP)["mean"].sum()
    assert np.allclose(w, 1.0)
    for ext in ("png", "pdf"):
        assert (out / f"stability_math_tiny_w0.3-0.7.{ext}").stat().st_size > 1000
    assert "![stability_math_tiny_w0.3-0.7](stability_math_tiny_w0.3-0.7.png)" in (out / "stability.md").read_text()
    with pytest.raises(SystemExit):
        stability.main([str(tmp_path / "runs"), "--out", str(out), "--weights", "0.1,0.9"])


@pytest.fixture
def ablation_runs(tmp_path):
    root = tmp_path / "runs"
    for G in (2, 8):
        for noise in (0.0, 0.5):
            synthetic.write_sweep(root, methods=("rc", "gdpo", "dvao"), w0s=(0.5,), seeds=(0, 1, 2), steps=4, G=G,
                                  extra={"noise": noise}, noise=0.002)
    return root


@pytest.mark.parametrize("by, other", [("G", "noise"), ("noise", "G")])
def test_ablation_cli_tables_match_the_summaries(ablation_runs, tmp_path, by, other):
    out = tmp_path / "out"
    summary = ablation.main([str(ablation_runs), "--by", by, "--out", str(out)])
    csv = pd.read_csv(out / f"ablation_{by}.csv")
    # the other varying axis splits the runs into 2 panels; 3 methods x 2 levels x (hypervolume + 2 axes) each
    assert len(csv) == len(summary) == 2 * 3 * 2 * 3
    assert sorted(csv.panel.unique()) == [f"math / tiny / {other}={v}" for v in (("0", "0.5") if other == "noise"
                                                                                 else ("2", "8"))]
    runs = pd.DataFrame([json.loads(p.read_text()) for p in ablation_runs.rglob("summary.json")])
    for (method, level, other_value), grp in runs.groupby(["method", by, other]):
        per_seed = grp.groupby("seed")["eval/accuracy"].mean()
        row = csv[(csv.method == method) & (csv[by] == level) & (csv.metric == "eval/accuracy")
                  & csv.panel.str.endswith(f"{other}={other_value:g}")].iloc[0]
        assert row["mean"] == pytest.approx(per_seed.mean()) and row["std"] == pytest.approx(per_seed.std())
        assert row["n_seeds"] == 3
    # the synthetic radii make dvao best in every column, and only dvao
    assert set(csv[csv.best].method) == {"dvao"} and csv.best.sum() == 2 * 2 * 3
    md = (out / f"ablation_{by}.md").read_text()
    assert md.count("| **") == 2 * 2 * 3 and f"{by}=" in md
    tex = (out / f"ablation_{by}.tex").read_text()
    assert tex.count(r"\begin{tabular}") == 2 * 3 and r"\textbf{" in tex and r"$\pm$" in tex


def test_ablation_bolds_nothing_one_seed_decides_and_says_what_cells_are(tmp_path):
    root = tmp_path / "runs"
    synthetic.write_sweep(root, methods=("rc", "dvao"), w0s=(0.5,), seeds=(0,), steps=4, G=2)
    synthetic.write_sweep(root, methods=("rc", "dvao"), w0s=(0.5,), seeds=(0, 1), steps=4, G=8)
    summary = ablation.main([str(root), "--by", "G", "--out", str(tmp_path / "out")])
    assert not summary[summary.G == 2].best.any()                   # one seed per cell at G = 2: no bold
    assert set(summary[(summary.G == 8) & summary.best].method) == {"dvao"}
    md = (tmp_path / "out" / "ablation_G.md").read_text()
    assert "sample std (n - 1)" in md and "(mean ± std over 1-2 seeds)" in md


def test_ablation_marks_the_lowest_regret(tmp_path):
    per_seed = pd.DataFrame([{"panel": "p", "task": "bandit", "method": m, "G": 4, "seed": s,
                              "hypervolume": 0.5, "eval/regret": r + 0.001 * s}
                             for m, r in (("rc", 0.01), ("dvao", 0.02)) for s in (0, 1)])
    best = ablation.summarise(per_seed, "G").set_index(["metric", "method"]).best
    assert best[("eval/regret", "rc")] and not best[("eval/regret", "dvao")]


def test_ablation_rejects_an_axis_the_runs_lack(tmp_path, capsys):
    synthetic.write_run(tmp_path / "runs", method="rc", steps=4)
    with pytest.raises(SystemExit):
        ablation.main([str(tmp_path / "runs"), "--by", "noise", "--out", str(tmp_path / "out")])
    assert "--by noise needs run columns ['noise']" in capsys.readouterr().err


def test_table_formatting():
    means = pd.DataFrame({"a": [0.1, 0.3, 0.3], "b": [np.nan, 0.2, 0.1]}, index=pd.Index(["x", "y", "z"], name="m"))
    bold = best_mask(means)
    assert bold.values.tolist() == [[False, False], [True, True], [True, False]]
    assert mean_std(0.5, np.nan) == "0.500" and mean_std(0.5, 0.01) == "0.500 ± 0.010"
    md = markdown(means, bold)
    assert md.splitlines()[0] == "| m | a | b |" and "| x | 0.100 | – |" in md and "| y | **0.300** | **0.200** |" in md
    assert r"\textbf{0.300}" in latex(means, bold) and "x & 0.100 & --" in latex(means, bold)


def test_k_ablation_compares_on_the_axes_every_k_shares():
    from analysis import frontier as F

    runs = pd.DataFrame({
        "task": "math", "model": "tiny", "method": ["rc", "rc", "dvao", "dvao"], "seed": 0, "K": [2, 3, 2, 3],
        "eval_axes": [("accuracy", "length"), ("accuracy", "length", "format")] * 2,
        "eval/accuracy": [0.5, 0.4, 0.6, 0.2], "eval/length": [0.5, 0.5, 0.5, 1.0], "eval/format": [0.9, 1.0, 0.8, 1.0],
    })
    with pytest.raises(ValueError, match="disagree on eval_axes"):
        F.axes_of(runs)
    assert F.axes_of(runs, shared=True) == ["eval/accuracy", "eval/length"]
    per_seed = ablation.seed_metrics(runs, "K")
    hv = per_seed.set_index(["method", "K"])["hypervolume"]
    # one point per cell: the box [0, accuracy] x [0, length], the format axis left out
    assert hv.to_dict() == pytest.approx({("rc", 2): 0.25, ("rc", 3): 0.2, ("dvao", 2): 0.3, ("dvao", 3): 0.2})


def test_ablation_leaves_a_nan_eval_out_instead_of_showing_a_zero(tmp_path):
    root = tmp_path / "runs"
    for G in (2, 8):
        synthetic.write_sweep(root, methods=("rc", "dvao"), w0s=(0.5,), seeds=(0, 1), steps=2, G=G)
    for seed in (0, 1):    # every rc run at G=2 lost its eval (e.g. a crashed evaluation wrote null)
        path = root / "math" / "tiny" / "synthetic" / f"rc_w0.5_G2_s{seed}" / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "eval/length_ok": None}))
    with pytest.warns(UserWarning, match="ignoring 2 runs with a missing \\(NaN\\) eval metric: .*rc_w0.5_G2_s0"):
        summary = ablation.main([str(root), "--by", "G", "--out", str(tmp_path / "out")])
    assert summary[(summary.method == "rc") & (summary.G == 2)].empty        # no cell at all, least of all a 0
    assert (summary[summary.metric == "hypervolume"]["mean"] > 0.3).all()
    md = (tmp_path / "out" / "ablation_G.md").read_text()
    rc_rows = [line for line in md.splitlines() if line.startswith("| rc |")]
    assert rc_rows and all(line.split("|")[2].strip() == "–" for line in rc_rows)
    assert "0.000" not in md
