"""Tables say what they show: how "both" was fused, how AVCA was scored, which columns lead under AVCA-GZSL's
protocol, one spelling of every method, and what each benchmark-table row ran with."""

from __future__ import annotations

import json

import pytest

from avgzsl.evaluation.summary import write_summary
from avgzsl.reporting.avca_table import benchmark_tables, write_benchmark_tables
from avgzsl.reporting.names import display_name
from avgzsl.reporting.tables import build_tables, table_note, to_markdown

ENTRY = {"mean": 0.4, "std": 0.1, "ci95": 0.2, "n": 2}


def fake_run(model: str, protocol: str, fusion: str | None, modalities=("audio", "video", "both"), **extra) -> dict:
    run = {"model": model, "protocol": protocol, "epochs": 3, "missing_modality": "exclude",
           "classification": {m: {} for m in modalities}, "retrieval": {m: {} for m in modalities}, **extra}
    if fusion is not None:
        run["both_fusion"] = fusion
    return run


def fake_summary(name: str, run: dict, spec: dict | None = None) -> dict:
    modalities = list(run["classification"])
    keys = [f"classification/{m}/{b}/{k}" for m in modalities for b in ("beta0", "calibrated")
            for k in ("S", "U", "HM", "ZSL")] + [f"retrieval/{m}/{k}" for m in modalities for k in ("S", "U", "HM")]
    return {"experiment": name, "kind": run["model"], "spec": spec or {"name": name, "preset": "avca"},
            "runs": [run, run], "summary": {k: ENTRY for k in keys}}


def avca_protocol_summaries() -> dict[str, dict]:
    return {
        "avgzslnet": fake_summary("avgzslnet", fake_run("avgzslnet", "avca", "sum")),
        "cjme_attn": fake_summary("cjme_attn", fake_run("cjme", "avca", "attention")),
        "avca": fake_summary("avca", fake_run("avca", "avca", "video_branch", avca_scoring="video_branch")),
        "eszsl": fake_summary("eszsl", fake_run("eszsl", "avca", None, ("video",)),
                              {"name": "eszsl", "baseline": "eszsl"}),
    }


def header(markdown: str) -> list[str]:
    line = next(row for row in markdown.splitlines() if row.startswith("| Model"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_under_the_avca_protocol_calibrated_columns_lead_with_their_hm_beside_ours():
    t1 = build_tables(avca_protocol_summaries(), "ucf-gzsl", "main")["table1_classification"]
    columns = header(to_markdown(t1, "t1"))
    assert columns[2:5] == ["S (calibrated)", "U (calibrated)", "HM (calibrated)"]
    assert columns[5] == "HM (AVCA-GZSL)" and columns[6:8] == ["ZSL", "ZSL (AVCA-GZSL)"]
    assert columns[8:] == ["S (β = 0)", "U (β = 0)", "HM (β = 0)"]  # after, and marked
    note = table_note(avca_protocol_summaries(), "ucf-gzsl", "main")
    assert "calibrated columns lead" in note and "beta = 0 unless marked" not in note


def test_the_paper_protocol_keeps_its_order():
    summaries = {"avgzslnet": fake_summary("avgzslnet", fake_run("avgzslnet", "paper", "equal"))}
    columns = header(to_markdown(build_tables(summaries, "demo")["table1_classification"], "t1"))
    assert columns[2:8] == ["S", "U", "HM", "S (calibrated)", "U (calibrated)", "HM (calibrated)"]
    assert "beta = 0 unless marked calibrated" in table_note(summaries, "demo")


def test_both_rows_say_sum_or_mean_and_avca_says_video_branch():
    t1 = build_tables(avca_protocol_summaries(), "ucf-gzsl", "main")["table1_classification"]
    label = t1.set_index(["experiment", "Test"])["Model"]
    assert label[("avgzslnet", "both")] == "AVGZSLNet (sum)"
    assert label[("avgzslnet", "audio")] == "AVGZSLNet"  # only the fused row carries the fusion
    assert label[("cjme_attn", "both")] == "CJME (w/ attn)"
    assert {label[("avca", m)] for m in ("audio", "video", "both")} == {"AVCA (video branch)"}
    note = table_note(avca_protocol_summaries(), "ucf-gzsl", "main")
    assert "avca: avca_scoring: video_branch" in note and "three identical rows" in note
    assert "avgzslnet: both = sum of the audio and video distances" in note
    paper = {"avgzslnet": fake_summary("avgzslnet", fake_run("avgzslnet", "paper", "equal"))}
    for name in ("table1_classification", "table2_retrieval", "table3_cmd_ablation"):
        table = build_tables(paper, "demo")[name].set_index(["experiment", "Test"])
        both = "T→AV" if name == "table2_retrieval" else "both"
        assert table.loc[("avgzslnet", both), "Model"].endswith("(eq wt, mean)"), name
    assert "both = mean of the audio and video distances" in table_note(paper, "demo")


def test_avca_per_modality_scoring_is_named_and_a_run_without_the_record_keeps_its_label():
    summaries = {"avca": fake_summary("avca", fake_run("avca", "avca", "sum", avca_scoring="per_modality")),
                 "old": fake_summary("old", fake_run("avgzslnet", "avca", None))}
    note = table_note(summaries, "ucf-gzsl", "main")
    assert "avca: avca_scoring: per_modality" in note and "both = sum" in note
    label = build_tables(summaries, "ucf-gzsl", "main")["table1_classification"].set_index(
        ["experiment", "Test"])["Model"]
    assert label[("avca", "both")] == "AVCA (sum)" and label[("old", "both")] == "old"


def write_result(folder, summaries: dict[str, dict], text_lookup: str = "avca_compat"):
    folder.mkdir(parents=True)
    (folder / "avca_benchmark.json").write_text(json.dumps({"benchmark": "ucf-gzsl", "variant": "main",
                                                            "text_lookup": text_lookup}))
    for name, summary in summaries.items():
        write_summary(folder / "runs" / name / "summary.json", summary["spec"], summary["runs"])
    return folder


@pytest.fixture
def deep_spec():
    return {"name": "avgzslnet", "preset": "avca", "seeds": [0, 1], "model": {}, "loss": {}, "train": {}}


def test_one_spelling_of_each_method_in_both_tables(tmp_path, deep_spec):
    summary = fake_summary("avgzslnet", fake_run("avgzslnet", "avca", "sum"), deep_spec)
    folder = write_result(tmp_path / "ucf", {"avgzslnet": summary})
    table = benchmark_tables([folder])["avca_benchmarks_main_avca_compat"]
    t1 = build_tables({"avgzslnet": summary}, "ucf-gzsl", "main")["table1_classification"]
    ours = table[table["experiment"] == "avgzslnet"].iloc[0]
    assert ours["method"] == "AVGZSLNet" == display_name("avgzslnet")
    assert set(t1[t1["Test"] != "both"]["Model"]) == {ours["method"]}  # the same name in Table 1
    assert ours["ucf-gzsl HM (AVCA-GZSL)"] == "18.05"  # their row found under the shared spelling


def test_benchmark_table_notes_say_text_pairing_scoring_and_preset_per_row(tmp_path, deep_spec):
    summaries = {"avgzslnet": fake_summary("avgzslnet", fake_run("avgzslnet", "avca", "sum"), deep_spec),
                 "avca": fake_summary("avca", fake_run("avca", "avca", "video_branch", avca_scoring="video_branch"),
                                      {**deep_spec, "name": "avca", "preset": "avca-ucf-main",
                                       "model": {"kind": "avca"}}),
                 "eszsl": fake_summary("eszsl", fake_run("eszsl", "avca", None, ("video",)),
                                       {"name": "eszsl", "baseline": "eszsl"})}
    folder = write_result(tmp_path / "ucf", summaries, text_lookup="correct")
    write_benchmark_tables([folder], tmp_path / "out")
    note = (tmp_path / "out" / "avca_benchmarks_main_correct.md").read_text().split("Rows of ours, as run:")[1]
    lines = {line.split(":")[0]: line for line in note.strip().splitlines()}
    assert set(lines) == {"- AVGZSLNet (avgzslnet)", "- AVCA (avca)", "- ESZSL (eszsl)"}
    assert all("word vectors correct" in line and "protocol avca" in line for line in lines.values())
    assert "preset avca," in lines["- AVGZSLNet (avgzslnet)"] and "sum of the audio and video" in lines[
        "- AVGZSLNet (avgzslnet)"]
    assert "preset avca-ucf-main" in lines["- AVCA (avca)"] and "video_branch" in lines["- AVCA (avca)"]
    assert "baseline eszsl" in lines["- ESZSL (eszsl)"] and "the video row" in lines["- ESZSL (eszsl)"]


def test_a_method_of_ones_own_shows_under_its_recorded_label_in_both_tables(tmp_path, deep_spec):
    run = fake_run("dem_av:DEM", "avca", "sum", label="DEM")
    summary = fake_summary("dem", run, {**deep_spec, "name": "dem", "model": {"kind": "dem_av:DEM"}})
    folder = write_result(tmp_path / "ucf", {"dem": summary})
    table = benchmark_tables([folder])["avca_benchmarks_main_avca_compat"]
    assert list(table[table["experiment"] == "dem"]["method"]) == ["DEM"]
    t1 = build_tables({"dem": summary}, "ucf-gzsl", "main")["table1_classification"]
    assert dict(zip(t1["Test"], t1["Model"])) == {"audio": "DEM", "video": "DEM", "both": "DEM (sum)"}
