"""Training: the GRPOTrainer subclass, its config schema, callbacks and evaluation.

    from workbench.train.config import load         # DictConfig -> validated RunConfig
    from workbench.train.trainer import EstimatorGRPOTrainer, guard_reward
    from workbench.train.llm import train_llm        # one LLM run (called by workbench.run.run)
"""
