"""Meta-RL task families (issue #30) as batched environments: the environments of every task of a meta-batch
step together in one tensor operation (``[B tasks, N envs]``), in the shape of gymnasium's VectorEnv
(``reset() -> obs``, ``step(action) -> obs, reward, terminated``), with plain single-environment gymnasium versions
(`gym_env`) that the tests hold the batched ones to.

Families (config key ``dataset``):

- ``rl-2dnav``: 2D point navigation (Finn, Abbeel & Levine 2017, section 5.3): a point starts at the origin and
  moves by its action clipped to ``[-0.1, 0.1]^2``; the goal is drawn per task uniformly from ``[-0.5, 0.5]^2``;
  reward ``-||position - goal||`` each step; an episode ends after ``horizon`` (100) steps, or when the point is
  within 0.01 of the goal in both coordinates (as in Finn's ``point_env_randgoal``). Observation: the position
  (``oracle=True``: position and goal, the "oracle" baseline of Finn's Fig. 5).
- ``rl-bandit``: K-armed Bernoulli bandits (Duan et al. 2016, section 3.1): arm ``i`` pays 1 with probability
  ``p_i ~ U[0, 1]`` drawn per task; an episode is ``horizon`` pulls (default 1); observation a constant 1.
- ``rl-cheetah-vel`` / ``rl-cheetah-dir`` (optional extra ``rl``: gymnasium and mujoco): MuJoCo HalfCheetah
  (gymnasium ``HalfCheetah-v5``'s model) with Finn's task rewards: ``-|v_x - v_goal|`` with ``v_goal ~ U[0, 2]``,
  or ``d * v_x`` with ``d = +-1`` (forward / backward), minus ``0.05 ||a||^2`` (``a`` clipped to [-1, 1]);
  horizon 200. These step one
  MuJoCo model per environment in a Python loop (mujoco has no batched simulator on CPU), so they are far slower.

All randomness is counter-based: a task's parameters come from a hash of (seed, part, index, position), and every
random number of a rollout (action noise, reward coins, initial states) from a hash of (task seed, stream, step,
environment, dimension). So environment ``n`` of task ``b`` behaves the same whatever else is batched with it or
however the batch is split, a run draws exactly the same numbers after ``--resume``, and the single-environment
versions reproduce the batched ones number for number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import DATASETS

# ---- counter-based random numbers ---------------------------------------------------------------------------------
M32 = 0xFFFFFFFF
PARTS = {"train": 1, "val": 2, "test": 3}
ACTION_SALT, ENV_SALT, RESET_SALT, EVAL_SALT = 0xA11CE, 0xE4F, 0x5EED, 0xE7A1


def _mul32(x: Tensor, c: int) -> Tensor:
    """``(x * c) mod 2**32`` for int64 ``x`` in ``[0, 2**32)`` without overflowing int64."""
    return (x * (c & 0xFFFF) + ((x * (c >> 16)) & 0xFFFF) * 65536) & M32


def _mix32(x: Tensor) -> Tensor:
    """A 32-bit integer hash (Wellons' "lowbias32")."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash32(*keys: Tensor | int) -> Tensor:
    """A 32-bit hash (int64 tensor, values in ``[0, 2**32)``) of integer keys, broadcast together. Python ints
    may be of any size (they enter as their low and high 32-bit words); tensor keys enter as their low 32 bits
    (so ``k`` and ``torch.tensor(k)`` are different keys)."""
    dev = next((k.device for k in keys if isinstance(k, Tensor)), None)
    h = torch.tensor(0x9E3779B9, dtype=torch.int64, device=dev)
    for k in keys:
        if isinstance(k, Tensor):
            h = _mix32(h ^ (k.to(torch.int64) & M32))
        else:
            k %= 2**64
            h = _mix32(_mix32(h ^ (k & M32)) ^ (k >> 32))
    return h


def uniform(*keys: Tensor | int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform numbers in the open interval (0, 1) from `hash32` of ``keys`` (24 bits)."""
    return ((hash32(*keys) >> 8).to(dtype) + 0.5) / 2**24


def normal(*keys: Tensor | int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Standard normal numbers (Box-Muller over two `uniform` streams of ``keys``)."""
    u1, u2 = uniform(*keys, 0, dtype=dtype), uniform(*keys, 1, dtype=dtype)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)


def action_noise(
    seeds: Tensor,
    stream: int,
    steps: int | Tensor,
    envs: int,
    dims: int,
    discrete: bool,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The noise a policy turns into actions at each of ``steps`` (an int: one step; a tensor ``[T]``: all of
    them, one call) of ``stream``: standard normals ``[B, N, (T,) dims]``, or uniforms ``[B, N, (T)]`` for a
    categorical policy (inverse-CDF sampling)."""
    t = torch.as_tensor(steps, device=seeds.device).view(1, 1, -1, 1)
    n = torch.arange(envs, device=seeds.device).view(1, envs, 1, 1)
    d = torch.arange(1 if discrete else dims, device=seeds.device).view(1, 1, 1, -1)
    keys = (seeds.view(-1, 1, 1, 1), ACTION_SALT, stream, t, n, d)
    out = uniform(*keys, dtype=dtype)[..., 0] if discrete else normal(*keys, dtype=dtype)
    return out if isinstance(steps, Tensor) else out.squeeze(2)


# ---- batched environments -------------------------------------------------------------------------------------------
class BatchedEnv:
    """``N`` environments for each of ``B`` tasks, stepped together. ``reset(stream, episode)`` returns observations
    ``[B, N, obs_dim]``; ``step(action)`` takes ``[B, N, act_dim]`` (float) or ``[B, N]`` (long, discrete) actions
    and returns ``(obs, reward [B, N], terminated [B, N] bool)``. Episodes last at most ``horizon`` steps (the
    rollout truncates them); an environment that terminated earlier keeps being stepped and its outputs ignored."""

    horizon: int

    def __init__(self, params: Tensor, seeds: Tensor, envs: int) -> None:
        self.params, self.seeds, self.envs = params, seeds, envs
        self.stream, self.episode, self.t = 0, 0, 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.params.shape[0], self.envs

    def reset(self, stream: int = 0, episode: int = 0) -> Tensor:
        self.stream, self.episode, self.t = stream, episode, 0
        return self._reset()

    def step(self, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self._step(action)
        self.t += 1
        return out

    def env_uniform(self, *keys: Any) -> Tensor:
        """Uniforms ``[B, N, ...]`` for this step of this episode (counter-based, per environment)."""
        n = torch.arange(self.envs, device=self.seeds.device).view(1, -1)
        return uniform(self.seeds.view(-1, 1), ENV_SALT, self.stream, self.episode, self.t, n, *keys)

    def _reset(self) -> Tensor:
        raise NotImplementedError

    def _step(self, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        raise NotImplementedError


class PointNavEnv(BatchedEnv):
    """2D navigation (Finn 2017, section 5.3); ``params`` are the goals ``[B, 2]``."""

    def __init__(self, params: Tensor, seeds: Tensor, envs: int, horizon: int = 100, oracle: bool = False) -> None:
        super().__init__(params, seeds, envs)
        self.horizon, self.oracle = horizon, oracle

    def _obs(self) -> Tensor:
        if not self.oracle:
            return self.pos
        return torch.cat([self.pos, self.params[:, None].expand(-1, self.envs, -1)], -1)

    def _reset(self) -> Tensor:
        self.pos = self.params.new_zeros(self.params.shape[0], self.envs, 2)
        return self._obs()

    def _step(self, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        self.pos = self.pos + action.to(self.pos.dtype).clamp(-0.1, 0.1)
        dx = self.pos[..., 0] - self.params[:, None, 0]
        dy = self.pos[..., 1] - self.params[:, None, 1]
        reward = -torch.sqrt(dx * dx + dy * dy)
        return self._obs(), reward, (dx.abs() < 0.01) & (dy.abs() < 0.01)


class BanditEnv(BatchedEnv):
    """K-armed Bernoulli bandits (Duan 2016); ``params`` are the arms' probabilities ``[B, K]``."""

    def __init__(self, params: Tensor, seeds: Tensor, envs: int, horizon: int = 1) -> None:
        super().__init__(params, seeds, envs)
        self.horizon = horizon

    def _obs(self) -> Tensor:
        return self.params.new_ones(self.params.shape[0], self.envs, 1)

    def _reset(self) -> Tensor:
        return self._obs()

    def _step(self, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p = self.params.gather(1, action.long())  # [B, N]: the pulled arms' probabilities
        reward = (self.env_uniform() < p).to(self.params.dtype)
        return self._obs(), reward, torch.zeros_like(reward, dtype=torch.bool)


# ---- task families --------------------------------------------------------------------------------------------------
class TaskFamily:
    """A distribution over tasks: draws task parameters from per-task seeds and builds their batched environments."""

    name: str
    obs_dim: int
    act_dim: int  # action dimensions (continuous) or number of actions (discrete)
    discrete: bool
    horizon: int
    param_dim: int

    def sample(self, seeds: Tensor) -> Tensor:
        """Task parameters ``[B, param_dim]`` (float32) for int64 ``seeds [B]``."""
        raise NotImplementedError

    def make(self, params: Tensor, seeds: Tensor, envs: int) -> BatchedEnv:
        raise NotImplementedError


class PointNav(TaskFamily):
    name, act_dim, discrete, param_dim = "rl-2dnav", 2, False, 2

    def __init__(self, horizon: int = 100, oracle: bool = False, goal_range: float = 0.5) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be a positive number of steps, got {horizon}.")
        self.horizon, self.oracle, self.goal_range = horizon, oracle, goal_range
        self.obs_dim = 4 if oracle else 2

    def sample(self, seeds: Tensor) -> Tensor:
        u = uniform(seeds.view(-1, 1), torch.arange(2, device=seeds.device).view(1, 2))
        return (2 * u - 1) * self.goal_range

    def make(self, params: Tensor, seeds: Tensor, envs: int) -> PointNavEnv:
        return PointNavEnv(params, seeds, envs, self.horizon, self.oracle)


class Bandits(TaskFamily):
    name, obs_dim, discrete = "rl-bandit", 1, True

    def __init__(self, arms: int = 5, horizon: int = 1) -> None:
        if arms < 2 or horizon < 1:
            raise ValueError(
                f"A bandit needs at least 2 arms and 1 pull per episode, got arms={arms}, horizon={horizon}."
            )
        self.act_dim = self.param_dim = arms
        self.horizon = horizon

    def sample(self, seeds: Tensor) -> Tensor:
        return uniform(seeds.view(-1, 1), torch.arange(self.act_dim, device=seeds.device).view(1, -1))

    def make(self, params: Tensor, seeds: Tensor, envs: int) -> BanditEnv:
        return BanditEnv(params, seeds, envs, self.horizon)


class HalfCheetahEnv(BatchedEnv):
    """MuJoCo HalfCheetah (gymnasium ``HalfCheetah-v5``'s model) with Finn's velocity / direction rewards and
    observation (positions but the x coordinate, velocities, and the torso's centre: 20 numbers); one MuJoCo state
    per environment (one shared model), stepped in a loop. Initial states: gymnasium's
    reset noise (uniform 0.1 on positions, normal 0.1 on velocities) drawn from the counter-based stream."""

    CTRL_COST = 0.05  # Finn's code: 0.5 * 1e-1 * ||a||^2

    def __init__(self, params: Tensor, seeds: Tensor, envs: int, kind: str, horizon: int = 200) -> None:
        super().__init__(params, seeds, envs)
        self.kind, self.horizon = kind, horizon
        self.sim = _cheetah()  # a clear ImportError without the extra `rl`
        import mujoco

        self.datas = [mujoco.MjData(self.sim.model) for _ in range(params.shape[0] * envs)]

    def _obs(self) -> Tensor:
        torso = self.sim.torso
        obs = np.stack([np.concatenate([d.qpos[1:], d.qvel, d.xpos[torso]]) for d in self.datas])
        b = self.params.shape[0]
        return torch.as_tensor(obs, dtype=self.params.dtype, device=self.params.device).view(b, self.envs, -1)

    def _reset(self) -> Tensor:
        import mujoco

        sim = self.sim
        n = torch.arange(self.envs, device=self.seeds.device).view(1, -1, 1)
        keys = (self.seeds.view(-1, 1, 1), RESET_SALT, self.stream, self.episode, n)
        nq, nv = sim.model.nq, sim.model.nv
        dims = torch.arange(nq + nv, device=self.seeds.device).view(1, 1, -1)
        qn = (0.2 * uniform(*keys, dims[..., :nq], dtype=torch.float64) - 0.1).reshape(-1, nq)
        vn = (0.1 * normal(*keys, dims[..., nq:], dtype=torch.float64)).reshape(-1, nv)
        for d, q, v in zip(self.datas, qn.cpu().numpy(), vn.cpu().numpy()):
            mujoco.mj_resetData(sim.model, d)
            d.qpos[:] = sim.init_qpos + q
            d.qvel[:] = sim.init_qvel + v
            mujoco.mj_forward(sim.model, d)
        return self._obs()

    def _step(self, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        import mujoco

        sim = self.sim
        a = action.detach().to(torch.float64).clamp(-1.0, 1.0).reshape(len(self.datas), -1).cpu().numpy()
        vel = np.empty(len(self.datas))
        for i, d in enumerate(self.datas):
            x0 = d.qpos[0]
            d.ctrl[:] = a[i]
            mujoco.mj_step(sim.model, d, nstep=sim.frame_skip)
            vel[i] = (d.qpos[0] - x0) / sim.dt
        b = self.params.shape[0]
        v = torch.as_tensor(vel, dtype=self.params.dtype, device=self.params.device).view(b, self.envs)
        goal = self.params[:, :1]
        forward = -(v - goal).abs() if self.kind == "vel" else goal * v
        ctrl = self.CTRL_COST * torch.as_tensor((a**2).sum(-1), dtype=v.dtype, device=v.device).view(b, self.envs)
        return self._obs(), forward - ctrl, torch.zeros_like(v, dtype=torch.bool)


@dataclass
class _Sim:
    model: Any
    torso: int
    init_qpos: np.ndarray
    init_qvel: np.ndarray
    frame_skip: int
    dt: float


_CHEETAH: list[_Sim] = []


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warnings as Python warnings, less the deprecation of gymnasium's own asset (nothing a user can do)."""
    if "settotalmass" not in message:
        import warnings

        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


def _cheetah() -> _Sim:
    """HalfCheetah-v5's MuJoCo model (built by gymnasium once per process)."""
    if not _CHEETAH:
        try:
            import gymnasium as gym
            import mujoco
        except ImportError as e:
            raise ImportError(
                f"The HalfCheetah task families need the optional extra `rl` (gymnasium with "
                f"MuJoCo): pip install 'fastadapt[rl]' ({e})."
            ) from e
        previous = mujoco.get_mju_user_warning()
        mujoco.set_mju_user_warning(_mujoco_warning)  # not into MUJOCO_LOG.TXT in the working directory
        try:
            env = gym.make("HalfCheetah-v5").unwrapped
        except Exception as e:  # gymnasium's DependencyNotInstalled, a missing asset, ...
            raise ImportError(
                f"gymnasium could not build HalfCheetah-v5 ({e}); install the extra `rl`: pip install 'fastadapt[rl]'."
            ) from e
        finally:
            mujoco.set_mju_user_warning(previous)
        torso = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_BODY, "torso")
        _CHEETAH.append(_Sim(env.model, torso, env.init_qpos.copy(), env.init_qvel.copy(), env.frame_skip, env.dt))
    return _CHEETAH[0]


class HalfCheetah(TaskFamily):
    act_dim, obs_dim, discrete, param_dim = 6, 20, False, 1

    def __init__(self, kind: str = "vel", horizon: int = 200) -> None:
        if kind not in ("vel", "dir"):
            raise ValueError(f"HalfCheetah tasks are 'vel' or 'dir', got {kind!r}.")
        if horizon < 1:
            raise ValueError(f"horizon must be a positive number of steps, got {horizon}.")
        self.kind, self.horizon, self.name = kind, horizon, f"rl-cheetah-{kind}"

    def sample(self, seeds: Tensor) -> Tensor:
        u = uniform(seeds.view(-1, 1))
        return 2.0 * u if self.kind == "vel" else torch.where(u < 0.5, -1.0, 1.0)

    def make(self, params: Tensor, seeds: Tensor, envs: int) -> HalfCheetahEnv:
        return HalfCheetahEnv(params, seeds, envs, self.kind, self.horizon)


# ---- task batches and the sampler -----------------------------------------------------------------------------------
@dataclass
class RLTaskBatch:
    """``B`` tasks of a family: their parameters ``[B, P]`` and seeds ``[B]`` (int64), the rollouts to draw per
    task (``shots``: rollouts per adaptation step; ``queries``: rollouts of the adapted policy in meta-training),
    and which draw of the sampler it is (``index``) and which optimization epoch over that draw (``epoch``: the
    learner collects rollouts at epoch 0 and reuses them at the later ones)."""

    family: TaskFamily
    params: Tensor
    seeds: Tensor
    shots: int
    queries: int
    index: int = 0
    epoch: int = 0

    def __len__(self) -> int:
        return self.params.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> RLTaskBatch:
        return replace(
            self,
            params=self.params.to(device, non_blocking=non_blocking),
            seeds=self.seeds.to(device, non_blocking=non_blocking),
        )

    def env(self, envs: int) -> BatchedEnv:
        """``envs`` environments for each task of the batch."""
        return self.family.make(self.params, self.seeds, envs)

    def chunks(self, size: int) -> list[RLTaskBatch]:
        return [
            replace(self, params=self.params[lo : lo + size], seeds=self.seeds[lo : lo + size])
            for lo in range(0, len(self), size)
        ]


class RLTaskSampler:
    """Batches of tasks of ``family``: ``batch(i, B)`` is the training draw of step ``i``; with ``epochs`` > 1,
    steps ``k * epochs .. (k + 1) * epochs - 1`` return the same tasks (draw ``k``) with ``epoch`` 0, 1, ... so
    the learner optimizes ``epochs`` times over one collection of rollouts. ``tasks(start, count)`` are evaluation
    tasks numbered ``start .. start + count - 1`` (the same tasks however they are batched)."""

    ways = None

    def __init__(
        self, family: TaskFamily, shots: int, queries: int, seed: int = 0, part: str = "train", epochs: int = 1
    ) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {sorted(PARTS)}, got {part!r}.")
        for key, value in (("shots", shots), ("queries", queries), ("outer_epochs", epochs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{key} must be a positive integer (rollouts per task / optimization epochs), got "
                    f"{value!r}; set it with --set {key}=N."
                )
        self.family, self.shots, self.queries = family, shots, queries
        self.seed, self.part, self.epochs = seed, part, epochs

    def batch(self, index: int, batch_size: int = 1) -> RLTaskBatch:
        draw, epoch = divmod(index, self.epochs)
        seeds = hash32(self.seed, PARTS[self.part], draw, torch.arange(batch_size))
        return RLTaskBatch(self.family, self.family.sample(seeds), seeds, self.shots, self.queries, draw, epoch)

    def tasks(self, start: int, count: int) -> RLTaskBatch:
        seeds = hash32(self.seed, PARTS[self.part], EVAL_SALT, torch.arange(start, start + count))
        return RLTaskBatch(self.family, self.family.sample(seeds), seeds, self.shots, self.queries, start, 0)


FAMILIES: dict[str, Callable[[dict[str, Any]], TaskFamily]] = {
    "rl-2dnav": lambda cfg: PointNav(horizon=cfg.get("horizon") or 100, oracle=bool(cfg.get("rl_oracle", False))),
    "rl-bandit": lambda cfg: Bandits(arms=cfg.get("bandit_arms", 5), horizon=cfg.get("horizon") or 1),
    "rl-cheetah-vel": lambda cfg: HalfCheetah("vel", horizon=cfg.get("horizon") or 200),
    "rl-cheetah-dir": lambda cfg: HalfCheetah("dir", horizon=cfg.get("horizon") or 200),
}


def family_from_config(cfg: dict[str, Any]) -> TaskFamily:
    """The task family a configuration's ``dataset`` names (``horizon`` 0: the family's own)."""
    name = cfg.get("dataset")
    if name not in FAMILIES:
        raise ValueError(f"{name!r} is not a meta-RL task family; choose one of {sorted(FAMILIES)}.")
    return FAMILIES[name](cfg)


def is_rl_config(cfg: dict[str, Any]) -> bool:
    return cfg.get("dataset") in FAMILIES


def rl_sampler(
    cfg: dict[str, Any], part: str, ways: int | None, shots: int, queries: int, seed: int, within_group: bool = False
) -> RLTaskSampler:
    """The DATASETS factory of every family: ``shots`` rollouts per adaptation step, ``queries`` rollouts of the
    adapted policy; training batches repeat for the learner's ``outer_epochs``."""
    epochs = cfg.get("outer_epochs", 1) if part == "train" else 1
    if part == "train" and isinstance(epochs, int) and epochs > 1 and cfg.get("ckpt_every", epochs) % epochs:
        raise ValueError(
            f"ckpt_every ({cfg['ckpt_every']}) must be a multiple of outer_epochs ({epochs}): a "
            f"checkpoint then falls where rollouts are collected, so --resume continues exactly."
        )
    return RLTaskSampler(family_from_config(cfg), shots, queries, seed=seed, part=part, epochs=epochs)


for _name in FAMILIES:
    DATASETS.register(_name)(rl_sampler)


# ---- single environments (gymnasium) --------------------------------------------------------------------------------
def gym_env(family: TaskFamily, params: Any, task_seed: int = 0, env_index: int = 0):
    """One environment of one task with gymnasium's ``Env`` API (a `gymnasium.Env` when gymnasium is installed;
    2D navigation and bandits), written step by step in NumPy independently of the batched code, which the tests
    compare it to. ``reset(options={"stream": s, "episode": e})`` selects the random stream as in the batched
    environment; ``task_seed`` and ``env_index`` say which task and which of its environments it is."""
    if not isinstance(family, (PointNav, Bandits)):
        raise ValueError(
            f"gym_env offers 2D navigation and bandits, not {family.name}; for HalfCheetah use "
            f"gymnasium.make('HalfCheetah-v5')."
        )
    try:
        import gymnasium as gym
        from gymnasium import spaces

        base: type = gym.Env
    except ImportError:
        gym, spaces, base = None, None, object

    p = np.asarray(params, dtype=np.float32)

    class SingleEnv(base):  # type: ignore[misc, valid-type]
        metadata: dict = {"render_modes": []}

        def __init__(self) -> None:
            self.family, self.params = family, p
            if spaces is not None:
                self.action_space = (
                    spaces.Discrete(family.act_dim)
                    if family.discrete
                    else spaces.Box(-0.1, 0.1, (family.act_dim,), np.float32)
                )
                self.observation_space = spaces.Box(-np.inf, np.inf, (family.obs_dim,), np.float32)
            self.stream = self.episode = self.t = 0

        def _obs(self) -> np.ndarray:
            if isinstance(family, Bandits):
                return np.ones(1, np.float32)
            return np.concatenate([self.pos, self.params]) if family.oracle else self.pos.copy()

        def reset(self, *, seed: int | None = None, options: dict | None = None):
            if gym is not None:
                super().reset(seed=seed)
            options = options or {}
            self.stream, self.episode, self.t = options.get("stream", 0), options.get("episode", 0), 0
            self.pos = np.zeros(2, np.float32)
            return self._obs(), {}

        def step(self, action):
            if isinstance(family, Bandits):
                u = float(
                    uniform(
                        torch.tensor(task_seed), ENV_SALT, self.stream, self.episode, self.t, torch.tensor(env_index)
                    )
                )
                reward, done = float(u < self.params[int(action)]), False
            else:
                a = np.clip(np.asarray(action, np.float32), np.float32(-0.1), np.float32(0.1))
                self.pos = (self.pos + a).astype(np.float32)
                dx, dy = self.pos[0] - self.params[0], self.pos[1] - self.params[1]
                reward = float(-np.sqrt(np.float32(dx * dx + dy * dy)))
                done = bool(abs(dx) < 0.01 and abs(dy) < 0.01)
            self.t += 1
            return self._obs(), reward, done, self.t >= family.horizon, {}

    return SingleEnv()
