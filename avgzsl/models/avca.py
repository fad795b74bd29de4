"""AVCA (Mercea et al., CVPR 2022): audio-visual cross-attention embeddings, as AVCA-GZSL's code defines them.

Every choice below follows their released code at commit 2711aeb, `src/model_improvements.py` (the class
`AVCA` that main.py:12,199 instantiates; `src/model.py` has no AVCA), cited as `mi:<line>`:

* encoders A_enc, V_enc: Linear(D, H_enc) -> BatchNorm1d -> ReLU -> Dropout(r_enc) -> Linear(H_enc, 300)
  -> BatchNorm1d(momentum) -> ReLU -> Dropout(r_enc) (EmbeddingNet mi:85-108, mi:138-153). Only the second
  BatchNorm takes the `--momentum` argument; the first keeps torch's 0.1 (mi:91-96);
* cross-attention: one pre-norm transformer over the two tokens [phi_a + pos_a, phi_v + pos_v] (a learned
  (2, 300) position embedding, mi:182, 224), width 300, `depth` layers, 3 heads of 100, feed-forward
  hidden 64 with GELU, dropout r_enc (Transformer mi:19-82, built at mi:154); the attention projection
  to q, k, v has no bias (mi:50), the output projection has one (mi:52-55); each modality keeps a residual:
  phi_a + attn_a, phi_v + attn_v (mi:231-232);
* projectors A_proj, V_proj: 300 -> H_dec -> 64 as the encoders with dropout r_dec (mi:174-176);
  W_proj (text): Linear(300, 64) -> BatchNorm1d -> ReLU -> Dropout(r_add) (mi:156-162; EmbeddingNet
  without hidden layer mi:99-103, whose BatchNorm keeps momentum 0.1); D (decoder, 64 -> 300),
  A_rec, V_rec (64 -> 300) are the same single-layer nets (mi:164-170, 178-180);
* the loss (mi:255-292), every triplet nn.TripletMarginLoss(margin=1) (mi:201), every regression MSE
  (mi:200): L_rec = MSE(w, D(theta_v)) + MSE(w, D(theta_a)) + MSE(w, D(theta_w)); L_ct = triplets
  (D(theta_w), D(theta_a), D(theta_a_neg)) + (D(theta_w), D(theta_v), D(theta_v_neg)); L_w = triplets
  (theta_w, theta_v, theta_v_neg) + (theta_w, theta_a, theta_a_neg) + (theta_a, theta_w, theta_w_neg) +
  (theta_v, theta_w, theta_w_neg); with `--additional_triplets_loss` (every run script) L_t = triplets
  (theta_a, theta_w, theta_a_neg) + (theta_v, theta_w, theta_v_neg) + (theta_w, theta_a, theta_w_neg) +
  (theta_w, theta_v, theta_w_neg), both pair weights 1 in every run script; with `--reg_loss` (every run
  script) L_r = MSE(V_rec(theta_v), phi_v) + MSE(A_rec(theta_a), phi_a) + MSE(theta_v, theta_w) +
  MSE(theta_a, theta_w). Here phi_a, phi_v are the encoder outputs before attention (mi:209-210, 266-267);
* each net is called on the positive and the negative half separately (mi:209-252), so BatchNorm
  statistics are per half batch; A_proj and V_proj also run on the reconstructions (mi:245-246, unused by
  the loss but they move those nets' running statistics). Here a net's calls on independent inputs run as
  one call on their rows with BatchNorm per block (`avgzsl.models.layers.blockwise_forward`), in AVCA's order
  per net, so batch statistics and gradients are those of the separate calls, and so are the running
  statistics that this forward leaves; dropout is `BitMaskDropout` (nn.Dropout's mask law and scale);
* after every optimiser step AVCA-GZSL's training loop calls `get_embeddings` on the positives in train mode
  (src/train.py:110-111, mi:314-330): one more BatchNorm update of A_enc, V_enc, W_proj, A_proj and V_proj
  with the updated weights. The paper has no such pass and by default none runs, so the eval-mode running
  statistics differ from theirs; `train.avca_extra_embedding_pass: true` runs it (`extra_embedding_pass`);
* their optimiser (mi:187-192) leaves the position embedding out, so it keeps its initial value;
  `model.avca_train_position_embedding: false` freezes it the same way (default: trained, as the paper);
* test (mi:314-330, src/utils.py:182-205): theta_a, theta_v and theta_w of the class word vectors, scored
  by torch.cdist (src/utils.py:245,253). AVCA-GZSL evaluates only mode="video" and returns that one result
  as "audio", "video" and "both" (src/utils.py:196-205). `model.avca_scoring: video_branch` reproduces that;
  the default `per_modality` scores audio by theta_a, video by theta_v and both by their fusion, as every
  other model here.

The optimiser (Adam, weight decay 1e-5, mi:187-192) and the per-dataset run-script settings are presets:
see `avgzsl.settings.experiment.AVCA_MODEL_SETTINGS`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from avgzsl.models.layers import BitMaskDropout, blockwise_forward
from avgzsl.models.losses import full_precision, triplet
from avgzsl.models.method import ZSLMethod
from avgzsl.settings.experiment import LossConfig, ModelConfig

TOKEN_DIM = 300  # width of the encoders' outputs and of the cross-attention (mi:141-154)
HEADS, HEAD_DIM, FF_DIM = 3, 100, 64  # mi:154


def avca_net(in_dim: int, out_dim: int, dropout: float, momentum: float, hidden_dim: int = 0) -> nn.Sequential:
    """AVCA's EmbeddingNet (mi:85-108): with a hidden layer the output BatchNorm takes `momentum`, without one
    it keeps torch's default 0.1."""
    if hidden_dim:
        return nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(), BitMaskDropout(dropout),
            nn.Linear(hidden_dim, out_dim), nn.BatchNorm1d(out_dim, momentum=momentum), nn.ReLU(),
            BitMaskDropout(dropout),
        )
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU(), BitMaskDropout(dropout))


class SelfAttention(nn.Module):
    """Multi-head self-attention over a few tokens: softmax(q k^T / sqrt(d)) v, q, k, v without bias (mi:40-67)."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float):
        super().__init__()
        self.heads, self.scale = heads, head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.out = nn.Sequential(nn.Linear(heads * head_dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, dim) -> (B, N, dim)
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        attn = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return self.out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class CrossAttention(nn.Module):
    """Pre-norm transformer layers: x + Attn(LN(x)), then x + FF(LN(x)) (mi:19-38, 69-82)."""

    def __init__(self, depth: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(depth):
            self.layers.append(nn.ModuleDict({
                "attn_norm": nn.LayerNorm(TOKEN_DIM),
                "attn": SelfAttention(TOKEN_DIM, HEADS, HEAD_DIM, dropout),
                "ff_norm": nn.LayerNorm(TOKEN_DIM),
                "ff": nn.Sequential(nn.Linear(TOKEN_DIM, FF_DIM), nn.GELU(), nn.Dropout(dropout),
                                    nn.Linear(FF_DIM, TOKEN_DIM), nn.Dropout(dropout)),
            }))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer["attn"](layer["attn_norm"](x)) + x
            x = layer["ff"](layer["ff_norm"](x)) + x
        return x


class AVCA(ZSLMethod):  # (AVCA's run scripts never normalise inputs)
    """AVCA with the project's model interface (avgzsl.models.method): `training_terms(batch)`, `distances(...)`."""

    label = "AVCA"
    uses_audio = True
    uses_video = True
    attention = None  # no CJME-style modality weight: "both" is a fixed fusion

    def run_record(self) -> dict:
        return {"avca_scoring": self.model_cfg.avca_scoring}

    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig):
        super().__init__(model_cfg, loss_cfg)
        m = model_cfg
        # AVCA-GZSL's test: the video branch's distances reported as all three rows (`model.avca_scoring`)
        self.scores_video_branch = m.avca_scoring == "video_branch"
        mom, e = m.bn_momentum, m.embed_dim
        self.audio_enc = avca_net(m.audio_dim, TOKEN_DIM, m.dropout, mom, m.hidden_dim)
        self.video_enc = avca_net(m.video_dim, TOKEN_DIM, m.dropout, mom, m.hidden_dim)
        self.cross_attention = CrossAttention(m.attention_depth, m.dropout)
        self.position = nn.Parameter(torch.randn(2, TOKEN_DIM))  # mi:182
        # AVCA-GZSL's optimiser never sees it (mi:187-192): without a gradient, Adam leaves it as initialised
        self.position.requires_grad_(m.avca_train_position_embedding)
        self.text_proj = avca_net(m.text_dim, e, m.additional_dropout, mom)
        self.decoder = avca_net(e, m.text_dim, m.additional_dropout, mom)
        self.audio_proj = avca_net(TOKEN_DIM, e, m.decoder_dropout, mom, m.decoder_hidden_dim)
        self.video_proj = avca_net(TOKEN_DIM, e, m.decoder_dropout, mom, m.decoder_hidden_dim)
        self.audio_rec = avca_net(e, TOKEN_DIM, m.additional_dropout, mom)
        self.video_rec = avca_net(e, TOKEN_DIM, m.additional_dropout, mom)

    def encode(self, x_a: torch.Tensor, x_v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Encoder outputs phi_a, phi_v and their attended versions (mi:209-236, 316-325)."""
        phi_a, phi_v = self.audio_enc(self.prep(x_a)), self.video_enc(self.prep(x_v))
        tokens = torch.stack((phi_a + self.position[0], phi_v + self.position[1]), dim=1)
        attended = self.cross_attention(tokens)
        return phi_a, phi_v, phi_a + attended[:, 0], phi_v + attended[:, 1]

    def embed_text(self, x_t: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.prep(x_t))

    def embed(self, x_a, x_v) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, att_a, att_v = self.encode(x_a, x_v)
        return self.audio_proj(att_a), self.video_proj(att_v)

    def forward_pair(self, batch: dict) -> dict[str, torch.Tensor]:
        """Every tensor the loss reads, with each net's calls in AVCA's order (mi:209-252).

        Rows [0, B) of the batch are the positives, [B, 2B) the negatives; a net called on both halves
        runs once with 2 BatchNorm blocks (positive, then negative), as AVCA's two calls."""
        b = batch["xa"].shape[0] // 2
        xa, xv, xt = self.prep(batch["xa"]), self.prep(batch["xv"]), self.prep(batch["xt"])
        phi_a2 = blockwise_forward(self.audio_enc, xa, 2)  # mi:209-213
        phi_v2 = blockwise_forward(self.video_enc, xv, 2)
        theta_w2 = blockwise_forward(self.text_proj, xt, 2)  # mi:218-219
        # mi:224-229; LayerNorm and attention act within a clip, so both halves go through in one call
        attended = self.cross_attention(torch.stack((phi_a2 + self.position[0], phi_v2 + self.position[1]), dim=1))
        theta_v2 = blockwise_forward(self.video_proj, phi_v2 + attended[:, 1], 2)  # mi:231-241
        theta_a2 = blockwise_forward(self.audio_proj, phi_a2 + attended[:, 0], 2)
        (theta_a, theta_a_neg), (theta_v, theta_v_neg) = theta_a2.split(b), theta_v2.split(b)
        phi_v_rec = blockwise_forward(self.video_rec, theta_v)  # mi:243-244
        phi_a_rec = blockwise_forward(self.audio_rec, theta_a)
        with torch.no_grad():  # mi:245-246: outputs unused, only those nets' running statistics move
            blockwise_forward(self.audio_proj, phi_a_rec), blockwise_forward(self.video_proj, phi_v_rec)
        # D's calls in AVCA's order: theta_w (mi:221), theta_w_neg (mi:222, unused by the loss: its rows get
        # zero gradient, but they move D's running statistics), then mi:249-252
        rho = blockwise_forward(self.decoder, torch.cat((theta_w2, theta_a2, theta_v2)), 6)
        rho_w, _, rho_a, rho_a_neg, rho_v, rho_v_neg = rho.split(b)
        theta_w, theta_w_neg = theta_w2.split(b)
        return dict(phi_a=phi_a2[:b], phi_v=phi_v2[:b], w=xt[:b], theta_w=theta_w, theta_w_neg=theta_w_neg,
                    rho_w=rho_w, theta_a=theta_a, theta_a_neg=theta_a_neg, theta_v=theta_v, theta_v_neg=theta_v_neg,
                    phi_a_rec=phi_a_rec, phi_v_rec=phi_v_rec, rho_a=rho_a, rho_a_neg=rho_a_neg,
                    rho_v=rho_v, rho_v_neg=rho_v_neg)

    @torch.no_grad()
    def extra_embedding_pass(self, batch: dict) -> None:
        """AVCA-GZSL's `get_embeddings(x_a, x_v, w)` on the positives after each step (their src/train.py:111,
        mi:314-330), in train mode: its outputs are unused, so all it does is one more BatchNorm update (and
        dropout draw) of A_enc, V_enc, W_proj, V_proj and A_proj, from the weights the step just wrote."""
        b = batch["xa"].shape[0] // 2
        _, _, att_a, att_v = self.encode(batch["xa"][:b], batch["xv"][:b])
        self.embed_text(batch["xt"][:b])
        self.video_proj(att_v), self.audio_proj(att_a)  # mi:327-328: V_proj first

    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        """AVCA's loss (mi:255-292) split into its named parts; the trainer sums them."""
        o, c = self.forward_pair(batch), self.loss_cfg

        def triplets(*names: tuple[str, str, str]) -> torch.Tensor:  # nn.TripletMarginLoss(margin=1) of each
            anchor, positive, negative = (torch.stack([o[n[i]] for n in names]) for i in range(3))  # (K, B, D)
            return triplet(anchor, positive, negative, margin=c.margin, kind="euclidean", eps=c.eps)  # (K,)

        def mse(x: str, y: str) -> torch.Tensor:
            return F.mse_loss(*full_precision(o[x], o[y]))

        # the theta triplets of L_w and L_t in one call (the first four are L_w's)
        l_w = [("theta_w", "theta_v", "theta_v_neg"), ("theta_w", "theta_a", "theta_a_neg"),
               ("theta_a", "theta_w", "theta_w_neg"), ("theta_v", "theta_w", "theta_w_neg")]
        l_t = [("theta_a", "theta_w", "theta_a_neg"), ("theta_v", "theta_w", "theta_v_neg"),
               ("theta_w", "theta_a", "theta_w_neg"), ("theta_w", "theta_v", "theta_w_neg")]
        theta = triplets(*l_w, *(l_t if c.avca_additional_triplets else []))
        terms = {
            "rec": mse("w", "rho_v") + mse("w", "rho_a") + mse("w", "rho_w"),
            "ct": triplets(("rho_w", "rho_a", "rho_a_neg"), ("rho_w", "rho_v", "rho_v_neg")).sum(),
            "w": theta[:4].sum(),
        }
        if c.avca_additional_triplets:
            terms["t"] = theta[4:].sum()
        if c.avca_reg_loss:
            terms["reg"] = (mse("phi_v_rec", "phi_v") + mse("phi_a_rec", "phi_a")
                            + mse("theta_v", "theta_w") + mse("theta_a", "theta_w"))
        return terms

    @torch.no_grad()
    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion: str = "equal") -> dict[str, torch.Tensor]:
        """(N, C) Euclidean distances (src/utils.py:245,253). `per_modality`: audio, video and their fusion;
        `video_branch`: AVCA-GZSL's scoring, the video-branch distances reported as all three."""
        z_a, z_v = self.embed(x_a, x_v)
        t = self.embed_text(x_text)
        d_a, d_v = torch.cdist(z_a, t), torch.cdist(z_v, t)
        if self.model_cfg.avca_scoring == "video_branch":
            return {"audio": d_v, "video": d_v, "both": d_v, "attention": None}
        if fusion == "sum":  # AVCA-GZSL's "both" for the other models (src/utils.py:269-273)
            both = d_a + d_v
        elif fusion == "equal":
            both = 0.5 * (d_a + d_v)
        else:
            raise ValueError(f"unknown fusion {fusion!r} for avca; use 'equal' or 'sum'")
        # a clip missing a modality went through the cross-attention with a zero row; score it on the other
        has_a, has_v = has_a[:, None], has_v[:, None]
        both = torch.where(has_a & has_v, both, torch.where(has_a, d_a, d_v))
        return {"audio": torch.where(has_a, d_a, d_v), "video": torch.where(has_v, d_v, d_a), "both": both,
                "attention": None}
