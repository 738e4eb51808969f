"""RL^2 (Duan, Schulman, Chen, Bartlett, Sutskever & Abbeel 2016): a recurrent policy whose hidden state carries
over the episodes of one task ("a trial"), so that adaptation is the recurrence itself.

Input per step: the observation, the previous action (one-hot for discrete actions), the previous reward and a flag
that the previous step ended an episode; the hidden state is reset only between trials. A GRU (Duan's choice) feeds
a policy head (Gaussian with a learned state-independent log std, or categorical) and a value head. A trial is
``episodes`` episodes of the task; its return is discounted across episode boundaries (the trial is one episode
of the meta-MDP, as in the paper). Trained with PPO (Duan used TRPO): GAE(``gae_lambda``) advantages from the value
head, the clipped surrogate, a value loss and an optional entropy bonus; like MAML-RL here, each collection of
``shots`` trials per task is optimized for ``outer_epochs`` trainer steps (one Adam step each).

``adapt(trajectories)`` runs the recurrence over episodes of a task and returns the policy with that hidden state;
evaluation reports the average return of episodes 1, 2, ... of fresh trials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..rl.pg import clipped_objective, gae, masked_mean, normalize
from ..rl.policies import Categorical, Dist, Gaussian
from ..rl.rollout import Trajectories, rollout
from ..tasks.rl_envs import RLTaskBatch
from .base import METHODS, Learner
from .maml_rl import EVAL_STREAM, check_positive


class RL2Actor:
    """The recurrent policy stepping through rollouts: hidden state ``[1, B * N, H]`` and the previous step's
    action, reward and end-of-episode flag."""

    def __init__(self, learner: RL2, b: int, n: int, hidden: Tensor | None = None, prev: Tensor | None = None) -> None:
        p = next(learner.parameters())
        self.learner, self.b, self.n = learner, b, n
        self.h = hidden if hidden is not None else p.new_zeros(1, b * n, learner.hidden)
        self.prev = prev if prev is not None else p.new_zeros(b, n, learner.extra_dim)

    def act(self, obs: Tensor, noise: Tensor) -> tuple[Tensor, Dist]:
        x = torch.cat([obs, self.prev], -1).reshape(self.b * self.n, 1, -1)
        out, self.h = self.learner.gru(x, self.h)
        dist = self.learner.head(out.view(self.b, self.n, -1))
        return dist.sample(noise), dist

    def observe(self, action: Tensor, reward: Tensor, done: Tensor) -> None:
        self.prev = self.learner.extra_inputs(action, reward, done)


@dataclass
class RL2Policy:
    """The recurrent policy after some episodes of each trial: continue them with ``rollout``."""

    learner: RL2
    hidden: Tensor
    prev: Tensor
    episodes_seen: int = 0

    def rollout(self, batch: RLTaskBatch, episodes: int = 1, stream: int = 0) -> Trajectories:
        """The next ``episodes`` episodes of each trial (numbered after the ones seen, in random ``stream``)."""
        b, n = self.prev.shape[:2]
        fam = batch.family
        actor = RL2Actor(self.learner, b, n, self.hidden, self.prev)
        return rollout(
            batch.env(n),
            actor,
            stream,
            fam.discrete,
            fam.act_dim,
            episodes,
            dtype=self.learner.pi.weight.dtype,
            first_episode=self.episodes_seen,
        )


@dataclass
class _Collected:
    key: tuple
    traj: Trajectories
    adv: Tensor
    targets: Tensor
    sim_seconds: float


@METHODS.register("rl2")
class RL2(Learner):
    """RL^2 with a GRU policy trained by PPO (module docstring). ``reward_scale`` multiplies the rewards the value
    head and the advantages see; ``reward_input_scale`` (default: the same) the previous reward the GRU reads."""

    task_type = "rl"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        discrete: bool,
        hidden: int = 128,
        episodes: int = 3,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_eps: float = 0.2,
        vf_coef: float = 0.5,
        ent_coef: float = 0.0,
        init_std: float = 1.0,
        reward_scale: float = 1.0,
        reward_input_scale: float | None = None,
    ) -> None:
        super().__init__()
        check_positive("hidden", hidden, integer=True)
        check_positive("rl2_episodes", episodes, integer=True)
        check_positive("clip_eps", clip_eps)
        check_positive("reward_scale", reward_scale)
        reward_input_scale = reward_scale if reward_input_scale is None else reward_input_scale
        check_positive("reward_input_scale", reward_input_scale)
        for name, value in (("vf_coef", vf_coef), ("ent_coef", ent_coef)):
            check_positive(name, value, zero=True)
        for name, value in (("gamma", gamma), ("gae_lambda", gae_lambda)):
            if not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise ValueError(f"{name} must lie in (0, 1], got {value!r}; set it with --set {name}=...")
        self.obs_dim, self.act_dim, self.discrete, self.hidden = obs_dim, act_dim, discrete, hidden
        self.extra_dim = act_dim + 2
        self.gru = nn.GRU(obs_dim + self.extra_dim, hidden, batch_first=True)
        self.pi = nn.Linear(hidden, act_dim)
        self.v = nn.Linear(hidden, 1)
        nn.init.zeros_(self.pi.bias)
        self.pi.weight.data.mul_(0.1)
        if not discrete:
            self.log_std = nn.Parameter(torch.full((act_dim,), float(torch.tensor(init_std).log())))
        self.episodes, self.gamma, self.gae_lambda = episodes, float(gamma), float(gae_lambda)
        self.clip_eps, self.vf_coef, self.ent_coef = float(clip_eps), float(vf_coef), float(ent_coef)
        self.reward_scale, self.reward_input_scale = float(reward_scale), float(reward_input_scale)
        self._cache: _Collected | None = None

    # ---- pieces --------------------------------------------------------------------------------------------------
    def head(self, out: Tensor) -> Dist:
        logits = self.pi(out)
        return Categorical(logits) if self.discrete else Gaussian(logits, self.log_std)

    def extra_inputs(self, action: Tensor, reward: Tensor, done: Tensor) -> Tensor:
        """What the next step sees of this one: action (one-hot when discrete), reward times ``reward_input_scale``,
        end-of-episode flag."""
        a = F.one_hot(action.long(), self.act_dim).to(reward.dtype) if self.discrete else action.to(reward.dtype)
        r = (reward * self.reward_input_scale).unsqueeze(-1)
        return torch.cat([a, r, done.to(reward.dtype).unsqueeze(-1)], -1)

    def inputs(self, traj: Trajectories) -> Tensor:
        """The GRU's inputs ``[B * N, T, in]`` for recorded trials (as the rollout fed them)."""
        extra = self.extra_inputs(traj.actions, traj.rewards, traj.ends | (traj.mask == 0))
        extra = torch.cat([torch.zeros_like(extra[:, :, :1]), extra[:, :, :-1]], 2)
        x = torch.cat([traj.obs, extra], -1)
        return x.reshape(-1, *x.shape[2:])

    def forward_trials(self, traj: Trajectories) -> tuple[Dist, Tensor, Tensor]:
        """Action distributions and values ``[B, N, T]`` along recorded trials, and the final hidden state."""
        b, n, t = traj.rewards.shape
        out, h = self.gru(self.inputs(traj))
        out = out.reshape(b, n, t, -1)
        return self.head(out), self.v(out).squeeze(-1), h

    def rollout(self, batch: RLTaskBatch, stream: int, trials: int, episodes: int | None = None) -> Trajectories:
        fam = batch.family
        return rollout(
            batch.env(trials),
            RL2Actor(self, len(batch), trials),
            stream,
            fam.discrete,
            fam.act_dim,
            episodes or self.episodes,
            dtype=self.pi.weight.dtype,
        )

    # ---- Learner API ---------------------------------------------------------------------------------------------
    def adapt(self, trajectories: Trajectories) -> RL2Policy:
        """The policy after the recorded episodes ``trajectories`` (``[B, N, T]``: N trials of each of B tasks)."""
        if not isinstance(trajectories, Trajectories):
            raise TypeError(f"adapt takes the Trajectories of rollouts, got {type(trajectories).__name__}.")
        with torch.no_grad():
            _, _, h = self.forward_trials(trajectories)
        last = self.extra_inputs(
            trajectories.actions[:, :, -1],
            trajectories.rewards[:, :, -1],
            trajectories.ends[:, :, -1] | (trajectories.mask[:, :, -1] == 0),
        )
        return RL2Policy(self, h, last, trajectories.episodes)

    adapt._checked = True  # takes trajectories, not a labelled support set (see Learner)

    @torch.no_grad()
    def _collect(self, batch: RLTaskBatch) -> _Collected:
        t = time.perf_counter()
        traj = self.rollout(batch, 0, batch.shots)
        sim = time.perf_counter() - t
        _, values, _ = self.forward_trials(traj)
        ends = torch.zeros_like(traj.ends)
        ends[..., -1] = True  # the trial is one episode of the meta-MDP
        adv = gae(traj.rewards * self.reward_scale, values, ends, self.gamma, self.gae_lambda)
        return _Collected(self._key(batch), traj, normalize(adv, traj.mask), adv + values, sim)

    @staticmethod
    def _key(batch: RLTaskBatch) -> tuple:
        return (batch.index, tuple(batch.seeds.tolist()), tuple(batch.params.flatten().tolist()))

    def meta_loss(self, batch: RLTaskBatch) -> tuple[Tensor, dict[str, float]]:
        """PPO on ``shots`` trials per task (collected at epoch 0 of each draw, reused at the later epochs)."""
        fresh = batch.epoch == 0 or self._cache is None or self._cache.key != self._key(batch)
        if fresh:
            self._cache = self._collect(batch)
        data, traj = self._cache, self._cache.traj
        dist, values, _ = self.forward_trials(traj)
        logp = dist.log_prob(traj.actions)
        obj, clipped = clipped_objective(logp, traj.logp, data.adv, traj.mask, self.clip_eps)
        ones = torch.ones_like(traj.mask)
        vloss = masked_mean((values - data.targets) ** 2, ones).mean()
        ent = masked_mean(dist.entropy(), traj.mask).mean()
        loss = -obj.mean() + self.vf_coef * vloss - self.ent_coef * ent
        ret = traj.episode_returns().mean((0, 1))
        metrics = {
            "loss": float(loss.detach()),
            "value_loss": float(vloss.detach()),
            "entropy": float(ent.detach()),
            "clip_frac": float(clipped.mean()),
            "return_first": float(ret[0]),
            "return_last": float(ret[-1]),
            "sim_seconds": data.sim_seconds if fresh else 0.0,
        }
        return loss, metrics

    # ---- evaluation ----------------------------------------------------------------------------------------------
    def stage_names(self, stages: int) -> list[str]:
        """Names of the columns of `evaluate_returns`."""
        return [f"episode {e + 1}" for e in range(stages)]

    score_stage = None  # checkpoints are selected by the mean return over the trial's episodes

    def evaluate_returns(self, batch: RLTaskBatch, steps: int | None = None) -> Tensor:
        """Average return per task of episodes 1 .. ``steps`` (default: the trained trial length) of ``batch.shots``
        fresh trials: ``[B, steps]``."""
        traj = self.rollout(batch, EVAL_STREAM, batch.shots, steps or self.episodes)
        return traj.episode_returns().mean(1)
