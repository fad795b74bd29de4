"""Provenance in the DAG: on a finished tiny run, each kind of edit re-runs exactly what depends on it.

Every test reads the dry-run plan by rule; an edit is undone afterwards (and a weights file gets its
old mtime back), so the module shares one finished run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_helpers import copy_repo, job_counts, snakemake

TINY = "tests/configs/tiny.yaml"
pytestmark = pytest.mark.slow

EXTRACTION = {"extract_video_shard", "extract_audio_shard", "train_audio_cnn", "text_features"}
DATA = {"manifest", "render_demo_shard", "i3d_weights"}
DOWNSTREAM_OF_TRAINING = {"summarize_experiment", "tables", "figures", "all"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("reruns") / "repo")
    snakemake(repo, "--configfile", TINY, timeout=1500)
    return repo


def plan(repo: Path, *args: str) -> dict[str, int]:
    return job_counts(snakemake(repo, "--configfile", TINY, "-n", *args).stdout)


def n_seed_jobs(repo: Path) -> int:
    cfg = yaml.safe_load((repo / TINY).read_text())
    deep = [e for e in cfg["experiments"].values() if "baseline" not in e]
    return len(deep) * len(cfg["training"]["seeds"])


def n_shards(repo: Path) -> int:
    return len(list((repo / "results/demo/media").glob("shard_*.tsv")))


CODE_EDIT = "\nEDITED = True\n"  # a statement: code, unlike a comment


def edited_plan(repo: Path, relative: str, addition: str = CODE_EDIT) -> dict[str, int]:
    """The plan with `addition` appended to a source file; the file is restored before returning."""
    path = repo / relative
    original = path.read_text()
    path.write_text(original + addition)
    try:
        return plan(repo)
    finally:
        path.write_text(original)


def test_finished_run_has_nothing_to_do(finished):
    assert plan(finished) == {}
    seed0 = finished / "results/demo/runs/avgzslnet/seed0"
    assert {"metrics.json", "checkpoint.pt", "config.json", "history.csv"} <= {p.name for p in seed0.iterdir()}
    assert not list(seed0.parent.glob(".seed*.tmp"))  # no temporary folders left behind
    weights = finished / "resources/models/i3d_kinetics400_rgb.pt"
    assert weights.is_file() and len((weights.parent / f"{weights.name}.sha256").read_text().split()[0]) == 64


def test_editing_the_loss_reruns_training_and_what_reads_it(finished):
    counts = edited_plan(finished, "avgzsl/models/losses.py")
    assert counts["train_seed"] == n_seed_jobs(finished)
    assert counts["tables"] == counts["figures"] == 1
    # the classical baselines and the summaries import no training code (avgzsl.pipeline.run_folders, saved_scores)
    assert "run_baseline" not in counts and set(counts) <= {"train_seed"} | DOWNSTREAM_OF_TRAINING, counts
    assert plan(finished) == {}  # the edit undone, nothing is left to do


@pytest.mark.parametrize("relative", ["avgzsl/models/losses.py", "avgzsl/pipeline/extraction_steps.py", "avgzsl/formats/ids.py"])
def test_comments_docstrings_and_layout_rerun_nothing(finished, relative):
    """Only code is provenance: an edit that leaves a module's syntax tree (docstrings aside) as it was re-runs
    no job, even in a module every job imports."""
    path = finished / relative
    original = path.read_text()
    body = original.split('"""', 2)  # the module docstring reworded, a comment and blank lines added
    assert len(body) == 3 and body[0] == ""
    edited = '"""' + body[1] + ' Reworded."""' + "\n\n# a comment\n\n" + body[2] + "\n\n# another comment\n"
    path.write_text(edited)
    try:
        assert plan(finished) == {}
    finally:
        path.write_text(original)


def test_editing_the_extraction_steps_reruns_extraction_and_downstream(finished):
    counts = edited_plan(finished, "avgzsl/pipeline/extraction_steps.py")
    shards = n_shards(finished)
    assert counts["extract_audio_shard"] == counts["extract_video_shard"] == shards
    assert counts["train_audio_cnn"] == 1 and counts["train_seed"] == n_seed_jobs(finished)
    assert not DATA & set(counts) and "text_features" not in counts, counts


def test_editing_tables_reruns_only_the_report(finished):
    counts = edited_plan(finished, "avgzsl/reporting/tables.py")
    # the paper's numbers live in avgzsl.reporting.paper_tables, so the figures do not depend on the layout code
    assert counts["tables"] == 1 and set(counts) <= {"tables", "all"}, counts


def test_changed_i3d_weights_rerun_video_and_downstream(finished):
    weights = finished / "resources/models/i3d_kinetics400_rgb.pt"
    original, stat = weights.read_bytes(), weights.stat()
    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        counts = plan(finished)
    finally:
        weights.write_bytes(original)
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert counts["extract_video_shard"] == n_shards(finished)
    assert counts["train_seed"] == n_seed_jobs(finished) and counts["tables"] == 1
    assert not {"extract_audio_shard", "train_audio_cnn", "text_features"} & set(counts), counts
    assert plan(finished) == {}


def test_a_new_weights_package_version_reruns_the_conversion(finished, monkeypatch):
    """The weights rule's params name the package version; a different one re-converts."""
    rules = finished / "workflow/rules/common.smk"
    original = rules.read_text()
    rules.write_text(original.replace("from avgzsl_extractors.i3d_weights import weights_source",
                                      "from avgzsl_extractors.i3d_weights import weights_source as _source\n"
                                      "weights_source = lambda: {**_source(), 'version': '0.0.2'}"))
    try:
        counts = plan(finished)
    finally:
        rules.write_text(original)
    assert counts["i3d_weights"] == 1 and counts["extract_video_shard"] == n_shards(finished)
    assert "extract_audio_shard" not in counts


def test_adding_a_seed_trains_only_that_seed(finished, tmp_path):
    cfg = yaml.safe_load((finished / TINY).read_text())
    cfg["experiments"]["avgzslnet"]["seeds"] = [*cfg["training"]["seeds"], 7]
    more = tmp_path / "more_seeds.yaml"
    more.write_text(yaml.safe_dump(cfg))
    out = snakemake(finished, "--configfile", str(more), "-n").stdout
    counts = job_counts(out)
    assert counts["train_seed"] == 1 and "runs/avgzslnet/seed7" in out
    assert counts["summarize_experiment"] == 1
    assert set(counts) <= {"train_seed"} | DOWNSTREAM_OF_TRAINING, counts


@pytest.mark.parametrize("copy", ["cp -a", "shutil.copytree with copy2"])
def test_a_copied_run_has_nothing_to_do(finished, tmp_path, copy):
    """Relocation: a finished run copied elsewhere (mtimes kept) is complete there too."""
    dst = tmp_path / "elsewhere" / "run"
    dst.parent.mkdir()
    if copy == "cp -a":
        assert os.system(f"cp -a '{finished}' '{dst}'") == 0
    else:
        shutil.copytree(finished, dst, symlinks=True)
    assert plan(dst) == {}
