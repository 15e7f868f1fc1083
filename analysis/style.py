"""One colour, marker and name per method, shared by every figure (STYLE.md: one name everywhere).

Importing this module selects matplotlib's non-interactive Agg backend, so plotting works on a headless
machine and never opens a window. The legend label of a method is its registry key (``dvao``, not "DVAO").
"""
from __future__ import annotations

import zlib

import matplotlib

matplotlib.use("Agg")

# The paper's methods first, then the two baselines; this order is also the row order of every table.
METHODS = ("rc", "ac", "gdpo", "dvao", "grpo_nostd", "single")

# Colour-blind-safe (Okabe-Ito) colours, fixed per method so a method looks the same in every figure.
COLORS = {
    "rc": "#0072B2",
    "ac": "#E69F00",
    "gdpo": "#009E73",
    "dvao": "#D55E00",
    "grpo_nostd": "#CC79A7",
    "single": "#7F7F7F",
}
MARKERS = {"rc": "o", "ac": "s", "gdpo": "^", "dvao": "D", "grpo_nostd": "v", "single": "X"}

# Methods registered after this file was written still get a stable colour: a hash of the name (not
# its position in some list) picks it, so it is the same in every figure and every run of the tools.
_FALLBACK = ("#56B4E9", "#F0E442", "#8C564B", "#17BECF", "#BCBD22", "#9467BD", "#1F77B4", "#2CA02C")


def color(method: str) -> str:
    """The matplotlib colour of ``method``."""
    return COLORS.get(method) or _FALLBACK[zlib.crc32(method.encode()) % len(_FALLBACK)]


def marker(method: str) -> str:
    """The scatter marker of ``method``."""
    return MARKERS.get(method) or "P"


def label(method: str) -> str:
    """The legend label of ``method``: the registry key itself."""
    return method


def method_order(methods) -> list[str]:
    """``methods`` in the canonical order (known methods first in METHODS order, then the rest sorted)."""
    present = set(methods)
    known = [m for m in METHODS if m in present]
    return known + sorted(present - set(METHODS))


def save(fig, path_stem) -> list[str]:
    """Write ``fig`` as ``<stem>.png`` (150 dpi) and ``<stem>.pdf``; returns both paths."""
    paths = [f"{path_stem}.png", f"{path_stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths
