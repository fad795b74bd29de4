"""TCaF (Mercea et al., ECCV 2022): temporal and cross-modal attention over audio and video feature sequences.

Every choice follows their released code (ExplainableML/TCAF-GZSL), cited as `ms:<line>` for
`src/model_sequence.py`, `ds:<line>` for `src/dataset.py`, `ui:<line>` for `src/utils_improvements.py`:

* inputs (ms:790-791): audio windows divided by 255 (VGGish's post-processed 0..255 values; applied to SeLaVi
  audio as well), video windows L2-normalised by `F.normalize(v)`, whose default dim=1 is the *time* axis of
  the (B, T, D) batch: each video feature dimension is normalised over the clip's windows;
* batching (their DefaultCollator, ds:657-818): `max` pads every clip to the longest of the batch (no trim);
  `fixed` pads or cuts video to `maxlen` windows and audio to round(maxlen * rate_video * rate_audio), the
  video start drawn at random (train) or centred (test), audio starting at round(start * rate_video /
  rate_audio), capped; window times are k * rate (0.96 s audio, 0.64 s video for VGGish / C3D, 1 and 1 for
  SeLaVi: main.py:179-184). Here `Options.seqlen_train`, `maxlen_train`, ... and `collate`;
* encoders A_enc, V_enc (ms:654-668, `transformer_use_embedding_net`): EmbeddingNet per window (ms:591-615):
  Linear(D, H) -> [BatchNorm1d if embeddings_batch_norm] -> ReLU -> Dropout -> Linear(H, 300) -> BatchNorm1d
  -> ReLU -> Dropout, over all B x T windows, padded ones included (ms:811-819);
* embeddings (AudioVisualEmbedding, ms:243-587, with use_spatial False and no cls-token embeddings,
  ms:698-716): each window's feature is concatenated with modality + time + padding embeddings (64-d each,
  summed, ms:419-426), then Linear(D + 64, 300) (a kernel-1 Conv1d, ms:318-324) and Dropout (ms:436-438).
  Modality: nn.Embedding(2, 64), audio row 0, video row 1 (ms:279-282, 350-358). Time `sinusoid`
  (ms:287-300, 331-339): Linear(64, 64)([sin, cos](2 pi [t, t] @ R)), R = fourier_scale * randn(2, 32) a
  fixed buffer; `fixed`: nn.Embedding(time_len, 64) of round(t) (ms:286, 374-389). Padding: a learned
  vector added at padded windows (ms:313, 409-411). Training passes the window times in seconds
  (ms:802-803, 822-824); `get_embeddings`, which every evaluation calls, passes none, so windows are at
  t = 0, 1, 2, ... (ms:970-972, 378-386): `Options.test_time` ("index", theirs; "seconds" the same times as
  training);
* one learned class token (ms:692-694, randn(1, 1, 300)) before the audio and video tokens (ms:830);
* transformer (ms:154-240, built ms:724-734): `depth` pre-norm layers, each with ONE LayerNorm used before
  both the attention and the feed-forward (ms:176-184); attention q, k, v Linear without bias, `heads` x
  `dim_head`, scale dim_head^-0.5, output Linear + Dropout (ms:78-150); feed-forward Linear -> GELU ->
  Dropout -> Linear -> Dropout (ms:228-240). Mask (ms:107-142, `attention_mask`): padded windows are never
  attended to; with cross-attention only (every best config) audio tokens see only video tokens and the
  class token, video only audio and the class token, the class token all; self-only the reverse; both: all;
* heads (ms:676-748): O_proj(class token) = theta_o (300 -> 512 -> 64), D_o(theta_o) = rho_o (64 -> 512 -> 300),
  W_proj(w) = theta_w (300 -> 64), D_w(theta_w) = rho_w (64 -> 300), all EmbeddingNets; 64 = dim_out (ui:57);
* loss (ms:858-905): L_ce = CE(theta_o . W_proj(W_train)^T, class) over the training classes
  (their train.py:57, 85-91; W_proj runs on the class vectors as one batch), L_reg = MSE(theta_o, theta_w),
  L_rec = MSE(w, rho_o) + MSE(w, rho_w); each switchable, all on in the best configs. Only the batch's
  positive clips are used (optimize_params receives `positive` only, train.py:61-89): here rows [0, B);
* test (their utils.py:211-268): torch.cdist(theta_o, W_proj(class vectors)); their evaluation returns the
  same result as audio, video and both, so all three rows here are the same matrix;
* after each step, their train_step calls get_embeddings in train mode (train.py:93), one more BatchNorm
  update: `extra_embedding_pass`, run when `train.avca_extra_embedding_pass` is on.

Every dropout is `BitMaskDropout` (avgzsl.models.layers): nn.Dropout's Bernoulli(1 - p) mask and 1 / (1 - p) scale
from fewer random bits (one per element at the transformer's p = 0.5), so the random stream differs from theirs but
not the law; mask drawing was a visible part of a CPU step (benchmarks/README.md, `tcaf_epoch.py`).

Optimiser (Adam, weight decay 1e-5, ms:756-762; ReduceLROnPlateau('max', patience 3) with lr_scheduler),
two-stage protocol (main.py:20-44: stage 2 retrains best_epoch + 1 epochs on train+val) and per-dataset best
configs are presets: `avgzsl.settings.tcaf_presets`. Not reproduced: their random streams; SAM (`adam-sam`,
no best config uses it); spatial video tokens and class-token embeddings (off in model_sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from avgzsl.models.layers import BitMaskDropout
from avgzsl.models.method import ZSLMethod
from avgzsl.settings.tcaf_presets import TCAF_MODEL_PRESETS

DIM_OUT = 64  # ui:57
SEQLEN_MODES = ("max", "fixed")
TRIMS = ("random", "center")
ATTENTIONS = ("cross", "self", "both")


@dataclass
class TCaFOptions:
    """`model.options` of kind tcaf; defaults are best_cls/best_ucf.yaml (their config/best/best_cls)."""

    use_embedding_net: bool = True  # transformer_use_embedding_net
    encoder_hidden: int = 512  # embeddings_hidden_size
    decoder_hidden: int = 512  # decoder_hidden_size
    encoder_dropout: float = 0.3  # embedding_dropout
    decoder_dropout: float = 0.1  # decoder_dropout
    text_dropout: float = 0.1  # additional_dropout
    hidden_batch_norm: bool = True  # embeddings_batch_norm (the hidden BatchNorm; the output one is always on)
    dim: int = 300  # transformer_dim
    depth: int = 6  # transformer_depth
    heads: int = 8  # transformer_heads
    dim_head: int = 64  # transformer_dim_head
    mlp_dim: int = 128  # transformer_mlp_dim
    transformer_dropout: float = 0.3  # transformer_dropout
    embed_dim: int = 64  # transformer_embedding_dim
    embed_dropout: float = 0.2  # transformer_embedding_dropout
    modality_embedding: bool = True  # transformer_embedding_modality
    time_embedding: str = "sinusoid"  # transformer_embedding_time_embed_type: sinusoid | fixed | none
    time_len: int = 120  # transformer_embedding_time_len (fixed only)
    fourier_scale: float = 10.0  # transformer_embedding_fourier_scale
    attention: str = "cross"  # use_cross_attention true, use_self_attention false -> cross
    cross_entropy: bool = True  # cross_entropy_loss
    reg_loss: bool = True
    rec_loss: bool = True
    rate_audio: float = 0.96  # seconds per audio window (VGGish); 1.0 for SeLaVi (main.py:183)
    rate_video: float = 0.64  # seconds per video window (C3D, 16 frames at 25 fps); 1.0 for SeLaVi
    audio_scale: float = 255.0  # ms:790
    seqlen_train: str = "max"  # batch_seqlen_train
    maxlen_train: int = 60  # batch_seqlen_train_maxlen (fixed only)
    trim_train: str = "random"
    seqlen_test: str = "max"
    maxlen_test: int = 300
    trim_test: str = "center"
    test_time: str = "index"  # window times at evaluation: index (their get_embeddings) | seconds
    eval_batch: int = 64  # eval_bs; scores do not depend on it in `max` mode (masked padding)


def embedding_net(in_dim: int, out_dim: int, dropout: float, hidden_bn: bool, hidden: int = 0) -> nn.Sequential:
    """Their EmbeddingNet (ms:591-615): [Linear -> BN? -> ReLU -> Dropout ->] Linear -> BN -> ReLU -> Dropout."""
    layers: list[nn.Module] = []
    if hidden > 0:
        layers += [nn.Linear(in_dim, hidden)] + ([nn.BatchNorm1d(hidden)] if hidden_bn else [])
        layers += [nn.ReLU(), BitMaskDropout(dropout)]
        in_dim = hidden
    layers += [nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU(), BitMaskDropout(dropout)]
    return nn.Sequential(*layers)


def attention_mask(valid: torch.Tensor, t_audio: int, mode: str) -> torch.Tensor:
    """(B, 1 + Ta + Tv, 1 + Ta + Tv) bool, True = may attend; `valid` (B, Ta + Tv) marks real windows (ms:107-142)."""
    m = F.pad(valid, (1, 0), value=True)  # (B, N) with the class token first
    pair = m[:, None, :] & m[:, :, None]  # (B, N, N): both ends real
    a = slice(1, t_audio + 1)
    v = slice(t_audio + 1, m.shape[1])
    if mode == "cross":  # ms:125-134
        pair[:, a, a] = False
        pair[:, v, v] = False
    elif mode == "self":  # ms:108-123: within a modality, and to and from the class token
        pair[:, a, v] = False
        pair[:, v, a] = False
    return pair


class Attention(nn.Module):
    """Multi-head attention with a boolean mask; a fully masked row attends uniformly, as masked_fill does (ms:78-150)."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float):
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_qkv = nn.ModuleList(nn.Linear(dim, heads * dim_head, bias=False) for _ in range(3))
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), BitMaskDropout(dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (f(x).view(b, n, self.heads, -1).transpose(1, 2) for f in self.to_qkv)  # (B, h, N, dh)
        dots = q @ k.transpose(-1, -2) * self.scale  # (B, h, N, N)
        dots = dots.masked_fill(~mask[:, None], -torch.finfo(dots.dtype).max)
        out = dots.softmax(-1) @ v  # (B, h, N, dh)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))  # (B, N, dim)


class TransformerLayer(nn.Module):
    """x + attn(norm(x)), then + ff(norm(x)) with the SAME LayerNorm (ms:154-185)."""

    def __init__(self, o: TCaFOptions):
        super().__init__()
        self.attn = Attention(o.dim, o.heads, o.dim_head, o.transformer_dropout)
        self.ff = nn.Sequential(nn.Linear(o.dim, o.mlp_dim), nn.GELU(), BitMaskDropout(o.transformer_dropout),
                                nn.Linear(o.mlp_dim, o.dim), BitMaskDropout(o.transformer_dropout))
        self.norm = nn.LayerNorm(o.dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm(x), mask) + x
        return self.ff(self.norm(x)) + x


class TokenEmbedding(nn.Module):
    """Window features + (modality + time + padding) embeddings -> Linear -> Dropout (ms:243-587)."""

    def __init__(self, audio_dim: int, video_dim: int, o: TCaFOptions):
        super().__init__()
        self.o = o
        self.modal = nn.Embedding(2, o.embed_dim) if o.modality_embedding else None
        if o.time_embedding == "fixed":
            self.time = nn.Embedding(o.time_len, o.embed_dim)
        elif o.time_embedding == "sinusoid":
            self.fourier = nn.Linear(o.embed_dim, o.embed_dim)
            self.register_buffer("fourier_randn", o.fourier_scale * torch.randn(2, o.embed_dim // 2))
        self.pad = nn.Embedding(1, o.embed_dim)
        self.out_audio = nn.Linear(audio_dim + o.embed_dim, o.dim)
        self.out_video = nn.Linear(video_dim + o.embed_dim, o.dim)
        self.dropout = BitMaskDropout(o.embed_dropout)

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T) window times -> (B, T, E)."""
        if self.o.time_embedding == "fixed":
            return self.time(t.round().long())
        if self.o.time_embedding == "sinusoid":  # ms:331-339
            proj = (2.0 * math.pi * torch.stack([t, t], -1)) @ self.fourier_randn  # (B, T, E/2)
            return self.fourier(torch.cat([proj.sin(), proj.cos()], -1))
        return t.new_zeros((*t.shape, self.o.embed_dim))

    def forward(self, x: torch.Tensor, padded: torch.Tensor, t: torch.Tensor, modality: int) -> torch.Tensor:
        """x (B, T, D), padded (B, T) bool, t (B, T) -> tokens (B, T, dim)."""
        emb = self.time_embedding(t)  # (B, T, E)
        emb = emb + padded[..., None].to(emb.dtype) * self.pad.weight[0]
        if self.modal is not None:
            emb = emb + self.modal.weight[modality]
        out = self.out_audio if modality == 0 else self.out_video
        return self.dropout(out(torch.cat([x, emb], -1)))  # (B, T, dim)


def window_times(length: int, batch: int, rate: float, device) -> torch.Tensor:
    """(B, T): k * rate, their timestep arrays (ds:708-711)."""
    return (torch.arange(length, device=device, dtype=torch.float32) * rate).expand(batch, length)


class TCaF(ZSLMethod):
    label = "TCaF"
    modalities = ("audio", "video")
    test_modalities = ("audio", "video", "both")
    presets = TCAF_MODEL_PRESETS
    Options = TCaFOptions
    sequence_inputs = True
    hop_options = {"audio": "rate_audio", "video": "rate_video"}

    def __init__(self, model_cfg, loss_cfg):
        super().__init__(model_cfg, loss_cfg)
        m, o = model_cfg, self.options
        _check_options(o)
        if o.rec_loss and o.dim != m.text_dim:  # D_o reconstructs w from theta_o at the transformer width (ms:742-748)
            raise ValueError(f"TCaF: rec_loss needs model.options.dim == text_dim ({m.text_dim}), got {o.dim}")
        a_in, v_in = (o.dim, o.dim) if o.use_embedding_net else (m.audio_dim, m.video_dim)
        if o.use_embedding_net:
            self.A_enc = embedding_net(m.audio_dim, o.dim, o.encoder_dropout, o.hidden_batch_norm, o.encoder_hidden)
            self.V_enc = embedding_net(m.video_dim, o.dim, o.encoder_dropout, o.hidden_batch_norm, o.encoder_hidden)
        self.W_proj = embedding_net(m.text_dim, DIM_OUT, o.text_dropout, o.hidden_batch_norm)
        self.D_w = embedding_net(DIM_OUT, m.text_dim, o.text_dropout, o.hidden_batch_norm)
        self.cls_token = nn.Parameter(torch.randn(1, 1, o.dim))
        self.embed = TokenEmbedding(a_in, v_in, o)
        self.layers = nn.ModuleList(TransformerLayer(o) for _ in range(o.depth))
        self.O_proj = embedding_net(o.dim, DIM_OUT, o.decoder_dropout, o.hidden_batch_norm, o.decoder_hidden)
        self.D_o = embedding_net(DIM_OUT, o.dim, o.decoder_dropout, o.hidden_batch_norm, o.decoder_hidden)

    # --- batching (their collator) -------------------------------------------------------------------------
    def collate(self, seqs: dict, idx: torch.Tensor, *, train: bool, generator: torch.Generator | None = None):
        """Clips `idx` padded / cut as their DefaultCollator does: (B, Ta, Da), (B, Tv, Dv), masks, window times."""
        o = self.options
        mode, maxlen, trim = (o.seqlen_train, o.maxlen_train, o.trim_train) if train else (
            o.seqlen_test, o.maxlen_test, o.trim_test)
        a_seq, v_seq = seqs["audio"], seqs["video"]
        len_a, len_v = a_seq.lengths[idx], v_seq.lengths[idx]  # (B,)
        if mode == "max":  # ds:695-696: the batch's longest clip, nothing cut
            t_a, t_v = int(len_a.max()), int(len_v.max())
            start_a = start_v = None
        else:  # ds:697-700, 732-757
            t_v, t_a = maxlen, round(maxlen * o.rate_video * o.rate_audio)
            over_v, over_a = len_v - t_v, len_a - t_a
            if trim == "random":
                u = torch.rand(len(idx), device=idx.device, generator=generator)
                start_v = (u * over_v.clamp_min(1)).long()
            else:
                start_v = over_v // 2
            start_v = torch.where(over_v > 0, start_v, torch.zeros_like(start_v))
            start_a = torch.minimum(over_a, (start_v * o.rate_video / o.rate_audio).round().long())
            start_a = torch.where((start_v > 0) & (over_a > 0), start_a, torch.zeros_like(start_a))
        a, mask_a = a_seq.padded(idx, t_a, start_a)
        v, mask_v = v_seq.padded(idx, t_v, start_v)
        return a, v, mask_a, mask_v

    # --- the network -----------------------------------------------------------------------------------------
    def embed_clips(self, a, v, mask_a, mask_v, time: str) -> torch.Tensor:
        """a (B, Ta, Da), v (B, Tv, Dv), masks (B, T) True = real -> theta_o (B, 64); `time`: seconds | index."""
        o = self.options
        b, t_a, t_v = a.shape[0], a.shape[1], v.shape[1]
        a = a / o.audio_scale
        v = F.normalize(v, dim=1)  # over time: F.normalize's default dim on (B, T, D) (ms:791)
        if o.use_embedding_net:
            a = self.A_enc(a.reshape(b * t_a, -1)).view(b, t_a, -1)  # (B, Ta, dim)
            v = self.V_enc(v.reshape(b * t_v, -1)).view(b, t_v, -1)  # (B, Tv, dim)
        rate_a, rate_v = (o.rate_audio, o.rate_video) if time == "seconds" else (1.0, 1.0)
        tok_a = self.embed(a, ~mask_a, window_times(t_a, b, rate_a, a.device), 0)  # (B, Ta, dim)
        tok_v = self.embed(v, ~mask_v, window_times(t_v, b, rate_v, v.device), 1)  # (B, Tv, dim)
        x = torch.cat([self.cls_token.expand(b, -1, -1), tok_a, tok_v], 1)  # (B, 1 + Ta + Tv, dim)
        mask = attention_mask(torch.cat([mask_a, mask_v], 1), t_a, o.attention)
        for layer in self.layers:
            x = layer(x, mask)
        return self.O_proj(x[:, 0])  # (B, 64)

    # --- the interface ---------------------------------------------------------------------------------------
    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        o = self.options
        half = batch["idx"].shape[0] // 2  # the positive clips only (their train.py:61-89)
        idx, target = batch["idx"][:half], batch["target"][:half]
        seqs = {"audio": batch["audio_seq"], "video": batch["video_seq"]}
        a, v, mask_a, mask_v = self.collate(seqs, idx, train=True)
        theta_o = self.embed_clips(a, v, mask_a, mask_v, "seconds")  # (B, 64)
        w = batch["xt"][:half]  # (B, 300)
        theta_w = self.W_proj(w)  # (B, 64)
        terms = {}
        if o.cross_entropy:  # ms:872-876
            scores = theta_o @ self.W_proj(batch["class_text"]).t()  # (B, C_train)
            terms["ce"] = F.cross_entropy(scores.float(), target)
        if o.reg_loss:  # ms:880-883
            terms["reg"] = F.mse_loss(theta_o.float(), theta_w.float())
        if o.rec_loss:  # ms:888-892
            terms["rec"] = F.mse_loss(self.D_o(theta_o).float(), w) + F.mse_loss(self.D_w(theta_w).float(), w)
        if not terms:
            terms["zero"] = theta_o.sum() * 0.0
        return terms

    @torch.no_grad()
    def extra_embedding_pass(self, batch: dict) -> None:
        """Their train_step's get_embeddings call on the positives in train mode (train.py:93)."""
        half = batch["idx"].shape[0] // 2
        seqs = {"audio": batch["audio_seq"], "video": batch["video_seq"]}
        a, v, mask_a, mask_v = self.collate(seqs, batch["idx"][:half], train=True)
        self.embed_clips(a, v, mask_a, mask_v, self.options.test_time)
        self.W_proj(batch["xt"][:half])

    @torch.no_grad()
    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion: str = "equal", sequences=None):
        o = self.options
        theta_w = self.W_proj(x_text)  # (C, 64)
        parts = []
        if sequences is None:
            raise ValueError("TCaF scores feature sequences: distances(..., sequences={'audio': ..., 'video': ...})")
        device = theta_w.device
        for idx in torch.arange(len(sequences["audio"]), device=device).split(o.eval_batch):
            a, v, mask_a, mask_v = self.collate(sequences, idx, train=False)
            parts.append(self.embed_clips(a, v, mask_a, mask_v, o.test_time))
        d = torch.cdist(torch.cat(parts), theta_w)  # (N, C)
        return {"audio": d, "video": d, "both": d, "attention": None}


def _check_options(o: TCaFOptions) -> None:
    for key, allowed in (("seqlen_train", SEQLEN_MODES), ("seqlen_test", SEQLEN_MODES), ("trim_train", TRIMS),
                         ("trim_test", TRIMS), ("attention", ATTENTIONS), ("test_time", ("index", "seconds")),
                         ("time_embedding", ("sinusoid", "fixed", "none"))):
        if getattr(o, key) not in allowed:
            raise ValueError(f"TCaF: model.options.{key} must be one of {allowed}, got {getattr(o, key)!r}")
