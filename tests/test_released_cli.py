"""The CLI trains and evaluates on shards of any dimensions, refuses bad input naming the file (exit 1, one
line, no traceback), leaves no partial output, and writes strict JSON."""

import json

import numpy as np
import pandas as pd
import pytest
from released_helpers import shard_args, write_our_shards

from avgzsl.cli import main
from avgzsl.evaluation.summary import read_summary
from avgzsl.formats.shards import write_feature_shard

FAST = ["--quiet", "--set", "train.epochs=2", "--set", "train.batch_size=32"]


def _strict_json(path):
    def refuse(token):
        raise ValueError(f"{path} holds {token}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    """Synthetic shards with the pipeline's own text width (50-d GloVe) and audio/video widths other than 1024."""
    return write_our_shards(tmp_path_factory.mktemp("shards"), audio_dim=32, video_dim=24, text_dim=50)


def test_cli_train_then_evaluate_takes_dimensions_from_the_shards(shard_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["train", *shard_args(shard_dir), "--out", str(out), "--seeds", "0", "1", *FAST]) == 0
    cfg = json.loads((out / "seed0" / "config.json").read_text())
    assert (cfg["model"]["audio_dim"], cfg["model"]["video_dim"], cfg["model"]["text_dim"]) == (32, 24, 50)
    summary = read_summary(out / "summary.json")
    assert summary["summary"]["classification/both/beta0/HM"]["n"] == 2
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no staging left behind
    assert main(["evaluate", *shard_args(shard_dir), "--checkpoint", str(out / "seed0" / "checkpoint.pt"),
                 "--out", str(tmp_path / "ev")]) == 0
    ev = _strict_json(tmp_path / "ev" / "metrics.json")
    trained = _strict_json(out / "seed0" / "metrics.json")
    assert ev["classification"]["both"]["beta0"] == trained["classification"]["both"]["beta0"]


def test_a_run_that_fails_midway_leaves_nothing(shard_dir, tmp_path, monkeypatch):
    import avgzsl.training.run

    real, calls = avgzsl.training.run.run_experiment, []

    def second_seed_fails(cfg, splits, out, **kw):
        calls.append(cfg.train.seed)
        if len(calls) == 2:
            raise ValueError("simulated failure in the second seed")
        return real(cfg, splits, out, **kw)

    monkeypatch.setattr(avgzsl.training.run, "run_experiment", second_seed_fails)
    out = tmp_path / "runs" / "avgzslnet"
    assert main(["train", *shard_args(shard_dir), "--out", str(out), "--seeds", "0", "1", *FAST]) == 1
    assert calls == [0, 1]
    assert list(tmp_path.iterdir()) == []  # not even the parent folder it created


def _swap(flag, files):
    def change(args, d):
        i = args.index(flag)
        end = next((j for j in range(i + 1, len(args)) if args[j].startswith("--")), len(args))
        return args[: i + 1] + [str(f) for f in files(d)] + args[end:]
    return change


def _replace(flag, file):
    def change(args, d):
        i = args.index(flag)
        return args[: i + 1] + [str(file(d))] + args[i + 2:]
    return change


def _foreign_shard(d):
    path = d.parent / "foreign_audio.h5"
    write_feature_shard(path, np.ones((3, 32)), ["x1", "x2", "x3"], modality="audio", extractor="a")
    return [path, *sorted(d.glob("audio_*.h5"))]


def _copy_with(d, name, transform):
    path = d.parent / name
    path.write_text(transform((d / name.split("_", 1)[-1]).read_text()))
    return path


def _empty_file(d):
    path = d.parent / "empty_manifest.csv"
    path.write_bytes(b"")
    return path


def _unknown_class(d):
    m = pd.read_csv(d / "manifest.csv")
    m.loc[0, "class"] = "zebra"
    path = d.parent / "zebra_manifest.csv"
    m.to_csv(path, index=False)
    return path


# (case, how the arguments change, a file the message must name, what it must say)
BAD_TRAIN_INPUTS = [
    ("video shards as --audio", _swap("--audio", lambda d: sorted(d.glob("video_*.h5"))), "video_trn.h5",
     "given as audio"),
    ("text shard as --video", _swap("--video", lambda d: [d / "text.h5"]), "text.h5", "given as video"),
    ("audio shard as --text", _replace("--text", lambda d: d / "audio_trn.h5"), "audio_trn.h5", "text shard"),
    ("shard of another dataset", _swap("--audio", _foreign_shard), "foreign_audio.h5", "none of its 3 clip ids"),
    ("tst without features", lambda a, d: _swap("--video", lambda d: [d / "video_trn.h5"])(
        _swap("--audio", lambda d: [d / "audio_trn.h5", d / "audio_val.h5"])(a, d), d), "manifest.csv", "split tst"),
    ("0-byte manifest", _replace("--manifest", _empty_file), "empty_manifest.csv", "empty"),
    ("unknown class", _replace("--manifest", _unknown_class), "zebra_manifest.csv", "zebra"),
    ("class table without seen column", _replace("--classes", lambda d: _copy_with(
        d, "bad_classes.tsv", lambda t: t.replace("seen", "unseen"))), "bad_classes.tsv", "lacks column"),
    ("dimension set against the shards", lambda a, d: a + ["--set", "model.text_dim=300"], "text.h5", "50-d"),
]


@pytest.mark.parametrize("case,change,names,says", BAD_TRAIN_INPUTS, ids=[c[0] for c in BAD_TRAIN_INPUTS])
def test_train_refuses_bad_input_naming_the_file(shard_dir, tmp_path, capsys, case, change, names, says):
    scratch = tmp_path / "inputs"
    scratch.mkdir()
    local = scratch / "shards"
    local.symlink_to(shard_dir)
    args = change(shard_args(local), local)
    rc = main(["train", *args, "--out", str(tmp_path / "run"), *FAST])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert err.startswith("error: ") and names in err and says in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_no_unseen_test_clips_gives_null_and_a_warning(shard_dir, tmp_path, capsys):
    m = pd.read_csv(shard_dir / "manifest.csv")
    unseen = set(pd.read_csv(shard_dir / "classes.tsv", sep="\t").query("seen == 0")["name"])
    m = m[~((m["split"] == "tst") & m["class"].isin(unseen))]
    m.to_csv(tmp_path / "manifest.csv", index=False)
    args = shard_args(shard_dir)
    args[args.index("--manifest") + 1] = str(tmp_path / "manifest.csv")
    assert main(["train", *args, "--out", str(tmp_path / "run"), *FAST]) == 0
    err = capsys.readouterr().err
    assert "no unseen-class clips" in err and "written as null" in err
    metrics = _strict_json(tmp_path / "run" / "seed0" / "metrics.json")
    assert metrics["classification"]["both"]["beta0"]["U"] is None
    assert metrics["classification"]["both"]["beta0"]["S"] is not None
    assert read_summary(tmp_path / "run" / "summary.json")["summary"]["classification/both/beta0/U"]["mean"] is None


def test_cli_argument_errors_are_clear(shard_dir, tmp_path, capsys):
    # a missing input is bad input (exit 1), named with its option, every one at once
    assert main(["train", "--manifest", str(tmp_path / "missing.csv"), "--classes", "x", "--text", "y",
                 "--out", "o"]) == 1
    err = capsys.readouterr().err
    assert f"--manifest {tmp_path / 'missing.csv'}: no such file or folder" in err and "--classes x" in err
    rc = main(["train", *shard_args(shard_dir), "--out", str(tmp_path / "r"), "--set", "loss.distance=cosine"])
    assert rc == 1 and "loss.distance" in capsys.readouterr().err
    # usage errors exit 2 (as argparse's own), bad input 1
    assert main(["train", *shard_args(shard_dir), "--out", str(tmp_path / "r"), "--set", "epochs=3"]) == 2
    assert "section.key=value" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_version_and_fast_help():
    import subprocess
    import sys

    from avgzsl import cli

    version = subprocess.run([sys.executable, "-m", "avgzsl.cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("avgzsl ")
    # --help must not import torch (it took seconds); checked by what is imported, not by a clock
    probe = ("import sys; from avgzsl import cli\n"
             "try:\n    cli.build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('torch', 'pandas', 'h5py', 'numpy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert loaded.returncode == 0 and loaded.stdout.strip().endswith("[]"), loaded.stdout + loaded.stderr
    assert cli.EXIT_USAGE == 2 and cli.EXIT_INPUT == 1


@pytest.fixture(scope="module")
def trained(shard_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *shard_args(shard_dir), "--out", str(out), *FAST]) == 0
    return out / "seed0" / "checkpoint.pt"


def _other_text(d):
    path = d.parent / "text300.h5"
    write_feature_shard(path, np.ones((8, 300)), [f"class{i:02d}" for i in range(8)], modality="text", extractor="t")
    return path


BAD_EVALUATE_INPUTS = [
    ("no audio shards for a model that needs them", _swap("--audio", lambda d: []), "checkpoint.pt",
     "needs audio features"),
    ("text of another width", _replace("--text", _other_text), "checkpoint.pt", "300-d"),
    ("video shards as --audio", _swap("--audio", lambda d: sorted(d.glob("video_*.h5"))), "video_trn.h5",
     "given as audio"),
]


@pytest.mark.parametrize("case,change,names,says", BAD_EVALUATE_INPUTS, ids=[c[0] for c in BAD_EVALUATE_INPUTS])
def test_evaluate_refuses_bad_input_naming_the_file(shard_dir, trained, tmp_path, capsys, case, change, names, says):
    local = tmp_path / "shards"
    local.symlink_to(shard_dir)
    args = change(shard_args(local), local)
    rc = main(["evaluate", *args, "--checkpoint", str(trained), "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert err.startswith("error: ") and names in err and says in err and "Traceback" not in err
    assert not (tmp_path / "ev").exists()


class _Terminal:
    """A stand-in for a terminal's standard error: collects what is written and says it is a TTY."""

    def __init__(self):
        self.text = []

    def write(self, s):
        self.text.append(s)
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_train_draws_progress_bars_only_on_a_terminal(shard_dir, tmp_path, capsys, monkeypatch):
    args = ["train", *shard_args(shard_dir), "--seeds", "0", "--set", "train.epochs=3", "--set", "train.batch_size=32"]
    assert main([*args, "--out", str(tmp_path / "redirected")]) == 0
    assert "it/s" not in capsys.readouterr().err  # a log file gets no redraws
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main([*args, "--out", str(tmp_path / "terminal")]) == 0
    assert "train avgzslnet" in "".join(terminal.text)
