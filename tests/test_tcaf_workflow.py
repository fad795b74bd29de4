"""dataset: ucf-gzsl with avca_gzsl.features: temporal: the workflow imports TCaF's temporal release and trains
TCaF on the sequences and AVGZSLNet on their means, through both stages, to the tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from avca_helpers import write_class_split
from tcaf_helpers import write_tcaf_features
from workflow_helpers import copy_repo, job_counts, snakemake

pytestmark = pytest.mark.slow

TINY_TCAF = {"depth": 1, "heads": 2, "dim_head": 4, "mlp_dim": 8, "encoder_hidden": 8, "decoder_hidden": 8,
             "embed_dim": 4}


def test_workflow_runs_tcaf_on_temporal_features(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    lists = write_class_split(tmp_path / "lists", "ucf-gzsl")
    write_tcaf_features(tmp_path / "UCF", lists, "ucf-gzsl", "main", clips_per_class=3)
    cfg = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    cfg.update(
        dataset="ucf-gzsl", results=str(tmp_path / "results"),
        experiments={
            "tcaf": {"preset": "tcaf-ucf-main", "model": {"kind": "tcaf", "options": TINY_TCAF},
                     "train": {"batch_size": 4, "batches_per_epoch": 2, "epochs": 2}},
            "avgzslnet": {"preset": "avca", "train": {"batches_per_epoch": 2, "epochs": 2}},
        },
        avca_gzsl={"root": str(tmp_path / "UCF"), "split_lists": str(lists), "verify_split_lists": False,
                   "text_lookup": "avca_compat", "variant": "main", "features": "temporal"},
    )
    (tmp_path / "ucf.yaml").write_text(yaml.safe_dump(cfg))
    done = snakemake(repo, "--configfile", str(tmp_path / "ucf.yaml"), timeout=900)
    assert job_counts(done.stderr + done.stdout).get("import_avca_benchmark") == 1
    out = tmp_path / "results" / "ucf-gzsl" / "main-avca_compat-temporal"
    assert json.loads((out / "avca_benchmark.json").read_text())["features"] == "temporal"
    assert (out / "features" / "video_seq" / "tst.h5").is_file()
    history = pd.read_csv(out / "runs" / "tcaf" / "seed0" / "history.csv")
    assert (history.get("phase") == "retrain").any() and "ce" in history.columns
    t1 = pd.read_csv(out / "tables" / "table1_classification.csv", dtype=str, keep_default_na=False)
    assert {"tcaf", "avgzslnet"} <= set(t1["experiment"])
