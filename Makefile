# Two entry points: `make demo` (the offline demo, end to end) and `make test`.
# Each creates .venv on a fresh machine and installs the project into it from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# Which torch build: empty = whatever plain pip resolves torch==2.13.0 to (on Linux x86_64 from the public
# index that is the CUDA build). For a CPU-only machine pass PyTorch's CPU wheel index, e.g.
#   make demo TORCH_INDEX_URL=<the CPU index URL from PyTorch's "Get started" page>
TORCH_INDEX_URL ?=
TORCH_VERSION := 2.13.0

.PHONY: venv demo test lint lock clean-demo

$(BIN)/.installed: pyproject.toml requirements.lock requirements-i3d.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	# every other package at the locked version and hash (torch is left to the line above)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-i3d.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --rerun-incomplete

test: venv
	$(BIN)/python -m pytest -x -q tests

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

# Regenerate requirements.lock after changing a pin in pyproject.toml (the one place pins are written).
lock:
	$(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet pip-tools==7.6.2
	.lockenv/bin/pip-compile --quiet --extra extract --extra workflow --extra test --extra serve --generate-hashes --strip-extras \
		--unsafe-package torch --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
	.lockenv/bin/python tools/sync_envs.py
