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

# One colour, marker and line style per method, keyed by the registry / conf/method name and fixed, so a
# method looks the same in every figure. The palette is chosen to read at a glance (tests/test_style.py
# measures it): every colour, the fallbacks included, has at least 3:1 contrast against the white
# background (WCAG 2.1's minimum for graphics), and the colours are far apart in CAM02-UCS, also under
# simulated deuteranopia, protanopia and tritanopia (colorspacious): the paper's four and the two
# baselines (rc blue, ac brown, gdpo green, dvao vermilion, grpo_nostd pink, single grey: Okabe-Ito's
# hues where they have the contrast) by at least 15 units with normal vision and 6 with any of the three,
# all twelve by at least 12 with normal vision. Where two colours come close under a colour-vision
# deficiency the marker and the line style still tell the methods apart: each named method has its own.
COLORS = {
    "rc": "#0072B2",
    "ac": "#925C2E",               # Okabe-Ito's orange lacks the contrast; darkened it merges with dvao's vermilion
    "gdpo": "#009E73",
    "dvao": "#D55E00",
    "grpo_nostd": "#CC79A7",
    "single": "#7F7F7F",
    "mo_grpo": "#6B6B00",          # ac's function under a second name: olive
    "gd2po": "#54932F",            # GDPO's child: a yellower green
    "rdpo": "#7B3294",             # purple
    "rc_shrink": "#1F5D5A",        # RC's child: dark teal (a lighter blue than rc would lack the contrast)
    "dvao_shrink": "#8C1C13",      # DVAO's children: dark red and red
    "dvao_shrink_ema": "#CD0106",
    "jspo": "#737AFC",             # the shrinkage paper's own estimator: periwinkle, apart from rc_shrink's teal
}
MARKERS = {"rc": "o", "ac": "s", "gdpo": "^", "dvao": "D", "grpo_nostd": "v", "single": "X",
           "mo_grpo": "p", "gd2po": ">", "rdpo": "P", "rc_shrink": "h", "dvao_shrink": "d", "dvao_shrink_ema": "*",
           "jspo": (8, 1, 0)}
# Line styles of curves (stability, profiles, attainment): when curves coincide (the static weights of
# rc, ac and gdpo) the dashes of the upper ones leave the lower ones visible.
LINESTYLES = {"rc": "-", "ac": (0, (5, 2)), "gdpo": (0, (1.5, 1.5)), "dvao": "-", "grpo_nostd": (0, (6, 2, 1.5, 2)),
              "single": (0, (3, 3)), "mo_grpo": (0, (8, 3)), "gd2po": (0, (4, 1.5, 1.5, 1.5, 1.5, 1.5)),
              "rdpo": (0, (2, 3)), "rc_shrink": (0, (10, 2)), "dvao_shrink": (0, (5, 1.5, 1.5, 1.5)),
              "dvao_shrink_ema": (0, (1, 2.5)), "jspo": (0, (3, 1, 1, 1, 1, 1))}

# A method named in no list above (an ad-hoc config) still gets a stable colour, marker and line style: a
# hash of the name (not its position in some list) picks each, so it is the same in every figure and every
# run of the tools. The fallback colours meet the same contrast and distance rules.
_FALLBACK = ("#3902F6", "#942E74", "#9E4DDB", "#D610AD", "#2F4B7C", "#00798C", "#B5165E", "#4F4F4F")
# filled shapes no named method uses (a thin "+" is hard to see; "8" and "H" pass for "o" and "h"): a left
# triangle and 4- and 6-pointed stars (matplotlib's (sides, 1, angle) markers)
_FALLBACK_MARKERS = ("<", (4, 1, 0), (6, 1, 0))
_FALLBACK_LINESTYLES = ((0, (7, 2, 2, 2)), (0, (2, 2, 6, 2)), (0, (9, 3, 3, 3)), (0, (1, 1, 4, 1)))


def _pick(method: str, options):
    return options[zlib.crc32(method.encode()) % len(options)]


def color(method: str) -> str:
    """The matplotlib colour of ``method``."""
    return COLORS.get(method) or _pick(method, _FALLBACK)


def marker(method: str):
    """The scatter marker of ``method``: a matplotlib code ("o") or, for an unlisted method, maybe a star
    (sides, 1, angle)."""
    return MARKERS.get(method) or _pick(method, _FALLBACK_MARKERS)


def linestyle(method: str):
    """The matplotlib line style of ``method``'s curves."""
    return LINESTYLES.get(method) or _pick(method, _FALLBACK_LINESTYLES)


def text_color(background) -> str:
    """Black or white, whichever contrasts more with ``background`` (any matplotlib colour): the text of
    a heatmap cell follows the cell's colour."""
    return "black" if contrast(background, "black") >= contrast(background, "white") else "white"


def contrast(a, b) -> float:
    """WCAG 2.1 contrast ratio of two matplotlib colours (1 to 21)."""
    import matplotlib.colors as mcolors
    import numpy as np

    def luminance(c):
        rgb = np.asarray(mcolors.to_rgb(c))
        lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return float(lin @ [0.2126, 0.7152, 0.0722])

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def shared_legend(fig, axes, **kwargs):
    """One legend for every panel of ``fig`` (the unique labels of ``axes``' artists, in drawing order),
    centred below the panels; the figure is saved with bbox_inches="tight", which takes it in."""
    entries = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    options = dict(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(entries), 7), fontsize=9,
                   frameon=False)
    return fig.legend(list(entries.values()), list(entries), **{**options, **kwargs})


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
