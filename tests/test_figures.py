"""Figure helpers: perplexity that fits the point count, k-NN class purity, and figures from a real tiny run."""

import numpy as np
import pytest

from avgzsl.reporting.figures import chance_purity, knn_class_purity, tsne_perplexity


@pytest.mark.parametrize("n", [4, 10, 25, 70, 400, 10000])
def test_tsne_perplexity_fits_the_number_of_points(n):
    p = tsne_perplexity(n)
    assert 1 <= p < n - 1 and p <= 30
    if n >= 25:
        assert p <= np.sqrt(n) + 1e-9  # small sets: not every point a neighbour of every other


def test_knn_purity_separates_clustered_from_shuffled_points():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 15)
    centres = 10 * rng.standard_normal((6, 8))
    clustered = centres[labels] + rng.standard_normal((90, 8))
    assert knn_class_purity(clustered, labels) == pytest.approx(1.0)
    shuffled = rng.standard_normal((90, 8))
    chance = chance_purity(labels)
    assert chance == pytest.approx(14 / 89)
    assert abs(knn_class_purity(shuffled, labels) - chance) < 0.1


def test_figures_from_a_tiny_run(tmp_path):
    """Training curves with one panel per experiment, and a t-SNE over every unseen-class val + tst clip."""
    import json

    import pandas as pd

    from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
    from avgzsl.formats.shards import write_feature_shard
    from avgzsl.pipeline.experiments import run_deep_experiment
    from avgzsl.reporting.figures import plot_training_curves, plot_tsne

    sp = synthetic_splits(SyntheticConfig(n_classes=10, n_seen=6, clips_per_class={"trn": 12, "val": 5, "tst": 6},
                                          audio_dim=24, video_dim=20, text_dim=12, seed=2))
    rows = []
    for split, s in sp.items():
        write_feature_shard(tmp_path / f"audio_{split}.h5", s.audio.numpy(), s.clip_ids, modality="audio", extractor="a")
        write_feature_shard(tmp_path / f"video_{split}.h5", s.video.numpy(), s.clip_ids, modality="video", extractor="v")
        rows += [(c, s.classes.names[y], split) for c, y in zip(s.clip_ids, s.labels.tolist())]
    pd.DataFrame(rows, columns=["clip_id", "class", "split"]).to_csv(tmp_path / "manifest.csv", index=False)
    sp["trn"].classes.write(tmp_path / "classes.tsv")
    write_feature_shard(tmp_path / "text.h5", sp["trn"].text.numpy(), sp["trn"].classes.names, modality="text",
                        extractor="t")
    features = {"manifest": tmp_path / "manifest.csv", "classes": tmp_path / "classes.tsv", "text": tmp_path / "text.h5",
                "audio": sorted(tmp_path.glob("audio_*.h5")), "video": sorted(tmp_path.glob("video_*.h5"))}
    experiments = {"avgzslnet": {"seeds": [0]}, "audio_only": {"seeds": [0], "model": {"kind": "audio_only"}},
                   "eszsl": {"baseline": "eszsl"}}
    for name in ("avgzslnet", "audio_only"):
        spec = {"name": name, "preset": "official", "loss": {}, "model": experiments[name].get("model", {}),
                "seeds": [0], "train": {"epochs": 8, "batch_size": 64, "lr": 0.1}}
        run_deep_experiment(spec, **features, summary_out=str(tmp_path / "runs" / name / "summary.json"))
    plot_training_curves(tmp_path / "runs", experiments, str(tmp_path / "curves.png"))
    purity = plot_tsne(tmp_path / "runs", experiments, features, str(tmp_path / "tsne.png"))
    assert (tmp_path / "curves.png").stat().st_size > 1000 and (tmp_path / "tsne.png").stat().st_size > 1000
    n_unseen_clips = 4 * (5 + 6)  # every unseen-class val + tst clip
    assert set(purity) == {"avgzslnet/audio", "avgzslnet/video"}
    for numbers in purity.values():
        assert numbers["clips"] == n_unseen_clips
        assert numbers["perplexity"] < n_unseen_clips
        assert 0 <= numbers["map"] <= 1 and numbers["chance"] == pytest.approx(10 / 43)
    json.dumps(purity)  # plain numbers, loggable


def _write_run(run_dir, protocol: str, *, legacy: bool = False):
    """history.csv + metrics.json of a run whose calibrated val HM peaks where its beta = 0 val HM does not,
    the selection record made by the code that writes metrics.json."""
    import json

    import pandas as pd

    from avgzsl.evaluation.protocol import selection_record

    epochs = np.arange(1, 7)
    history = pd.DataFrame({"epoch": epochs, "loss": 1.0 / epochs, "val_hm": np.linspace(0.03, 0.0, 6),
                            "val_hm_calibrated": [0.1, 0.2, 0.35, 0.3, 0.25, 0.2],
                            "val_beta": [0.0, 0.2, 0.6, 0.4, 0.4, 0.2]})
    retrain = history.iloc[:3].assign(phase="retrain", val_hm_calibrated=0.9)  # selects nothing: not drawn
    run_dir.mkdir(parents=True)
    pd.concat([history.assign(phase=None), retrain]).to_csv(run_dir / "history.csv", index=False)
    selection = selection_record(history.to_dict("records"), protocol, 6, "both")
    metrics = {"protocol": protocol, "selected_epoch": selection["epoch"],
               "calibration": {"beta": {"both": 0.5}}}
    if not legacy:
        metrics["selection"] = selection
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return history, selection


@pytest.mark.parametrize("protocol,legacy", [("avca", False), ("avca", True), ("paper", False)])
def test_training_curves_plot_the_number_that_selected_the_epoch(tmp_path, protocol, legacy):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from avgzsl.reporting.curves import training_curve_panels, training_curves_figure

    history, selection = _write_run(tmp_path / "runs" / "avca_run" / "seed0", protocol, legacy=legacy)
    metric = "val_hm_calibrated" if protocol == "avca" else "val_hm"
    [panel] = training_curve_panels(tmp_path / "runs", {"avca_run": {"seeds": [0]}})
    assert panel.metric == metric and panel.selected_epoch == selection["epoch"]
    np.testing.assert_allclose(panel.values, 100 * history[metric])  # stage-1 epochs only
    figure = training_curves_figure([panel], reference="avgzslnet")
    ax = figure.axes[0]
    lines = {line.get_gid(): line for line in ax.lines}
    np.testing.assert_allclose(lines["selection-metric"].get_ydata(), 100 * history[metric])
    chosen = history.set_index("epoch").loc[selection["epoch"]]
    assert tuple(lines["selected"].get_xydata()[0]) == pytest.approx((selection["epoch"], 100 * chosen[metric]))
    assert list(lines["selected-epoch"].get_xdata()) == [selection["epoch"]] * 2
    label = next(t.get_text() for t in ax.texts if t.get_gid() == "selected-label")
    assert f"epoch {selection['epoch']}" in label and "test β = 0.5" in label
    assert (f" at β = {chosen['val_beta']:.2g}" in label) == (protocol == "avca")
    # one narrow panel under a long title: the title wraps inside the figure, neither edge cut off
    FigureCanvasAgg(figure).draw()
    box, page = figure._suptitle.get_window_extent(), figure.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert "selects the epoch" in figure._suptitle.get_text().replace("\n", " ")
