"""Sequence shards: round trip, packed sequences, and the reader's refusals."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from avgzsl.formats.sequence_shards import read_sequence_shard, write_sequence_shard
from avgzsl.formats.sequences import Sequences
from avgzsl.formats.shards import FeatureError

SEQS = [np.arange(6, dtype=np.float32).reshape(3, 2), np.ones((1, 2), np.float32), np.full((2, 2), 4, np.float32)]


def _shard(tmp_path):
    return write_sequence_shard(tmp_path / "a.h5", SEQS, ["x", "y", "z"], modality="audio", window_s=0.96, hop_s=0.96)


def test_round_trip_and_means(tmp_path):
    shard = read_sequence_shard(_shard(tmp_path))
    assert shard.ids == ["x", "y", "z"] and shard.lengths.tolist() == [3, 1, 2] and shard.hop_s == 0.96
    for i, s in enumerate(SEQS):
        np.testing.assert_array_equal(shard.sequence(i), s)
    np.testing.assert_allclose(shard.means(), np.stack([s.mean(0) for s in SEQS]))


def test_packed_subset_concat_and_padding():
    seqs = Sequences.from_arrays(np.concatenate(SEQS), np.array([3, 1, 2]))
    sub = seqs.subset(torch.tensor([2, 0]))
    assert sub.lengths.tolist() == [2, 3] and torch.equal(sub.values[2:], torch.from_numpy(SEQS[0]))
    both = seqs.concat(sub)
    assert len(both) == 5 and torch.allclose(both.means()[3], torch.from_numpy(SEQS[2].mean(0)))
    x, mask = seqs.padded(torch.tensor([1, 0]), 3, start=torch.tensor([0, 1]))
    assert mask.tolist() == [[True, False, False], [True, True, False]]
    assert torch.equal(x[1, :2], torch.from_numpy(SEQS[0][1:])) and not x[0, 1:].any()


def _rewrite(path, key, make):
    with h5py.File(path, "a") as f:
        del f[key]
        make(f)


@pytest.mark.parametrize("attack, message", [
    (lambda f, p: f.__setitem__("values", h5py.SoftLink("/lengths")), "soft link"),
    (lambda f, p: f.__setitem__("values", h5py.ExternalLink(str(p) + ".other", "/values")), "external link"),
    (lambda f, p: f.create_dataset("values", shape=(6, 2), dtype="f4", external=[(str(p) + ".raw", 0, 48)]),
     "external file"),
    (lambda f, p: f.create_dataset("values", data=np.zeros((5, 2), np.float32)), "sum to 6 windows"),
    (lambda f, p: f.create_dataset("values", data=np.array([[b"a", b"b"]] * 6)), "expected numbers"),
])
def test_unsafe_or_inconsistent_datasets_are_refused(tmp_path, attack, message):
    path = _shard(tmp_path)
    (tmp_path / "a.h5.raw").write_bytes(bytes(48))
    _rewrite(path, "values", lambda f: attack(f, path))
    with pytest.raises(FeatureError, match=message):
        read_sequence_shard(path)


def test_virtual_dataset_and_linked_path_are_refused(tmp_path):
    path = _shard(tmp_path)
    other = write_sequence_shard(tmp_path / "b.h5", SEQS, ["x", "y", "z"], modality="audio")

    def virtual(f):
        layout = h5py.VirtualLayout(shape=(6, 2), dtype="f4")
        layout[:] = h5py.VirtualSource(str(other), "values", shape=(6, 2))
        f.create_virtual_dataset("values", layout)

    _rewrite(path, "values", virtual)
    with pytest.raises(FeatureError, match="virtual dataset"):
        read_sequence_shard(path)
    link = tmp_path / "link.h5"
    link.symlink_to(other)
    with pytest.raises(FeatureError, match="symbolic link"):
        read_sequence_shard(link)


def test_load_split_aligns_sequences_with_the_clip_rows(tmp_path):
    import pandas as pd

    from avgzsl.formats.feature_split import load_split
    from avgzsl.formats.manifest import ClassTable
    from avgzsl.formats.shards import write_feature_shard

    classes = ClassTable.from_lists(["a", "b"], ["b"])
    manifest = pd.DataFrame({"clip_id": ["z", "x", "y"], "class": ["a", "b", "a"], "split": ["trn"] * 3})
    write_feature_shard(tmp_path / "text.h5", np.eye(2, dtype=np.float32), ["a", "b"], modality="text", extractor="t")
    write_feature_shard(tmp_path / "a.h5", np.stack([s.mean(0) for s in SEQS]), ["x", "y", "z"], modality="audio",
                        extractor="t")
    (tmp_path / "seq").mkdir()
    seq = _shard(tmp_path / "seq")
    split = load_split(manifest, "trn", classes=classes, text_path=tmp_path / "text.h5", audio_paths=[tmp_path / "a.h5"],
                       audio_seq_paths=[seq])
    assert split.clip_ids == ["z", "x", "y"] and split.audio_seq.lengths.tolist() == [2, 3, 1]
    assert torch.allclose(split.audio_seq.means(), split.audio)  # the rows are the sequences' means, clip by clip
    kept = split.subset(torch.tensor([False, True, True]))
    assert kept.audio_seq.lengths.tolist() == [3, 1]
    short = pd.concat([manifest, pd.DataFrame({"clip_id": ["w"], "class": ["a"], "split": ["trn"]})])
    write_feature_shard(tmp_path / "a2.h5", np.zeros((1, 2), np.float32), ["w"], modality="audio", extractor="t")
    with pytest.raises(FeatureError, match="no audio sequence for clip"):
        load_split(short, "trn", classes=classes, text_path=tmp_path / "text.h5",
                   audio_paths=[tmp_path / "a.h5", tmp_path / "a2.h5"], audio_seq_paths=[seq])
