"""One deep experiment run: train, select, (retrain), score the test split and write the run's files.

What a run writes, and how its metrics are recomputed from the saved scores alone, is described in
avgzsl/evaluation/saved_scores.py.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import pandas as pd

from avgzsl.evaluation.protocol import beta_rule as protocol_beta_rule
from avgzsl.evaluation.saved_scores import coverage, write_run
from avgzsl.evaluation.scoring import both_fusion, model_scores, selection_modality
from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.models.method import method_name
from avgzsl.settings.experiment import ExperimentConfig
from avgzsl.training.train import train_model


def run_experiment(
    cfg: ExperimentConfig,
    splits: dict[str, FeatureSplit],
    out_dir: str | os.PathLike,
    *,
    progress: bool = True,
    log: Callable[[str], None] = logging.getLogger("avgzsl.training.train").info,
) -> dict:
    """Train, select, (optionally retrain), test; write config, history, checkpoint, scores and metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.dump(out / "config.json")
    val = splits.get("val")
    result = train_model(cfg, splits["trn"], val, checkpoint=out / "checkpoint.pt", progress=progress, log=log)
    protocol = cfg.train.protocol
    val_scores = model_scores(result.model, val, result.device, protocol=protocol) if val is not None else None
    model, history = result.model, result.history
    if cfg.train.protocol == "avca":
        if val is None:
            raise ValueError("the avca protocol needs a val split")
        log(f"avca: retraining on trn+val seen classes for {result.selected_epoch} epochs")
        # an explicit stage-2 training split carries its own class roles (avgzsl.datasets.avca_stages)
        trn_val = splits["trn_val"] if "trn_val" in splits else splits["trn"].concat(val)
        retrained = train_model(  # val only steps a plateau schedule here, as in AVCA's stage 2
            cfg, trn_val, val, epochs=result.selected_epoch, select=False, checkpoint=out / "checkpoint.pt",
            progress=progress, log=log,
        )
        model = retrained.model
        history = history + [{**row, "phase": "retrain"} for row in retrained.history]
    pd.DataFrame(history).to_csv(out / "history.csv", index=False)
    run_info = dict(
        experiment=cfg.name, model=cfg.model.kind, label=method_name(type(model)), seed=cfg.train.seed, protocol=protocol,
        beta_rule=protocol_beta_rule(protocol), missing_modality=cfg.train.missing_modality, epochs=cfg.train.epochs,
        coverage={k: coverage(s) for k, s in splits.items()},
    )
    # how the rows were scored and which row chose the epoch: the tables' labels and notes say so
    run_info.update(both_fusion=both_fusion(model, protocol), select_modality=selection_modality(
        model, cfg.train.select_modality) if val is not None else None)
    run_info.update(model.run_record())
    run_info = {k: v for k, v in run_info.items() if v is not None}
    epoch_rows = [row for row in result.history if "val_hm" in row]  # stage 1: the epochs selection saw
    metrics = write_run(out, splits["tst"], model_scores(model, splits["tst"], result.device, protocol=protocol),
                        run_info=run_info,
                        val=val, val_scores=val_scores, epoch_rows=epoch_rows)
    if metrics["selected_epoch"] != result.selected_epoch:  # the saved numbers must re-derive the trainer's choice
        raise AssertionError(f"saved validation numbers choose epoch {metrics['selected_epoch']}, "
                             f"training kept {result.selected_epoch}")
    return metrics
