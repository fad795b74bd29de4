"""docs/METHODS.md's worked example as a test: a method (examples/methods/dem_av.py) and a classical baseline
(soc_ridge.py) in files outside the package run through the workflow beside a built-in one, show under their
own labels in Table 1 and the critical-difference data, and editing a file re-runs its jobs and only those."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from released_helpers import write_released
from workflow_helpers import copy_repo, job_counts, snakemake

from avgzsl.reporting.figures import critical_difference_scores

pytestmark = pytest.mark.slow


def test_a_method_outside_the_package_runs_reports_and_reruns_alone(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    write_released(tmp_path / "released", layout="avca", n_classes=5, n_unseen=2, clips=4)
    cfg = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    cfg.update(dataset="features", results=str(tmp_path / "results"), features={"released_root": str(tmp_path / "released")},
               experiments={"avgzslnet": {}, "dem": {"model": {"kind": "dem_av:DEM", "options": {"hidden_dim": 32}}},
                            "soc": {"baseline": "soc_ridge:SOC", "options": {"ridge": 0.5}}})
    config = tmp_path / "methods.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {"PYTHONPATH": f"{repo / 'examples' / 'methods'}:{repo}"}
    snakemake(repo, "--configfile", str(config), timeout=900, env=env)

    out = tmp_path / "results" / "features"
    t1 = pd.read_csv(out / "tables" / "table1_classification.csv", dtype=str, keep_default_na=False)
    dem = t1[t1["experiment"] == "dem"]
    assert set(dem["Test"]) == {"audio", "video", "both"}
    assert dict(zip(dem["Test"], dem["Model"])) == {"audio": "DEM", "video": "DEM", "both": "DEM (eq wt, mean)"}
    assert all(dem["HM"] != "")
    soc = t1[t1["experiment"] == "soc"]  # a classical baseline of the user's own, through the same door
    assert list(soc["Model"].unique()) == ["SOC"] and set(soc["Test"]) == {"audio", "video"}
    cd = critical_difference_scores(out / "runs", {"avgzslnet": {"seeds": [0]}, "dem": {"seeds": [0]}})
    assert {"DEM [audio]", "DEM [video]", "DEM (eq wt, mean) [both]"} <= set(cd.columns)
    assert (out / "figures" / "critical_difference.png").stat().st_size > 0
    figures_log = (out / "logs" / "figures.log").read_text()
    assert "t-SNE dem audio" in figures_log and "t-SNE dem video" in figures_log  # its own map, beside AVGZSLNet's

    method = repo / "examples" / "methods" / "dem_av.py"
    method.write_text(method.read_text().replace('"""DEM for audio-visual', '"""DEM, edited docstring, for audio-visual'))
    plan = snakemake(repo, "--configfile", str(config), "-n", env=env)
    assert job_counts(plan.stdout + plan.stderr) == {}  # a docstring is not code
    method.write_text(method.read_text().replace("hidden_dim: int = 700", "hidden_dim: int = 701"))
    plan = snakemake(repo, "--configfile", str(config), "-n", env=env)
    counts = job_counts(plan.stdout + plan.stderr)
    assert counts.get("train_seed") == 1 and counts.get("summarize_experiment") == 1  # dem's seed, not avgzslnet's
    assert "runs/dem/seed0" in plan.stdout and "runs/avgzslnet/seed0" not in plan.stdout
    assert "run_baseline" not in counts
    baseline = repo / "examples" / "methods" / "soc_ridge.py"
    method.write_text(method.read_text().replace("hidden_dim: int = 701", "hidden_dim: int = 700"))
    baseline.write_text(baseline.read_text().replace("ridge: float = 1.0", "ridge: float = 2.0"))
    counts = job_counts((lambda p: p.stdout + p.stderr)(snakemake(repo, "--configfile", str(config), "-n", env=env)))
    assert counts.get("run_baseline") == 1 and "train_seed" not in counts
