"""Every figure type read as a person reads it (issue 25), rendered from small synthetic sweeps with the real
commands: each panel of a multi-panel figure identifies its methods (a shared legend, per-panel titles or tick
labels), fronts are staircases per method in every panel, heatmap text contrasts with its cell, curves that
coincide stay visible, and every count in a table equals what was used. The figures are captured as they are
saved (Figure.savefig), so what is checked is what lands in the PNG."""
from __future__ import annotations

import itertools

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis import pareto, stability, style
from analysis.synthetic import write_sweep
from workbench.sim import report as sim_report

METHODS = ["rc", "ac", "gdpo", "dvao", "my_est"]   # the paper's four and an unlisted one (fallback style)
W0S, SEEDS = (0.1, 0.5, 0.9), (0, 1)


@pytest.fixture
def saved(monkeypatch):
    """{file stem: Figure} of every figure saved while the test runs (the PNG's; the PDF is the same figure)."""
    figures, original = {}, Figure.savefig

    def record(fig, path, *args, **kwargs):
        figures[str(path).rsplit("/", 1)[-1].rsplit(".", 1)[0]] = fig
        return original(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    write_sweep(root / "two", methods=METHODS, w0s=W0S, seeds=SEEDS, steps=40, bulk=True)
    write_sweep(root / "three", methods=METHODS[:3], w0s=W0S, seeds=SEEDS, axes=3, bulk=True)
    return root


def legend_texts(fig) -> list[str]:
    (legend,) = fig.legends   # one legend for the whole figure
    return [t.get_text() for t in legend.get_texts()]


def staircases(ax) -> dict[str, int]:
    """Per method: the lines of its colour that step (alternating horizontal and vertical segments)."""
    out = {}
    for line in ax.get_lines():
        x, y = (np.asarray(v, float) for v in line.get_data())
        if len(x) >= 3 and np.all((np.diff(x) == 0) | (np.diff(y) == 0)):
            for m in METHODS:
                if mcolors.same_color(line.get_color(), style.color(m)):
                    out[m] = out.get(m, 0) + 1
    return out


def test_pareto_figures_identify_every_method_and_count_what_was_used(sweep, tmp_path, saved):
    pareto.main([str(sweep / "two"), "--out", str(tmp_path / "two"), "--n-boot", "200"])
    front = saved["front_math_tiny"]
    assert legend_texts(front) == METHODS + ["non-dominated run"]
    assert staircases(front.axes[0]) == {m: 1 for m in METHODS}

    poi = saved["poi_math_tiny"]
    ax = poi.axes[0]
    (image,) = ax.get_images()
    grid = image.get_array()
    texts = [t for t in ax.texts if "[" in t.get_text()]
    assert len(texts) == len(METHODS) * (len(METHODS) - 1)
    for t in texts:   # the text of every cell reads against the cell (WCAG AA for text: 4.5:1)
        j, i = (int(round(v)) for v in t.get_position())
        assert style.contrast(t.get_color(), image.cmap(image.norm(grid[i, j]))) >= 4.5, t.get_text()

    hv = saved["hypervolume_math_tiny"]
    assert [t.get_text() for t in hv.axes[0].get_xticklabels()] == METHODS
    eaf = saved["eaf_math_tiny"]
    overview, *per_method = [a for a in eaf.axes if a.get_visible()]
    assert [t.get_text() for t in overview.get_legend().get_texts()] == METHODS
    assert [a.get_title() for a in per_method] == [f"{m} ({len(SEEDS)} seeds)" for m in METHODS]
    assert [t.get_text() for t in saved["profiles"].axes[0].get_legend().get_texts()] == METHODS
    assert [t.get_text() for t in saved["aggregate"].axes[0].get_yticklabels()] == METHODS

    # the counts: 2 seeds x 3 weights = 6 runs per method, in one panel
    out = tmp_path / "two"
    agg = pd.read_csv(out / "aggregate.csv")
    assert (agg.n_runs == 6).all() and (agg.n_seeds == 2).all() and (agg.n_panels == 1).all()
    hv_table = pd.read_csv(out / "hypervolume.csv")
    assert (hv_table.n_seeds == 2).all() and (hv_table.n_weights == 3).all()
    assert (pd.read_csv(out / "dominance.csv").n_points == 3).all()
    imp = pd.read_csv(out / "improvement.csv")
    assert (imp.n_a == 2).all() and (imp.n_b == 2).all()
    assert (pd.read_csv(out / "seed_hypervolume.csv").n_points == 3).all()
    report = (out / "report.md").read_text()
    assert "| method | panels | seeds | runs |" in report.replace("  ", " ")
    for m in METHODS:
        assert f"| {m} | 1 | 2 | 6 |" in report


def test_three_axes_fronts_have_a_staircase_per_method_in_every_pair_and_one_legend(sweep, tmp_path, saved):
    pareto.main([str(sweep / "three"), "--out", str(tmp_path / "three"), "--n-boot", "100"])
    front = saved["front_math_tiny"]
    assert len(front.axes) == 3
    assert legend_texts(front) == METHODS[:3] + ["non-dominated run"]
    labels = [(a.get_xlabel(), a.get_ylabel()) for a in front.axes]
    assert labels == list(itertools.combinations(["eval/accuracy", "eval/length_ok", "eval/format"], 2))
    for ax in front.axes:
        assert staircases(ax) == {m: 1 for m in METHODS[:3]}


def test_stability_grid_has_one_legend_and_coinciding_curves_stay_visible(sweep, tmp_path, saved):
    stability.main([str(sweep / "two"), "--out", str(tmp_path / "stab"), "--weights", "0.5,0.5"])
    fig = saved["stability_math_tiny_w0.5-0.5"]
    panels = [a for a in fig.axes if a.get_visible()]
    assert len(panels) == 10 and legend_texts(fig) == METHODS
    (weights,) = [a for a in panels if a.get_title() == "weight/accuracy/effective"]
    static = [line for line in weights.get_lines() if np.allclose(line.get_ydata(), 0.5)]
    assert len(static) == 4   # rc, ac, gdpo and my_est keep the base weight: the same line four times
    shown = []
    for line in static:   # each draws its own marker at its own steps, so all four are visible
        start, every = line.get_markevery()
        assert line.get_marker() not in ("None", "", None)
        shown.append(set(np.asarray(line.get_xdata())[start::every]))
    assert all(not (a & b) for a, b in itertools.combinations(shown, 2))
    assert len({str(line.get_marker()) for line in static}) == 4   # and its own marker shape
    assert "seeds per method: 2" in (tmp_path / "stab" / "stability.md").read_text()


def test_bandit_sweep_figure_has_one_legend_for_all_panels(tmp_path, saved):
    rng = np.random.default_rng(0)
    runs = pd.DataFrame([{"run": f"{m}-{g}-{s}", "method": m, "seed": s, "G": g, "K": 2, "eval/regret": rng.random(),
                          "eval/front_distance": rng.random(), "eval/hv_frac": rng.random()}
                         for m in METHODS for g in (4, 16) for s in range(3)])
    sim_report.plot(runs, None, "sim_G", "G", tmp_path)
    fig = saved["sim_G"]
    assert len(fig.axes) == 3 and legend_texts(fig) == METHODS
