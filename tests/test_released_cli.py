"""The released AudioSetZSL layout round-trips; the CLI trains, evaluates and reports bad input clearly."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from avgzsl.cli import main
from avgzsl.dataset import ClassTable
from avgzsl.features import read_feature_shard, write_feature_shard
from avgzsl.released import export_released, import_released
from avgzsl.synthetic import SyntheticConfig, synthetic_splits


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    """Synthetic features written as our shards + manifest + class table."""
    root = tmp_path_factory.mktemp("shards")
    sp = synthetic_splits(SyntheticConfig(n_classes=8, n_seen=5, clips_per_class={"trn": 12, "val": 4, "tst": 4},
                                          audio_dim=32, video_dim=24, text_dim=10, seed=1))
    rows = []
    for split, s in sp.items():
        keep_video = np.arange(len(s)) % 7 != 0  # some clips have no video
        write_feature_shard(root / f"audio_{split}.h5", s.audio.numpy(), s.clip_ids, modality="audio", extractor="a")
        write_feature_shard(root / f"video_{split}.h5", s.video.numpy()[keep_video],
                            [c for c, k in zip(s.clip_ids, keep_video) if k], modality="video", extractor="v")
        rows += [(c, s.classes.names[y], split) for c, y in zip(s.clip_ids, s.labels.tolist())]
    pd.DataFrame(rows, columns=["clip_id", "class", "split"]).to_csv(root / "manifest.csv", index=False)
    classes = sp["trn"].classes
    classes.write(root / "classes.tsv")
    write_feature_shard(root / "text.h5", sp["trn"].text.numpy(), classes.names, modality="text", extractor="t")
    return root


def data_args(d):
    return ["--manifest", str(d / "manifest.csv"), "--classes", str(d / "classes.tsv"), "--text", str(d / "text.h5"),
            "--audio", *[str(p) for p in sorted(d.glob("audio_*.h5"))],
            "--video", *[str(p) for p in sorted(d.glob("video_*.h5"))]]


def test_export_then_import_round_trip(shard_dir, tmp_path):
    export_released(manifest=shard_dir / "manifest.csv", text=shard_dir / "text.h5", out_dir=tmp_path / "rel",
                    audio=sorted(shard_dir.glob("audio_*.h5")), video=sorted(shard_dir.glob("video_*.h5")))
    with h5py.File(tmp_path / "rel" / "audio" / "trn" / "class00.h5") as f:
        assert f["data"].shape == (12, 32) and len(f["video_urls"]) == 12
    classes = ClassTable.read(shard_dir / "classes.tsv")
    written = import_released(tmp_path / "rel", tmp_path / "back", unseen=classes.unseen_names)
    back = pd.read_csv(written["manifest"]).sort_values("clip_id").reset_index(drop=True)
    orig = pd.read_csv(shard_dir / "manifest.csv").sort_values("clip_id").reset_index(drop=True)
    assert back.equals(orig)
    assert ClassTable.read(written["classes"]).seen.tolist() == classes.seen.tolist()
    for modality in ("audio", "video"):
        ours = {}
        for p in shard_dir.glob(f"{modality}_*.h5"):
            s = read_feature_shard(p)
            ours.update(zip(s.ids, s.features))
        theirs = {}
        for p in (tmp_path / "back" / modality).glob("*.h5"):
            s = read_feature_shard(p)
            theirs.update(zip(s.ids, s.features))
        assert ours.keys() == theirs.keys()
        assert all(np.array_equal(ours[k], theirs[k]) for k in ours)


def test_cli_train_then_evaluate(shard_dir, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", *data_args(shard_dir), "--out", str(out), "--seeds", "0", "1", "--quiet",
               "--set", "model.audio_dim=32", "--set", "model.video_dim=24", "--set", "model.text_dim=10",
               "--set", "train.epochs=3", "--set", "train.batch_size=32"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classification/both/beta0/HM"]["n"] == 2
    rc = main(["evaluate", *data_args(shard_dir), "--checkpoint", str(out / "seed0" / "checkpoint.pt"),
               "--out", str(tmp_path / "ev")])
    assert rc == 0
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    trained = json.loads((out / "seed0" / "metrics.json").read_text())
    assert ev["classification"]["both"]["beta0"] == trained["classification"]["both"]["beta0"]


def test_cli_errors_are_clear(shard_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--manifest", str(tmp_path / "missing.csv"), "--classes", "x", "--text", "y", "--out", "o"])
    assert "no such file or folder" in capsys.readouterr().err
    rc = main(["train", *data_args(shard_dir), "--out", str(tmp_path / "r"), "--set", "loss.distance=cosine"])
    assert rc == 2 and "loss.distance" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="section.key=value"):
        main(["train", *data_args(shard_dir), "--out", str(tmp_path / "r"), "--set", "epochs=3"])
