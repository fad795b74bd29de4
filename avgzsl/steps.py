"""Dataset steps of the workflow: the manifest and each shard's media table.

Every dataset ends in the same two things: a manifest (clip_id, class, split,
path, start, end) with a class table, and per shard a media table saying, for each
clip, where its file is and whether it can be used (`ok`, or `unavailable` /
`failed` with the reason). Extraction reads only media tables, so it does not care
whether clips were rendered, downloaded or supplied.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from avgzsl.dataset import ClassTable
from avgzsl.workflow_utils import shard_rows, write_media_table

log = logging.getLogger("avgzsl.steps")


def dataset_manifest(dataset: str, settings: dict, *, resources: str) -> tuple[pd.DataFrame, ClassTable]:
    """The clip list and class table of a dataset; cheap enough to run when the DAG is built."""
    if dataset == "demo":
        from avgzsl.datasets.demo import DemoConfig, demo_classes, demo_manifest

        return demo_manifest(DemoConfig(**settings)), demo_classes()
    if dataset == "audiosetzsl":
        from avgzsl.datasets.audiosetzsl import load_split_lists

        return load_split_lists(settings["split_lists"], cache_dir=resources)
    if dataset == "custom":
        from avgzsl.datasets.custom import load_custom

        return load_custom(settings["manifest"], settings["classes"])
    raise ValueError(f"dataset {dataset!r} has no manifest to build")


def write_manifest(dataset: str, settings: dict, *, resources: str, manifest_out: str, classes_out: str) -> None:
    manifest, classes = dataset_manifest(dataset, settings, resources=resources)
    Path(manifest_out).parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(manifest_out, index=False)
    classes.write(classes_out)
    log.info("%s: %d clips, %d classes (%d unseen)", dataset, len(manifest), len(classes.names),
             len(classes.unseen_names))


def _read_manifest(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"clip_id": str, "youtube_id": str, "path": str})


def render_demo_shard(manifest: str, shard: str, shard_size: int, *, settings: dict, media_root: str, out: str):
    from avgzsl.datasets.demo import DemoConfig, render_clips

    rows = shard_rows(_read_manifest(manifest), shard, shard_size)
    report = render_clips(rows, media_root, DemoConfig(**settings))
    log.info("shard %s: rendered %d of %d clips", shard, int(report["rendered"].sum()), len(rows))
    table = rows.assign(path=[str(Path(media_root) / p) for p in rows["path"]], status="ok", reason="")
    write_media_table(out, table)


def custom_media_shard(manifest: str, shard: str, shard_size: int, *, media_root: str, out: str):
    """The user's files as they are: a missing file is recorded as failed, never fatal for the shard."""
    rows = shard_rows(_read_manifest(manifest), shard, shard_size)
    paths, status, reason = [], [], []
    for p in rows["path"].fillna(""):
        full = Path(media_root) / p if media_root and not Path(p).is_absolute() else Path(p)
        paths.append(str(full))
        ok = bool(p) and full.is_file()
        status.append("ok" if ok else "failed")
        reason.append("" if ok else f"file not found: {full}")
    write_media_table(out, rows.assign(path=paths, status=status, reason=reason))


def download_media_shard(manifest: str, shard: str, shard_size: int, *, settings: dict, media_root: str, out: str):
    from avgzsl.datasets.download import DownloadConfig, download_shard

    rows = shard_rows(_read_manifest(manifest), shard, shard_size)
    cfg = DownloadConfig(command=settings["download_command"], retries=settings["retries"],
                         timeout=settings["timeout"])
    availability = download_shard(rows, Path(media_root) / "clips", cfg).set_index("clip_id")
    avail = availability.reindex(rows["clip_id"])
    table = rows.assign(
        path=[str(p) for p in avail["path"]],
        status=avail["status"].to_numpy(),
        reason=avail["reason"].fillna("").to_numpy(),
    )
    counts = table["status"].value_counts().to_dict()
    log.info("shard %s: %s", shard, counts)
    write_media_table(out, table)
