"""A run's splits loaded from its feature files, with AVCA-GZSL's stage roles where a benchmark has them."""

from __future__ import annotations

from avgzsl.datasets.avca_stages import stage_splits
from avgzsl.formats.feature_split import FeatureSplit, load_split
from avgzsl.formats.manifest import SPLITS, ClassTable, read_manifest


def load_feature_splits(*, manifest, classes, text, audio, video, stage1_classes=None, audio_seq=(),
                        video_seq=()) -> dict[str, FeatureSplit]:
    """Every split with clips. `stage1_classes` (an AVCA-GZSL benchmark's classes_stage1.tsv): trn and val take
    its class roles and a `trn_val` split the stage-2 ones (avgzsl.datasets.avca_stages). `audio_seq`,
    `video_seq`: sequence shards, for a temporal model."""
    table = read_manifest(manifest)
    class_table = ClassTable.read(classes)
    present = [s for s in SPLITS if (table["split"] == s).any()]
    splits = {
        s: load_split(table, s, classes=class_table, text_path=text, audio_paths=audio, video_paths=video,
                      audio_seq_paths=audio_seq, video_seq_paths=video_seq)
        for s in present
    }
    if stage1_classes:
        splits = stage_splits(splits, ClassTable.read(stage1_classes))
    return splits
