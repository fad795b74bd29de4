"""Every number the workflow writes can be recomputed from the saved scores: metrics.json per run, and the tables."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from avgzsl.cli import main
from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.evaluation.metrics import MISSING_MODALITY, gzsl_classification, scored_rows
from avgzsl.evaluation.saved_scores import read_scores, recompute_run
from avgzsl.formats.shards import write_feature_shard
from avgzsl.pipeline.baseline_experiment import run_baseline_experiment
from avgzsl.pipeline.experiments import run_deep_experiment
from avgzsl.reporting.tables import write_all_tables

TRAIN = {"epochs": 5, "batch_size": 64, "lr": 0.1, "milestones": [4]}
DEEP = {
    "avgzslnet": {"seeds": [0, 1], "model": {}},
    "avgzslnet_attn": {"seeds": [0], "model": {"attention": True}},
    "audio_only": {"seeds": [0, 1], "model": {"kind": "audio_only"}},
}
TABLE_FILES = [f"{t}.{ext}" for t in ("table1_classification", "table2_retrieval", "table3_cmd_ablation",
                                      "table4_ct_ablation") for ext in ("csv", "md")]


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """Synthetic shards in which some clips lack video and others lack audio."""
    root = tmp_path_factory.mktemp("features")
    sp = synthetic_splits(SyntheticConfig(n_classes=8, n_seen=5, clips_per_class={"trn": 14, "val": 5, "tst": 6},
                                          audio_dim=32, video_dim=24, text_dim=10, seed=4))
    rows = []
    for split, s in sp.items():
        i = np.arange(len(s))
        has_v, has_a = i % 5 != 1, i % 7 != 3
        write_feature_shard(root / f"audio_{split}.h5", s.audio.numpy()[has_a],
                            [c for c, k in zip(s.clip_ids, has_a) if k], modality="audio", extractor="a")
        write_feature_shard(root / f"video_{split}.h5", s.video.numpy()[has_v],
                            [c for c, k in zip(s.clip_ids, has_v) if k], modality="video", extractor="v")
        rows += [(c, s.classes.names[y], split) for c, y in zip(s.clip_ids, s.labels.tolist())]
    pd.DataFrame(rows, columns=["clip_id", "class", "split"]).to_csv(root / "manifest.csv", index=False)
    sp["trn"].classes.write(root / "classes.tsv")
    write_feature_shard(root / "text.h5", sp["trn"].text.numpy(), sp["trn"].classes.names, modality="text",
                        extractor="t")
    return {"manifest": root / "manifest.csv", "classes": root / "classes.tsv", "text": root / "text.h5",
            "audio": sorted(root.glob("audio_*.h5")), "video": sorted(root.glob("video_*.h5"))}


@pytest.fixture(scope="module")
def workflow_runs(features, tmp_path_factory):
    """What the workflow's experiment jobs and tables rule write, on the synthetic shards."""
    root = tmp_path_factory.mktemp("results")
    runs, summaries = root / "runs", []
    for name, spec in DEEP.items():
        full = {"name": name, "preset": "official", "loss": {}, "train": dict(TRAIN), **spec}
        run_deep_experiment(full, **features, summary_out=str(runs / name / "summary.json"))
        summaries.append(str(runs / name / "summary.json"))
    run_baseline_experiment({"name": "eszsl", "baseline": "eszsl", "options": {"gamma": 0.1, "lam": 0.1}},
                            **features, summary_out=str(runs / "eszsl" / "summary.json"))
    summaries.append(str(runs / "eszsl" / "summary.json"))
    write_all_tables(summaries=summaries, manifest=str(features["manifest"]), status={"audio": [], "video": []},
                     out_dir=str(root / "tables"), dataset="synthetic")
    return root


def run_dirs(root):
    return sorted(root.glob("runs/*/seed*"))


def test_recompute_rebuilds_every_metrics_json_byte_for_byte(workflow_runs, capsys, tmp_path):
    assert len(run_dirs(workflow_runs)) == 6
    for run in run_dirs(workflow_runs):
        assert (run / "val_scores.npz").is_file()
        out = tmp_path / f"{run.parent.name}_{run.name}.json"
        assert main(["recompute", str(run), "--out", str(out), "--check"]) == 0
        assert out.read_bytes() == (run / "metrics.json").read_bytes()
    assert "identical to" in capsys.readouterr().err


def test_recompute_tables_equal_what_the_tables_rule_wrote(workflow_runs, tmp_path):
    assert main(["recompute-tables", str(workflow_runs / "runs"), "--out", str(tmp_path), "--dataset",
                 "synthetic"]) == 0
    for name in TABLE_FILES:
        assert (tmp_path / name).read_bytes() == (workflow_runs / "tables" / name).read_bytes(), name
    table1 = pd.read_csv(tmp_path / "table1_classification.csv", dtype=str).fillna("")
    assert (table1["HM"] != "").sum() >= 4  # the comparison covers real numbers


def test_recompute_tables_refuses_runs_that_lost_their_val_scores(workflow_runs, tmp_path, capsys):
    """Calibrated rows come from val_scores.npz: a run whose metrics.json has them but whose val scores are gone
    stops the tables with one line naming the file, instead of tables quietly without calibration."""
    runs = tmp_path / "synthetic" / "runs"
    shutil.copytree(workflow_runs / "runs", runs)
    lost = sorted(runs.glob("*/seed*/val_scores.npz"))[0]
    lost.unlink()
    assert main(["recompute-tables", str(runs), "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and str(lost) in err and "restore it" in err
    assert not (tmp_path / "t").exists()


def test_recompute_tables_names_the_dataset_of_the_workflow_layout(workflow_runs, tmp_path, capsys):
    """Without --dataset the tables' note names the dataset the folder above the runs is named after, as in
    <results>/<dataset>/runs; a folder named otherwise is an error asking for --dataset, not a wrong label."""
    shutil.copytree(workflow_runs / "runs", tmp_path / "custom" / "runs")
    assert main(["recompute-tables", str(tmp_path / "custom" / "runs"), "--out", str(tmp_path / "t")]) == 0
    assert "Dataset: custom." in (tmp_path / "t" / "table1_classification.md").read_text()
    (tmp_path / "audiosetzsl").symlink_to(tmp_path / "custom")  # named by the link, not by its target
    assert main(["recompute-tables", str(tmp_path / "audiosetzsl" / "runs"), "--out", str(tmp_path / "s")]) == 0
    assert "Dataset: audiosetzsl." in (tmp_path / "s" / "table1_classification.md").read_text()
    shutil.copytree(workflow_runs / "runs", tmp_path / "backup-2026" / "runs")
    assert main(["recompute-tables", str(tmp_path / "backup-2026" / "runs"), "--out", str(tmp_path / "u")]) != 0
    assert "pass --dataset" in capsys.readouterr().err
    assert not (tmp_path / "u").exists()


def test_recompute_check_fails_when_saved_val_scores_change(workflow_runs, tmp_path, capsys):
    run = tmp_path / "run"
    src = workflow_runs / "runs" / "avgzslnet" / "seed0"
    run.mkdir()
    for f in ("scores.npz", "metrics.json"):
        (run / f).write_bytes((src / f).read_bytes())
    val = read_scores(src / "val_scores.npz")
    chosen = json.loads((src / "metrics.json").read_text())["selected_epoch"]
    other = next(e for e in val["epochs_epoch"].tolist() if e != chosen)
    val["epochs_val_hm"] = (val["epochs_epoch"] == other).astype(float)  # per-epoch numbers that choose another epoch
    np.savez(run / "val_scores.npz", **val)
    assert recompute_run(run)["selected_epoch"] == other
    assert main(["recompute", str(run), "--check", "--out", str(tmp_path / "m.json")]) == 3
    assert "selected_epoch" in capsys.readouterr().err


def test_recompute_needs_a_run_folder(tmp_path, capsys):
    assert main(["recompute", str(tmp_path)]) == 1
    assert "scores.npz" in capsys.readouterr().err


def test_selected_epoch_is_rederived_from_the_saved_validation_numbers(workflow_runs):
    for run in run_dirs(workflow_runs):
        metrics = json.loads((run / "metrics.json").read_text())
        if metrics["model"] == "eszsl":
            assert "selected_epoch" not in metrics
            continue
        val = read_scores(run / "val_scores.npz")
        history = pd.read_csv(run / "history.csv")
        assert list(val["epochs_val_hm"]) == list(history["val_hm"])
        assert metrics["selected_epoch"] == int(val["epochs_epoch"][np.argmax(val["epochs_val_hm"])])


def test_attention_runs_select_on_the_attention_weighted_both(workflow_runs):
    """The val HM that chose the epoch is the HM of the reported (attention) both row, not of equal weights."""
    run = workflow_runs / "runs" / "avgzslnet_attn" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    val = read_scores(run / "val_scores.npz")
    rows = scored_rows("both", val["has_audio"], val["has_video"], "exclude")

    def hm(key):
        return gzsl_classification(val[key][rows], val["labels"][rows], val["seen"])["HM"]

    chosen = list(val["epochs_epoch"]).index(metrics["selected_epoch"])
    assert val["epochs_val_hm"][chosen] == pytest.approx(hm("distances_both"), abs=1e-12)
    assert not np.allclose(val["distances_both"], val["distances_both_equal"])  # the two fusions differ


def test_missing_modality_clips_are_left_out_of_that_row_and_counted(workflow_runs):
    run = workflow_runs / "runs" / "avgzslnet" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    test = read_scores(run / "scores.npz")
    cov = metrics["coverage"]["tst"]
    assert cov["with_video"] < cov["clips"] and cov["with_audio"] < cov["clips"]  # the case is exercised
    assert metrics["missing_modality"] == "exclude"
    assert metrics["scored"]["tst"] == {"audio": cov["with_audio"], "video": cov["with_video"],
                                        "both": cov["clips"]}
    v = test["has_video"]
    want = gzsl_classification(test["distances_video"][v], test["labels"][v], test["seen"])
    assert metrics["classification"]["video"]["beta0"] == want
    notes = (workflow_runs / "tables" / "table1_classification.md").read_text()
    assert "left out of that modality's row" in notes and "sample standard deviation (ddof = 1)" in notes


@pytest.mark.parametrize("policy,audio,video,both", [
    ("exclude", [1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0]),
    ("other_modality", [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]),
])
def test_scored_rows_per_policy(policy, audio, video, both):
    has_a, has_v = np.array([1, 0, 1, 0], bool), np.array([1, 1, 0, 0], bool)
    for modality, want in (("audio", audio), ("video", video), ("both", both)):
        assert scored_rows(modality, has_a, has_v, policy).tolist() == [bool(x) for x in want]


def test_unknown_missing_modality_policy_is_an_error():
    assert "exclude" in MISSING_MODALITY
    with pytest.raises(ValueError, match="missing-modality policy 'drop'"):
        scored_rows("audio", np.ones(2, bool), np.ones(2, bool), "drop")
    from avgzsl.settings.experiment import build_experiment
    with pytest.raises(ValueError, match="train.missing_modality 'drop'"):
        build_experiment(train={"missing_modality": "drop"})


def test_other_modality_policy_scores_every_clip(features, tmp_path):
    spec = {"name": "avgzslnet", "preset": "official", "loss": {}, "model": {}, "seeds": [0],
            "train": {**TRAIN, "epochs": 2, "missing_modality": "other_modality"}}
    run_deep_experiment(spec, **features, summary_out=str(tmp_path / "avgzslnet" / "summary.json"))
    metrics = json.loads((tmp_path / "avgzslnet" / "seed0" / "metrics.json").read_text())
    n = metrics["coverage"]["tst"]["clips"]
    assert metrics["scored"]["tst"] == {"audio": n, "video": n, "both": n}


def test_a_system_reported_under_several_rows_is_ranked_once(workflow_runs, tmp_path):
    """TCaF (and AVCA scored by its video branch) report one matrix as audio, video and both: the Friedman test
    gets it once, as its last row, not three identical systems."""
    from avgzsl.reporting.figures import critical_difference_scores

    runs = tmp_path / "runs"
    shutil.copytree(workflow_runs / "runs" / "avgzslnet", runs / "same")
    for seed in ("seed0", "seed1"):
        saved = read_scores(runs / "same" / seed / "scores.npz")
        saved["distances_audio"] = saved["distances_video"] = saved["distances_both"]
        np.savez(runs / "same" / seed / "scores.npz", **saved)
    experiments = {"avgzslnet": {"seeds": [0]}, "same": {"seeds": [0], "model": {}}}
    shutil.copytree(workflow_runs / "runs" / "avgzslnet", runs / "avgzslnet")
    columns = list(critical_difference_scores(runs, experiments).columns)
    assert columns == ["AVGZSLNet [audio]", "AVGZSLNet [video]", "AVGZSLNet (eq wt, mean) [both]",
                       "same (eq wt, mean) [both]"]


def test_the_critical_difference_figure_ranks_every_row_of_table1(workflow_runs, tmp_path):
    """Table 1's paper rows that ran, then every other experiment's rows (as Table 1 lists them); the paper's
    ablations (Tables 3-4) stay out, as they do in Table 1."""
    from avgzsl.reporting.figures import critical_difference_scores

    runs = tmp_path / "runs"
    shutil.copytree(workflow_runs / "runs", runs)
    for copy in ("wide", "avca", "avgzslnet_no_rec"):
        shutil.copytree(runs / "avgzslnet", runs / copy)
    saved = read_scores(runs / "avca" / "seed0" / "scores.npz")  # a run of model kind avca, as its record says
    saved["run_info"] = np.array(json.dumps({**json.loads(str(saved["run_info"])), "model": "avca", "label": "AVCA"}))
    np.savez(runs / "avca" / "seed0" / "scores.npz", **saved)
    experiments = {"avgzslnet": {"seeds": [0, 1], "model": {}}, "audio_only": {"seeds": [0, 1]},
                   "eszsl": {"baseline": "eszsl"}, "wide": {"seeds": [0], "model": {}},
                   "avca": {"seeds": [0], "model": {"kind": "avca"}}, "avgzslnet_no_rec": {"seeds": [0]}}
    table = critical_difference_scores(runs, experiments)
    assert list(table.columns) == [
        "audio only model [audio]", "AVGZSLNet [audio]", "ESZSL [video]", "AVGZSLNet [video]",
        "AVGZSLNet (eq wt, mean) [both]", "wide [audio]", "wide [video]", "wide (eq wt, mean) [both]",
        "AVCA [audio]", "AVCA [video]", "AVCA (eq wt, mean) [both]"]  # "both" says how it was fused, as Table 1
    assert table["wide (eq wt, mean) [both]"].equals(table["AVGZSLNet (eq wt, mean) [both]"])  # that run's scores
    assert len(table) == 8 and table.notna().all().all()  # one block per class
