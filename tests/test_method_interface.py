"""A method written outside the package (examples/methods/dem_av.py, DEM) runs through the model interface; a
method that breaks the interface gets an error naming it; a file never chooses which code is imported."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.models.method import MethodError, ZSLMethod
from avgzsl.models.registry import BUILTIN_METHODS, create_model, method_class
from avgzsl.pipeline import config_check
from avgzsl.pipeline.code_deps import code_digest, method_files
from avgzsl.settings.experiment import MODEL_KINDS, build_experiment
from avgzsl.training.checkpoint import CheckpointError, load_checkpoint
from avgzsl.training.run import run_experiment

REPO = Path(__file__).resolve().parents[1]
DIMS = {"audio_dim": 24, "video_dim": 20, "text_dim": 12}


@pytest.fixture
def examples(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "examples" / "methods"))


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(SyntheticConfig(n_classes=8, n_seen=5, clips_per_class={"trn": 12, "val": 4, "tst": 4},
                                            **DIMS, seed=1))


def dem_config(**options):
    return build_experiment(name="dem", model={"kind": "dem_av:DEM", **DIMS, "options": options},
                            train={"epochs": 3, "batch_size": 16, "lr": 0.05, "milestones": [100], "device": "cpu"})


def test_the_example_method_trains_scores_and_reports_under_its_label(examples, splits, tmp_path):
    metrics = run_experiment(dem_config(hidden_dim=16), splits, tmp_path)
    assert metrics["label"] == "DEM" and metrics["model"] == "dem_av:DEM"
    assert set(metrics["classification"]) == {"audio", "video", "both"}
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= saved["classification"]["both"]["beta0"]["HM"] <= 1.0
    history = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert {"audio_ls", "video_ls", "decay"} <= set(history)  # each named term logged


def test_options_are_read_into_the_methods_dataclass_and_checked(examples):
    model = create_model(dem_config(hidden_dim=16).model, dem_config().loss)
    assert model.options.hidden_dim == 16 and model.to_audio[0].out_features == 16
    with pytest.raises(MethodError, match=r"DEM: unknown model.options \['hiden_dim'\]"):
        create_model(dem_config(hiden_dim=16).model, dem_config().loss)
    with pytest.raises(MethodError, match=r"DEM: model.options.hidden_dim must be int, got 'big'"):
        create_model(dem_config(hidden_dim="big").model, dem_config().loss)
    problems = config_check.experiment_problems({"kind": "dem_av:DEM", "options": {"hiden_dim": 3}}, {}, {})
    assert problems and problems[0][:2] == ("model", "options")


class _Broken(ZSLMethod):
    label = "Broken"

    mode = "nan"

    def __init__(self, model_cfg, loss_cfg):
        super().__init__(model_cfg, loss_cfg)
        self.w = torch.nn.Parameter(torch.ones(1))

    def training_terms(self, batch):
        if self.mode == "tensor":
            return self.w.sum() * batch["xa"].sum()
        if self.mode == "vector":
            return {"l": self.w * batch["xa"].sum(1)}
        return {"l": self.w.sum() * float("nan")}

    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion="equal"):
        d = torch.zeros(x_a.shape[0], x_text.shape[0] + 1)
        return {"audio": d, "video": d, "both": d}


@pytest.mark.parametrize("mode,says", [
    ("tensor", r"Broken.training_terms\(batch\) returned Tensor; expected a non-empty dict"),
    ("vector", r"Broken.training_terms\(batch\)\['l'\] is \(32,\); expected a scalar tensor"),
    ("nan", r"Broken.training_terms\(batch\) gave \{'l': nan\} at batch 1 of the epoch: .*a smaller "
            r"train.lr than 0.3 \(sgd\)"),
])
def test_a_method_breaking_the_training_contract_is_named(monkeypatch, splits, mode, says):
    from avgzsl.training import train

    monkeypatch.setitem(BUILTIN_METHODS, "avgzslnet", type("Broken", (_Broken,), {"mode": mode}))
    cfg = build_experiment(model=DIMS, train={"epochs": 1, "batch_size": 16, "device": "cpu", "select_epoch": False})
    with pytest.raises(MethodError, match=says):
        train.train_model(cfg, splits["trn"], progress=False)


def test_distances_of_the_wrong_shape_are_named(monkeypatch, splits):
    from avgzsl.evaluation.scoring import model_distances

    monkeypatch.setitem(BUILTIN_METHODS, "avgzslnet", _Broken)
    cfg = build_experiment(model=DIMS)
    model = create_model(cfg.model, cfg.loss)
    n, c = len(splits["tst"].labels), splits["tst"].text.shape[0]
    with pytest.raises(MethodError, match=rf"Broken.distances\(...\)\['audio'\] is \({n}, {c + 1}\); expected a "
                                          rf"\({n}, {c}\) tensor"):
        model_distances(model, splits["tst"], torch.device("cpu"))


def test_a_kind_must_name_a_method_class_and_nothing_else_is_called(monkeypatch):
    import os

    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("a kind made the pipeline call os.system"))
    with pytest.raises(MethodError, match="not a subclass of avgzsl.models.method.ZSLMethod"):
        method_class("os:system")
    with pytest.raises(MethodError, match="cannot import 'no_such_module_xyz'"):
        method_class("no_such_module_xyz:M")


def _write_method_package(root: Path, name: str, extra: str = "") -> None:
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / name / "helpers.py").write_text("WIDTH = 6\n")
    (root / name / "method.py").write_text(textwrap.dedent(f"""
        import torch
        from avgzsl.models.method import ZSLMethod
        from {name}.helpers import WIDTH
        IMPORTED = True


        class Tiny(ZSLMethod):
            label = "Tiny"

            def __init__(self, model_cfg, loss_cfg):
                super().__init__(model_cfg, loss_cfg)
                self.net = torch.nn.Linear(model_cfg.text_dim, WIDTH)
        {extra}
        """))


def test_a_checkpoint_cannot_choose_which_module_is_imported(tmp_path, monkeypatch):
    from avgzsl.formats.torch_files import save_torch_file
    from avgzsl.training.checkpoint import _checkpoint

    _write_method_package(tmp_path, "ckpt_plugin_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = build_experiment(model={"kind": "ckpt_plugin_pkg.method:Tiny", **DIMS})
    model = create_model(cfg.model, cfg.loss)
    save_torch_file(_checkpoint(cfg, model, 1), tmp_path / "tiny.pt")
    for name in [m for m in sys.modules if m.startswith("ckpt_plugin_pkg")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(CheckpointError, match=r"tiny.pt: model.kind 'ckpt_plugin_pkg.method:Tiny' is code outside "
                                              r"avgzsl, named by a file; .*--method ckpt_plugin_pkg.method:Tiny"):
        load_checkpoint(tmp_path / "tiny.pt", device="cpu")
    assert "ckpt_plugin_pkg.method" not in sys.modules
    loaded, _, _ = load_checkpoint(tmp_path / "tiny.pt", device="cpu", method="ckpt_plugin_pkg.method:Tiny")
    assert torch.equal(loaded.net.weight, model.net.weight)


def test_the_code_digest_follows_a_user_method_and_its_own_imports(tmp_path, monkeypatch):
    _write_method_package(tmp_path, "digest_plugin_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    kind = "digest_plugin_pkg.method:Tiny"
    files = dict(method_files(kind))
    assert set(files) == {"digest_plugin_pkg.method", "digest_plugin_pkg.helpers"}
    script = REPO / "workflow" / "scripts" / "train_seed.py"
    base = code_digest(script, REPO)
    first = code_digest(script, REPO, method=kind)
    assert first != base and code_digest(script, REPO, method="avgzslnet") == base
    helpers = tmp_path / "digest_plugin_pkg" / "helpers.py"
    helpers.write_text("# a comment changes no code\nWIDTH = 6\n")
    assert code_digest(script, REPO, method=kind) == first
    helpers.write_text("WIDTH = 7\n")
    assert code_digest(script, REPO, method=kind) != first


def test_the_config_checks_torch_free_copy_matches_what_built_ins_declare():
    assert set(BUILTIN_METHODS) == set(MODEL_KINDS)
    learns = {k for k, cls in BUILTIN_METHODS.items() if cls.learns_attention}
    assert learns == set(config_check.BUILTIN_ATTENTION)
    assert all(cls.label for cls in BUILTIN_METHODS.values())
    with_options = {k for k, cls in BUILTIN_METHODS.items() if cls.Options is not None}
    assert with_options == set(config_check.BUILTIN_OPTIONS)
    reads_sequences = {k for k, cls in BUILTIN_METHODS.items() if cls.sequence_inputs}
    assert reads_sequences == set(config_check.BUILTIN_SEQUENCE_INPUTS)


def test_a_baseline_of_ones_own_goes_through_the_same_door(examples):
    import numpy as np

    from avgzsl.baselines import baseline_class, baseline_label, create_baseline

    assert baseline_label("soc_ridge:SOC") == "SOC" and baseline_class("soc_ridge:SOC").test_modalities == (
        "audio", "video")
    rng = np.random.default_rng(0)
    text = rng.standard_normal((4, 6))
    labels = np.repeat(np.arange(3), 10)
    x = text[labels] @ rng.standard_normal((6, 9)) + 0.01 * rng.standard_normal((30, 9))
    model = create_baseline("soc_ridge:SOC", ridge=0.1).fit(x, labels, text, np.array([True, True, True, False]))
    assert (model.distances(x).argmin(1) == labels).mean() > 0.9
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lam'\]"):
        create_baseline("soc_ridge:SOC", lam=1.0)
    with pytest.raises(ValueError, match="not a subclass of avgzsl.baselines.ZeroShotBaseline"):
        baseline_class("os:system")
    problems = config_check._baseline_problems("b", {"baseline": "no_such_module_xyz:B"})
    assert problems and problems[0][0] == "experiments.b.baseline"


def test_the_example_runs_under_avcas_two_stage_protocol_in_bfloat16_and_recomputes(examples, splits, tmp_path):
    from avgzsl.evaluation.saved_scores import recompute_run

    cfg = build_experiment(name="dem", model={"kind": "dem_av:DEM", **DIMS, "options": {"hidden_dim": 16}},
                           train={"epochs": 2, "batch_size": 16, "lr": 0.05, "milestones": [100], "device": "cpu",
                                  "protocol": "avca", "precision": "bfloat16"})
    metrics = run_experiment(cfg, splits, tmp_path)
    assert metrics["protocol"] == "avca" and metrics["label"] == "DEM"
    history = (tmp_path / "history.csv").read_text()
    assert "retrain" in history  # stage 2: retrained on trn + val for the selected number of epochs
    assert recompute_run(tmp_path) == json.loads((tmp_path / "metrics.json").read_text())


def test_the_cli_trains_and_evaluates_a_method_of_ones_own(examples, tmp_path, capsys):
    from released_helpers import shard_args, write_our_shards

    from avgzsl.cli import main

    shards = write_our_shards(tmp_path / "shards", audio_dim=16, video_dim=12, text_dim=50)
    fast = ["--quiet", "--set", "train.epochs=2", "--set", "train.batch_size=32"]
    assert main(["train", *shard_args(shards), "--out", str(tmp_path / "run"), "--set", "model.kind=dem_av:DEM",
                 "--set", "model.options={hidden_dim: 8}", *fast]) == 0
    checkpoint = str(tmp_path / "run" / "seed0" / "checkpoint.pt")
    assert main(["evaluate", *shard_args(shards), "--checkpoint", checkpoint, "--out", str(tmp_path / "ev")]) == 1
    assert "--method dem_av:DEM" in capsys.readouterr().err
    assert main(["evaluate", *shard_args(shards), "--checkpoint", checkpoint, "--out", str(tmp_path / "ev"),
                 "--method", "dem_av:DEM"]) == 0
    trained = json.loads((tmp_path / "run" / "seed0" / "metrics.json").read_text())
    evaluated = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert evaluated["classification"]["both"]["beta0"] == trained["classification"]["both"]["beta0"]
