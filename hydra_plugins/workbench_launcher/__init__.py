"""The workbench's Hydra launcher plugin (``hydra/launcher=local``, conf/hydra/launcher/local.yaml)."""
