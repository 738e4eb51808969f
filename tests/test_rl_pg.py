"""Policy-gradient estimators: unbiased against analytic gradients on bandits, and the MAML-RL meta-gradient
against finite differences (of the true meta-objective of a deterministic bandit, and of the learner's own
surrogate with its rollouts held fixed)."""

import math

import torch

from fastadapt.learners.maml_rl import MAMLRL
from fastadapt.rl.pg import discount_cumsum, gae, lvc_objective, reinforce_advantages
from fastadapt.rl.policies import MLPPolicy
from fastadapt.rl.rollout import MLPActor, rollout
from fastadapt.tasks.rl_envs import Bandits, PointNav, RLTaskBatch, RLTaskSampler


def linear_bandit_policy(arms, seed=0):
    torch.manual_seed(seed)
    pol = MLPPolicy(1, arms, (), discrete=True).double()
    with torch.no_grad():
        pol.layers[0].weight.copy_(0.5 * torch.randn(arms, 1))
        pol.layers[0].bias.copy_(0.5 * torch.randn(arms))
    return pol


def expected_reward(pol, params, p):
    logits = params["layers.0.weight"][:, 0] + params["layers.0.bias"]
    return (logits.softmax(-1) * p).sum()


def mean_and_se(samples):
    x = torch.stack(samples)
    return x.mean(0), x.std(0) / math.sqrt(len(samples))


def test_reinforce_with_baseline_is_unbiased_on_a_bandit():
    fam, p = Bandits(arms=4), torch.tensor([0.1, 0.5, 0.7, 0.9], dtype=torch.float64)
    pol = linear_bandit_policy(4)
    params = pol.params()
    exact = torch.autograd.grad(expected_reward(pol, params, p), list(params.values()))
    estimates = []
    for m in range(16):
        batch = RLTaskBatch(fam, p.view(1, -1), torch.tensor([m]), 20_000, 1)
        traj = rollout(batch.env(20_000), MLPActor(pol, params), 0, True, 4, dtype=torch.float64)
        adv = reinforce_advantages(traj, gamma=0.99, center=False)
        logp = pol.dist(params, traj.flat(traj.obs)).log_prob(traj.flat(traj.actions)).view_as(traj.logp)
        g = torch.autograd.grad(lvc_objective(logp, traj.logp, adv, traj.mask).sum(), list(params.values()))
        estimates.append(torch.cat([x.flatten() for x in g]))
    mean, se = mean_and_se(estimates)
    want = torch.cat([x.flatten() for x in exact])
    assert ((mean - want).abs() <= 4.5 * se + 1e-5).all(), (mean, want, se)
    assert se.max() < 0.05 * want.abs().max()  # the test can tell a wrong gradient


def true_meta_gradient(pol, p, alpha):
    """Central finite differences of F(theta) = J(theta + alpha grad J(theta)) with the exact expected reward J."""
    names = list(pol.params())
    base = {n: v.detach().clone() for n, v in pol.params().items()}

    def meta_objective(params):
        params = {n: v.clone().requires_grad_() for n, v in params.items()}
        g = torch.autograd.grad(expected_reward(pol, params, p), list(params.values()))
        return float(expected_reward(pol, {n: params[n] + alpha * gi for n, gi in zip(names, g)}, p))

    out, eps = [], 1e-5
    for n in names:
        flat = base[n].flatten()
        for i in range(len(flat)):
            vals = []
            for s in (1, -1):
                moved = flat.clone()
                moved[i] += s * eps
                vals.append(meta_objective({**base, n: moved.view_as(base[n])}))
            out.append((vals[0] - vals[1]) / (2 * eps))
    return torch.tensor(out, dtype=torch.float64)


def test_maml_rl_meta_gradient_matches_finite_differences_of_the_true_meta_objective():
    """A deterministic 4-armed bandit (arm 1 pays 1, the others 0): the learner's sampled second-order meta-gradient
    (LVC inner step, clipped outer objective at ratio 1) averages to the finite-difference gradient of
    J(theta + alpha grad J(theta)); the first-order one does not."""
    fam, p, alpha = Bandits(arms=4), torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64), 2.0
    pol = linear_bandit_policy(4, seed=3)
    want = true_meta_gradient(pol, p, alpha)
    estimates = {False: [], True: []}
    for first_order in (False, True):
        learner = MAMLRL(pol, inner_lr=alpha, kl_coef=0.0, center_adv=False, first_order=first_order)
        for m in range(12):
            batch = RLTaskBatch(fam, p.view(1, -1), torch.tensor([100 + m]), 10_000, 10_000, index=m)
            loss, _ = learner.meta_loss(batch)
            g = torch.autograd.grad(loss, list(pol.parameters()))
            estimates[first_order].append(-torch.cat([x.flatten() for x in g]))
    mean, se = mean_and_se(estimates[False])
    assert ((mean - want).abs() <= 4.5 * se + 1e-5).all(), (mean, want, se)
    fo_mean, fo_se = mean_and_se(estimates[True])
    assert ((fo_mean - want).abs() > 6 * fo_se).any(), (fo_mean, want, fo_se)


def test_maml_rl_loss_gradient_is_exact_for_fixed_rollouts():
    """With the rollouts of a draw held fixed (a later epoch), the meta-loss is a deterministic function of the
    meta-parameters; autograd through the per-task inner step (and the KL term) matches finite differences."""
    fam = PointNav(horizon=6)
    torch.manual_seed(0)
    pol = MLPPolicy(2, 2, (3,), init_std=0.3).double()
    learner = MAMLRL(pol, inner_lr=0.3, kl_coef=0.05, later_inner_lr=0.2)
    sampler = RLTaskSampler(fam, 3, 3, seed=0, part="train", epochs=2)
    learner.meta_loss(sampler.batch(0, 2))  # epoch 0: collects the rollouts
    with torch.no_grad():
        for v in pol.parameters():
            v.add_(0.02 * torch.randn_like(v))  # away from the collecting policy
    later = sampler.batch(1, 2)
    assert later.epoch == 1
    loss, _ = learner.meta_loss(later)
    grads = torch.autograd.grad(loss, list(pol.parameters()))
    eps = 1e-6
    for v, g in zip(pol.parameters(), grads):
        flat = v.data.view(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                up = float(learner.meta_loss(later)[0])
                flat[i] = old - eps
                down = float(learner.meta_loss(later)[0])
                flat[i] = old
            assert abs((up - down) / (2 * eps) - float(g.view(-1)[i])) < 1e-6 + 1e-5 * abs(float(g.view(-1)[i]))


def test_discounting_and_gae():
    r = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert torch.allclose(discount_cumsum(r, 0.5), torch.tensor([[1 + 1 + 0.75 + 0.5, 2 + 1.5 + 1, 3 + 2, 4.0]]))
    assert torch.allclose(discount_cumsum(r, 0.5, segment=2), torch.tensor([[2.0, 2.0, 5.0, 4.0]]))
    v = torch.tensor([[0.5, 1.0, -1.0, 2.0]])
    ends = torch.tensor([[False, True, False, True]])
    adv = gae(r, v, ends, 0.9, 1.0, segment=2)  # lambda 1: return minus value, per episode
    assert torch.allclose(adv, torch.tensor([[1 + 0.9 * 2 - 0.5, 2 - 1.0, 3 + 0.9 * 4 + 1.0, 4 - 2.0]]))
