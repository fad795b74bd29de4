"""The on-disk log-mel cache: what it writes, that training from it equals training from memory, bounded memory."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import torch
from avgzsl_extractors.audio_cnn import load_audio_cnn
from avgzsl_extractors.audio_train import train_audio_cnn
from avgzsl_extractors.extract import load_audio_for_training
from avgzsl_extractors.logmel import LogMelConfig
from avgzsl_extractors.logmel_batches import InMemorySpectrograms, clip_batches
from avgzsl_extractors.logmel_cache import (
    CACHE_DTYPE,
    CacheFiles,
    CacheWriter,
    LogMelStore,
    cache_is_current,
    cache_settings,
    read_cache_index,
    write_logmel_cache,
)
from test_audio_cnn import CLASSES, N_MELS, quiet, small_cfg, synthetic
from test_extract import DECODE, JOB, shard  # noqa: F401  (module-scoped media fixture)

FRAMES = 40


def _write_cache(path, specs):
    """Fixed-length float16 copies of `specs` in one cache array; returns them as held on disk."""
    fixed = [np.resize(s, (N_MELS, FRAMES)).astype(CACHE_DTYPE) for s in specs]
    with CacheWriter(path, len(fixed) + 3, N_MELS, FRAMES) as writer:  # capacity > rows: header is rewritten
        for spec in fixed:
            writer.append(spec)
    return fixed


def test_writer_leaves_a_plain_npy_of_exactly_the_rows_written(tmp_path):
    specs = [np.random.default_rng(i).normal(-40, 5, (N_MELS, FRAMES)) for i in range(5)]
    fixed = _write_cache(tmp_path / "c.npy", specs)
    loaded = np.load(tmp_path / "c.npy")
    assert loaded.shape == (5, N_MELS, FRAMES) and loaded.dtype == CACHE_DTYPE
    np.testing.assert_array_equal(loaded, np.stack(fixed))
    with pytest.raises(ValueError, match=r"spectrogram \(3, 40\)"):
        CacheWriter(tmp_path / "d.npy", 1, N_MELS, FRAMES).append(np.zeros((3, FRAMES)))


def test_store_reads_clips_across_files_in_the_order_asked(tmp_path):
    rng = np.random.default_rng(0)
    a = _write_cache(tmp_path / "a.npy", [rng.normal(size=(N_MELS, FRAMES)) for _ in range(4)])
    b = _write_cache(tmp_path / "b.npy", [rng.normal(size=(N_MELS, FRAMES)) for _ in range(3)])
    # store order: a's rows 3, 1 then b's rows 0, 2
    with LogMelStore([(tmp_path / "a.npy", [3, 1]), (tmp_path / "b.npy", [0, 2])]) as store:
        assert len(store) == 4 and store.shapes([0, 3]) == [(N_MELS, FRAMES)] * 2
        got = store.read([2, 0, 3, 1])
    np.testing.assert_array_equal(got, np.stack([b[0], a[3], b[2], a[1]]))


@pytest.mark.parametrize(
    "parts, message",
    [
        ([("a.npy", [4])], "rows outside"),
        ([("a.npy", [-1])], "rows outside"),
        ([("a.npy", [0]), ("wide.npy", [0])], "differ from the other caches"),
        ([("f32.npy", [0])], "cache dtype float32"),
        ([], "at least one cache file"),
    ],
)
def test_store_rejects_bad_parts(tmp_path, parts, message):
    _write_cache(tmp_path / "a.npy", [np.zeros((N_MELS, FRAMES))] * 4)
    np.save(tmp_path / "wide.npy", np.zeros((1, N_MELS, FRAMES + 1), CACHE_DTYPE))
    np.save(tmp_path / "f32.npy", np.zeros((1, N_MELS, FRAMES), np.float32))
    with pytest.raises(ValueError, match=message):
        LogMelStore([(tmp_path / p, rows) for p, rows in parts])


def test_training_from_the_cache_equals_training_from_memory(tmp_path):
    specs, labels, splits = synthetic(per_class=4)
    fixed = _write_cache(tmp_path / "cache.npy", specs)
    kw = dict(classes=CLASSES, splits=splits, log=quiet)
    cfg = small_cfg(epochs=2, frames=32, val_fraction=0.2)
    memory = train_audio_cnn(fixed, labels, cfg=cfg, checkpoint_path=tmp_path / "m.pt", **kw)
    with LogMelStore([(tmp_path / "cache.npy", range(len(fixed)))]) as store:
        disk = train_audio_cnn(store, labels, cfg=cfg, checkpoint_path=tmp_path / "d.pt", **kw)
    assert memory["history"] == disk["history"]
    a = load_audio_cnn(tmp_path / "m.pt", device="cpu")[0].state_dict()
    b = load_audio_cnn(tmp_path / "d.pt", device="cpu")[0].state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _peak_bytes_of_one_pass(path, n_clips: int, batch: int) -> int:
    with LogMelStore([(path, range(n_clips))]) as store:
        order = np.random.default_rng(0).permutation(n_clips)
        tracemalloc.start()
        for x in clip_batches(store, order, batch, FRAMES, np.random.default_rng(1)):
            x.sum()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_streaming_memory_does_not_grow_with_the_number_of_clips(tmp_path):
    rng = np.random.default_rng(0)
    _write_cache(tmp_path / "big.npy", [rng.normal(size=(N_MELS, FRAMES)) for _ in range(2000)])
    batch = 8
    small, large = (_peak_bytes_of_one_pass(tmp_path / "big.npy", n, batch) for n in (200, 2000))
    all_clips = 2000 * N_MELS * FRAMES * CACHE_DTYPE.itemsize
    batch_bytes = batch * N_MELS * FRAMES * 4
    # a few batches in flight (read buffer, crops, float32 batch), never the data set
    assert large < 12 * batch_bytes < all_clips / 4, (small, large)
    assert large < 2 * small + batch_bytes, (small, large)
    # the in-memory source, by contrast, holds every clip
    held = [np.zeros((N_MELS, FRAMES), CACHE_DTYPE) for _ in range(4)]
    assert len(InMemorySpectrograms(held).read([0, 1, 2, 3])) == 4


def test_write_logmel_cache_from_media_matches_the_in_memory_loader(shard, tmp_path):  # noqa: F811
    cfg = LogMelConfig()
    files = write_logmel_cache(shard, tmp_path / "shard_0", logmel_cfg=cfg, decode_cfg=DECODE, frames=150, job=JOB)
    index = read_cache_index(files)
    assert list(index["clip_id"]) == list(shard["clip_id"])
    assert list(index.columns) == ["clip_id", "row", "status", "reason", "flags", "class", "split"]
    ok = index[index["row"] >= 0]
    assert list(ok["row"]) == list(range(len(ok))) and (ok["status"] == "ok").all()
    assert (index.loc[index["row"] < 0, "reason"] != "").all()
    specs, ids, _ = load_audio_for_training(shard, cfg, DECODE, frames=150, job=JOB)
    assert list(ok["clip_id"]) == ids
    np.testing.assert_array_equal(np.load(files.array), specs.astype(CACHE_DTYPE))

    settings = cache_settings(cfg, DECODE, 150)
    assert json.loads(files.settings.read_text())["frames"] == 150
    assert cache_is_current(files, settings, list(shard["clip_id"]))
    assert not cache_is_current(files, cache_settings(cfg, DECODE, 151), list(shard["clip_id"]))
    assert not cache_is_current(files, settings, list(shard["clip_id"])[:-1])
    assert not cache_is_current(CacheFiles.for_stem(tmp_path / "absent"), settings, [])


def test_training_step_caches_per_media_shard_and_reuses_current_caches(shard, tmp_path):  # noqa: F811
    from avgzsl.pipeline.extraction_steps import logmel_cache_dir, train_audio_cnn_step

    classes = tmp_path / "classes.tsv"
    CLASSES.write(classes)
    media = shard.assign(status="ok", reason="", **{"class": ["dog", "cat", "car", "rain"] * 2})
    media.loc[media["clip_id"] == "h_good", "status"] = "missing"
    manifest = tmp_path / "manifest.csv"
    media[["clip_id", "class", "split"]].to_csv(manifest, index=False)  # the labels the step reads
    media = media.assign(**{"class": "rain"})  # a stale label in an old-format media table: the manifest wins
    tables = []
    for k, part in enumerate((media.iloc[:4], media.iloc[4:])):
        tables.append(tmp_path / f"shard_{k}.tsv")
        part.to_csv(tables[-1], sep="\t", index=False)
    kw = dict(media_tables=[str(t) for t in tables], manifest=str(manifest), classes=str(classes), decode=dict(max_seconds=2.0, sample_rate=16000),
              logmel=dict(n_mels=N_MELS), model=small_cfg().model.to_dict(),
              train=dict(epochs=1, batch_size=2, frames=32), device="cpu", threads=1)
    out = tmp_path / "models" / "audio_cnn.pt"
    train_audio_cnn_step(**kw, out=str(out))
    cache = logmel_cache_dir(out)
    index = pd.concat([read_cache_index(CacheFiles.for_stem(cache / f"shard_{k}")) for k in range(2)])
    # only seen-class trn clips with media are decoded; "rain" is unseen, h_good has no media
    assert list(index["clip_id"]) == ["a_good", "b_short", "c_empty", "e_sound_only", "f_truncated", "g_text"]
    assert set(index["class"]) <= {"dog", "cat", "car"}
    meta = load_audio_cnn(out, device="cpu")[1]
    assert meta["extra"]["n_train_clips"] == int((index["row"] >= 0).sum())
    stamps = [(cache / f"shard_{k}.npy").stat().st_mtime_ns for k in range(2)]
    out.unlink()
    train_audio_cnn_step(**kw, out=str(out))  # same settings: the caches are reused, not rewritten
    assert [(cache / f"shard_{k}.npy").stat().st_mtime_ns for k in range(2)] == stamps
