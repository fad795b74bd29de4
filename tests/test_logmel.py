"""Log-mel front end: shapes, finiteness on silence, band placement, fixed-length crop and wrap, and the same
bytes whichever BLAS kernel the machine picks."""

from __future__ import annotations

import os
import subprocess
import sys

import librosa
import numpy as np
import pytest
from avgzsl_extractors.logmel import LogMelConfig, fixed_length, log_mel, mel_projection, num_frames

CFG = LogMelConfig()


def _tone(hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * CFG.sample_rate)) / CFG.sample_rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_shape_dtype_and_frame_count():
    spec = log_mel(_tone(440.0), CFG)
    assert spec.shape == (64, 101) and spec.dtype == np.float32
    assert num_frames(1.0, CFG) == 101 and num_frames(10.0, CFG) == 1001


def test_silence_is_finite_at_the_log_floor():
    spec = log_mel(np.zeros(16000, np.float32), CFG)
    assert np.isfinite(spec).all()
    np.testing.assert_allclose(spec, np.log(CFG.log_offset), atol=1e-6)


def test_a_tone_lands_in_its_mel_band():
    spec = log_mel(_tone(1000.0), CFG)
    centres = librosa.mel_frequencies(n_mels=CFG.n_mels + 2, fmin=CFG.fmin, fmax=CFG.fmax, htk=True)[1:-1]
    loudest = int(np.argmax(spec[:, 10:-10].mean(axis=1)))
    assert abs(centres[loudest] - 1000.0) < 60.0


def test_louder_input_gives_larger_values():
    quiet, loud = log_mel(_tone(440.0) * 0.1, CFG), log_mel(_tone(440.0), CFG)
    assert loud.max() > quiet.max()


def test_audio_shorter_than_a_window_still_gives_a_frame():
    spec = log_mel(np.full(100, 0.1, np.float32), CFG)
    assert spec.shape == (64, 1) and np.isfinite(spec).all()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no samples"):
        log_mel(np.zeros(0, np.float32), CFG)
    with pytest.raises(ValueError, match="mono"):
        log_mel(np.zeros((2, 100), np.float32), CFG)
    with pytest.raises(ValueError, match="NaN"):
        log_mel(np.array([0.0, np.nan] * 300, np.float32), CFG)


def test_fixed_length_crops_the_start_and_wraps_short_clips():
    spec = np.arange(12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(fixed_length(spec, 4), spec[:, :4])
    wrapped = fixed_length(spec[:, :4], 10)
    assert wrapped.shape == (2, 10)
    np.testing.assert_array_equal(wrapped[0], [0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(fixed_length(spec, 6), spec)
    with pytest.raises(ValueError):
        fixed_length(spec[:, :0], 4)


def test_matches_librosa_melspectrogram_with_the_same_settings():
    audio = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    mel = librosa.feature.melspectrogram(
        y=audio, sr=16000, n_fft=400, hop_length=160, power=1.0, n_mels=64, fmin=125, fmax=7500,
        htk=True, norm=None, center=True, pad_mode="constant",
    )
    np.testing.assert_allclose(log_mel(audio, CFG), np.log(mel + 0.01), atol=1e-4)


def test_mel_projection_is_the_basis_product():
    rng = np.random.default_rng(1)
    spec = np.abs(rng.standard_normal((CFG.n_fft // 2 + 1, 57))).astype(np.float32)
    basis = librosa.filters.mel(sr=CFG.sample_rate, n_fft=CFG.n_fft, n_mels=CFG.n_mels, fmin=CFG.fmin,
                                fmax=CFG.fmax, htk=True, norm=None).astype(np.float64)
    np.testing.assert_allclose(mel_projection(spec, CFG), basis @ spec.astype(np.float64), rtol=1e-12, atol=1e-15)


LOG_MEL_DIGEST = """
import hashlib, sys
import numpy as np
from avgzsl_extractors.logmel import log_mel
rng = np.random.default_rng(0)
h = hashlib.sha256()
for _ in range(6):
    h.update(log_mel((rng.standard_normal(32000) * rng.uniform(0.001, 0.5)).astype(np.float32)).tobytes())
print(h.hexdigest())
"""


def test_log_mel_bytes_do_not_depend_on_the_blas_kernel():
    """OpenBLAS picks its kernels by CPU, or by OPENBLAS_CORETYPE; a matrix product's float32 sums then
    differ in the last bit (a projection through `basis @ spec` gives a different digest under each of these)."""
    digests = set()
    for core in ("", "Haswell", "Prescott"):
        env = {**os.environ, "OPENBLAS_CORETYPE": core} if core else \
            {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        out = subprocess.run([sys.executable, "-c", LOG_MEL_DIGEST], env=env, capture_output=True, text=True,
                             check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
