"""TCaF's temporal layout -> import -> both stages (TCaF on sequences, AVGZSLNet on their means) -> the benchmark
table with TCaF's published numbers beside its row; through the command line, in process."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from avgzsl.cli import EXIT_OK, main
from tests.avca_helpers import write_class_split
from tests.tcaf_helpers import SMALL_DIMS, use_small_dims, write_tcaf_features

TINY = {"depth": 1, "heads": 2, "dim_head": 4, "mlp_dim": 8, "encoder_hidden": 8, "decoder_hidden": 8,
        "embed_dim": 4, "eval_batch": 5}
TINY_TRAIN = {"epochs": 2, "batches_per_epoch": 2, "batch_size": 4, "device": "cpu"}


@pytest.fixture
def small_dims(monkeypatch):
    use_small_dims(monkeypatch)


def _train(result, name, preset, model, capsys, expect=EXIT_OK):
    config = result / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"model": model, "train": TINY_TRAIN}))
    data = ["--manifest", str(result / "manifest.csv"), "--classes", str(result / "classes.tsv"),
            "--text", str(result / "text.h5"), "--stage1-classes", str(result / "classes_stage1.tsv")]
    for modality in ("audio", "video"):
        data += [f"--{modality}", *(str(result / modality / f"{s}.h5") for s in ("trn", "val", "tst"))]
        if model["kind"] == "tcaf":
            data += [f"--{modality}-seq", *(str(result / f"{modality}_seq" / f"{s}.h5") for s in ("trn", "val", "tst"))]
    code = main(["train", *data, "--out", str(result / "runs" / name), "--name", name, "--preset", preset,
                 "--config", str(config), "--quiet"])
    assert code == expect, capsys.readouterr().err


def test_window_times_that_disagree_with_the_sequences_are_refused(tmp_path, small_dims, capsys):
    """TCaF's rate_video is its input's window spacing: C3D's 0.64 s here, so 1.0 (SeLaVi's) is refused."""
    lists = write_class_split(tmp_path / "lists", "ucf-gzsl")
    write_tcaf_features(tmp_path / "released", lists, "ucf-gzsl", "cls", dims=SMALL_DIMS, clips_per_class=2)
    result = tmp_path / "result"
    assert main(["import-benchmark", str(tmp_path / "released"), str(result), "--dataset", "ucf-gzsl", "--variant",
                 "cls", "--split-lists", str(lists), "--no-verify", "--temporal"]) == EXIT_OK
    capsys.readouterr()
    _train(result, "tcaf", "tcaf-ucf-cls", {"kind": "tcaf", "options": {**TINY, "rate_video": 1.0}}, capsys,
           expect=1)
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "model.options.rate_video is 1 s" in err and "0.64 s apart" in err
    assert not (result / "runs" / "tcaf").exists()


def test_import_train_both_stages_and_table(tmp_path, small_dims, capsys):
    lists = write_class_split(tmp_path / "lists", "ucf-gzsl")
    released = tmp_path / "released"
    write_tcaf_features(released, lists, "ucf-gzsl", "cls", dims=SMALL_DIMS, clips_per_class=4)
    result = tmp_path / "result"
    assert main(["import-benchmark", str(released), str(result), "--dataset", "ucf-gzsl", "--variant", "cls",
                 "--text-lookup", "avca_compat", "--split-lists", str(lists), "--no-verify", "--temporal"]) == EXIT_OK
    assert json.loads((result / "avca_benchmark.json").read_text())["features"] == "temporal"

    _train(result, "tcaf", "tcaf-ucf-cls", {"kind": "tcaf", "options": TINY}, capsys)
    _train(result, "avgzslnet", "avca", {"kind": "avgzslnet"}, capsys)  # the same clips, averaged
    history = pd.read_csv(result / "runs" / "tcaf" / "seed0" / "history.csv")
    assert "retrain" in set(history.get("phase", pd.Series(dtype=str)).dropna())  # stage 2 ran
    assert {"ce", "reg", "rec"} <= set(history.columns)

    assert main(["benchmark-table", str(result), "--out", str(tmp_path / "tables")]) == EXIT_OK
    table = pd.read_csv(next((tmp_path / "tables").glob("avca_benchmarks_cls_avca_compat*.csv")), dtype=str)
    row = table[table["method"] == "TCaF"].iloc[0]
    assert row["ucf-gzsl HM (AVCA-GZSL)"] == "50.78" and row["ucf-gzsl ZSL (AVCA-GZSL)"] == "44.64"
    assert pd.notna(row["ucf-gzsl HM"]) and row["experiment"] == "tcaf"
    assert "AVGZSLNet" in set(table["method"])
    note = next((tmp_path / "tables").glob("avca_benchmarks_cls_avca_compat*.md")).read_text()
    assert "TCaF: TCaF's README" in note

    # the TCaF checkpoint scores again from the command line, sequences given the same way
    seq = [a for m in ("audio", "video") for a in (f"--{m}-seq", *(str(result / f"{m}_seq" / f"{s}.h5")
                                                                     for s in ("trn", "val", "tst")))]
    flat = [a for m in ("audio", "video") for a in (f"--{m}", *(str(result / m / f"{s}.h5") for s in ("trn", "val", "tst")))]
    code = main(["evaluate", "--manifest", str(result / "manifest.csv"), "--classes", str(result / "classes.tsv"),
                 "--text", str(result / "text.h5"), *flat, *seq, "--checkpoint",
                 str(result / "runs" / "tcaf" / "seed0" / "checkpoint.pt"), "--out", str(tmp_path / "eval"),
                 "--device", "cpu"])
    assert code == EXIT_OK, capsys.readouterr().err
    assert (tmp_path / "eval" / "metrics.json").is_file()
