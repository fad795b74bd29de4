"""TCaF's released temporal features -> sequence shards + clip-mean shards, checked against their loader's rules."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from avgzsl.datasets.avca_import import AvcaBenchmarkConfig
from avgzsl.datasets.tcaf_import import import_tcaf_benchmark
from avgzsl.formats.safe_pickle import UnsafePickleError
from avgzsl.formats.sequence_shards import read_sequence_shard
from avgzsl.formats.shards import FeatureError, read_feature_shard
from tests.avca_helpers import write_class_split
from tests.tcaf_helpers import SMALL_DIMS, use_small_dims, write_tcaf_features


@pytest.fixture
def small_dims(monkeypatch):
    use_small_dims(monkeypatch)


def _benchmark(tmp_path, bench="ucf-gzsl", variant="cls", lookup="correct"):
    split_dir = write_class_split(tmp_path / "lists", bench)
    root = tmp_path / "released"
    written = write_tcaf_features(root, split_dir, bench, variant, dims=SMALL_DIMS)
    cfg = AvcaBenchmarkConfig(benchmark=bench, variant=variant, text_lookup=lookup, split_dir=str(split_dir),
                              digest=None)
    return root, written, cfg


@pytest.mark.parametrize("bench, variant", [("ucf-gzsl", "cls"), ("ucf-gzsl", "main"), ("vggsound-gzsl", "cls"),
                                            ("activitynet-gzsl", "main")])
def test_import_keeps_every_sequence_as_their_loader_reads_it(tmp_path, small_dims, bench, variant):
    root, written, cfg = _benchmark(tmp_path, bench=bench, variant=variant)
    out = tmp_path / "out"
    record = import_tcaf_benchmark(root, out, cfg)
    manifest = pd.read_csv(out / "manifest.csv")
    # their stage folders -> trn / val / tst (ds:277-290); class from the file stem, lower-cased for UCF
    assert set(manifest["clip_id"]) == set(written)
    for clip, cls in zip(manifest["clip_id"], manifest["class"]):
        assert written[clip][2] == cls
    stage_of = manifest.set_index("clip_id")["stage_list"]
    assert all(stage_of[c].startswith(("stage_1_train",)) for c in manifest[manifest.split == "trn"].clip_id)
    for modality, col in (("audio", 0), ("video", 1)):
        for split in ("trn", "val", "tst"):
            seq = read_sequence_shard(out / f"{modality}_seq" / f"{split}.h5")
            flat = read_feature_shard(out / modality / f"{split}.h5")
            assert seq.ids == flat.ids
            for i, clip in enumerate(seq.ids):
                expected = written[clip][col].astype(np.float32)  # uint8 VGGish cast as their collator (ds:799)
                np.testing.assert_array_equal(seq.sequence(i), expected)
                np.testing.assert_allclose(flat.features[i], expected.mean(axis=0), rtol=1e-6, atol=1e-5)
    hop = read_sequence_shard(out / "audio_seq" / "trn.h5").hop_s
    assert hop == (0.96 if variant == "cls" else 1.0)  # their collator's rate_audio (ds:658, main.py:183)
    assert record["clips"]["trn"] == (manifest.split == "trn").sum()


@pytest.mark.parametrize("lookup", ["correct", "avca_compat"])
def test_text_pairing_is_avca_gzsl_switch(tmp_path, small_dims, lookup):
    root, _, cfg = _benchmark(tmp_path, lookup=lookup)
    import_tcaf_benchmark(root, tmp_path / "out", cfg)
    text = read_feature_shard(tmp_path / "out" / "text.h5")
    vectors = np.load(root / "features" / "cls_features_non_averaged" / "text" / "word_embeddings_ucf_normed.npy",
                      allow_pickle=True).item()
    lists = tmp_path / "lists" / "UCF" / "class-split"
    all_classes = sorted(lists.joinpath("all_class.txt").read_text().split())
    manual = dict(pd.read_csv(lists / "ucf_w2v_class_names.csv").values)
    by_key = [vectors[k] for k in sorted(vectors)]  # their dict(sorted(...)).values() (ds:271-272)
    for cls, row in zip(text.ids, text.features):
        # their text["data"][class index in sorted(all_class)] (ds:42, 49) vs the class's own vector
        want = by_key[all_classes.index(cls)] if lookup == "avca_compat" else vectors[manual[cls]]
        np.testing.assert_array_equal(row, want)


def test_a_pickle_naming_code_is_refused(tmp_path, small_dims):
    root, _, cfg = _benchmark(tmp_path)
    victim = next((root / "features" / "cls_features_non_averaged" / "audio" / "stage_1_train").iterdir())

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    victim.write_bytes(pickle.dumps({"features": [Payload()], "video_names": ["x"], "fps": [1.0]}))
    with pytest.raises(UnsafePickleError, match="refusing to unpickle builtins.print"):
        import_tcaf_benchmark(root, tmp_path / "out", cfg)
    assert not (tmp_path / "out").exists()


def test_audio_and_video_must_list_the_same_clips(tmp_path, small_dims):
    root, _, cfg = _benchmark(tmp_path)
    path = next((root / "features" / "cls_features_non_averaged" / "video" / "stage_1_train").iterdir())
    data = pickle.loads(path.read_bytes())
    data["video_names"] = data["video_names"][::-1]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(FeatureError, match="list different clips"):
        import_tcaf_benchmark(root, tmp_path / "out", cfg)
