"""The docs are part of the product (issue 15): the README stays an entry point, every page is reachable
from it, no relative link or anchor is dead, every CLI's documented flags are exactly its ``--help``
flags, and every make target and sweep is documented."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md")), *sorted((DOCS / "figures").glob("*.md"))]
# Every command-line tool besides `python -m workbench.run` (a Hydra app, documented by its keys).
CLIS = ("analysis.pareto", "analysis.stability", "analysis.ablation", "analysis.wandb_report", "analysis.dashboard",
        "workbench.sim.report", "workbench.tasks.math_report", "workbench.models.random_real")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks (headings and links inside code are not Markdown)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        lines.append("" if fenced or line.startswith("```") else line)
    return lines


def headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line index, level, text) of every Markdown heading."""
    return [(i, len(m.group(1)), m.group(2).strip()) for i, line in enumerate(lines)
            if (m := re.match(r"^(#{1,6})\s+(.*)$", line))]


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -N for repeats."""
    seen: dict[str, int] = {}
    out = set()
    for _, _, text in headings(prose(page.read_text())):
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_readme_is_an_entry_point():
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines: move reference material to docs/"
    text = README.read_text()
    for command in ("make run", "make test", "make sweep-math", "python -m workbench.run method=dvao G=16",
                    "python -m analysis.pareto runs/"):
        assert command in text, f"the README must show `{command}`"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_exist(page):
    dead = []
    for line in prose(page.read_text()):
        for link in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"^[a-z]+:", link):  # http:, https:, mailto:
                continue
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                dead.append(link)
            elif anchor and target.suffix == ".md" and anchor not in anchors(target):
                dead.append(f"{link} (no such heading)")
    assert not dead, f"{page.relative_to(ROOT)}: dead links {dead}"


def test_every_docs_page_is_linked_from_the_readme():
    text = README.read_text()
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if f"(docs/{p.name}" not in text]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def cli_section(cli: str) -> tuple[Path, str]:
    """The one docs section headed by `python -m CLI`: its page and its text up to the next heading of
    the same or a higher level."""
    found = []
    for page in PAGES:
        lines = prose(page.read_text())
        heads = headings(lines)
        for k, (i, level, text) in enumerate(heads):
            if text == f"`python -m {cli}`":
                end = next((j for j, lv, _ in heads[k + 1:] if lv <= level), len(lines))
                found.append((page, "\n".join(lines[i + 1:end])))
    assert len(found) == 1, f"`python -m {cli}` needs exactly one docs section headed by it, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("cli", CLIS)
def test_documented_flags_match_help(cli):
    res = subprocess.run([sys.executable, "-m", cli, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    flags = set(FLAG.findall(res.stdout)) - {"--help"}
    assert flags, f"{cli} --help lists no options: {res.stdout}"
    page, body = cli_section(cli)
    documented = set(re.findall(r"`(--[a-z][a-z0-9-]*)", body))
    mentioned = set(FLAG.findall(body)) - {"--help"}
    assert not flags - documented, f"{page.name}: {cli} flags not documented: {sorted(flags - documented)}"
    assert not mentioned - flags, f"{page.name}: {cli} section names flags it does not have: {sorted(mentioned - flags)}"


def test_every_make_target_and_sweep_is_documented():
    docs = "\n".join(p.read_text() for p in PAGES)
    targets = re.findall(r"^([a-zA-Z_-]+):.*?## ", (ROOT / "Makefile").read_text(), flags=re.M)
    assert "sweep-study" in targets and "test" in targets
    undocumented = [t for t in targets if f"make {t}" not in docs]
    assert not undocumented, f"make targets no docs page mentions: {undocumented}"
    sweeps = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))
    missing = [s for s in sweeps if f"`{s}`" not in docs]
    assert not missing, f"sweeps/*.yaml that no docs page names (as `name`): {missing}"
