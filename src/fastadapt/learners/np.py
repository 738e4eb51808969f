"""Neural Processes with a latent variable (Garnelo et al., 2018b), with the deterministic path of
Kim et al. (2019) / Garnelo et al.'s reference notebook.

A latent encoder maps a set to a diagonal Gaussian ``q(z | set)`` (mean aggregation, then an MLP; standard
deviation ``0.1 + 0.9 sigmoid(.)``); a deterministic encoder gives ``r`` as in a CNP; the decoder maps
``(r, z, x)`` to a Gaussian (standard deviation floor ``min_std``, 0.1 as in the reference code).
Training maximizes the ELBO

    E_{q(z | C u T)} [ sum_t log p(y_t | r_C, z, x_t) ] - KL( q(z | C u T) || q(z | C) ),

where the conditional prior ``q(z | C)`` stands in for the intractable ``p(z | C)``. Predictions draw
``z ~ q(z | C)``: each draw gives one coherent function (`NPPredictor.sample_functions`), and the
`Prediction` carries the moment-matched mean and variance of the resulting mixture.

``attention=True`` gives the Attentive NP (Kim et al., 2019): the deterministic path becomes multi-head
cross-attention from each target input to the context inputs (keys and queries through a shared MLP of
``x``), over self-attended encodings of the context pairs (with a residual connection, so the
encodings stay distinct at initialization), so every target gets its own ``r``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..tasks.task import TaskBatch
from .base import METHODS, Learner, Prediction
from .cnp import check_process_args, check_regression_set, gaussian_log_prob, mlp, targets_with_context


def gaussian_kl(mu_q: Tensor, std_q: Tensor, mu_p: Tensor, std_p: Tensor) -> Tensor:
    """KL( N(mu_q, std_q^2) || N(mu_p, std_p^2) ) of diagonal Gaussians, summed over the last dimension."""
    return (torch.log(std_p / std_q) + (std_q**2 + (mu_q - mu_p) ** 2) / (2 * std_p**2) - 0.5).sum(-1)


Gaussian = tuple[Tensor, Tensor]  # (mean, std) of a diagonal Gaussian


def log_mean_exp(log_w: Tensor) -> Tensor:
    """``log mean_k exp(log_w[k])`` over the first dimension, computed stably."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def diagonal_gaussian_log_density(z: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``log N(z; mean, diag(std^2))``, summed over the last dimension."""
    return gaussian_log_prob(mean, std, z).sum(-1)


@dataclass
class NPPredictor:
    """A task adapted by an NP: the encoded context (deterministic path) and ``q(z | C)``."""

    learner: NeuralProcess
    context: tuple[Tensor, Tensor, Tensor]  # context x, encoded values, (mean-aggregated r or keys)
    z_mean: Tensor
    z_std: Tensor

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn((n, *self.z_mean.shape), generator=generator, dtype=self.z_mean.dtype).to(self.z_mean.device)
        return self.z_mean + self.z_std * eps  # [n, ..., Z]

    def decode_samples(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Decoder mean and std for ``n`` draws of ``z``: ``[n, ..., T, dy]`` each."""
        z = self.sample_z(n, generator)
        r = self.learner.read_out(self.context, x)  # [..., T, H]
        return self.learner.decode(r.expand(n, *r.shape), z, x.expand(n, *x.shape))

    def sample_functions(self, x: Tensor, n: int = 10, generator: torch.Generator | None = None) -> Tensor:
        """``n`` coherent function samples at ``x`` (decoder means of ``n`` latent draws): ``[n, ..., T, dy]``."""
        return self.decode_samples(x, n, generator)[0]

    def predict(self, x: Tensor, samples: int | None = None) -> Prediction:
        """Moment-matched Gaussian of the predictive mixture over ``samples`` latent draws."""
        mean, std = self.decode_samples(x, samples or self.learner.samples)
        m = mean.mean(0)  # law of total variance, as mean spread + noise: E[mean^2] - m^2 cancels to 0 or below
        return Prediction(mean=m, var=(std**2).mean(0) + ((mean - m) ** 2).mean(0))  # for large means in float32

    def log_likelihood(self, x: Tensor, y: Tensor, samples: int | None = None) -> Tensor:
        """Monte Carlo estimate of ``log p(y_T | C) / T`` per task, ``log mean_k prod_t p(y_t | z_k)``: the
        joint likelihood of the targets (a lower-biased estimate; the bias shrinks with ``samples``)."""
        k = samples or self.learner.samples
        mean, std = self.decode_samples(x, k)
        lp = gaussian_log_prob(mean, std, y.expand(k, *y.shape)).flatten(-2).sum(-1)  # [k, ...]
        return log_mean_exp(lp) / (y.shape[-2] * y.shape[-1])


@METHODS.register("np")
class NeuralProcess(Learner):
    """Latent-variable Neural Process (Garnelo et al., 2018b) with a deterministic path; trained on the ELBO.
    ``samples``: latent draws used for predictions and likelihood estimates; ``train_samples``: draws of
    ``z ~ q(z | C u T)`` that average the ELBO's likelihood term in training (1 in Garnelo et al.'s code, 20 in
    Bruinsma 2022's, ``wesselb/neuralprocesses``): more draws, less gradient noise, a dearer decoder pass."""

    task_type = "regression"
    adapts_batches = True

    def __init__(
        self,
        x_dim: int = 1,
        y_dim: int = 1,
        hidden: int = 128,
        latent: int = 128,
        encoder_layers: int = 3,
        decoder_layers: int = 2,
        samples: int = 32,
        train_on_context: bool = True,
        deterministic_path: bool = True,
        min_std: float = 0.1,
        attention: bool = False,
        heads: int = 8,
        train_samples: int = 1,
    ) -> None:
        super().__init__()
        if samples < 1:
            raise ValueError(f"samples (latent draws per prediction) must be >= 1, got {samples}.")
        if train_samples < 1:
            raise ValueError(f"train_samples (latent draws per training ELBO) must be >= 1, got {train_samples}.")
        check_process_args(encoder_layers, decoder_layers, min_std)
        self.point_dims = (x_dim, y_dim)  # adapt refuses points of other dimensions (base.check_tensors)
        self.latent_encoder = mlp([x_dim + y_dim] + [hidden] * encoder_layers)
        self.latent_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.deterministic_path = deterministic_path
        self.det_encoder = mlp([x_dim + y_dim] + [hidden] * encoder_layers) if deterministic_path else None
        if attention and not deterministic_path:
            raise ValueError(
                "attention=True (Attentive NP) attends over the deterministic path; keep deterministic_path=True."
            )
        if attention and hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by the number of attention heads ({heads}).")
        self.attention = attention
        if attention:  # Kim et al. (2019): self-attention over the context encodings, cross-attention from targets
            self.self_attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
            self.key_mlp = mlp([x_dim, hidden, hidden])
            self.cross_attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        r_dim = hidden if deterministic_path else 0
        self.decoder = mlp([r_dim + latent + x_dim] + [hidden] * decoder_layers + [2 * y_dim])
        self.samples, self.train_on_context, self.min_std = samples, train_on_context, min_std
        self.train_samples = train_samples

    def latent_dist(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std of ``q(z | set)``: ``[..., Z]`` each."""
        check_regression_set(x, y, "Context")
        s = self.latent_encoder(torch.cat([x, y], -1)).mean(-2)
        mu, raw = self.latent_head(s).chunk(2, -1)
        return mu, 0.1 + 0.9 * torch.sigmoid(raw)

    def encode_context(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """What the deterministic path keeps of the context: ``(x, values, r)`` with ``r`` the mean of the
        values (plain NP) or the self-attended values (ANP)."""
        if self.det_encoder is None:
            v = x.new_zeros(*x.shape[:-1], 0)
            return x, v, v.mean(-2)
        v = self.det_encoder(torch.cat([x, y], -1))
        if self.attention:
            flat = v.reshape(-1, *v.shape[-2:])
            v = v + self.self_attn(flat, flat, flat, need_weights=False)[0].reshape(v.shape)  # residual
            return x, v, v.mean(-2)
        return x, v, v.mean(-2)

    def read_out(self, context: tuple[Tensor, Tensor, Tensor], x: Tensor) -> Tensor:
        """Deterministic representation for each target input ``x [..., T, dx]``: ``[..., T, H]``."""
        xc, v, r = context
        if not self.attention:
            return r.unsqueeze(-2).expand(*x.shape[:-1], r.shape[-1])
        lead = x.shape[:-2]
        q = self.key_mlp(x).reshape(lead.numel(), x.shape[-2], v.shape[-1])  # (not -1: T may be 0)
        k = self.key_mlp(xc).reshape(-1, xc.shape[-2], v.shape[-1])
        out = self.cross_attn(q, k, v.reshape(-1, *v.shape[-2:]), need_weights=False)[0]
        return out.reshape(*lead, x.shape[-2], v.shape[-1])

    def decode(self, r: Tensor, z: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Gaussian mean and std ``[..., T, dy]`` at ``x [..., T, dx]`` given ``r [..., T, H]``, ``z [..., Z]``."""
        h = torch.cat([r, z.unsqueeze(-2).expand(*x.shape[:-1], z.shape[-1]), x], -1)
        mean, raw = self.decoder(h).chunk(2, -1)
        return mean, self.min_std + (1 - self.min_std) * torch.nn.functional.softplus(raw)

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> NPPredictor:
        mu, std = self.latent_dist(support_x, support_y)
        return NPPredictor(self, self.encode_context(support_x, support_y), mu, std)

    def posterior_draws(
        self, batch: TaskBatch, xt: Tensor, yt: Tensor, samples: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Gaussian, Gaussian]:
        """``samples`` draws ``z ~ q(z | C u T)`` and, for each, the summed log-likelihood of the points
        ``xt, yt`` given the context: ``(log_lik [k, ...], z [k, ..., Z], (mu, std) of q(z | C),
        (mu, std) of q(z | C u T))``."""
        mu_p, std_p = self.latent_dist(batch.support_x, batch.support_y)
        mu_q, std_q = self.latent_dist(
            torch.cat([batch.support_x, batch.query_x], -2), torch.cat([batch.support_y, batch.query_y], -2)
        )
        device = std_q.device if generator is None else generator.device
        eps = torch.randn((samples, *std_q.shape), generator=generator, dtype=std_q.dtype, device=device)
        z = mu_q + std_q * eps.to(std_q.device)
        r = self.read_out(self.encode_context(batch.support_x, batch.support_y), xt)
        mean, std = self.decode(r.expand(samples, *r.shape), z, xt.expand(samples, *xt.shape))
        log_lik = gaussian_log_prob(mean, std, yt.expand(samples, *yt.shape)).flatten(-2).sum(-1)
        return log_lik, z, (mu_p, std_p), (mu_q, std_q)

    def elbo_terms(
        self, batch: TaskBatch, xt: Tensor | None = None, yt: Tensor | None = None, samples: int = 1
    ) -> tuple[Tensor, Tensor, int]:
        """Per task: the sum of the log-likelihoods of the points ``xt, yt`` (default: the training points,
        see `targets_with_context`) averaged over ``samples`` draws ``z ~ q(z | C u T)``, the KL term, and the
        number of decoded points."""
        if xt is None:
            xt, yt = targets_with_context(batch, self.train_on_context)
        log_lik, _, prior, posterior = self.posterior_draws(batch, xt, yt, samples)
        return log_lik.mean(0), gaussian_kl(*posterior, *prior), yt.shape[-2] * yt.shape[-1]

    @torch.no_grad()
    def elbo(self, batch: TaskBatch, samples: int | None = None) -> Tensor:
        """Per-task ELBO of the query targets per point ``[B]``, ``(E_{q(z | C u T)} log p(y_T | C, z) -
        KL(q(z | C u T) || q(z | C))) / T`` over ``samples`` draws: a lower bound on ``log p(y_T | C) / T``,
        the "ELBO" evaluation of Bruinsma (2022), next to the Monte Carlo likelihood `log_likelihood`."""
        loglik, kl, n = self.elbo_terms(batch, batch.query_x, batch.query_y, samples or self.samples)
        return (loglik - kl) / n

    @torch.no_grad()
    def importance_weighted_log_likelihood(
        self, batch: TaskBatch, samples: int | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Per-task importance-weighted estimate of the joint query log-likelihood per point ``[B]``
        (Burda et al., 2016): ``log mean_k p(y_T | C, z_k) q(z_k | C) / q(z_k | C u T)`` with
        ``z_k ~ q(z | C u T)``. It estimates the same ``log p(y_T | C)`` as `log_likelihood`, whose draws come
        from ``q(z | C)``; drawn where the targets put the latent, it needs far fewer draws. Its expectation is
        a lower bound on that likelihood for any number of draws (one draw: the ELBO's) and tightens as
        ``samples`` grows, so a gap to an oracle measured with it over-states the model's true gap."""
        y = batch.query_y
        log_lik, z, prior, posterior = self.posterior_draws(batch, batch.query_x, y, samples or self.samples, generator)
        log_w = log_lik + diagonal_gaussian_log_density(z, *prior) - diagonal_gaussian_log_density(z, *posterior)
        return log_mean_exp(log_w) / (y.shape[-2] * y.shape[-1])

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Negative ELBO per target point (Garnelo et al.'s scaling: ``-(log p - KL) / T``)."""
        loglik, kl, n = self.elbo_terms(batch, samples=self.train_samples)
        loss = -(loglik - kl).mean() / n
        return loss, {"loss": loss.item(), "nll": -(loglik.mean() / n).item(), "kl": kl.mean().item()}

    @torch.no_grad()
    def log_likelihood(self, batch: TaskBatch, samples: int | None = None) -> Tensor:
        """Per-task MC estimate of the joint target log-likelihood per point ``[B]`` (`NPPredictor.log_likelihood`)."""
        return self.adapt(batch.support_x, batch.support_y).log_likelihood(batch.query_x, batch.query_y, samples)
