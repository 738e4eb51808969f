"""Meta-RL task families: batched rollouts equal single-environment (gymnasium) rollouts for the same seeds; the
counter-based random numbers do not depend on how tasks are batched."""

import numpy as np
import pytest
import torch

from fastadapt.rl.policies import MLPPolicy
from fastadapt.rl.rollout import MLPActor, rollout
from fastadapt.tasks.rl_envs import Bandits, PointNav, RLTaskSampler, action_noise, gym_env, hash32, normal, uniform


def batch_of(family, tasks=3, shots=4):
    return RLTaskSampler(family, shots, shots, seed=7, part="train").batch(5, tasks)


def policy_for(family, seed=0):
    torch.manual_seed(seed)
    return MLPPolicy(family.obs_dim, family.act_dim, (8, 8), family.discrete, init_std=0.5).double()


def run_single(family, params, seed, n, actions):
    """Replay ``actions`` ([T, ...]) in the gymnasium environment of task ``params``, environment ``n``."""
    env = gym_env(family, params.numpy(), int(seed), n)
    obs, _ = env.reset(options={"stream": 3, "episode": 0})
    out, alive = [], True
    for a in actions:
        a = int(a) if family.discrete else a.numpy().astype(np.float32)
        nxt, r, term, trunc, _ = env.step(a)
        out.append((obs.copy(), r if alive else 0.0, float(alive)))
        if alive:
            obs = nxt
        alive = alive and not term
    return out


@pytest.mark.parametrize(
    "family",
    [PointNav(horizon=30), Bandits(arms=4, horizon=5), PointNav(horizon=20, oracle=True)],
    ids=["2dnav", "bandit", "2dnav-oracle"],
)
def test_batched_rollout_equals_single_environment_replay(family):
    batch = batch_of(family)
    traj = rollout(
        batch.env(4),
        MLPActor(policy_for(family), policy_for(family).params()),
        3,
        family.discrete,
        family.act_dim,
        dtype=torch.float64,
    )
    for b in range(len(batch)):
        for n in range(4):
            single = run_single(family, batch.params[b], batch.seeds[b], n, traj.actions[b, n])
            obs = np.stack([s[0] for s in single])
            np.testing.assert_array_equal(obs, traj.obs[b, n].float().numpy())
            # rewards to the last bit but for the rounding of a fused multiply-add in torch's vectorized kernels
            np.testing.assert_allclose(
                np.array([s[1] for s in single], np.float32), traj.rewards[b, n].float().numpy(), rtol=3e-7, atol=0
            )
            np.testing.assert_array_equal(np.array([s[2] for s in single], np.float32), traj.mask[b, n].float().numpy())


def test_2dnav_terminates_at_the_goal_and_clips_actions():
    family = PointNav(horizon=10)
    goal = torch.tensor([[0.25, -0.05]])
    env = family.make(goal, torch.tensor([1]), 1)
    env.reset()
    obs, r, term = env.step(torch.tensor([[[5.0, -0.05]]]))  # clipped to 0.1
    assert torch.allclose(obs, torch.tensor([[[0.1, -0.05]]])) and not term.any()
    assert torch.allclose(r, -torch.tensor([[0.15]]))
    env.step(torch.tensor([[[0.1, 0.0]]]))
    _, r, term = env.step(torch.tensor([[[0.05, 0.0]]]))
    assert term.all() and r.abs().max() < 1e-6


def test_policy_rollouts_match_single_environment_policies_step_by_step():
    """The batched rollout of a policy equals running the same policy on one environment at a time with the
    counter-based noise of that environment (float64 policy)."""
    family = PointNav(horizon=25)
    batch = batch_of(family, tasks=2, shots=3)
    pol = policy_for(family, 1)
    traj = rollout(batch.env(3), MLPActor(pol, pol.params()), 3, False, 2, dtype=torch.float64)
    for b in range(2):
        for n in range(3):
            env = gym_env(family, batch.params[b].numpy(), int(batch.seeds[b]), n)
            obs, _ = env.reset(options={"stream": 3, "episode": 0})
            rewards = []
            for t in range(25):
                noise = action_noise(batch.seeds[b : b + 1], 3, t, 3, 2, False, torch.float64)[:, n : n + 1]
                with torch.no_grad():
                    a = pol.dist(pol.params(), torch.tensor(obs, dtype=torch.float64).view(1, 1, 2)).sample(noise)
                obs, r, term, _, _ = env.step(a.view(2).float().numpy())
                rewards.append(r)
                if term:
                    break
            got = traj.rewards[b, n, : len(rewards)].numpy()
            np.testing.assert_allclose(got, rewards, rtol=1e-5, atol=1e-6)


def test_random_numbers_do_not_depend_on_batching():
    seeds = hash32(3, torch.arange(10))
    full = action_noise(seeds, 1, torch.arange(6), 5, 2, False)
    part = action_noise(seeds[4:7], 1, torch.arange(6), 2, 2, False)
    assert torch.equal(full[4:7, :2], part)
    s = RLTaskSampler(PointNav(), 2, 2, seed=1, part="test")
    assert torch.equal(s.tasks(0, 10).params[3:8], s.tasks(3, 5).params)
    assert not torch.equal(s.tasks(0, 4).params, RLTaskSampler(PointNav(), 2, 2, seed=1, part="val").tasks(0, 4).params)
    u = uniform(torch.arange(200_000))
    assert 0 < float(u.min()) and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.005
    z = normal(torch.arange(200_000))
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01


def test_sampler_repeats_a_draw_for_its_epochs():
    s = RLTaskSampler(Bandits(), 2, 2, seed=0, part="train", epochs=3)
    b0, b2, b3 = s.batch(0, 4), s.batch(2, 4), s.batch(3, 4)
    assert torch.equal(b0.params, b2.params) and (b0.epoch, b2.epoch, b3.epoch) == (0, 2, 0)
    assert not torch.equal(b0.params, b3.params)


def test_gym_env_is_a_gymnasium_env():
    gym = pytest.importorskip("gymnasium")
    env = gym_env(PointNav(), [0.2, 0.3])
    assert isinstance(env, gym.Env) and env.action_space.shape == (2,)
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)


def test_half_cheetah_steps():
    pytest.importorskip("gymnasium")
    pytest.importorskip("mujoco")
    from fastadapt.tasks.rl_envs import HalfCheetah

    for kind in ("vel", "dir"):
        fam = HalfCheetah(kind, horizon=5)
        batch = RLTaskSampler(fam, 2, 2, seed=0).batch(0, 2)
        pol = MLPPolicy(fam.obs_dim, fam.act_dim, (8,))
        traj = rollout(batch.env(2), MLPActor(pol, pol.params()), 0, False, fam.act_dim)
        assert traj.obs.shape == (2, 2, 5, 20) and torch.isfinite(traj.rewards).all()
        again = rollout(batch.env(2), MLPActor(pol, pol.params()), 0, False, fam.act_dim)
        assert torch.equal(traj.rewards, again.rewards)  # initial states and actions are seeded
