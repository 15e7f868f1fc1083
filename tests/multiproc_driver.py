"""``python -m workbench.run`` in one torchrun rank, with spies (tests/test_multiproc.py runs it).

    torchrun --standalone --nproc_per_node 2 tests/multiproc_driver.py SPY_DIR key=value ...

Records, per rank, into SPY_DIR/rank<N>.json: each generation batch's gathered (B, G, K) rewards and
the advantages this rank kept, the advantages that reached the loss, and the evaluation chunks this
rank generated. The same spies tests/test_trainer.py installs with monkeypatch, in a child process.
"""
from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path


def install(records: dict) -> None:
    from workbench.train import evaluate as E
    from workbench.train.trainer import EstimatorGRPOTrainer

    generate, compute_loss = EstimatorGRPOTrainer._generate_and_score_completions, EstimatorGRPOTrainer._compute_loss
    shard = E.generate_shard

    def spy_generate(self, inputs):
        out = generate(self, inputs)
        rewards, _ = self.last_estimate
        records["generations"].append({
            "step": self.state.global_step, "process_index": self.accelerator.process_index,
            "rewards": rewards.tolist(), "advantages": out["advantages"].tolist()})
        return out

    def spy_loss(self, model, inputs):
        records["losses"].append({"step": self.state.global_step, "advantages": inputs["advantages"].tolist()})
        return compute_loss(self, model, inputs)

    def spy_shard(model, tokenizer, prompts, s, rank, world, lockstep=False):
        out = shard(model, tokenizer, prompts, s, rank, world, lockstep)
        records["eval"].append({"world": world, "rows": len(prompts), "chunks": sorted(out),
                                "completions": sum(len(shard[0]) for shard in out.values())})
        return out

    EstimatorGRPOTrainer._generate_and_score_completions = spy_generate
    EstimatorGRPOTrainer._compute_loss = spy_loss
    E.generate_shard = spy_shard


def main() -> None:
    spy_dir, overrides = Path(sys.argv[1]), sys.argv[2:]
    records: dict[str, list] = {"generations": [], "losses": [], "eval": []}
    install(records)
    sys.argv = ["workbench.run", *overrides]
    try:  # as `python -m workbench.run`: Hydra finds conf/ relative to the __main__ file
        runpy.run_module("workbench.run", run_name="__main__", alter_sys=True)
    finally:
        spy_dir.mkdir(parents=True, exist_ok=True)
        (spy_dir / f"rank{os.environ.get('RANK', '0')}.json").write_text(json.dumps(records))


if __name__ == "__main__":
    main()
