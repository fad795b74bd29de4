"""`train.protocol: avca`: AVCA-GZSL's epoch selection, "both" fusion, retraining and single beta."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import avgzsl.training.run as evaluate
from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.evaluation.metrics import BETA_GRID, choose_beta, gzsl_classification
from avgzsl.evaluation.protocol import calibration_betas, improves
from avgzsl.evaluation.saved_scores import evaluate_scores
from avgzsl.evaluation.scoring import model_scores
from avgzsl.models.registry import create_model
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.run import run_experiment


def biased_scores(seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """Val distances whose seen-class bias differs by modality, so their val-best betas differ."""
    rng = np.random.default_rng(seed)
    seen = np.arange(8) < 5
    labels = np.repeat(np.arange(8), 12)
    scores = {}
    for modality, bias in (("audio", 0.3), ("video", 1.1), ("both", 2.0)):
        d = rng.uniform(1.0, 2.0, (len(labels), 8))
        d[np.arange(len(labels)), labels] -= 0.5  # the right class is closer ...
        d[:, ~seen] += bias  # ... but unseen classes are pushed away by a modality-specific bias
        scores[modality] = d
    return scores, labels, seen


def test_beta_is_the_mean_of_the_three_val_best_betas():
    scores, labels, seen = biased_scores()
    best = {m: choose_beta(d, labels, seen) for m, d in scores.items()}
    assert len(set(best.values())) == 3, f"the case should give three different betas, got {best}"
    shared = calibration_betas(scores, labels, seen, rule="mean_of_modalities")
    assert list(shared.values()) == pytest.approx([np.mean(list(best.values()))] * 3)
    assert calibration_betas(scores, labels, seen, rule="per_modality") == best


def test_extra_rows_take_the_shared_beta_but_do_not_enter_the_mean():
    scores, labels, seen = biased_scores()
    plain = calibration_betas(scores, labels, seen, rule="mean_of_modalities")["audio"]
    extra = calibration_betas({**scores, "both_equal": scores["audio"] * 0.0}, labels, seen, rule="mean_of_modalities")
    assert extra["both_equal"] == extra["audio"] == plain


def test_the_shared_beta_is_applied_to_every_test_row():
    val, labels, seen = biased_scores(0)
    test, test_labels, _ = biased_scores(1)
    metrics = evaluate_scores(test, test_labels, seen, val_scores=val, val_labels=labels, beta_rule="mean_of_modalities")
    shared = np.mean([choose_beta(d, labels, seen) for d in val.values()])
    for modality, d in test.items():
        calibrated = metrics["classification"][modality]["calibrated"]
        assert calibrated["beta"] == pytest.approx(shared)
        assert calibrated == pytest.approx(gzsl_classification(d, test_labels, seen, beta=shared))


def test_unknown_beta_rule_is_an_error():
    scores, labels, seen = biased_scores()
    with pytest.raises(ValueError, match="beta rule"):
        calibration_betas(scores, labels, seen, rule="median")


@pytest.mark.parametrize("score,best,protocol,expected", [
    (0.5, -1.0, "paper", True), (0.5, 0.5, "paper", False), (0.4, 0.5, "paper", False), (0.6, 0.5, "avca", True),
    (0.5, 0.5, "avca", False),
    (0.0, 0.0, "avca", True),  # AVCA's `if not best_score`: a best of exactly 0 is always replaced
    (0.0, 0.0, "paper", False),
])
def test_epoch_improvement_rule(score, best, protocol, expected):
    assert improves(score, best, protocol) is expected


def small_cfg(preset="avca", **train):
    return build_experiment(
        name="t", preset_name=preset,
        model={"audio_dim": 32, "video_dim": 32, "text_dim": 300, "hidden_dim": 16, "text_hidden_dim": 8,
               "decoder_hidden_dim": 8, "embed_dim": 8},
        train={"epochs": 3, "batches_per_epoch": 2, "batch_size": 32, **train},
    )


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(SyntheticConfig(audio_dim=32, video_dim=32, clips_per_class={"trn": 6, "val": 3, "tst": 3}))


def test_avca_both_is_the_sum_of_audio_and_video(splits):
    cfg = small_cfg()
    torch.manual_seed(0)
    model = create_model(cfg.model, cfg.loss).eval()
    avca = model_scores(model, splits["tst"], torch.device("cpu"), protocol="avca")
    paper = model_scores(model, splits["tst"], torch.device("cpu"), protocol="paper")
    np.testing.assert_allclose(avca["both"], avca["audio"] + avca["video"], rtol=1e-6)
    np.testing.assert_allclose(paper["both"], (paper["audio"] + paper["video"]) / 2, rtol=1e-6)


def test_avca_retrains_on_trn_plus_val_for_the_selected_epochs(splits, tmp_path, monkeypatch):
    calls = []
    real = evaluate.train_model

    def spy(cfg, train, val=None, **kw):
        result = real(cfg, train, val, **kw)
        calls.append({"clips": len(train), "val": val is not None, "epochs": kw.get("epochs"),
                      "select": kw.get("select", True), "result": result})
        return result

    monkeypatch.setattr(evaluate, "train_model", spy)
    metrics = run_experiment(small_cfg(epochs=4), splits, tmp_path, progress=False, log=lambda m: None)
    first, second = calls
    assert first["clips"] == len(splits["trn"]) and first["select"]
    assert second["clips"] == len(splits["trn"]) + len(splits["val"])
    assert second["epochs"] == first["result"].selected_epoch == metrics["selected_epoch"]
    assert not second["select"] and second["val"]  # val only steps the plateau schedule
    assert len(second["result"].history) == first["result"].selected_epoch
    history = first["result"].history
    scores = [row["val_hm_calibrated"] for row in history]
    assert max(scores) > 0  # (a best of 0 would bring in AVCA's replace-a-zero rule)
    assert metrics["selected_epoch"] == history[scores.index(max(scores))]["epoch"]  # earliest of the best
    betas = {m: v["calibrated"]["beta"] for m, v in metrics["classification"].items()}
    assert len(set(betas.values())) == 1 and metrics["beta_rule"] == "mean_of_modalities"
    # metrics.json shows the choice: the selected epoch's calibrated val HM on the summed both, and its beta
    selection = metrics["selection"]
    chosen = next(row for row in history if row["epoch"] == metrics["selected_epoch"])
    assert selection["epoch"] == metrics["selected_epoch"] and selection["epochs_validated"] == len(history)
    assert selection["by"] == "val_hm_calibrated" and selection["row"] == "both" and metrics["both_fusion"] == "sum"
    assert selection["val_hm_calibrated"] == pytest.approx(max(scores))
    assert {k: selection[k] for k in ("val_hm", "val_beta")} == pytest.approx(
        {k: chosen[k] for k in ("val_hm", "val_beta")})
    # ... and the beta the test used, with the val numbers behind it (stage-1 model on val)
    calibration = metrics["calibration"]
    assert calibration["rule"] == "mean_of_modalities" and calibration["beta"] == betas
    assert calibration["beta"]["both"] == pytest.approx(np.mean([calibration["val_best_beta"][m]
                                                                 for m in ("audio", "video", "both")]))
    assert set(calibration["val_HM"]) == set(betas)


def test_paper_protocol_records_the_beta0_selection(splits, tmp_path):
    metrics = run_experiment(small_cfg("official", epochs=2, batch_size=32), splits, tmp_path, progress=False,
                             log=lambda m: None)
    assert metrics["selection"]["by"] == "val_hm" and metrics["both_fusion"] == "equal"
    assert metrics["calibration"]["rule"] == "per_modality"
    assert metrics["calibration"]["beta"] == {m: v["calibrated"]["beta"] for m, v in metrics["classification"].items()}


@pytest.mark.parametrize("scoring,fusion", [("video_branch", "video_branch"), ("per_modality", "sum")])
def test_avca_runs_record_how_they_were_scored(splits, tmp_path, scoring, fusion):
    cfg = build_experiment(name="a", preset_name="avca-ucf-main", model={
        "kind": "avca", "audio_dim": 32, "video_dim": 32, "text_dim": 300, "hidden_dim": 16,
        "decoder_hidden_dim": 8, "embed_dim": 8, "avca_scoring": scoring},
        train={"epochs": 2, "batches_per_epoch": 2, "batch_size": 32})
    metrics = run_experiment(cfg, splits, tmp_path, progress=False, log=lambda m: None)
    assert metrics["avca_scoring"] == scoring and metrics["both_fusion"] == fusion


def test_avca_selection_reads_the_summed_both(splits, monkeypatch):
    """The epoch is chosen on the calibrated HM of d_a + d_v, the fusion AVCA reports."""
    import avgzsl.training.train as train_module

    seen_fusions = []
    real = train_module.model_distances

    def spy(model, split, device, *, fusion="equal"):
        seen_fusions.append(fusion)
        return real(model, split, device, fusion=fusion)

    monkeypatch.setattr(train_module, "model_distances", spy)
    train_module.train_model(small_cfg(), splits["trn"], splits["val"], progress=False)
    train_module.train_model(small_cfg("official", epochs=2, batch_size=32), splits["trn"], splits["val"], progress=False)
    assert seen_fusions == ["sum"] * 3 + ["equal"] * 2


def test_plateau_schedule_without_val_is_an_error(splits):
    with pytest.raises(ValueError, match="plateau"):
        evaluate.train_model(small_cfg(), splits["trn"], None, progress=False)


def test_plateau_schedule_lowers_the_rate_when_val_hm_stalls(splits, monkeypatch):
    import avgzsl.training.train as train_module

    n, c = len(splits["val"]), len(splits["val"].classes.names)
    frozen = {m: np.ones((n, c), np.float32) for m in ("audio", "video", "both")}  # val HM never moves
    monkeypatch.setattr(train_module, "model_distances", lambda *a, **k: frozen)
    result = train_module.train_model(small_cfg(epochs=3, patience=0), splits["trn"], splits["val"], progress=False)
    assert [row["lr"] for row in result.history] == pytest.approx([1e-3, 1e-4, 1e-5])


def test_beta_grid_is_avcas():
    np.testing.assert_allclose(BETA_GRID, np.linspace(0, 3, 16))


@pytest.mark.parametrize("experiment,ok", [
    ({"preset": "avca"}, True),
    ({"preset": "avca", "model": {"kind": "cjme", "attention_test": "hard"}, "train": {"optimizer": "adam"}}, True),
    ({"preset": "avca", "train": {"lr_schedule": "plateau", "patience": 3, "batches_per_epoch": 500}}, True),
    ({"preset": "avcaa"}, False),
    ({"train": {"optimizer": "rmsprop"}}, False),
    ({"loss": {"attention_weighting": "per_batch"}}, False),
])
def test_workflow_schema_accepts_the_avca_preset_and_keys(experiment, ok):
    from pathlib import Path

    import jsonschema
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "avgzsl/pipeline/config.schema.yaml").read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors({"experiments": {"x": experiment}}))
    assert (not errors) == ok, errors
