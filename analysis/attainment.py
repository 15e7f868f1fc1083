"""Empirical attainment functions across seeds (moocore.eaf, moocore.eafdiff) for 2-D panels, and plots.

A method's seed is one set of points (its runs at every weight setting, as for the hypervolume). The
k% attainment surface bounds the region that at least k% of the seeds reach (every axis maximised):
"best" is the 0% surface (reached by at least one seed), "median" the 50% one (at least half) and
"worst" the 100% one (every seed). The EAF difference of methods A and B at a point is the share of
A's seeds reaching it minus the share of B's: positive where A does better more often.
moocore minimises, its eaf takes each set's rows as one contiguous block, and its eafdiff assumes
equally many sets on each side: points are negated and sorted by seed for ``eaf``, and ``eafdiff`` compares the seeds both methods share (or, with fewer than two shared, the
first min(n_A, n_B) seeds of each).
"""
from __future__ import annotations

import moocore
import numpy as np
import pandas as pd

from analysis import style

SURFACES = {"best": 0.0, "median": 50.0, "worst": 100.0}


def surfaces(points, sets) -> dict[str, np.ndarray]:
    """name -> (M, 2) points of the best, median and worst attainment surfaces (maximising), x ascending.
    points: (N, 2) finite; sets: (N,) the seed of each point."""
    points, sets = np.asarray(points, dtype=float), np.asarray(sets)
    # moocore.eaf reads the set sizes from the ids but takes the rows in order: each set's rows must be
    # contiguous (unsorted ids silently give wrong surfaces)
    order = np.argsort(sets, kind="stable")
    eaf = moocore.eaf(-points[order], sets[order], percentiles=list(SURFACES.values()))
    out = {}
    for name, pct in SURFACES.items():
        sel = -eaf[np.isclose(eaf[:, 2], pct), :2]
        out[name] = sel[np.argsort(sel[:, 0], kind="stable")]
    return out


def eaf_table(runs: pd.DataFrame, axes_by: dict) -> pd.DataFrame:
    """Long table of every 2-D panel's surfaces: panel, method, surface, percentile, x_axis, x, y_axis, y."""
    rows = []
    for (panel, method), grp in runs.groupby(["panel", "method"], sort=True):
        axes = axes_by[panel]
        if len(axes) != 2:
            continue
        for name, pts in surfaces(grp[axes].to_numpy(), grp["seed"].to_numpy()).items():
            rows += [(panel, method, name, SURFACES[name], axes[0], x, axes[1], y) for x, y in pts]
    return pd.DataFrame(rows, columns=["panel", "method", "surface", "percentile", "x_axis", "x", "y_axis", "y"])


def _matched_seeds(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    shared = sorted(set(a.seed) & set(b.seed))
    if len(shared) < 2:
        n = min(a.seed.nunique(), b.seed.nunique())
        return a[a.seed.isin(sorted(a.seed.unique())[:n])], b[b.seed.isin(sorted(b.seed.unique())[:n])], n
    return a[a.seed.isin(shared)], b[b.seed.isin(shared)], len(shared)


def difference(a: pd.DataFrame, b: pd.DataFrame, axes: list[str]) -> tuple[np.ndarray, int]:
    """(R, 5) rectangles (x0, y0, x1, y1, share of A's seeds - share of B's reaching them) and the number
    of seeds per side used. a, b: runs of the two methods (``seed`` and the 2 ``axes`` columns)."""
    a, b, n = _matched_seeds(a, b)

    def sets(runs):
        _, ids = np.unique(runs.seed.to_numpy(), return_inverse=True)
        return np.column_stack([runs[axes].to_numpy(dtype=float), ids + 1])
    rects = moocore.eafdiff(sets(a), sets(b), maximise=True, rectangles=True)
    rects[:, 4] /= n
    return rects, n


def staircase(front: np.ndarray, lower=None) -> tuple[np.ndarray, np.ndarray]:
    """x, y of the boundary of the region a maximising 2-D front (F, 2) dominates; with ``lower`` (2,),
    extended down to the axes there. Each step drops from one point to the next one's height first."""
    front = front[np.argsort(front[:, 0], kind="stable")]
    xs, ys = [], []
    if lower is not None and len(front):
        xs.append(lower[0]), ys.append(front[0, 1])
    for i, (x, y) in enumerate(front):
        if i:
            xs.append(front[i - 1, 0]), ys.append(y)
        xs.append(x), ys.append(y)
    if lower is not None and len(front):
        xs.append(front[-1, 0]), ys.append(lower[1])
    return np.array(xs), np.array(ys)


def _limits(points: np.ndarray, ref) -> tuple[np.ndarray, np.ndarray]:
    lo = np.minimum(np.nanmin(points, axis=0), ref)
    hi = np.nanmax(points, axis=0)
    pad = 0.04 * np.maximum(hi - lo, 1e-9)
    return lo - pad, hi + pad


def plot_surfaces(runs: pd.DataFrame, axes: list[str], ref, title: str, stem) -> list[str]:
    """First panel: every method's median surface; then one panel per method with best, median and worst."""
    import matplotlib.pyplot as plt

    methods = style.method_order(runs.method.unique())
    lo, hi = _limits(runs[axes].to_numpy(dtype=float), ref)
    fig, subplots = plt.subplots(1, len(methods) + 1, figsize=(3.6 * (len(methods) + 1), 3.6), sharex=True, sharey=True,
                                 squeeze=False)
    overview = subplots[0][0]
    for ax, m in zip(subplots[0][1:], methods):
        grp = runs[runs.method == m]
        surf = surfaces(grp[axes].to_numpy(), grp.seed.to_numpy())
        for name, ls in (("best", "--"), ("median", "-"), ("worst", ":")):
            ax.plot(*staircase(surf[name], lo), color=style.color(m), ls=ls, lw=1.3, label=name)
        overview.plot(*staircase(surf["median"], lo), color=style.color(m), lw=1.5, ls=style.linestyle(m),
                      label=style.label(m))   # its line style: surfaces that coincide stay visible
        ax.set_title(f"{m} ({grp.seed.nunique()} seeds)", fontsize=9), ax.legend(fontsize=7, loc="lower left")
    overview.set_title("median attainment surfaces", fontsize=9), overview.legend(fontsize=7, loc="lower left")
    for ax in subplots[0]:
        ax.set_xlim(lo[0], hi[0]), ax.set_ylim(lo[1], hi[1]), ax.grid(alpha=0.3), ax.set_xlabel(axes[0], fontsize=8)
    overview.set_ylabel(axes[1], fontsize=8)
    fig.suptitle(f"{title}: empirical attainment surfaces across seeds", fontsize=10)
    fig.tight_layout()
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths


def paint(rects: np.ndarray, lo, hi, pixels: int = 400) -> np.ndarray:
    """(pixels, pixels) image of the rectangles' values over [lo, hi] (row 0 at the bottom; NaN where no
    rectangle or a zero difference). An image instead of thousands of patches: 40 seeds a side give
    about 12,000 rectangles, which take seconds to draw as patches and almost nothing as an image."""
    cx = lo[0] + (np.arange(pixels) + 0.5) * (hi[0] - lo[0]) / pixels
    cy = lo[1] + (np.arange(pixels) + 0.5) * (hi[1] - lo[1]) / pixels
    x0, x1 = np.sort(rects[:, [0, 2]], axis=1).T
    y0, y1 = np.sort(rects[:, [1, 3]], axis=1).T
    i0, i1 = np.searchsorted(cx, x0), np.searchsorted(cx, x1)
    j0, j1 = np.searchsorted(cy, y0), np.searchsorted(cy, y1)
    image = np.full((pixels, pixels), np.nan)
    for a, b, c, d, v in zip(j0, j1, i0, i1, rects[:, 4]):
        if v != 0:
            image[a:b, c:d] = v
    return image


def plot_difference(runs: pd.DataFrame, a: str, b: str, axes: list[str], ref, title: str, stem) -> list[str]:
    """The EAF difference (a minus b) as a colour map, both methods' median surfaces on top."""
    import matplotlib.pyplot as plt

    ra, rb = runs[runs.method == a], runs[runs.method == b]
    rects, n = difference(ra, rb, axes)
    lo, hi = _limits(runs[axes].to_numpy(dtype=float), ref)
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    im = ax.imshow(paint(rects, lo, hi), origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto",
                   cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    for m, grp in ((a, ra), (b, rb)):
        median = surfaces(grp[axes].to_numpy(), grp.seed.to_numpy())["median"]
        ax.plot(*staircase(median, lo), color=style.color(m), lw=1.6, label=f"{m} median")
    fig.colorbar(im, ax=ax, label=f"share of {a}'s seeds reaching it - share of {b}'s")
    ax.set_xlim(lo[0], hi[0]), ax.set_ylim(lo[1], hi[1]), ax.grid(alpha=0.3), ax.legend(fontsize=8, loc="lower left")
    ax.set_xlabel(axes[0]), ax.set_ylabel(axes[1])
    ax.set_title(f"{title}: EAF difference {a} - {b} ({n} seeds each)\nred: {a} reaches it more often; "
                 f"blue: {b}", fontsize=9)
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths
