"""AudioSetZSL: the official class split and per-class YouTube segment lists -> manifest.

Expected layout (as in the dataset's split repository):

    class-split/{all,seen,unseen}_class.txt     lines `'name',`
    youtube-id/{trn,val,tst}/<class>.txt        lines `index, YouTubeID, start_s, end_s, /m/mid, ...`

The lists come from a local folder, or are fetched once from a pinned commit of the
split repository into a cache folder. A fetched (or given) folder is checked against a
sha256 digest of the list files' contents rather than of the archive, because the
hosting site does not promise byte-stable archives, only stable file contents.

Clip ids are `<YouTubeID>_<start in ms>`, AudioSet's own convention, so they stay
unique even where one video contributes several segments.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from avgzsl.datasets.archive import download, unpack_checked
from avgzsl.datasets.kind import DatasetKind
from avgzsl.formats.manifest import SPLITS, ClassTable

SPLIT_REPO = "krantiparida/AudioSetZSL"
SPLIT_REPO_COMMIT = "1c7ea1dd336e2a1a44e10c96879f026151f2d964"
# split_lists_digest() of the lists at SPLIT_REPO_COMMIT
SPLIT_LISTS_DIGEST = "ebef66629b804b30e6f0601be5e9e14501bf98ce1000a92541778d68fed06eea"
ARCHIVE_URL = "https://github.com/{repo}/archive/{commit}.tar.gz"
MANIFEST_COLUMNS = ("clip_id", "class", "split", "youtube_id", "start", "end")
_LIST_FILE = re.compile(r"^(class-split/(all|seen|unseen)_class\.txt|youtube-id/(trn|val|tst)/[^/.][^/]*\.txt)$")


class SplitListError(ValueError):
    """Split lists that are missing, malformed or not the pinned ones; the message names the file."""


@dataclass
class AudioSetZSLConfig:
    split_dir: str | None = None  # a local copy of the lists; None: fetch into cache_dir
    cache_dir: str = "~/.cache/avgzsl/audiosetzsl"
    commit: str = SPLIT_REPO_COMMIT
    digest: str | None = SPLIT_LISTS_DIGEST  # None accepts any lists (e.g. a different commit)
    url: str | None = None  # archive URL; None: the pinned commit's archive
    timeout_s: float = 60.0


def list_files(split_dir: str | os.PathLike) -> list[str]:
    """Relative paths of the files that define the split, sorted."""
    root = Path(split_dir)
    found = (p.relative_to(root).as_posix() for p in root.rglob("*.txt"))
    return sorted(rel for rel in found if _LIST_FILE.match(rel))


def split_lists_digest(split_dir: str | os.PathLike) -> str:
    """sha256 over `<sha256 of file>  <relative path>` lines of every list file."""
    root = Path(split_dir)
    lines = [f"{hashlib.sha256((root / rel).read_bytes()).hexdigest()}  {rel}\n" for rel in list_files(root)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def verify_split_lists(split_dir: str | os.PathLike, digest: str | None) -> None:
    if digest is None:
        return
    actual = split_lists_digest(split_dir)
    if actual != digest:
        raise SplitListError(
            f"{split_dir}: split lists digest {actual} differs from the pinned {digest} "
            f"({SPLIT_REPO}@{SPLIT_REPO_COMMIT}); set digest=None to use these lists anyway"
        )


def read_class_table(split_dir: str | os.PathLike) -> ClassTable:
    root = Path(split_dir) / "class-split"
    for name in ("all_class.txt", "unseen_class.txt"):
        if not (root / name).is_file():
            raise SplitListError(f"missing class list {root / name}")
    names = read_audiosetzsl_class_list(root / "all_class.txt")
    unseen = read_audiosetzsl_class_list(root / "unseen_class.txt")
    table = ClassTable.from_lists(names, unseen)
    seen_file = root / "seen_class.txt"
    if seen_file.is_file():
        seen = read_audiosetzsl_class_list(seen_file)
        if set(seen) != set(table.seen_names):
            raise SplitListError(f"{seen_file}: disagrees with all_class.txt minus unseen_class.txt")
    return table


def _read_segments(path: Path, name: str, split: str) -> list[tuple]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",", 4)]
        if len(fields) < 4:
            raise SplitListError(f"{path}:{number}: expected `index, YouTubeID, start_s, end_s, ...`")
        youtube_id = fields[1]
        try:
            start, end = float(fields[2]), float(fields[3])
        except ValueError as err:
            raise SplitListError(f"{path}:{number}: bad start/end ({err})") from err
        if not youtube_id or end <= start:
            raise SplitListError(f"{path}:{number}: empty YouTube id or end <= start")
        rows.append((f"{youtube_id}_{round(start * 1000)}", name, split, youtube_id, start, end))
    return rows


def build_manifest(split_dir: str | os.PathLike, classes: ClassTable | None = None) -> pd.DataFrame:
    """One row per segment: clip_id, class, split, youtube_id, start, end (seconds)."""
    root = Path(split_dir)
    classes = classes or read_class_table(root)
    known = set(classes.names)
    rows: list[tuple] = []
    for split in SPLITS:
        folder = root / "youtube-id" / split
        files = {p.stem: p for p in folder.glob("*.txt") if not p.name.startswith(".")}
        unknown = sorted(set(files) - known)
        if unknown:
            raise SplitListError(f"{folder}: lists for classes not in all_class.txt: {unknown}")
        absent = [n for n in classes.names if n not in files]
        if absent:
            raise SplitListError(f"{folder}: no list for class(es) {absent}")
        for name in classes.names:
            rows.extend(_read_segments(files[name], name, split))
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    dup = manifest["clip_id"].duplicated(keep=False)
    if dup.any():
        clash = manifest[dup].sort_values("clip_id").head(4)
        detail = "; ".join(
            f"{cid} in {split}/{name}"
            for cid, split, name in zip(clash["clip_id"], clash["split"], clash["class"])
        )
        raise SplitListError(f"{root}: {int(dup.sum())} rows share a clip id, e.g. {detail}")
    return manifest


def _archive_member(name: str) -> str | None:
    # archives wrap the tree in one `<repo>-<commit>/` folder
    parts = name.split("/", 1)
    if len(parts) != 2:
        return None
    rel = parts[1]
    return rel if _LIST_FILE.match(rel) else None


def fetch_split_lists(
    cache_dir: str | os.PathLike,
    *,
    commit: str = SPLIT_REPO_COMMIT,
    digest: str | None = SPLIT_LISTS_DIGEST,
    url: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download the lists at `commit` once into cache_dir/<commit>; verified against `digest`."""
    dest = Path(cache_dir).expanduser() / commit
    if dest.is_dir():
        verify_split_lists(dest, digest)
        return dest
    url = url or ARCHIVE_URL.format(repo=SPLIT_REPO, commit=commit)
    payload = download(url, timeout_s=timeout_s, error=SplitListError, offline_hint=(
        f"Copy the split repository's class-split/ and youtube-id/ folders (commit {commit}) into a folder "
        "and pass it as split_dir."))

    def check(staging: Path) -> None:
        if not list_files(staging):
            raise SplitListError(f"{url}: archive holds no class-split/ or youtube-id/ lists")
        verify_split_lists(staging, digest)

    return unpack_checked(payload, dest, select=_archive_member, check=check)


def load_audiosetzsl(cfg: AudioSetZSLConfig | None = None) -> tuple[pd.DataFrame, ClassTable]:
    """Manifest and class table from a local copy or the pinned, verified download."""
    cfg = cfg or AudioSetZSLConfig()
    if cfg.split_dir is not None:
        root = Path(cfg.split_dir).expanduser()
        if not root.is_dir():
            raise SplitListError(f"split lists folder not found: {root}")
        verify_split_lists(root, cfg.digest)
    else:
        root = fetch_split_lists(
            cfg.cache_dir, commit=cfg.commit, digest=cfg.digest, url=cfg.url, timeout_s=cfg.timeout_s
        )
    classes = read_class_table(root)
    return build_manifest(root, classes), classes


def read_audiosetzsl_class_list(path: str | os.PathLike) -> list[str]:
    """Parse AudioSetZSL's `'name',` per line lists (the last line has no comma)."""
    names = []
    for line in Path(path).read_text().splitlines():
        line = line.strip().rstrip(",").strip()
        if line:
            names.append(line.strip("'\""))
    return names


@dataclass(frozen=True)
class AudioSetZSLKind(DatasetKind):
    """AudioSetZSL from YouTube: the pinned split lists (or a local folder of them) -> a manifest of segments."""

    def build_manifest(self, settings: dict, *, resources: str) -> tuple[pd.DataFrame, ClassTable]:
        pinned = settings["split_lists"] == "pinned"
        return load_audiosetzsl(AudioSetZSLConfig(
            split_dir=None if pinned else settings["split_lists"], cache_dir=f"{resources}/audiosetzsl_split_lists",
            digest=SPLIT_LISTS_DIGEST if settings["verify_split_lists"] else None,
        ))

    def user_inputs(self, settings: dict, folder_files) -> list[str]:
        return [] if settings["split_lists"] == "pinned" else folder_files(settings["split_lists"])

    def path_problems(self, config: dict, need, optional) -> list[tuple[str, str]]:
        lists = config["audiosetzsl"]["split_lists"]
        if lists != "pinned":
            need("audiosetzsl.split_lists", lists, "folder")
        return []


# the paper's 300-d GoogleNews word2vec for `text.source: auto`
AUDIOSETZSL = AudioSetZSLKind("audiosetzsl", media="downloaded", may_download=True, default_text_source="word2vec")
