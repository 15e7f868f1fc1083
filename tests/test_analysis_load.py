"""analysis.load on run directories written through workbench.store.RunStore (analysis.synthetic)."""
from __future__ import annotations

import json
import math
import warnings

import pytest

from analysis import synthetic
from analysis.load import DuplicateRunWarning, SkippedRunWarning, load_runs, weights_key
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
    for name, reason in [("ac_w0.5_G8_s1", "status.json: failed at step 6: RuntimeError"),
                         ("gdpo_w0.5_G8_s1", "status.json: stale at step 6"),
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


def _rewrite(path, name, text: str | bytes):
    (path / name).unlink()
    (path / name).write_bytes(text if isinstance(text, bytes) else text.encode())


def _summary_with(**changes):
    def edit(path):
        summary = json.loads((path / SUMMARY).read_text())
        _rewrite(path, SUMMARY, json.dumps({**summary, **changes}))
    return edit


def _status_with(status):
    def edit(path):
        record = json.loads((path / STATUS).read_text())
        _rewrite(path, STATUS, json.dumps({**record, "status": status}))
    return edit


HOSTILE = {   # how a run directory is broken -> what the warning must say about it
    "binary summary": (lambda p: _rewrite(p, SUMMARY, bytes(range(256)) * 4), "summary.json is not UTF-8 text"),
    "truncated summary": (lambda p: _rewrite(p, SUMMARY, (p / SUMMARY).read_text()[:60]),
                          "summary.json is not valid JSON (truncated?)"),
    "summary is a list": (lambda p: _rewrite(p, SUMMARY, "[1, 2]"), "summary.json holds a JSON list, not an object"),
    "status is a list": (lambda p: _rewrite(p, STATUS, '["done"]'), "status.json holds a JSON list, not an object"),
    "status is a string": (lambda p: _rewrite(p, STATUS, '"done"'), "status.json holds a JSON str, not an object"),
    "binary status": (lambda p: _rewrite(p, STATUS, b"\xff\xfe\x00garbage"), "status.json is not UTF-8 text"),
    "string seed": (_summary_with(seed="three"), "summary.json: seed is 'three' (str), expected an integer"),
    "string eval value": (_summary_with(**{"eval/accuracy": "high"}),
                          "summary.json: eval/accuracy is 'high' (str), expected a number or null"),
    "string weights": (_summary_with(weights="0.5,0.5"), "summary.json: weights is '0.5,0.5' (str)"),
    "objectives not a list": (_summary_with(objectives="accuracy"), "summary.json: objectives is 'accuracy'"),
    "interrupted": (_status_with("interrupted"), "status.json: interrupted at step"),
    "stale": (_status_with("stale"), "status.json: stale at step"),
    "summary is a folder": (lambda p: ((p / SUMMARY).unlink(), (p / SUMMARY).mkdir()), "summary.json cannot be read"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_broken_file_skips_only_its_run_with_a_warning_naming_file_and_reason(tmp_path, case):
    good = synthetic.write_sweep(tmp_path, methods=("rc",), w0s=(0.3, 0.7), seeds=(0,), steps=4)
    bad = synthetic.write_run(tmp_path, method="dvao", seed=5, steps=4)
    breaker, reason = HOSTILE[case]
    breaker(bad)
    with pytest.warns(SkippedRunWarning) as record:
        tables = load_runs(tmp_path)
    message = " ".join(str(w.message) for w in record)
    assert f"{bad.relative_to(tmp_path).as_posix()} ({reason}" in message, message
    assert sorted(tables.runs.path) == sorted(map(str, good)) and len(tables.steps) == 2 * 4


def test_binary_or_ill_typed_metrics_keep_the_run_and_its_readable_steps(tmp_path):
    binary = synthetic.write_run(tmp_path, method="rc", seed=0, steps=5)
    typed = synthetic.write_run(tmp_path, method="rc", seed=1, steps=5)
    (binary / METRICS).write_bytes(bytes(range(256)) * 8)
    lines = (typed / METRICS).read_text().splitlines()
    record = json.loads(lines[1])
    lines[1] = json.dumps({**record, M.LOSS: "oops"})
    lines[3] = "[1, 2, 3]"
    (typed / METRICS).write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tables = load_runs(tmp_path)
    text = " ".join(str(w.message) for w in caught)
    assert f"{binary / METRICS}: skipping" in text and f"{typed / METRICS}: skipping 1 truncated or corrupt" in text
    assert len(tables.runs) == 2
    steps = tables.steps[tables.steps.run == typed.relative_to(tmp_path).as_posix()]
    assert steps[M.STEP].tolist() == [1, 2, 3, 5]
    assert math.isnan(steps.loc[steps[M.STEP] == 2, M.LOSS].item())     # the string became a gap, not a 0
    assert steps.loc[steps[M.STEP] == 2, M.GRAD_NORM].item() == pytest.approx(record[M.GRAD_NORM])


def test_a_rerun_of_the_same_config_and_seed_is_not_another_seed(tmp_path):
    first = synthetic.write_run(tmp_path, method="dvao", seed=0, steps=4, sweep="a")
    again = synthetic.write_run(tmp_path, method="dvao", seed=0, steps=4, sweep="b")     # same job, other sweep
    other_seed = synthetic.write_run(tmp_path, method="dvao", seed=1, steps=4, sweep="b")
    other_config = synthetic.write_run(tmp_path, method="dvao", seed=0, steps=4, sweep="b", extra={"noise": 0.1})
    other_steps = synthetic.write_run(tmp_path, method="dvao", seed=0, steps=6, sweep="c")
    with pytest.warns(DuplicateRunWarning) as record:
        tables = load_runs(tmp_path)
    rel = lambda p: p.relative_to(tmp_path).as_posix()  # noqa: E731
    assert f"{rel(again)} (repeats {rel(first)})" in str(record[0].message)
    assert tables.duplicates == ((rel(again), rel(first)),)
    assert sorted(tables.runs.path) == sorted(map(str, [first, other_seed, other_config, other_steps]))
    assert set(tables.steps.run) == set(tables.runs.run)


def test_empty_runs_path_is_an_error():
    with pytest.raises(FileNotFoundError, match="the runs path is empty"):
        load_runs("")


def test_known_front_from_the_summary(tmp_path):
    ok = synthetic.write_run(tmp_path, method="rc", seed=0, steps=4)
    _summary_with(known_front=[[0.0, 1.0], [1.0, 0.0]])(ok)
    bad = synthetic.write_run(tmp_path, method="rc", seed=1, steps=4)
    _summary_with(known_front=[[0.0, 1.0, 2.0]])(bad)
    with pytest.warns(UserWarning, match=f"{bad / SUMMARY}: ignoring known_front"):
        runs = load_runs(tmp_path, steps=False).runs.set_index("path")
    assert runs.loc[str(ok), "known_front"] == ((0.0, 1.0), (1.0, 0.0))
    assert not isinstance(runs.loc[str(bad), "known_front"], tuple)
