"""Models: char tokenizer, model configs (parse + Hydra composition), local-directory loading,
the tiny-model cache (reuse, keying, concurrent builders). Fast: no full warm-up here."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
import torch

from tests.conftest import CONF, conf_node, task_with
from workbench import models
from workbench.models import tiny
from workbench.models.sample import sample
from workbench.models.tokenizer import build_char_tokenizer

MODEL_NAMES = sorted(p.stem for p in (CONF / "model").glob("*.yaml") if p.stem != "hf")
HF = ["model.path=/data/my-model"]  # model=hf needs a model; its name then defaults to the folder's
SMALL = {"arch": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64},
         "warmup": {"steps": 3, "batch_size": 8}, "max_completion_length": 24}


def small_math(**over):
    """A small math task whose warm-up takes the model's steps (math.yaml's own 1200 would be slow here)."""
    return task_with("math", **{"data.n_train": 200, "data.n_eval": 20, "warmup.steps": None, **over})


def test_char_tokenizer_round_trip_and_whole_tokens():
    tok = build_char_tokenizer(["abc 123:"], ["<think>", '{"name": "'])
    text = '<think>ab 12{"name": "c'
    ids = tok(text)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[:3] == ["<think>", "a", "b"] and len(ids) == 8
    assert tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) == text
    assert len({tok.pad_token_id, tok.eos_token_id, tok.unk_token_id}) == 3
    assert tok("Z")["input_ids"] == [tok.unk_token_id]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_configs_parse_and_name_their_file(name):
    cfg = models.parse(conf_node("model", name))
    assert cfg.name == name
    if cfg.kind == "hf":
        assert cfg.dtype == "bf16" and cfg.use_vllm and cfg.hub_name.startswith("Qwen/")
    else:
        assert cfg.use_cpu and not cfg.use_vllm and cfg.max_completion_length <= 32
        assert cfg.arch.max_positions >= cfg.max_prompt_length + cfg.max_completion_length


@pytest.mark.parametrize("task_name", ["math", "tool"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_configs_compose_with_hydra(name, task_name):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"model={name}", f"task={task_name}", "logger=none"])
    assert cfg.model.name == name and cfg.task.name == task_name
    assert models.parse(cfg.model).name == name
    assert task_with(task_name).objectives == list(cfg.task.objectives)


def test_model_hf_composes_and_is_named_after_its_folder():
    from hydra import compose, initialize_config_dir

    import workbench.train.config  # noqa: F401  (registers the wb.* resolvers, as workbench.run does)

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["model=hf", *HF, "logger=none"])
    parsed = models.parse(cfg.model)
    assert (parsed.name, parsed.kind, parsed.path, parsed.lora.r) == ("my-model", "hf", "/data/my-model", 0)
    assert not parsed.use_vllm and parsed.hub_name is None


@pytest.mark.parametrize("bad, match", [
    ({"kind": "onnx"}, "valid kinds"), ({"dtype": "int8"}, "valid dtypes"),
    ({"kind": "hf"}, "model.path=DIR .* or model.hub_name"), ({"max_completion_lenght": 3}, "unknown option"),
    ({"lora": {"r": 2, "target_modules": []}}, "model.lora.target_modules"), ({"lora": {"rank": 2}}, "model.lora"),
    ({"arch": {"layers": 3}}, r"model.arch: unknown option"),
])
def test_bad_model_config_says_how_to_fix(bad, match):
    with pytest.raises(ValueError, match=match):
        models.parse({"name": "x", **bad})


def test_local_directory_loads_like_a_real_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = small_math()
    cfg = models.parse(SMALL)
    tok = tiny.tiny_tokenizer(task)
    saved = tiny.fresh_model(cfg, tok, seed=0)
    saved.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model, tokenizer = models.build({"name": "local", "kind": "hf", "path": str(tmp_path), "dtype": "fp32"}, task)
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), model.state_dict().values()))
    texts, lengths = sample(model, tokenizer, task.eval_dataset()["prompt"][:4], max_new_tokens=6)
    assert len(texts) == 4 and all(1 <= n <= 6 for n in lengths)


def test_missing_local_or_uncached_model_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="model.path=.*config.json"):
        models.build({"name": "x", "kind": "hf", "path": str(tmp_path / "none")}, None)
    with pytest.raises(OSError, match="HF_HUB_OFFLINE=1.*model.path"):
        models.build({"name": "x", "kind": "hf", "hub_name": "nobody/not-a-cached-model-xyz"}, None)


def _build_in(cache: str, steps: int) -> str:
    import os

    os.environ["DVAO_CACHE"] = cache
    torch.set_num_threads(1)
    cfg = models.parse({**SMALL, "warmup": {"steps": steps, "batch_size": 8}})
    return str(tiny.build_tiny(cfg, small_math(), progress=False))


def test_cache_is_reused_and_keyed_by_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DVAO_CACHE", str(tmp_path))
    first = Path(_build_in(str(tmp_path), 3))
    stamp = (first / tiny.INFO).stat().st_mtime_ns
    assert Path(_build_in(str(tmp_path), 3)) == first and (first / tiny.INFO).stat().st_mtime_ns == stamp
    assert Path(_build_in(str(tmp_path), 4)) != first
    other_task = small_math(**{"data.seed": 1})
    assert tiny.cache_key(models.parse(SMALL), other_task) != tiny.cache_key(models.parse(SMALL), small_math())
    model, tok = models.build({**SMALL, "warmup": {"steps": 3, "batch_size": 8}}, small_math())
    assert tok.eos_token_id == model.generation_config.eos_token_id
    # the reloaded tokenizer is the one trained with (AutoTokenizer's Qwen2Tokenizer drops spaces)
    fresh = tiny.tiny_tokenizer(small_math())
    text = "= 12 08 Answer:1+2=\n"
    assert tok(text)["input_ids"] == fresh(text)["input_ids"] and tok.decode(tok(text)["input_ids"]) == text


def test_math_recipe_changes_the_cache_key():
    cfg = models.parse(SMALL)
    base = tiny.cache_key(cfg, small_math())
    for over in ({"warmup.worked_frac": {"easy": 0.2, "hard": 0.6}}, {"data.easy_frac": 0.3}, {"warmup.samples": 4},
                 {"data.digits": 4}, {"warmup.steps": 7}):
        assert tiny.cache_key(cfg, small_math(**over)) != base, over
    same = small_math(**{"eval.temperature": 0.6})
    assert tiny.cache_key(cfg, same) == base       # evaluation settings are checked at use, not rebuilt for


def test_a_built_math_model_carries_its_property_record(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("DVAO_CACHE", str(tmp_path))
    task = small_math(**{"warmup.samples": 3})
    path = tiny.build_tiny(models.parse({**SMALL, "warmup": {"steps": 3, "batch_size": 8}}), task, progress=False)
    info = json.loads((path / tiny.INFO).read_text())
    record = info["properties"]
    assert record["prompts"] == 20 and record["samples"] == 3 and info["stats"]["measure_seconds"] > 0
    assert sum(c["n"] for forms in record["cells"].values() for c in forms.values()) == 60
    assert set(record["cells"]) == {"easy", "hard"}
    model, _ = tiny.load_dir(path)
    assert model.config.property_record == record     # travels with the model into every run


def test_parallel_builders_share_one_model(tmp_path):
    with mp.get_context("fork").Pool(3) as pool:
        dirs = pool.starmap(_build_in, [(str(tmp_path), 5)] * 3)
    assert len(set(dirs)) == 1
    left = sorted(p.name for p in (tmp_path / "tiny").iterdir() if not p.name.endswith(".lock"))
    assert left == [Path(dirs[0]).name]  # no half-built temp directories left behind


def test_warmup_lowers_the_loss():
    task = small_math()
    cfg = models.parse({**SMALL, "warmup": {"steps": 40, "batch_size": 16, "lr": 3e-3}})
    tok = tiny.tiny_tokenizer(task)
    model = tiny.fresh_model(cfg, tok, seed=0)
    ids, labels = tiny.encode_demos(tok, task.warmup_examples(64, seed=9), 64)
    before = model(input_ids=ids, labels=labels).loss.item()
    stats = tiny.warm_up(model, tok, task, cfg, progress=False)
    after = model(input_ids=ids, labels=labels).loss.item()
    assert stats["steps"] == 40 and after < before - 0.5


def test_task_warmup_steps_override_the_model_and_key():
    cfg = models.parse(SMALL)
    seven = task_with("tool", **{"warmup.steps": 7, "data.n_train": 100, "data.n_eval": 10})
    eight = task_with("tool", **{"warmup.steps": 8, "data.n_train": 100, "data.n_eval": 10})
    default = task_with("tool", **{"warmup.steps": None, "data.n_train": 100, "data.n_eval": 10})
    assert tiny.effective(cfg, seven).warmup.steps == 7 and tiny.effective(cfg, default).warmup.steps == 3
    assert len({tiny.cache_key(cfg, t) for t in (seven, eight, default)}) == 3
