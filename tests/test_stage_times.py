"""Stage timers (avgzsl_extractors.stage_times): nothing is kept unless a recording is on; while one is, a shard
job's stages are counted once per clip or batch, from decode threads and decode processes alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from avgzsl_extractors.decode import DecodeConfig
from avgzsl_extractors.extract import ExtractJobConfig, extract_audio_shard, extract_video_shard
from avgzsl_extractors.stage_times import add_stages, recording, stage
from media import make_clip


def test_only_stages_run_while_recording_are_kept():
    with stage("before"):
        pass
    with recording() as times:
        with stage("inside"):
            pass
        with stage("inside"):
            pass
        add_stages({"from a worker": 0.5})
    with stage("after"):
        pass
    assert dict(times.calls) == {"inside": 2, "from a worker": 1}
    assert times.seconds["from a worker"] == 0.5 and times.seconds["inside"] >= 0


def test_a_workers_own_dict_takes_its_stages_and_the_recording_does_not():
    own: dict[str, float] = {}
    with recording() as times:
        with stage("decode", into=own):
            pass
        with stage("decode", into=own):
            pass
    assert set(own) == {"decode"} and not times.calls


def test_recordings_do_not_nest():
    with recording():
        with pytest.raises(RuntimeError, match="already being recorded"):
            with recording():
                pass
    with recording() as times:  # the refused one left no recorder behind
        pass
    assert not times.calls


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage-clips")
    paths = [make_clip(root / "a.mp4", seconds=1), make_clip(root / "b.mp4", seconds=1), root / "page.mp4"]
    paths[2].write_text("not a video")
    return pd.DataFrame({"clip_id": ["a", "b", "page"], "path": [str(p) for p in paths], "start": 0.0,
                         "end": 1.0})


@pytest.mark.parametrize("processes", [False, True])
def test_a_shard_jobs_stages_are_recorded_once_per_clip_or_batch(rows, tmp_path, processes):
    job = ExtractJobConfig(workers=1 if processes else 2, lookahead=2, progress=False, processes=processes)
    common = dict(decode_cfg=DecodeConfig(max_seconds=1.0), batch_size=2, job=job)
    with recording() as times:
        audio = extract_audio_shard(rows, embed_fn=lambda b: np.ones((len(b), 1024), np.float32),
                                    out_features=tmp_path / "a.h5", out_status=tmp_path / "a.tsv", **common)
        extract_video_shard(rows, embed_fn=lambda f: np.ones((len(f), 1024), np.float32),
                            out_features=tmp_path / "v.h5", out_status=tmp_path / "v.tsv", **common)
    # every row is decoded (the page fails there); only the two clips get a log-mel; one batch per network
    assert dict(times.calls) == {"decode audio": 3, "log-mel": 2, "audio CNN": 1, "decode video": 3, "I3D": 1}
    # the decode worker's clock runs around both of its stages
    assert 0 < times.seconds["decode audio"] + times.seconds["log-mel"] <= audio.decode_seconds
