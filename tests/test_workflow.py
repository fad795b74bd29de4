"""The Snakemake workflow, run for real on the tiny config: outputs, re-runs, faults, config errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_helpers import SHARED, SNAKEMAKE, copy_repo, job_counts, snakemake

TINY = "tests/configs/tiny.yaml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("wf") / "repo")
    snakemake(repo, "--configfile", TINY, timeout=1500)
    return repo


def test_tiny_run_writes_every_table_and_figure(tiny_run):
    out = tiny_run / "results" / "demo"
    for name in ("table1_classification", "table2_retrieval", "table3_cmd_ablation", "table4_ct_ablation",
                 "coverage"):
        assert (out / "tables" / f"{name}.csv").is_file() and (out / "tables" / f"{name}.md").is_file()
    for fig in ("training_curves", "tsne", "critical_difference"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    t1 = pd.read_csv(out / "tables" / "table1_classification.csv", dtype=str, keep_default_na=False)
    ours = t1[(t1["experiment"] == "avgzslnet") & (t1["Test"] == "both")].iloc[0]
    assert 0.0 <= float(ours["HM"]) <= 100.0 and ours["HM (paper)"] == "38.98"
    assert t1[t1["experiment"] == "conse"]["S"].iloc[0] == ""  # not configured in the tiny run: paper only
    eszsl = t1[(t1["experiment"] == "eszsl")].iloc[0]
    assert eszsl["S"] != ""
    cov = pd.read_csv(out / "tables" / "coverage.csv")
    assert set(cov["split"]) == {"trn", "val", "tst"}
    assert (cov[cov["class"] == "(all)"]["listed"].sum()) == 33 * 4
    # every rule logs and benchmarks
    assert list((out / "logs").rglob("*.log")) and list((out / "benchmarks").rglob("*.tsv"))


def test_recompute_from_saved_scores_equals_what_the_workflow_wrote(tiny_run, tmp_path):
    from avgzsl.cli import main

    out = tiny_run / "results" / "demo"
    runs = sorted((out / "runs").glob("*/seed*"))
    assert runs and all((r / "val_scores.npz").is_file() for r in runs)
    for run in runs:
        assert main(["recompute", str(run), "--check", "--out", str(tmp_path / "metrics.json")]) == 0
    assert main(["recompute-tables", str(out / "runs"), "--out", str(tmp_path / "tables"), "--dataset", "demo"]) == 0
    for name in ("table1_classification", "table2_retrieval", "table3_cmd_ablation", "table4_ct_ablation"):
        for ext in ("csv", "md"):
            assert (tmp_path / "tables" / f"{name}.{ext}").read_bytes() == (out / "tables" / f"{name}.{ext}").read_bytes()


def test_editing_video_extractor_reruns_video_branch_only(tiny_run):
    source = tiny_run / "extractors" / "i3d.py"
    original = source.read_text()
    # a code edit (a comment would not count: provenance is the syntax tree, avgzsl/pipeline/code_deps.py)
    source.write_text(original + "\nEDITED = True\n")
    try:
        counts = job_counts(snakemake(tiny_run, "--configfile", TINY, "-n").stdout)
    finally:
        source.write_text(original)
    n_shards = len(list((tiny_run / "results/demo/features/video").glob("shard_*.h5")))
    assert counts.get("extract_video_shard") == n_shards
    assert counts.get("train_seed", 0) >= 1 and counts.get("tables") == 1
    for job in ("extract_audio_shard", "train_audio_cnn", "text_features", "render_demo_shard", "manifest"):
        assert job not in counts, counts
    # the edit undone, nothing is left to do
    assert job_counts(snakemake(tiny_run, "--configfile", TINY, "-n").stdout) == {}


def test_changing_a_training_setting_schedules_no_extraction(tiny_run, tmp_path):
    cfg = yaml.safe_load((tiny_run / TINY).read_text())
    cfg["training"]["train"]["epochs"] = 3
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    counts = job_counts(snakemake(tiny_run, "--configfile", str(changed), "-n").stdout)
    assert counts.get("train_seed") == 3  # the three deep experiments, one seed each
    assert counts.get("summarize_experiment") == 3
    assert not {"extract_video_shard", "extract_audio_shard", "train_audio_cnn", "text_features"} & set(counts)
    assert "run_baseline" not in counts


def _running_script(pid: int, name: str) -> bool:
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    for child in children:
        try:
            if any(name in part for part in child.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def test_killed_run_resumes_with_only_what_is_missing(tiny_run):
    out = tiny_run / "results" / "demo"
    victim = out / "features" / "video" / "shard_00001.h5"
    kept = out / "features" / "video" / "shard_00000.h5"
    kept_mtime = kept.stat().st_mtime
    # as if the run had not got this far: one video shard and everything downstream of it is missing
    victim.unlink()
    (out / "features" / "video" / "shard_00001.status.tsv").unlink()
    for downstream in ("runs", "tables", "figures"):
        shutil.rmtree(out / downstream)
    proc = subprocess.Popen([SNAKEMAKE, "--cores", "2", "--configfile", TINY], cwd=tiny_run,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not _running_script(proc.pid, "extract_video_shard"):
        time.sleep(0.2)
    assert proc.poll() is None, "snakemake ended before the video job started"
    time.sleep(2.0)  # mid-job: the model is loading or clips are decoding
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not victim.exists()  # a killed job leaves nothing that counts as done
    snakemake(tiny_run, "--unlock", "--configfile", TINY)
    counts = job_counts(snakemake(tiny_run, "--configfile", TINY, "-n", "--rerun-incomplete").stdout)
    assert counts.get("extract_video_shard") == 1 and "extract_audio_shard" not in counts
    snakemake(tiny_run, "--configfile", TINY, "--rerun-incomplete", timeout=900)
    assert victim.is_file() and kept.stat().st_mtime == kept_mtime


def test_features_dataset_trains_from_existing_shards(tiny_run, tmp_path):
    """dataset: features skips extraction and trains from shards made elsewhere (here: the tiny run's)."""
    out = tiny_run / "results" / "demo"
    cfg = yaml.safe_load((tiny_run / TINY).read_text())
    cfg["dataset"] = "features"
    cfg["results"] = str(tmp_path / "results")
    cfg["experiments"] = {"avgzslnet": {}, "sae": {"baseline": "sae"}}
    cfg["features"] = {
        "manifest": str(out / "manifest.csv"), "classes": str(out / "classes.tsv"),
        "text": str(out / "features" / "text.h5"),
        "audio": sorted(str(p) for p in (out / "features" / "audio").glob("shard_*.h5")),
        "video": sorted(str(p) for p in (out / "features" / "video").glob("shard_*.h5")),
    }
    path = tmp_path / "features.yaml"
    path.write_text(yaml.safe_dump(cfg))
    counts = job_counts(snakemake(tiny_run, "--configfile", str(path), "-n").stdout)
    assert not {"extract_video_shard", "extract_audio_shard", "train_audio_cnn", "text_features"} & set(counts)
    snakemake(tiny_run, "--configfile", str(path), timeout=600)
    t1 = pd.read_csv(tmp_path / "results" / "features" / "tables" / "table1_classification.csv", dtype=str,
                     keep_default_na=False)
    assert t1[(t1["experiment"] == "avgzslnet") & (t1["Test"] == "both")]["HM"].iloc[0] != ""


@pytest.mark.parametrize(
    "patch,message",
    [
        ({"shard_szie": 3}, "shard_szie"),
        ({"device": "gpu0"}, "gpu0"),
        ({"experiments": {"broken": {"loss": {"rek": False}}}}, "experiments.broken.loss.rek"),
        ({"demo": {"seconds": -1}}, "seconds"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, patch, message):
    repo = copy_repo(tmp_path / "repo")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(patch))
    proc = snakemake(repo, "--configfile", TINY, str(bad), "-n", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (repo / "results").exists()


def test_audiosetzsl_dry_run_is_bounded_by_shards(tmp_path):
    split_lists = SHARED / "datasets" / "audiosetzsl"
    if not split_lists.is_dir():
        pytest.skip(f"AudioSetZSL split lists not found at {split_lists}")
    repo = copy_repo(tmp_path / "repo")
    cfg = tmp_path / "asz.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": "audiosetzsl", "shard_size": 500,
                                   "audiosetzsl": {"split_lists": str(split_lists)},
                                   # the default (auto) needs the GoogleNews vectors on disk before any job
                                   "extract": {"text": {"source": "glove-6b-50d"}}}))
    counts = job_counts(snakemake(repo, "--configfile", str(cfg), "-n", "--quiet", "rules").stdout)
    n_shards = -(-156_416 // 500)
    assert counts["download_shard"] == counts["extract_video_shard"] == counts["extract_audio_shard"] == n_shards
    assert sum(counts.values()) < 4 * n_shards  # shards, not clips: 156,416 clips become ~1,000 jobs


def test_lint_and_format():
    from workflow_helpers import REPO

    lint = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run([str(Path(SNAKEMAKE).parent / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


STAND_IN_DOWNLOADER = '''
import sys
sys.path.insert(0, {tests!r})
from media import make_clip

youtube_id, out = sys.argv[2], sys.argv[3]  # after the "--"
if youtube_id.startswith("GONE"):
    print(f"ERROR: [youtube] {{youtube_id}}: Video unavailable", file=sys.stderr)
    sys.exit(1)
make_clip(out, seconds=2.0, fps=8, size=(64, 64))
'''


def test_vanished_videos_are_recorded_and_the_run_completes(tmp_path):
    """AudioSetZSL mode with a stand-in downloader that loses some ids: the tables report the coverage."""
    import sys

    repo = copy_repo(tmp_path / "repo")
    lists = tmp_path / "lists"
    classes = {"dog": True, "cat": True, "horse": True, "pig": False}
    (lists / "class-split").mkdir(parents=True)
    for name, file_classes in (("all", list(classes)), ("seen", [c for c, s in classes.items() if s]),
                               ("unseen", [c for c, s in classes.items() if not s])):
        (lists / "class-split" / f"{name}_class.txt").write_text(",\n".join(f"'{c}'" for c in file_classes))
    k = 0
    for split, per_class in (("trn", 3), ("val", 1), ("tst", 2)):
        (lists / "youtube-id" / split).mkdir(parents=True)
        for c in classes:
            rows = []
            for _ in range(per_class):
                gone = k % 5 == 4
                yid = ("GONE" if gone else "okay") + f"{k:07d}"  # 11 characters, as YouTube ids are
                rows.append(f"{k}, {yid}, 30.000, 40.000, /m/0x")
                k += 1
            (lists / "youtube-id" / split / f"{c}.txt").write_text("\n".join(rows) + "\n")
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN_DOWNLOADER.format(tests=str(repo / "tests")))
    cfg = yaml.safe_load((repo / TINY).read_text())
    cfg.update(dataset="audiosetzsl", shard_size=8,
               audiosetzsl={"split_lists": str(lists), "verify_split_lists": False, "retries": 0,
                            "download_command": f"{sys.executable} {script} -- {{youtube_id}} {{out}}"})
    cfg["experiments"] = {"avgzslnet": {}, "eszsl": {"baseline": "eszsl"}}
    cfg["extract"]["text"] = {"source": "glove-6b-50d"}  # offline; AudioSetZSL's default is GoogleNews 300-d
    path = tmp_path / "asz.yaml"
    path.write_text(yaml.safe_dump(cfg))
    snakemake(repo, "--configfile", str(path), timeout=900)
    out = repo / "results" / "audiosetzsl"
    media = pd.concat([pd.read_csv(p, sep="\t") for p in sorted((out / "media").glob("shard_*.tsv"))])
    gone = media[media["clip_id"].str.startswith("GONE")]
    assert len(gone) == k // 5 and set(gone["status"]) == {"unavailable"}
    assert gone["reason"].str.contains("Video unavailable").all()
    cov = pd.read_csv(out / "tables" / "coverage.csv")
    total = cov[cov["class"] == "(all)"]
    assert total["listed"].sum() == k and total["video ok"].sum() == k - k // 5
    status = pd.concat([pd.read_csv(p, sep="\t") for p in (out / "features" / "video").glob("*.status.tsv")])
    assert status[status["clip_id"].str.startswith("GONE")]["reason"].str.contains("unavailable").all()
    assert (out / "tables" / "table1_classification.csv").is_file()
