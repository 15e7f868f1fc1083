"""analysis.load on run directories written through workbench.store.RunStore (analysis.synthetic)."""
from __future__ import annotations

import json
import math
import warnings

import pytest

from analysis import synthetic
from analysis.load import SkippedRunWarning, load_runs, weights_key
from workbench import metrics as M
from workbench.store import METRICS, STATUS, SUMMARY, RunStore, read_jsonl


@pytest.fixture
def mixed_runs(tmp_path):
    """4 good runs, one failed, one still running, one with a truncated last metrics line (done),
    one with a summary missing keys, one never started (config only)."""
    root = tmp_path / "runs"
    good = synthetic.write_sweep(root, methods=("rc", "dvao"), w0s=(0.3, 0.7), seeds=(0,), steps=12)
    synthetic.write_run(root, method="ac", seed=1, steps=12, status="failed")
    synthetic.write_run(root, method="gdpo", seed=1, steps=12, status="running")
    truncated = synthetic.write_run(root, method="gdpo", seed=2, steps=12, truncate_last=True)
    broken = synthetic.write_run(root, method="ac", seed=3, steps=12)
    summary = json.loads((broken / SUMMARY).read_text())
    del summary["eval_axes"]
    (broken / SUMMARY).write_text(json.dumps(summary))
    never = RunStore(root / "never_started")
    never.write_config("G: 4\n")
    return root, good, truncated


def test_broken_and_partial_runs_are_skipped_with_a_warning_naming_them(mixed_runs):
    root, good, truncated = mixed_runs
    with pytest.warns(SkippedRunWarning) as record:
        tables = load_runs(root)
    message = str(record[0].message)
    assert "skipped 4 of 9 runs" in message
    for name, reason in [("ac_w0.5_G8_s1", "failed at step 6: RuntimeError"), ("gdpo_w0.5_G8_s1", "stale at step 6"),
                         ("ac_w0.5_G8_s3", "summary.json lacks eval_axes"), ("never_started", "no status.json")]:
        assert f"{name} ({reason}" in message, (name, message)
    assert sorted(s[0].rsplit("/", 1)[-1] for s in tables.skipped) == [
        "ac_w0.5_G8_s1", "ac_w0.5_G8_s3", "gdpo_w0.5_G8_s1", "never_started"]
    loaded = set(tables.runs["path"])
    assert loaded == {str(p) for p in [*good, truncated]}


def test_truncated_last_line_is_dropped_and_the_rest_kept(mixed_runs):
    root, _, truncated = mixed_runs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tables = load_runs(root)
    assert any("truncated last line" in str(w.message) and str(truncated) in str(w.message) for w in caught)
    run = tables.runs.loc[tables.runs.path == str(truncated), "run"].item()
    steps = tables.steps[tables.steps.run == run]
    assert steps[M.STEP].tolist() == list(range(1, 13))


def test_runs_table_holds_config_axes_and_final_metrics(tmp_path):
    path = synthetic.write_run(tmp_path, method="dvao", w0=0.3, seed=4, G=16, extra={"noise": 0.2})
    runs = load_runs(tmp_path, steps=False).runs
    assert len(runs) == 1
    row = runs.iloc[0]
    summary = json.loads((path / SUMMARY).read_text())
    assert (row.method, row.task, row.model, row.G, row.K, row.seed) == ("dvao", "math", "tiny", 16, 2, 4)
    assert row.weights == "0.3,0.7" and row.weight == pytest.approx(0.3) and row.noise == 0.2
    assert row.objectives == ("accuracy", "length") and row.eval_axes == ("accuracy", "length_ok")
    assert row["eval/accuracy"] == summary["eval/accuracy"] and row.run == path.relative_to(tmp_path).as_posix()


def test_steps_table_equals_the_metrics_file(tmp_path):
    path = synthetic.write_run(tmp_path, method="rc", steps=15)
    tables = load_runs(tmp_path)
    records = list(read_jsonl(path / METRICS))
    assert len(tables.steps) == 15
    for key in records[0]:
        assert tables.steps[key].tolist() == pytest.approx([r[key] for r in records]), key
    assert set(M.per_objective_keys(list(synthetic.OBJECTIVES))) <= set(tables.steps.columns)


def test_corrupt_middle_line_and_nan_metrics(tmp_path):
    path = synthetic.write_run(tmp_path, method="rc", steps=6)
    lines = (path / METRICS).read_text().splitlines()
    lines[2] = lines[2][:25]
    (path / METRICS).write_text("\n".join(lines) + "\n")
    summary = json.loads((path / SUMMARY).read_text())
    summary["eval/accuracy"] = None          # the store writes NaN as null
    (path / SUMMARY).write_text(json.dumps(summary))
    with pytest.warns(UserWarning, match="truncated or corrupt line"):
        tables = load_runs(tmp_path)
    assert tables.steps[M.STEP].tolist() == [1, 2, 4, 5, 6]
    assert math.isnan(tables.runs["eval/accuracy"].item())


def test_bad_roots_fail_early_with_a_clear_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_runs(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no run directories"):
        load_runs(tmp_path)
    synthetic.write_run(tmp_path, method="rc", status="failed")
    with pytest.warns(SkippedRunWarning), pytest.raises(ValueError, match="none of the 1 run directories"):
        load_runs(tmp_path)


def test_include_incomplete_keeps_running_runs_with_a_summary(tmp_path):
    path = synthetic.write_run(tmp_path, method="rc")
    status = json.loads((path / STATUS).read_text())
    (path / STATUS).write_text(json.dumps({**status, "status": "running"}))
    with pytest.warns(SkippedRunWarning):
        with pytest.raises(ValueError):
            load_runs(tmp_path)
    assert len(load_runs(tmp_path, include_incomplete=True).runs) == 1


def test_weights_key():
    assert weights_key(None, 4) == "0.25,0.25,0.25,0.25"
    assert weights_key([0.1, 0.9], 2) == "0.1,0.9"
