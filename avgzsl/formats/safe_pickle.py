"""Reading pickled numpy data from other people without running their code.

A pickle can name any importable callable, and unpickling calls it: `np.load(..., allow_pickle=True)` on a
crafted file runs whatever the file says. The released word-vector dictionaries (the AudioSetZSL authors'
`word_embeddings-dict.npy`, AVCA-GZSL's `word_embeddings-dict-33.npy`) are such pickles, written by
`np.save` of a dict. Here only the few numpy globals that rebuild plain arrays may be resolved, so the
worst a crafted file can do is fail to load; the same approach as the I3D weight loader
(`extractors/i3d_weights.py`).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

# `numpy.core` is the name older numpy wrote into pickles; numpy 2 keeps it as an alias of `numpy._core`.
NUMPY_ARRAY_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # pickle protocol 5 rebuilds an array as frombuffer(bytes, dtype).reshape(shape) (ndarray.__reduce_ex__); an
    # object dtype is refused by frombuffer itself, so this builds plain numeric arrays only (TCaF's .pkl files)
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
})


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle that asks for something other than numpy arrays; the message names the file."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals that rebuild numpy arrays; anything else is refused before it is called."""

    def __init__(self, file, *, source: str, what: str = "only numpy arrays are accepted", **kwargs):
        super().__init__(file, **kwargs)
        self.source, self.what = source, what

    def find_class(self, module: str, name: str):
        if (module, name) not in NUMPY_ARRAY_GLOBALS:
            raise UnsafePickleError(
                f"{self.source}: refusing to unpickle {module}.{name} ({self.what}; "
                "the file may be crafted to run code)"
            )
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.source}: refusing a persistent reference in the pickle")


def _read_npy_header(fh, source: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fh)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(fh)
    except ValueError as err:
        raise ValueError(f"{source}: not a .npy file ({err})") from err
    raise ValueError(f"{source}: .npy format version {version} is not supported")


def load_word_vector_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """An `np.save`d dict {class name: 1-D vector}, read without executing anything the file names."""
    path = Path(path)
    source = str(path)
    with path.open("rb") as fh:
        shape, _, dtype = _read_npy_header(fh, source)
        if dtype != np.dtype(object) or shape != ():
            raise ValueError(
                f"{source}: expected an np.save'd dict (a 0-d object array), found a {dtype} array of shape {shape}"
            )
        try:
            # latin1 reads dictionaries pickled by Python 2 (str keys, array bytes); Python 3 pickles ignore it
            holder = NumpyOnlyUnpickler(fh, source=source, encoding="latin1").load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError) as err:
            raise ValueError(f"{source}: the pickled dictionary is corrupt or truncated ({err})") from err
    value = holder.item() if isinstance(holder, np.ndarray) and holder.shape == () else holder
    if not isinstance(value, dict):
        raise ValueError(f"{source}: expected a dict of class name -> vector, found {type(value).__name__}")
    vectors: dict[str, np.ndarray] = {}
    for key, vec in value.items():
        if isinstance(key, bytes):
            key = key.decode("utf-8")
        if not isinstance(key, str):
            raise ValueError(f"{source}: key {key!r} is not a class name (str)")
        if not isinstance(vec, np.ndarray) or vec.dtype.kind not in "fiu" or vec.ndim != 1:
            what = f"a {vec.dtype} array of shape {vec.shape}" if isinstance(vec, np.ndarray) else type(vec).__name__
            raise ValueError(f"{source}: the vector of {key!r} must be a 1-D numeric array, found {what}")
        vectors[key] = vec
    return vectors
