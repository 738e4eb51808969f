"""Recurrent (black-box) meta-learner (Hochreiter, Younger & Conwell, 2001; the LSTM baseline of Santoro
et al., 2016): an LSTM reads the support set as a sequence of (embedding, one-hot label) pairs, and its
final state conditions the predictions for the queries. Adaptation is one forward pass.

Here the final state ``[h_T, c_T]`` is read out into a per-class weight matrix ``W [N, d]`` and bias
``b [N]``; a query with embedding ``e`` gets logits ``W e + b``. Every query is predicted from the same
final state, independently of the others, so predictions do not depend on the order of the queries.
They may depend on the order of the support set: training shuffles it (``shuffle_support``), and
`benchmarks/blackbox_omniglot.py` measures accuracy with sorted, reversed and shuffled support orders.

Each pair is fed as ``[e, onehot(y)]`` (``binding="concat"``, the plain form) or additionally with its
tensor-product code ``vec(onehot(y) e^T)`` (``binding="outer"``, default; Smolensky, 1990), which lets the
LSTM file each embedding under its label with input gates alone and meta-trains far faster on a CPU
budget. The LSTM needs about ``max_ways * embed`` cells to hold one summary per class. ``readout="cosine"``
scores a query by the cosine between its embedding and each generated class weight, times a learned scale
(Gidaris & Komodakis, 2018), so the norms of the generated weights do not decide the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from ..nn.episodic import embed as embed_images
from ..tasks.sequence import batch_generator, permute_support
from ..tasks.task import TaskBatch
from .base import METHODS, FeatureLearner, FeaturePredictor, Prediction

BINDINGS = ("outer", "concat")
READOUTS = ("dot", "cosine")


def lstm_final_state(lstm: nn.LSTM, x: Tensor) -> tuple[Tensor, Tensor]:
    """Final ``(h, c)`` ``[B, H]`` of a one-layer, batch-first ``nn.LSTM`` over ``x [B, S, I]``, computed
    with one matrix product for the inputs and one per step for the recurrence: the same numbers as
    ``lstm(x)``, but for the short support sequences read here (batch 1 at adaptation) about half the time
    of the fused oneDNN kernel on CPU, which pays a fixed cost of ~0.5 ms a call."""
    if lstm.num_layers != 1 or lstm.bidirectional or not lstm.batch_first or lstm.proj_size:
        raise ValueError("lstm_final_state takes a one-layer, unidirectional, batch-first nn.LSTM without projection.")
    b, s, _ = x.shape
    hidden = lstm.hidden_size
    if s == 0:
        raise ValueError("lstm_final_state needs a sequence of at least one step (the support set is empty).")
    gates_x = torch.addmm(lstm.bias_ih_l0 + lstm.bias_hh_l0, x.reshape(b * s, -1), lstm.weight_ih_l0.t()).view(
        b, s, 4 * hidden
    )
    h = c = None
    for t in range(s):  # step 0 starts from h = c = 0: no recurrent product, no forget term
        gates = gates_x[:, t] if h is None else torch.addmm(gates_x[:, t], h, lstm.weight_hh_l0.t())
        i, f, _, o = gates.sigmoid().chunk(4, -1)  # one sigmoid for all gates; g is the tanh block
        g = gates[:, 2 * hidden : 3 * hidden].tanh()
        c = i * g if c is None else f * c + i * g
        h = o * torch.tanh(c)
    return h, c


@dataclass
class RecurrentPredictor(FeaturePredictor):
    """A task adapted by the LSTM learner: generated classifier ``weight [..., N, d]``, ``bias [..., N]``."""

    learner: LSTMLearner
    weight: Tensor
    bias: Tensor

    def predict_features(self, e: Tensor) -> Prediction:
        return Prediction(logits=self.learner.classify(e, self.weight, self.bias))


@METHODS.register("lstm")
class LSTMLearner(FeatureLearner):
    """LSTM meta-learner over (embedding, label) sequences; see the module docstring.

    Labels are one-hot over ``max_ways`` units, so a model serves any ``ways <= max_ways``.
    BatchNorm in the encoder follows the module mode, as in ProtoNet.
    """

    supports_precision = ("fp32", "bf16", "fp16")  # the encoder runs under autocast (nn.episodic.embed)

    def __init__(
        self,
        encoder: nn.Module | None = None,
        feat: int = 64,
        embed: int = 64,
        hidden: int = 256,
        max_ways: int = 5,
        shuffle_support: bool = True,
        binding: str = "outer",
        recurrent_lr_scale: float = 1.0,
        readout: str = "dot",
    ) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout (lstm_readout) must be one of {READOUTS}, got {readout!r}.")
        self.readout_kind = readout
        if readout == "cosine":  # cosine classifier with a learned scale (Gidaris & Komodakis, 2018)
            self.cosine_scale = nn.Parameter(torch.tensor(10.0))
        if recurrent_lr_scale <= 0:
            raise ValueError(f"recurrent_lr_scale (lstm_lr_scale) must be positive, got {recurrent_lr_scale}.")
        self.recurrent_lr_scale = recurrent_lr_scale
        if binding not in BINDINGS:
            raise ValueError(f"binding must be one of {BINDINGS}, got {binding!r}.")
        self.encoder = (encoder if encoder is not None else Conv4()).to(memory_format=torch.channels_last)
        self.max_ways, self.embed_dim, self.shuffle_support, self.binding = max_ways, embed, shuffle_support, binding
        self.proj = nn.Linear(feat, embed)
        extra = max_ways * embed if binding == "outer" else 0
        self.lstm = nn.LSTM(embed + max_ways + extra, hidden, batch_first=True)
        self.readout = nn.Linear(2 * hidden, max_ways * (embed + 1))
        with torch.no_grad():  # forget-gate bias (Gers et al., 2000): remember the support by default
            self.lstm.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
        if binding == "outer" and hidden >= max_ways * embed:
            self._init_filing()

    @torch.no_grad()
    def _init_filing(self) -> None:
        """Identity initialisation (in the spirit of Le et al., 2015): cell ``(c, k)`` starts by adding
        feature ``k`` of the pair's tensor-product code under label ``c``, forgetting slowly, and the readout
        starts by copying cell block ``c`` into class ``c``'s weights: a prototype classifier on
        ``tanh(e)`` (dot product, or cosine with ``readout="cosine"``: then at initialisation it scores exactly
        as a cosine prototype classifier on the same features) that meta-training then reshapes."""
        n, d, h = self.max_ways, self.embed_dim, self.lstm.hidden_size
        cells = torch.arange(n * d)
        for gate in (0, 1, 2):  # input, forget, candidate of the filing cells: no random inputs, which would
            self.lstm.weight_ih_l0[gate * h + cells] = 0.0  # add noise at every step of other classes
            self.lstm.weight_hh_l0[gate * h + cells] = 0.0
        self.lstm.bias_ih_l0[2 * h + cells] = 0.0  # nor a constant candidate, which would pile up likewise
        self.lstm.bias_hh_l0[2 * h + cells] = 0.0
        self.lstm.weight_ih_l0[2 * h + cells, d + n + cells] = 1.0  # candidate g <- y (x) e
        self.lstm.bias_ih_l0[h : 2 * h].fill_(3.0)  # forget gate ~0.95
        cls, k = cells // d, cells % d
        self.readout.weight.mul_(0.1)
        self.readout.weight[cls * (d + 1) + k, h + cells] = 1.0  # W[c, k] <- cell (c, k)

    def param_groups(self) -> list[dict[str, Any]]:
        """The LSTM and its readout learn at ``recurrent_lr_scale`` times the encoder's rate (a smaller rate
        keeps the filing initialisation from being overwritten while the encoder adapts)."""
        recurrent = list(self.lstm.parameters()) + list(self.readout.parameters())
        ids = {id(p) for p in recurrent}
        return [
            {"params": [p for p in self.parameters() if id(p) not in ids]},
            {"params": recurrent, "lr_scale": self.recurrent_lr_scale},
        ]

    def classify(self, e: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """Logits ``[..., Q, N]`` of query embeddings ``e [..., Q, d]`` under a generated classifier: ``W e + b``
        (``readout="dot"``), or ``s cos(e, W_c) + b`` (``"cosine"``), which ignores the norms of the generated
        weights: a dot product favours the class whose summary has the largest norm."""
        if self.readout_kind == "cosine":
            e, weight = F.normalize(e, dim=-1), F.normalize(weight, dim=-1) * self.cosine_scale
        return e @ weight.transpose(-1, -2) + bias.unsqueeze(-2)

    def project(self, x: Tensor) -> Tensor:
        return self.proj(embed_images(self.encoder, x, self.precision))

    def _check_ways(self, ways: int) -> None:
        if ways > self.max_ways:
            raise ValueError(
                f"This LSTM learner has {self.max_ways} label units but the task has {ways} ways; "
                f"train one with max_ways >= {ways} (preset key lstm_max_ways)."
            )

    def read(self, e: Tensor, y: Tensor, ways: int) -> tuple[Tensor, Tensor]:
        """Read the support sequence ``e [B, S, d]``, ``y [B, S]`` -> classifier ``[B, N, d]``, ``[B, N]``."""
        self._check_ways(ways)
        onehot = F.one_hot(y.long(), self.max_ways).to(e.dtype)
        pair = [e, onehot]
        if self.binding == "outer":  # tensor-product code of the pair (Smolensky, 1990)
            pair.append((onehot.unsqueeze(-1) * e.unsqueeze(-2)).flatten(-2))
        h, c = lstm_final_state(self.lstm, torch.cat(pair, -1))
        out = self.readout(torch.cat([h, c], -1)).view(e.shape[0], self.max_ways, self.embed_dim + 1)
        return out[:, :ways, :-1], out[:, :ways, -1]

    def embed(self, x: Tensor) -> Tensor:
        return self.project(x)

    def adapt_features(self, e: Tensor, y: Tensor, ways: int) -> RecurrentPredictor:
        """The classifier generated from support embeddings ``e [..., S, d]`` read in order."""
        lead = e.shape[:-2]
        w, b = self.read(e.reshape(-1, *e.shape[-2:]), y.reshape(-1, y.shape[-1]), ways)
        return RecurrentPredictor(self, w.reshape(*lead, *w.shape[1:]), b.reshape(*lead, b.shape[-1]))

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Cross-entropy on the queries; with ``shuffle_support`` each episode's support set is read in a
        random order (seeded by the batch, so a resumed run repeats it)."""
        if self.shuffle_support:
            batch = permute_support(batch, "shuffled", batch_generator(batch))
        return super().meta_loss(batch)
