"""One summary.json layout: the workflow and `avgzsl train` write the same file, atomically and as strict JSON;
the reader refuses anything else, naming the file; undefined numbers (null) leave empty table cells."""

from __future__ import annotations

import json
import math

import pytest
from released_helpers import shard_args, write_our_shards

from avgzsl.cli import main
from avgzsl.evaluation.summary import SUMMARY_KEYS, SummaryError, read_summary, write_summary
from avgzsl.pipeline.run_folders import summarize_experiment

FAST = ["--quiet", "--set", "train.epochs=2", "--set", "train.batch_size=32"]


def _run(s: float, u: float) -> dict:
    numbers = {"S": s, "U": u, "HM": 2 * s * u / (s + u) if u == u else math.nan, "ZSL": u}
    return {"model": "cjme", "seed": 0, "classification": {"both": {"beta0": numbers, "calibrated": numbers}},
            "retrieval": {"both": {"S": s, "U": u, "HM": 0.5}}}


def test_the_cli_and_the_workflow_write_the_same_summary(tmp_path):
    """`avgzsl train` over two seeds, and the workflow's summary step over the same seed folders with the
    workflow's experiment entry for the same settings: the same bytes."""
    shards = write_our_shards(tmp_path / "shards", audio_dim=16, video_dim=12, text_dim=8)
    out = tmp_path / "cli"
    assert main(["train", *shard_args(shards), "--out", str(out), "--seeds", "0", "1", *FAST]) == 0
    spec = {"name": "avgzslnet", "preset": "official", "seeds": [0, 1], "model": {}, "loss": {},
            "train": {"epochs": 2, "batch_size": 32}}
    workflow = summarize_experiment(spec, [str(out / "seed0"), str(out / "seed1")],
                                    out=str(tmp_path / "workflow" / "summary.json"))
    cli = read_summary(out / "summary.json")
    assert tuple(sorted(cli)) == tuple(sorted(SUMMARY_KEYS)) == tuple(sorted(workflow))
    assert (cli["experiment"], cli["kind"], cli["spec"]) == ("avgzslnet", "avgzslnet", spec)
    assert (out / "summary.json").read_text() == (tmp_path / "workflow" / "summary.json").read_text()


def test_the_writer_keeps_the_workflows_format_and_writes_null_for_undefined(tmp_path):
    spec = {"name": "e", "baseline": "cjme"}
    summary = write_summary(tmp_path / "e" / "summary.json", spec, [_run(0.5, math.nan)])
    text = (tmp_path / "e" / "summary.json").read_text()
    assert json.loads(text)["summary"]["classification/both/beta0/U"]["mean"] is None
    assert "NaN" not in text and text.endswith("}\n") and text.startswith('{\n  "experiment": "e",\n  "kind": "cjme"')
    assert not [p for p in (tmp_path / "e").iterdir() if p.name != "summary.json"]  # no temporary file left
    assert summary["kind"] == "cjme" and read_summary(tmp_path / "e" / "summary.json")["spec"] == spec
    # defined numbers: the bytes the workflow wrote before the writer was shared (json.dumps, indent 2, sorted keys)
    defined = write_summary(tmp_path / "d.json", spec, [_run(0.5, 0.25), _run(0.75, 0.5)])
    assert (tmp_path / "d.json").read_text() == json.dumps(defined, indent=2, sort_keys=True) + "\n"


def _valid() -> dict:
    entry = {"mean": 0.5, "std": 0.0, "ci95": 0.0, "n": 1}
    return {"experiment": "e", "kind": "cjme", "spec": {"name": "e", "baseline": "cjme"}, "runs": [{"seed": 0}],
            "summary": {"classification/both/beta0/S": entry}}


BAD = [
    ("no kind (the old `avgzsl train` layout)", lambda v: v.pop("kind"), r"lacks \['kind'\]"),
    ("only the statistics", lambda v: [v.pop(k) for k in ("experiment", "kind", "spec", "runs")], "lacks"),
    ("an unknown key", lambda v: v.update(extra=1), "keys no summary has"),
    ("runs not a list", lambda v: v.update(runs={}), "'runs' is a dict, not a list"),
    ("another experiment's spec", lambda v: v["spec"].update(name="f"), "spec name 'f'"),
    ("a statistic missing", lambda v: v["summary"]["classification/both/beta0/S"].pop("ci95"), "summary entries"),
]


@pytest.mark.parametrize("case,spoil,says", BAD, ids=[c[0] for c in BAD])
def test_the_reader_refuses_another_layout_naming_the_file(tmp_path, case, spoil, says):
    path = tmp_path / "runs" / "e" / "summary.json"
    path.parent.mkdir(parents=True)
    value = _valid()
    path.write_text(json.dumps(value))
    assert read_summary(path) == value
    spoil(value)
    path.write_text(json.dumps(value))
    with pytest.raises(SummaryError, match=says) as err:
        read_summary(path)
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize("text,says", [("NaN", "NaN is not JSON"), ('{"experiment": ', "not strict JSON"),
                                       ("[1, 2]", "expected a JSON object, found list")])
def test_the_reader_refuses_what_is_not_strict_json_or_not_an_object(tmp_path, text, says):
    path = tmp_path / "summary.json"
    path.write_text(text)
    with pytest.raises(SummaryError, match=says) as err:
        read_summary(path)
    assert str(path) in str(err.value)


def test_tables_show_an_undefined_number_as_an_empty_cell(tmp_path):
    from avgzsl.reporting.avca_table import benchmark_tables
    from avgzsl.reporting.tables import build_tables

    folder = tmp_path / "ucf"
    (folder / "runs").mkdir(parents=True)
    (folder / "avca_benchmark.json").write_text(json.dumps({"benchmark": "ucf-gzsl", "variant": "main",
                                                            "text_lookup": "correct"}))
    write_summary(folder / "runs" / "cjme" / "summary.json", {"name": "cjme", "baseline": "cjme"},
                  [_run(0.5, math.nan)])
    row = benchmark_tables([folder])["avca_benchmarks_main_correct"].iloc[0]
    assert row["ucf-gzsl S"] == "50.00" and row["ucf-gzsl U"] == "" and row["ucf-gzsl HM"] == ""
    summary = read_summary(folder / "runs" / "cjme" / "summary.json")
    table = build_tables({"cjme": summary}, "demo")["table1_classification"].set_index(["experiment", "Test"])
    assert table.loc[("cjme", "both"), "S"] == "50.00" and table.loc[("cjme", "both"), "U"] == ""
