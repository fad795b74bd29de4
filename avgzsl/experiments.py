"""One workflow experiment: a deep model over its seeds, or a classical baseline, on shared features.

Both write `<runs>/<experiment>/summary.json`:
    {"experiment", "kind", "seeds", "runs": [per-seed metrics], "summary": mean/std of every number}
and per seed the files `avgzsl.evaluate.run_experiment` writes (scores.npz, metrics.json, ...).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from avgzsl.config import build_experiment
from avgzsl.dataset import SPLITS, ClassTable, FeatureSplit, load_split, read_manifest
from avgzsl.evaluate import coverage, run_experiment, summarize_seeds, write_run

log = logging.getLogger("avgzsl.experiments")

# which features a classical baseline sees: Table 1 runs them on video; GCCA and the
# pre-trained baseline are retrieval systems of Table 2, on audio and on video
BASELINE_MODALITIES = {
    "conse": ("video",), "devise": ("video",), "sae": ("video",), "eszsl": ("video",), "ale": ("video",),
    "gcca": ("audio", "video", "both"), "pretrained": ("audio", "video"),
}


def load_feature_splits(*, manifest, classes, text, audio, video) -> dict[str, FeatureSplit]:
    table = read_manifest(manifest)
    class_table = ClassTable.read(classes)
    present = [s for s in SPLITS if (table["split"] == s).any()]
    return {
        s: load_split(table, s, classes=class_table, text_path=text, audio_paths=audio, video_paths=video)
        for s in present
    }


def _write_summary(path: str, spec: dict, runs: list[dict], kind: str) -> dict:
    summary = {"experiment": spec["name"], "kind": kind, "spec": spec, "runs": runs,
               "summary": summarize_seeds(runs)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def run_deep_experiment(spec: dict, *, manifest, classes, text, audio, video, threads: int = 1,
                        summary_out: str) -> dict:
    splits = load_feature_splits(manifest=manifest, classes=classes, text=text, audio=audio, video=video)
    dims = {"audio_dim": splits["trn"].audio.shape[1], "video_dim": splits["trn"].video.shape[1],
            "text_dim": splits["trn"].text.shape[1]}
    torch.set_num_threads(max(1, threads))
    runs = []
    for seed in spec["seeds"]:
        cfg = build_experiment(
            name=spec["name"], preset_name=spec["preset"], model={**spec["model"], **dims}, loss=spec["loss"],
            train={**spec["train"], "seed": seed},
        )
        out = Path(summary_out).parent / f"seed{seed}"
        metrics = run_experiment(cfg, splits, out, progress=False, log=log.info)
        both = metrics["classification"].get("both") or next(iter(metrics["classification"].values()))
        log.info("seed %d: S=%.4f U=%.4f HM=%.4f (beta=0)", seed, both["beta0"]["S"], both["beta0"]["U"],
                 both["beta0"]["HM"])
        runs.append(metrics)
    return _write_summary(summary_out, spec, runs, cfg.model.kind)


def _baseline_rows(split: FeatureSplit, modalities: tuple[str, ...]) -> torch.Tensor:
    keep = torch.ones(len(split), dtype=torch.bool)
    for m in modalities:
        keep &= split.has_audio if m == "audio" else split.has_video if m == "video" else keep
    return keep


def run_baseline_experiment(spec: dict, *, manifest, classes, text, audio, video, summary_out: str) -> dict:
    from avgzsl.baselines import create_baseline

    name, options = spec["baseline"], dict(spec.get("options", {}))
    torch.set_num_threads(1)  # DEVISE / ALE fit small problems; more threads only add overhead
    splits = load_feature_splits(manifest=manifest, classes=classes, text=text, audio=audio, video=video)
    modalities = BASELINE_MODALITIES[name]
    needs = tuple(m for m in modalities if m != "both")
    trn = splits["trn"]
    train = trn.subset(trn.seen[trn.labels] & _baseline_rows(trn, needs))
    x = {"audio": train.audio.numpy(), "video": train.video.numpy()}
    labels, class_text, seen = train.labels.numpy(), train.text.numpy(), train.classes.seen

    def score(split: FeatureSplit) -> dict[str, np.ndarray]:
        feats = {"audio": split.audio.numpy(), "video": split.video.numpy()}
        if name == "gcca":
            views = {"audio": {0: feats["audio"]}, "video": {1: feats["video"]},
                     "both": {0: feats["audio"], 1: feats["video"]}}
            return {m: model.retrieval_distances(views[m]) for m in modalities}
        return {m: models[m].distances(feats[m]) for m in modalities}

    if name == "gcca":
        model = create_baseline("gcca", **options)
        model.fit_views([x["audio"], x["video"], class_text[labels]], labels, seen, class_text=class_text)
    else:
        models = {}
        for m in modalities:
            models[m] = create_baseline(name, **options)
            models[m].fit(x[m], labels, class_text, seen)
    test, val = splits["tst"].subset(_baseline_rows(splits["tst"], needs)), splits.get("val")
    if val is not None:
        val = val.subset(_baseline_rows(val, needs))
    out = Path(summary_out).parent / "seed0"
    # the classical baselines score only clips holding their modalities (the rows above), whatever the policy
    run_info = dict(experiment=spec["name"], model=name, seed=0, coverage={k: coverage(s) for k, s in splits.items()},
                    train_clips=len(train), missing_modality="exclude")
    metrics = write_run(out, test, score(test), run_info=run_info, val=val,
                        val_scores=score(val) if val is not None else None)
    return _write_summary(summary_out, spec, [metrics], name)

