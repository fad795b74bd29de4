"""The numeric environment every run records: CPU SIMD flags, BLAS library and kernel set, versions, threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import torch

from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.evaluation.saved_scores import write_run
from avgzsl.runtime.numeric_env import cpu_description, numeric_environment

CPUINFO = """processor\t: 0
model name\t: Example CPU @ 2.00GHz
flags\t\t: fpu sse sse2 ssse3 sse4_1 avx avx2 fma avx512f avx512_bf16 amx_tile aes popcnt
processor\t: 1
model name\t: Other CPU
flags\t\t: fpu
"""


def test_cpu_description_keeps_the_model_and_the_simd_flags_of_the_first_cpu():
    cpu = cpu_description(CPUINFO)
    assert cpu["model"] == "Example CPU @ 2.00GHz"
    assert cpu["simd_flags"] == sorted(["sse", "sse2", "ssse3", "sse4_1", "avx", "avx2", "fma", "avx512f",
                                        "avx512_bf16", "amx_tile"])
    assert cpu_description("")["simd_flags"] == []


def test_the_record_names_versions_threads_and_the_blas_kernel_set():
    env = numeric_environment()
    assert env["numpy"] == np.__version__ and env["torch"] == torch.__version__
    assert env["torch_threads"] == torch.get_num_threads()
    blas = [lib for lib in env["math_libraries"] if lib["user_api"] == "blas"]
    assert blas and all(lib["version"] for lib in blas)
    json.dumps(env)  # JSON-ready: it travels in scores.npz and metrics.json


def test_a_forced_openblas_core_type_shows_in_the_record():
    script = "import json; from avgzsl.runtime.numeric_env import numeric_environment; " \
             "print(json.dumps(numeric_environment()))"
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "OPENBLAS_CORETYPE": "Haswell"},
                         capture_output=True, text=True, check=True)
    env = json.loads(out.stdout)
    assert env["settings"]["OPENBLAS_CORETYPE"] == "Haswell"
    openblas = [lib for lib in env["math_libraries"] if lib.get("internal_api") == "openblas"]
    assert openblas and {lib["architecture"] for lib in openblas} == {"Haswell"}


def test_every_written_run_carries_the_record_in_its_scores_and_metrics(tmp_path):
    cfg = SyntheticConfig(n_classes=4, n_seen=3, clips_per_class={"trn": 2, "val": 2, "tst": 3}, audio_dim=6,
                          video_dim=6, text_dim=5)
    test = synthetic_splits(cfg)["tst"]
    distances = np.random.default_rng(0).random((len(test.labels), len(test.classes.names)))
    scores = {m: distances for m in ("audio", "video", "both")}
    metrics = write_run(tmp_path, test, scores, run_info={"experiment": "e", "model": "m", "seed": 0,
                                                          "protocol": "paper"})
    assert metrics["numeric_environment"]["numpy"] == np.__version__
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["numeric_environment"] == json.loads(json.dumps(numeric_environment()))
    with np.load(tmp_path / "scores.npz") as z:
        assert json.loads(str(z["run_info"]))["numeric_environment"]["torch"] == torch.__version__


def test_the_record_holds_plain_types_only_so_weights_only_loading_reads_it(tmp_path):
    """torch.__version__ is a str subclass that torch.load(weights_only=True) refuses (the audio CNN's checkpoint
    carries this record)."""
    def plain(value):
        if isinstance(value, dict):
            return all(type(k) is str and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, float, bool)

    env = numeric_environment()
    assert plain(env)
    torch.save({"env": env}, tmp_path / "x.pt")
    assert torch.load(tmp_path / "x.pt", weights_only=True)["env"] == env
