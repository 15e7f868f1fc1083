"""The dashboard in a real browser (issue 25): a small finished sweep logged to trackio, the dashboard started
as a user starts it, and headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) asserting on
what renders: trackio's run list and metric panels at /, the live Pareto page's points, fronts and legend at
/pareto. Screenshots go to reports/dashboard-check/.

Kept out of `make test` (marker ``browser``): `make dashboard-check` installs Chromium and Playwright when
missing and runs this file (docs/analysis.md#the-live-dashboard)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.dashboard_support import METHODS, WEIGHTS, dashboard, trackio_sweep

pytestmark = pytest.mark.browser
HOW = "run `make dashboard-check`: it installs Debian's chromium and Playwright, then runs this test"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# the flags this machine needs (no sandbox as root; no background connections: the network is closed)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "reports" / "dashboard-check"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason=f"Playwright is not installed; {HOW}")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed; {HOW}")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def test_trackio_panels_and_the_live_pareto_page_render(browser, tmp_path):
    runs = trackio_sweep(tmp_path)
    names = [f"demo/bandit/{m}-tiny-G8-w{w.strip('[]').replace(',', '-')}-s0" for m in METHODS for w in WEIGHTS]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with dashboard(runs / "demo", tmp_path / "home") as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        page.goto(f"{url}/?project=dvao-workbench")
        page.get_by_text(names[0]).first.wait_for(timeout=60_000)   # the run list
        text = page.inner_text("body")
        assert all(name in text for name in names), text[:2000]
        for section in ("advantage (4)", "reward (3)", "weight (2)", "eval ("):   # the metric panels, by key section
            page.get_by_text(section).first.wait_for(timeout=30_000)
        assert page.locator("svg").count() > 4   # the plots are drawn
        page.screenshot(path=str(SHOTS / "trackio.png"))

        page.goto(f"{url}/pareto")
        page.locator("path.point").first.wait_for(timeout=30_000)
        assert page.locator("section.panel h2").all_inner_texts() == ["bandit / tabular"]
        assert page.locator("path.run").count() == len(names)   # every finished run, once
        assert sorted(page.locator("path.run").evaluate_all("ps => ps.map(p => 'demo/' + p.dataset.run)")) == sorted(names)
        assert page.locator("path.point").count() == len(names)   # one seed: a sweep point per run
        assert page.locator("path.front-line").count() == len(METHODS)   # one staircase per method
        legend = page.locator(".legend .entry").all_inner_texts()
        assert legend == [f"{m} (2 runs)" for m in METHODS]
        assert page.locator("#runs tbody tr").count() == len(names)
        assert "8 done" in page.inner_text("#status")
        page.screenshot(path=str(SHOTS / "pareto.png"), full_page=True)
        page.close()
    assert (SHOTS / "trackio.png").stat().st_size > 10_000 and (SHOTS / "pareto.png").stat().st_size > 10_000
