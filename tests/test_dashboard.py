"""The live dashboard (issue 25) without a browser: the Pareto page's data from the run store (panels, fronts,
counts, unfinished and broken runs, live updates), and the real server started as a user starts it, serving
that data and trackio's API at one port. The page in headless Chromium: tests/test_dashboard_browser.py."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from analysis import style
from analysis.dashboard.live import LiveSnapshot, pareto_panels, run_table
from analysis.dashboard.server import find_trackio_dir
from analysis.synthetic import write_run, write_sweep
from tests.conftest import ROOT
from tests.dashboard_support import METHODS, WEIGHTS, dashboard, trackio_sweep


def fetch(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return json.loads(text) if "json" in response.headers.get("Content-Type", "") else text


def test_panels_hold_every_finished_run_once_with_each_methods_front(tmp_path):
    write_sweep(tmp_path, methods=("rc", "ac", "dvao", "my_est"), w0s=(0.1, 0.5, 0.9), seeds=(0, 1), bulk=True)
    write_run(tmp_path, method="gdpo", status="running")
    write_run(tmp_path, method="gdpo", seed=1, status="failed")
    data = pareto_panels(tmp_path)
    (panel,) = data["panels"]
    assert panel["label"] == "math / tiny" and panel["axes"] == ["eval/accuracy", "eval/length_ok"]
    assert [m["name"] for m in panel["methods"]] == ["rc", "ac", "dvao", "my_est"]   # the figures' order
    for m in panel["methods"]:
        assert len(m["runs"]) == 6 and len(m["points"]) == 3 and all(p["n_seeds"] == 2 for p in m["points"])
        assert m["color"] == style.color(m["name"]) and m["marker"] == style.marker(m["name"])
        (stairs,) = m["fronts"]   # one pair of axes
        front = np.array([p["values"] for p in m["points"] if p["on_front"]])
        assert {tuple(p) for p in stairs} >= {tuple(p) for p in front}   # the staircase passes through its front
    assert sorted(why.split(":")[0] for _, why in data["skipped"]) == ["status.json", "status.json"]
    statuses = {r["run"].split("/")[-1]: r["status"] for r in run_table(tmp_path)}
    assert statuses["gdpo_w0.5_G8_s0"] == "stale" and statuses["gdpo_w0.5_G8_s1"] == "failed"   # no live writer
    json.dumps(data, allow_nan=False)   # what the server sends: strict JSON


def test_three_axes_give_one_staircase_per_pair(tmp_path):
    write_sweep(tmp_path, methods=("rc", "dvao"), w0s=(0.1, 0.5, 0.9), seeds=(0,), axes=3, bulk=True)
    (panel,) = pareto_panels(tmp_path)["panels"]
    assert len(panel["axes"]) == 3 and [list(p) for p in panel["pairs"]] == [[0, 1], [0, 2], [1, 2]]
    assert all(len(m["fronts"]) == 3 and all(m["fronts"]) for m in panel["methods"])


def test_an_empty_folder_waits_and_the_page_updates_when_a_run_finishes(tmp_path):
    live = LiveSnapshot(tmp_path)
    first = live.get()
    assert first["panels"] == [] and "no run directories" in first["error"] and first["runs"] == []
    assert live.get()["version"] == first["version"]   # nothing changed: the same panels
    write_run(tmp_path, method="dvao", w0=0.5)
    second = live.get()
    assert second["version"] != first["version"] and second["error"] is None
    assert [len(m["runs"]) for m in second["panels"][0]["methods"]] == [1]


def test_the_trackio_folder_is_found_in_the_runs_root_above_a_sweep(tmp_path):
    assert find_trackio_dir(tmp_path) is None
    (tmp_path / ".trackio").mkdir()
    assert find_trackio_dir(tmp_path / "demo") is None   # not marked: not the workbench's
    (tmp_path / ".trackio" / ".workbench-trackio").write_text("{}")
    assert find_trackio_dir(tmp_path / "demo") == (tmp_path / ".trackio").resolve()


def test_the_dashboard_serves_the_pareto_data_and_trackios_runs_on_one_port(tmp_path):
    runs = trackio_sweep(tmp_path)
    names = sorted(f"demo/bandit/{m}-tiny-G8-w{w.strip('[]').replace(',', '-')}-s0" for m in METHODS for w in WEIGHTS)
    with dashboard(runs / "demo", tmp_path / "home") as (url, lines):
        assert f"{url}/?project=dvao-workbench" in "".join(lines)
        data = fetch(f"{url}/pareto/data.json")
        assert len(data["runs"]) == 8 and {r["status"] for r in data["runs"]} == {"done"}
        (panel,) = data["panels"]
        assert {m["name"]: len(m["runs"]) for m in panel["methods"]} == {m: 2 for m in METHODS}
        assert "Live Pareto fronts" in fetch(f"{url}/pareto") and "<title>Trackio" in fetch(f"{url}/")
        trackio_runs = fetch(f"{url}/api/get_runs_for_project", {"project": "dvao-workbench"})["data"]
        assert sorted(r["name"] for r in trackio_runs) == names
        keys = fetch(f"{url}/api/get_metrics_for_run", {"project": "dvao-workbench", "run": names[0]})["data"]
        assert {"reward/obj1/mean", "weight/obj2/effective", "eval/hv_frac"} <= set(keys)
        # a run that finishes while the dashboard is up shows at the next poll (here a run of another task)
        write_run(runs / "demo", method="dvao")
        again = fetch(f"{url}/pareto/data.json")
        assert again["version"] != data["version"] and [p["label"] for p in again["panels"]] == [
            "bandit / tabular", "math / tiny"] and len(again["runs"]) == 9
    assert not [p for p in (tmp_path / "home").rglob("*") if "trackio" in str(p).lower()]


def test_without_trackio_data_nothing_is_written_into_the_runs(tmp_path):
    write_sweep(tmp_path / "runs", methods=("rc", "dvao"), w0s=(0.5,), seeds=(0,), bulk=True)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with dashboard(tmp_path / "runs", tmp_path / "home") as (url, lines):
        assert "no readable trackio data" in "".join(lines)
        assert len(fetch(f"{url}/pareto/data.json")["panels"][0]["methods"]) == 2
        assert fetch(f"{url}/api/get_all_projects", {})["data"] == []
    assert sorted(str(p) for p in tmp_path.rglob("*") if "home" not in p.parts) == before


def test_a_damaged_trackio_database_leaves_the_pareto_page_up(tmp_path):
    write_sweep(tmp_path / "runs", methods=("rc",), w0s=(0.5,), seeds=(0,), bulk=True)
    (tmp_path / "runs" / ".trackio").mkdir()
    (tmp_path / "runs" / ".trackio" / ".workbench-trackio").write_text("{}")
    (tmp_path / "runs" / ".trackio" / "dvao-workbench.db").write_bytes(b"not sqlite" * 50)
    with dashboard(tmp_path / "runs", tmp_path / "home") as (url, lines):
        assert "not a readable trackio database" in "".join(lines)
        assert len(fetch(f"{url}/pareto/data.json")["panels"]) == 1
    assert (tmp_path / "runs" / ".trackio" / "dvao-workbench.db").read_bytes() == b"not sqlite" * 50   # untouched


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.dashboard", *args], cwd=ROOT, text=True, timeout=60,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_bad_arguments_and_a_taken_port_say_what_to_do(tmp_path):
    res = cli(str(tmp_path / "missing"))
    assert res.returncode == 2 and "is not a folder" in res.stdout and "runs/" in res.stdout
    res = cli(str(tmp_path), "--port", "70000")
    assert res.returncode == 2 and "not a port number" in res.stdout
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        res = cli(str(tmp_path), "--port", str(taken.getsockname()[1]))
    assert res.returncode == 1 and "is in use" in res.stdout and "--port 0" in res.stdout
    assert sorted(Path(tmp_path).iterdir()) == []   # nothing written
