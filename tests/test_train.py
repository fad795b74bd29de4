"""End to end on synthetic features: zero-shot transfer, determinism, protocols, outputs."""

import json

import numpy as np
import pytest
import torch

from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.evaluation.metrics import gzsl_classification
from avgzsl.evaluation.saved_scores import read_scores, summarize_seeds
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.run import run_experiment
from avgzsl.training.train import ClassPairSampler, train_model

DIMS = {"audio_dim": 96, "video_dim": 96, "text_dim": 40}


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(SyntheticConfig(n_classes=20, n_seen=14, clips_per_class={"trn": 25, "val": 8, "tst": 8},
                                            **DIMS, seed=3))


def exp(kind="avgzslnet", **train):
    return build_experiment(name=kind, model={"kind": kind, **DIMS},
                            train={"epochs": 25, "batch_size": 128, "lr": 0.1, **train})


def test_avgzslnet_transfers_to_unseen_classes(splits, tmp_path):
    m = run_experiment(exp(), splits, tmp_path, progress=False, log=lambda s: None)
    both = m["classification"]["both"]
    chance = 1 / 6
    assert both["beta0"]["ZSL"] > 3 * chance
    assert both["calibrated"]["U"] > 3 / 20  # generalized: 20 candidates
    assert m["retrieval"]["both"]["U"] > 0.3
    for f in ("config.json", "history.csv", "scores.npz", "metrics.json", "checkpoint.pt"):
        assert (tmp_path / f).is_file()
    # every number can be recomputed from the saved score matrices
    z = read_scores(tmp_path / "scores.npz")
    again = gzsl_classification(z["distances_both"], z["labels"], z["seen"])
    assert again["HM"] == pytest.approx(both["beta0"]["HM"])
    assert list(z["class_names"]) == splits["tst"].classes.names


def test_same_seed_same_metrics(splits, tmp_path):
    a = run_experiment(exp(epochs=4), splits, tmp_path / "a", progress=False, log=lambda s: None)
    b = run_experiment(exp(epochs=4), splits, tmp_path / "b", progress=False, log=lambda s: None)
    c = run_experiment(exp(epochs=4, seed=1), splits, tmp_path / "c", progress=False, log=lambda s: None)
    assert json.dumps(a["classification"], sort_keys=True) == json.dumps(b["classification"], sort_keys=True)
    assert json.dumps(a["classification"], sort_keys=True) != json.dumps(c["classification"], sort_keys=True)


@pytest.mark.parametrize("kind,attention", [("cjme", True), ("audio_only", False), ("av_concat", False),
                                            ("avgzslnet", True)])
def test_baseline_models_train_and_report_their_modalities(splits, tmp_path, kind, attention):
    cfg = build_experiment(name=kind, model={"kind": kind, "attention": attention, **DIMS},
                           train={"epochs": 6, "batch_size": 128, "lr": 0.1})
    m = run_experiment(cfg, splits, tmp_path, progress=False, log=lambda s: None)
    expected = {"cjme": {"audio", "video", "both", "both_equal"}, "audio_only": {"audio"}, "av_concat": {"both"},
                "avgzslnet": {"audio", "video", "both", "both_equal"}}[kind]
    assert set(m["classification"]) == expected
    assert m["classification"][sorted(expected)[0]]["beta0"]["ZSL"] > 1 / 6


def test_avca_protocol_retrains_on_trn_plus_val(splits, tmp_path):
    m = run_experiment(exp(epochs=5, protocol="avca"), splits, tmp_path, progress=False, log=lambda s: None)
    hist = (tmp_path / "history.csv").read_text()
    assert "retrain" in hist
    assert 1 <= m["selected_epoch"] <= 5 and "calibrated" in m["classification"]["both"]


def test_unseen_clips_never_train(splits):
    trn = splits["trn"]
    seen_labels = trn.labels[trn.seen[trn.labels]]
    sampler = ClassPairSampler(seen_labels, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    p, q = sampler.sample(5000)
    assert set(seen_labels[p].tolist()) == set(seen_labels.tolist())  # every seen class gets drawn
    assert bool((seen_labels[p] != seen_labels[q]).all())
    # train_model keeps only seen classes even when handed everything
    result = train_model(exp(epochs=1), trn, None, progress=False)
    assert result.selected_epoch == 1


@pytest.mark.parametrize("values", [(0.2, 0.4), (0.1, 0.5, 0.6), (0.3,)])
def test_summarize_seeds_reports_the_sample_std_and_a_95_interval(values):
    from scipy import stats

    runs = [{"classification": {"both": {"beta0": {"HM": v}}}, "retrieval": {}} for v in values]
    s = summarize_seeds(runs)["classification/both/beta0/HM"]
    n = len(values)
    sample_std = np.sqrt(sum((v - np.mean(values)) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    assert s["mean"] == pytest.approx(np.mean(values)) and s["n"] == n
    assert s["std"] == pytest.approx(sample_std)  # ddof = 1, not the population std
    if n > 1:
        assert s["std"] > np.std(values)
        mean_interval = stats.t.interval(0.95, n - 1, loc=np.mean(values), scale=stats.sem(values))
        assert s["mean"] + s["ci95"] == pytest.approx(mean_interval[1])
