# Every user-facing target creates or refreshes .venv first, from the pinned lock.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lock-installed
# Native Triton's own small environment (numpy 1.x for its Python backend stub; see
# requirements-triton.lock). A failed build leaves Triton SKIPPED with the reason, never the rest;
# in CI (CI=true) it fails the run: CI provides native Triton, so its tests must run.
TRITON_VENV := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.lock-installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv triton-env deploy-compare export lint test test-fast bench clean torchserve-base

# torch's CPU-only build (torch==X+cpu) is published on PyTorch's own index, not on PyPI.
# torch is installed on its own: from pip's usual sources first (these machines have the
# wheel on local disk through pip's find-links), else from that index, for torch only.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN = $$(sed -n 's/^\(torch==[^ ]*\).*/\1/p' requirements.lock)

# The stamp depends on the lock and on pyproject.toml: editing either refreshes the venv.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24" "setuptools>=68" wheel
	grep -v '^torch==' requirements.lock > $(VENV)/lock-without-torch.txt
	$(PY) -m pip install --quiet --no-deps -r $(VENV)/lock-without-torch.txt
	$(PY) -m pip install --quiet --no-deps "$(TORCH_PIN)" 2>/dev/null \
	  || $(PY) -m pip install --quiet --no-deps --index-url $(TORCH_CPU_INDEX) "$(TORCH_PIN)"
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

$(TRITON_STAMP): requirements-triton.lock
	@test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet --no-deps -r requirements-triton.lock
	@touch $(TRITON_STAMP)

# Best effort on a developer's machine: without it only native Triton is SKIPPED (with this
# reason), not the run. In CI a failed build is an error.
triton-env:
	@$(MAKE) --no-print-directory $(TRITON_STAMP) || { \
	  if [ "$${CI:-}" = true ]; then echo "error: $(TRITON_VENV) not built (CI requires native Triton)"; exit 1; fi; \
	  echo "note: $(TRITON_VENV) not built; native Triton will be SKIPPED"; }

venv: $(STAMP) triton-env

# The main job: export, in-process benchmarks, every serving stack, report in runs/latest/.
deploy-compare: $(STAMP) triton-env
	$(VENV)/bin/deploy-compare run $(ARGS)

export: $(STAMP)
	$(VENV)/bin/deploy-compare export $(ARGS)

# Lint, format, types, the layers (lint-imports: DESIGN.md's layers, [tool.importlinter] in
# pyproject.toml) and the docs site (mkdocs --strict, into the git-ignored site/) gate every
# test run (CI runs `make test`).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
	$(VENV)/bin/lint-imports --no-cache

test: lint triton-env
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: lint
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/harness_overhead.py

clean:
	rm -rf artifacts runs site .pytest_cache

# The local stand-in for the official TorchServe base image (offline / mirrored networks, CI):
# debootstrap + the lock's torchserve and torch, `docker import`ed; content-addressed, so a
# second run reuses it. Needs root and a Docker engine. Use the tag it prints with
# `--torchserve-base-image` or `[torchserve] base_image`.
torchserve-base:
	docker/torchserve-standin/build.sh
