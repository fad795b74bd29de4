"""`avgzsl` command line: train, evaluate, recompute, recompute-tables, import-features, import-benchmark,
benchmark-table, export-features, bundle, predict, search, serve.

Exit status: 0 success; 1 bad input or a fault of the machine (a file, its data, a setting, disk full, a
missing GPU; one `error:` line naming the file or option); 2 bad usage (an unknown option, a missing argument);
3 `recompute --check` found different numbers; 130 interrupted (Ctrl-C). AVGZSL_DEBUG=1 prints the traceback above the error line.
"""

from __future__ import annotations

import argparse
import logging
import sys

# (the command modules and the settings dataclasses import torch lazily: `--help` stays fast)
from avgzsl.commands.files import (
    cmd_benchmark_table,
    cmd_export,
    cmd_import,
    cmd_import_benchmark,
    cmd_recompute,
    cmd_recompute_tables,
)
from avgzsl.commands.options import InputFileOrFolder, InputFolder, InputPath, UsageError, check_inputs
from avgzsl.commands.train_eval import cmd_evaluate, cmd_train
from avgzsl.inference.arguments import add_commands as add_inference_commands
from avgzsl.runtime.errors import report_error
from avgzsl.settings.experiment import PRESETS

log = logging.getLogger("avgzsl")
EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_DIFFERS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130  # (recompute returns avgzsl.commands.files' 0 / 3)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=InputPath, required=True, help="manifest CSV (clip_id, class, split)")
    p.add_argument("--classes", type=InputPath, required=True, help="class table TSV (name, seen)")
    p.add_argument("--text", type=InputPath, required=True, help="text feature shard (one vector per class)")
    p.add_argument("--audio", type=InputPath, nargs="*", default=[], help="audio feature shards")
    p.add_argument("--video", type=InputPath, nargs="*", default=[], help="video feature shards")
    p.add_argument("--audio-seq", type=InputPath, nargs="*", default=[],
                   help="audio sequence shards (per-clip windows), for a temporal model such as tcaf")
    p.add_argument("--video-seq", type=InputPath, nargs="*", default=[], help="video sequence shards")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avgzsl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train and test one experiment from feature shards (one run per seed)")
    _add_data_args(p)
    p.add_argument("--out", required=True, help="output folder; one seed<k>/ subfolder per seed")
    p.add_argument("--name", default="avgzslnet", help="experiment name recorded in the outputs")
    p.add_argument("--preset", choices=PRESETS, default="official",
                   help="official (released code), paper, avca (AVCA-GZSL's re-implementation), "
                        "avca-<dataset>-<main|cls> (AVCA itself, with model.kind avca), "
                        "tcaf-<dataset>-<main|cls> (TCaF's best configs, with model.kind tcaf)")
    p.add_argument("--config", type=InputPath, help="YAML with model/loss/train sections (and optionally preset)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set train.epochs=50 --set loss.rec=false")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds; several give mean and std")
    p.add_argument("--stage1-classes", type=InputPath,
                   help="an AVCA-GZSL benchmark's classes_stage1.tsv: trn and val take the stage-1 class roles "
                        "(use with --set train.protocol=avca)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they are drawn only when standard error is a terminal)")
    p.add_argument("--verbose", action="store_true", help="log every epoch's losses (standard error)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a checkpoint on the tst split (beta chosen on val if present)")
    _add_data_args(p)
    p.add_argument("--checkpoint", type=InputPath, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--method", metavar="PACKAGE.MODULE:CLASS",
                   help="the checkpoint's own method, when it is not a built-in or installed one: naming it lets its "
                        "code be imported (a checkpoint alone never chooses code to run)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("recompute", help="recompute a run's metrics.json from its scores.npz + val_scores.npz")
    p.add_argument("run_dir", type=InputFolder, help="one seed's folder, e.g. results/demo/runs/avgzslnet/seed0")
    p.add_argument("--out", help="write the metrics here (default: standard output)")
    p.add_argument("--check", action="store_true", help="exit 1 when the run's metrics.json differs")
    p.set_defaults(func=cmd_recompute)

    p = sub.add_parser("recompute-tables", help="Tables 1-4 from the saved scores of every run under a folder")
    p.add_argument("runs_dir", type=InputFolder, help="folder of <experiment>/seed<k>/ runs, e.g. results/demo/runs")
    p.add_argument("--out", required=True, help="folder for the table CSV + Markdown files")
    p.add_argument("--dataset", help="dataset name for the table notes, as the workflow's `dataset` (default: the "
                                     "benchmark named by avca_benchmark.json beside the runs folder, else the "
                                     "folder above it, as in <results>/<dataset>/runs)")
    p.add_argument("--variant", choices=["main", "cls"],
                   help="feature set of an AVCA-GZSL benchmark --dataset (default: from avca_benchmark.json)")
    p.set_defaults(func=cmd_recompute_tables)

    p = sub.add_parser("import-features", help="convert released AudioSetZSL features (authors' or AVCA-GZSL's "
                                              "layout) to shards")
    p.add_argument("root", type=InputFolder, help="the authors' folder (audio/, video/, text/) or AVCA-GZSL's "
                                                 "(class-split/, features/<name>/)")
    p.add_argument("out", help="output folder for shards, manifest.csv and classes.tsv")
    p.add_argument("--unseen", help="comma-separated unseen classes (default: class-split/unseen_class.txt in "
                                    "AVCA-GZSL's layout, AudioSetZSL's ten in the authors')")
    p.add_argument("--features-name", help="which features/<name>/ of an AVCA-GZSL folder (default: the only one)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("import-benchmark", help="convert AVCA-GZSL's released VGGSound-, UCF- or ActivityNet-GZSL "
                                               "features to shards")
    p.add_argument("root", type=InputFolder, help="the benchmark's folder (features/<main|cls>_features/...)")
    p.add_argument("out", help="output folder for shards, manifest.csv, classes.tsv and classes_stage1.tsv")
    p.add_argument("--dataset", required=True, choices=["vggsound-gzsl", "ucf-gzsl", "activitynet-gzsl"])
    p.add_argument("--variant", choices=["main", "cls"], default="main", help="main: SeLaVi; cls: VGGish / C3D")
    p.add_argument("--text-lookup", choices=["correct", "avca_compat"], default="correct",
                   help="avca_compat reproduces AVCA-GZSL's word-vector pairing (another class's vector for many)")
    p.add_argument("--split-lists", default="pinned",
                   help="folder with the class-split/ lists, or 'pinned' to fetch them at the pinned commit")
    p.add_argument("--no-verify", action="store_true", help="accept class lists other than the pinned ones")
    p.add_argument("--temporal", action="store_true",
                   help="root is TCaF's temporal release (features/<variant>_features_non_averaged/.../<Class>.pkl): "
                        "writes sequence shards ({audio,video}_seq/) beside the clip-mean shards")
    p.set_defaults(func=cmd_import_benchmark)

    p = sub.add_parser("benchmark-table", help="AVCA-GZSL's table layout (methods x datasets) from benchmark runs, "
                                              "beside their published numbers")
    p.add_argument("result_dirs", type=InputFolder, nargs="+",
                   help="result folders of benchmark runs, e.g. results/ucf-gzsl/main-correct")
    p.add_argument("--out", required=True, help="folder for the CSV + Markdown tables and the "
                   "critical-difference diagrams over all datasets (PNG + JSON)")
    p.set_defaults(func=cmd_benchmark_table)

    p = sub.add_parser("export-features", help="write shards in AVCA-GZSL's AudioSetZSL layout")
    p.add_argument("--manifest", type=InputPath, required=True)
    p.add_argument("--classes", type=InputPath, required=True, help="class table TSV (name, seen)")
    p.add_argument("--text", type=InputPath, required=True)
    p.add_argument("--audio", type=InputPath, nargs="+", required=True)
    p.add_argument("--video", type=InputPath, nargs="+", required=True)
    p.add_argument("--features-name", default="main_features", help="the features/<name>/ folder to write")
    p.add_argument("--out", required=True, help="a new (or empty) folder")
    p.set_defaults(func=cmd_export)

    # bundle, predict, search, serve (avgzsl/inference/), their inputs checked like every command's
    add_inference_commands(sub, path=InputPath, folder=InputFolder, file_or_folder=InputFileOrFolder)
    return parser


class _CliFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the message (pytest and shells may swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _log_to_stderr(verbose: bool = False) -> None:
    """Warnings (and with --verbose, progress such as each epoch's losses) as `level: message` lines."""
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_CliFormatter())
        log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("avgzsl")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    """The exit statuses of the module docstring; one `error: ...` line for any failure, never a traceback."""
    args = build_parser().parse_args(argv)
    _log_to_stderr(verbose=getattr(args, "verbose", False))
    try:
        check_inputs(args)
        return args.func(args)
    except UsageError as err:
        print(f"avgzsl: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C: staged outputs were already cleaned up on the way out; no traceback
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # bad input, a full disk, a missing GPU, or our bug: one line (AVGZSL_DEBUG: traceback)
        report_error(err)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
