"""A run's splits loaded from its feature files, with AVCA-GZSL's stage roles where a benchmark has them."""

from __future__ import annotations

from avgzsl.datasets.avca_stages import stage_splits
from avgzsl.formats.feature_split import FeatureSplit, load_split
from avgzsl.formats.manifest import SPLITS, ClassTable, read_manifest
from avgzsl.runtime.errors import while_doing


def _files(paths, shown: int = 3) -> str:
    names = [str(p) for p in paths]
    return " ".join(names[:shown]) + (f" (+{len(names) - shown} more)" if len(names) > shown else "") or "none"


def load_feature_splits(*, manifest, classes, text, audio, video, stage1_classes=None, audio_seq=(),
                        video_seq=()) -> dict[str, FeatureSplit]:
    """Every split with clips. `stage1_classes` (an AVCA-GZSL benchmark's classes_stage1.tsv): trn and val take
    its class roles and a `trn_val` split the stage-2 ones (avgzsl.datasets.avca_stages). `audio_seq`,
    `video_seq`: sequence shards, for a temporal model."""
    with while_doing(f"reading the manifest {manifest}"):
        table = read_manifest(manifest)
    with while_doing(f"reading the class table {classes}"):
        class_table = ClassTable.read(classes)
    present = [s for s in SPLITS if (table["split"] == s).any()]
    # an error no reader foresaw (a shard declaring more rows than memory holds: MemoryError) names the shards
    with while_doing(f"reading the feature shards (text {text}; audio {_files(audio)}; video {_files(video)})"):
        splits = {
            s: load_split(table, s, classes=class_table, text_path=text, audio_paths=audio, video_paths=video,
                          audio_seq_paths=audio_seq, video_seq_paths=video_seq)
            for s in present
        }
    if stage1_classes:
        splits = stage_splits(splits, ClassTable.read(stage1_classes))
    return splits
