"""Media tables (where each clip's file is, and whether it can be used) and the fixed shard fan-out.
"""

from __future__ import annotations

import os

import pandas as pd

from avgzsl.formats.atomic import atomic_output

# no class or split: a clip's media does not depend on its label, so relabelling a clip in the manifest
# changes no media table and re-runs no extraction (the audio-CNN training reads labels from the manifest)
MEDIA_COLUMNS = ("clip_id", "path", "start", "end", "status", "reason")


def shard_rows(manifest: pd.DataFrame, shard: str | int, shard_size: int) -> pd.DataFrame:
    """The fixed fan-out: shard k is manifest rows [k * size, (k + 1) * size)."""
    k = int(shard)
    rows = manifest.iloc[k * shard_size : (k + 1) * shard_size]
    if rows.empty:
        raise ValueError(f"shard {shard} is empty: the manifest has {len(manifest)} clips, shard size {shard_size}")
    return rows


def relative_inside(path: str, root: str | os.PathLike) -> str:
    """`path` relative to `root` when it lies inside it (so a moved run still finds it), else unchanged."""
    if not path:
        return path
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def shard_job_rows(manifest: pd.DataFrame, shard: str | int, shard_size: int, *, root: str | os.PathLike = ".") -> pd.DataFrame:
    """A shard's rows as its media job sees them: the parse-time manifest slice, local paths relative
    to the working directory where they lie inside it. The workflow passes this as a param, so a job
    re-runs exactly when its own rows change, not when another shard's do."""
    rows = shard_rows(manifest, shard, shard_size)
    if "path" in rows:
        rows = rows.assign(path=[relative_inside(p, root) if isinstance(p, str) else p for p in rows["path"]])
    return rows.reset_index(drop=True)


def write_media_table(path: str, table: pd.DataFrame) -> None:
    """A shard's clips with where each file is and whether it can be used (ok / unavailable / failed)."""
    missing = set(MEDIA_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"media table lacks columns {sorted(missing)}")
    with atomic_output(path) as tmp:
        table[list(MEDIA_COLUMNS)].to_csv(tmp, sep="\t", index=False)


def read_media_table(path: str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"clip_id": str, "path": str, "reason": str}, keep_default_na=False)
