"""analysis/style.py: every registered estimator and every conf/method has its own colour, marker and line
style, and the palette reads at a glance (contrast, distance under colour-vision deficiency)."""
from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.lines as mlines
import yaml

from analysis import style
from workbench import advantages

METHOD_DIR = Path(__file__).resolve().parents[1] / "conf" / "method"


def every_method() -> set[str]:
    names = set(advantages.names())
    for path in METHOD_DIR.glob("*.yaml"):
        name = yaml.safe_load(path.read_text())["name"]
        if "${" not in name:  # method=custom is named after the estimator it runs
            names.add(name)
    return names


def test_every_method_has_its_own_listed_colour_and_marker():
    methods = sorted(every_method())
    assert {"gd2po", "rdpo", "mo_grpo", "rc_shrink", "dvao_shrink", "dvao_shrink_ema", "single"} <= set(methods)
    missing = [m for m in methods if m not in style.COLORS or m not in style.MARKERS]
    assert not missing, f"add {missing} to analysis/style.py COLORS and MARKERS"
    colours = [mcolors.to_hex(style.color(m)) for m in methods]
    assert len(set(colours)) == len(methods), dict(zip(methods, colours))
    markers = [style.marker(m) for m in methods]
    assert len(set(markers)) == len(methods), dict(zip(methods, markers))


def test_an_unlisted_method_gets_a_stable_colour_of_its_own():
    assert style.color("my_new_estimator") == style.color("my_new_estimator")
    assert mcolors.is_color_like(style.color("my_new_estimator"))
    assert style.color("my_new_estimator") not in style.COLORS.values()


# ---- the palette reads at a glance (issue 25): contrast with the page, distance under colour-vision deficiency
CORE = ("rc", "ac", "gdpo", "dvao", "grpo_nostd", "single")   # the paper's four and the two baselines
CVD = ("deuteranomaly", "protanomaly", "tritanomaly")          # at severity 100: deuteranopia, protanopia, tritanopia


def ucs(colour, cvd=None):
    """The colour in CAM02-UCS (distances there are perceptual), as seen with ``cvd`` (colorspacious)."""
    import colorspacious as cs
    import numpy as np

    rgb = np.asarray(mcolors.to_rgb(colour))
    if cvd:
        rgb = np.clip(cs.cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}, "sRGB1"), 0, 1)
    return cs.cspace_convert(rgb, "sRGB1", "CAM02-UCS")


def closest(colours: dict, cvd=None) -> tuple[float, str, str]:
    import numpy as np

    return min((float(np.linalg.norm(ucs(colours[a], cvd) - ucs(colours[b], cvd))), a, b)
               for a, b in itertools.combinations(colours, 2))


def test_every_colour_has_graphics_contrast_against_the_white_page():
    for name, colour in {**style.COLORS, **{f"fallback {c}": c for c in style._FALLBACK}}.items():
        assert style.contrast(colour, "white") >= 3.0, (name, colour)   # WCAG 2.1 non-text contrast


def test_colours_stay_apart_with_normal_vision_and_under_each_colour_vision_deficiency():
    core = {m: style.COLORS[m] for m in CORE}
    assert closest(core)[0] >= 15
    for cvd in CVD:
        assert closest(core, cvd)[0] >= 6, (cvd, closest(core, cvd))
    every = {**style.COLORS, **{f"fallback {c}": c for c in style._FALLBACK}}
    assert closest(every)[0] >= 12, closest(every)


def test_each_method_has_its_own_marker_and_line_style_and_fallback_markers_are_filled():
    assert set(style.LINESTYLES) == set(style.COLORS) == set(style.MARKERS)
    filled = set(mlines.Line2D.filled_markers)
    assert all(m in filled or isinstance(m, tuple) for m in style._FALLBACK_MARKERS)
    assert not set(style._FALLBACK_MARKERS) & set(style.MARKERS.values())
    assert style.marker("my_new_estimator") == style.marker("my_new_estimator")
    assert style.linestyle("my_new_estimator") == style.linestyle("my_new_estimator")


def test_heatmap_text_colour_contrasts_with_every_cell_colour():
    import matplotlib

    for cmap in ("RdBu_r", "viridis"):
        for value in range(256):
            cell = matplotlib.colormaps[cmap](value)
            assert style.contrast(style.text_color(cell), cell) >= 4.5, (cmap, value)
