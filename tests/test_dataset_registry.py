"""Datasets as a registry: one object per kind says its inputs, ingestion and stages; nobody compares names."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from avgzsl.datasets import registry
from avgzsl.datasets.kind import DatasetKind
from avgzsl.pipeline.config_check import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]
BASE = {"results": "results", "resources": "resources", "extract": {"text": {"source": "auto"}},
        "avca_gzsl": {"variant": "main", "text_lookup": "correct"}, "features": {"released_root": ""}}


def test_every_registered_name_gives_its_kind():
    for name in registry.names():
        kind = registry.dataset_kind(name)
        assert isinstance(kind, DatasetKind) and kind.name == name
        assert kind.module.startswith("avgzsl.datasets.")


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'nope'; known: demo, audiosetzsl"):
        registry.dataset_kind("nope")


@pytest.mark.parametrize("name,media,imports,two_stage,text", [
    ("demo", "rendered", None, False, "glove-6b-50d"),
    ("audiosetzsl", "downloaded", None, False, "resources/word2vec/GoogleNews-vectors-negative300.bin"),
    ("custom", "files", None, False, "glove-6b-50d"),
    ("features", None, None, False, "glove-6b-50d"),
    ("ucf-gzsl", None, "avca_benchmark", True, "glove-6b-50d"),
])
def test_each_kind_says_how_it_is_ingested(name, media, imports, two_stage, text):
    kind = registry.dataset_kind(name)
    assert (kind.media, kind.features_import(BASE), kind.two_stage, kind.text_source(BASE)) == (
        media, imports, two_stage, text)
    assert kind.extracts == (media is not None)


def test_result_folders_and_training_files_follow_the_kind():
    demo, ucf, features = (registry.dataset_kind(n) for n in ("demo", "ucf-gzsl", "features"))
    assert demo.result_dir(BASE) == "results/demo"
    assert ucf.result_dir(BASE) == "results/ucf-gzsl/main-correct"
    files = demo.training_files(BASE, "R", ["00000", "00001"])
    assert files["audio"] == ["R/features/audio/shard_00000.h5", "R/features/audio/shard_00001.h5"]
    assert "classes_stage1" not in files
    files = ucf.training_files(BASE, "R", [])
    assert files["video"] == ["R/features/video/trn.h5", "R/features/video/val.h5", "R/features/video/tst.h5"]
    assert files["classes_stage1"] == "R/classes_stage1.tsv"
    own = {**BASE, "features": {"released_root": "", "manifest": "m.csv", "classes": "c.tsv", "text": "",
                                "audio": ["a.h5"], "video": ["v.h5"]}}
    assert features.features_import(own) is None
    assert features.training_files(own, "R", []) == {
        "manifest": "m.csv", "classes": "c.tsv", "text": "R/features/text.h5", "audio": ["a.h5"], "video": ["v.h5"]}
    assert features.features_import({**BASE, "features": {"released_root": "x"}}) == "released"


def test_the_rules_and_the_package_ask_the_kind_instead_of_comparing_names():
    names = "|".join(re.escape(n) for n in registry.names())
    name = rf"[\"']({names})[\"']"
    # `x == "demo"`, `x in ("demo", "custom")`, `DATASET in ...` (a tuple like ("features", "ids") is no comparison)
    compare = re.compile(rf"(==|!=)\s*{name}|\bin\s*[(\[]\s*{name}\s*,\s*{name}|DATASET\s*(==|!=|in\b)")
    sources = [*REPO.glob("workflow/rules/*.smk"), REPO / "Snakefile", *REPO.glob("avgzsl/**/*.py")]
    found = [f"{p.relative_to(REPO)}:{i}" for p in sources
             for i, line in enumerate(p.read_text().splitlines(), 1) if compare.search(line)]
    assert found == []


def test_a_new_kind_is_one_module_plus_its_registration(tmp_path, monkeypatch):
    """A kind written outside the package, registered by name: the config check and the manifest use it."""
    (tmp_path / "my_kind.py").write_text(
        "from dataclasses import dataclass\n"
        "import pandas as pd\n"
        "from avgzsl.datasets.kind import DatasetKind\n"
        "from avgzsl.formats.manifest import ClassTable\n"
        "@dataclass(frozen=True)\n"
        "class Mine(DatasetKind):\n"
        "    def path_problems(self, config, need, optional):\n"
        "        need('mine.root', config.get('mine', {}).get('root', ''), 'folder')\n"
        "        return []\n"
        "    def build_manifest(self, settings, *, resources):\n"
        "        rows = [('a', 'dog', 'trn', 'a.mp4'), ('b', 'cat', 'tst', 'b.mp4')]\n"
        "        return pd.DataFrame(rows, columns=['clip_id', 'class', 'split', 'path']), "
        "ClassTable(['dog', 'cat'], [True, False])\n"
        "MINE = Mine('mine', media='files')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.KINDS, "mine", "my_kind:MINE")
    with pytest.raises(ConfigError, match=r"mine\.root: required for dataset mine"):
        check_config({"dataset": "mine"})
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    # the config schema has no section for it: its settings are the kind's own business
    with pytest.raises(ConfigError, match=r"mine.*not allowed|Additional properties|unknown key"):
        check_config({"dataset": "mine", "mine": {"root": "data"}})
    from avgzsl.pipeline.media_steps import dataset_manifest

    manifest, classes = dataset_manifest("mine", {}, resources="r")
    assert list(manifest["clip_id"]) == ["a", "b"] and classes.unseen_names == ["cat"]
    sys.modules.pop("my_kind", None)


def test_the_config_check_refuses_an_unknown_dataset_by_name():
    with pytest.raises(ConfigError, match="dataset: unknown dataset 'imagenet'; known: demo"):
        check_config({"dataset": "imagenet"})
