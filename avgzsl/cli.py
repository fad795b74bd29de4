"""`avgzsl` command line: train, evaluate, recompute, recompute-tables, import-features, export-features."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from avgzsl.config import PRESETS, build_experiment
from avgzsl.config_check import check_experiment_sections
from avgzsl.dataset import SPLITS, ClassTable, load_split, read_manifest

AUDIOSETZSL_UNSEEN = ["pig", "panther", "stream", "bus", "aircraft", "clock", "fan", "printer", "church-bell", "gunshot"]


def _existing(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {path}")
    return p


def load_splits(args) -> dict:
    manifest = read_manifest(args.manifest)
    classes = ClassTable.read(args.classes)
    present = [s for s in SPLITS if (manifest["split"] == s).any()]
    return {
        s: load_split(manifest, s, classes=classes, text_path=args.text, audio_paths=args.audio, video_paths=args.video)
        for s in present
    }


def _parse_overrides(pairs: list[str]) -> dict:
    """`section.key=value` pairs; values are parsed as YAML (numbers, booleans, lists)."""
    sections: dict = {"model": {}, "loss": {}, "train": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in sections:
            raise SystemExit(f"error: --set expects section.key=value with section in {list(sections)}, got {pair!r}")
        sections[section][name] = yaml.safe_load(value)
    return sections


def experiment_from_args(args, seed: int):
    base = {"model": {}, "loss": {}, "train": {}}
    if args.config:
        loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        for section in base:
            base[section].update(loaded.get(section, {}))
        preset = loaded.get("preset", args.preset)
    else:
        preset = args.preset
    for section, values in _parse_overrides(args.set).items():
        base[section].update(values)
    base["train"]["seed"] = seed
    check_experiment_sections(base)  # names the key of a bad value (train.epochs: must be an integer ...)
    return build_experiment(name=args.name, preset_name=preset, **base)


def cmd_train(args) -> int:
    from avgzsl.evaluate import run_experiment, summarize_seeds

    configs = [experiment_from_args(args, seed) for seed in args.seeds]  # fail on a bad value before loading data
    splits = load_splits(args)
    if "trn" not in splits or "tst" not in splits:
        raise SystemExit(f"error: the manifest needs trn and tst clips; it has {sorted(splits)}")
    runs = []
    for cfg in configs:
        out = Path(args.out) / f"seed{cfg.train.seed}"
        runs.append(run_experiment(cfg, splits, out, progress=not args.quiet, log=print if args.verbose else lambda s: None))
        hm = runs[-1]["classification"]
        print(f"seed {cfg.train.seed}: " + ", ".join(f"{m} HM={v['beta0']['HM']:.4f}" for m, v in hm.items()))
    summary = summarize_seeds(runs)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return 0


def cmd_evaluate(args) -> int:
    from avgzsl.evaluate import coverage, model_scores, write_run
    from avgzsl.train import load_checkpoint

    model, cfg, _ = load_checkpoint(args.checkpoint, device=args.device)
    splits = load_splits(args)
    if "tst" not in splits:
        raise SystemExit("error: the manifest has no tst clips to evaluate")
    device = next(model.parameters()).device
    test, val = splits["tst"], splits.get("val")
    run_info = dict(experiment=cfg.name, model=cfg.model.kind, seed=cfg.train.seed, protocol=cfg.train.protocol,
                    missing_modality=cfg.train.missing_modality, coverage={k: coverage(s) for k, s in splits.items()})
    metrics = write_run(args.out, test, model_scores(model, test, device), run_info=run_info, val=val,
                        val_scores=model_scores(model, val, device) if val is not None else None)
    for m, v in metrics["classification"].items():
        b = v["beta0"]
        print(f"{m:>10}: S={b['S']:.4f} U={b['U']:.4f} HM={b['HM']:.4f} ZSL={b['ZSL']:.4f}")
    return 0


def cmd_recompute(args) -> int:
    from avgzsl.evaluate import metrics_text, recompute_run
    from avgzsl.recompute import compare_with_saved

    metrics = recompute_run(args.run_dir)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(metrics_text(metrics))
    else:
        sys.stdout.write(metrics_text(metrics))
    difference = compare_with_saved(args.run_dir, metrics)
    print(difference or f"identical to {Path(args.run_dir) / 'metrics.json'}", file=sys.stderr)
    return 1 if difference and args.check else 0


def cmd_recompute_tables(args) -> int:
    from avgzsl.recompute import recompute_tables

    summaries = recompute_tables(args.runs_dir, args.out, dataset=args.dataset)
    print(f"wrote Tables 1-4 from {sum(len(s['runs']) for s in summaries.values())} runs of "
          f"{len(summaries)} experiments under {args.out}")
    return 0


def cmd_import(args) -> int:
    from avgzsl.released import import_released

    unseen = AUDIOSETZSL_UNSEEN if args.unseen is None else [c.strip() for c in args.unseen.split(",") if c.strip()]
    written = import_released(args.root, args.out, unseen=unseen)
    print(json.dumps(written, indent=2))
    return 0


def cmd_export(args) -> int:
    from avgzsl.released import export_released

    out = export_released(manifest=args.manifest, text=args.text, out_dir=args.out, audio=args.audio, video=args.video)
    print(f"wrote the released AudioSetZSL layout under {out}")
    return 0


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=_existing, required=True, help="manifest CSV (clip_id, class, split)")
    p.add_argument("--classes", type=_existing, required=True, help="class table TSV (name, seen)")
    p.add_argument("--text", type=_existing, required=True, help="text feature shard (one vector per class)")
    p.add_argument("--audio", type=_existing, nargs="*", default=[], help="audio feature shards")
    p.add_argument("--video", type=_existing, nargs="*", default=[], help="video feature shards")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avgzsl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train and test one experiment from feature shards (one run per seed)")
    _add_data_args(p)
    p.add_argument("--out", required=True, help="output folder; one seed<k>/ subfolder per seed")
    p.add_argument("--name", default="avgzslnet", help="experiment name recorded in the outputs")
    p.add_argument("--preset", choices=PRESETS, default="official", help="official (released code) or paper")
    p.add_argument("--config", type=_existing, help="YAML with model/loss/train sections (and optionally preset)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set train.epochs=50 --set loss.rec=false")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds; several give mean and std")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="print every epoch's losses")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a checkpoint on the tst split (beta chosen on val if present)")
    _add_data_args(p)
    p.add_argument("--checkpoint", type=_existing, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("recompute", help="recompute a run's metrics.json from its scores.npz + val_scores.npz")
    p.add_argument("run_dir", type=_existing, help="one seed's folder, e.g. results/demo/runs/avgzslnet/seed0")
    p.add_argument("--out", help="write the metrics here (default: standard output)")
    p.add_argument("--check", action="store_true", help="exit 1 when the run's metrics.json differs")
    p.set_defaults(func=cmd_recompute)

    p = sub.add_parser("recompute-tables", help="Tables 1-4 from the saved scores of every run under a folder")
    p.add_argument("runs_dir", type=_existing, help="folder of <experiment>/seed<k>/ runs, e.g. results/demo/runs")
    p.add_argument("--out", required=True, help="folder for the table CSV + Markdown files")
    p.add_argument("--dataset", default="demo", help="dataset name for the table notes (as the workflow's `dataset`)")
    p.set_defaults(func=cmd_recompute_tables)

    p = sub.add_parser("import-features", help="convert the released AudioSetZSL h5 layout to shards")
    p.add_argument("root", type=_existing, help="folder with audio/, video/, text/")
    p.add_argument("out", help="output folder for shards, manifest.csv and classes.tsv")
    p.add_argument("--unseen", help="comma-separated unseen classes (default: AudioSetZSL's ten)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export-features", help="write shards in the released AudioSetZSL layout")
    p.add_argument("--manifest", type=_existing, required=True)
    p.add_argument("--text", type=_existing, required=True)
    p.add_argument("--audio", type=_existing, nargs="*", default=[])
    p.add_argument("--video", type=_existing, nargs="*", default=[])
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
