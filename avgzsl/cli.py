"""`avgzsl` command line: train, evaluate, recompute, recompute-tables, import-features, import-benchmark,
benchmark-table, export-features, bundle, predict, search.

Exit status: 0 success; 1 bad input (a file, its data or a setting; one `error:` line naming it);
2 bad usage (an unknown option, a missing argument); 3 `recompute --check` found different numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

from avgzsl.inference.arguments import add_commands as add_inference_commands
from avgzsl.settings.experiment import (
    PRESETS,  # (dataclasses only: `--help` stays fast because torch is imported lazily)
)

log = logging.getLogger("avgzsl")
EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_DIFFERS = 0, 1, 2, 3
DIM_KEYS = {"audio": "audio_dim", "video": "video_dim", "text": "text_dim"}


def _existing(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {path}")
    return p


def load_splits(args) -> dict:
    from avgzsl.formats.feature_split import load_split
    from avgzsl.formats.manifest import SPLITS, ClassTable, read_manifest

    manifest = read_manifest(args.manifest)
    classes = ClassTable.read(args.classes)
    present = [s for s in SPLITS if (manifest["split"] == s).any()]
    splits = {
        s: load_split(manifest, s, classes=classes, text_path=args.text, audio_paths=args.audio, video_paths=args.video,
                      audio_seq_paths=args.audio_seq, video_seq_paths=args.video_seq)
        for s in present
    }
    if getattr(args, "stage1_classes", None):  # an AVCA-GZSL benchmark: per-stage class roles
        from avgzsl.datasets.avca_stages import stage_splits

        splits = stage_splits(splits, ClassTable.read(args.stage1_classes))
    return splits


def _warn_undefined_metrics(splits: dict) -> None:
    test = splits["tst"]
    if not bool((~test.seen[test.labels]).any()):
        log.warning("the tst split has no unseen-class clips: U and ZSL are undefined (written as null)")
    if not bool(test.seen[test.labels].any()):
        log.warning("the tst split has no seen-class clips: S is undefined (written as null)")


def _shard_dims(splits: dict) -> dict[str, int]:
    """Feature dimensions as the shards have them (0 for a modality without shards), as the workflow does."""
    split = next(iter(splits.values()))  # every split is gathered from the same shards
    return {"audio_dim": int(split.audio.shape[1]), "video_dim": int(split.video.shape[1]),
            "text_dim": int(split.text.shape[1])}


def _given_dims(dims: dict[str, int]) -> dict[str, int]:
    """Only the dimensions of modalities that have shards; a model that needs a missing one is refused later."""
    return {k: v for k, v in dims.items() if v}


def _check_dims(args, cfg, dims: dict[str, int], explicit: dict) -> None:
    from avgzsl.models.registry import required_modalities

    sources = {"audio": args.audio, "video": args.video, "text": [args.text]}
    for modality in required_modalities(cfg.model.kind) + ("text",):
        if dims[DIM_KEYS[modality]] == 0:
            raise ValueError(f"model.kind {cfg.model.kind!r} needs {modality} features: give --{modality} shards")
    for modality, key in DIM_KEYS.items():
        if key in explicit and int(explicit[key]) != dims[key] and dims[key]:
            raise ValueError(f"model.{key}={explicit[key]} was set, but the {modality} shards "
                             f"({', '.join(map(str, sources[modality]))}) are {dims[key]}-d")


def _check_checkpoint_fits(checkpoint, cfg, dims: dict[str, int]) -> None:
    """The shards given to `evaluate` carry the modalities and widths the checkpoint's model was trained on."""
    from avgzsl.models.registry import required_modalities

    for modality in required_modalities(cfg.model.kind):
        if dims[DIM_KEYS[modality]] == 0:
            raise ValueError(f"{checkpoint}: its model ({cfg.model.kind}) needs {modality} features: give "
                             f"--{modality} shards")
    for modality, key in DIM_KEYS.items():
        want = getattr(cfg.model, key)
        if dims[key] and dims[key] != want:
            raise ValueError(f"{checkpoint}: the model takes {want}-d {modality} features, but the {modality} "
                             f"shards given are {dims[key]}-d")


def _parse_overrides(pairs: list[str]) -> dict:
    """`section.key=value` pairs; values are parsed as YAML (numbers, booleans, lists)."""
    import yaml

    sections: dict = {"model": {}, "loss": {}, "train": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in sections:
            raise UsageError(f"--set expects section.key=value with section in {list(sections)}, got {pair!r}")
        sections[section][name] = yaml.safe_load(value)
    return sections


def _settings(args) -> tuple[str, dict]:
    """The preset and the model/loss/train sections from --config and --set (later wins)."""
    import yaml

    base: dict = {"model": {}, "loss": {}, "train": {}}
    preset = args.preset
    if args.config:
        try:
            loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{args.config}: not valid YAML ({err})") from err
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.config}: expected a mapping with model/loss/train sections")
        for section in base:
            values = loaded.get(section) or {}
            if not isinstance(values, dict):
                raise ValueError(f"{args.config}: section {section!r} must be a mapping")
            base[section].update(values)
        preset = loaded.get("preset", args.preset)
    for section, values in _parse_overrides(args.set).items():
        base[section].update(values)
    return preset, base


def experiment_from_args(args, seed: int, dims: dict | None = None):
    from avgzsl.pipeline.config_check import check_experiment_sections
    from avgzsl.settings.experiment import build_experiment

    preset, base = _settings(args)
    base["model"].update(dims or {})
    base["train"]["seed"] = seed
    check_experiment_sections(base, preset=preset)  # names the key of a bad value (train.epochs: must be an integer ...)
    return build_experiment(name=args.name, preset_name=preset, **base)


def _progress_bars(args) -> bool:
    """Progress bars on a terminal only: redirected to a file, each redraw would be one more line of log."""
    return not args.quiet and sys.stderr.isatty()


def experiment_spec(args) -> dict:
    """The experiment as the command line asks for it, in the layout of the workflow's experiment entries: name,
    preset, seeds and the model / loss / train sections from --config and --set (summary.json records it)."""
    preset, sections = _settings(args)
    return {"name": args.name, "preset": preset, "seeds": list(args.seeds), **sections}


def cmd_train(args) -> int:
    from avgzsl.evaluation.summary import SUMMARY_FILE, write_summary
    from avgzsl.formats.atomic import staged_folder
    from avgzsl.runtime.cpu_memory import keep_freed_memory
    from avgzsl.training.run import run_experiment

    for seed in args.seeds:  # fail on a bad value before loading data
        experiment_from_args(args, seed)
    if (why_not := keep_freed_memory()) is not None:  # the command owns its process: keep freed blocks for reuse
        log.info("malloc keeps its default thresholds: %s", why_not)
    splits = load_splits(args)
    if "trn" not in splits or "tst" not in splits:
        raise ValueError(f"{args.manifest}: needs trn and tst clips; it has {sorted(splits)}")
    dims = _shard_dims(splits)
    configs = [experiment_from_args(args, seed, _given_dims(dims)) for seed in args.seeds]
    _check_dims(args, configs[0], dims, _settings(args)[1]["model"])
    _warn_undefined_metrics(splits)
    runs = []
    # the whole run is staged: a failure leaves no seed folder or summary behind
    with staged_folder(args.out) as stage:
        for cfg in configs:
            metrics = run_experiment(cfg, splits, stage / f"seed{cfg.train.seed}", progress=_progress_bars(args),
                                     log=logging.getLogger("avgzsl.training.train").info)
            runs.append(metrics)
            hm = metrics["classification"]
            print(f"seed {cfg.train.seed}: " + ", ".join(f"{m} HM={_fmt(v['beta0']['HM'])}" for m, v in hm.items()))
        write_summary(stage / SUMMARY_FILE, experiment_spec(args), runs)
    return 0


def cmd_evaluate(args) -> int:
    from avgzsl.evaluation.protocol import beta_rule
    from avgzsl.evaluation.saved_scores import VAL_SCORES_FILE, coverage, write_run
    from avgzsl.evaluation.scoring import model_scores
    from avgzsl.formats.atomic import staged_folder
    from avgzsl.models.method import method_name
    from avgzsl.training.checkpoint import load_checkpoint

    model, cfg, _ = load_checkpoint(args.checkpoint, device=args.device, method=args.method)
    splits = load_splits(args)
    if "tst" not in splits:
        raise ValueError(f"{args.manifest}: has no tst clips to evaluate")
    test = splits["tst"]
    _check_checkpoint_fits(args.checkpoint, cfg, _shard_dims(splits))
    _warn_undefined_metrics(splits)
    device = next(model.parameters()).device
    val = splits.get("val")
    protocol = cfg.train.protocol
    run_info = dict(experiment=cfg.name, model=cfg.model.kind, label=method_name(type(model)), seed=cfg.train.seed,
                    protocol=protocol,
                    beta_rule=beta_rule(protocol), missing_modality=cfg.train.missing_modality,
                    coverage={k: coverage(s) for k, s in splits.items()})
    with staged_folder(args.out) as stage:  # scores and metrics appear together, or not at all
        metrics = write_run(stage, test, model_scores(model, test, device, protocol=protocol), run_info=run_info,
                            val=val, val_scores=model_scores(model, val, device, protocol=protocol) if val is not None else None)
    if val is None:  # a val_scores.npz left from an earlier evaluation would change the recomputed numbers
        (Path(args.out) / VAL_SCORES_FILE).unlink(missing_ok=True)
    for m, v in metrics["classification"].items():
        b = v["beta0"]
        print(f"{m:>10}: " + " ".join(f"{k}={_fmt(b[k])}" for k in ("S", "U", "HM", "ZSL")))
    return 0


def cmd_recompute(args) -> int:
    from avgzsl.evaluation.saved_scores import metrics_text, recompute_run
    from avgzsl.reporting.recompute import compare_with_saved

    metrics = recompute_run(args.run_dir)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(metrics_text(metrics))
    else:
        sys.stdout.write(metrics_text(metrics))
    difference = compare_with_saved(args.run_dir, metrics)
    print(difference or f"identical to {Path(args.run_dir) / 'metrics.json'}", file=sys.stderr)
    return EXIT_DIFFERS if difference and args.check else EXIT_OK


def cmd_recompute_tables(args) -> int:
    from avgzsl.reporting.recompute import recompute_tables

    summaries = recompute_tables(args.runs_dir, args.out, dataset=args.dataset, variant=args.variant)
    print(f"wrote Tables 1-4 from {sum(len(s['runs']) for s in summaries.values())} runs of "
          f"{len(summaries)} experiments under {args.out}")
    return 0


def cmd_import(args) -> int:
    from avgzsl.datasets.released import import_released

    unseen = None if args.unseen is None else [c.strip() for c in args.unseen.split(",") if c.strip()]
    written = import_released(args.root, args.out, unseen=unseen, features_name=args.features_name)
    print(json.dumps(written, indent=2))
    return 0


def cmd_import_benchmark(args) -> int:
    from avgzsl.datasets.avca_import import PINNED, AvcaBenchmarkConfig, import_avca_benchmark
    from avgzsl.datasets.tcaf_import import import_tcaf_benchmark

    cfg = AvcaBenchmarkConfig(
        benchmark=args.dataset, variant=args.variant, text_lookup=args.text_lookup,
        split_dir=None if args.split_lists == "pinned" else args.split_lists,
        digest=None if args.no_verify else PINNED,
    )
    importer = import_tcaf_benchmark if args.temporal else import_avca_benchmark
    print(json.dumps(importer(args.root, args.out, cfg), indent=2))
    return 0


def cmd_benchmark_table(args) -> int:
    from avgzsl.reporting.avca_table import write_benchmark_tables
    from avgzsl.reporting.benchmark_significance import write_critical_difference_diagrams

    names = write_benchmark_tables(args.result_dirs, args.out)
    names += write_critical_difference_diagrams(args.result_dirs, args.out)
    print(f"wrote {', '.join(names)} under {args.out}")
    return 0


def cmd_export(args) -> int:
    from avgzsl.datasets.released_export import export_released

    out = export_released(manifest=args.manifest, classes=args.classes, text=args.text, out_dir=args.out,
                          audio=args.audio, video=args.video, features_name=args.features_name)
    print(f"wrote AVCA-GZSL's AudioSetZSL layout under {out} (feature set {args.features_name!r})")
    return 0


def _fmt(value) -> str:
    return "undefined" if value is None or math.isnan(value) else f"{value:.4f}"


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=_existing, required=True, help="manifest CSV (clip_id, class, split)")
    p.add_argument("--classes", type=_existing, required=True, help="class table TSV (name, seen)")
    p.add_argument("--text", type=_existing, required=True, help="text feature shard (one vector per class)")
    p.add_argument("--audio", type=_existing, nargs="*", default=[], help="audio feature shards")
    p.add_argument("--video", type=_existing, nargs="*", default=[], help="video feature shards")
    p.add_argument("--audio-seq", type=_existing, nargs="*", default=[],
                   help="audio sequence shards (per-clip windows), for a temporal model such as tcaf")
    p.add_argument("--video-seq", type=_existing, nargs="*", default=[], help="video sequence shards")


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
    p.add_argument("--config", type=_existing, help="YAML with model/loss/train sections (and optionally preset)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set train.epochs=50 --set loss.rec=false")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds; several give mean and std")
    p.add_argument("--stage1-classes", type=_existing,
                   help="an AVCA-GZSL benchmark's classes_stage1.tsv: trn and val take the stage-1 class roles "
                        "(use with --set train.protocol=avca)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they are drawn only when standard error is a terminal)")
    p.add_argument("--verbose", action="store_true", help="log every epoch's losses (standard error)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a checkpoint on the tst split (beta chosen on val if present)")
    _add_data_args(p)
    p.add_argument("--checkpoint", type=_existing, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--method", metavar="PACKAGE.MODULE:CLASS",
                   help="the checkpoint's own method, when it is not a built-in or installed one: naming it lets its "
                        "code be imported (a checkpoint alone never chooses code to run)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("recompute", help="recompute a run's metrics.json from its scores.npz + val_scores.npz")
    p.add_argument("run_dir", type=_existing, help="one seed's folder, e.g. results/demo/runs/avgzslnet/seed0")
    p.add_argument("--out", help="write the metrics here (default: standard output)")
    p.add_argument("--check", action="store_true", help="exit 1 when the run's metrics.json differs")
    p.set_defaults(func=cmd_recompute)

    p = sub.add_parser("recompute-tables", help="Tables 1-4 from the saved scores of every run under a folder")
    p.add_argument("runs_dir", type=_existing, help="folder of <experiment>/seed<k>/ runs, e.g. results/demo/runs")
    p.add_argument("--out", required=True, help="folder for the table CSV + Markdown files")
    p.add_argument("--dataset", help="dataset name for the table notes, as the workflow's `dataset` (default: the "
                                     "benchmark named by avca_benchmark.json beside the runs folder, else the "
                                     "folder above it, as in <results>/<dataset>/runs)")
    p.add_argument("--variant", choices=["main", "cls"],
                   help="feature set of an AVCA-GZSL benchmark --dataset (default: from avca_benchmark.json)")
    p.set_defaults(func=cmd_recompute_tables)

    p = sub.add_parser("import-features", help="convert released AudioSetZSL features (authors' or AVCA-GZSL's "
                                              "layout) to shards")
    p.add_argument("root", type=_existing, help="the authors' folder (audio/, video/, text/) or AVCA-GZSL's "
                                                 "(class-split/, features/<name>/)")
    p.add_argument("out", help="output folder for shards, manifest.csv and classes.tsv")
    p.add_argument("--unseen", help="comma-separated unseen classes (default: class-split/unseen_class.txt in "
                                    "AVCA-GZSL's layout, AudioSetZSL's ten in the authors')")
    p.add_argument("--features-name", help="which features/<name>/ of an AVCA-GZSL folder (default: the only one)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("import-benchmark", help="convert AVCA-GZSL's released VGGSound-, UCF- or ActivityNet-GZSL "
                                               "features to shards")
    p.add_argument("root", type=_existing, help="the benchmark's folder (features/<main|cls>_features/...)")
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
    p.add_argument("result_dirs", type=_existing, nargs="+",
                   help="result folders of benchmark runs, e.g. results/ucf-gzsl/main-correct")
    p.add_argument("--out", required=True, help="folder for the CSV + Markdown tables and the "
                   "critical-difference diagrams over all datasets (PNG + JSON)")
    p.set_defaults(func=cmd_benchmark_table)

    p = sub.add_parser("export-features", help="write shards in AVCA-GZSL's AudioSetZSL layout")
    p.add_argument("--manifest", type=_existing, required=True)
    p.add_argument("--classes", type=_existing, required=True, help="class table TSV (name, seen)")
    p.add_argument("--text", type=_existing, required=True)
    p.add_argument("--audio", type=_existing, nargs="+", required=True)
    p.add_argument("--video", type=_existing, nargs="+", required=True)
    p.add_argument("--features-name", default="main_features", help="the features/<name>/ folder to write")
    p.add_argument("--out", required=True, help="a new (or empty) folder")
    p.set_defaults(func=cmd_export)

    add_inference_commands(sub)  # bundle, predict, search (avgzsl/inference/)
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


class UsageError(Exception):
    """A command line that cannot be run as written (exit 2, like argparse's own errors)."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("avgzsl")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    """The exit statuses of the module docstring; one `error: ...` line for bad input, never a traceback."""
    args = build_parser().parse_args(argv)
    _log_to_stderr(verbose=getattr(args, "verbose", False))
    try:
        return args.func(args)
    except UsageError as err:
        print(f"avgzsl: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as err:  # bad input files or settings (FeatureError, CheckpointError are ValueErrors)
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
