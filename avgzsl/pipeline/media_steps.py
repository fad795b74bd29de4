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

from avgzsl.datasets.registry import dataset_kind
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.media_tables import write_media_table

log = logging.getLogger("avgzsl.pipeline.media_steps")


def dataset_manifest(dataset: str, settings: dict, *, resources: str) -> tuple[pd.DataFrame, ClassTable]:
    """The clip list and class table of a dataset; cheap enough to run when the DAG is built."""
    return dataset_kind(dataset).build_manifest(settings, resources=resources)


def write_manifest(dataset: str, settings: dict, *, resources: str, manifest_out: str, classes_out: str) -> None:
    manifest, classes = dataset_manifest(dataset, settings, resources=resources)
    Path(manifest_out).parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(manifest_out, index=False)
    classes.write(classes_out)
    log.info("%s: %d clips, %d classes (%d unseen)", dataset, len(manifest), len(classes.names),
             len(classes.unseen_names))


def render_demo_shard(rows: pd.DataFrame, *, settings: dict, media_root: str, out: str):
    """Render a shard's clips; `rows` are the shard's manifest rows (the workflow passes them as a param)."""
    from avgzsl.datasets.demo import DemoConfig, render_clips

    shard = Path(out).stem
    report = render_clips(rows, media_root, DemoConfig(**settings))
    log.info("shard %s: rendered %d of %d clips", shard, int(report["rendered"].sum()), len(rows))
    table = rows.assign(path=[str(Path(media_root) / p) for p in rows["path"]], status="ok", reason="")
    write_media_table(out, table)


def custom_media_shard(rows: pd.DataFrame, *, download: dict, media_root: str, out: str):
    """The user's files as they are (a missing one is recorded as failed); rows with only a YouTube id are downloaded."""
    if "path" not in rows:
        rows = rows.assign(path="")
    rows = rows.assign(path=rows["path"].fillna(""))
    paths, status, reason = [], [], []
    for p in rows["path"]:
        full = Path(p)
        ok = bool(p) and full.is_file()
        paths.append(p)
        status.append("ok" if ok else "failed")
        reason.append("" if ok else f"file not found: {full}" if p else "no path")
    table = rows.assign(path=paths, status=status, reason=reason)
    if "youtube_id" in rows:
        wanted = (table["path"] == "") & (rows["youtube_id"].fillna("") != "")
        if wanted.any():
            fetched = _download(rows[wanted], download, Path(media_root or "custom_clips"))
            table.loc[wanted, ["path", "status", "reason", "start", "end"]] = fetched[
                ["path", "status", "reason", "start", "end"]].to_numpy()
    write_media_table(out, table)


def _download(rows: pd.DataFrame, settings: dict, out_dir: Path) -> pd.DataFrame:
    """Download rows; the files hold just the window, so the window to decode becomes [0, end - start)."""
    from avgzsl.datasets.download import DownloadConfig, download_shard

    cfg = DownloadConfig(command=settings["download_command"], attempts=settings["retries"] + 1,
                         timeout_s=settings["timeout"])
    # a custom row without a window asks for the video from its start (decoding reads max_seconds of it)
    rows = rows.assign(start=pd.to_numeric(rows["start"], errors="coerce").fillna(0.0),
                       end=pd.to_numeric(rows["end"], errors="coerce").fillna(float("inf")))
    avail = download_shard(rows, out_dir, cfg).set_index("clip_id").reindex(rows["clip_id"])
    length = rows["end"].astype(float).to_numpy() - rows["start"].astype(float).to_numpy()
    return pd.DataFrame({
        "clip_id": rows["clip_id"].to_numpy(),
        "path": avail["path"].fillna("").astype(str).to_numpy(),
        "status": avail["status"].to_numpy(),
        "reason": avail["reason"].fillna("").astype(str).to_numpy(),
        "start": 0.0,
        "end": length,
    })


def download_media_shard(rows: pd.DataFrame, *, settings: dict, media_root: str, out: str):
    shard = Path(out).stem
    fetched = _download(rows, settings, Path(media_root) / "clips")
    table = rows.assign(**{c: fetched[c].to_numpy() for c in ("path", "status", "reason", "start", "end")})
    log.info("shard %s: %s", shard, table["status"].value_counts().to_dict())
    write_media_table(out, table)
