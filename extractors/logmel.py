"""Log-mel spectrograms for the audio CNN, following the VGGish front end of the paper's audio net.

The paper ([14] in AVGZSLNet, Hershey et al. 2017) feeds its CNN 64 mel bands from
125 to 7500 Hz over 25 ms windows every 10 ms, taking `log(mel + 0.01)` of the STFT
*magnitude* through HTK-style triangular filters. We keep that: the fixed offset
makes silence map to a finite floor (log 0.01 ≈ -4.6) and keeps absolute loudness,
whereas `librosa.power_to_db` with `ref=np.max` normalises every clip to its own peak
(a quiet clip and a loud one look alike) and with a fixed reference needs an
arbitrary `amin`/`top_db` to stay finite.

Two deliberate departures from VGGish, both librosa defaults: the FFT is the window
length (400, not padded to 512), and frames are centred (`center=True`), so a clip of
S samples gives `1 + S // hop_length` frames — exactly 100 per second — and a clip
shorter than one window still yields a frame.

The mel projection is summed in a fixed order, not by a matrix product. A BLAS picks its
kernel at run time (by CPU, or by `OPENBLAS_CORETYPE`), each kernel sums in its own order,
and the audio CNN's training turns those last-bit differences into different features
(benchmarks/README.md, "Numbers between machines"). Each band's few filter taps are added
one by one in float64 with plain element-wise operations, which IEEE 754 rounds the same
way everywhere, and the log is taken in float64 before rounding to float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np


@dataclass(frozen=True)
class LogMelConfig:
    sample_rate: int = 16000
    n_fft: int = 400  # 25 ms window at 16 kHz
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    fmin: float = 125.0
    fmax: float = 7500.0
    log_offset: float = 0.01  # log(mel + offset); see the module docstring
    power: float = 1.0  # 1: magnitude (VGGish); 2: power
    center: bool = True


@lru_cache(maxsize=8)
def _mel_basis(cfg: LogMelConfig) -> np.ndarray:
    # htk=True, norm=None: unnormalised triangles on the HTK mel scale, as VGGish builds them
    return librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=True,
        norm=None,
    )  # (n_mels, 1 + n_fft // 2)


@lru_cache(maxsize=8)
def _mel_taps(cfg: LogMelConfig) -> tuple[np.ndarray, np.ndarray]:
    """The mel basis as taps: (n_mels, width) FFT-bin indices and float64 weights, zero-weight padded.

    Each HTK triangle covers one contiguous run of bins; `width` is the widest run.
    """
    basis = _mel_basis(cfg).astype(np.float64)  # (n_mels, bins)
    nonzero = basis != 0
    first = nonzero.argmax(axis=1)
    count = nonzero.sum(axis=1)
    width = max(int(count.max()), 1)
    bins = first[:, None] + np.arange(width)  # (n_mels, width)
    inside = np.arange(width) < count[:, None]
    bins = np.where(inside, bins, 0)
    weights = np.where(inside, np.take_along_axis(basis, bins, axis=1), 0.0)
    # a triangle's taps are one run, so the taps hold every nonzero of the basis
    assert np.count_nonzero(weights) == np.count_nonzero(basis)
    return bins, weights


def mel_projection(spec: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """(bins, frames) magnitude spectrogram -> (n_mels, frames) float64 mel energies, summed tap by tap.

    Equal to `_mel_basis(cfg) @ spec` up to rounding, but with one summation order on every machine.
    """
    bins, weights = _mel_taps(cfg)
    spec = spec.astype(np.float64, copy=False)
    mel = np.zeros((bins.shape[0], spec.shape[1]))
    for tap in range(bins.shape[1]):
        mel += weights[:, tap, None] * spec[bins[:, tap]]  # (n_mels, frames): one multiply, one add each
    return mel


def num_frames(seconds: float, cfg: LogMelConfig | None = None) -> int:
    """Spectrogram frames for a clip of this length (a 10 s clip at the defaults: 1001)."""
    cfg = cfg or LogMelConfig()
    samples = int(round(seconds * cfg.sample_rate))
    if cfg.center:
        return 1 + samples // cfg.hop_length
    return 1 + max(0, samples - cfg.n_fft) // cfg.hop_length


def log_mel(audio: np.ndarray, cfg: LogMelConfig | None = None) -> np.ndarray:
    """(S,) mono samples at cfg.sample_rate -> (n_mels, frames) float32, always finite."""
    cfg = cfg or LogMelConfig()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"log_mel wants mono (S,) audio, got shape {audio.shape}")
    if audio.size == 0:
        raise ValueError("log_mel got no samples")
    if not np.isfinite(audio).all():
        raise ValueError("log_mel got NaN or inf samples")
    if cfg.center:
        # the zero padding librosa's centring does (pad_mode="constant"), done here because librosa
        # warns on every clip shorter than one window, from worker threads where warnings can't be scoped
        audio = np.pad(audio, (cfg.n_fft // 2, cfg.n_fft // 2))
    if audio.size < cfg.n_fft:
        audio = np.pad(audio, (0, cfg.n_fft - audio.size))  # uncentred: one frame for a too-short clip
    stft = librosa.stft(audio, n_fft=cfg.n_fft, hop_length=cfg.hop_length, window="hann", center=False)
    spec = np.abs(stft) ** cfg.power  # (1 + n_fft // 2, frames)
    mel = mel_projection(spec, cfg)  # (n_mels, frames)
    return np.log(mel + cfg.log_offset).astype(np.float32)


def fixed_length(spec: np.ndarray, frames: int) -> np.ndarray:
    """Crop or pad a (n_mels, T) spectrogram to (n_mels, frames).

    Longer: keep the first `frames` (the window start is the annotated onset).
    Shorter: repeat the clip end to end (wrap). A constant pad would add a stretch of
    silence floor that no 10 s training clip has, and the CNN averages over time, so
    repetition keeps a short clip's statistics while changing its length.
    """
    spec = np.asarray(spec)
    if spec.ndim != 2:
        raise ValueError(f"fixed_length wants (n_mels, T), got shape {spec.shape}")
    if frames <= 0:
        raise ValueError(f"frames must be positive, got {frames}")
    length = spec.shape[1]
    if length == 0:
        raise ValueError("cannot pad a spectrogram with no frames")
    if length >= frames:
        return np.ascontiguousarray(spec[:, :frames])
    return np.pad(spec, ((0, 0), (0, frames - length)), mode="wrap")
