"""`avgzsl train` and `avgzsl evaluate`: feature shards in, run folders out.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

from avgzsl.commands.options import check_seeds, experiment_from_args, experiment_spec, settings
from avgzsl.runtime.errors import while_doing

log = logging.getLogger("avgzsl")
DIM_KEYS = {"audio": "audio_dim", "video": "video_dim", "text": "text_dim"}


def load_splits(args) -> dict:
    from avgzsl.datasets.loading import load_feature_splits

    return load_feature_splits(manifest=args.manifest, classes=args.classes, text=args.text, audio=args.audio,
                               video=args.video, stage1_classes=getattr(args, "stage1_classes", None),
                               audio_seq=args.audio_seq, video_seq=args.video_seq)


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


def _progress_bars(args) -> bool:
    """Progress bars on a terminal only: redirected to a file, each redraw would be one more line of log."""
    return not args.quiet and sys.stderr.isatty()


def _check_settings(args) -> None:
    """Every refusal the settings alone allow, before the output is locked or any data is read."""
    from avgzsl.runtime.device import resolve_device

    check_seeds(args.seeds)
    for seed in args.seeds:
        cfg = experiment_from_args(args, seed)
    resolve_device(cfg.train.device, option="train.device")  # a GPU this machine lacks: say so by its setting


def cmd_train(args) -> int:
    from avgzsl.formats.atomic import output_lock  # (stdlib only)

    check_seeds(args.seeds)
    # locked first: a second run into the same --out stops within a second, before torch is even imported
    with output_lock(args.out):
        return _train(args)


def _train(args) -> int:
    from avgzsl.evaluation.summary import SUMMARY_FILE, write_summary
    from avgzsl.formats.atomic import staged_folder
    from avgzsl.formats.manifest import warn_about_coverage
    from avgzsl.runtime.cpu_memory import keep_freed_memory
    from avgzsl.training.run import run_experiment

    _check_settings(args)
    if (why_not := keep_freed_memory()) is not None:  # the command owns its process: keep freed blocks for reuse
        log.info("malloc keeps its default thresholds: %s", why_not)
    splits = load_splits(args)
    if "trn" not in splits or "tst" not in splits:
        raise ValueError(f"{args.manifest}: needs trn and tst clips; it has {sorted(splits)}")
    dims = _shard_dims(splits)
    configs = [experiment_from_args(args, seed, _given_dims(dims)) for seed in args.seeds]
    _check_dims(args, configs[0], dims, settings(args)[1]["model"])
    warn_about_coverage(splits["trn"].classes, str(args.manifest), trained=set(_class_names(splits["trn"])),
                        tested=set(_class_names(splits["tst"])))
    _warn_undefined_metrics(splits)
    runs = []
    # the whole run is staged: a failure leaves no seed folder or summary behind
    with staged_folder(args.out) as stage:
        for cfg in configs:
            metrics = run_experiment(cfg, splits, stage / f"seed{cfg.train.seed}", progress=_progress_bars(args),
                                     log=logging.getLogger("avgzsl.training.train").info)
            runs.append(metrics)
            hm = metrics["classification"]
            print(f"seed {cfg.train.seed}: " + ", ".join(f"{m} HM={fmt(v['beta0']['HM'])}" for m, v in hm.items()))
        write_summary(stage / SUMMARY_FILE, experiment_spec(args), runs)
    return 0


def _class_names(split) -> list[str]:
    return [split.classes.names[i] for i in set(split.labels.tolist())]


def cmd_evaluate(args) -> int:
    from avgzsl.formats.atomic import output_lock  # (stdlib only)

    with output_lock(args.out):  # first: a second evaluation into the same --out stops at once
        return _evaluate(args)


def _evaluate(args) -> int:
    from avgzsl.evaluation.protocol import beta_rule
    from avgzsl.evaluation.saved_scores import VAL_SCORES_FILE, coverage, write_run
    from avgzsl.evaluation.scoring import model_scores
    from avgzsl.formats.atomic import staged_folder
    from avgzsl.models.method import method_name
    from avgzsl.runtime.device import resolve_device
    from avgzsl.training.checkpoint import load_checkpoint

    device = str(resolve_device(args.device, option="--device"))  # before the checkpoint: it is not to blame
    with while_doing(f"reading --checkpoint {args.checkpoint}"):
        model, cfg, _ = load_checkpoint(args.checkpoint, device=device, method=args.method)
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
                    protocol=protocol, beta_rule=beta_rule(protocol), missing_modality=cfg.train.missing_modality,
                    coverage={k: coverage(s) for k, s in splits.items()})
    with staged_folder(args.out) as stage:  # scores and metrics appear together, or not at all
        metrics = write_run(stage, test, model_scores(model, test, device, protocol=protocol), run_info=run_info,
                            val=val, val_scores=model_scores(model, val, device, protocol=protocol)
                            if val is not None else None)
    if val is None:  # a val_scores.npz left from an earlier evaluation would change the recomputed numbers
        (Path(args.out) / VAL_SCORES_FILE).unlink(missing_ok=True)
    for m, v in metrics["classification"].items():
        b = v["beta0"]
        print(f"{m:>10}: " + " ".join(f"{k}={fmt(b[k])}" for k in ("S", "U", "HM", "ZSL")))
    return 0


def fmt(value) -> str:
    return "undefined" if value is None or math.isnan(value) else f"{value:.4f}"
