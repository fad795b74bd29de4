"""`dataset: custom` through the real Snakemake workflow: the smallest manifest, YouTube rows, unsafe ids."""

from __future__ import annotations

import shlex
import stat
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from media import make_clip, make_rotated_clip
from workflow_helpers import copy_repo, job_counts, snakemake

TINY = "tests/configs/tiny.yaml"
pytestmark = pytest.mark.slow

# two seen classes with train clips, two unseen ones; every class has val and test clips
SEEN, UNSEEN = ("dog", "cat"), ("bell", "rain")


def _config(repo: Path, tmp_path: Path, custom: dict, **extra) -> Path:
    cfg = yaml.safe_load((repo / TINY).read_text())
    cfg.update(dataset="custom", custom=custom, **extra)
    cfg["experiments"] = {"avgzslnet": {}}
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _class_lists(folder: Path) -> dict:
    (folder / "classes.txt").write_text("\n".join(SEEN + UNSEEN) + "\n")
    (folder / "unseen.txt").write_text("\n".join(UNSEEN) + "\n")
    return {"classes": str(folder / "classes.txt"), "unseen": str(folder / "unseen.txt")}


@pytest.fixture(scope="module")
def smallest_manifest_run(tmp_path_factory):
    """A user's folder: clips beside a manifest with just class, split and a relative path."""
    tmp = tmp_path_factory.mktemp("custom")
    repo = copy_repo(tmp / "repo")
    data = tmp / "my clips"  # a space in the folder name, as users have
    rows = []
    for name in SEEN + UNSEEN:
        for split, count in (("trn", 2 if name in SEEN else 0), ("val", 1), ("tst", 1)):
            for k in range(count):
                clip = f"clips/{name}_{split}{k}.mp4"
                make_clip(data / clip, seconds=1.0, fps=8, size=(96, 64), audio_channels=1 + (k % 2))
                rows.append(f"{name},{split},{clip}")
    # a silent track (kept, flagged), a phone clip stored turned (decoded upright)
    make_clip(data / "clips/quiet.mp4", seconds=1.0, fps=8, size=(96, 64), amplitude=0.0)
    rows.append("dog,trn,clips/quiet.mp4")
    upright = np.zeros((96, 64, 3), np.uint8)
    upright[:32, :32] = 255
    make_rotated_clip(data / "clips/phone.mp4", upright, 90, frames=8, fps=8)
    rows.append("cat,val,clips/phone.mp4")
    (data / "manifest.csv").write_text("class,split,path\n" + "\n".join(rows) + "\n")
    config = _config(repo, tmp, {"manifest": str(data / "manifest.csv"), **_class_lists(data)})
    snakemake(repo, "--configfile", str(config), timeout=1500)
    return repo, data


def _status(out: Path, modality: str) -> pd.DataFrame:
    tables = sorted((out / "features" / modality).glob("shard_*.status.tsv"))
    return pd.concat([pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in tables]).set_index("clip_id")


def test_smallest_manifest_runs_to_the_tables(smallest_manifest_run):
    repo, data = smallest_manifest_run
    out = repo / "results" / "custom"
    assert (out / "tables" / "table1_classification.csv").is_file()
    manifest = pd.read_csv(out / "manifest.csv")
    # relative paths were resolved from the manifest's folder; ids come from the file names
    assert manifest.loc[manifest["clip_id"] == "dog_trn0", "path"].item() == str(data / "clips/dog_trn0.mp4")
    audio, video = _status(out, "audio"), _status(out, "video")
    assert set(audio.index) == set(manifest["clip_id"]) == set(video.index)
    usable = audio.drop(index=["phone"])
    assert (usable["status"] == "ok").all(), usable[usable["status"] != "ok"]
    assert audio.loc["phone", ["status", "reason"]].tolist() == ["skipped", "no audio stream"]
    assert audio.loc["quiet", "flags"] == "silent_audio" and (usable.drop(index="quiet")["flags"] == "").all()
    assert video.loc["phone", ["status", "flags"]].tolist() == ["ok", "rotated_90"]
    assert (video["status"] == "ok").all()


FAKE_DOWNLOADER = """
import pathlib, shutil, sys
youtube_id, start, end, out, fixtures = sys.argv[2:]  # after the "--"
with open(pathlib.Path(fixtures) / "calls.log", "a") as log:
    log.write(f"{youtube_id} {start} {end}\\n")
source = pathlib.Path(fixtures) / f"{youtube_id}.mp4"
if not source.is_file():
    print(f"ERROR: [youtube] {youtube_id}: Video unavailable", file=sys.stderr)
    sys.exit(1)
shutil.copy(source, out)
"""


def test_youtube_rows_are_downloaded_and_extracted(tmp_path):
    """Rows with only a YouTube id go through the download rule, with a stand-in downloader command."""
    repo = copy_repo(tmp_path / "repo")
    fixtures, data = tmp_path / "uploads", tmp_path / "mine"
    data.mkdir()
    ids = {"dogAAAAAAA1": "dog", "-catAAAAAA2": "cat", "bell_AAAAA3": "bell", "rainAAAAAA4": "rain"}
    for youtube_id in ids:
        make_clip(fixtures / f"{youtube_id}.mp4", seconds=2.0, fps=8, size=(96, 64))
    script = tmp_path / "fake_yt_dlp.py"
    script.write_text(FAKE_DOWNLOADER)
    rows = [f"{name},tst,{youtube_id},," for youtube_id, name in ids.items()]
    rows[0] = "dog,trn,dogAAAAAAA1,0.5,1.5"  # a window: the file holds just that second
    rows.append("cat,tst,goneAAAAAA5,,")  # the downloader reports it unavailable
    (data / "manifest.csv").write_text("class,split,youtube_id,start,end\n" + "\n".join(rows) + "\n")
    command = " ".join(shlex.quote(str(p)) for p in (sys.executable, script)) + " -- {youtube_id} {start} {end} {out} "
    config = _config(repo, tmp_path, {"manifest": str(data / "manifest.csv"), **_class_lists(data)},
                     audiosetzsl={"download_command": command + shlex.quote(str(fixtures)), "retries": 0})
    target = "results/custom/features/video/shard_00000.status.tsv"
    snakemake(repo, target, "--configfile", str(config), timeout=900)  # --configfile takes every word after it

    calls = sorted((fixtures / "calls.log").read_text().splitlines())
    assert "dogAAAAAAA1 0.5 1.5" in calls and "-catAAAAAA2 0 inf" in calls  # no window: from the start
    media = pd.read_csv(repo / "results/custom/media/shard_00000.tsv", sep="\t", keep_default_na=False)
    media = media.set_index("clip_id")
    assert media.loc["goneAAAAAA5", "status"] == "unavailable"
    downloaded = media.drop(index="goneAAAAAA5")
    assert (downloaded["status"] == "ok").all()
    for path in downloaded["path"]:  # inside the run's media folder (relative to the run), read-only
        assert (repo / path).resolve().parent == (repo / "resources" / "custom").resolve()
        assert stat.S_IMODE((repo / path).stat().st_mode) == 0o444
    status = pd.read_csv(repo / target, sep="\t", keep_default_na=False).set_index("clip_id")
    assert (status.drop(index="goneAAAAAA5")["status"] == "ok").all()
    assert "unavailable" in status.loc["goneAAAAAA5", "reason"]


@pytest.mark.parametrize(
    "header, row, message",
    [
        ("class,split,path,clip_id", "cat,tst,a.mp4,../../../escaped", "row 2 (line 3) column 'clip_id'"),
        ("class,split,youtube_id,clip_id", "cat,tst,abcdefghijk,../x", "row 2 (line 3) column 'clip_id'"),
        ("class,split,youtube_id", "cat,tst,--exec=touch", "row 2 (line 3) column 'youtube_id'"),
        ("class,split,youtube_id", "cat,tst,../../etc/pw", "row 2 (line 3) column 'youtube_id'"),
        ("class,split,path", "cat,tst,gone.mp4", "row 2 (line 3) column 'path': file not found"),
    ],
)
def test_unsafe_manifest_is_refused_before_any_job_runs(tmp_path, header, row, message):
    repo = copy_repo(tmp_path / "repo")
    data = tmp_path / "mine"
    data.mkdir()
    first = "dog,trn,a.mp4" if "path" in header else "dog,trn,abcdefghijk"
    (data / "manifest.csv").write_text(f"{header}\n{first}{',' if 'clip_id' in header else ''}\n{row}\n")
    config = _config(repo, tmp_path, {"manifest": str(data / "manifest.csv"), **_class_lists(data)},
                     audiosetzsl={"download_command": "touch {out}"})
    before = sorted(p for p in tmp_path.rglob("*") if ".snakemake" not in p.parts)
    proc = snakemake(repo, "--configfile", str(config), check=False, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (repo / "results").exists() and not (repo / "resources").exists()
    after = sorted(p for p in tmp_path.rglob("*") if ".snakemake" not in p.parts)
    assert after == before  # nothing written anywhere, inside the run's folders or outside them


def test_example_config_builds_its_dag(tmp_path):
    """config/custom.yaml, as shipped, passes validation and plans the custom rules once its clips exist; until
    then `snakemake -n` stops naming every missing clip with its line."""
    repo = copy_repo(tmp_path / "repo")
    example = repo / "config" / "custom-example"
    proc = snakemake(repo, "--configfile", "config/custom.yaml", "-n", check=False, timeout=300)
    assert proc.returncode != 0
    paths = pd.read_csv(example / "manifest.csv")["path"]
    for line, path in enumerate(paths, start=2):
        assert f"(line {line}) column 'path': file not found: config/custom-example/{path}" in proc.stdout + proc.stderr
    for path in paths:  # the user's clips (empty stand-ins: planning does not read them)
        (example / path).parent.mkdir(parents=True, exist_ok=True)
        (example / path).touch()
    counts = job_counts(snakemake(repo, "--configfile", "config/custom.yaml", "-n").stdout)
    assert counts["manifest"] == counts["custom_media_shard"] == counts["extract_video_shard"] == 1
    assert counts["train_seed"] == 6 and counts["summarize_experiment"] == 2  # two experiments, three seeds
    assert counts["run_baseline"] == 1
