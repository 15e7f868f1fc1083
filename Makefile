# DVAO workbench. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build installed before the project, so that pyproject's `torch>=2.4` is already met and pip
# pulls no other torch. 2.13.0 is the CPU wheel on the dev/CI machines (pip finds it on disk); on a GPU
# machine the same pin pulls the CUDA build from PyPI. On a CPU machine without that wheel on disk, add
# TORCH_INDEX=https://download.pytorch.org/whl/cpu to fetch the small CPU build instead of the CUDA one.
# TORCH_SPEC= (empty) keeps whatever torch the venv already has.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed
# bfcl-eval ships the BFCL v4 data and checker (task.data.source=bfcl, tests/test_bfcl_oracle.py). Its declared
# dependencies (API clients, numpy==1.26.4, vllm, ...) are needed by neither, so it goes in with --no-deps
# (docs/benchmarks-data.md); the pin must equal workbench/tasks/bfcl_data.py's BFCL_VERSION.
BFCL_VERSION ?= 2026.3.23
BFCL_STAMP := $(VENV)/.bfcl-$(BFCL_VERSION)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"; fi
	$(PY) -m pip install -q -e ".[test,dashboard]"
	touch $(STAMP)

$(BFCL_STAMP): $(STAMP)
	$(PY) -m pip install -q --no-deps "bfcl-eval==$(BFCL_VERSION)"
	touch $(BFCL_STAMP)

.PHONY: install
install: $(STAMP) $(BFCL_STAMP) ## create .venv and install the project editable with its test and dashboard (trackio) extras (+ bfcl-eval, no deps)

.PHONY: test
test: install ## install if needed, then run the test suite (slow tests excluded)
	$(PY) -m pytest -q

.PHONY: test-slow
test-slow: install ## run only the slow tests (long end-to-end runs)
	$(PY) -m pytest -q -m slow

.PHONY: bench
bench: install ## run every benchmark in bench/ and print the ratios
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# ---- the prepared GPU check (bench/gpu, issue 27; docs/scaling.md#the-prepared-gpu-check) ----
GPU_OUT ?= reports/gpu-check
.PHONY: gpu-check wheelhouse
gpu-check: install ## the prepared GPU check into GPU_OUT=reports/gpu-check: real sizes on CUDA, else the dry mode (tiny sizes on CPU, about 2 min)
	$(PY) bench/gpu/check.py --out $(GPU_OUT)

wheelhouse: install ## download the wheels the GPU machine lacks (trl, hydra-core, datasets, ...) into wheelhouse/ and check they fit the 64 MiB it carries
	$(PY) bench/gpu/wheelhouse.py

.PHONY: run
run: install ## train the default job (dvao, math, tiny model; a few minutes here); overrides: make run ARGS="method=rc G=16"
	$(PY) -m workbench.run $(ARGS)

# ---- bandit test bed (workbench/sim, issue 7) ----
.PHONY: sweep-sim
sweep-sim: install ## bandit study: G, K, noisy-aux and correlation sweeps (9 estimators x 5 seeds, 720 runs), then findings
	@mkdir -p runs; for s in sweeps/sim_*.yaml; do n=$$(basename $$s .yaml); echo "== $$n (log: runs/$$n.log)"; \
	  HF_HUB_OFFLINE=1 WANDB_MODE=offline $(PY) -m workbench.run -m -cd . +sweeps=$$n resume=true \
	    > runs/$$n.log 2>&1 || { tail -20 runs/$$n.log; exit 1; }; tail -3 runs/$$n.log; done
	$(PY) -m workbench.sim.report runs --out docs/figures

# ---- LLM sweeps (sweeps/*.yaml, Hydra multiruns; issue 5) ----
# SCALE=paper picks sweeps/<name>_paper.yaml (the papers' grid, GPU cluster, SLURM).
# LAUNCHER=local|slurm|slurm_multigpu|slurm_multinode|submitit_cpu overrides the sweep's launcher; EXTRA="key=value ..." adds overrides.
SCALE ?= cpu
LAUNCHER ?=
EXTRA ?=
SWEEP = HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} $(PY) -m workbench.run -m -cd . +sweeps=$(1)$(if $(filter paper,$(SCALE)),_paper) \
	$(if $(LAUNCHER),hydra/launcher=$(LAUNCHER)) $(EXTRA)

.PHONY: sweep-math sweep-tool sweep-ablate-G sweep-ablate-K sweep-ablate-noise sweep-models
sweep-math: install ## Pareto sweep, math: 5 methods x weights x seeds (SCALE=paper: the papers' grid on SLURM)
	$(call SWEEP,math)
sweep-tool: install ## Pareto sweep, tool use: 5 methods x weights x seeds (SCALE=paper: the papers' grid on SLURM)
	$(call SWEEP,tool)
sweep-ablate-G: install ## ablation: group size G in {2,4,8,16,32}, every estimator (math)
	$(call SWEEP,ablate-G)
sweep-ablate-K: install ## ablation: K=2 vs K=3 objectives (math; K up to 8: make sweep-sim)
	$(call SWEEP,ablate-K)
sweep-ablate-noise: install ## ablation: a noisy or miscalibrated auxiliary objective (math)
	$(call SWEEP,ablate-noise)
sweep-models: install ## ablation: Qwen2.5 0.5B/1.5B/3B (GPU cluster via SLURM only)
	$(call SWEEP,models)

.PHONY: sweep-loss
sweep-loss: install ## estimator x TRL loss study (math): rc/ac/gdpo/dvao x grpo/dapo/dr_grpo/gspo x dynamic sampling off/on x 3 seeds (96 runs), then analysis.pareto
	-$(call SWEEP,loss_study)
	$(PY) -m analysis.pareto runs/loss_study --out reports/loss_study
	$(PY) -m analysis.sampling runs/loss_study --out reports/loss_study

.PHONY: sweep-study
sweep-study: install ## estimator study on the math test bed: every estimator x 3 weights x 5 seeds x 100 steps (150 runs), then analysis.pareto
	-$(call SWEEP,study_math)
	$(PY) -m analysis.pareto runs/study_math --out reports/study_math

.PHONY: demo analyse
demo: install ## first command: install, sweep the 4 estimators on math (tiny model), Pareto analysis (about 1 min once installed and the tiny model is cached)
	-$(call SWEEP,demo)
	$(PY) -m analysis.pareto runs/demo --out reports/demo
	@echo; echo "Pareto report: reports/demo/report.md"; ls reports/demo/front_*.png | sed 's/^/Pareto plot:   /'

RUNS ?= runs
analyse: install ## Pareto and stability reports for every run under RUNS=runs into reports/ (ablations: python -m analysis.ablation)
	$(PY) -m analysis.pareto $(RUNS) --out reports/pareto
	$(PY) -m analysis.stability $(RUNS) --out reports/stability --smooth 15

# ---- live dashboard (analysis/dashboard, issue 25) ----
PORT ?= 7870
.PHONY: dashboard dashboard-check
dashboard: install ## live dashboard of RUNS=runs on http://127.0.0.1:PORT: trackio panels at /, live Pareto fronts at /pareto (Ctrl-C stops it)
	$(PY) -m analysis.dashboard $(RUNS) --port $(PORT)

dashboard-check: install ## the dashboard in headless Chromium (installs Debian's chromium and playwright if missing); screenshots in reports/dashboard-check/
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "Chromium is missing: run 'sudo apt-get install chromium', then make dashboard-check again"; exit 1; fi; \
	  echo "installing Debian's chromium"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@$(PY) -c "import playwright" 2>/dev/null || $(PY) -m pip install -q -e ".[browser]"
	$(PY) -m pytest -q -p no:cacheprovider -m browser tests/test_dashboard_browser.py
