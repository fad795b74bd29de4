"""Every `avgzsl` command ends bad input and faults of the machine in one `error:` line naming the file or
option, exit status 1, no traceback: a table of bad inputs walks every command (in-process, through `main`),
and a few cases run the installed command to show that nothing else reaches a real terminal."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from avca_helpers import write_class_split
from released_helpers import shard_args, write_our_shards, write_released

from avgzsl.cli import build_parser, main

FAST = ["--quiet", "--set", "train.epochs=1", "--set", "train.batch_size=32"]
GARBAGE = bytes(range(256)) * 8  # NUL, invalid UTF-8, no format's header
FILE_KINDS = ("missing", "folder", "fifo", "empty", "garbage")
FOLDER_KINDS = ("missing", "file", "fifo", "empty folder")


@pytest.fixture(autouse=True)
def _no_hang():
    """A command that opens a FIFO would block forever: fail the test after 60 s instead."""
    def stop(signum, frame):
        raise TimeoutError("the command hung (reading a FIFO?)")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    data = write_our_shards(root / "shards", audio_dim=8, video_dim=6, text_dim=5)
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty").write_bytes(b"")
    (bad / "garbage").write_bytes(GARBAGE)
    (bad / "folder").mkdir()
    (bad / "empty folder").mkdir()
    os.mkfifo(bad / "fifo")
    run = root / "runs" / "avgzslnet"
    assert main(["train", *shard_args(data), "--out", str(run), *FAST]) == 0
    write_released(root / "released", layout="avca")
    write_class_split(root / "lists", "ucf-gzsl")  # import-benchmark reads these before the root
    return {"root": root, "data": data, "bad": bad, "run": run / "seed0", "runs": root / "runs", "released": root / "released"}


def _bad_path(world, kind: str) -> Path:
    return {"missing": world["root"] / "no_such_file", "file": world["bad"] / "garbage"}.get(kind, world["bad"] / kind)


DATA_OPTIONS = ["--manifest", "--classes", "--text", "--audio", "--video"]
# the options that take an input file, by command (the others take input folders)
INFERENCE, INFERENCE_FILES = ("bundle", "predict", "search", "serve"), ["--i3d-weights", "--word-vectors"]
FILE_OPTIONS = {"train": DATA_OPTIONS + ["--config", "--stage1-classes"], "evaluate": DATA_OPTIONS + ["--checkpoint"],
                "export-features": DATA_OPTIONS, "bundle": INFERENCE_FILES, "predict": INFERENCE_FILES,
                "search": INFERENCE_FILES, "serve": INFERENCE_FILES}


# command -> (its arguments, unused, the positional input folders)
def _command(world, name: str, out: Path) -> tuple[list[str], list[str], list[str]]:
    data = shard_args(world["data"])
    checkpoint = ["--checkpoint", str(world["run"] / "checkpoint.pt")]
    return {
        "train": (["train", *data, "--out", str(out), *FAST], [], []),
        "evaluate": (["evaluate", *data, *checkpoint, "--out", str(out)], [], []),
        "recompute": (["recompute", str(world["run"])], [], [str(world["run"])]),
        "recompute-tables": (["recompute-tables", str(world["runs"]), "--out", str(out), "--dataset", "demo"], [],
                             [str(world["runs"])]),
        "import-features": (["import-features", str(world["released"]), str(out)], [], [str(world["released"])]),
        "import-benchmark": (["import-benchmark", str(world["released"]), str(out), "--dataset", "ucf-gzsl",
                              "--split-lists", str(world["root"] / "lists"), "--no-verify"], [],
                             [str(world["released"])]),
        "benchmark-table": (["benchmark-table", str(world["root"]), "--out", str(out)], [], [str(world["root"])]),
        "export-features": (["export-features", *data, "--out", str(out)], [], []),
        "bundle": (["bundle", str(world["run"]), "--out", str(out)], [], [str(world["run"])]),
        "predict": (["predict", str(world["root"]), str(world["data"]), "--classes", "a,b", "--out", str(out)], [],
                    [str(world["root"])]),
        "search": (["search", str(world["root"]), str(world["data"]), "--query", "a", "--out", str(out)], [],
                   [str(world["root"])]),
        # (its refusals come before the server starts: a good line would serve until stopped)
        "serve": (["serve", str(world["root"]), "--port", "0"], [], [str(world["root"])]),
    }[name]


COMMANDS = ["train", "evaluate", "recompute", "recompute-tables", "import-features", "import-benchmark",
            "benchmark-table", "export-features", "bundle", "predict", "search", "serve"]
FOLDER_COMMANDS = ["recompute", "recompute-tables", "import-features", "import-benchmark", "benchmark-table",
                   "bundle", "predict", "search", "serve"]  # those reading an input folder given as a positional


def test_the_table_covers_every_command():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_good_inputs_pass_the_input_checks(world, tmp_path, command):
    """The table's base command lines are good as far as the input checks go: each bad case is the one change."""
    from avgzsl.commands.options import check_inputs

    args, _, _ = _command(world, command, tmp_path / "out")
    check_inputs(build_parser().parse_args(args))  # raises, naming the option, on a refusal


def _with(args: list[str], option: str, value: str) -> list[str]:
    """`args` with `option`'s value(s) replaced by `value` (appended when the option is not there)."""
    if option not in args:
        return [*args, option, value]
    start = args.index(option) + 1
    end = start
    while end < len(args) and not args[end].startswith("--"):
        end += 1
    return [*args[:start], value, *args[end:]]


def assert_one_error_line(rc: int, out: str, err: str, *names: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1, err
    assert lines and lines[-1].startswith("error: "), err
    assert sum(line.startswith("error:") for line in lines) == 1, err
    assert "Traceback" not in out + err
    assert any(name in lines[-1] for name in names), (names, lines[-1])
    return lines[-1]


FILE_CASES = [(command, option, kind) for command, options in FILE_OPTIONS.items() for option in options
              for kind in FILE_KINDS
              if not (option == "--config" and kind == "empty")  # an empty settings file is valid: no settings
              # the inference commands' base lines stop at their run or bundle folder: only the input checks'
              # refusals are theirs to show here (tests/test_bundle*.py open damaged bundles and weights)
              and not (command in INFERENCE and kind in ("empty", "garbage"))]


@pytest.mark.parametrize("command,option,kind", FILE_CASES, ids=["-".join(c) for c in FILE_CASES])
def test_a_bad_input_file_is_one_error_line_naming_it(world, tmp_path, capsys, command, option, kind):
    args, _, _ = _command(world, command, tmp_path / "out")
    bad = _bad_path(world, kind)
    rc = main(_with(args, option, str(bad)))
    captured = capsys.readouterr()
    assert_one_error_line(rc, captured.out, captured.err, str(bad))
    assert not (tmp_path / "out").exists()


FOLDER_CASES = [(c, k) for c in FOLDER_COMMANDS for k in FOLDER_KINDS]


@pytest.mark.parametrize("command,kind", FOLDER_CASES, ids=["-".join(c) for c in FOLDER_CASES])
def test_a_bad_input_folder_is_one_error_line_naming_it(world, tmp_path, capsys, command, kind):
    args, _, folders = _command(world, command, tmp_path / "out")
    bad = str(_bad_path(world, kind))
    rc = main([bad if a == folders[0] else a for a in args])
    captured = capsys.readouterr()
    assert_one_error_line(rc, captured.out, captured.err, bad)
    assert not (tmp_path / "out").exists()


# (command, what is added or replaced, what the error line must name)
LONG = "9" * 5000
BAD_VALUES = [
    ("train", ["--seeds", "0", "0"], "--seeds"),
    ("train", ["--seeds", "-1"], "--seeds"),
    ("train", ["--set", "train.epochs=!!python/object/apply:os.system [true]"], "--set train.epochs"),
    ("train", ["--set", "loss.margin=!!binary aGVsbG8="], "loss.margin"),  # a safe tag: bytes, not a number
    ("train", ["--set", f"train.epochs={LONG}"], "--set train.epochs"),
    ("train", ["--set", "train.epochs=-3"], "train.epochs"),
    ("train", ["--set", "model.kind=nonsense"], "model.kind"),
    ("train", ["--set", "train.device=cuda:99"], "train.device"),
    ("train", ["--set", "train.device=potato"], "train.device"),
    ("evaluate", ["--device", "cuda:99"], "--device"),
    ("evaluate", ["--device", "potato"], "--device"),
    ("export-features", ["--features-name", "../x"], "feature set name"),
]


@pytest.mark.parametrize("command,change,names", BAD_VALUES, ids=[" ".join(c[1])[:40] for c in BAD_VALUES])
def test_a_bad_option_value_is_one_error_line_naming_the_option(world, tmp_path, capsys, command, change, names):
    import torch

    if "cuda" in " ".join(change) and torch.cuda.device_count() > 99:
        pytest.skip("this machine has a CUDA device 99")
    args, _, _ = _command(world, command, tmp_path / "out")
    rc = main(_with(args, change[0], change[1]) + change[2:] if change[0] != "--set" else args + change)
    captured = capsys.readouterr()
    assert_one_error_line(rc, captured.out, captured.err, names)
    assert not (tmp_path / "out").exists()


def test_a_config_file_with_a_yaml_tag_or_unknown_keys_is_refused(world, tmp_path, capsys):
    args, _, _ = _command(world, "train", tmp_path / "out")
    for text, says in (("train: !!python/object/apply:os.system [true]\n", "not valid YAML"),
                       ("seeds: [0, 0]\n", "unknown top-level key")):
        (tmp_path / "c.yaml").write_text(text)
        rc = main([*args, "--config", str(tmp_path / "c.yaml")])
        captured = capsys.readouterr()
        assert says in assert_one_error_line(rc, captured.out, captured.err, str(tmp_path / "c.yaml"))


@pytest.mark.parametrize("content", [GARBAGE, b"{garbage", b"[1, 2]"], ids=["bytes", "bad json", "a list"])
def test_recompute_names_a_damaged_metrics_json(world, tmp_path, capsys, content):
    import shutil

    run = tmp_path / "seed0"
    shutil.copytree(world["run"], run)
    (run / "metrics.json").write_bytes(content)
    for missing_val in (False, True):
        if missing_val:
            (run / "val_scores.npz").unlink()
        rc = main(["recompute", str(run), "--check"])
        captured = capsys.readouterr()
        assert "not a metrics file" in assert_one_error_line(rc, captured.out, captured.err, str(run / "metrics.json"))


def test_an_output_that_is_a_file_is_named(world, tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    for command in ("train", "evaluate", "import-features", "export-features", "recompute-tables"):
        args, _, _ = _command(world, command, tmp_path / "taken")
        rc = main(args)
        captured = capsys.readouterr()
        assert_one_error_line(rc, captured.out, captured.err, str(tmp_path / "taken"))


# --- faults of the machine: simulated where the writer or reader sits ---------------------------------------


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


class _FullDisk:
    """A file on a full disk: writes fail as the kernel fails them (ENOSPC, no file name)."""

    def __init__(self, path, mode):
        self.handle = open(path, mode)

    def write(self, data):
        _no_space()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def test_disk_full_while_training_names_the_file_not_torch_internals(world, tmp_path, capsys, monkeypatch):
    """(Checked for real on a 64 KB tmpfs too: torch's own file writer said `unexpected pos 13440 vs 13392`.)"""
    import avgzsl.formats.torch_files

    monkeypatch.setattr(avgzsl.formats.torch_files, "open", _FullDisk, raising=False)
    args, _, _ = _command(world, "train", tmp_path / "out")
    rc = main(args)
    captured = capsys.readouterr()
    line = assert_one_error_line(rc, captured.out, captured.err, str(tmp_path / "out" / "seed0" / "checkpoint.pt"))
    assert "no space left on device writing" in line and "unexpected pos" not in line
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []  # no stage, no lock left


def test_disk_full_and_permission_denied_while_writing_other_outputs(world, tmp_path, capsys, monkeypatch):
    import avgzsl.formats.atomic

    monkeypatch.setattr(avgzsl.formats.atomic.os, "replace", _no_space)  # every atomic file write ends here
    args, _, _ = _command(world, "recompute", tmp_path)
    rc = main([*args, "--out", str(tmp_path / "metrics.json")])
    captured = capsys.readouterr()
    assert "no space left on device writing" in assert_one_error_line(rc, captured.out, captured.err,
                                                                      str(tmp_path / "metrics.json"))
    monkeypatch.undo()
    import avgzsl.reporting.recompute

    monkeypatch.setattr(avgzsl.reporting.recompute, "write_result_tables", _no_space)  # writes several files
    rc = main(_command(world, "recompute-tables", tmp_path / "tables")[0])
    captured = capsys.readouterr()
    assert assert_one_error_line(rc, captured.out, captured.err, str(tmp_path / "tables")) == (
        f"error: no space left on device (while recomputing the runs under {world['runs']} into the tables under "
        f"{tmp_path / 'tables'})")
    monkeypatch.undo()

    def denied(parent, prefix):
        raise PermissionError(errno.EACCES, "Permission denied", str(parent))

    monkeypatch.setattr(avgzsl.formats.atomic, "_create_temp_dir", denied)
    args, _, _ = _command(world, "evaluate", tmp_path / "ev")
    rc = main(args)
    captured = capsys.readouterr()
    assert "permission denied" in assert_one_error_line(rc, captured.out, captured.err, str(tmp_path))


@pytest.mark.parametrize("raised,says", [
    (MemoryError("Unable to allocate 3.73 TiB for an array with shape (1000000000, 1024) and data type float32"),
     "(1000000000, 1024)"),
    (KeyError("modality"), "KeyError: 'modality'"),
    (RuntimeError("an error inside a library"), "RuntimeError: an error inside a library"),
])
def test_a_failure_inside_a_reader_names_the_inputs_being_read(world, tmp_path, capsys, monkeypatch, raised, says):
    import avgzsl.formats.feature_split

    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(avgzsl.formats.feature_split, "read_feature_shard", fail)
    args, _, _ = _command(world, "train", tmp_path / "out")
    rc = main(args)
    captured = capsys.readouterr()
    line = assert_one_error_line(rc, captured.out, captured.err, str(world["data"] / "text.h5"))
    assert says in line and "while reading the feature shards" in line


def test_debug_env_shows_the_traceback_above_the_error_line(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AVGZSL_DEBUG", "1")
    rc = main(_with(_command(world, "recompute", tmp_path)[0], "--out", str(tmp_path / "m.json")) + ["--check"])
    assert rc == 0  # a good run prints no traceback either
    bad = str(_bad_path(world, "garbage"))
    rc = main(["train", *_with(_command(world, "train", tmp_path / "o")[0][1:], "--text", bad)])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


# --- through a real process: nothing but the error line reaches the terminal ------------------------------


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("AVGZSL_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "avgzsl.cli", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_a_real_process_prints_only_the_error_line(world, tmp_path):
    fifo = str(_bad_path(world, "fifo"))
    args = _command(world, "train", tmp_path / "out")[0]
    for case, names in ((_with(args, "--manifest", fifo), fifo),
                        (args + ["--set", "train.epochs=!!python/object/apply:os.system [true]"], "--set train.epochs"),
                        (_with(args, "--checkpoint", fifo)[:0] + ["recompute", str(world["bad"] / "empty folder")],
                         "scores.npz")):
        proc = _run_cli(*case)
        assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, names)
    assert not (tmp_path / "out").exists()


# --- workflow scripts: the same line, in the rule's log and on standard error -----------------------------


@pytest.mark.parametrize("raised,says", [
    ("OSError(errno.ENOSPC, 'No space left on device', 'results/x/features/audio/shard_00000.h5')",
     "no space left on device writing results/x/features/audio/shard_00000.h5"),
    ("ValueError('manifest.csv, line 3: empty split')", "manifest.csv, line 3: empty split"),
    ("KeyError('modality')", "KeyError: 'modality'"),
])
def test_a_failing_workflow_script_ends_in_one_error_line(tmp_path, raised, says):
    script = tmp_path / "rule_script.py"
    log = tmp_path / "logs" / "rule.log"
    script.write_text("import errno\nfrom avgzsl.pipeline.rule_log import rule_log\n"
                      f"with rule_log({str(log)!r}):\n    print('working')\n    raise {raised}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("AVGZSL_DEBUG", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    line = assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, says)
    assert line.endswith(f"(log: {log})")
    logged = log.read_text()
    assert logged.startswith("working\n") and logged.strip().splitlines()[-1] == f"error: {says}"
    assert "Traceback" not in logged


def test_ctrl_c_is_one_line_and_status_130(world, tmp_path, capsys, monkeypatch):
    from avgzsl.commands import files

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "cmd_recompute", interrupted)
    monkeypatch.setattr("avgzsl.cli.cmd_recompute", interrupted)
    rc = main(["recompute", str(world["run"])])
    captured = capsys.readouterr()
    assert rc == 130 and captured.err.strip() == "error: interrupted" and "Traceback" not in captured.err
