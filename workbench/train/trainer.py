"""TRL's GRPOTrainer with the advantages replaced by a workbench.advantages estimator.

TRL 1.16 computes advantages inline in ``_generate_and_score_completions`` (no smaller hook), so
``EstimatorGRPOTrainer`` overrides that method: it lets TRL generate and score, keeps the gathered
per-objective rewards (N, K) that ``_calculate_rewards`` returns (a reward function's None is NaN
there), reshapes them to (B, G, K), calls the registry estimator, and puts its advantages into the
returned dict in place of TRL's. The dict keeps its keys and shapes, so TRL's loss, clipping, KL and
importance sampling run unchanged on exactly the estimator's output. TRL's own bookkeeping of the
advantages (the completions table) and of the zero-std fraction is updated to match.

Per-step estimator metrics (workbench.metrics keys) are appended to TRL's metric buffer, so TRL
averages them over the logging window like its own and they reach ``on_log`` callbacks.

A stateful estimator (``advantages.is_stateful``, e.g. dvao_shrink with memory > 0) gets the state its
previous training call returned, and its new state is kept for the next one; evaluation batches read
the state but never update it. The state is written next to each checkpoint (``estimator_state.json``)
and read back on resume, so a resumed run continues with the same prior.
"""
from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import os
from typing import Any, Callable, Sequence

import torch
from trl import GRPOTrainer

from workbench import advantages as registry
from workbench import metrics as M
from workbench.tasks.user_rewards import RewardValueError, check_values
from workbench.tasks.user_rewards import call as call_reward
from workbench.train import dynamic, schedule

log = logging.getLogger(__name__)
ESTIMATOR_STATE = "estimator_state.json"   # a stateful estimator's state, saved inside each checkpoint

class RewardFunctionError(RuntimeError):
    """A task's reward function raised; the message names the function and the completion."""


def _clip(text: Any, limit: int = 200) -> str:
    text = repr(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def guard_reward(fn: Callable[..., list]) -> Callable[..., list]:
    """Wrap a reward function so an exception names the function and the completion that caused it, and
    a return value that is not one finite number (or None / NaN: missing) per completion is refused
    naming the function and the row (workbench/tasks/user_rewards.check_values).

    On failure the batch is re-scored one completion at a time to find the first one that raises
    (reward functions are pure, so re-running them is safe). The wrapper keeps ``__name__``: TRL
    and the metric keys use it as the objective's name. An ``async def`` function stays async (TRL awaits it).
    """
    name = getattr(fn, "__name__", repr(fn))

    def fail(exc: Exception, prompts: Sequence, completions: Sequence, kwargs: dict) -> RewardFunctionError:
        culprit = _first_failing(fn, prompts, completions, kwargs)
        if culprit is None:
            where = f"a batch of {len(completions)} completions (no single completion reproduces it)"
        else:
            i = culprit
            where = f"completion {i} {_clip(completions[i])} of prompt {_clip(prompts[i], 120)}"
        return RewardFunctionError(f"reward function {name!r} raised {type(exc).__name__}: {exc} on {where}. "
                                   "Reward functions must return a float or None (missing) for any text.")

    def checked(values, prompts: Sequence, completions: Sequence) -> list:
        try:
            return check_values(name, values, len(completions), prompts)
        except RewardValueError as exc:
            raise RewardFunctionError(str(exc)) from None

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def guarded_async(prompts: Sequence, completions: Sequence, **kwargs) -> list:
            try:
                values = await fn(prompts=prompts, completions=completions, **kwargs)
            except Exception as exc:
                raise fail(exc, prompts, completions, kwargs) from exc
            return checked(values, prompts, completions)

        return guarded_async

    @functools.wraps(fn)
    def guarded(prompts: Sequence, completions: Sequence, **kwargs) -> list:
        try:
            values = fn(prompts=prompts, completions=completions, **kwargs)
        except Exception as exc:
            raise fail(exc, prompts, completions, kwargs) from exc
        return checked(values, prompts, completions)

    return guarded


def _first_failing(fn, prompts: Sequence, completions: Sequence, kwargs: dict) -> int | None:
    n = len(completions)
    for i in range(n):
        one = {k: (v[i:i + 1] if isinstance(v, (list, tuple)) and len(v) == n else v) for k, v in kwargs.items()}
        try:
            call_reward(fn, prompts=prompts[i:i + 1], completions=completions[i:i + 1], **one)
        except Exception:
            return i
    return None


class EstimatorGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose loss uses ``workbench.advantages.get(estimator)`` on the (B, G, K) rewards.

    estimator: registry name; estimator_options: its keyword options; objective_weights: (K,) base
    weights (the order of ``reward_funcs``); objectives: the K names used in metric keys.
    ``last_estimate`` holds (rewards (B, G, K), AdvantageResult) of the latest generation batch.
    """

    def __init__(self, *args, estimator: str, objective_weights, objectives: Sequence[str],
                 estimator_options: dict | None = None, dynamic_sampling: str = "off", dynamic_rounds: int = 4,
                 **kwargs):
        self.estimator_name = estimator
        self.estimator = registry.get(estimator)
        self.estimator_options = dict(estimator_options or {})
        # A weight schedule (workbench/train/schedule.py) or a static (K,) vector.
        self.weight_schedule = objective_weights if callable(objective_weights) else schedule.constant(objective_weights)
        self.weights_in_use = self.weight_schedule(0)   # the base weights of the latest generated batch
        self.objective_weights = torch.tensor(self.weights_in_use, dtype=torch.float32)
        self.objectives = list(objectives)
        self.dynamic_sampling = dynamic_sampling
        self.dynamic_rounds = int(dynamic_rounds)
        self.last_estimate: tuple[torch.Tensor, registry.AdvantageResult] | None = None
        self.last_dynamic: dict[str, Any] | None = None   # the latest dynamically sampled batch: what happened
        self.estimator_stateful = registry.is_stateful(estimator)
        self.estimator_state: dict[str, torch.Tensor] | None = None
        self._rewards_per_func: torch.Tensor | None = None
        super().__init__(*args, **kwargs)
        if len(self.reward_funcs) != len(self.objectives):
            raise ValueError(f"{len(self.reward_funcs)} reward functions for {len(self.objectives)} objectives "
                             f"{self.objectives}: pass one per objective, in order.")

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards_per_func = rewards  # (N, K) over all processes, NaN = None
        return rewards

    def _grouped_rewards(self, group: int) -> torch.Tensor:
        flat = self._rewards_per_func
        return flat.view(-1, group, flat.shape[1]).float()  # rows of one prompt are consecutive (RepeatSampler)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        mode = "train" if self.model.training else "eval"
        group = self.num_generations if mode == "train" else (self.num_generations_eval or self.num_generations)
        if mode == "train":  # the schedule's weights at this step (a resumed run restores global_step)
            self.weights_in_use = self.weight_schedule(self.state.global_step)
            self.objective_weights = torch.tensor(self.weights_in_use, dtype=torch.float32)
        if mode == "train" and self.dynamic_sampling != "off":
            output, rewards, stats = self._dynamic_batch(inputs, group)
        else:
            output = super()._generate_and_score_completions(inputs)
            rewards = self._grouped_rewards(group)
            stats = {M.zero_spread_frac(o): float(v) for o, v in
                     zip(self.objectives, dynamic.constant_objectives(rewards).float().mean(0).tolist())}
        return self._apply_estimator(output, rewards, mode, stats)

    def _apply_estimator(self, output: dict, rewards: torch.Tensor, mode: str, extra: dict) -> dict:
        """Put the estimator's advantages for ``rewards`` (B, G, K: the whole batch, every process) into
        ``output`` (this process's rows) and log its metrics plus ``extra``."""
        weights = self.objective_weights.to(rewards.device)
        options = self.estimator_options
        if self.estimator_stateful:
            options = {**options, "state": self.estimator_state}
        result = self.estimator(rewards, weights, **options)
        if self.estimator_stateful and mode == "train":
            self.estimator_state = result.state
        all_adv = result.advantages.reshape(-1)

        local = output["advantages"]
        start = self.accelerator.process_index * local.shape[0]
        output["advantages"] = all_adv[start:start + local.shape[0]].to(device=local.device, dtype=local.dtype)

        # TRL appended its own advantages for this batch to the completions-table buffer: replace them.
        buffer = self._logs["advantages"]
        for _ in range(min(all_adv.numel(), len(buffer))):
            buffer.pop()
        buffer.extend(all_adv.tolist())
        stats = M.estimator_metrics(rewards, weights, result, self.objectives)
        stats.update(extra)
        if self._metrics[mode]["frac_reward_zero_std"]:
            self._metrics[mode]["frac_reward_zero_std"][-1] = stats[M.ZERO_VAR_FRAC]
        for key, value in stats.items():
            self._metrics[mode][key].append(value)
        self.last_estimate = (rewards.detach(), result)
        return output

    def _refill_inputs(self, n_prompts: int, round_: int) -> list[dict[str, Any]]:
        """This process's share of ``n_prompts`` newly drawn training prompts per process, each repeated G times.
        Drawn with a generator seeded by (seed, step, round), the same on every process and on a resumed run."""
        data = self.train_dataset
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        gen = torch.Generator().manual_seed(self.args.seed * 1_000_003 + self.state.global_step * 1_009 + round_)
        total = n_prompts * world
        order = torch.cat([torch.randperm(len(data), generator=gen) for _ in range(-(-total // len(data)))])
        mine = order[rank * n_prompts:(rank + 1) * n_prompts].tolist()
        return [data[int(i)] for i in mine for _ in range(self.num_generations)]

    def _dynamic_batch(self, inputs: list[dict[str, Any]], group: int) -> tuple[dict, torch.Tensor, dict]:
        """Generate, drop the groups ``self.dynamic_sampling`` rejects and generate again from new prompts until
        this process's share is full or ``dynamic_rounds`` extra rounds are spent (then dropped groups fill the
        rest; workbench/train/dynamic.py). Returns this process's output rows, the batch's (B, G, K) rewards
        (every process, in process order) and the step's dynamic-sampling metrics."""
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        if len(inputs) % group:   # e.g. train.extra.steps_per_generation splitting groups across processes
            raise ValueError(f"train.dynamic_sampling needs whole groups on each process, but this process generates "
                             f"{len(inputs)} completions per batch with G={group}; drop train.extra's "
                             "steps_per_generation / generation_batch_size, or turn dynamic sampling off.")
        n_local = len(inputs) // group
        fills = [dynamic.Fill(n_local) for _ in range(world)]
        outputs, grouped, round_, generated = [], [], 0, 0
        while True:
            out = GRPOTrainer._generate_and_score_completions(self, inputs)
            rewards = self._grouped_rewards(group).view(world, len(inputs) // group, group, -1)
            generated += rewards.shape[0] * rewards.shape[1] * group
            outputs.append(out)
            grouped.append(rewards)
            for r in range(world):
                fills[r].add_round(round_, dynamic.drop_mask(rewards[r], self.objective_weights, self.dynamic_sampling))
            if all(f.short == 0 for f in fills) or round_ >= self.dynamic_rounds:
                break
            round_ += 1
            # As many new prompts as the shortest share lacks, scaled by the share of groups kept so far (so one
            # round usually suffices), at most a full share; every process generates as many (the rewards are
            # gathered across processes, which needs equal shapes).
            kept = sum(len(f.chosen) for f in fills) / (generated // group)
            short = max(f.short for f in fills)
            inputs = self._refill_inputs(min(n_local, math.ceil(short / max(kept, 1.0 / n_local))), round_)
        for f in fills:
            f.close()
        rounds = round_ + 1
        # The batch's rewards, every process's chosen groups in process order (the estimator's input).
        batch = torch.stack([grouped[rd][r, g] for r in range(world) for rd, g in fills[r].chosen])
        output = self._select_rows(outputs, fills[rank].chosen, group)
        everything = torch.cat([g.reshape(-1, group, g.shape[-1]) for g in grouped])
        const = dynamic.constant_objectives(everything).float().mean(0).tolist()
        stats = {M.zero_spread_frac(o): float(v) for o, v in zip(self.objectives, const)}
        n_groups = everything.shape[0]
        dropped = sum(len(f.dropped) for f in fills)
        filled = sum(f.filled for f in fills)
        stats.update({M.DS_GROUPS_DROPPED: float(dropped), M.DS_GROUPS_FILLED: float(filled),
                      M.DS_EXTRA_COMPLETIONS: float(generated - world * n_local * group),
                      M.DS_ROUNDS: float(rounds), M.DS_GROUPS_GENERATED: float(n_groups)})
        if filled:
            log.warning("dynamic sampling (%s): %d of %d groups still carry no signal after %d extra generation "
                        "rounds; they are trained on to keep the batch size (raise train.dynamic_sampling_rounds)",
                        self.dynamic_sampling, filled, world * n_local, self.dynamic_rounds)
        self.last_dynamic = {"rounds": rounds, "chosen": [list(f.chosen) for f in fills], "dropped": dropped,
                             "filled": filled, "groups_generated": n_groups, "rewards": everything}
        return output, batch, stats

    # Row tensors of TRL's output: left-padded prompt side, right-padded completion side (padding value).
    _LEFT = {"prompt_ids": "pad", "prompt_mask": 0}
    _RIGHT = {"completion_ids": "pad", "completion_mask": 0, "old_per_token_logps": 0.0, "ref_per_token_logps": 0.0,
              "sampling_per_token_logps": 0.0, "tool_mask": 1, "importance_sampling_ratio": 1.0}

    def _select_rows(self, outputs: list[dict], chosen: list[tuple[int, int]], group: int) -> dict:
        """One output dict from the chosen (round, group) rows of several rounds' outputs."""
        pad_id = self._tokenizer.pad_token_id
        merged: dict[str, Any] = {}
        for key, value in outputs[0].items():
            if key == "num_items_in_batch":
                continue
            if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != outputs[0]["advantages"].shape[0]:
                raise NotImplementedError(f"train.dynamic_sampling cannot regroup TRL's {key!r} output (multimodal "
                                          "or tool-image batches); use train.dynamic_sampling=off.")
            parts = [outputs[rd][key][g * group:(g + 1) * group] for rd, g in chosen]
            if key in self._LEFT or key in self._RIGHT:
                side = "left" if key in self._LEFT else "right"
                fill = {**self._LEFT, **self._RIGHT}[key]
                merged[key] = dynamic.pad_cat(parts, pad_id if fill == "pad" else fill, side) if parts[0].dim() == 2 \
                    else torch.cat(parts)
            else:
                merged[key] = torch.cat(parts)
        mask = merged["completion_mask"] if "tool_mask" not in merged else merged["completion_mask"] * merged["tool_mask"]
        merged["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
        return merged

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Every training log carries the base weights in use (those of the batch the step trained on)."""
        if self.model.training and "loss" in logs:
            logs = {**logs, **{M.base_weight(o): float(w) for o, w in zip(self.objectives, self.weights_in_use)}}
        super().log(logs, start_time)

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
        if self.estimator_stateful and self.estimator_state is not None and self.args.should_save \
                and os.path.isdir(folder):
            path = os.path.join(folder, ESTIMATOR_STATE)
            with open(path + ".tmp", "w") as fh:            # write then rename: never a half-written state
                json.dump({k: v.tolist() for k, v in self.estimator_state.items()}, fh)
            os.replace(path + ".tmp", path)

    def _issue_warnings_after_load(self, load_result: Any) -> None:
        """Skip transformers' "missing keys" warning when the only missing key is an output embedding tied
        to the input one: save_pretrained leaves tied weights out, and loading the input embedding fills
        both (the tiny models tie them). Any other missing or unexpected key still warns."""
        out, inp = self.model.get_output_embeddings(), self.model.get_input_embeddings()
        tied = out is not None and inp is not None and out.weight is inp.weight
        if tied and not load_result.unexpected_keys and set(load_result.missing_keys) == {"lm_head.weight"}:
            return
        super()._issue_warnings_after_load(load_result)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, ESTIMATOR_STATE)
        if self.estimator_stateful and os.path.isfile(path):  # absent: the run resumes with a fresh prior
            try:
                with open(path) as fh:
                    self.estimator_state = {k: torch.tensor(v, dtype=torch.float32) for k, v in json.load(fh).items()}
            except (ValueError, TypeError, AttributeError) as exc:   # not JSON, or not a mapping of number lists
                log.warning("%s is unreadable (%s): resuming with a fresh estimator prior", path, exc)

