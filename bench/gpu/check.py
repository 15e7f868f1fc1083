"""One prepared device check of the real-scale path: bf16, the Qwen2.5-0.5B architecture, LoRA, the
estimators on GPU tensors. One command, under 8 minutes on one GPU; on a machine without CUDA it runs the
same steps at tiny sizes (the dry mode that `make test` runs, so the script cannot rot).

    python bench/gpu/check.py --out DIR [--dry] [--stages env,estimators,model,train,lora] [--budget-s 450]

Stages, each in child processes of its own with its own time limit; a stage that fails or runs out of
time is recorded (with its log's tail) and the next one runs:

- env: Python, torch, CUDA, the GPU, the versions of the stack, requirements of the carried wheels that
  the machine's own packages do not meet.
- estimators: every registered estimator on (4096, 16, 4) rewards on the GPU against TRL 1.16's
  ``normalize_then_sum`` block on the same GPU tensors (time ratios, rounds in shuffled order), and each
  one's GPU result against its CPU result (finite, equal to float tolerance).
- model: a random-weights model of the Qwen2.5-0.5B architecture (workbench.models.random_real.QWEN25_05B:
  24 layers, 896 wide, 151,936-row tied embedding), saved in bf16.
- train: `python -m workbench.run method=dvao model=qwen2.5-0.5b` on it (bf16, G=16, gradient checkpointing,
  transformers generation) and the same config through vanilla TRL ``GRPOTrainer``, one after the other:
  step time, generation time, generated tokens per second, peak GPU memory, and their ratios.
- lora: the same with ``model.lora.r=16`` (all linear layers).

Results go to DIR/gpu_check.json (rewritten after every stage and sub-run, so a run stopped at any point
leaves what it measured), DIR/gpu_check.md (the same as tables) and DIR/gpu_check.log (every child's
output). Work files (the 1 GB model, the runs) go to a temporary folder removed at the end (--work DIR
keeps them). docs/scaling.md says how to run it on a GPU machine; bench/gpu/run.sh is the device's entry.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE), str(HERE.parent)]   # workbench, the probe, bench_estimators

from gpu_check_probe import ENV as PROBE_ENV  # noqa: E402
from gpu_check_probe import imported_distributions  # noqa: E402
from workbench.models.random_real import QWEN25_05B, RandomArch  # noqa: E402

KIND = "dvao-gpu-check"                      # marks an output folder as this script's (it may rewrite its files)
RESULTS, SUMMARY, LOG = "gpu_check.json", "gpu_check.md", "gpu_check.log"
STAGES = ("env", "estimators", "model", "train", "lora")   # cheap and certain first: a late stage may time out
BUDGET_S = {"env": 60, "estimators": 60, "model": 90, "train": 150, "lora": 150}
DRY_BUDGET_S = {"env": 60, "estimators": 60, "model": 60, "train": 180, "lora": 180}
TOTAL_S = 450                                # the whole check; the device allows 10 minutes a command
WARMUP_STEPS = 1                             # the first step pays CUDA context, allocator growth and kernel picks
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}     # GPU vs CPU float32: reductions in another order


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What each stage runs at: the real-scale sizes on a GPU, tiny ones in the dry mode."""

    arch: RandomArch
    G: int
    prompts_per_step: int
    steps: int
    max_new_tokens: int
    eval_prompts: int
    lora_r: int
    shape: tuple[int, int, int]              # estimators: (prompts, G, objectives)
    rounds: int                              # estimators: timed rounds


GPU = Sizes(arch=QWEN25_05B, G=16, prompts_per_step=8, steps=5, max_new_tokens=128, eval_prompts=16, lora_r=16,
            shape=(4096, 16, 4), rounds=21)
DRY = Sizes(arch=RandomArch(padded_vocab=1024), G=16, prompts_per_step=1, steps=2, max_new_tokens=4, eval_prompts=2,
            lora_r=4, shape=(64, 16, 4), rounds=3)


# ---- small pure helpers ------------------------------------------------------------------------------------

def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data) -> None:
    """Atomically: a reader (or a kill) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def read_jsonl(path: Path) -> list[dict]:
    """The complete lines of a JSONL file (a line cut by a kill is skipped)."""
    out = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def summarise_probe(records: list[dict], warmup: int = WARMUP_STEPS) -> dict:
    """One trainer's figures from its probe lines: medians over the steps after ``warmup`` (all steps when
    there are no more), generated tokens per second of generation and of the whole step, peak memory over
    every step (the first included: it is memory the run needs)."""
    begin = next((r for r in records if r.get("event") == "begin"), {})
    steps = [r for r in records if r.get("event") == "step"]
    out = {k: begin.get(k) for k in ("trainer", "device", "dtype", "total_params", "trainable_params", "bf16",
                                     "gradient_checkpointing", "completions_per_step", "G", "max_completion_length")}
    out["steps_done"] = len(steps)
    if not steps:
        return out
    timed = steps[warmup:] or steps
    gen_s = sum(r["generate_s"] for r in timed)
    tokens = sum(r["gen_tokens"] for r in timed)
    peaks = [r["peak_alloc_gib"] for r in steps if r.get("peak_alloc_gib") is not None]
    reserved = [r["peak_reserved_gib"] for r in steps if r.get("peak_reserved_gib") is not None]
    out.update(
        steps_timed=len(timed),
        step_s=statistics.median(r["wall_s"] for r in timed),
        generate_s=statistics.median(r["generate_s"] for r in timed),
        gen_tokens_per_step=statistics.median(r["gen_tokens"] for r in timed),
        gen_tokens_per_s=tokens / gen_s if gen_s > 0 else None,
        step_tokens_per_s=tokens / sum(r["wall_s"] for r in timed),
        peak_alloc_gib=max(peaks) if peaks else None,
        peak_reserved_gib=max(reserved) if reserved else None,
        peak_rss_mib=max(r["peak_rss_mib"] for r in steps),
        step_s_all=[round(r["wall_s"], 4) for r in steps],
    )
    return out


def compare(trl: dict, ours: dict) -> dict:
    """Workbench over vanilla TRL for each figure both have (step time 1.05 = the workbench 5% slower)."""
    keys = ("step_s", "generate_s", "gen_tokens_per_s", "step_tokens_per_s", "peak_alloc_gib", "peak_reserved_gib")
    return {k: ratio(ours.get(k), trl.get(k)) for k in keys if ours.get(k) is not None and trl.get(k) is not None}


# ---- the stages' own work (run in child processes) ---------------------------------------------------------

def stage_env(out: dict, save) -> None:
    import platform

    import torch

    out.update(python=platform.python_version(), platform=platform.platform(), torch=torch.__version__,
               cuda_available=torch.cuda.is_available(), cuda=torch.version.cuda)
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                   capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count,
                   bf16_supported=torch.cuda.is_bf16_supported())
    save()
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "hydra-core", "omegaconf",
                 "numpy", "pyarrow", "fsspec", "huggingface-hub", "tokenizers", "safetensors", "scipy"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    out["versions"] = versions
    out["unmet_requirements"] = unmet_requirements()
    save()


def unmet_requirements() -> list[str]:
    """Requirements of the carried distributions that this machine's packages do not meet (their versions
    are the project's; the machine's own numpy, pyarrow, fsspec, ... are what they run against)."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement
    from wheelhouse import CARRIED

    problems = []
    for dist in CARRIED:
        try:
            reqs = requires(dist) or []
        except PackageNotFoundError:
            problems.append(f"{dist}: not installed")
            continue
        for text in reqs:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                have = version(req.name)
            except PackageNotFoundError:
                problems.append(f"{dist} needs {req}: missing")
                continue
            if req.specifier and not req.specifier.contains(have, prereleases=True):
                problems.append(f"{dist} needs {req}: {have} here")
    return problems


def stage_estimators(out: dict, save, sizes: Sizes) -> None:
    """Every estimator on the device against TRL's normalize_then_sum on the same device; GPU vs CPU results."""
    import torch

    from bench_estimators import BASELINE, make_rewards, time_calls
    from workbench.advantages import get, names
    from workbench.advantages.trl_reference import trl_advantages

    device = "cuda" if torch.cuda.is_available() else "cpu"
    b, g, k = sizes.shape
    weights = [1.0 / k] * k
    out.update(device=device, shape=list(sizes.shape), rounds=sizes.rounds, tolerance=TOLERANCE, results={})

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    # correctness: complete rewards and 1% missing, each estimator's device result against its CPU result
    for missing in (0.0, 0.01):
        cpu = make_rewards(b, g, k, missing)
        on_device = cpu.to(device)
        calls = {BASELINE: lambda r: trl_advantages(r, weights, "normalize_then_sum")}
        calls.update({name: (lambda fn: lambda r: fn(r, weights).advantages)(get(name)) for name in names()})
        for name, call in calls.items():
            entry = out["results"].setdefault(name, {})
            try:
                there, here = call(on_device), call(cpu)
                diff = (there.detach().cpu().double() - here.double()).abs().max().item()
                entry[f"missing_{missing:g}"] = {
                    "finite": bool(torch.isfinite(there).all()), "on_device": there.device.type == device,
                    "max_abs_diff": diff, "equal": bool(torch.allclose(there.cpu(), here, **TOLERANCE))}
            except Exception as exc:  # noqa: BLE001 - one estimator's failure is a finding, not the stage's end
                entry[f"missing_{missing:g}"] = {"error": f"{type(exc).__name__}: {exc}"}
            save()
    # speed: complete rewards, every function once per round in a shuffled order, each call synchronised
    rewards = make_rewards(b, g, k, 0.0).to(device)
    fns = {BASELINE: lambda: trl_advantages(rewards, weights, "normalize_then_sum")}
    fns.update({name: (lambda fn: lambda: fn(rewards, weights))(get(name)) for name in names()
                if "error" not in out["results"][name].get("missing_0", {})})
    timed = {name: (lambda fn: lambda: (fn(), sync()))(fn) for name, fn in fns.items()}
    samples = time_calls(timed, sizes.rounds, inner=1)
    base = min(samples[BASELINE])
    for name, times in samples.items():
        out["results"][name].update(min_ms=min(times) * 1e3, median_ms=statistics.median(times) * 1e3,
                                    cost_to_trl=min(times) / base)
    save()


def stage_model(out: dict, save, sizes: Sizes, model_dir: Path) -> None:
    import torch

    from workbench.models.random_real import save_random_real

    cuda = torch.cuda.is_available()
    t0 = time.perf_counter()
    with torch.device("cuda" if cuda else "cpu"):  # 494M random parameters: seconds on the GPU, minutes on CPU
        save_random_real(model_dir, sizes.arch, dtype=torch.bfloat16 if cuda else None)
    files = [p for p in model_dir.iterdir() if p.is_file()]
    out.update(path=str(model_dir), arch=dataclasses.asdict(sizes.arch), seconds=time.perf_counter() - t0,
               bytes=sum(p.stat().st_size for p in files), saved_dtype="bf16" if cuda else "fp32")
    save()


def train_overrides(sizes: Sizes, model_dir: Path, lora: bool, cuda: bool) -> list[str]:
    """The one config both trainers run: the qwen2.5-0.5b yaml on the random model, dvao, generated math
    prompts. A random model never answers right nor stops early, so noise on the length reward gives the
    loss a gradient (as tests/test_real_models.py does); completions run to max_new_tokens."""
    over = ["model=qwen2.5-0.5b", f"model.path={model_dir}", "model.use_vllm=false", "model.vllm_mode=null",
            "method=dvao", "task=math", f"G={sizes.G}", f"steps={sizes.steps}",
            f"train.prompts_per_step={sizes.prompts_per_step}", f"train.max_new_tokens={sizes.max_new_tokens}",
            f"train.save_every={sizes.steps}", "eval.every=0", f"++task.eval.n_prompts={sizes.eval_prompts}",
            "task.eval.n_samples=1", "task.noise.objective=length", "task.noise.std=0.5", "logger=none",
            "seed=0", "threads=null" if cuda else "threads=1"]
    if lora:
        over += [f"model.lora.r={sizes.lora_r}", "model.lora.alpha=32", "model.lora.dropout=0.05",
                 "model.lora.target_modules=all-linear"]
    return over


def vanilla_trl(overrides: list[str]) -> None:
    """The same validated config through TRL's own GRPOTrainer (its default sum_then_normalize advantages):
    the baseline the workbench's step is compared with. The probe is installed by the environment."""
    import gpu_check_probe  # noqa: F401 - installs the probe (DVAO_GPU_PROBE is set by the parent)
    from hydra import compose, initialize_config_dir
    from transformers import PrinterCallback

    from workbench import models
    from workbench.models import lora
    from workbench.run import validate

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    job = validate(cfg)
    if job.spec.threads:
        import torch

        torch.set_num_threads(job.spec.threads)
    from trl import GRPOTrainer

    model, tokenizer = models.build(job.spec.model, job.task)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=job.args, train_dataset=job.task.train_dataset(),
                          reward_funcs=job.task.reward_funcs(),
                          peft_config=lora.peft_config(models.parse(job.spec.model).lora))
    trainer.remove_callback(PrinterCallback)
    trainer.train()


# ---- the parent: children, budgets, results ---------------------------------------------------------------

class Check:
    """Runs the stages as children, each under its own time limit, and keeps the results file current."""

    def __init__(self, out: Path, work: Path, sizes: Sizes, dry: bool, budget_s: float, stages: list[str]):
        self.out, self.work, self.sizes, self.dry, self.stages = out, work, sizes, dry, stages
        self.deadline = time.monotonic() + budget_s
        self.budgets = DRY_BUDGET_S if dry else BUDGET_S
        self.results = {"kind": KIND, "dry": dry, "started": now(), "finished": None, "budget_s": budget_s,
                        "sizes": dataclasses.asdict(sizes), "stages": {s: {"status": "pending"} for s in stages}}
        self.log = open(out / LOG, "w")
        self.save()

    def save(self) -> None:
        write_json(self.out / RESULTS, self.results)
        (self.out / SUMMARY).write_text(markdown(self.results))

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def child(self, label: str, argv: list[str], timeout: float, env: dict | None = None) -> dict:
        """Run one child (its own process group) for at most ``timeout`` s; its output goes to the log."""
        self.log.write(f"\n===== {label}: {' '.join(argv)}\n")
        self.log.flush()
        t0 = time.monotonic()
        # A process group of its own (killpg stops it with anything it started; a terminal's Ctrl-C reaches only the
        # parent, which stops it in order), but the same session: whoever ends this command's session (the device
        # tool at its time limit) ends the child too, so no orphan holds the GPU for the next command.
        proc = subprocess.Popen(argv, cwd=self.work, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, preexec_fn=os.setpgrp)
        tail: list[str] = []
        status = "ok"
        try:
            for line in _lines(proc, t0 + timeout):
                self.log.write(line)
                tail = (tail + [line])[-40:]
            rc = proc.wait(timeout=max(1.0, t0 + timeout - time.monotonic()))
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            status, rc = "timeout", None
        finally:
            if proc.poll() is None:
                _stop(proc)
            self.log.flush()
        result = {"status": status, "seconds": round(time.monotonic() - t0, 1), "limit_s": round(timeout, 1)}
        if status != "ok":
            result.update(returncode=rc, tail="".join(tail)[-3000:])
        return result

    def stage_child(self, stage: str, timeout: float, *extra: str) -> dict:
        part = self.work / f"{stage}.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--work", str(self.work),
                *(["--dry"] if self.dry else []), "--sizes", json.dumps(dataclasses.asdict(self.sizes)), *extra]
        run = self.child(stage, argv, timeout, env={"PYTHONPATH": _pythonpath()})
        return {**read_json(part, {}), **run}

    def trainer_pair(self, stage: str, timeout: float) -> dict:
        """Vanilla TRL, then the workbench, on the same config; each gets half of the stage's time."""
        import torch

        over = train_overrides(self.sizes, self.work / "model", stage == "lora", torch.cuda.is_available() and not self.dry)
        result: dict = {"overrides": over}
        for who in ("trl", "workbench"):
            probe = self.work / f"{stage}-{who}.jsonl"
            run_dir = self.work / "runs" / f"{stage}-{who}"
            env = {PROBE_ENV: str(probe), "PYTHONPATH": _pythonpath(), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
            if who == "trl":
                argv = [sys.executable, str(Path(__file__).resolve()), "--vanilla", *over, f"run_dir={run_dir}"]
            else:
                argv = [sys.executable, "-m", "workbench.run", *over, f"run_dir={run_dir}",
                        f"plugins=[{HERE / 'gpu_check_probe.py'}]"]
            share = min(timeout / 2 if who == "trl" else timeout, self.remaining())
            t_start = time.monotonic()
            run = self.child(f"{stage}/{who}", argv, share, env)
            timeout -= time.monotonic() - t_start
            records = read_jsonl(probe)
            result[who] = {**summarise_probe(records), **run}
            ends = [r for r in records if r.get("event") == "end"]
            if ends:
                result[who]["imports"] = ends[-1]["imports"]
            self.results["stages"][stage] = {"status": "running", **result}
            self.save()
        result["workbench_over_trl"] = compare(result["trl"], result["workbench"])
        both = result["trl"]["status"] == result["workbench"]["status"] == "ok"
        return {"status": "ok" if both else "failed", **result}

    def run(self) -> dict:
        try:
            for stage in self.stages:
                budget = min(self.budgets[stage], self.remaining())
                if budget < 5:
                    self.results["stages"][stage] = {"status": "skipped", "reason": "the check's time budget is spent"}
                    continue
                if stage in ("train", "lora") and not (self.work / "model" / "config.json").is_file():
                    reason = "no model: the model stage did not run or finish (add model to --stages)"
                    self.results["stages"][stage] = {"status": "skipped", "reason": reason}
                    continue
                print(f"[{now()}] {stage} (at most {budget:.0f} s)", flush=True)
                self.results["stages"][stage] = {"status": "running"}
                self.save()
                t0 = time.monotonic()
                if stage in ("train", "lora"):
                    res = self.trainer_pair(stage, budget)
                else:
                    res = self.stage_child(stage, budget)
                res["stage_seconds"] = round(time.monotonic() - t0, 1)
                self.results["stages"][stage] = res
                self.save()
                print(f"[{now()}] {stage}: {res['status']} in {res['stage_seconds']} s", flush=True)
        except KeyboardInterrupt:
            for name, stage in self.results["stages"].items():
                if stage.get("status") in ("running", "pending"):
                    stage["status"] = "interrupted"
            raise
        finally:
            self.results["finished"] = now()
            imported = set()
            for stage in self.results["stages"].values():
                imported.update(stage.get("imports", []))
                for who in ("trl", "workbench"):
                    imported.update((stage.get(who) or {}).get("imports", []))
            self.results["imports"] = sorted(imported)   # what the stages imported (the device must have or be carried)
            self.save()
            self.log.close()
        return self.results


def _lines(proc, deadline: float):
    """The child's output lines until it ends; TimeoutExpired once ``deadline`` passes (checked per line and
    by a watchdog thread for a child that stops printing)."""
    import threading

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), lambda: proc.poll() is None and _stop(proc))
    timer.daemon = True
    timer.start()
    try:
        for line in proc.stdout:
            yield line
    finally:
        timer.cancel()
    if time.monotonic() >= deadline and proc.returncode in (None, -signal.SIGTERM, -signal.SIGKILL):
        raise subprocess.TimeoutExpired(proc.args, 0)


def _stop(proc) -> None:
    """SIGTERM to the child's process group (the workbench stops at a step boundary), SIGKILL after 15 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _pythonpath() -> str:
    return os.pathsep.join([str(ROOT), str(HERE), str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])])


# ---- the summary -------------------------------------------------------------------------------------------

def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


TRAINER_COLUMNS = ("steps_timed", "step_s", "generate_s", "gen_tokens_per_s", "peak_alloc_gib", "peak_reserved_gib")
TRAINER_HEADER = _row("", "steps timed", "step s", "generate s", "gen tokens/s", "peak alloc GiB", "peak reserved GiB",
                      "trainable params", "status")


def trainer_table(name: str, stage: dict) -> list[str]:
    lines = ["", f"## {name}: workbench (method=dvao) vs vanilla TRL GRPOTrainer", "", TRAINER_HEADER,
             "|---" * 9 + "|"]
    for who in ("trl", "workbench"):
        s = stage.get(who, {})
        lines.append(_row(who, *(_fmt(s.get(k)) for k in TRAINER_COLUMNS), _fmt(s.get("trainable_params")),
                          s.get("status", "-")))
    r = stage.get("workbench_over_trl", {})
    lines.append(_row("workbench / trl", "", *(_fmt(r.get(k)) for k in TRAINER_COLUMNS[1:]), "", ""))
    return lines


def estimator_table(est: dict) -> list[str]:
    lines = ["", f"## estimators on {est.get('device')} at {tuple(est.get('shape', []))}, {est.get('rounds')} rounds", "",
             _row("estimator", "min ms", "median ms", "cost / TRL", "equal to CPU (complete / 1% missing)", "finite"),
             "|---" * 6 + "|"]
    for name, r in est["results"].items():
        checks = [r.get(f"missing_{m}", {}) for m in ("0", "0.01")]
        equal = " / ".join("error" if "error" in c else "yes" if c.get("equal") else f"NO ({_fmt(c.get('max_abs_diff'))})"
                           for c in checks)
        finite = "yes" if all(c.get("finite") for c in checks) else "NO"
        lines.append(_row(name, _fmt(r.get("min_ms")), _fmt(r.get("median_ms")), _fmt(r.get("cost_to_trl")), equal, finite))
    return lines


def markdown(results: dict) -> str:
    """The results as a page of tables (the JSON holds every figure)."""
    stages = results["stages"]
    env = stages.get("env", {})
    versions = env.get("versions") or {}
    title = "DRY RUN on CPU, tiny sizes: no GPU figures" if results["dry"] else "GPU"
    lines = [f"# GPU check ({title})", "",
             f"Started {results['started']}, finished {results['finished'] or '(running)'}; device: {env.get('gpu', 'cpu')}, "
             f"torch {env.get('torch', '?')}, transformers {versions.get('transformers', '?')}, trl {versions.get('trl', '?')}.",
             "", _row("stage", "status", "seconds"), "|---|---|---|"]
    lines += [_row(name, stage.get("status"), _fmt(stage.get("stage_seconds", stage.get("seconds"))))
              for name, stage in stages.items()]
    for name in ("train", "lora"):
        if "trl" in stages.get(name, {}):
            lines += trainer_table(name, stages[name])
    if stages.get("estimators", {}).get("results"):
        lines += estimator_table(stages["estimators"])
    problems = [f"{name}: {s.get('status')}" + (f" ({s['reason']})" if s.get("reason") else "")
                for name, s in stages.items() if s.get("status") not in ("ok", "pending", "running")]
    if env.get("unmet_requirements"):
        problems.append("unmet requirements: " + "; ".join(env["unmet_requirements"]))
    lines += ["", "## Problems", ""] + ([f"- {p}" for p in problems] or ["none"])
    return "\n".join(lines) + "\n"


# ---- entry points ------------------------------------------------------------------------------------------

def prepare_out(out: Path) -> None:
    """``out`` absent, empty, or this script's earlier output (its files are rewritten); anything else is refused
    before anything is written."""
    if out.exists() and not out.is_dir():
        raise SystemExit(f"--out {out}: a file is in the way; give a folder (new, empty, or an earlier gpu check's).")
    if out.is_dir() and any(out.iterdir()):
        earlier = read_json(out / RESULTS, {})
        if not (isinstance(earlier, dict) and earlier.get("kind") == KIND):
            raise SystemExit(f"--out {out}: the folder holds other files and no earlier {RESULTS}; give a new or "
                             "empty folder (the check rewrites only its own files).")
    out.mkdir(parents=True, exist_ok=True)


def run_child_stage(stage: str, work: Path, sizes: Sizes) -> None:
    out: dict = {}
    part = work / f"{stage}.json"
    save = lambda: write_json(part, out)  # noqa: E731
    if stage == "env":
        stage_env(out, save)
    elif stage == "estimators":
        stage_estimators(out, save, sizes)
    elif stage == "model":
        stage_model(out, save, sizes, work / "model")
    out["imports"] = imported_distributions()
    save()


def parse_sizes(text: str) -> Sizes:
    raw = json.loads(text)
    return Sizes(**{**raw, "arch": RandomArch(**raw["arch"]), "shape": tuple(raw["shape"])})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--vanilla"]:          # child: vanilla TRL on the given overrides
        vanilla_trl(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        help="folder for gpu_check.json, .md and .log (new, empty, or an earlier check's)")
    parser.add_argument("--dry", action="store_true", help="tiny sizes (the default without CUDA)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--budget-s", type=float, default=TOTAL_S, help="time for the whole check (default %(default)s)")
    parser.add_argument("--steps", type=int, help="optimiser steps per trainer (GPU default %d)" % GPU.steps)
    parser.add_argument("--max-new-tokens", type=int, help="tokens per completion (GPU default %d)" % GPU.max_new_tokens)
    parser.add_argument("--prompts-per-step", type=int,
                        help="prompts per step, G=16 each (GPU default %d)" % GPU.prompts_per_step)
    parser.add_argument("--work", type=Path,
                        help="keep the model and runs in this new folder (default: a temporary one, removed)")
    parser.add_argument("--child", choices=("env", "estimators", "model"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child_stage(args.child, args.work, parse_sizes(args.sizes))
        return 0
    if args.out is None:
        parser.error("--out DIR is required (where gpu_check.json, .md and .log go)")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        parser.error(f"--stages {args.stages!r}: choose from {', '.join(STAGES)}")
    for flag in ("steps", "max_new_tokens", "prompts_per_step"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.budget_s <= 0:
        parser.error("--budget-s must be positive")
    import torch

    dry = args.dry or not torch.cuda.is_available()
    if dry and not args.dry:
        print("no CUDA device: dry mode (every step at tiny sizes on the CPU; no GPU figures)", flush=True)
    sizes = dataclasses.replace(DRY if dry else GPU, **{k: v for k, v in (
        ("steps", args.steps), ("max_new_tokens", args.max_new_tokens), ("prompts_per_step", args.prompts_per_step))
        if v is not None})
    if args.work is not None and args.work.exists() and any(args.work.iterdir()):
        parser.error(f"--work {args.work}: give a new or empty folder")
    prepare_out(args.out)
    work = args.work or Path(tempfile.mkdtemp(prefix="dvao-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    check = Check(args.out.resolve(), work.resolve(), sizes, dry, args.budget_s, stages)
    signal.signal(signal.SIGTERM, _interrupt)   # as Ctrl-C: stop the running child, record, clean up
    try:
        results = check.run()
    except KeyboardInterrupt:
        print(f"interrupted: what was measured is in {args.out / RESULTS}", flush=True)
        return 130
    finally:
        if args.work is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)   # the temporary folder this run made, nothing else
    print((args.out / SUMMARY).read_text())
    failed = [n for n, s in results["stages"].items() if s.get("status") != "ok"]
    print(f"results: {args.out / RESULTS}" + (f"; not ok: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
