"""What keeps a GPU busy, checked on CPU: worker pools, batched windows, autocast, progress lines."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch
from avgzsl_extractors.audio_cnn import AudioCNNConfig, create_audio_cnn, make_embed_fn
from avgzsl_extractors.extract import extract_audio_shard
from avgzsl_extractors.i3d import create_i3d
from avgzsl_extractors.precision import autocast, check_autocast
from avgzsl_extractors.prefetch import ProgressLog, prefetched
from avgzsl_extractors.video import VideoFeatureConfig, clip_features, preprocess_frames, video_features
from test_extract import DECODE, JOB, audio_embed, shard  # noqa: F401  (module-scoped media fixture)
from test_video_preprocess import SMALL, frames

from avgzsl.formats.shards import read_feature_shard, read_status_table
from avgzsl.pipeline.extraction_steps import extraction_job


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("workers, processes", [(0, False), (3, False), (2, True)])
def test_prefetched_keeps_item_order_in_every_pool(workers, processes):
    items = list(range(-11, 12))
    # a builtin: a spawned worker unpickles it without importing this test module (and torch)
    assert list(prefetched(abs, items, workers, lookahead=4, processes=processes)) == [abs(i) for i in items]


def test_audio_shard_from_worker_processes_equals_threads(shard, tmp_path):  # noqa: F811
    out = {}
    for processes in (False, True):
        job = dataclasses.replace(JOB, processes=processes, workers=1 if processes else 2)
        extract_audio_shard(shard, embed_fn=audio_embed, decode_cfg=DECODE, batch_size=3, job=job,
                            out_features=tmp_path / f"{processes}.h5", out_status=tmp_path / f"{processes}.tsv")
        out[processes] = (read_feature_shard(tmp_path / f"{processes}.h5", expected_dim=1024),
                          read_status_table(tmp_path / f"{processes}.tsv"))
    assert out[True][0].ids == out[False][0].ids
    np.testing.assert_array_equal(out[True][0].features, out[False][0].features)
    assert out[True][1].equals(out[False][1])


@pytest.mark.parametrize(
    "threads, device, workers, processes",
    [(1, "cpu", 1, False), (2, "cpu", 2, False), (8, "cpu", 8, False), (8, "cuda", 8, True),
     (1, "cuda", 1, False), (0, "cpu", 1, False), (None, "cuda", 1, False)],
)
def test_decode_workers_follow_the_rules_threads(threads, device, workers, processes):
    job = extraction_job(threads, torch.device(device))
    assert (job.workers, job.processes) == (workers, processes)


def test_extraction_rules_declare_threads():
    from pathlib import Path

    rules = (Path(__file__).resolve().parents[1] / "workflow/rules/features.smk").read_text()
    for rule in ("extract_audio_shard", "extract_video_shard"):
        body = rules.split(f"rule {rule}:")[1].split("\n    rule ")[0]
        assert "threads:" in body and "autocast=" in body, rule


def test_progress_log_reports_rate_and_eta_at_its_interval():
    now = [0.0]
    lines: list[str] = []
    progress = ProgressLog(100, "video shard_0.h5", interval=30.0, emit=lines.append, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 5.0  # 2 s per clip... 0.2 clips/s
        progress.update(1)
    # lines at t = 30 s (6 clips) and t = 50 s is not yet another 30 s later
    assert len(lines) == 1 and lines[0].startswith("video shard_0.h5: 6/100 clips, 0.20 clips/s")
    assert "ETA 7m50s" in lines[0]
    progress.finish()
    assert lines[-1].startswith("video shard_0.h5: 10/100 clips") and "ETA 7m30s" in lines[-1]


def test_shard_job_logs_progress(shard, tmp_path, caplog):  # noqa: F811
    job = dataclasses.replace(JOB, progress_interval=1e-9)
    with caplog.at_level(logging.INFO, logger="avgzsl.extract"):
        extract_audio_shard(shard, embed_fn=audio_embed, decode_cfg=DECODE, job=job,
                            out_features=tmp_path / "a.h5", out_status=tmp_path / "a.tsv")
    lines = [r.getMessage() for r in caplog.records if "clips/s" in r.getMessage()]
    assert len(lines) == len(shard) + 1 and lines[-1].startswith(f"audio a.h5: {len(shard)}/{len(shard)} clips")


def test_windows_batched_across_clips_equal_one_clip_at_a_time():
    torch.manual_seed(0)
    model = create_i3d(weights=None).eval()
    clips = [frames(5, 20, 20, seed=1), frames(12, 20, 20, seed=2)]
    mixed = dataclasses.replace(SMALL, batch_windows=3)  # 1 + 2 windows in one batch
    together = video_features(model, clips, mixed, "cpu")
    alone = np.concatenate([video_features(model, [c], dataclasses.replace(SMALL, batch_windows=1), "cpu")
                            for c in clips])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def test_audio_embed_batches_equal_one_clip_at_a_time():
    torch.manual_seed(0)
    model = create_audio_cnn(n_classes=3, config=AudioCNNConfig(n_mels=16, channels=(4, 8, 8, 8, 16, 16, 32)))
    batch = np.random.default_rng(0).normal(-40, 10, size=(5, 16, 48)).astype(np.float32)
    together = make_embed_fn(model, "cpu", batch_size=4)(batch)
    alone = np.concatenate([make_embed_fn(model, "cpu", batch_size=1)(batch[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode, ok", [("none", True), ("bf16", True), ("fp16", True), ("fp32", False),
                                      ("BF16", False), ("", False)])
def test_autocast_option_is_validated_everywhere(mode, ok):
    import jsonschema
    from test_config_schema import SCHEMA

    errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors({"extract": {"autocast": mode}}))
    assert (not errors) == ok, errors
    model = create_audio_cnn(n_classes=2, config=AudioCNNConfig(n_mels=8, channels=(4, 4, 4, 4, 4, 4, 8)))
    if ok:
        check_autocast(mode)
        VideoFeatureConfig(autocast=mode)
        make_embed_fn(model, "cpu", autocast_mode=mode)
    else:
        for build in (lambda: check_autocast(mode), lambda: VideoFeatureConfig(autocast=mode),
                      lambda: make_embed_fn(model, "cpu", autocast_mode=mode)):
            with pytest.raises(ValueError, match="autocast must be one of"):
                build()


def test_bf16_autocast_moves_features_slightly_on_cpu():
    torch.manual_seed(0)
    model = create_i3d(weights=None).eval()
    clips = [preprocess_frames(frames(18, 20, 20, seed=s), SMALL) for s in (1, 2)]
    fp32 = clip_features(model, clips, SMALL, "cpu")
    bf16 = clip_features(model, clips, dataclasses.replace(SMALL, autocast="bf16"), "cpu")
    assert bf16.dtype == np.float32 and not np.array_equal(fp32, bf16)  # autocast really ran
    assert cosine(fp32, bf16).min() > 0.98
    with autocast("bf16", "cpu"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_gpu_video_step_uses_worker_processes_and_one_pass_per_batch_of_clips(monkeypatch, tmp_path):
    """The CUDA branch of the video step, without a GPU: what it hands to the shard job and to I3D."""
    import avgzsl.pipeline.video_steps as video_step

    seen = {}

    class StubI3D:
        def to(self, device):
            return self

        def eval(self):
            return self

    def fake_shard(rows, **kw):
        seen["job"] = kw["job"]
        kw["embed_fn"]([np.zeros((3, 8, 8, 3), np.uint8)])
        return type("Summary", (), {"n_ok": 0, "n_skipped": 0, "decode_seconds": 0.0, "model_seconds": 0.0})()

    monkeypatch.setattr(video_step, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(video_step, "set_torch_threads", lambda threads: None)  # the test process keeps its own
    monkeypatch.setattr(video_step, "create_i3d", lambda weights: StubI3D())
    monkeypatch.setattr(video_step, "video_features", lambda model, frames, cfg, dev: seen.setdefault("cfg", cfg))
    monkeypatch.setattr(video_step, "extract_video_shard", fake_shard)
    monkeypatch.setattr(video_step, "finish_status", lambda *a: None)
    media = tmp_path / "media.tsv"
    media.write_text("clip_id\tclass\tsplit\tpath\tstart\tend\tstatus\treason\n")
    weights = tmp_path / "i3d.pt"
    weights.write_bytes(b"stand-in")
    video_step.extract_video_step(
        media=str(media), weights_file=str(weights), decode={"max_seconds": 10.0}, device="cuda", threads=6,
        video={"weights": "kinetics400", "batch_clips": 4, "fps": 25.0}, autocast="bf16",
        out_features=str(tmp_path / "v.h5"), out_status=str(tmp_path / "v.tsv"))
    assert seen["job"].workers == 6 and seen["job"].processes
    # 250 frames at 25 fps: windows at 0, 64, 128 and the aligned tail: 4 per clip, 16 for 4 clips
    assert seen["cfg"].batch_windows == 16 and seen["cfg"].autocast == "bf16"
