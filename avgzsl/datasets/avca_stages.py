"""AVCA-GZSL's two stages on one imported benchmark: which classes are seen and unseen in each.

After `avgzsl.datasets.avca_import`, trn = stage_1_train, val = stage_1_val_seen + stage_1_val_unseen and
tst = stage_2_test_seen + stage_2_test_unseen. The class roles differ per stage (AVCA-GZSL's
`src/dataset.py`, `seen_class_names` / `unseen_class_names` per `dataset_split`, and `classes`, which keeps
only the seen and unseen classes of the split being read):

    stage 1 (train on trn, choose epoch and calibration on val):
        classes stage_1_train + stage_1_val_unseen (classes_stage1.tsv); stage_1_val_unseen unseen;
        the test-unseen classes are not candidates at all, not even their word vectors
    stage 2 (retrain on trn + val, test on tst):
        classes stage_2_test_seen + stage_2_test_unseen (classes.tsv); stage_2_test_unseen unseen;
        the stage-1 val-unseen classes are seen and their clips are trained on

`stage_splits` turns splits loaded under the stage-2 table into trn and val under the stage-1 table, plus a
`trn_val` split (the stage-2 training set, stage-2 roles) that the avca protocol retrains on.
"""

from __future__ import annotations

import pandas as pd
import torch

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.manifest import ClassTable

STAGE1_SPLITS = ("trn", "val")


def relabel(split: FeatureSplit, classes: ClassTable, *, what: str = "split") -> FeatureSplit:
    """The same clips with labels, text rows and seen flags of `classes` (matched by class name)."""
    position = pd.Index(classes.names)
    text_rows = pd.Index(split.classes.names).get_indexer(classes.names)
    if (text_rows < 0).any():
        missing = [n for n, r in zip(classes.names, text_rows) if r < 0]
        raise ValueError(f"{what}: class(es) {missing[:5]} of {classes.source or 'the stage table'} have no text row")
    names = [split.classes.names[i] for i in split.labels.tolist()]
    labels = position.get_indexer(names)
    if (labels < 0).any():
        stray = sorted({n for n, p in zip(names, labels) if p < 0})
        raise ValueError(f"{what}: clips of class(es) {stray[:5]}, which {classes.source or 'the stage table'} "
                         "does not hold")
    return FeatureSplit(
        clip_ids=list(split.clip_ids), audio=split.audio, video=split.video,
        has_audio=split.has_audio, has_video=split.has_video,
        labels=torch.from_numpy(labels.astype("int64")),
        text=split.text[torch.from_numpy(text_rows.astype("int64"))], classes=classes,
        audio_seq=split.audio_seq, video_seq=split.video_seq,
    )


def stage_splits(splits: dict[str, FeatureSplit], stage1: ClassTable) -> dict[str, FeatureSplit]:
    """trn and val under the stage-1 roles; `trn_val` (trn + val) and tst under the stage-2 roles."""
    missing = [s for s in (*STAGE1_SPLITS, "tst") if s not in splits]
    if missing:
        raise ValueError(f"the two-stage protocol needs trn, val and tst; split(s) {missing} hold no clips")
    out = {s: relabel(splits[s], stage1, what=f"split {s}") for s in STAGE1_SPLITS}
    out["trn_val"] = splits["trn"].concat(splits["val"])
    out["tst"] = splits["tst"]
    return out
