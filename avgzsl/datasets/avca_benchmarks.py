"""AVCA-GZSL's benchmarks (VGGSound-GZSL, UCF-GZSL, ActivityNet-GZSL): class splits and word-vector lookup.

The benchmark folder, as AVCA-GZSL's loaders read it (`src/dataset.py`, classes `VGGSoundDataset`,
`UCFDataset`, `ActivityNetDataset`; `src/args.py` for `--root_dir`, `--feature_extraction_method`,
`--zero_shot_split`):

    class-split/all_class.txt                          one class name a line
    class-split/<ds>_w2v_class_names.csv               columns `original,manual` (the word-vector key per class)
    class-split/{main_split,cls_split}/stage_*.txt     the classes of each stage list, one a line
    features/{main_features,cls_features}/{audio,video}/<stage list>/<class>.h5   `data`, `video_urls`
    features/<feature set>/text/word_embeddings_<ucf|activity|vggsound>_normed.npy  dict manual name -> 300-d

Feature sets (their README, "Dataset structure"): `main` = SeLaVi, 512-d audio and 512-d video;
`cls` = VGGish audio (128-d) and C3D video (4096-d).

Word vectors. Their loader sorts the dictionary by its keys (the `manual` names) and keeps the vectors as a
list in that order (`get_data_by_modality`, modality "text": `src/dataset.py` lines 271 (VGGSound), 921 (UCF),
1222 (ActivityNet), at the pinned commit), and later indexes that list with class indices taken from the
sorted *original* names (`class_to_idx`, lines 110 / 759 / 1061; `all_data` and `map_embeddings_target`:
`self.data["text"]["data"][sorted(self.classes)]`, lines 42 and 49 / 666 and 700 / 968 and 1002). The
per-vector `target` they compute through `text_label_mapping` is never used for that lookup. Where the two
sort orders differ a class receives another class's vector. `text_vectors(..., lookup="correct")` pairs every class with its own vector
(our default); `lookup="avca_compat"` reproduces their pairing, to match their published numbers.

Class-split lists come from a local folder (holding `<DS>/class-split/`, or `class-split/` itself), or
are fetched once from a pinned commit of their repository and checked against a digest of the list
files' contents, as `avgzsl.datasets.audiosetzsl` does for AudioSetZSL.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.datasets.archive import download, unpack_checked
from avgzsl.datasets.kind import DatasetKind
from avgzsl.formats.manifest import SPLITS

SPLIT_REPO = "ExplainableML/AVCA-GZSL"
SPLIT_REPO_COMMIT = "2711aeb5d7257ece4c5464fa46d7849a4edf6470"
ARCHIVE_URL = "https://github.com/{repo}/archive/{commit}.tar.gz"
ARCHIVE_PREFIX = "avgzsl_benchmark_datasets"
CLASS_SPLIT_DIR = "class-split"
STAGE_LISTS = (
    "stage_1_train", "stage_1_val_seen", "stage_1_val_unseen",
    "stage_2_train", "stage_2_test_seen", "stage_2_test_unseen",
)
TEXT_LOOKUPS = ("correct", "avca_compat")


@dataclass(frozen=True)
class Variant:
    split_folder: str  # class-split/<split_folder>/
    features_folder: str  # features/<features_folder>/
    audio_dim: int
    video_dim: int


VARIANTS = {
    "main": Variant("main_split", "main_features", 512, 512),  # SeLaVi
    "cls": Variant("cls_split", "cls_features", 128, 4096),  # VGGish / C3D
}
TEXT_DIM = 300


@dataclass(frozen=True)
class Benchmark:
    name: str  # our dataset key
    folder: str  # avgzsl_benchmark_datasets/<folder>
    csv_name: str  # class-split/<csv_name>_w2v_class_names.csv
    text_name: str  # text/word_embeddings_<text_name>_normed.npy
    casefold_files: bool  # UCF and ActivityNet look class files up lower-cased (`file.stem.lower()`)
    lists_digest: str  # lists_digest() of class-split/ at SPLIT_REPO_COMMIT

    @property
    def w2v_csv(self) -> str:
        return f"{self.csv_name}_w2v_class_names.csv"

    def text_file(self, variant: str) -> Path:
        return Path("features") / VARIANTS[variant].features_folder / "text" / f"word_embeddings_{self.text_name}_normed.npy"


BENCHMARKS = {
    b.name: b for b in (
        Benchmark("vggsound-gzsl", "VGGSound", "vggsound", "vggsound", False,
                  "50e70e909e89f19733776180fd56ccbe8f8997116e330256bf0fc7e685795a59"),
        Benchmark("ucf-gzsl", "UCF", "ucf", "ucf", True,
                  "8c3b06ed72620401f6e983cc7560bd30e60e0863685996d94a425bb00f1aaacb"),
        Benchmark("activitynet-gzsl", "ActivityNet", "activitynet", "activity", True,
                  "217e0bc2a3bb0a05ad8109bb57769848d68cd983369d0990fb49acf9c5702755"),
    )
}


class BenchmarkSplitError(ValueError):
    """Class-split lists that are missing, malformed or not the pinned ones; the message names the file."""


def benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown AVCA-GZSL benchmark {name!r}; choose one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown feature set variant {name!r}; choose one of {sorted(VARIANTS)}")
    return VARIANTS[name]


def list_files(class_split: str | os.PathLike, bench: Benchmark) -> list[str]:
    """The files (relative to class-split/) that define the split, sorted; the clip-list .csv files
    are left out (they repeat the feature files' content and VGGSound's are large)."""
    root = Path(class_split)
    names = ["all_class.txt", bench.w2v_csv]
    names += [f"{v.split_folder}/{s}.txt" for v in VARIANTS.values() for s in STAGE_LISTS]
    return sorted(n for n in names if (root / n).is_file())


def lists_digest(class_split: str | os.PathLike, bench: Benchmark) -> str:
    """sha256 over `<sha256 of file>  <relative path>` lines of every list file."""
    root = Path(class_split)
    lines = [f"{hashlib.sha256((root / rel).read_bytes()).hexdigest()}  {rel}\n" for rel in list_files(root, bench)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def verify_lists(class_split: str | os.PathLike, bench: Benchmark, digest: str | None) -> None:
    if digest is None:
        return
    actual = lists_digest(class_split, bench)
    if actual != digest:
        raise BenchmarkSplitError(
            f"{class_split}: {bench.name} class-split digest {actual} differs from the pinned {digest} "
            f"({SPLIT_REPO}@{SPLIT_REPO_COMMIT}); set digest: null to use these lists anyway"
        )


def locate_class_split(folder: str | os.PathLike, bench: Benchmark) -> Path:
    """`folder` itself if it is a class-split folder, else `folder/<DS>/class-split` or `folder/class-split`."""
    root = Path(folder).expanduser()
    for candidate in (root, root / bench.folder / CLASS_SPLIT_DIR, root / CLASS_SPLIT_DIR):
        if (candidate / "all_class.txt").is_file():
            return candidate
    raise BenchmarkSplitError(
        f"{root}: no all_class.txt in it, in {bench.folder}/{CLASS_SPLIT_DIR}/ or in {CLASS_SPLIT_DIR}/"
    )


def fetch_class_split(
    cache_dir: str | os.PathLike, bench: Benchmark, *, commit: str = SPLIT_REPO_COMMIT,
    digest: str | None = None, url: str | None = None, timeout_s: float = 60.0,
) -> Path:
    """Download their repository at `commit` once; keep `<DS>/class-split` lists in cache_dir/<commit>."""
    dest = Path(cache_dir).expanduser() / commit / bench.folder / CLASS_SPLIT_DIR
    if dest.is_dir():
        verify_lists(dest, bench, digest)
        return dest
    url = url or ARCHIVE_URL.format(repo=SPLIT_REPO, commit=commit)
    payload = download(url, timeout_s=timeout_s, error=BenchmarkSplitError, offline_hint=(
        f"Copy {ARCHIVE_PREFIX}/{bench.folder}/{CLASS_SPLIT_DIR} of {SPLIT_REPO} (commit {commit}) into a "
        "folder and give it as split_dir."))
    wanted = f"{ARCHIVE_PREFIX}/{bench.folder}/{CLASS_SPLIT_DIR}/"

    def select(name: str) -> str | None:
        parts = name.split("/", 1)  # archives wrap the tree in one `<repo>-<commit>/` folder
        if len(parts) != 2 or not parts[1].startswith(wanted) or not parts[1].endswith((".txt", ".csv")):
            return None
        return parts[1][len(wanted):]

    def check(staging: Path) -> None:
        if not list_files(staging, bench):
            raise BenchmarkSplitError(f"{url}: archive holds no {wanted} lists")
        verify_lists(staging, bench, digest)

    return unpack_checked(payload, dest, select=select, check=check)


def read_names(path: Path) -> list[str]:
    """A stage or class list, one name a line (their `get_class_names`: stripped lines, sorted)."""
    if not path.is_file():
        raise BenchmarkSplitError(f"{path}: class list not found")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise BenchmarkSplitError(f"{path}: the class list is empty")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise BenchmarkSplitError(f"{path}: class {dup!r} is listed twice")
    return sorted(names)


@dataclass(frozen=True)
class ClassSplit:
    """The class lists of one benchmark and feature set; every list sorted as their loader sorts it."""

    all_classes: list[str]
    stages: dict[str, list[str]]  # stage list name -> classes
    manual_names: dict[str, str]  # original class name -> word-vector key
    source: Path

    @property
    def stage1_classes(self) -> list[str]:
        return sorted(set(self.stages["stage_1_train"]) | set(self.stages["stage_1_val_unseen"]))

    @property
    def stage2_classes(self) -> list[str]:
        return sorted(set(self.stages["stage_2_test_seen"]) | set(self.stages["stage_2_test_unseen"]))


def canonical_key(bench: Benchmark, name: str) -> str:
    """How their loader matches a name against all_class.txt: UCF and ActivityNet lower-case both sides
    (`class_to_idx` keys and `file.stem.lower()`, `src/dataset.py` lines 759 / 954 and 1061 / 1255; UCF's stage
    lists spell `HandStandPushups`, all_class.txt `HandstandPushups`)."""
    return name.lower() if bench.casefold_files else name


def read_class_split(class_split: str | os.PathLike, bench: Benchmark, variant_name: str) -> ClassSplit:
    """Read and cross-check the lists; an error names the file and the classes at fault."""
    root = Path(class_split)
    var = variant(variant_name)
    all_path = root / "all_class.txt"
    all_classes = read_names(all_path)
    csv_path = root / bench.w2v_csv
    if not csv_path.is_file():
        raise BenchmarkSplitError(f"{csv_path}: word-vector name table not found")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if list(table.columns[:2]) != ["original", "manual"]:
        raise BenchmarkSplitError(f"{csv_path}: expected columns original,manual; found {list(table.columns)}")
    manual = dict(zip(table["original"], table["manual"]))
    if len(manual) != len(table) or table["manual"].duplicated().any():
        raise BenchmarkSplitError(f"{csv_path}: an original or manual name is listed twice")
    lacking = sorted(set(all_classes) - set(manual))
    if lacking:
        raise BenchmarkSplitError(f"{csv_path}: no manual name for class(es) {lacking[:5]} of {all_path}")
    canonical = {canonical_key(bench, c): c for c in all_classes}
    stages = {}
    for stage in STAGE_LISTS:
        path = root / var.split_folder / f"{stage}.txt"
        names = read_names(path)
        stray = sorted(n for n in names if canonical_key(bench, n) not in canonical)
        if stray:
            raise BenchmarkSplitError(f"{path}: class(es) {stray[:5]} are not in {all_path}")
        stages[stage] = sorted(canonical[canonical_key(bench, n)] for n in names)
    split = ClassSplit(all_classes, stages, manual, root)
    _check_stage_roles(split, root / var.split_folder)
    return split


def _check_stage_roles(split: ClassSplit, folder: Path) -> None:
    """The relations between the stage lists that the protocol relies on (true for all released splits)."""
    st = {k: set(v) for k, v in split.stages.items()}
    problems = []
    if st["stage_1_train"] & st["stage_1_val_unseen"]:
        problems.append("stage_1_train and stage_1_val_unseen share classes")
    if not st["stage_1_val_seen"] <= st["stage_1_train"]:
        problems.append("stage_1_val_seen has classes outside stage_1_train")
    if st["stage_2_train"] != st["stage_1_train"] | st["stage_1_val_unseen"]:
        problems.append("stage_2_train is not stage_1_train plus stage_1_val_unseen")
    if not st["stage_2_test_seen"] <= st["stage_2_train"]:
        problems.append("stage_2_test_seen has classes outside stage_2_train")
    if st["stage_2_test_unseen"] & (st["stage_2_train"] | st["stage_1_val_seen"]):
        problems.append("stage_2_test_unseen shares classes with stage 1 or stage_2_train")
    if problems:
        raise BenchmarkSplitError(f"{folder}: " + "; ".join(problems))


def text_vectors(
    vectors: dict[str, np.ndarray], split: ClassSplit, classes: list[str], *, lookup: str = "correct",
    source: str = "word vectors",
) -> np.ndarray:
    """One vector per class of `classes`.

    `correct`: the vector stored under the class's `manual` name. `avca_compat`: the vector at the class's
    position in sorted(all_class.txt), counted along the dictionary sorted by key — AVCA-GZSL's pairing.
    """
    if lookup not in TEXT_LOOKUPS:
        raise ValueError(f"text_lookup {lookup!r}: choose one of {TEXT_LOOKUPS}")
    keys = [split.manual_names[c] for c in split.all_classes]
    missing = sorted(set(keys) - set(vectors))
    if missing:
        raise ValueError(f"{source}: no vector under the manual name(s) {missing[:5]}")
    if lookup == "correct":
        chosen = [vectors[split.manual_names[c]] for c in classes]
    else:
        by_key = sorted(vectors)  # their dict(sorted(data_raw.items()))
        if len(by_key) < len(split.all_classes):
            raise ValueError(f"{source}: {len(by_key)} vectors for {len(split.all_classes)} classes")
        position = {c: i for i, c in enumerate(split.all_classes)}  # their class_to_idx
        chosen = [vectors[by_key[position[c]]] for c in classes]
    dims = {np.asarray(v).shape for v in chosen}
    if len(dims) != 1:
        raise ValueError(f"{source}: word vectors of different shapes {sorted(dims)}")
    text = np.stack([np.asarray(v, dtype=np.float32) for v in chosen])
    if not np.isfinite(text).all():
        raise ValueError(f"{source}: NaN or inf in a word vector")
    return text


def mislooked_classes(split: ClassSplit, classes: list[str] | None = None) -> list[str]:
    """The classes (of `classes`, default all) whose AVCA-GZSL vector is another class's."""
    keys = sorted(split.manual_names[c] for c in split.all_classes)
    position = {c: i for i, c in enumerate(split.all_classes)}
    return [c for c in (classes if classes is not None else split.all_classes)
            if keys[position[c]] != split.manual_names[c]]


def is_temporal(config: dict) -> bool:
    """`avca_gzsl.features: temporal`: the benchmark comes from TCaF's release of per-window sequences."""
    return config["avca_gzsl"].get("features", "averaged") == "temporal"


@dataclass(frozen=True)
class AvcaBenchmarkKind(DatasetKind):
    """An AVCA-GZSL benchmark from its released features: imported once, trained in their two stages."""

    @property
    def benchmark(self) -> Benchmark:
        return BENCHMARKS[self.name]

    def settings(self, config: dict) -> dict:
        return config["avca_gzsl"]

    def features_import(self, config: dict) -> str | None:
        return "avca_benchmark"

    def result_dir(self, config: dict) -> str:
        # one folder per feature set, word-vector pairing and release (TCaF's temporal one gets its own)
        avca = config["avca_gzsl"]
        temporal = "-temporal" if is_temporal(config) else ""
        return f"{super().result_dir(config)}/{avca['variant']}-{avca['text_lookup']}{temporal}"

    def missing_sequences(self, config: dict) -> str | None:
        if is_temporal(config):
            return None
        return "set avca_gzsl.features: temporal with avca_gzsl.root at TCaF's release of per-window sequences"

    def training_files(self, config: dict, result_dir: str, shards: list[str]) -> dict:
        files = super().training_files(config, result_dir, shards)
        if is_temporal(config):  # TCaF's release: sequence shards beside the clip means (avgzsl.datasets.tcaf_import)
            for modality in ("audio", "video"):
                files[f"{modality}_seq"] = [f"{result_dir}/features/{modality}_seq/{s}.h5" for s in SPLITS]
        return files

    def path_problems(self, config: dict, need, optional) -> list[tuple[str, str]]:
        avca = config["avca_gzsl"]
        need("avca_gzsl.root", avca["root"], "folder")
        if avca["split_lists"] != "pinned":
            need("avca_gzsl.split_lists", avca["split_lists"], "folder")
        return []


VGGSOUND_GZSL = AvcaBenchmarkKind("vggsound-gzsl", two_stage=True)
UCF_GZSL = AvcaBenchmarkKind("ucf-gzsl", two_stage=True)
ACTIVITYNET_GZSL = AvcaBenchmarkKind("activitynet-gzsl", two_stage=True)
