"""The commands on folders of files: recompute, recompute-tables, import-features, import-benchmark,
benchmark-table, export-features.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

from avgzsl.formats.atomic import LOCK_INSIDE
from avgzsl.runtime.errors import while_doing

log = logging.getLogger("avgzsl")
EXIT_OK, EXIT_DIFFERS = 0, 3

# what an import writes into its folder; a folder holding only these is an earlier import, replaced whole
RELEASED_ENTRIES = frozenset({"audio", "video", "text.h5", "manifest.csv", "classes.tsv"})
BENCHMARK_ENTRIES = RELEASED_ENTRIES | {"classes_stage1.tsv", "avca_benchmark.json", "audio_seq", "video_seq"}


def _had_calibration(run: Path) -> bool:
    """Whether the run's saved metrics.json holds calibrated results (so the run had val scores)."""
    from avgzsl.evaluation.saved_scores import METRICS_FILE
    from avgzsl.reporting.recompute import read_saved_metrics

    if not (run / METRICS_FILE).is_file():
        return False
    classification = read_saved_metrics(run)[1].get("classification")
    return isinstance(classification, dict) and any(
        isinstance(v, dict) and "calibrated" in v for v in classification.values())


def _check_val_scores(run: Path) -> str | None:
    """Without val_scores.npz the calibrated results (beta chosen on val) cannot be recomputed: an error when the
    run had them (recomputing would silently drop them); for a run that never had a val split, the warning to
    give once the metrics are recomputed (None when there is nothing to say)."""
    from avgzsl.evaluation.saved_scores import METRICS_FILE, SCORES_FILE, VAL_SCORES_FILE

    if (run / VAL_SCORES_FILE).exists() or not (run / SCORES_FILE).exists():
        return None  # a missing scores.npz is recompute_run's own error
    if _had_calibration(run):
        raise FileNotFoundError(f"{run / VAL_SCORES_FILE} is missing, but {run / METRICS_FILE} has calibrated "
                                "results (beta chosen on val); restore it: without it they cannot be recomputed")
    return f"{run / VAL_SCORES_FILE} not found: calibrated results (beta chosen on val) are left out"


def cmd_recompute(args) -> int:
    from avgzsl.evaluation.saved_scores import metrics_text, recompute_run
    from avgzsl.formats.atomic import atomic_output
    from avgzsl.reporting.recompute import compare_with_saved

    no_val = _check_val_scores(Path(args.run_dir))
    with while_doing(f"recomputing {args.run_dir} from its saved scores"):  # names the run if numpy fails
        metrics = recompute_run(args.run_dir)
    if no_val:  # said once the scores were read: a bad scores.npz is the one error line
        log.warning("%s", no_val)
    if args.out:
        with atomic_output(args.out) as tmp:
            tmp.write_text(metrics_text(metrics))
    else:
        sys.stdout.write(metrics_text(metrics))
    difference = compare_with_saved(args.run_dir, metrics)
    print(difference or f"identical to {Path(args.run_dir) / 'metrics.json'}", file=sys.stderr)
    return EXIT_DIFFERS if difference and args.check else EXIT_OK


def cmd_recompute_tables(args) -> int:
    from avgzsl.reporting.recompute import recompute_tables, run_folders

    # as for `recompute`: a run that lost the val scores its calibrated rows came from stops the tables
    no_val = [note for folders in run_folders(args.runs_dir).values() for run in folders
              if (note := _check_val_scores(Path(run)))]
    # an error no check foresaw names the runs read and the folder written (a full disk there, say)
    with while_doing(f"recomputing the runs under {args.runs_dir} into the tables under {args.out}"):
        summaries = recompute_tables(args.runs_dir, args.out, dataset=args.dataset, variant=args.variant)
    for note in no_val:
        log.warning("%s", note)
    print(f"wrote Tables 1-4 from {sum(len(s['runs']) for s in summaries.values())} runs of "
          f"{len(summaries)} experiments under {args.out}")
    return 0


def check_import_folder(out: str, owned: frozenset[str], command: str) -> list[Path]:
    """Refuse an --out that is a file or holds anything an import does not write (merging would mix two
    releases); a folder holding only an earlier import's files is the same import run again. Returns those
    earlier entries, which the new import replaces."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: exists and is not a folder; {command} writes a folder")
    if not path.exists():
        return []
    # our own staging folders and the lock of a folder in a read-only parent (avgzsl.formats.atomic) are not entries
    entries = [p for p in path.iterdir()
               if not (p.name.startswith(".") and p.name.endswith(".tmp")) and p.name != LOCK_INSIDE]
    foreign = sorted(p.name for p in entries if p.name not in owned)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" (+{len(foreign) - 5} more)" if len(foreign) > 5 else "")
        raise ValueError(f"{path}: not empty (holds {shown}); {command} writes into a new or empty folder, or "
                         f"replaces an earlier import there (a folder holding only {', '.join(sorted(owned))})")
    return entries


def _drop_left_over(earlier: list[Path], written: set[str]) -> None:
    """An earlier import's entries this import did not write (its video/ when this release has only audio):
    removed, so the folder holds this import alone."""
    for entry in earlier:
        if entry.name not in written and entry.exists():
            log.warning("removing %s, left by an earlier import (this one has no such entry)", entry)
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def cmd_import(args) -> int:
    from avgzsl.datasets.released import import_released
    from avgzsl.formats.atomic import output_lock

    unseen = None if args.unseen is None else [c.strip() for c in args.unseen.split(",") if c.strip()]
    with output_lock(args.out):
        earlier = check_import_folder(args.out, RELEASED_ENTRIES, "import-features")
        with while_doing(f"importing {args.root} into {args.out}"):
            written = import_released(args.root, args.out, unseen=unseen, features_name=args.features_name)
        names = {Path(p).relative_to(args.out).parts[0] for p in written["shards"]}
        _drop_left_over(earlier, names | {"text.h5", "manifest.csv", "classes.tsv"})
    print(json.dumps(written, indent=2))
    return 0


def cmd_import_benchmark(args) -> int:
    from avgzsl.datasets.avca_import import PINNED, AvcaBenchmarkConfig, import_avca_benchmark
    from avgzsl.datasets.tcaf_import import import_tcaf_benchmark
    from avgzsl.formats.atomic import output_lock

    cfg = AvcaBenchmarkConfig(
        benchmark=args.dataset, variant=args.variant, text_lookup=args.text_lookup,
        split_dir=None if args.split_lists == "pinned" else args.split_lists,
        digest=None if args.no_verify else PINNED,
    )
    with output_lock(args.out):  # a benchmark import writes every one of its entries: each replaces its own
        check_import_folder(args.out, BENCHMARK_ENTRIES, "import-benchmark")
        with while_doing(f"importing {args.root} into {args.out}"):
            importer = import_tcaf_benchmark if args.temporal else import_avca_benchmark
            written = importer(args.root, args.out, cfg)
    print(json.dumps(written, indent=2))
    return 0


def cmd_benchmark_table(args) -> int:
    from avgzsl.reporting.avca_table import write_benchmark_tables
    from avgzsl.reporting.benchmark_significance import write_critical_difference_diagrams

    with while_doing(f"reading {len(args.result_dirs)} result folder(s), writing the tables under {args.out}"):
        names = write_benchmark_tables(args.result_dirs, args.out)
        names += write_critical_difference_diagrams(args.result_dirs, args.out)
    print(f"wrote {', '.join(names)} under {args.out}")
    return 0


def cmd_export(args) -> int:
    from avgzsl.datasets.released_export import export_released

    with while_doing(f"exporting into {args.out}"):
        out = export_released(manifest=args.manifest, classes=args.classes, text=args.text, out_dir=args.out,
                              audio=args.audio, video=args.video, features_name=args.features_name)
    print(f"wrote AVCA-GZSL's AudioSetZSL layout under {out} (feature set {args.features_name!r})")
    return 0
