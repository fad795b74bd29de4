"""The critical-difference diagram over all benchmark datasets (avgzsl.reporting.benchmark_significance), written by
`avgzsl benchmark-table` beside the table, from run folders with real scores.npz / metrics.json files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avgzsl.evaluation.saved_scores import metrics_from_saved, read_scores
from avgzsl.evaluation.summary import write_summary
from avgzsl.reporting.avca_published import DATASETS
from avgzsl.reporting.benchmark_significance import write_critical_difference_diagrams

CLASSES = {"vggsound-gzsl": 4, "ucf-gzsl": 5, "activitynet-gzsl": 6}  # test classes per synthetic dataset
CLIPS = 3  # per class
# correct clips per class (of CLIPS), one entry per seed: BEST beats MID beats LOW on every class of every dataset
CONSTRUCTED = {"best": [3, 3], "mid": [2, 1], "low": [0]}


def _write_npz(path: Path, distances: np.ndarray, labels: np.ndarray, seen: np.ndarray, info: dict | None) -> None:
    arrays = {"clip_ids": np.array([f"c{i}" for i in range(len(labels))]),
              "class_names": np.array([f"class{c}" for c in range(len(seen))]), "labels": labels, "seen": seen,
              "has_audio": np.ones(len(labels), bool), "has_video": np.ones(len(labels), bool),
              "distances_both": distances}
    if info is not None:
        arrays["run_info"] = np.array(json.dumps(info))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def _one_hot_distances(n_classes: int, correct: int) -> tuple[np.ndarray, np.ndarray]:
    """`correct` clips of each class nearest their own class, the rest nearest the next class. Distances 0 / 10:
    no calibration β on the grid (<= 3) changes a prediction."""
    labels = np.repeat(np.arange(n_classes), CLIPS)
    predicted = np.where(np.tile(np.arange(CLIPS), n_classes) < correct, labels, (labels + 1) % n_classes)
    distances = np.full((len(labels), n_classes), 10.0)
    distances[np.arange(len(labels)), predicted] = 0.0
    return distances, labels


def write_run(run_dir: Path, experiment: str, seed: int, test: np.ndarray, val: np.ndarray, labels: np.ndarray,
              seen: np.ndarray) -> dict:
    """scores.npz + val_scores.npz + metrics.json (computed from them, as every run's is)."""
    info = {"experiment": experiment, "model": experiment, "seed": seed, "protocol": "avca"}
    _write_npz(run_dir / "scores.npz", test, labels, seen, info)
    _write_npz(run_dir / "val_scores.npz", val, labels, seen, None)
    metrics = metrics_from_saved(read_scores(run_dir / "scores.npz"), read_scores(run_dir / "val_scores.npz"))
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def write_benchmark(folder: Path, dataset: str, experiments: dict[str, list[int]]) -> Path:
    """A benchmark result folder as the workflow writes it, each experiment's seeds scored by construction."""
    folder.mkdir(parents=True)
    (folder / "avca_benchmark.json").write_text(json.dumps({"benchmark": dataset, "variant": "main",
                                                            "text_lookup": "correct"}))
    n = CLASSES[dataset]
    seen = np.arange(n) < n // 2
    for name, correct_per_seed in experiments.items():
        runs = []
        for seed, correct in enumerate(correct_per_seed):
            distances, labels = _one_hot_distances(n, correct)
            runs.append(write_run(folder / "runs" / name / f"seed{seed}", name, seed, distances, distances, labels,
                                  seen))
        write_summary(folder / "runs" / name / "summary.json", {"name": name, "baseline": name}, runs)
    return folder


def _three(tmp_path: Path, experiments: dict | None = None) -> list[Path]:
    return [write_benchmark(tmp_path / d, d, experiments or CONSTRUCTED) for d in DATASETS]


def _record(out: Path) -> dict:
    return json.loads((out / "critical_difference_main_correct.json").read_text())


def test_a_method_best_on_every_class_ranks_first(tmp_path):
    write_critical_difference_diagrams(_three(tmp_path), tmp_path / "out")
    record = _record(tmp_path / "out")
    assert record["status"] == "drawn" and record["datasets"] == list(DATASETS)
    assert record["average_ranks"] == {"BEST": 1.0, "MID": 2.0, "LOW": 3.0}
    assert record["n_blocks"] == sum(CLASSES.values()) and record["blocks_per_dataset"] == CLASSES
    assert record["p_value"] < 1e-3 and record["left_out"] == {}
    per_class = pd.read_csv(tmp_path / "out" / "critical_difference_main_correct_per_class.csv", index_col=0)
    # seeds averaged: MID's per-class accuracy is the mean of its seeds' constructed accuracies
    assert np.allclose(per_class["MID"], np.mean(CONSTRUCTED["mid"]) / CLIPS)
    assert per_class.index[0] == f"{DATASETS[0]}/class0"
    assert (tmp_path / "out" / "critical_difference_main_correct.png").stat().st_size > 0


def test_per_class_accuracy_is_the_tables_calibrated_row(tmp_path):
    """With distances where calibration matters, the per-class accuracies average to metrics.json's calibrated
    S and U (the numbers the table reports), so the diagram ranks what the table shows."""
    from avgzsl.reporting.benchmark_significance import per_class_over_seeds

    rng = np.random.default_rng(3)
    n = 6
    seen = np.arange(n) < 3
    labels = np.repeat(np.arange(n), 8)
    test, val = (rng.random((len(labels), n)) - 0.4 * np.eye(n)[labels] - 0.3 * seen for _ in range(2))
    metrics = write_run(tmp_path / "runs" / "e" / "seed0", "e", 0, test, val, labels, seen)
    summary = write_summary(tmp_path / "runs" / "e" / "summary.json", {"name": "e", "baseline": "e"}, [metrics])
    accuracy = per_class_over_seeds(tmp_path, "ucf-gzsl", summary).to_numpy()
    calibrated = metrics["classification"]["both"]["calibrated"]
    assert calibrated["beta"] > 0  # the construction makes calibration matter
    assert accuracy[seen].mean() == pytest.approx(calibrated["S"])
    assert accuracy[~seen].mean() == pytest.approx(calibrated["U"])


def _not_on_activitynet(tmp_path):
    extra = {**CONSTRUCTED, "extra": [1]}
    return [write_benchmark(tmp_path / d, d, extra if d != "activitynet-gzsl" else CONSTRUCTED) for d in DATASETS]


def _scores_deleted(tmp_path):
    dirs = _three(tmp_path)
    (tmp_path / "ucf-gzsl" / "runs" / "mid" / "seed1" / "scores.npz").unlink()
    return dirs


@pytest.mark.parametrize("make, left_out, why", [
    (_not_on_activitynet, "EXTRA (extra)", ["not run on activitynet-gzsl"]),
    (_scores_deleted, "MID (mid)", ["ucf-gzsl: ", str(Path("ucf-gzsl", "runs", "mid", "seed1", "scores.npz")) + " not found"]),
])
def test_a_method_missing_on_one_dataset_is_left_out_and_named(tmp_path, caplog, make, left_out, why):
    caplog.set_level(logging.WARNING, logger="avgzsl.reporting.benchmark_significance")
    write_critical_difference_diagrams(make(tmp_path), tmp_path / "out")
    record = _record(tmp_path / "out")
    assert all(part in record["left_out"][left_out] for part in why)
    assert left_out.split()[0] not in record["average_ranks"]
    assert record["status"] == "drawn" and record["average_ranks"]["BEST"] == 1.0
    if left_out == "MID (mid)":
        assert "left out on ucf-gzsl" in caplog.text


@pytest.mark.parametrize("experiments_per_dataset", [
    {d: {"best": [3]} for d in DATASETS},  # one method only
    {"vggsound-gzsl": {"best": [3]}, "ucf-gzsl": {"mid": [1]}, "activitynet-gzsl": {"best": [3], "mid": [1]}},
])
def test_fewer_than_two_common_methods_draws_the_reason(tmp_path, caplog, experiments_per_dataset):
    caplog.set_level(logging.WARNING, logger="avgzsl.reporting.benchmark_significance")
    dirs = [write_benchmark(tmp_path / d, d, e) for d, e in experiments_per_dataset.items()]
    write_critical_difference_diagrams(dirs, tmp_path / "out")
    record = _record(tmp_path / "out")
    assert record["status"] == "not drawn" and "needs at least two" in record["reason"]
    assert "average_ranks" not in record
    assert (tmp_path / "out" / "critical_difference_main_correct.png").stat().st_size > 0
    assert "needs at least two" in caplog.text


def test_the_cli_writes_the_diagram_beside_the_table(tmp_path, capsys):
    from avgzsl.cli import main

    dirs = _three(tmp_path)
    assert main(["benchmark-table", *map(str, dirs), "--out", str(tmp_path / "bt")]) == 0
    assert "critical_difference_main_correct" in capsys.readouterr().out
    assert (tmp_path / "bt" / "avca_benchmarks_main_correct.csv").is_file()
    assert (tmp_path / "bt" / "critical_difference_main_correct.png").stat().st_size > 0
    assert _record(tmp_path / "bt")["average_ranks"]["BEST"] == 1.0


def test_the_diagram_says_its_blocks_are_classes_seen_and_unseen_not_the_hm(tmp_path):
    write_critical_difference_diagrams(_three(tmp_path), tmp_path / "out")
    record = _record(tmp_path / "out")
    assert record["seen_blocks_per_dataset"] == {d: n // 2 for d, n in CLASSES.items()}  # seen = first half
    assert "not the table's HM" in record["blocks"] and "seen and unseen" in record["blocks"]


def test_the_workflow_diagram_ranks_what_table1_leads_with_and_says_so(tmp_path):
    """Under the avca protocol Table 1 leads with calibrated numbers: the diagram ranks per-class accuracy at each
    run's calibrated beta (whose seen / unseen means are metrics.json's calibrated S / U) and its caption names
    the blocks, their seen / unseen split and the metric, not Table 1's HM."""
    from avgzsl.evaluation.significance import friedman_nemenyi
    from avgzsl.reporting.figures import critical_difference_caption, critical_difference_scores

    rng = np.random.default_rng(5)
    n = 6
    seen, labels = np.arange(n) < 4, np.repeat(np.arange(n), 8)
    metrics = {}
    for name in ("one", "two"):
        test, val = (rng.random((len(labels), n)) - 0.4 * np.eye(n)[labels] - 0.3 * seen for _ in range(2))
        metrics[name] = write_run(tmp_path / "runs" / name / "seed0", name, 0, test, val, labels, seen)
    assert any(m["classification"]["both"]["calibrated"]["beta"] > 0 for m in metrics.values())  # it matters
    table = critical_difference_scores(tmp_path / "runs", {"one": {"baseline": "one"}, "two": {"baseline": "two"}})
    for name in ("one", "two"):
        calibrated = metrics[name]["classification"]["both"]["calibrated"]
        accuracy = table[f"{name.upper()} [both]"].to_numpy()
        assert accuracy[seen].mean() == pytest.approx(calibrated["S"])
        assert accuracy[~seen].mean() == pytest.approx(calibrated["U"])
    caption = critical_difference_caption(friedman_nemenyi(table), table)
    assert f"N = {n} test classes (4 seen, 2 unseen)" in caption and "calibrated β" in caption
    assert "does not test Table 1's HM" in caption
