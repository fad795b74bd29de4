"""AVCA-GZSL's benchmarks: class lists (pinned digest), AVCA's word-vector pairing, import into shards and the
stage -> split mapping the two-stage protocol relies on."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from avca_helpers import REAL_LISTS, write_class_split, write_released_features

from avgzsl.datasets.avca_benchmarks import (
    BENCHMARKS,
    VARIANTS,
    BenchmarkSplitError,
    lists_digest,
    locate_class_split,
    mislooked_classes,
    read_class_split,
    text_vectors,
)
from avgzsl.datasets.avca_import import AvcaBenchmarkConfig, import_avca_benchmark, load_class_split
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.shards import FeatureError, read_feature_shard

needs_real_lists = pytest.mark.skipif(not REAL_LISTS.is_dir(), reason=f"{REAL_LISTS}: real class lists not here")


@needs_real_lists
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_real_lists_match_the_pinned_digest(name):
    bench = BENCHMARKS[name]
    assert lists_digest(locate_class_split(REAL_LISTS, bench), bench) == bench.lists_digest


@needs_real_lists
@pytest.mark.parametrize("name, variant, wrong, total", [
    ("ucf-gzsl", "main", 5, 9),
    ("vggsound-gzsl", "main", 42, 69),
    ("activitynet-gzsl", "main", 1, 50),
])
def test_avca_lookup_mismatches_counted_on_the_real_lists(name, variant, wrong, total):
    """The issue's reading of their loader: so many test-unseen classes get another class's word vector."""
    split = load_class_split(AvcaBenchmarkConfig(name, variant, split_dir=str(REAL_LISTS)))
    unseen = split.stages["stage_2_test_unseen"]
    assert len(unseen) == total
    assert len(mislooked_classes(split, unseen)) == wrong
    # the same count from the vectors themselves: a dict of distinct vectors under the manual names
    vectors = {split.manual_names[c]: np.full(3, i, dtype=np.float32) for i, c in enumerate(split.all_classes)}
    right = text_vectors(vectors, split, unseen, lookup="correct")
    compat = text_vectors(vectors, split, unseen, lookup="avca_compat")
    assert int((right != compat).any(axis=1).sum()) == wrong


@needs_real_lists
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_real_stage_roles(name):
    """No unseen class of either stage sits in stage-1 training; stage 2 trains on stage_2_train's classes."""
    for variant in VARIANTS:
        split = load_class_split(AvcaBenchmarkConfig(name, variant, split_dir=str(REAL_LISTS)))
        st = {k: set(v) for k, v in split.stages.items()}
        assert not st["stage_1_train"] & (st["stage_1_val_unseen"] | st["stage_2_test_unseen"])
        assert st["stage_1_train"] | st["stage_1_val_seen"] | st["stage_1_val_unseen"] == st["stage_2_train"]


def test_changed_list_fails_the_digest(tmp_path):
    cs = write_class_split(tmp_path / "lists", "ucf-gzsl")
    cfg = AvcaBenchmarkConfig("ucf-gzsl", split_dir=str(tmp_path / "lists"))
    with pytest.raises(BenchmarkSplitError, match="digest"):
        load_class_split(cfg)
    cfg.digest = lists_digest(cs, BENCHMARKS["ucf-gzsl"])
    assert load_class_split(cfg).stages["stage_1_train"]


@pytest.fixture(params=sorted(BENCHMARKS))
def released(tmp_path, request):
    name = request.param
    cs = write_class_split(tmp_path / "lists", name)
    for variant in VARIANTS:
        write_released_features(tmp_path / "rel", cs, name, variant)
    return name, tmp_path, cs


def _import(tmp_path, name, variant, out="out", **kw):
    cfg = AvcaBenchmarkConfig(name, variant, split_dir=str(tmp_path / "lists"), digest=None, **kw)
    import_avca_benchmark(tmp_path / "rel", tmp_path / out, cfg)
    return tmp_path / out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_import_layout_dims_and_class_order(released, variant):
    name, tmp_path, cs = released
    out = _import(tmp_path, name, variant)
    split = read_class_split(cs, BENCHMARKS[name], variant)
    classes = ClassTable.read(out / "classes.tsv")
    assert classes.names == sorted(split.stage2_classes)  # their class_to_idx order
    assert classes.unseen_names == split.stages["stage_2_test_unseen"]
    stage1 = ClassTable.read(out / "classes_stage1.tsv")
    assert stage1.unseen_names == split.stages["stage_1_val_unseen"]
    assert not set(stage1.names) & set(split.stages["stage_2_test_unseen"])
    dims = {"audio": VARIANTS[variant].audio_dim, "video": VARIANTS[variant].video_dim}
    manifest = pd.read_csv(out / "manifest.csv")
    for modality, dim in dims.items():
        for s in ("trn", "val", "tst"):
            shard = read_feature_shard(out / modality / f"{s}.h5")
            assert shard.dim == dim
            assert shard.ids == list(manifest.loc[manifest["split"] == s, "clip_id"])
    # features carried over unchanged from the class files
    mf = manifest.set_index("clip_id")
    shard = read_feature_shard(out / "video" / "tst.h5")
    clip = shard.ids[-1]
    stem = mf.loc[clip, "class"]
    stem = stem.lower() if BENCHMARKS[name].casefold_files else stem
    src = tmp_path / "rel" / "features" / VARIANTS[variant].features_folder / "video" / mf.loc[clip, "stage_list"] / f"{stem}.h5"
    with h5py.File(src) as f:
        row = list(f["video_urls"].asstr()[...]).index(clip)
        assert np.array_equal(f["data"][row], shard.features[-1])
    text = read_feature_shard(out / "text.h5")
    assert text.ids == classes.names and text.dim == 300


def test_variants_differ_only_in_test_unseen(released):
    name, tmp_path, _ = released
    main_out, cls_out = _import(tmp_path, name, "main", "m"), _import(tmp_path, name, "cls", "c")
    m, c = pd.read_csv(main_out / "manifest.csv"), pd.read_csv(cls_out / "manifest.csv")
    key = ["class", "split", "stage_list"]
    m_rest = m[m["stage_list"] != "stage_2_test_unseen"][key].drop_duplicates().reset_index(drop=True)
    c_rest = c[c["stage_list"] != "stage_2_test_unseen"][key].drop_duplicates().reset_index(drop=True)
    pd.testing.assert_frame_equal(m_rest, c_rest)
    m_unseen = set(m.loc[m["stage_list"] == "stage_2_test_unseen", "class"])
    c_unseen = set(c.loc[c["stage_list"] == "stage_2_test_unseen", "class"])
    assert c_unseen < m_unseen


def test_stage_mapping_keeps_unseen_out_of_stage1_training(released):
    name, tmp_path, cs = released
    out = _import(tmp_path, name, "main")
    split = read_class_split(cs, BENCHMARKS[name], "main")
    manifest = pd.read_csv(out / "manifest.csv")
    trn = set(manifest.loc[manifest["split"] == "trn", "class"])
    assert trn == set(split.stages["stage_1_train"])
    assert not trn & (set(split.stages["stage_1_val_unseen"]) | set(split.stages["stage_2_test_unseen"]))
    # stage 2 trains on trn + val: exactly stage_2_train's classes, and the test-unseen ones never
    trn_val = set(manifest.loc[manifest["split"].isin(["trn", "val"]), "class"])
    assert trn_val == set(split.stages["stage_2_train"])
    tst_stages = set(manifest.loc[manifest["split"] == "tst", "stage_list"])
    assert tst_stages == {"stage_2_test_seen", "stage_2_test_unseen"}


def test_text_lookup_switch(released):
    name, tmp_path, cs = released
    right = read_feature_shard(_import(tmp_path, name, "main", "r") / "text.h5")
    compat_out = _import(tmp_path, name, "main", "a", text_lookup="avca_compat")
    compat = read_feature_shard(compat_out / "text.h5")
    split = read_class_split(cs, BENCHMARKS[name], "main")
    vectors = np.load(tmp_path / "rel" / BENCHMARKS[name].text_file("main"), allow_pickle=True).item()
    for cls, row in zip(right.ids, right.features):
        assert np.array_equal(row, vectors[split.manual_names[cls]])
    differs = {c for c, a, b in zip(right.ids, right.features, compat.features) if not np.array_equal(a, b)}
    assert differs == set(mislooked_classes(split, right.ids)) and differs
    record = json.loads((compat_out / "avca_benchmark.json").read_text())
    assert record["avca_text_mismatch"]["applied"] and record["avca_text_mismatch"]["classes"] == len(differs)


def _break_dim(tmp_path):
    path = next((tmp_path / "rel" / "features" / "main_features" / "audio" / "stage_1_train").glob("*.h5"))
    with h5py.File(path, "a") as f:
        del f["data"]
        f.create_dataset("data", data=np.zeros((2, 7), np.float32))
    return path, "7-d features"


def _drop_video_file(tmp_path):
    path = next((tmp_path / "rel" / "features" / "main_features" / "video" / "stage_2_test_unseen").glob("*.h5"))
    path.unlink()
    return path.parent, "no feature file"


def _stray_class_file(tmp_path):
    folder = tmp_path / "rel" / "features" / "main_features" / "audio" / "stage_1_val_unseen"
    src = next(folder.glob("*.h5"))
    (folder / "NotAClass.h5").write_bytes(src.read_bytes())
    return folder / "NotAClass.h5", "not in this stage's class list"


def _shared_clip(tmp_path):
    base = tmp_path / "rel" / "features" / "main_features"
    a = next((base / "audio" / "stage_1_train").glob("*.h5"))
    target = next((base / "audio" / "stage_2_test_seen").glob("*.h5"))
    vt = base / "video" / "stage_2_test_seen" / target.name
    for path in (target, vt):
        with h5py.File(a) as src_f, h5py.File(path, "a") as f:
            urls = src_f["video_urls"][...]
            del f["video_urls"]
            f.create_dataset("video_urls", data=urls, dtype=h5py.string_dtype())
    return target, "is also listed in"


@pytest.mark.parametrize("breaker", [_break_dim, _drop_video_file, _stray_class_file, _shared_clip])
def test_bad_release_names_the_file_and_writes_nothing(tmp_path, breaker):
    cs = write_class_split(tmp_path / "lists", "ucf-gzsl")
    write_released_features(tmp_path / "rel", cs, "ucf-gzsl", "main")
    where, what = breaker(tmp_path)
    with pytest.raises(FeatureError, match=what) as err:
        _import(tmp_path, "ucf-gzsl", "main")
    assert str(where) in str(err.value)
    assert not (tmp_path / "out").exists()


def test_unknown_text_lookup_is_refused(tmp_path):
    write_class_split(tmp_path / "lists", "ucf-gzsl")
    with pytest.raises(ValueError, match="text_lookup"):
        load_class_split(AvcaBenchmarkConfig("ucf-gzsl", text_lookup="guess", split_dir=str(tmp_path / "lists")))


def test_stage_splits_take_each_stages_class_roles(released):
    """Stage 1 sees only its own classes (val-unseen unseen, no test-unseen class or word vector); stage 2
    trains on exactly stage_2_train's classes, all seen, and tests with the test-unseen classes unseen."""
    from avgzsl.datasets.loading import load_feature_splits

    name, tmp_path, cs = released
    out = _import(tmp_path, name, "main")
    split = read_class_split(cs, BENCHMARKS[name], "main")
    shards = {m: [str(out / m / f"{s}.h5") for s in ("trn", "val", "tst")] for m in ("audio", "video")}
    splits = load_feature_splits(manifest=out / "manifest.csv", classes=out / "classes.tsv", text=out / "text.h5",
                                 stage1_classes=out / "classes_stage1.tsv", **shards)
    text = read_feature_shard(out / "text.h5")

    def names(s):
        return [s.classes.names[i] for i in s.labels.tolist()]

    for key in ("trn", "val"):
        s = splits[key]
        assert s.classes.names == split.stage1_classes
        assert set(s.classes.unseen_names) == set(split.stages["stage_1_val_unseen"])
        assert not set(s.classes.names) & set(split.stages["stage_2_test_unseen"])
        rows = [text.ids.index(n) for n in s.classes.names]
        assert np.array_equal(s.text.numpy(), text.features[rows])  # each class keeps its own vector
    assert set(names(splits["trn"])) == set(split.stages["stage_1_train"])
    assert bool(splits["trn"].seen[splits["trn"].labels].all())  # nothing unseen reaches stage-1 training
    assert set(names(splits["val"])) == set(split.stages["stage_1_val_seen"]) | set(split.stages["stage_1_val_unseen"])
    trn_val = splits["trn_val"]
    assert set(names(trn_val)) == set(split.stages["stage_2_train"])
    assert bool(trn_val.seen[trn_val.labels].all())
    assert len(trn_val) == len(splits["trn"]) + len(splits["val"])
    assert set(splits["tst"].classes.unseen_names) == set(split.stages["stage_2_test_unseen"])


def test_relabel_refuses_clips_of_classes_the_stage_does_not_hold(released):
    from avgzsl.datasets.avca_stages import relabel
    from avgzsl.datasets.loading import load_feature_splits

    name, tmp_path, _ = released
    out = _import(tmp_path, name, "main")
    shards = {m: [str(out / m / f"{s}.h5") for s in ("trn", "val", "tst")] for m in ("audio", "video")}
    splits = load_feature_splits(manifest=out / "manifest.csv", classes=out / "classes.tsv", text=out / "text.h5",
                                 **shards)
    with pytest.raises(ValueError, match="does not hold"):
        relabel(splits["tst"], ClassTable.read(out / "classes_stage1.tsv"), what="split tst")


def test_cli_imports_a_benchmark_and_trains_both_stages(tmp_path):
    from avgzsl.cli import main

    cs = write_class_split(tmp_path / "lists", "activitynet-gzsl")
    write_released_features(tmp_path / "rel", cs, "activitynet-gzsl", "cls")
    out = tmp_path / "imported"
    assert main(["import-benchmark", str(tmp_path / "rel"), str(out), "--dataset", "activitynet-gzsl",
                 "--variant", "cls", "--split-lists", str(tmp_path / "lists"), "--no-verify"]) == 0
    shards = [a for m in ("audio", "video") for a in (f"--{m}", *(str(out / m / f"{s}.h5") for s in ("trn", "val", "tst")))]
    run = tmp_path / "run"
    assert main(["train", "--manifest", str(out / "manifest.csv"), "--classes", str(out / "classes.tsv"),
                 "--text", str(out / "text.h5"), *shards, "--stage1-classes", str(out / "classes_stage1.tsv"),
                 "--out", str(run), "--quiet", "--set", "train.epochs=2", "--set", "train.protocol=avca"]) == 0
    metrics = json.loads((run / "seed0" / "metrics.json").read_text())
    assert metrics["coverage"]["trn_val"]["clips"] == metrics["coverage"]["trn"]["clips"] + metrics["coverage"]["val"]["clips"]
    with np.load(run / "seed0" / "val_scores.npz") as val, np.load(run / "seed0" / "scores.npz") as tst:
        assert list(val["class_names"]) == ClassTable.read(out / "classes_stage1.tsv").names  # stage-1 candidates
        assert list(tst["class_names"]) == ClassTable.read(out / "classes.tsv").names
    # a missing class list folder is a clear error, not a traceback
    assert main(["import-benchmark", str(tmp_path / "rel"), str(tmp_path / "o2"), "--dataset", "ucf-gzsl",
                 "--split-lists", str(tmp_path / "nowhere")]) == 1  # bad input: exit 1


@pytest.mark.parametrize("baseline", ["eszsl", "gcca"])
def test_classical_baseline_runs_both_stages(tmp_path, baseline):
    from avgzsl.pipeline.baseline_experiment import run_baseline_experiment

    cs = write_class_split(tmp_path / "lists", "ucf-gzsl")
    write_released_features(tmp_path / "rel", cs, "ucf-gzsl", "main", clips_per_class=3)
    out = _import(tmp_path, "ucf-gzsl", "main")
    shards = {m: [str(out / m / f"{s}.h5") for s in ("trn", "val", "tst")] for m in ("audio", "video")}
    run_baseline_experiment({"name": baseline, "baseline": baseline}, manifest=out / "manifest.csv",
                            classes=out / "classes.tsv", text=out / "text.h5", summary_out=str(tmp_path / "b" / "s.json"),
                            stage1_classes=out / "classes_stage1.tsv", **shards)
    run = tmp_path / "b" / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    manifest = pd.read_csv(out / "manifest.csv")
    assert metrics["protocol"] == "avca"
    assert metrics["stage1_train_clips"] == int((manifest["split"] == "trn").sum())
    assert metrics["train_clips"] == int(manifest["split"].isin(["trn", "val"]).sum())  # stage 2: trn + val, all seen
    with np.load(run / "val_scores.npz") as val, np.load(run / "scores.npz") as tst:
        assert list(val["class_names"]) == ClassTable.read(out / "classes_stage1.tsv").names
        assert list(tst["class_names"]) == ClassTable.read(out / "classes.tsv").names


def test_lists_are_fetched_once_from_an_archive_and_checked(tmp_path):
    import tarfile

    from avgzsl.datasets.avca_benchmarks import fetch_class_split

    bench = BENCHMARKS["vggsound-gzsl"]
    cs = write_class_split(tmp_path / "src", bench.name)
    (cs / "main_split" / "stage_1_train.csv").write_text("filename,label\n")  # clip lists come along, unchecked
    archive = tmp_path / "repo.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src", arcname="AVCA-GZSL-abc/avgzsl_benchmark_datasets")
    digest = lists_digest(cs, bench)
    with pytest.raises(BenchmarkSplitError, match="digest"):
        fetch_class_split(tmp_path / "cache", bench, commit="abc", digest="0" * 64, url=archive.as_uri())
    assert not list((tmp_path / "cache").rglob("*.txt"))  # a failed check leaves nothing in the cache
    got = fetch_class_split(tmp_path / "cache", bench, commit="abc", digest=digest, url=archive.as_uri())
    assert lists_digest(got, bench) == digest
    archive.unlink()  # the second call reads the cache
    assert fetch_class_split(tmp_path / "cache", bench, commit="abc", digest=digest, url=archive.as_uri()) == got


def _fake_result(folder: Path, benchmark: str, variant: str = "main") -> Path:
    (folder / "runs" / "e").mkdir(parents=True)
    (folder / "avca_benchmark.json").write_text(json.dumps({"benchmark": benchmark, "variant": variant,
                                                            "text_lookup": "correct"}))
    entry = {"mean": 0.5, "std": 0.1, "ci95": 0.9, "n": 2}
    summary = {"experiment": "e", "kind": "cjme", "spec": {"name": "e"}, "runs": [{"model": "cjme"}, {"model": "cjme"}],
               "summary": {f"classification/both/{b}/{m}": entry for b in ("beta0", "calibrated")
                           for m in ("S", "U", "HM", "ZSL")}}
    (folder / "runs" / "e" / "summary.json").write_text(json.dumps(summary))
    return folder


def test_benchmark_table_puts_ours_beside_theirs(tmp_path):
    from avgzsl.reporting.avca_table import benchmark_tables

    frames = benchmark_tables([_fake_result(tmp_path / "a", "ucf-gzsl"), _fake_result(tmp_path / "b", "vggsound-gzsl")])
    table = frames["avca_benchmarks_main_correct"]
    row = table[table["method"] == "CJME"].iloc[0]
    assert row["ucf-gzsl HM"] == "50.00 ± 10.00" and row["ucf-gzsl HM (AVCA-GZSL)"] == "12.48"
    assert row["vggsound-gzsl ZSL (AVCA-GZSL)"] == "5.16" and row["activitynet-gzsl HM"] == ""


@pytest.mark.parametrize("make, error", [
    (lambda p: [_fake_result(p / "a", "ucf-gzsl"), _fake_result(p / "b", "ucf-gzsl")], "second result folder"),
    (lambda p: [p], "avca_benchmark.json"),
])
def test_benchmark_table_refuses_ambiguous_or_foreign_folders(tmp_path, make, error):
    from avgzsl.reporting.avca_table import benchmark_tables

    with pytest.raises((ValueError, FileNotFoundError), match=error):
        benchmark_tables(make(tmp_path))


@needs_real_lists
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_import_with_the_real_ucf_lists(tmp_path, variant):
    """The pinned lists (digest checked) with one synthetic clip per class file; UCF's stage lists spell
    HandStandPushups where all_class.txt has HandstandPushups, matched case-insensitively as their loader does."""
    cs = locate_class_split(REAL_LISTS, BENCHMARKS["ucf-gzsl"])
    write_released_features(tmp_path / "rel", cs, "ucf-gzsl", variant, clips_per_class=1)
    cfg = AvcaBenchmarkConfig("ucf-gzsl", variant, split_dir=str(REAL_LISTS))
    record = import_avca_benchmark(tmp_path / "rel", tmp_path / "out", cfg)
    split = read_class_split(cs, BENCHMARKS["ucf-gzsl"], variant)
    assert record["classes_stage2"] == len(split.stage2_classes)
    assert "HandstandPushups" in ClassTable.read(tmp_path / "out" / "classes.tsv").names
    assert record["avca_text_mismatch"]["test_unseen"] == len(mislooked_classes(split, split.stages["stage_2_test_unseen"]))


def _fake_summary(name: str, model: str, modalities: tuple[str, ...], baseline: str | None = None) -> dict:
    entry = {"mean": 0.4, "std": 0.1, "n": 2}
    run = {"model": model, "classification": {m: {} for m in modalities}}
    return {"experiment": name, "spec": {"baseline": baseline} if baseline else {}, "runs": [run, run],
            "summary": {f"classification/{m}/{b}/{k}": entry for m in modalities for b in ("beta0", "calibrated")
                        for k in ("S", "U", "HM", "ZSL")}}


def test_per_dataset_tables_of_a_benchmark_carry_its_published_numbers_not_the_papers():
    from avgzsl.reporting.tables import build_tables, table_note

    summaries = {"avgzslnet": _fake_summary("avgzslnet", "avgzslnet", ("audio", "video", "both")),
                 "devise": _fake_summary("devise", "devise", ("video",), baseline="devise"),
                 "eszsl": _fake_summary("eszsl", "eszsl", ("video",), baseline="eszsl"),
                 "my_avca": _fake_summary("my_avca", "avca", ("audio", "video", "both"))}
    tables = build_tables(summaries, "ucf-gzsl", "main")
    t1 = tables["table1_classification"]
    assert not [c for c in t1.columns if "paper" in c]
    published = t1.set_index(["experiment", "Test"])[["HM (AVCA-GZSL)", "ZSL (AVCA-GZSL)"]]
    assert tuple(published.loc[("avgzslnet", "both")]) == ("18.05", "13.65")  # AVGZSLNET, UCF-GZSL, SeLaVi
    assert tuple(published.loc[("avgzslnet", "audio")]) == ("", "")  # not the row their table reports
    assert tuple(published.loc[("devise", "video")]) == ("23.56", "16.09")  # a classical baseline: its video row
    assert tuple(published.loc[("eszsl", "video")]) == ("", "")  # they published no ESZSL
    assert tuple(published.loc[("my_avca", "both")]) == ("27.15", "20.01")  # an experiment outside the paper's rows
    assert "cjme" not in set(t1["experiment"])  # did not run: no row of empty cells
    # rows outside the paper's layout: audio, video, both, labelled by the experiment's name, or the method's
    # own spelling when the name is only its model kind
    summaries["avca"] = _fake_summary("avca", "avca", ("both", "audio", "video"))
    t1 = build_tables(summaries, "ucf-gzsl", "main")["table1_classification"]
    for name, label in (("my_avca", "my_avca"), ("avca", "AVCA")):
        rows = t1[t1["experiment"] == name]
        assert list(rows["Test"]) == ["audio", "video", "both"] and set(rows["Model"]) == {label}, name
    assert tuple(build_tables(summaries, "vggsound-gzsl", "cls")["table1_classification"].set_index(
        ["experiment", "Test"]).loc[("avgzslnet", "both"), ["HM (AVCA-GZSL)", "ZSL (AVCA-GZSL)"]]) == ("5.26", "4.81")
    for name in ("table2_retrieval", "table3_cmd_ablation", "table4_ct_ablation"):  # they published none of these
        assert not [c for c in tables[name].columns if "paper" in c or "AVCA-GZSL" in c], name
    assert "ucf-gzsl with SeLaVi features" in table_note(summaries, "ucf-gzsl", "main")
    assert "AudioSetZSL" not in table_note(summaries, "ucf-gzsl", "main")
    # AudioSetZSL-like datasets keep the paper's columns and every paper row
    demo = build_tables(summaries, "demo")["table1_classification"]
    assert demo.set_index(["experiment", "Test"]).loc[("cjme", "both"), "HM (paper)"] == "30.79"
    with pytest.raises(ValueError, match="feature set"):
        build_tables(summaries, "ucf-gzsl")


def test_recompute_tables_refuses_a_dataset_other_than_the_runs_record(tmp_path):
    from avgzsl.reporting.recompute import recompute_tables

    folder = _fake_result(tmp_path / "r", "ucf-gzsl")
    with pytest.raises(ValueError, match="benchmark 'ucf-gzsl', not 'vggsound-gzsl'"):
        recompute_tables(folder / "runs", tmp_path / "t", dataset="vggsound-gzsl")
    with pytest.raises(ValueError, match="variant 'main', not 'cls'"):
        recompute_tables(folder / "runs", tmp_path / "t", variant="cls")
