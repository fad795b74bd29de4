"""dataset: ucf-gzsl: the workflow imports an AVCA-GZSL benchmark folder and runs both stages to the tables."""

from __future__ import annotations

import json

import h5py
import pandas as pd
import pytest
import yaml
from avca_helpers import write_class_split, write_released_features
from workflow_helpers import copy_repo, job_counts, snakemake

pytestmark = pytest.mark.slow


def test_workflow_runs_an_avca_benchmark_through_both_stages(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    lists = write_class_split(tmp_path / "lists", "ucf-gzsl")
    write_released_features(tmp_path / "UCF", lists, "ucf-gzsl", "main")
    cfg = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    cfg.update(
        dataset="ucf-gzsl", results=str(tmp_path / "results"),
        experiments={"avgzslnet": {"train": {"protocol": "avca"}}, "eszsl": {"baseline": "eszsl"}},
        avca_gzsl={"root": str(tmp_path / "UCF"), "split_lists": str(tmp_path / "lists"),
                   "verify_split_lists": False, "text_lookup": "avca_compat"},
    )
    (tmp_path / "ucf.yaml").write_text(yaml.safe_dump(cfg))
    done = snakemake(repo, "--configfile", str(tmp_path / "ucf.yaml"), timeout=900)
    assert job_counts(done.stderr + done.stdout).get("import_avca_benchmark") == 1
    out = tmp_path / "results" / "ucf-gzsl" / "main-avca_compat"
    record = json.loads((out / "avca_benchmark.json").read_text())
    assert record["text_lookup"] == "avca_compat" and record["avca_text_mismatch"]["applied"]
    run = out / "runs" / "avgzslnet" / "seed0"
    history = pd.read_csv(run / "history.csv")
    assert (history.get("phase") == "retrain").any()  # stage 2 retrained
    metrics = json.loads((run / "metrics.json").read_text())
    baseline = json.loads((out / "runs" / "eszsl" / "seed0" / "metrics.json").read_text())
    assert baseline["protocol"] == "avca" and baseline["train_clips"] > baseline["stage1_train_clips"]
    assert metrics["protocol"] == "avca" and metrics["coverage"]["trn_val"]["clips"] == (
        metrics["coverage"]["trn"]["clips"] + metrics["coverage"]["val"]["clips"])
    t1 = pd.read_csv(out / "tables" / "table1_classification.csv", dtype=str, keep_default_na=False)
    both = t1[(t1["experiment"] == "avgzslnet") & (t1["Test"] == "both")].iloc[0]
    assert both["HM (calibrated)"] != "" and both["HM (AVCA-GZSL)"] == "18.05"  # UCF-GZSL's, not AudioSetZSL's
    assert both["Model"] == "AVGZSLNet (sum)" and list(t1.columns[2:6]) == [  # AVCA's protocol: calibrated first
        "S (calibrated)", "U (calibrated)", "HM (calibrated)", "HM (AVCA-GZSL)"]
    assert not [c for c in t1.columns if "paper" in c]
    # recompute-tables reads the benchmark and feature set from avca_benchmark.json beside the runs
    from avgzsl.cli import main

    assert main(["recompute-tables", str(out / "runs"), "--out", str(tmp_path / "rt")]) == 0
    for name in ("table1_classification.md", "table3_cmd_ablation.md"):
        assert (tmp_path / "rt" / name).read_text() == (out / "tables" / name).read_text()
    # the benchmark table: ours beside AVCA-GZSL's published numbers

    assert main(["benchmark-table", str(out), "--out", str(tmp_path / "bt")]) == 0
    table = pd.read_csv(tmp_path / "bt" / "avca_benchmarks_main_avca_compat.csv", dtype=str, keep_default_na=False)
    row = table[table["method"] == "AVGZSLNet"].iloc[0]  # as Table 1 spells it
    assert row["ucf-gzsl HM"] != "" and row["ucf-gzsl HM (AVCA-GZSL)"] == "18.05"
    assert row["vggsound-gzsl HM"] == "" and row["vggsound-gzsl HM (AVCA-GZSL)"] == "5.83"
    assert table[table["method"] == "ESZSL"].iloc[0]["ucf-gzsl ZSL (AVCA-GZSL)"] == ""  # not in their table
    assert "AVCA" in set(table["method"])  # their rows stay, ours empty
    # the critical-difference diagram beside it: both experiments ran on the one dataset given
    cd = json.loads((tmp_path / "bt" / "critical_difference_main_avca_compat.json").read_text())
    assert cd["status"] == "drawn" and cd["datasets"] == ["ucf-gzsl"] and cd["left_out"] == {}
    assert cd["methods"]["ESZSL"]["row"] == "video" and cd["methods"]["AVGZSLNet"]["row"] == "both"
    assert (tmp_path / "bt" / "critical_difference_main_avca_compat.png").stat().st_size > 0
    # the run's inputs are the chosen feature set and this benchmark's lists only: the other feature set and
    # another benchmark's lists beside them re-run nothing; a changed file of the chosen set re-runs the import
    write_released_features(tmp_path / "UCF", lists, "ucf-gzsl", "cls")
    write_class_split(tmp_path / "lists", "vggsound-gzsl")
    plan = snakemake(repo, "-n", "--configfile", str(tmp_path / "ucf.yaml"))
    assert "Nothing to be done" in plan.stdout + plan.stderr, job_counts(plan.stdout + plan.stderr)
    shard = next((tmp_path / "UCF" / "features" / "main_features" / "audio" / "stage_1_train").glob("*.h5"))
    with h5py.File(shard, "r+") as f:
        f["data"][0, 0] += 1.0
    plan = job_counts(snakemake(repo, "-n", "--configfile", str(tmp_path / "ucf.yaml")).stdout)
    assert plan.get("import_avca_benchmark") == 1 and plan.get("train_seed"), plan
