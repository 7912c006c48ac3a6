# Every user-facing target creates or refreshes .venv first, from the pinned lock.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lock-installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv deploy-compare export lint test test-fast bench clean

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

venv: $(STAMP)

# The main job: export, in-process benchmarks, TorchServe / TF Serving, report in runs/latest/.
deploy-compare: $(STAMP)
	$(VENV)/bin/deploy-compare run $(ARGS)

export: $(STAMP)
	$(VENV)/bin/deploy-compare export $(ARGS)

# Lint, format and types gate every test run (CI runs `make test`).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: lint
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/harness_overhead.py

clean:
	rm -rf artifacts runs .pytest_cache
