"""The tiny policy: a few-layer Qwen2 decoder with a char-level tokenizer, warmed up by supervised
training on the task's own demonstrations, cached on disk keyed by its settings.

Cache: ``$DVAO_CACHE`` (default ``~/.cache/dvao-workbench``) / ``tiny/<task>-<hash>/`` holding the
model, the tokenizer and ``warmup.json`` (settings, final loss, seconds and, for a task that measures
its warmed policy (``task.measure_policy``, e.g. math's per-difficulty, per-form accuracies), that
property record, also kept in the model's config as ``property_record``). Parallel sweep jobs are safe:
one builder at a time holds a file lock, builds in a temporary directory and renames it into place,
so a reader never sees a half-written model.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from workbench.models.config import ModelConfig
from workbench.models.tokenizer import EOS, build_char_tokenizer

VERSION = 1  # bump when the build recipe changes, so stale caches are not reused
INFO = "warmup.json"


def cache_root() -> Path:
    """Where warmed models live (``DVAO_CACHE`` or ``~/.cache/dvao-workbench``)."""
    return Path(os.environ.get("DVAO_CACHE") or Path.home() / ".cache" / "dvao-workbench")


def effective(cfg: ModelConfig, task) -> ModelConfig:
    """``cfg`` with the task's warm-up overrides applied (e.g. the tool task's own step count)."""
    over = task.warmup_overrides() if hasattr(task, "warmup_overrides") else {}
    return dataclasses.replace(cfg, warmup=dataclasses.replace(cfg.warmup, **over)) if over else cfg


def cache_key(cfg: ModelConfig, task) -> str:
    """Hash of everything that changes the built model: architecture, warm-up and the task's data."""
    cfg = effective(cfg, task)
    blob = json.dumps({"v": VERSION, "arch": dataclasses.asdict(cfg.arch),
                       "warmup": {k: v for k, v in dataclasses.asdict(cfg.warmup).items() if k != "threads"},
                       "task": task.warmup_key()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_dir(cfg: ModelConfig, task) -> Path:
    return cache_root() / "tiny" / f"{task.name}-{cache_key(cfg, task)}"


def fresh_model(cfg: ModelConfig, tokenizer, seed: int):
    """An untrained tiny Qwen2 decoder sized for ``tokenizer``."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    a = cfg.arch
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=a.hidden_size, num_hidden_layers=a.num_layers,
                         num_attention_heads=a.num_heads, num_key_value_heads=a.num_heads,
                         intermediate_size=a.intermediate_size, max_position_embeddings=a.max_positions,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = None
    return model


def tiny_tokenizer(task):
    return build_char_tokenizer(task.vocab_texts() + [p + c for p, c in task.warmup_examples(256, 0)],
                                task.vocab_tokens())


def encode_demos(tokenizer, demos: list[tuple[str, str]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L) input ids right-padded and (N, L) labels with -100 on prompt and padding positions."""
    rows, labels = [], []
    for prompt, completion in demos:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(completion + EOS, add_special_tokens=False)["input_ids"]
        ids = (p + c)[:max_len]
        rows.append(ids)
        labels.append(([-100] * len(p) + c)[:max_len])
    width = max(map(len, rows))
    ids_t = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    lab_t = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (r, l) in enumerate(zip(rows, labels)):
        ids_t[i, : len(r)] = torch.tensor(r)
        lab_t[i, : len(l)] = torch.tensor(l)
    return ids_t, lab_t


def warm_up(model, tokenizer, task, cfg: ModelConfig, progress: bool = True) -> dict:
    """Supervised warm-up in place: AdamW, linear decay to 10%, loss on completion tokens only.

    Returns ``{"final_loss", "seconds", "steps", "examples"}``.
    """
    from tqdm.auto import tqdm

    w = cfg.warmup
    demos = task.warmup_examples(w.steps * w.batch_size, w.seed + 1)
    ids, labels = encode_demos(tokenizer, demos, cfg.arch.max_positions)
    opt = torch.optim.AdamW(model.parameters(), lr=w.lr, weight_decay=0.0, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - 0.9 * s / max(1, w.steps))
    model.train()
    start, ema = time.time(), None
    bar = tqdm(range(w.steps), desc=f"warm-up tiny/{task.name}", disable=not progress, mininterval=2)
    for step in bar:
        sl = slice(step * w.batch_size, (step + 1) * w.batch_size)
        x, y = ids[sl], labels[sl]
        width = int((x != tokenizer.pad_token_id).sum(1).max())  # trim padding columns: cheaper steps
        x, y = x[:, :width], y[:, :width]
        loss = model(input_ids=x, attention_mask=(x != tokenizer.pad_token_id).long(), labels=y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        bar.set_postfix(loss=f"{ema:.3f}", refresh=False)  # redraw at mininterval, not every step
    model.eval()
    return {"final_loss": ema, "seconds": time.time() - start, "steps": w.steps, "examples": len(demos)}


def measure(model, tokenizer, task, cfg: ModelConfig, stats: dict) -> dict | None:
    """The task's property record of the warmed policy (None when the task measures nothing); its
    sampling time goes into ``stats["measure_seconds"]``."""
    if not hasattr(task, "measure_policy"):
        return None
    start = time.time()
    # the model attends over at most max_positions tokens: longer sampling only produces garbage, slowly
    record = task.measure_policy(model, tokenizer, min(cfg.max_completion_length, cfg.arch.max_positions))
    stats["measure_seconds"] = time.time() - start
    return record


def build_tiny(cfg: ModelConfig, task, progress: bool = True) -> Path:
    """Directory of the warmed tiny model for ``task``, building it if the cache lacks it."""
    target = cache_dir(cfg, task)
    cfg = effective(cfg, task)
    if (target / INFO).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second job waits here, then finds the finished model
        if (target / INFO).is_file():
            return target
        for stale in target.parent.glob(f".{target.name}-*"):  # left by a killed builder; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.warmup.threads)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            tokenizer = tiny_tokenizer(task)
            model = fresh_model(cfg, tokenizer, cfg.warmup.seed)
            stats = warm_up(model, tokenizer, task, cfg, progress)
            record = measure(model, tokenizer, task, cfg, stats)
            if record is not None:  # travels with the model, so an evaluation can score against its front
                model.config.property_record = record
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            info = {"stats": stats, "params": sum(p.numel() for p in model.parameters()),
                    "arch": dataclasses.asdict(cfg.arch), "warmup": dataclasses.asdict(cfg.warmup),
                    "task": task.warmup_key(), "version": VERSION, "properties": record}
            (tmp / INFO).write_text(json.dumps(info, indent=1, default=str))
            os.rename(tmp, target)
        except OSError:
            if not (target / INFO).is_file():  # a racer without working locks got there first: keep theirs
                raise
        finally:
            torch.set_num_threads(threads)
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_dir(path: Path, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) from a saved directory, pad/eos set for generation."""
    from transformers import AutoModelForCausalLM

    from workbench.models.hf import load_tokenizer

    tokenizer = load_tokenizer(str(path))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def export(out: str | os.PathLike, task_name: str = "math", progress: bool = True) -> Path:
    """Copy the warmed tiny model of a built-in task (built first if the cache lacks it) to ``out``, a new folder:
    a small real policy saved with ``save_pretrained``, to try ``model=hf model.path=out`` with a task of one's own
    (it answers ``a+b=`` prompts; docs/your-experiment.md). ``out`` must not exist: nothing is overwritten."""
    from omegaconf import OmegaConf

    from workbench import tasks
    from workbench.models.config import parse
    from workbench.train.config import CONF_DIR

    target = Path(out).expanduser()
    if target.exists():
        raise FileExistsError(f"{target} exists; give a new folder (nothing is overwritten)")
    task = tasks.build(OmegaConf.load(CONF_DIR / "task" / f"{task_name}.yaml"))
    model_cfg = parse(OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "tiny.yaml")))
    source = build_tiny(model_cfg, task, progress)
    tmp = target.with_name(f".{target.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    os.rename(tmp, target)   # a killed copy never leaves a half-written model under the real name
    return target


def main(argv: list[str] | None = None) -> None:
    """``python -m workbench.models.tiny --out DIR [--task math|tool]``: export the warmed tiny model."""
    import argparse

    parser = argparse.ArgumentParser(description=export.__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="a new folder for the model and its tokenizer")
    parser.add_argument("--task", default="math", choices=("math", "tool"), help="whose warm-up data (default math)")
    args = parser.parse_args(argv)
    try:
        path = export(args.out, args.task)
    except FileExistsError as exc:
        parser.error(str(exc))
    print(f"saved the tiny {args.task} model to {path}; use it with model=hf model.path={path}")


if __name__ == "__main__":
    main()
