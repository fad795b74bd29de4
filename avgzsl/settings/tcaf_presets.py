"""TCaF's best configurations per benchmark and feature set, as presets `tcaf-<dataset>-<main|cls>`.

Read from their repository (ExplainableML/TCAF-GZSL), `config/best/best_{cls,main}/best_{vggsound,ucf,anet}.yaml`;
keys named as there. Common to all six: bs 64, epochs 50, n_batches 300, optimizer adam (weight decay 1e-5,
src/model_sequence.py:756-760), cross_entropy_loss, reg_loss and rec_loss on, transformer_dim 300,
transformer_mlp_dim 128, transformer_embedding_dim 64, time embedding `sinusoid` with fourier scale 10,
modality embedding and class token on, transformer_use_embedding_net on, use_cross_attention true and
use_self_attention false, embeddings_batch_norm true; decoder_hidden_size 512. `lr_scheduler: true` is
ReduceLROnPlateau('max', patience 3) stepped on the val HM (src/model_sequence.py:761-762, src/train.py:31).
The `main` (SeLaVi) runs set `selavi: True`, which makes every window 1 s apart for both modalities
(main.py:179-184); `cls` keeps the collator's 0.96 s (VGGish) and 0.64 s (C3D).
Both stages and the test follow AVCA-GZSL's protocol (main.py:20-44, `train.protocol: avca`).
"""

from __future__ import annotations

# (dataset, variant) -> model.options (avgzsl.models.tcaf.TCaFOptions) + lr and scheduler, one row per best config
_COLUMNS = ("encoder_dropout", "decoder_dropout", "text_dropout", "encoder_hidden", "depth", "heads", "dim_head",
            "transformer_dropout", "embed_dropout", "seqlen", "lr", "lr_scheduler")
_ROWS = {
    ("vggsound", "cls"): (0.2, 0.2, 0.1, 512, 8, 8, 64, 0.5, 0.1, "max", 6e-5, False),
    ("ucf", "cls"): (0.3, 0.1, 0.1, 512, 6, 8, 64, 0.3, 0.2, "max", 7e-5, True),
    ("activitynet", "cls"): (0.3, 0.1, 0.1, 512, 6, 8, 64, 0.4, 0.2, "fixed", 7e-5, True),
    ("vggsound", "main"): (0.2, 0.2, 0.2, 128, 8, 6, 128, 0.5, 0.2, "max", 7e-5, False),
    ("ucf", "main"): (0.4, 0.2, 0.1, 256, 5, 8, 64, 0.3, 0.2, "max", 5e-5, False),
    ("activitynet", "main"): (0.2, 0.1, 0.1, 128, 8, 3, 128, 0.3, 0.2, "fixed", 7e-5, True),
}
TCAF_MODEL_SETTINGS = {key: dict(zip(_COLUMNS, row, strict=True)) for key, row in _ROWS.items()}
TCAF_MODEL_PRESETS = tuple(f"tcaf-{ds}-{variant}" for ds, variant in TCAF_MODEL_SETTINGS)
MODEL_KEYS = ("encoder_dropout", "decoder_dropout", "text_dropout", "encoder_hidden", "depth", "heads", "dim_head",
              "transformer_dropout", "embed_dropout")


def tcaf_options(name: str) -> dict:
    """model.options of preset `name` (a TCAF_MODEL_PRESETS entry)."""
    ds, variant = name.removeprefix("tcaf-").rsplit("-", 1)
    values = TCAF_MODEL_SETTINGS[(ds, variant)]
    options = {k: values[k] for k in MODEL_KEYS}
    options.update(seqlen_train=values["seqlen"], seqlen_test=values["seqlen"], maxlen_train=60, maxlen_test=300,
                   trim_train="random", trim_test="center")
    if variant == "main":  # selavi: True (main.py:182-184)
        options.update(rate_audio=1.0, rate_video=1.0)
    return options


def tcaf_model_preset(cfg, name: str):
    """An ExperimentConfig set to TCaF's best config `name` (model kind tcaf only)."""
    if cfg.model.kind != "tcaf":
        raise ValueError(f"preset {name!r} is TCaF's; it needs model.kind tcaf, got {cfg.model.kind!r}")
    ds, variant = name.removeprefix("tcaf-").rsplit("-", 1)
    values = TCAF_MODEL_SETTINGS[(ds, variant)]
    m, t = cfg.model, cfg.train
    m.normalize_inputs = False  # their norm_inputs default False (config/default.yaml)
    m.options = {**tcaf_options(name), **m.options}
    t.epochs, t.batch_size, t.batches_per_epoch = 50, 64, 300
    t.optimizer, t.lr, t.weight_decay = "adam", values["lr"], 1e-5
    t.lr_schedule, t.gamma, t.patience = ("plateau" if values["lr_scheduler"] else "none"), 0.1, 3
    t.protocol = "avca"
    return cfg
