import shlex
import stat
import sys

import av
import pandas as pd
import pytest
from media import make_clip

from avgzsl.datasets.download import (
    DownloadConfig,
    build_command,
    download_shard,
)

# A stand-in for yt-dlp: behaviour depends on the id's prefix.
FAKE_DOWNLOADER = r"""
import pathlib, shutil, sys, time
youtube_id, start, end, out, source, state = sys.argv[2:]  # after the "--"
with open(pathlib.Path(state) / "calls.log", "a") as log:
    log.write(f"{youtube_id} {start} {end}\n")
if youtube_id.startswith("gone"):
    print(f"ERROR: [youtube] {youtube_id}: Video unavailable. This video has been removed", file=sys.stderr)
    sys.exit(1)
if youtube_id.startswith("private"):
    print(f"ERROR: [youtube] {youtube_id}: Private video. Sign in if you've been granted access", file=sys.stderr)
    sys.exit(1)
if youtube_id.startswith("flaky"):
    marker = pathlib.Path(state) / youtube_id
    if not marker.exists():
        marker.write_text("failed once")
        pathlib.Path(out + ".part").write_bytes(b"half")  # debris a real downloader leaves behind
        print("ERROR: unable to download video data: HTTP Error 503: Service Unavailable", file=sys.stderr)
        sys.exit(1)
if youtube_id.startswith("broken"):
    print("ERROR: unable to download video data: HTTP Error 403: Forbidden", file=sys.stderr)
    sys.exit(2)
if youtube_id.startswith("empty"):
    sys.exit(0)
if youtube_id.startswith("slow"):
    time.sleep(30)
shutil.copy(source, out)
"""


@pytest.fixture()
def downloader(tmp_path):
    script = tmp_path / "fake_dl.py"
    script.write_text(FAKE_DOWNLOADER)
    source = make_clip(tmp_path / "source.mp4", seconds=0.4, size=(32, 32))
    state = tmp_path / "state"
    state.mkdir()
    command = (
        " ".join(shlex.quote(str(p)) for p in (sys.executable, script)) + " -- {youtube_id} {start} {end} {out} "
    )
    command += " ".join(shlex.quote(str(p)) for p in (source, state))
    return DownloadConfig(command=command, attempts=3, backoff_s=0.0, timeout_s=20), state


def _rows(*ids):
    return pd.DataFrame(
        {"clip_id": [f"{i}_30250" for i in ids], "youtube_id": list(ids), "start": 30.25, "end": 40.25}
    )


def _calls(state):
    path = state / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def test_statuses_attempts_and_files(tmp_path, downloader):
    cfg, state = downloader
    out = tmp_path / "raw"
    table = download_shard(
        _rows("okAAAAAAAAA", "goneAAAAAAA", "privateAAAA", "flakyAAAAAA", "brokenAAAAA", "emptyAAAAAA"), out, cfg
    )
    got = table.set_index("clip_id")
    assert list(table.columns) == ["clip_id", "status", "reason", "attempts", "path"]
    assert got.loc["okAAAAAAAAA_30250", ["status", "attempts"]].tolist() == ["ok", 1]
    assert got.loc["goneAAAAAAA_30250", ["status", "attempts"]].tolist() == ["unavailable", 1]
    assert "Video unavailable" in got.loc["goneAAAAAAA_30250", "reason"]
    assert got.loc["privateAAAA_30250", ["status", "attempts"]].tolist() == ["unavailable", 1]
    assert got.loc["flakyAAAAAA_30250", ["status", "attempts"]].tolist() == ["ok", 2]
    assert got.loc["brokenAAAAA_30250", ["status", "attempts"]].tolist() == ["failed", 3]
    assert got.loc["brokenAAAAA_30250", "reason"].startswith("exit 2: ERROR: unable to download")
    assert got.loc["emptyAAAAAA_30250", ["status", "reason"]].tolist() == [
        "failed",
        "downloader exited 0 but wrote no file",
    ]
    assert "okAAAAAAAAA 30.25 40.25" in _calls(state)

    files = sorted(p.name for p in out.iterdir())
    assert files == ["flakyAAAAAA_30250.mp4", "okAAAAAAAAA_30250.mp4"]  # no temp debris
    clip = out / "okAAAAAAAAA_30250.mp4"
    assert got.loc["okAAAAAAAAA_30250", "path"] == str(clip)
    assert stat.S_IMODE(clip.stat().st_mode) == 0o444
    with av.open(str(clip)) as container:
        assert container.streams.video and container.streams.audio


def test_resume_skips_present_clips(tmp_path, downloader):
    cfg, state = downloader
    out = tmp_path / "raw"
    download_shard(_rows("okAAAAAAAAA"), out, cfg)
    before = len(_calls(state))
    table = download_shard(_rows("okAAAAAAAAA", "ok2AAAAAAAA"), out, cfg)
    assert len(_calls(state)) == before + 1  # only the new clip ran the downloader
    first = table.iloc[0]
    assert (first["status"], first["attempts"], first["reason"]) == ("ok", 0, "already present")
    assert table.iloc[1]["attempts"] == 1


def test_timeout_is_a_failure(tmp_path, downloader):
    cfg, _ = downloader
    cfg.timeout_s, cfg.attempts = 0.5, 1
    table = download_shard(_rows("slowAAAAAAA"), tmp_path / "raw", cfg)
    assert table.iloc[0][["status", "reason"]].tolist() == ["failed", "timed out after 0.5 s"]
    assert not list((tmp_path / "raw").iterdir())


def test_availability_table_records_every_clip(tmp_path, downloader):
    cfg, _ = downloader
    back = download_shard(_rows("okAAAAAAAAA", "goneAAAAAAA"), tmp_path / "raw", cfg)
    assert back["status"].tolist() == ["ok", "unavailable"]
    assert back["attempts"].tolist() == [1, 1]
    assert back["path"].tolist()[1] == ""


def test_command_template_and_errors(tmp_path):
    cfg = DownloadConfig()
    args = build_command(cfg, youtube_id="-abcDEF_123", start=30.0, end=40.5, out=tmp_path / "x.mp4", clip_id="c")
    assert args[0] == "yt-dlp"
    assert "*30-40.5" in args and args[-1] == "https://www.youtube.com/watch?v=-abcDEF_123"
    assert args[args.index("-o") + 1] == str(tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="unknown field"):
        build_command(
            DownloadConfig(command="dl {url}"), youtube_id="abcdefghijk", start=0, end=1, out=tmp_path, clip_id="c"
        )
    with pytest.raises(FileNotFoundError, match="not found on PATH"):
        download_shard(_rows("okAAAAAAAAA"), tmp_path, DownloadConfig(command="no-such-downloader-xyz {out}"))
    rows = _rows("okAAAAAAAAA")
    rows["end"] = float("nan")
    with pytest.raises(ValueError, match="start < end"):
        download_shard(rows, tmp_path, DownloadConfig())


@pytest.mark.parametrize("template", ["dl -o {out} {youtube_id}", "dl {clip_id} {out}", "dl {out} {youtube_id} -- x"])
def test_an_id_that_could_be_read_as_an_option_is_refused_before_any_run(tmp_path, template):
    """YouTube ids may start with '-': as an argument of its own, `-o x`-like or `--exec`-like ids would be
    options. A template that puts an id there is refused; inside a URL or after `--` the id is an operand."""
    with pytest.raises(ValueError, match="would be read as an option"):
        build_command(DownloadConfig(command=template), youtube_id="--exec-xxxx", start=0, end=1,
                      out=tmp_path / "x.mp4", clip_id="-o x")
    with pytest.raises(ValueError, match="would be read as an option"):
        download_shard(_rows("-abcDEF_123"), tmp_path / "media", DownloadConfig(command=template))
    assert not (tmp_path / "media").exists()


def test_ids_after_double_dash_or_inside_a_url_stay_operands(tmp_path):
    args = build_command(DownloadConfig(command="dl -o {out} -- {youtube_id} {clip_id}"), youtube_id="--exec-xxxx",
                         start=0, end=1, out=tmp_path / "x.mp4", clip_id="-o x")
    assert args[args.index("--") + 1:] == ["--exec-xxxx", "-o x"]
    url = build_command(DownloadConfig(), youtube_id="-o_xxxxxxxx", start=0, end=1, out=tmp_path / "x.mp4",
                        clip_id="c")[-1]
    assert url == "https://www.youtube.com/watch?v=-o_xxxxxxxx"
