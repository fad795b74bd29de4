"""Manifests and class tables: which clips exist, their class and split, and the class order.

A manifest is a CSV with one row per clip and at least the columns `clip_id, class, split` (split is `trn`,
`val` or `tst`); extraction adds `path` or `youtube_id` and the window `start, end` in seconds. A class table
is a TSV `name  seen` (seen: 1 or 0) listing every class in a fixed order; that order is the column order of
every score matrix.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("avgzsl.formats.manifest")
SPLITS = ("trn", "val", "tst")
MANIFEST_COLUMNS = ("clip_id", "class", "split")


@dataclass
class ClassTable:
    names: list[str]
    seen: np.ndarray  # (C,) bool
    source: str | None = field(default=None, compare=False)  # the file it was read from, for messages

    def __post_init__(self) -> None:
        self.seen = np.array(self.seen, dtype=bool)  # a writable copy (torch.from_numpy warns on read-only)
        if len(set(self.names)) != len(self.names):
            raise ValueError("class table has duplicate class names")
        if len(self.names) != len(self.seen):
            raise ValueError("class table: names and seen flags differ in length")

    @property
    def seen_names(self) -> list[str]:
        return [n for n, s in zip(self.names, self.seen) if s]

    @property
    def unseen_names(self) -> list[str]:
        return [n for n, s in zip(self.names, self.seen) if not s]

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def write(self, path: str | os.PathLike) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"name": self.names, "seen": self.seen.astype(int)}).to_csv(path, sep="\t", index=False)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "ClassTable":
        table = _read_table(path, sep="\t", dtype={"name": str, "seen": str})
        missing = {"name", "seen"} - set(table.columns)
        if missing:
            raise ValueError(f"{path}: class table lacks column(s) {sorted(missing)} (expected: name<TAB>seen)")
        table["seen"] = table["seen"].str.strip()
        bad = table[~table["seen"].isin(["0", "1"]) | table["name"].isna()]
        if len(bad):
            row = bad.index[0] + 2  # 1-based, after the header line
            raise ValueError(f"{path}, line {row}: expected a class name and seen = 1 or 0, got "
                             f"{bad.iloc[0]['name']!r}, {bad.iloc[0]['seen']!r}")
        try:
            return cls(names=list(table["name"]), seen=(table["seen"] == "1").to_numpy(), source=str(path))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    @classmethod
    def from_lists(cls, all_classes: Sequence[str], unseen: Iterable[str]) -> "ClassTable":
        unseen = set(unseen)
        unknown = unseen - set(all_classes)
        if unknown:
            raise ValueError(f"unseen classes not in the class list: {sorted(unknown)}")
        return cls(names=list(all_classes), seen=np.array([c not in unseen for c in all_classes]))


def _read_table(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """pandas' CSV reader with its errors (empty file, bad quoting, bad bytes) naming the file."""
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path}: the file is empty") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable table ({err})") from err


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    manifest = _read_table(path, dtype={"clip_id": str, "class": str, "split": str})
    validate_manifest(manifest, source=str(path))
    manifest.attrs["source"] = str(path)  # later errors (unknown class, shards) name the file
    return manifest


def validate_manifest(manifest: pd.DataFrame, *, source: str | None = None, classes: ClassTable | None = None) -> None:
    source = source or manifest.attrs.get("source", "manifest")
    missing = set(MANIFEST_COLUMNS) - set(manifest.columns)
    if missing:
        raise ValueError(f"{source}: missing columns {sorted(missing)}")
    empty = manifest[list(MANIFEST_COLUMNS)].isna()
    if empty.any().any():
        row, column = empty.stack()[empty.stack()].index[0]
        raise ValueError(f"{source}, line {row + 2}: empty {column!r}")
    bad_split = sorted(set(manifest["split"]) - set(SPLITS))
    if bad_split:
        raise ValueError(f"{source}: unknown split value(s) {bad_split}; expected {SPLITS}")
    dup = manifest["clip_id"][manifest["clip_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: duplicate clip_id {dup.iloc[0]!r}")
    if classes is not None:
        unknown = sorted(set(manifest["class"]) - set(classes.names))
        if unknown:
            where = f" {classes.source}" if classes.source else ""
            raise ValueError(f"{source}: classes not in the class table{where}: {unknown}")


def warn_about_coverage(classes: ClassTable, source: str, *, trained: set[str], tested: set[str]) -> None:
    """The workflow's and the CLI's warning about classes a run cannot learn or never tests (`trained`: the
    classes with trn clips, `tested`: those with tst clips)."""
    untrained = [n for n in classes.seen_names if n not in trained]
    if untrained:
        log.warning("%s: seen class(es) without trn clips cannot be learned: %s", source, untrained)
    untested = [n for n in classes.unseen_names if n not in tested]
    if untested:
        log.warning("%s: unseen class(es) without tst clips are never evaluated: %s", source, untested)
