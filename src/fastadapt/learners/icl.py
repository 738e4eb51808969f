"""In-context learning with a causal transformer (Garg et al., 2022; Kirsch et al., 2022).

A transformer reads the support set as a sequence and predicts the queries' labels in one forward pass:
``adapt`` only stores the context, so adaptation costs no gradient step; everything the model learns
about learning is in its weights, meta-trained over a distribution of tasks.

Sequence layout (one token per example, no positional encoding, so the context is a set read in order):

    [ P_1 ... P_S | Z_1 ... Z_S (training probes, optional) | Q_1 ... Q_M ]

``P_i = W_x f(x_i) + e(y_i)`` is a context pair; ``Z_i`` and ``Q_j`` are *query tokens*
``W_x f(x) + e(?)`` whose label slot holds a learned "unknown" embedding. With ``label_dim > 0`` the label
embedding is concatenated instead (``[W_x f(x_i), e(y_i)]``, as CAML does, Fifty et al. 2024), so input and
label live in separate coordinates and attention can compare inputs without label terms mixed in.

The attention mask is causal: ``P_i`` sees ``P_1..P_i``; the probe ``Z_i`` sees ``P_1..P_{i-1}`` and itself
(it predicts ``y_i`` from the first ``i-1`` examples, Garg's loss at every prefix length); a query ``Q_j`` sees all of
``P`` and itself,
never another query, so predictions are per query (non-transductive) and never see later tokens.
Classification uses label tokens ``e(y)`` over ``max_ways`` classes and reads logits from a linear head;
labels are permuted per training episode (Kirsch 2022) so the mapping must be inferred from the context.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..tasks.task import TaskBatch
from .base import METHODS, Learner, Prediction, check_labels


def icl_mask(context: int, probes: int, queries: int, device: torch.device | None = None) -> Tensor:
    """Boolean attention mask ``[T, T]`` (True = may attend) of the layout above, ``T = S + P + M``.

    ``probes`` is 0 or ``context``: probe ``i`` sees the pairs before ``i`` and itself."""
    s, p, m = context, probes, queries
    t = s + p + m
    allow = torch.zeros(t, t, dtype=torch.bool, device=device)
    allow[:s, :s] = torch.ones(s, s, dtype=torch.bool, device=device).tril()
    if p:
        allow[s : s + p, :s] = torch.ones(p, s, dtype=torch.bool, device=device).tril(-1)
    allow[s + p :, :s] = True
    idx = torch.arange(s, t, device=device)
    allow[idx, idx] = True
    return allow


def permute_labels(batch: TaskBatch, generator: torch.Generator | None = None) -> TaskBatch:
    """A random label permutation per episode, applied to support and query alike, and a random order
    of the support examples (Kirsch 2022): class identities carry no information across episodes."""
    b, n = len(batch), batch.ways
    perm = torch.rand(b, n, generator=generator).argsort(-1).to(batch.support_y.device)  # [B, N]
    order = torch.rand(b, batch.support_y.shape[1], generator=generator).argsort(-1).to(batch.support_y.device)
    sy = perm.gather(1, batch.support_y.long()).gather(1, order)
    sx = batch.support_x[torch.arange(b, device=order.device).unsqueeze(1), order]
    return replace(batch, support_x=sx, support_y=sy, query_y=perm.gather(1, batch.query_y.long()))


def random_rotation(batch: TaskBatch, generator: torch.Generator | None = None) -> TaskBatch:
    """Kirsch et al. (2022)'s task augmentation for vector inputs: one random orthogonal matrix per episode
    applied to its support and query inputs, so only relations between inputs (not their absolute
    position in feature space, e.g. which intents the training set held) carry over across episodes."""
    b, d = len(batch), batch.support_x.shape[-1]
    q, r = torch.linalg.qr(torch.randn(b, d, d, generator=generator))
    q = (q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)).to(batch.support_x)  # Haar-uniform
    return replace(batch, support_x=batch.support_x @ q, query_x=batch.query_x @ q)


class MLPEmbed(nn.Module):
    """Features of vector inputs (e.g. precomputed sentence embeddings): ``[..., D] -> [..., hidden]``."""

    def __init__(self, in_dim: int, hidden: int, layers: int = 1) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for i in range(layers):
            mods += [nn.Linear(in_dim if i == 0 else hidden, hidden), nn.GELU()]
        self.net = nn.Sequential(*mods) if mods else nn.Identity()
        self.out_dim = hidden if layers else in_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@dataclass
class ContextPredictor:
    """A task "adapted" in context: the stored support set, read again for every prediction."""

    learner: ICLTransformer
    support_x: Tensor
    support_y: Tensor
    ways: int | None

    def predict(self, x: Tensor) -> Prediction:
        out = self.learner.forward(self.support_x.unsqueeze(0), self.support_y.unsqueeze(0), x.unsqueeze(0), self.ways)
        return Prediction(**{k: v.squeeze(0) for k, v in out.items()})


@METHODS.register("icl")
class ICLTransformer(Learner):
    """Causal in-context learner (Garg 2022 for regression; Kirsch 2022 for classification).

    ``embedder`` maps one input to a feature vector (Conv4 for images, an MLP for vectors); ``max_ways``
    is the label vocabulary (0 means regression: scalar targets, a Gaussian-free MSE head).
    ``prefix_loss`` adds Garg's probes: the loss averages over predictions from 0..S-1 context examples too.
    ``rotate`` (vector inputs) rotates each training episode's inputs by a random orthogonal matrix (Kirsch 2022).
    ``init="nn"`` starts from an in-context nearest-neighbour classifier (`nearest_neighbour_init`).
    ``label_dim`` (classification): 0 adds label embeddings to the input tokens; ``> 0`` concatenates label
    embeddings of that size (the transformer's width is then ``dim + label_dim``).
    """

    def __init__(
        self,
        embedder: nn.Module,
        feat_dim: int,
        max_ways: int = 5,
        dim: int = 128,
        layers: int = 4,
        heads: int = 4,
        dropout: float = 0.0,
        prefix_loss: bool = False,
        permute: bool = True,
        rotate: bool = False,
        label_dim: int = 0,
        init: str = "default",
        nn_scale: float = 10.0,
    ) -> None:
        super().__init__()
        if label_dim < 0 or (label_dim and max_ways <= 0):
            raise ValueError(
                f"icl_label_dim must be 0 or, for classification, positive; got {label_dim} with max_ways={max_ways}."
            )
        width = dim + label_dim
        if width % heads:
            raise ValueError(
                f"The transformer width icl_dim + icl_label_dim ({width}) must be divisible by icl_heads ({heads})."
            )
        self.embedder, self.max_ways, self.prefix_loss, self.permute = embedder, max_ways, prefix_loss, permute
        self.rotate, self.label_dim = rotate, label_dim
        self.task_type = "classification" if max_ways > 0 else "regression"
        self.scalar_targets = max_ways <= 0  # regression targets are scalars: y is [..., N], not [..., N, 1]
        self.x_proj = nn.Linear(feat_dim, dim)
        # Classification: LayerNorm puts input features on the scale of the label embeddings (unit-norm sentence
        # embeddings would otherwise be swamped by them). Regression keeps |x|, which the target depends on.
        self.x_norm = nn.LayerNorm(dim) if max_ways > 0 else nn.Identity()
        if max_ways > 0:
            self.y_emb = nn.Embedding(max_ways + 1, label_dim or dim)  # index max_ways: the unknown label
            # Logits read against the label embeddings themselves (tied, as an LM ties its output layer):
            # attending to the right context pair already yields the right logit, which shortens the loss
            # plateau of in-context classification (Kirsch 2022).
            self.head = nn.Linear(width, label_dim or dim)
        else:
            self.y_proj = nn.Linear(1, dim)
            self.unknown = nn.Parameter(torch.zeros(dim))
            self.head = nn.Linear(dim, 1)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        if init == "nn":
            self.nearest_neighbour_init(nn_scale)
        elif init != "default":
            raise ValueError(f"icl_init must be 'default' or 'nn' (nearest-neighbour start), got {init!r}.")

    @torch.no_grad()
    def nearest_neighbour_init(self, scale: float = 10.0) -> None:
        """Start meta-training from an in-context nearest-neighbour classifier instead of a random transformer.

        In the spirit of mimetic initialization (Trockman & Kolter, 2023: attention initialized to a pattern
        trained models show), the first layer's attention starts as the soft nearest-neighbour readout that
        Matching Networks compute (Vinyals 2016) and that a transformer can represent (von Oswald 2023): a query
        attends to the context pairs by ``scale * cos(x_q, x_i)`` and copies their label embeddings (tokens with
        the unknown label are keyed away, so a query does not read itself). The other sub-layers start as
        identities (output weights zero); the head reads the label coordinates. Every weight still trains: the
        start is one point in the model's usual space. Needs concatenated labels (``label_dim > 0``) and one
        head spanning the input coordinates plus one."""
        dim, lab, layers = self.x_proj.out_features, self.label_dim, self.blocks.layers
        width, att = dim + lab, layers[0].self_attn
        hd = att.head_dim
        if not lab or hd < dim + 1 or self.max_ways + 1 > lab:
            raise ValueError(
                f"icl_init='nn' needs icl_label_dim >= icl_max_ways + 1 ({self.max_ways + 1}) and "
                f"attention heads of width >= icl_dim + 1 (icl_dim={dim}, head width {hd}): use "
                f"icl_heads=1 or a smaller icl_dim."
            )
        if self.x_proj.in_features == dim:  # identity: cosine geometry of the inputs kept exactly
            self.x_proj.weight.copy_(torch.eye(dim))
            self.x_proj.bias.zero_()
        emb = torch.linalg.qr(torch.randn(lab, self.max_ways + 1))[0].t() * lab**0.5  # orthogonal labels
        self.y_emb.weight.copy_(emb)
        for blk in layers:  # residual identities: zero output weights
            for lin in (blk.self_attn.out_proj, blk.linear2):
                lin.weight.zero_()
                lin.bias.zero_()
        w, b = att.in_proj_weight, att.in_proj_bias
        w.zero_()
        b.zero_()
        alpha = (scale * hd**0.5 / dim) ** 0.5  # q.k / sqrt(hd) = scale * cos(x_q, x_k) for |x|^2 = dim
        w[:dim, :dim] = torch.eye(dim) * alpha  # query: its input coordinates
        w[width : width + dim, :dim] = torch.eye(dim) * alpha  # key: the same
        unknown = emb[self.max_ways] / emb[self.max_ways].norm()
        b[dim] = 1.0  # a constant query coordinate meets a key coordinate that is
        w[width + dim, dim:] = -4 * scale * hd**0.5 * unknown / lab**0.5  # large for unknown-label tokens
        w[2 * width + dim : 3 * width, dim:] = torch.eye(lab)  # values: label coordinates
        att.out_proj.weight[dim:, dim:] = torch.eye(lab)
        self.head.weight.zero_()
        self.head.bias.zero_()
        self.head.weight[:, dim:] = torch.eye(lab)

    def features(self, x: Tensor, lead: int) -> Tensor:
        """Embed inputs with ``lead`` leading dims (e.g. ``[B, S, ...]`` -> ``[B, S, F]``)."""
        shape = x.shape[:lead]
        if x.shape[0] == 0 or any(s == 0 for s in shape):
            return x.new_zeros(*shape, self.x_proj.in_features)
        f = self.embedder(x.reshape(-1, *x.shape[lead:]))
        return f.reshape(*shape, f.shape[-1])

    def _label_tokens(self, y: Tensor | None, shape: tuple[int, ...], device: torch.device) -> Tensor:
        if self.max_ways > 0:
            if y is None:
                y = torch.full(shape, self.max_ways, dtype=torch.long, device=device)
            return self.y_emb(y.long())
        if y is None:
            return self.unknown.expand(*shape, -1)
        return self.y_proj(y.unsqueeze(-1).to(self.unknown.dtype))

    def forward(
        self, support_x: Tensor, support_y: Tensor, query_x: Tensor, ways: int | None = None, probes: bool = False
    ) -> dict[str, Tensor]:
        """Predictions for ``query_x [B, M, ...]`` given context ``[B, S, ...]`` (``S`` may be 0). With
        ``probes`` also returns ``probe_*``: the prediction of each support label from the examples before it."""
        if self.max_ways > 0:
            ways = check_labels(support_y.reshape(-1), ways) if ways is None else ways
            if ways > self.max_ways:
                raise ValueError(
                    f"This in-context learner reads at most {self.max_ways} classes (icl_max_ways), "
                    f"got a {ways}-way task. Train one with icl_max_ways >= {ways}."
                )
        b, s, m = support_x.shape[0], support_x.shape[1], query_x.shape[1]
        dev = query_x.device
        fs, fq = self.features(support_x, 2), self.features(query_x, 2)
        xs, xq = self.x_norm(self.x_proj(fs)), self.x_norm(self.x_proj(fq))

        def pair(x: Tensor, y: Tensor | None, n: int) -> Tensor:
            lab = self._label_tokens(y, (b, n), dev)
            return torch.cat([x, lab], -1) if self.label_dim else x + lab

        toks = [pair(xs, support_y, s)]
        p = s if probes else 0
        if p:
            toks.append(pair(xs, None, s))
        toks.append(pair(xq, None, m))
        h = torch.cat(toks, 1)
        allow = icl_mask(s, p, m, dev)
        h = self.norm(self.blocks(h, mask=~allow))
        out = self.head(h[:, s:])  # probes and queries
        if self.max_ways > 0:
            out = out @ self.y_emb.weight[:ways].t() / out.shape[-1] ** 0.5
            res = {"logits": out[:, p:]}
            if p:
                res["probe_logits"] = out[:, :p]
        else:
            res = {"mean": out[:, p:, 0]}
            if p:
                res["probe_mean"] = out[:, :p, 0]
        return res

    def pretrained_keys(self) -> list[str]:
        """A pretrained text embedder's frozen weights (rebuilt from the installed encoder on load)."""
        if not getattr(self.embedder, "loads_pretrained", False):
            return []
        from ..text.encoder import frozen_state_keys

        return frozen_state_keys(self, "embedder.")

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> ContextPredictor:
        if self.max_ways > 0:
            ways = check_labels(support_y, ways)
        return ContextPredictor(self, support_x, support_y, ways)

    def predict_batch(self, batch: TaskBatch) -> Prediction:
        return Prediction(**self.forward(batch.support_x, batch.support_y, batch.query_x, batch.ways))

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        if self.max_ways > 0 and self.permute and self.training:
            batch = permute_labels(batch)
        if self.rotate and self.training:
            batch = random_rotation(batch)
        out = self.forward(batch.support_x, batch.support_y, batch.query_x, batch.ways, probes=self.prefix_loss)
        pred = Prediction(logits=out.get("logits"), mean=out.get("mean"))
        loss = pred.loss(batch.query_y)
        metrics = {"query_loss": loss.item()}
        if self.prefix_loss:
            probe = Prediction(logits=out.get("probe_logits"), mean=out.get("probe_mean"))
            s, m = batch.support_y.shape[1], batch.query_y.shape[1]
            loss = (s * probe.loss(batch.support_y) + m * loss) / (s + m)
        metrics["loss"] = loss.item()
        if pred.logits is not None:
            metrics["acc"] = pred.accuracy(batch.query_y).item()
        return loss, metrics
