"""analysis/style.py: every registered estimator and every conf/method has its own colour and marker."""
from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
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
