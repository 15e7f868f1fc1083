"""The prepared GPU check (bench/gpu/check.py), its probe and its wheelhouse, on this CPU machine: the figures'
arithmetic, the stages' isolation under failure and timeout, the estimator and LLM stages at their smallest
sizes; slow: the whole dry run in a Python that holds only the GPU machine's packages and the carried ones,
and the wheelhouse built from the registry and installed for the GPU machine's Python."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.gpu_check_support import allowed, device_like_python, normalise
from tests.test_run_support import compose_cfg
from workbench.advantages import names

GPU_DIR = ROOT / "bench" / "gpu"
sys.path[:0] = [str(GPU_DIR)]


def _load(name: str, as_name: str):
    spec = importlib.util.spec_from_file_location(as_name, GPU_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[as_name] = module                          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check = _load("check", "gpu_check")
import wheelhouse  # noqa: E402  (bench/gpu on sys.path: the module check.py itself imports)
import gpu_check_probe as probe  # noqa: E402  (bench/gpu on sys.path, as check.py and the plug-in import it)

TINY = check.Sizes(arch=check.DRY.arch, G=2, prompts_per_step=2, steps=2, max_new_tokens=2, eval_prompts=2, lora_r=2,
                   shape=(8, 16, 4), rounds=2)


def _step(step, wall, gen, tokens, peak=None):
    return {"event": "step", "step": step, "wall_s": wall, "generate_s": gen, "gen_tokens": tokens, "gen_calls": 1,
            "peak_alloc_gib": peak, "peak_reserved_gib": None if peak is None else peak + 1, "peak_rss_mib": 100.0 + step}


def test_probe_summary_drops_the_warmup_step_but_not_its_memory():
    records = [{"event": "begin", "trainer": "GRPOTrainer", "trainable_params": 10},
               _step(1, 9.0, 8.0, 100, peak=7.0), _step(2, 2.0, 1.0, 100, peak=3.0),
               _step(3, 4.0, 3.0, 300, peak=2.0), _step(4, 3.0, 2.0, 200, peak=2.5)]
    s = check.summarise_probe(records)
    assert s["trainer"] == "GRPOTrainer" and s["steps_done"] == 4 and s["steps_timed"] == 3
    assert s["step_s"] == 3.0 and s["generate_s"] == 2.0 and s["gen_tokens_per_step"] == 200
    assert s["gen_tokens_per_s"] == pytest.approx(600 / 6.0) and s["step_tokens_per_s"] == pytest.approx(600 / 9.0)
    assert s["peak_alloc_gib"] == 7.0 and s["peak_reserved_gib"] == 8.0 and s["peak_rss_mib"] == 104.0
    only = check.summarise_probe(records[:2])            # one step: it is timed rather than nothing
    assert only["steps_timed"] == 1 and only["step_s"] == 9.0
    assert check.summarise_probe([])["steps_done"] == 0 and "step_s" not in check.summarise_probe([])
    ratios = check.compare(s, {**s, "step_s": 3.3, "peak_alloc_gib": None})
    assert ratios["step_s"] == pytest.approx(1.1) and "peak_alloc_gib" not in ratios


def test_a_cut_jsonl_line_is_skipped(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_step(1, 1.0, 0.5, 4)) + "\n" + '{"event": "st')
    assert [r["step"] for r in check.read_jsonl(path)] == [1]
    assert check.read_jsonl(tmp_path / "absent.jsonl") == []


def _check(tmp_path, stages=("env", "estimators"), budget=60.0):
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    return check.Check(out, work, TINY, True, budget, list(stages))


def test_a_child_past_its_limit_is_stopped_and_its_output_kept(tmp_path):
    c = _check(tmp_path)
    t0 = time.monotonic()
    slow = c.child("slow", [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], 2.0)
    assert slow["status"] == "timeout" and "started" in slow["tail"] and time.monotonic() - t0 < 30
    failed = c.child("bad", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], 30.0)
    assert failed["status"] == "failed" and failed["returncode"] == 3 and "boom" in failed["tail"]
    ok = c.child("good", [sys.executable, "-c", "print('fine')"], 30.0)
    assert ok["status"] == "ok" and "tail" not in ok
    c.log.close()
    log = (tmp_path / "out" / check.LOG).read_text()
    assert "===== slow" in log and "boom" in log and "fine" in log


def test_a_failed_stage_is_recorded_and_the_next_one_runs(tmp_path, monkeypatch):
    calls = []

    def fake(self, stage, timeout):
        calls.append((stage, timeout))
        written = json.loads((self.out / check.RESULTS).read_text())   # the file is current while a stage runs
        assert written["stages"][stage]["status"] == "running"
        return {"status": "failed", "tail": "Traceback: no GPU"} if stage == "env" else {"status": "ok", "results": {}}

    monkeypatch.setattr(check.Check, "stage_child", fake)
    c = _check(tmp_path, stages=("env", "estimators", "train"), budget=100.0)
    results = c.run()
    assert [s for s, _ in calls] == ["env", "estimators"] and all(t <= 60 for _, t in calls)
    stages = json.loads((tmp_path / "out" / check.RESULTS).read_text())["stages"]
    assert stages["env"]["status"] == "failed" and stages["estimators"]["status"] == "ok"
    assert stages["train"]["status"] == "skipped" and "add model to --stages" in stages["train"]["reason"]
    assert results["finished"] and "- env: failed" in (tmp_path / "out" / check.SUMMARY).read_text()


def test_an_interrupt_marks_the_stage_and_leaves_the_results_written(tmp_path, monkeypatch):
    def fake(self, stage, timeout):
        if stage == "estimators":
            raise KeyboardInterrupt   # Ctrl-C, or SIGTERM (check.main turns it into one)
        return {"status": "ok"}

    monkeypatch.setattr(check.Check, "stage_child", fake)
    with pytest.raises(KeyboardInterrupt):
        _check(tmp_path).run()
    results = json.loads((tmp_path / "out" / check.RESULTS).read_text())
    assert {k: v["status"] for k, v in results["stages"].items()} == {"env": "ok", "estimators": "interrupted"}
    assert results["finished"] and "- estimators: interrupted" in (tmp_path / "out" / check.SUMMARY).read_text()


def test_a_spent_budget_skips_the_remaining_stages(tmp_path, monkeypatch):
    monkeypatch.setattr(check.Check, "stage_child", lambda self, stage, timeout: time.sleep(0.3) or {"status": "ok"})
    c = _check(tmp_path, budget=0.2)
    c.run()
    stages = json.loads((tmp_path / "out" / check.RESULTS).read_text())["stages"]
    assert stages["env"]["status"] == "skipped" and stages["estimators"]["status"] == "skipped"


def test_the_output_folder_must_be_new_empty_or_an_earlier_checks(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="holds other files"):
        check.prepare_out(foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="a file is in the way"):
        check.prepare_out(tmp_path / "file")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / check.RESULTS).write_text(json.dumps({"kind": check.KIND}))
    check.prepare_out(earlier)                            # its own files may be rewritten
    check.prepare_out(tmp_path / "new" / "deeper")
    assert (tmp_path / "new" / "deeper").is_dir()


@pytest.mark.parametrize("bad, match", [(["--stages", "env,gpu"], "choose from"), (["--steps", "0"], "at least 1"),
                                        ([], "--out DIR is required"), (["--budget-s", "-1"], "positive")])
def test_bad_arguments_fail_before_anything_is_written(bad, match, tmp_path, capsys):
    argv = bad if bad == [] else ["--out", str(tmp_path / "out"), *bad]
    with pytest.raises(SystemExit):
        check.main(argv)
    assert match in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_script_end_to_end_on_its_cheapest_stage(tmp_path, capsys):
    """main() as a user runs it: a child process, the results files, the summary printed, its temporary folder gone."""
    before = set(Path(tempfile.gettempdir()).glob("dvao-gpu-check-*"))
    assert check.main(["--out", str(tmp_path / "out"), "--stages", "env"]) == 0
    results = json.loads((tmp_path / "out" / check.RESULTS).read_text())
    env = results["stages"]["env"]
    assert results["dry"] and env["status"] == "ok" and env["torch"] and env["versions"]["trl"]
    assert "torch" in env["imports"] and sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [check.RESULTS, check.SUMMARY, check.LOG])
    assert "| env | ok |" in capsys.readouterr().out
    assert set(Path(tempfile.gettempdir()).glob("dvao-gpu-check-*")) == before


def test_estimator_stage_compares_every_estimator_with_trl_and_the_cpu(tmp_path):
    out = {}
    check.stage_estimators(out, lambda: None, TINY)
    assert set(out["results"]) == set(names()) | {"trl normalize_then_sum"}
    for name, r in out["results"].items():
        for missing in ("0", "0.01"):
            assert r[f"missing_{missing}"] == {**r[f"missing_{missing}"], "finite": True, "on_device": True,
                                               "equal": True}, name
        assert r["min_ms"] > 0 and r["median_ms"] >= r["min_ms"] and r["cost_to_trl"] > 0
    assert out["results"]["trl normalize_then_sum"]["cost_to_trl"] == 1.0


def test_llm_stage_probes_the_workbench_and_vanilla_trl_at_the_smallest_size(tmp_path, monkeypatch):
    """Both trainers in this process on the random qwen2 model through the qwen2.5-0.5b yaml (the children of a
    real check run the same two calls in processes of their own; the slow test runs those)."""
    from workbench.models.random_real import save_random_real
    from workbench.run import run

    model = save_random_real(tmp_path / "model", TINY.arch)
    monkeypatch.chdir(tmp_path)
    over = check.train_overrides(TINY, model, lora=True, cuda=False)
    assert "model.lora.r=2" in over and "threads=1" in over and "model.use_vllm=false" in over
    probe.install(str(tmp_path / "probe.jsonl"))
    try:
        check.vanilla_trl([*over, f"run_dir={tmp_path / 'trl'}"])
        run(compose_cfg([*over, f"run_dir={tmp_path / 'wb'}"]))
    finally:
        probe.uninstall()
    records = check.read_jsonl(tmp_path / "probe.jsonl")
    runs: list[list[dict]] = []
    for r in records:
        if r["event"] == "begin":
            runs.append([])
        elif r["event"] == "step":
            runs[-1].append(r)
    begins = [r for r in records if r["event"] == "begin"]
    assert [b["trainer"] for b in begins] == ["GRPOTrainer", "EstimatorGRPOTrainer"]
    assert all(0 < b["trainable_params"] < b["total_params"] for b in begins)        # LoRA: the adapter alone
    for steps in runs:
        assert [s["step"] for s in steps] == [1, 2]
        assert all(s["gen_calls"] == 1 and 0 < s["gen_tokens"] <= TINY.G * TINY.prompts_per_step * TINY.max_new_tokens
                   and 0 < s["generate_s"] < s["wall_s"] for s in steps)
    assert [r["event"] for r in records].count("end") == 2
    from trl import GRPOTrainer

    assert not hasattr(GRPOTrainer, "_dvao_gpu_probe")                                # uninstalled


def test_padded_vocabulary_is_the_models_and_may_not_shrink_the_tokenizers():
    from workbench.models import random_real as R

    tok = R.build_tokenizer("qwen2")
    model = R.build_model(R.RandomArch(padded_vocab=1024), tok)
    assert model.config.vocab_size == 1024 > len(tok) and model.get_input_embeddings().weight.shape[0] == 1024
    assert tok.decode([len(tok) + 10]) == ""                                          # past the tokenizer: nothing
    with pytest.raises(ValueError, match="smaller than the tokenizer"):
        R.build_model(R.RandomArch(padded_vocab=len(tok) - 1), tok)
    assert R.QWEN25_05B.padded_vocab == 151936 and R.QWEN25_05B.num_layers == 24


# ---- the wheelhouse ---------------------------------------------------------------------------------------

def test_size_check_names_both_parts_and_the_limit():
    assert wheelhouse.fits(10, 20, limit=30) is None
    msg = wheelhouse.fits(40 * 2 ** 20, 30 * 2 ** 20)
    assert "40.0 MiB" in msg and "30.0 MiB" in msg and "70.0 MiB" in msg and "64.0 MiB" in msg


def test_what_travels_is_tracked_and_untracked_files_but_not_ignored_ones(tmp_path, tmp_path_factory):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/wheelhouse/\n")
    (tmp_path / "a.py").write_bytes(b"x" * 100)
    (tmp_path / "wheelhouse").mkdir()
    (tmp_path / "wheelhouse" / "big.whl").write_bytes(b"x" * 10_000)
    subprocess.run(["git", "-C", str(tmp_path), "add", ".gitignore"], check=True)
    assert wheelhouse.travelling_bytes(tmp_path) == 100 + len("/wheelhouse/\n")
    with pytest.raises(SystemExit, match="not a git checkout"):
        wheelhouse.travelling_bytes(tmp_path_factory.mktemp("not-a-checkout"))


def test_the_wheelhouse_folder_must_be_new_empty_or_an_earlier_wheelhouse(tmp_path):
    assert wheelhouse.check_dest(tmp_path / "absent") == {}
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.whl").write_text("")
    with pytest.raises(SystemExit, match="no manifest.json"):
        wheelhouse.check_dest(tmp_path / "other")
    (tmp_path / "other" / wheelhouse.MANIFEST).write_text(json.dumps({"wheels": {}}))
    assert wheelhouse.check_dest(tmp_path / "other") == {"wheels": {}}
    assert wheelhouse.pure(Path("antlr4_python3_runtime-4.9.3-py3-none-any.whl"))
    assert not wheelhouse.pure(Path("multiprocess-0.70.19-py311-none-any.whl"))


def test_carried_distributions_are_installed_here_and_absent_on_the_device():
    from tests.gpu_check_support import device_packages

    pins = wheelhouse.pinned()
    assert set(pins) == set(wheelhouse.CARRIED) and all(pins.values())
    assert not {normalise(n) for n in wheelhouse.CARRIED} & device_packages()


@pytest.mark.slow
def test_wheelhouse_builds_under_the_limit_and_installs_for_the_device_python(tmp_path):
    """Needs the package registry (skipped without it)."""
    dest = tmp_path / "wheelhouse"
    try:
        manifest = wheelhouse.build(dest, tree_bytes=4 * 2 ** 20)
    except SystemExit as exc:
        if "pip download" in str(exc) and ("connection" in str(exc).lower() or "resolve" in str(exc).lower()):
            pytest.skip(f"no package registry: {exc}")
        raise
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    assert len(wheels) == len(wheelhouse.CARRIED) == len(manifest["wheels"])
    assert manifest["wheel_bytes"] + manifest["tree_bytes"] <= wheelhouse.LIMIT
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(site),
                           "--python-version", wheelhouse.PYTHON, "--only-binary=:all:", *map(str, dest.glob("*.whl"))],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {normalise(p.name.split("-")[0]) for p in site.glob("*.dist-info")} == {normalise(n) for n in wheelhouse.CARRIED}
    wheelhouse.build(dest, tree_bytes=0)                   # again: the same wheels once each, nothing else touched
    assert sorted(p.name for p in dest.glob("*.whl")) == wheels
    with pytest.raises(SystemExit, match="over the device tool"):
        wheelhouse.build(dest, tree_bytes=wheelhouse.LIMIT)
    assert sorted(p.name for p in dest.glob("*.whl")) == wheels  # a failed build changed nothing


# ---- the whole dry run, as on the device -------------------------------------------------------------------

# The GPU machine's versions of the packages the check leans on (bench/gpu/device_packages.txt's header), swapped
# into the rehearsal when the registry can be reached: the check once failed on 5.17, not on this machine's newer one.
DEVICE_PINS = ["transformers==5.17.0", "huggingface-hub==1.33.0", "accelerate==1.15.0", "tokenizers==0.23.2"]


def _device_versions(python: Path, cache: Path) -> list[str]:
    """Install DEVICE_PINS over the linked ones (downloaded once into ``cache``); [] when the registry is out of reach."""
    cache.mkdir(parents=True, exist_ok=True)
    got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(cache), *DEVICE_PINS],
                         capture_output=True, text=True)
    if got.returncode != 0:
        return []
    site = next(python.parents[1].glob("lib/python*/site-packages"))
    for name in ("transformers", "huggingface_hub", "accelerate", "tokenizers"):
        for link in [site / name, *site.glob(f"{name}-*.dist-info")]:
            if link.is_symlink():
                link.unlink()
    wheels = [str(next(cache.glob(f"{pin.split('==')[0].replace('-', '_')}-{pin.split('==')[1]}-*.whl"))) for pin in DEVICE_PINS]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), *wheels],
                   check=True, capture_output=True)
    return DEVICE_PINS


@pytest.mark.slow
def test_the_whole_dry_run_passes_with_only_the_device_packages(tmp_path):
    python = device_like_python(tmp_path / "venv")
    pinned = _device_versions(python, ROOT / ".cache" / "device-wheels")
    out = tmp_path / "out"
    done = subprocess.run([str(python), str(GPU_DIR / "check.py"), "--out", str(out), "--dry"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    results = json.loads((out / check.RESULTS).read_text())
    assert done.returncode == 0, (done.stdout[-3000:], {k: v.get("tail") for k, v in results["stages"].items()})
    stages = results["stages"]
    assert all(s["status"] == "ok" for s in stages.values()) and results["dry"]
    if pinned:
        assert stages["env"]["versions"]["transformers"] == "5.17.0"
    assert stages["env"]["unmet_requirements"] == []
    assert set(stages["estimators"]["results"]) == set(names()) | {"trl normalize_then_sum"}
    for stage in ("train", "lora"):
        for who in ("trl", "workbench"):
            assert stages[stage][who]["steps_done"] == check.DRY.steps and stages[stage][who]["step_s"] > 0
        assert set(stages[stage]["workbench_over_trl"]) >= {"step_s", "generate_s", "gen_tokens_per_s"}
    assert stages["lora"]["workbench"]["trainable_params"] < stages["train"]["workbench"]["trainable_params"]
    assert {normalise(n) for n in results["imports"]} <= allowed() | {"dvao-workbench"}
    assert {"trl", "hydra-core", "datasets"} <= {normalise(n) for n in results["imports"]}
    page = (out / check.SUMMARY).read_text()
    assert "DRY RUN" in page and "## lora" in page and "## Problems\n\nnone" in page


def test_the_gpu_sized_config_maps_onto_grpo_config_as_a_gpu_would_run_it(tmp_path, monkeypatch):
    """The GPU stage's config with a GPU present (GRPOConfig itself needs a CUDA torch, so its arguments are checked;
    LoRA targets on a meta skeleton of the model's config): bf16, the yaml's micro-batches, checkpointing, no vLLM."""
    import dataclasses

    import torch
    from trl import GRPOConfig

    from workbench import models
    from workbench.models import lora as L
    from workbench.models import random_real as R
    from workbench.train import config as C
    from workbench.train.llm import CHECKPOINTING, grpo_kwargs

    tok = R.build_tokenizer("qwen2")
    with torch.device("meta"):
        model = R.build_model(R.QWEN25_05B, tok)
    assert sum(p.numel() for p in model.parameters()) == 494_032_768                 # Qwen2.5-0.5B's own count
    model.config.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    for lora in (False, True):
        over = check.train_overrides(check.GPU, tmp_path / "model", lora=lora, cuda=True)
        spec = C.load(compose_cfg([*over, f"run_dir={tmp_path / 'run'}"]))
        kwargs = grpo_kwargs(spec, [0.8, 0.2], str(tmp_path / "run" / "checkpoints"))
        assert set(kwargs) <= fields and kwargs["bf16"] and not kwargs["use_cpu"] and kwargs[CHECKPOINTING]
        assert not kwargs.get("use_vllm") and "vllm_mode" not in kwargs and spec.threads is None
        assert kwargs["num_generations"] == 16 and kwargs["max_completion_length"] == check.GPU.max_new_tokens
        assert kwargs["per_device_train_batch_size"] == 16
        assert kwargs["per_device_train_batch_size"] * kwargs["gradient_accumulation_steps"] == 16 * check.GPU.prompts_per_step
        parsed = models.parse(spec.model)
        assert (parsed.lora.r == check.GPU.lora_r) == lora and parsed.dtype == "bf16"
        L.check_targets(parsed)                                                        # all-linear exists in the model
    assert not (tmp_path / "run").exists()
