"""Memory-augmented neural network (Santoro, Bartunov, Botvinick, Wierstra & Lillicrap, 2016): an LSTM
controller with an external memory read by content (cosine similarity, softmax) and written by
least-recently-used access (LRUA, usage weights with decay).

Data arrive as a sequence: step ``t`` shows image ``x_t`` and the label of step ``t-1`` (one-hot, zeros
at the first step), and the network predicts the label of ``x_t`` (`fastadapt.tasks.sequence`).
As an episodic learner, ``adapt`` writes the support set into memory by running that sequence, and
``predict`` takes one step per query from the resulting state (no gradient steps, queries independent).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from ..stats import ci95
from ..tasks.augment import random_rotate, random_translate
from ..tasks.sequence import SequenceBatch, as_sequence, batch_generator, random_orders
from ..tasks.task import TaskBatch
from .base import METHODS, FeatureLearner, FeaturePredictor, Prediction


def content_weights(memory: Tensor, keys: Tensor, strength: Tensor | None = None, eps: float = 1e-8) -> Tensor:
    """Read weights by content: softmax over slots of the cosine similarity between each key and each
    memory row, times an optional key strength. ``memory [B, S, W]``, ``keys [B, R, W]`` -> ``[B, R, S]``."""
    sim = F.normalize(keys, dim=-1, eps=eps) @ F.normalize(memory, dim=-1, eps=eps).transpose(-1, -2)
    if strength is not None:
        sim = sim * strength.unsqueeze(-1)
    return sim.softmax(-1)


def least_used(usage: Tensor, heads: int) -> Tensor:
    """One-hot weights of the ``heads`` least-used slots, the h-th least used for head h:
    ``usage [B, S]`` -> ``[B, R, S]``. Their sum is Santoro's ``w^lu`` (ones at the R smallest usages)."""
    if heads > usage.shape[-1]:
        raise ValueError(f"{heads} heads need at least {heads} memory slots, got {usage.shape[-1]}.")
    idx = usage.topk(heads, dim=-1, largest=False).indices  # [B, R]
    return F.one_hot(idx, usage.shape[-1]).to(usage.dtype)


ERASE = ("heads", "one")


def lrua_write(
    memory: Tensor, usage: Tensor, prev_read: Tensor, values: Tensor, gate: Tensor, erase: str = "heads"
) -> tuple[Tensor, Tensor]:
    """Least-recently-used write (Santoro 2016, eqs. 6-8): each head adds its vector to
    ``sigmoid(gate) * w^r_{t-1} + (1 - sigmoid(gate)) * w^lu_{t-1}``. Erased first: the R least-used slots,
    one per head (``erase="heads"``), or only the least-used one, as Santoro's text has it (``"one"``: a
    128-slot memory then turns over in 128 steps instead of 32 with 4 heads). ``memory [B, S, W]``,
    ``usage [B, S]``, ``prev_read [B, R, S]``, ``values [B, R, W]``, ``gate [B, R]`` -> (new memory,
    write weights ``[B, R, S]``)."""
    if erase not in ERASE:
        raise ValueError(f"erase must be one of {ERASE}, got {erase!r}.")
    lu = least_used(usage, values.shape[1])
    a = torch.sigmoid(gate).unsqueeze(-1)
    w_write = a * prev_read + (1 - a) * lu
    erased = memory * (1 - (lu.sum(1).clamp_max(1) if erase == "heads" else lu[:, 0])).unsqueeze(-1)
    return erased + w_write.transpose(-1, -2) @ values, w_write


@dataclass
class MANNState:
    """Controller state (``h``, ``c``), memory ``[B, S, W]``, usage ``[B, S]``, last read weights
    ``[B, R, S]`` and read vectors ``[B, R*W]``, and the label to show with the next step ``[B]``."""

    h: Tensor
    c: Tensor
    memory: Tensor
    usage: Tensor
    read_w: Tensor
    reads: Tensor
    last_y: Tensor

    def expand(self, q: int) -> MANNState:
        """Each of the B states repeated for ``q`` independent continuations: leading dim ``B*q``."""
        return MANNState(
            *(
                t.repeat_interleave(q, dim=0)
                for t in (self.h, self.c, self.memory, self.usage, self.read_w, self.reads, self.last_y)
            )
        )


@dataclass
class MemoryPredictor(FeaturePredictor):
    """A task (or tasks: leading dimensions ``lead``) adapted by a MANN: the state after reading the support
    sequence, one state per task."""

    learner: MANN
    state: MANNState
    ways: int
    lead: tuple[int, ...] = ()

    def predict_features(self, z: Tensor) -> Prediction:
        """Independent one-step predictions for query features ``[*lead, Q, F]`` -> logits ``[*lead, Q, N]``."""
        logits = self.learner.predict_from(self.state, z.reshape(-1, *z.shape[-2:]), self.ways)
        return Prediction(logits=logits.reshape(*self.lead, *logits.shape[1:]))


@METHODS.register("mann")
class MANN(FeatureLearner):
    """Santoro et al. (2016) MANN with LRUA memory.

    ``encoder``: ``"pixels"`` feeds the flattened image to the controller as in the paper; ``"conv4"``
    embeds it with a Conv4 first (much faster to meta-train on a CPU budget). Labels are one-hot over
    ``max_ways`` units. A learned key strength (softplus + 1, as in Graves et al.'s NTM) sharpens the
    cosine softmax. As in the paper, step t first writes, then reads the updated memory.

    ``write``: ``"add"`` (default) writes a separate add vector (``tanh`` of a linear map of the controller
    state, as in Graves et al. 2014's NTM); ``"key"`` writes the read key itself, Santoro's eq. 8 taken
    literally. With ``"key"`` the read at step t finds the key it has just written (cosine 1) and learning
    stalls near chance: on a synthetic 5-class task the loss had not left ln 5 after 600 batches of 16,
    while with ``"add"`` the 5th-instance accuracy reached 0.8. ``erase``: see :func:`lrua_write`.
    ``shift``: training sequences show each image moved by a random offset of up to ``shift`` pixels per axis
    (Santoro's translation augmentation; 0, the default, turns it off); evaluation never shifts. ``rotate``:
    likewise, each training image is first rotated by a random angle of up to ``rotate`` degrees (0: off).
    ``freeze_encoder``: keep a ``"conv4"`` encoder fixed (no gradient, BatchNorm on its running statistics),
    e.g. one taken from a trained Prototypical Network with the config key ``encoder_from``.
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        max_ways: int = 5,
        encoder: str = "pixels",
        controller: int = 200,
        slots: int = 128,
        width: int = 40,
        heads: int = 4,
        gamma: float = 0.95,
        hidden: int = 64,
        write: str = "add",
        erase: str = "heads",
        shift: int = 0,
        rotate: float = 0.0,
        freeze_encoder: bool = False,
    ) -> None:
        super().__init__()
        if shift < 0:
            raise ValueError(f"shift (mann_shift) is a number of pixels >= 0, got {shift}.")
        if not 0 <= rotate <= 180:
            raise ValueError(f"rotate (mann_rotate) is a largest angle in degrees, 0 to 180, got {rotate}.")
        self.shift, self.rotate = shift, rotate
        if erase not in ERASE:
            raise ValueError(f"erase (mann_erase) must be one of {ERASE}, got {erase!r}.")
        self.erase = erase
        if write not in ("add", "key"):
            raise ValueError(f"write must be 'add' (separate add vector) or 'key' (write the read key), got {write!r}.")
        if encoder not in ("pixels", "conv4"):
            raise ValueError(f"encoder must be 'pixels' or 'conv4', got {encoder!r}.")
        if not 0 <= gamma <= 1:
            raise ValueError(f"usage decay gamma must lie in [0, 1], got {gamma}.")
        self.encoder_kind = encoder
        if freeze_encoder and encoder != "conv4":
            raise ValueError(
                f"freeze_encoder (mann_freeze_encoder) needs a learned encoder (mann_encoder='conv4'); "
                f"the {encoder!r} encoder has no weights to freeze."
            )
        self.encoder = Conv4(channels, hidden) if encoder == "conv4" else nn.Flatten()
        self.freeze_encoder = freeze_encoder
        self.encoder.requires_grad_(not freeze_encoder)
        if freeze_encoder:  # inference-only convolutions run ~1.7x faster channels-last on CPU
            self.encoder.to(memory_format=torch.channels_last)
        feat = hidden * (image_size // 16) ** 2 if encoder == "conv4" else channels * image_size**2
        self.max_ways, self.slots, self.width, self.heads, self.gamma = max_ways, slots, width, heads, gamma
        self.cell = nn.LSTMCell(feat + max_ways + heads * width, controller)
        self.access = nn.Linear(controller, heads * (width + 2))  # key, gate, strength per head
        self.add = nn.Linear(controller, heads * width) if write == "add" else None
        self.out = nn.Linear(controller + heads * width, max_ways)

    # --- the recurrent core ---------------------------------------------------------------------------
    def train(self, mode: bool = True) -> MANN:
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def features(self, x: Tensor) -> Tensor:
        lead = x.shape[:-3]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            return self.encoder(x.reshape(-1, *x.shape[-3:])).reshape(*lead, -1)

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> MANNState:
        z = lambda *s: torch.zeros(*s, device=device, dtype=dtype)  # noqa: E731
        return MANNState(
            z(batch, self.cell.hidden_size),
            z(batch, self.cell.hidden_size),
            torch.full((batch, self.slots, self.width), 1e-6, device=device, dtype=dtype),
            z(batch, self.slots),
            z(batch, self.heads, self.slots),
            z(batch, self.heads * self.width),
            torch.full((batch,), -1, device=device, dtype=torch.long),
        )

    def onehot(self, y: Tensor) -> Tensor:
        """One-hot over ``max_ways`` units; ``-1`` (no label) gives zeros."""
        return F.one_hot((y + 1).long(), self.max_ways + 1)[..., 1:].float()

    def step(self, state: MANNState, feats: Tensor, shown_y: Tensor) -> tuple[Tensor, MANNState]:
        """One time step: input features ``[B, F]`` with the label shown ``[B]`` -> logits ``[B, max_ways]``."""
        b = feats.shape[0]
        h, c = self.cell(torch.cat([feats, self.onehot(shown_y).to(feats.dtype), state.reads], -1), (state.h, state.c))
        acc = self.access(h).view(b, self.heads, self.width + 2)
        keys, gate, strength = torch.tanh(acc[..., : self.width]), acc[..., self.width], 1 + F.softplus(acc[..., -1])
        # Santoro's order: write (to the last-read or least-used slots), then read the updated memory.
        # The slot read at step t is where step t+1, which sees x_t's label, writes: that binds them.
        values = keys if self.add is None else torch.tanh(self.add(h)).view(b, self.heads, self.width)
        memory, write_w = lrua_write(state.memory, state.usage, state.read_w, values, gate, self.erase)
        read_w = content_weights(memory, keys, strength)
        reads = (read_w @ memory).reshape(b, -1)
        usage = self.gamma * state.usage + read_w.sum(1) + write_w.sum(1)
        logits = self.out(torch.cat([h, reads], -1))
        return logits, MANNState(h, c, memory, usage, read_w, reads, shown_y)

    def run(self, feats: Tensor, shown_y: Tensor, state: MANNState | None = None) -> tuple[Tensor, MANNState]:
        """Run a sequence: ``feats [B, T, F]``, labels shown ``[B, T]`` -> logits ``[B, T, max_ways]``."""
        b, t = shown_y.shape
        if state is None:
            state = self.initial_state(b, feats.device, feats.dtype)
        outs = []
        for i in range(t):
            logits, state = self.step(state, feats[:, i], shown_y[:, i])
            outs.append(logits)
        return torch.stack(outs, 1), state

    def sequence_logits(self, seq: SequenceBatch, units: Tensor | None = None) -> Tensor:
        """Logits ``[B, T, ways]`` for every step of a Santoro sequence. Class ``k`` of sequence ``b`` is shown
        and read out on label unit ``units[b, k]`` (``units [B, ways]``; default: unit ``k``)."""
        self._check_ways(seq.ways)
        if units is None:
            units = torch.arange(seq.ways, device=seq.y.device).expand(seq.y.shape[0], -1)
        shown = torch.where(seq.prev_y >= 0, units.gather(1, seq.prev_y.clamp_min(0)), -1)
        logits, _ = self.run(self.features(seq.x), shown)
        return logits.gather(-1, units.unsqueeze(1).expand(-1, logits.shape[1], -1))

    def predict_from(self, state: MANNState, feats: Tensor, ways: int) -> Tensor:
        """Independent one-step predictions for ``feats [B, Q, F]`` from ``state`` (batch B) -> ``[B, Q, N]``."""
        b, q = feats.shape[:2]
        # The query step shows the label of the last support example, exactly as in training sequences.
        logits, _ = self.step(state.expand(q), feats.reshape(b * q, -1), state.last_y.repeat_interleave(q))
        return logits.view(b, q, -1)[..., :ways]

    # --- the episodic API -----------------------------------------------------------------------------
    def _check_ways(self, ways: int) -> None:
        if ways > self.max_ways:
            raise ValueError(
                f"This MANN has {self.max_ways} label units but the task has {ways} ways; "
                f"train with max_ways >= {ways} (preset key mann_max_ways)."
            )

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x)

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> MemoryPredictor:
        """Run the support sequence of features ``[..., S, F]`` (step s shows z_s with the label of step s-1)."""
        self._check_ways(ways)
        lead = tuple(z.shape[:-2])
        z, y = z.reshape(-1, *z.shape[-2:]), y.reshape(-1, y.shape[-1])
        shown = torch.cat([torch.full_like(y[:, :1], -1), y[:, :-1]], dim=1)
        _, state = self.run(z, shown)
        return MemoryPredictor(self, replace(state, last_y=y[:, -1]), ways, lead)

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Santoro's objective: cross-entropy at every step of the episode shown as one shuffled sequence
        (support and queries together). The time order is seeded by the batch's labels and pixels, so a
        resumed run sees the same sequences. With more label units than classes (``max_ways > ways``) each
        sequence labels its classes with a random subset of the units, so every unit is trained and a model
        trained on few classes per episode can go on to more (a curriculum, see ``init_from``)."""
        gen = batch_generator(batch)
        seq = as_sequence(batch, generator=gen)
        if self.training and self.rotate:
            seq = replace(seq, x=random_rotate(seq.x, self.rotate, gen))
        if self.training and self.shift:
            seq = replace(seq, x=random_translate(seq.x, self.shift, gen))
        units = None
        if self.max_ways > seq.ways:
            units = random_orders(seq.y.shape[0], self.max_ways, gen)[:, : seq.ways].to(seq.y.device)
        logits = self.sequence_logits(seq, units)
        loss = F.cross_entropy(logits.reshape(-1, seq.ways), seq.y.reshape(-1))
        hit = (logits.argmax(-1) == seq.y).float()
        metrics = {"loss": loss.item(), "acc": hit.mean().item()}
        for k in (1, 2):
            mask = seq.instance == k
            if mask.any():
                metrics[f"acc_inst{k}"] = hit[mask].mean().item()
        return loss, metrics


@torch.no_grad()
def instance_accuracy(
    learner: MANN, sampler, episodes: int = 1000, batch_size: int = 50, instances: tuple[int, ...] = (1, 2, 3, 4, 5, 10)
) -> dict[str, Any]:
    """Santoro 2016's metric: accuracy at the k-th presentation of a class within test sequences, for each k
    in ``instances``, with a 95% confidence interval over sequences (episodes lacking a k-th instance are
    skipped for that k)."""

    was = learner.training
    learner.eval()
    hits = {k: [] for k in instances}
    try:
        for i, lo in enumerate(range(0, episodes, batch_size)):
            seq = sampler.batch(i, min(batch_size, episodes - lo))
            correct = (learner.sequence_logits(seq).argmax(-1) == seq.y).float()
            for k in instances:
                mask = (seq.instance == k).float()
                n = mask.sum(1)
                ok = n > 0
                hits[k].append((correct * mask).sum(1)[ok] / n[ok])
    finally:
        learner.train(was)
    out: dict[str, Any] = {"episodes": episodes}
    for k in instances:
        v = torch.cat(hits[k]).double()
        out[str(k)] = {
            "accuracy": float(v.mean()) if len(v) else float("nan"),
            "ci95": ci95(v),
            "sequences": len(v),
        }
    return out
