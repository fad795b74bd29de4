"""A user's own dataset: a CSV manifest plus class lists -> validated manifest + ClassTable.

Manifest CSV columns: `class`, `split` (trn | val | tst), and `path` (a local clip,
relative to `base_dir` or absolute) or `youtube_id` (to download); optional `clip_id`,
`start`, `end` (seconds). Without `clip_id` a row's id is its file's stem, or
`<youtube_id>_<start in ms>` (plain `<youtube_id>` without a start), as for AudioSetZSL.

Classes come from either
  * a class table TSV with header `name<TAB>seen` (seen 1/0), or
  * a list of all classes plus a list of the unseen ones; a list has one class per
    line (blank lines and `#` comments ignored) or AudioSetZSL's `'name',` lines.

Every problem is reported at once, each naming the CSV line and column, so a user can
fix a manifest in one pass.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from avgzsl.datasets.kind import DatasetKind
from avgzsl.formats.ids import class_name_problem, clip_id_problem, youtube_id_problem
from avgzsl.formats.manifest import SPLITS, ClassTable, warn_about_coverage
from avgzsl.runtime.errors import input_file_problem

_SHOWN = 20


class ManifestError(ValueError):
    """A manifest or class list that cannot be used; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        shown = "\n  ".join(problems[:_SHOWN])
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        super().__init__(f"{source}: {len(problems)} problem(s):\n  {shown}{more}")


@dataclass
class CustomConfig:
    manifest: str  # the CSV
    classes: str  # class table TSV (name, seen) or a list of all classes
    unseen: str | None = None  # list of unseen classes; required unless `classes` is a class table
    base_dir: str | None = None  # where relative paths start; None: the manifest's folder
    check_files: bool = True  # every `path` must exist


def read_class_list(path: str | os.PathLike) -> list[str]:
    names: list[str] = []
    problems = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        name = name.rstrip(",").strip().strip("'\"").strip()
        if name in names:
            problems.append(f"line {number}: class {name!r} listed twice")
        elif name:
            names.append(name)
    if problems:
        raise ManifestError(str(path), problems)
    if not names:
        raise ManifestError(str(path), ["no classes listed"])
    return names


def load_class_table(classes: str | os.PathLike, unseen: str | os.PathLike | None = None) -> ClassTable:
    path = Path(classes)
    if not path.is_file():
        raise FileNotFoundError(f"class list not found: {path}")
    header = path.read_text().split("\n", 1)[0].strip().split("\t")
    if header == ["name", "seen"]:
        if unseen is not None:
            raise ManifestError(str(unseen), [f"{path} already marks seen classes; drop the unseen list"])
        table = ClassTable.read(path)
    else:
        if unseen is None:
            raise ManifestError(str(path), ["a plain class list needs an unseen-class list beside it"])
        names, unseen_names = read_class_list(path), read_class_list(unseen)
        unknown = [n for n in unseen_names if n not in names]
        if unknown:
            raise ManifestError(str(unseen), [f"unseen class(es) not in {path.name}: {unknown}"])
        table = ClassTable.from_lists(names, unseen_names)
    # class names become file names when features are exported (<split>/<class>.h5)
    unsafe = [problem for problem in map(class_name_problem, table.names) if problem]
    if unsafe:
        raise ManifestError(str(path), unsafe)
    return table


def _seconds(value: str, where: str, problems: list[str]) -> float:
    if value == "":
        return math.nan
    try:
        seconds = float(value)
    except ValueError:
        problems.append(f"{where}: {value!r} is not a number of seconds")
        return math.nan
    if not math.isfinite(seconds) or seconds < 0:
        problems.append(f"{where}: {value!r} must be a finite, non-negative number of seconds")
        return math.nan
    return seconds


def validate_custom_manifest(
    table: pd.DataFrame,
    classes: ClassTable,
    *,
    base_dir: str | os.PathLike = ".",
    check_files: bool = True,
    source: str = "manifest",
) -> pd.DataFrame:
    """Check every row; returns the manifest with clip ids filled in and paths made absolute."""
    table = table.fillna("").astype(str).apply(lambda col: col.str.strip())
    missing = [c for c in ("class", "split") if c not in table.columns]
    if "path" not in table.columns and "youtube_id" not in table.columns:
        missing.append("path or youtube_id")
    if missing:
        raise ManifestError(source, [f"missing column(s): {', '.join(missing)}"])
    base = Path(base_dir)
    known = set(classes.names)
    problems: list[str] = []
    records = []
    for i, row in enumerate(table.to_dict("records")):
        line = f"row {i + 1} (line {i + 2})"  # line 1 is the header
        name, split = row["class"], row["split"]
        if name not in known:
            problems.append(f"{line} column 'class': {name!r} is not in the class list")
        if split not in SPLITS:
            problems.append(f"{line} column 'split': {split!r} is not one of {', '.join(SPLITS)}")
        start = _seconds(row.get("start", ""), f"{line} column 'start'", problems)
        end = _seconds(row.get("end", ""), f"{line} column 'end'", problems)
        if not (math.isnan(start) or math.isnan(end)) and end <= start:
            problems.append(f"{line} columns 'start'/'end': end {end} is not after start {start}")
        path, youtube_id = row.get("path", ""), row.get("youtube_id", "")
        out = dict(row, start=start, end=end)
        if path:
            resolved = Path(path).expanduser()
            resolved = resolved if resolved.is_absolute() else base / resolved
            if check_files and (problem := input_file_problem(resolved)):
                what = "file not found" if problem == "no such file or folder" else problem
                problems.append(f"{line} column 'path': {what}: {resolved}")
            out["path"] = str(resolved.resolve())
            default_id = resolved.stem
        elif youtube_id:
            # checked before any download command can be built from it
            problem = youtube_id_problem(youtube_id)
            if problem:
                problems.append(f"{line} column 'youtube_id': {problem}")
            default_id = youtube_id if math.isnan(start) else f"{youtube_id}_{round(start * 1000)}"
        else:
            problems.append(f"{line}: needs a 'path' or a 'youtube_id'")
            default_id = ""
        given = row.get("clip_id", "")
        out["clip_id"] = given or default_id
        # the id names downloaded files and per-clip outputs: it must stay one file name
        problem = clip_id_problem(out["clip_id"]) if out["clip_id"] else ""
        if problem and given:
            problems.append(f"{line} column 'clip_id': {problem}")
        elif problem and path:
            problems.append(f"{line} column 'path': the file name gives {problem}; add a clip_id column")
        elif problem:
            problems.append(f"{line}: {problem}")
        records.append(out)
    first_row: dict[str, int] = {}
    for i, rec in enumerate(records):
        clip = rec["clip_id"]
        if not clip:
            continue
        if clip in first_row:
            hint = "" if "clip_id" in table.columns else " (add a clip_id column to tell them apart)"
            problems.append(
                f"row {i + 1} (line {i + 2}) column 'clip_id': duplicate id {clip!r}, "
                f"first in row {first_row[clip]}{hint}"
            )
        else:
            first_row[clip] = i + 1
    if problems:
        raise ManifestError(source, problems)
    manifest = pd.DataFrame(records)
    leading = ["clip_id", "class", "split"]
    manifest = manifest[leading + [c for c in manifest.columns if c not in leading]]
    _warn_about_coverage(manifest, classes, source)
    return manifest


def _warn_about_coverage(manifest: pd.DataFrame, classes: ClassTable, source: str) -> None:
    warn_about_coverage(classes, source, trained=set(manifest.loc[manifest["split"] == "trn", "class"]),
                        tested=set(manifest.loc[manifest["split"] == "tst", "class"]))


def load_custom(cfg: CustomConfig) -> tuple[pd.DataFrame, ClassTable]:
    """Read and validate a user's manifest and class lists."""
    manifest_path = Path(cfg.manifest)
    if not manifest_path.is_file():
        raise FileNotFoundError(f"manifest not found: {manifest_path}")
    classes = load_class_table(cfg.classes, cfg.unseen)
    table = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    base = Path(cfg.base_dir) if cfg.base_dir is not None else manifest_path.parent
    manifest = validate_custom_manifest(
        table, classes, base_dir=base, check_files=cfg.check_files, source=str(manifest_path)
    )
    return manifest, classes


@dataclass(frozen=True)
class CustomKind(DatasetKind):
    """A user's own clips: a manifest CSV and class lists; rows may also name YouTube ids."""

    def media_root(self, config: dict) -> str:
        return config["custom"]["media_root"] or super().media_root(config)

    def build_manifest(self, settings: dict, *, resources: str) -> tuple[pd.DataFrame, ClassTable]:
        # built when the DAG is: a path that is not a readable file stops `snakemake -n` now, every such row
        # listed with its line, instead of a job failing later (a damaged file is still a recorded skip)
        return load_custom(CustomConfig(
            manifest=settings["manifest"], classes=settings["classes"], unseen=settings["unseen"] or None,
            base_dir=settings["media_root"] or None, check_files=True,
        ))

    def user_inputs(self, settings: dict, folder_files) -> list[str]:
        return [settings[k] for k in ("manifest", "classes", "unseen") if settings.get(k)]

    def path_problems(self, config: dict, need, optional) -> list[tuple[str, str]]:
        custom = config["custom"]
        need("custom.manifest", custom["manifest"])
        need("custom.classes", custom["classes"])
        optional("custom.unseen", custom["unseen"])
        optional("custom.media_root", custom["media_root"], "folder")
        return []


CUSTOM = CustomKind("custom", media="files", may_download=True)
