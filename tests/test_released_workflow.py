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


def test_a_hostile_file_in_a_released_folder_stops_the_workflow_with_one_error_line(tmp_path):
    """A released class file whose features live in another file (HDF5 external storage, here a file outside the
    release): the import rule refuses it naming the file, reads nothing of it, and no training job starts."""
    import h5py
    import numpy as np

    repo = copy_repo(tmp_path / "repo")
    release = write_released(tmp_path / "released", layout="avca", n_classes=5, n_unseen=2, clips=4)
    victim = next((release["features_dir"] / "audio" / "trn").glob("*.h5"))
    with h5py.File(victim) as f:
        shape, names = f["data"].shape, {k: f[k][...] for k in f if k != "data"}
    secret = tmp_path / "outside.bin"
    secret.write_bytes(np.arange(int(np.prod(shape)), dtype="<f4").tobytes())
    victim.unlink()
    with h5py.File(victim, "w") as f:
        f.create_dataset("data", shape=shape, dtype="<f4", external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
        for key, value in names.items():
            f[key] = value
    cfg = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    cfg.update(dataset="features", results=str(tmp_path / "results"), experiments={"avgzslnet": {}},
               features={"released_root": str(tmp_path / "released")})
    (tmp_path / "released.yaml").write_text(yaml.safe_dump(cfg))
    done = snakemake(repo, "--configfile", str(tmp_path / "released.yaml"), timeout=900, check=False)
    assert done.returncode != 0
    log = (tmp_path / "results" / "features" / "logs" / "import_released.log").read_text()
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(victim) in errors[0] and "external" in errors[0], log[-2000:]
    assert "Traceback" not in log
    assert not (tmp_path / "results" / "features" / "runs").exists()
