"""Known library noise kept out of a run's output, narrowly: each entry names one message or bar.

A 4-step run printed transformers' per-load "Loading weights" and per-checkpoint "Writing model shards"
progress bars, a FutureWarning that transformers raises against its own deprecated name (called from
inside TRL and transformers, not from our code) at every step, and "[INFO] Running in WANDB offline mode"
(a print at import of transformers.integrations whenever WANDB_MODE=offline, even with logger=none; our
own logger says which W&B mode a run uses). They say nothing about the run. Every other warning stays
visible: the filters match one message each, not a category or a module.
"""
from __future__ import annotations

import os
import warnings

# (message regex, category): warnings raised inside the libraries about their own internals.
KNOWN_NOISE: tuple[tuple[str, type[Warning]], ...] = (
    # transformers 5 deprecates is_gradient_checkpointing; TRL's GRPOTrainer and transformers' Trainer
    # still read it every step. Nothing a user can change.
    (r"`is_gradient_checkpointing` is deprecated", FutureWarning),
)


def silence_known_noise() -> None:
    """Filter KNOWN_NOISE, import transformers' integrations without their WANDB_MODE print, and turn off
    transformers' load/save progress bars (the run logs one line per step instead). Idempotent; call it
    before TRL or transformers' Trainer is imported (workbench.run.validate does), not at import."""
    for message, category in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
    mode = os.environ.pop("WANDB_MODE", None)  # that module reads it only for the print
    try:
        import transformers.integrations.integration_utils  # noqa: F401
    finally:
        if mode is not None:
            os.environ["WANDB_MODE"] = mode
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
