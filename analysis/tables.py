"""Table formatting shared by the analysis commands: mean +- std cells, best-per-column marks,
markdown and LaTeX (booktabs) output. Pure functions over pandas DataFrames of strings or numbers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def fmt(value, digits: int = 3) -> str:
    """A number as text; NaN/None become an en dash."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def mean_std(mean: float, std: float, digits: int = 3) -> str:
    """"0.512 ± 0.031"; a single seed (std NaN) shows the mean alone."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def best_mask(means: pd.DataFrame, maximise: bool = True) -> pd.DataFrame:
    """True where a cell holds its column's best mean (ties all marked; NaN never best)."""
    best = means.max() if maximise else means.min()
    return means.eq(best, axis="columns") & means.notna()


def markdown(df: pd.DataFrame, bold: pd.DataFrame | None = None) -> str:
    """A GitHub markdown table of ``df`` (index included); cells where ``bold`` is True are **bold**."""
    cols = [str(df.index.name or "")] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    for i, (idx, row) in enumerate(df.astype(object).iterrows()):
        cells = [fmt(v) for v in row]
        if bold is not None:
            cells = [f"**{c}**" if bold.iloc[i, j] else c for j, c in enumerate(cells)]
        lines.append("| " + " | ".join([str(idx)] + cells) + " |")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("–", "--")):
        text = text.replace(a, b)
    return text


def latex(df: pd.DataFrame, bold: pd.DataFrame | None = None, caption: str | None = None) -> str:
    """A booktabs LaTeX table of ``df``; cells where ``bold`` is True are \\textbf{...}."""
    cols = [str(df.index.name or "")] + [str(c) for c in df.columns]
    out = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * len(df.columns) + "}", r"\toprule",
           " & ".join(_tex(c) for c in cols) + r" \\", r"\midrule"]
    for i, (idx, row) in enumerate(df.astype(object).iterrows()):
        cells = [_tex(fmt(v)) for v in row]
        if bold is not None:
            cells = [rf"\textbf{{{c}}}" if bold.iloc[i, j] else c for j, c in enumerate(cells)]
        out.append(" & ".join([_tex(str(idx))] + cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        out.append(rf"\caption{{{_tex(caption)}}}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"
