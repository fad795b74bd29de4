"""extract.features: temporal on a user's own clips: the extraction jobs also write sequence shards, TCaF trains
on them beside AVGZSLNet on the averaged features, through to the tables; switching it on re-runs extraction."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from media import make_clip
from workflow_helpers import copy_repo, job_counts, snakemake

from avgzsl.formats.sequence_shards import read_sequence_shard
from avgzsl.formats.shards import read_feature_shard

pytestmark = pytest.mark.slow

CLASSES = {"dog": True, "cat": True, "horse": True, "pig": False}
TINY_TCAF = {"depth": 1, "heads": 2, "dim_head": 4, "mlp_dim": 8, "encoder_hidden": 8, "decoder_hidden": 8,
             "embed_dim": 4, "dim": 50, "audio_scale": 1.0, "rate_audio": 0.32, "rate_video": 0.5}  # dim: GloVe 50-d
SECONDS = {0: 2.0, 1: 3.0}  # clip index -> length: two lengths, so the sequences differ in length


def _custom_dataset(repo) -> None:
    rows = []
    for cls, seen in CLASSES.items():
        splits = ["trn", "trn", "val", "tst"] if seen else ["val", "tst", "tst"]
        for i, split in enumerate(splits):
            seconds = SECONDS[i % 2]
            make_clip(repo / "mydata" / "clips" / f"{cls}_{i}.mp4", seconds=seconds, fps=8, size=(64, 64))
            rows.append(f"{cls},{split},clips/{cls}_{i}.mp4,0.0,{seconds}\n")
    (repo / "mydata" / "manifest.csv").write_text("class,split,path,start,end\n" + "".join(rows))
    (repo / "mydata" / "classes.tsv").write_text(
        "name\tseen\n" + "".join(f"{c}\t{int(s)}\n" for c, s in CLASSES.items()))


def test_tcaf_trains_on_sequences_extracted_from_the_clips(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    _custom_dataset(repo)
    cfg = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    cfg.update(dataset="custom", shard_size=8, results=str(tmp_path / "results"),
               custom={"manifest": "mydata/manifest.csv", "classes": "mydata/classes.tsv"})
    cfg["extract"]["decode"] = {"max_seconds": 3.0}
    cfg["extract"]["video"].update(window_frames=9, window_stride=4)
    cfg["experiments"] = {
        "avgzslnet": {},
        "tcaf": {"preset": "tcaf-ucf-main", "model": {"kind": "tcaf", "options": TINY_TCAF},
                 "train": {"batch_size": 4, "batches_per_epoch": 2, "epochs": 2}},
    }
    (repo / "custom.yaml").write_text(yaml.safe_dump(cfg))
    refused = snakemake(repo, "--configfile", "custom.yaml", "-n", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "experiments.tcaf.model.kind" in said and "extract.features: temporal" in said

    cfg["experiments"] = {"avgzslnet": {}}
    (repo / "custom.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(repo, "--configfile", "custom.yaml", "--until", "extract_audio_shard", "extract_video_shard")
    out = tmp_path / "results" / "custom"
    before = {p.name: p.read_bytes() for p in (out / "features").glob("*/shard_*.h5")}

    cfg["extract"].update(features="temporal", temporal={"audio_window_s": 0.32, "audio_hop_s": 0.32})
    cfg["experiments"]["tcaf"] = {"preset": "tcaf-ucf-main", "model": {"kind": "tcaf", "options": TINY_TCAF},
                                  "train": {"batch_size": 4, "batches_per_epoch": 2, "epochs": 2}}
    (repo / "custom.yaml").write_text(yaml.safe_dump(cfg))
    plan = job_counts(snakemake(repo, "--configfile", "custom.yaml", "-n").stdout)
    assert plan["extract_audio_shard"] == plan["extract_video_shard"] == 2  # 15 clips, 8 per shard
    assert "custom_media_shard" not in plan and "train_audio_cnn" not in plan
    snakemake(repo, "--configfile", "custom.yaml", timeout=1500)

    # the averaged shards come out of the temporal jobs byte for byte as before
    assert {p.name: p.read_bytes() for p in (out / "features").glob("*/shard_*.h5")} == before
    for modality, hop in (("audio", 0.32), ("video", 0.5)):
        seqs = read_sequence_shard(out / "features" / f"{modality}_seq" / "shard_00000.h5")
        feats = read_feature_shard(out / "features" / modality / "shard_00000.h5")
        assert seqs.ids == feats.ids and seqs.hop_s == pytest.approx(hop)
        lengths = dict(zip(seqs.ids, seqs.lengths))
        assert lengths["dog_1"] > lengths["dog_0"]  # 3 s against 2 s
    t1 = pd.read_csv(out / "tables" / "table1_classification.csv", dtype=str, keep_default_na=False)
    assert {"tcaf", "avgzslnet"} <= set(t1["experiment"])
