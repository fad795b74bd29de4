"""Import of released AudioSetZSL feature folders into our shard format.

Two layouts are read (`detect_layout` tells them apart):

`authors` — the dataset authors' release:
    <root>/audio/{trn,val,tst}/<class>.h5     datasets `data` (N x D float), `video_urls` (N strings)
    <root>/video/{trn,val,tst}/<class>.h5     same clips, same order
    <root>/text/word_embeddings-dict.npy      np.save'd dict: class name -> vector
    Class order: the sorted class names (no class list ships with it).

`avca` — AVCA-GZSL's AudioSetZSL benchmark folder (read by `AudioSetZSLDataset` in their `src/dataset.py`):
    <root>/class-split/{all,seen,unseen}_class.txt   one `'name',` per line
    <root>/features/<name>/{audio,video}/{trn,val,tst}/<class>.h5
    <root>/features/<name>/text/word_embeddings-dict-33.npy
    Class order: the line order of all_class.txt (their loader sorts it again for its own indices).

Everything is read and checked before anything is written; the output folder then appears whole
(`avgzsl.formats.atomic.staged_folder`). Every error names the source file it is about. The word-vector
dictionary is unpickled with `avgzsl.formats.safe_pickle`, which refuses anything but numpy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.datasets.kind import DatasetKind
from avgzsl.formats.atomic import staged_folder
from avgzsl.formats.ids import check_class_name, check_clip_id, clip_id_from_video_url
from avgzsl.formats.manifest import SPLITS, ClassTable
from avgzsl.formats.safe_hdf5 import SafeHdf5, short
from avgzsl.formats.safe_pickle import load_word_vector_dict
from avgzsl.formats.shards import FeatureError, write_feature_shard

AUTHORS_TEXT_FILE = Path("text") / "word_embeddings-dict.npy"
AVCA_TEXT_FILE = Path("text") / "word_embeddings-dict-33.npy"
CLASS_SPLIT_DIR = "class-split"
CLASS_LIST_FILES = {"all": "all_class.txt", "seen": "seen_class.txt", "unseen": "unseen_class.txt"}
MEDIA_MODALITIES = ("audio", "video")
EXTRACTOR = "released-audiosetzsl"
# AudioSetZSL's unseen classes (the dataset's class-split/unseen_class.txt), for the authors' layout
AUDIOSETZSL_UNSEEN = ["pig", "panther", "stream", "bus", "aircraft", "clock", "fan", "printer", "church-bell", "gunshot"]


@dataclass(frozen=True)
class ReleasedLayout:
    kind: str  # "authors" | "avca"
    root: Path
    features_dir: Path  # the folder holding audio/, video/, text/
    text_file: Path
    class_split_dir: Path | None = None


def detect_layout(root: str | os.PathLike, features_name: str | None = None) -> ReleasedLayout:
    """Which released layout `root` holds; an error says what was looked for when it is neither."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    features = root / "features"
    if (root / CLASS_SPLIT_DIR).is_dir() or features.is_dir():
        if not features.is_dir():
            raise FileNotFoundError(f"{features}: missing (AVCA-GZSL layout: features/<name>/{{audio,video,text}})")
        names = sorted(p.name for p in features.iterdir() if p.is_dir() and not p.name.startswith("."))
        if features_name is None:
            if len(names) != 1:
                raise ValueError(f"{features}: holds {len(names)} feature sets {names}; choose one with --features-name")
            features_name = names[0]
        elif features_name not in names:
            raise FileNotFoundError(f"{features / features_name}: no such feature set (found {names})")
        class_split = root / CLASS_SPLIT_DIR
        if not class_split.is_dir():
            raise FileNotFoundError(f"{class_split}: missing (AVCA-GZSL layout: class-split/all_class.txt ...)")
        feats = features / features_name
        return ReleasedLayout("avca", root, feats, feats / AVCA_TEXT_FILE, class_split)
    if (root / AUTHORS_TEXT_FILE).is_file() or (root / "audio").is_dir() or (root / "video").is_dir():
        return ReleasedLayout("authors", root, root, root / AUTHORS_TEXT_FILE)
    raise FileNotFoundError(
        f"{root}: neither the authors' layout ({AUTHORS_TEXT_FILE}, audio/, video/) nor AVCA-GZSL's "
        f"({CLASS_SPLIT_DIR}/, features/<name>/)"
    )


def read_class_list(path: Path) -> list[str]:
    """A class-split list as AVCA-GZSL reads it: whitespace-separated tokens with quotes and commas removed."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: class list not found")
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        for token in line.split("#", 1)[0].split():  # np.loadtxt drops '#' comments and splits on whitespace
            name = token.replace("'", "").replace(",", "")
            if name:
                names.append(name)
    if not names:
        raise ValueError(f"{path}: the class list is empty")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"{path}: class {dup!r} is listed twice")
    return names


def write_class_list(path: Path, names: list[str]) -> None:
    """AudioSetZSL's `'name',` per line, the last line without comma (the dataset repository's format)."""
    path.write_text(",\n".join(f"'{n}'" for n in names) + ("\n" if not names else ""), encoding="utf-8")


def _class_table(layout: ReleasedLayout, vectors: dict, unseen: list[str] | None) -> ClassTable:
    text = layout.text_file
    if layout.kind == "avca":
        all_path = layout.class_split_dir / CLASS_LIST_FILES["all"]
        names = read_class_list(all_path)
        no_vector = [n for n in names if n not in vectors]
        if no_vector:
            raise ValueError(f"{text}: no word vector for class(es) {no_vector} listed in {all_path}")
        extra = sorted(set(vectors) - set(names))
        if extra:
            raise ValueError(f"{text}: word vectors for class(es) {extra} that {all_path} does not list")
        if unseen is None:
            unseen_path = layout.class_split_dir / CLASS_LIST_FILES["unseen"]
            unseen = read_class_list(unseen_path)
            seen_path = layout.class_split_dir / CLASS_LIST_FILES["seen"]
            seen = read_class_list(seen_path) if seen_path.is_file() else [n for n in names if n not in unseen]
            stray = sorted((set(unseen) | set(seen)) - set(names))
            if stray:
                raise ValueError(f"{unseen_path}, {seen_path}: class(es) {stray} are not in {all_path}")
            if set(unseen) & set(seen) or set(unseen) | set(seen) != set(names):
                raise ValueError(f"{seen_path} and {unseen_path} must split {all_path} into two disjoint parts")
    else:
        names = sorted(vectors)
    unseen = [] if unseen is None else unseen
    unknown = sorted(set(unseen) - set(names))
    if unknown:
        raise ValueError(f"unseen class(es) {unknown} are not classes of {text}; name the unseen classes with "
                         "--unseen a,b,...")
    return ClassTable.from_lists(names, unseen)


def read_class_file(path: Path, *, dim: int | None = None, dim_from: str = "",
                    within: Path | None = None) -> tuple[np.ndarray, list[str]]:
    """One released `<class>.h5`, read as data only (avgzsl.formats.safe_hdf5); every problem names the file.

    `dim`: the feature dimension the file must have (checked before reading), `dim_from` where it comes from
    (for the message); `within`: the released folder,
    which the file may not resolve outside of.
    """
    with SafeHdf5(path, what="a released <class>.h5 file", error=FeatureError, within=within) as h5:
        missing = [k for k in ("data", "video_urls") if not h5.has(k)]
        if missing:
            raise FeatureError(f"{path}: missing dataset(s) {missing}; expected 'data' and 'video_urls'")
        data = h5.numeric("data", ndim=2)
        urls = h5.strings("video_urls")
        if data.shape[0] != urls.shape[0]:
            raise FeatureError(f"{path}: {data.shape[0]} rows in 'data' but {urls.shape[0]} video_urls")
        if data.shape[0] == 0:
            raise FeatureError(f"{path}: holds no clips (0 rows)")
        if dim is not None and data.shape[1] != dim:
            raise FeatureError(f"{path}: {data.shape[1]}-d features, expected {dim}-d{dim_from}")
        ids = [clip_id_from_video_url(v) for v in h5.read_strings("video_urls", urls)]  # a link stands for its id
        for row, clip in enumerate(ids):  # clip ids name files downstream (media, exports)
            check_clip_id(clip, f"{path} video_urls row {row}")
        data = h5.read_float32("data", data)
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        bad = [ids[i] for i in np.flatnonzero(~finite)[:5]]
        raise FeatureError(f"{path}: NaN or inf in {int((~finite).sum())} row(s), e.g. clip {short(bad[0])} "
                           f"({', '.join(short(b) for b in bad)})")
    if len(set(ids)) != len(ids):
        dup = pd.Index(ids)[pd.Index(ids).duplicated()][0]
        raise FeatureError(f"{path}: clip {short(dup)} is listed twice")
    return data, ids


@dataclass
class _ModalityFeatures:
    dim: int | None = None
    dim_source: Path | None = None
    # (split, class) -> (source file, features, ids)
    files: dict[tuple[str, str], tuple[Path, np.ndarray, list[str]]] = field(default_factory=dict)


def _read_modality(layout: ReleasedLayout, modality: str, classes: ClassTable) -> _ModalityFeatures:
    found = _ModalityFeatures()
    known = set(classes.names)
    for split in SPLITS:
        split_dir = layout.features_dir / modality / split
        if not split_dir.is_dir():
            continue
        entries = sorted(p for p in split_dir.iterdir() if not p.name.startswith("."))
        if not entries:
            raise FeatureError(f"{split_dir}: the split folder is empty")
        for path in entries:
            if path.suffix != ".h5" or not path.is_file():
                raise FeatureError(f"{path}: expected only <class>.h5 files in {split_dir}")
            if path.stem not in known:
                raise FeatureError(f"{path}: class {path.stem!r} has no word vector in {layout.text_file}")
            data, ids = read_class_file(path, dim=found.dim, dim_from=f" like {found.dim_source}", within=layout.root)
            if found.dim is None:
                found.dim, found.dim_source = data.shape[1], path
            found.files[(split, path.stem)] = (path, data, ids)
    return found


def _check_clips(features: dict[str, _ModalityFeatures]) -> None:
    """Audio and video list the same clips per class file; no clip sits in two classes or splits."""
    if len(features) == 2:
        audio, video = features["audio"], features["video"]
        for key in sorted(set(audio.files) | set(video.files)):
            if key not in audio.files or key not in video.files:
                have, lack = ("audio", "video") if key in audio.files else ("video", "audio")
                src = features[have].files[key][0]
                raise FeatureError(f"{src}: has no {lack} counterpart ({lack}/{key[0]}/{key[1]}.h5 is missing)")
            a_path, _, a_ids = audio.files[key]
            v_path, _, v_ids = video.files[key]
            if a_ids != v_ids:
                only = sorted(set(a_ids) ^ set(v_ids))
                detail = f"e.g. clip {only[0]!r} is in only one of them" if only else "the same clips in another order"
                raise FeatureError(f"{a_path} and {v_path} list different clips: {detail}")
    owner: dict[str, tuple[tuple[str, str], Path]] = {}
    for found in features.values():
        for key, (path, _, ids) in found.files.items():
            for clip in ids:
                prev_key, prev_path = owner.setdefault(clip, (key, path))
                if prev_key != key:
                    raise FeatureError(f"{path}: clip {clip!r} is also listed in {prev_path}")


def _text_matrix(layout: ReleasedLayout, vectors: dict, classes: ClassTable) -> np.ndarray:
    dims = {vectors[n].shape[0] for n in classes.names}
    if len(dims) != 1:
        raise ValueError(f"{layout.text_file}: word vectors of different lengths {sorted(dims)}")
    text = np.stack([np.asarray(vectors[n], dtype=np.float32) for n in classes.names])
    bad = [n for n, row in zip(classes.names, text) if not np.isfinite(row).all()]
    if bad:
        raise ValueError(f"{layout.text_file}: NaN or inf in the word vector of {bad}")
    return text


def import_released(
    root: str | os.PathLike, out_dir: str | os.PathLike, *, unseen: list[str] | None = None,
    features_name: str | None = None,
) -> dict:
    """Convert a released folder into shards + manifest.csv + classes.tsv; returns the written paths.

    `unseen`: the unseen classes; None takes AVCA-GZSL's `class-split/unseen_class.txt`, or for the
    authors' layout (which carries no split) AudioSetZSL's ten unseen classes. Output: `<out>/{audio,video}/{split}.h5`, `<out>/text.h5`,
    `<out>/manifest.csv`, `<out>/classes.tsv`.
    """
    layout = detect_layout(root, features_name)
    if layout.kind == "authors" and unseen is None:
        unseen = AUDIOSETZSL_UNSEEN
    if not layout.text_file.is_file():
        raise FileNotFoundError(f"{layout.text_file}: word-vector file not found ({layout.kind} layout)")
    vectors = load_word_vector_dict(layout.text_file)
    if not vectors:
        raise ValueError(f"{layout.text_file}: the word-vector dictionary is empty")
    for name in vectors:  # class names become file names again on export
        check_class_name(name, str(layout.text_file))
    classes = _class_table(layout, vectors, unseen)
    text = _text_matrix(layout, vectors, classes)
    features = {m: _read_modality(layout, m, classes) for m in MEDIA_MODALITIES
                if (layout.features_dir / m).is_dir()}
    features = {m: f for m, f in features.items() if f.files}
    if not features:
        raise FeatureError(f"{layout.features_dir}: no audio/<split>/<class>.h5 or video/<split>/<class>.h5 files")
    _check_clips(features)

    order = {n: i for i, n in enumerate(classes.names)}
    rows: dict[str, tuple[str, str]] = {}
    shards: dict[tuple[str, str], tuple[np.ndarray, list[str]]] = {}
    for modality, found in features.items():
        for split in SPLITS:
            keys = sorted((k for k in found.files if k[0] == split), key=lambda k: order[k[1]])
            if not keys:
                continue
            shards[(modality, split)] = (
                np.concatenate([found.files[k][1] for k in keys]), [c for k in keys for c in found.files[k][2]]
            )
            for k in keys:
                for clip in found.files[k][2]:
                    rows.setdefault(clip, (k[1], split))
    manifest = pd.DataFrame([(c, cls, s) for c, (cls, s) in rows.items()], columns=["clip_id", "class", "split"])

    out = Path(out_dir)
    written: dict = {"layout": layout.kind, "shards": []}
    with staged_folder(out) as stage:
        for (modality, split), (data, ids) in shards.items():
            write_feature_shard(stage / modality / f"{split}.h5", data, ids, modality=modality, extractor=EXTRACTOR)
            written["shards"].append(str(out / modality / f"{split}.h5"))
        write_feature_shard(stage / "text.h5", text, classes.names, modality="text", extractor=EXTRACTOR)
        manifest.to_csv(stage / "manifest.csv", index=False)
        classes.write(stage / "classes.tsv")
    written.update(text=str(out / "text.h5"), manifest=str(out / "manifest.csv"), classes=str(out / "classes.tsv"))
    return written


@dataclass(frozen=True)
class FeaturesKind(DatasetKind):
    """Existing features: a released AudioSetZSL folder (imported once), or shards and lists named one by one."""

    def features_import(self, config: dict) -> str | None:
        return "released" if config["features"]["released_root"] else None

    def training_files(self, config: dict, result_dir: str, shards: list[str]) -> dict:
        features = config["features"]
        if features["released_root"]:
            return super().training_files(config, result_dir, shards)
        return {"manifest": features["manifest"], "classes": features["classes"],
                "text": features["text"] or f"{result_dir}/features/text.h5",
                "audio": list(features["audio"]), "video": list(features["video"])}

    def path_problems(self, config: dict, need, optional) -> list[tuple[str, str]]:
        features, problems = config["features"], []
        own = ("manifest", "classes", "text", "audio", "video")
        given = [k for k in own if features[k]]
        if features["released_root"]:
            need("features.released_root", features["released_root"], "folder")
            problems += [(f"features.{k}", "give features.released_root or our own files, not both "
                          "(released_root would be used and this ignored)") for k in given]
        elif not given:
            problems.append(("features", "set features.released_root, or features.manifest, classes, text, "
                             "audio and video"))
        else:
            for key in own[:3]:
                need(f"features.{key}", features[key])
            for key in own[3:]:
                if not features[key]:
                    problems.append((f"features.{key}", "required without features.released_root: a list of "
                                     "feature shards"))
                for i, path in enumerate(features[key]):
                    optional(f"features.{key}[{i}]", path)
        return problems


FEATURES = FeaturesKind("features")
