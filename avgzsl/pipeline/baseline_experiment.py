"""A classical baseline as one workflow job: fit on the shared features, score, write seed0/ and summary.json.

Same layout as the deep experiments (`avgzsl.pipeline.experiments`): `<runs>/<name>/seed0/` (scores.npz,
metrics.json), published whole, and `<runs>/<name>/summary.json`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from avgzsl.datasets.loading import load_feature_splits
from avgzsl.evaluation.saved_scores import coverage, write_run
from avgzsl.evaluation.summary import write_summary
from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.pipeline.run_folders import publish_dir

log = logging.getLogger("avgzsl.pipeline.experiments")

def _baseline_rows(split: FeatureSplit, modalities: tuple[str, ...]) -> torch.Tensor:
    keep = torch.ones(len(split), dtype=torch.bool)
    for m in modalities:
        keep &= split.has_audio if m == "audio" else split.has_video if m == "video" else keep
    return keep


def needed_modalities(name: str) -> tuple[str, ...]:
    """The features a baseline's rows read ("both" reads audio and video)."""
    from avgzsl.baselines import baseline_class

    rows = baseline_class(name).test_modalities
    return ("audio", "video") if "both" in rows else tuple(rows)


def _fit(name: str, options: dict, trn: FeatureSplit):
    """Fit on the seen-class clips of `trn` that hold the baseline's modalities; (training clips, scorer).

    One instance per reported modality, or one joint fit for a method that learns from the modalities together.
    """
    from avgzsl.baselines import baseline_class, create_baseline

    modalities = baseline_class(name).test_modalities
    train = trn.subset(trn.seen[trn.labels] & _baseline_rows(trn, needed_modalities(name)))
    x = {"audio": train.audio.numpy(), "video": train.video.numpy()}
    labels, class_text, seen = train.labels.numpy(), train.text.numpy(), train.classes.seen

    def score(split: FeatureSplit) -> dict[str, np.ndarray]:
        feats = {"audio": split.audio.numpy(), "video": split.video.numpy()}
        if joint is not None:
            return {m: joint.modality_distances(feats, m) for m in modalities}
        return {m: models[m].distances(feats[m]) for m in modalities}

    joint, models = None, {}
    if baseline_class(name).joint:
        joint = create_baseline(name, **options)
        joint.fit_modalities(x, labels, class_text, seen)
    else:
        for m in modalities:
            models[m] = create_baseline(name, **options)
            models[m].fit(x[m], labels, class_text, seen)
    return train, score


def run_baseline_experiment(spec: dict, *, manifest, classes, text, audio, video, summary_out: str,
                            seed_out: str | None = None, stage1_classes=None) -> dict:
    """Fit, score and evaluate; `seed_out` defaults to `seed0/` beside `summary_out`.

    With `stage1_classes` (an AVCA-GZSL benchmark, avgzsl.datasets.avca_stages) AVCA-GZSL's two stages: fit on trn under the
    stage-1 class roles and score val (where β is chosen), then refit on trn + val under the stage-2 roles and
    score tst.
    """
    seed_out = seed_out or str(Path(summary_out).parent / "seed0")
    name, options = spec["baseline"], dict(spec.get("options", {}))
    torch.set_num_threads(1)  # DEVISE / ALE fit small problems; more threads only add overhead
    splits = load_feature_splits(manifest=manifest, classes=classes, text=text, audio=audio, video=video,
                                 stage1_classes=stage1_classes)
    needs = needed_modalities(name)
    train, score = _fit(name, options, splits["trn"])
    val_score = score
    from avgzsl.baselines import baseline_label

    run_info = dict(experiment=spec["name"], model=name, label=baseline_label(name), seed=0, coverage={k: coverage(s) for k, s in splits.items()},
                    train_clips=len(train), missing_modality="exclude")
    if "trn_val" in splits:  # stage 2: refit on trn + val
        train, score = _fit(name, options, splits["trn_val"])
        run_info.update(protocol="avca", stage1_train_clips=run_info["train_clips"], train_clips=len(train))
    test, val = splits["tst"].subset(_baseline_rows(splits["tst"], needs)), splits.get("val")
    if val is not None:
        val = val.subset(_baseline_rows(val, needs))
    # the classical baselines score only clips holding their modalities (the rows above), whatever the policy
    with publish_dir(seed_out) as tmp:
        metrics = write_run(tmp, test, score(test), run_info=run_info, val=val,
                            val_scores=val_score(val) if val is not None else None)
    return write_summary(summary_out, spec, [metrics])
