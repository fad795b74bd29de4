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
