"""dataset: features with released_root: the workflow imports an AVCA-GZSL-layout folder and trains on it."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from released_helpers import write_released
from workflow_helpers import copy_repo, job_counts, snakemake

pytestmark = pytest.mark.slow


def test_workflow_trains_on_a_released_feature_folder(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    write_released(tmp_path / "released", layout="avca", n_classes=5, n_unseen=2, clips=4)
    cfg = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    cfg.update(dataset="features", results=str(tmp_path / "results"), experiments={"avgzslnet": {}},
               features={"released_root": str(tmp_path / "released")})
    (tmp_path / "released.yaml").write_text(yaml.safe_dump(cfg))
    done = snakemake(repo, "--configfile", str(tmp_path / "released.yaml"), timeout=900)
    assert job_counts(done.stderr + done.stdout).get("import_released") == 1
    out = tmp_path / "results" / "features"
    for modality in ("audio", "video"):
        assert sorted(p.name for p in (out / "features" / modality).glob("*.h5")) == ["trn.h5", "tst.h5", "val.h5"]
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == 3 * 5 * 4
    classes = pd.read_csv(out / "classes.tsv", sep="\t")
    assert list(classes["name"]) == [f"sound-{c}" for c in "edcba"]  # all_class.txt order, not sorted
    assert int((classes["seen"] == 0).sum()) == 2
    t1 = pd.read_csv(out / "tables" / "table1_classification.csv", dtype=str, keep_default_na=False)
    assert t1[(t1["experiment"] == "avgzslnet") & (t1["Test"] == "both")]["HM"].iloc[0] != ""
