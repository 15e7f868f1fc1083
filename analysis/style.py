"""One colour, marker and name per method, shared by every figure (STYLE.md: one name everywhere).

Importing this module selects matplotlib's non-interactive Agg backend, so plotting works on a headless
machine and never opens a window. The legend label of a method is its registry key (``dvao``, not "DVAO").
"""
from __future__ import annotations

import zlib

import matplotlib

matplotlib.use("Agg")

# The paper's methods first, then the two baselines; this order is also the row order of every table
# (the other methods follow, sorted by name).
METHODS = ("rc", "ac", "gdpo", "dvao", "grpo_nostd", "single")

# One colour and marker per method, keyed by the registry / conf/method name and fixed, so a method looks
# the same in every figure. The paper's four and the baselines use the colour-blind-safe Okabe-Ito set;
# each newer estimator takes a shade of its parent's hue (rc_shrink a lighter blue than rc, the DVAO
# variants darker and lighter vermilion) or a hue no other method uses. tests/test_style.py checks that
# every registered estimator and every conf/method has its own colour and marker.
COLORS = {
    "rc": "#0072B2",
    "ac": "#E69F00",
    "gdpo": "#009E73",
    "dvao": "#D55E00",
    "grpo_nostd": "#CC79A7",
    "single": "#7F7F7F",
    "mo_grpo": "#A6761D",          # ac's function under a second name: a darker orange
    "gd2po": "#66A61E",            # GDPO's child: a yellower green
    "rdpo": "#7B3294",             # purple
    "rc_shrink": "#56B4E9",        # RC's child: sky blue
    "dvao_shrink": "#8C1C13",      # DVAO's children: dark red and salmon
    "dvao_shrink_ema": "#F4A582",
}
MARKERS = {"rc": "o", "ac": "s", "gdpo": "^", "dvao": "D", "grpo_nostd": "v", "single": "X",
           "mo_grpo": "p", "gd2po": ">", "rdpo": "P", "rc_shrink": "h", "dvao_shrink": "d", "dvao_shrink_ema": "*"}

# A method named in no list above (an ad-hoc config) still gets a stable colour: a hash of the name (not
# its position in some list) picks it, so it is the same in every figure and every run of the tools.
_FALLBACK = ("#F0E442", "#8C564B", "#BCBD22", "#9467BD", "#17BECF", "#2CA02C", "#E377C2", "#393B79")


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
