"""The shared functional inner loop (fastadapt.learners.gradient): exact second-order meta-gradients with
BatchNorm, first order, vmap == loop, BatchNorm modes, and no mutation of the user's module."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import grad, jvp

from fastadapt import MAML
from fastadapt.nn.functional_copy import functional_copy
from fastadapt.tasks import TaskBatch
from fastadapt.train.backward import meta_backward


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.BatchNorm2d(2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * 3 * 3, 3),
    )


def batch(b: int = 2, dtype=torch.float64, seed: int = 1) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(6).remainder(3).repeat(b, 1)
    return TaskBatch(
        torch.randn(b, 6, 1, 6, 6, generator=g, dtype=dtype),
        y,
        torch.randn(b, 6, 1, 6, 6, generator=g, dtype=dtype),
        y.flip(-1),
        3,
    )


def learnable_batch(b: int = 4, seed: int = 2) -> TaskBatch:
    """Tasks whose classes are random prototype images; support and queries are noisy copies."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(b, 3, 1, 6, 6, generator=g)
    y = torch.arange(6).remainder(3).repeat(b, 1)
    pick = protos[torch.arange(b).unsqueeze(1), y]
    return TaskBatch(
        pick + 0.3 * torch.randn(pick.shape, generator=g), y, pick + 0.3 * torch.randn(pick.shape, generator=g), y, 3
    )


def meta_grad(learner, tb) -> torch.Tensor:
    learner.zero_grad()
    loss, _ = learner.meta_loss(tb)
    loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in learner.parameters()])


def finite_difference(learner, tb, eps: float = 1e-6) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for p in learner.parameters():
            flat = p.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                hi = learner.meta_loss(tb)[0].item()
                flat[i] = old - eps
                lo = learner.meta_loss(tb)[0].item()
                flat[i] = old
                out.append((hi - lo) / (2 * eps))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("batching", ["vmap", "loop"])
def test_second_order_meta_gradient_matches_finite_differences_with_batchnorm(batching):
    learner = MAML(small_net(), inner_lr=0.3, inner_steps=2, batching=batching).double()
    tb = batch()
    g = meta_grad(learner, tb)
    fd = finite_difference(learner, tb)
    rel = (g - fd).norm() / fd.norm()
    assert rel < 1e-5, f"relative error {rel:.2e}"
    # ...and first order is measurably different here, so the check has teeth.
    fo = meta_grad(MAML(small_net(), inner_lr=0.3, inner_steps=2, first_order=True, batching=batching).double(), tb)
    assert (fo - fd).norm() / fd.norm() > 1e-3


def test_first_order_is_maml_without_the_hessian_term():
    """One inner step: d/dθ L_q(θ - a∇L_s(θ)) = (I - a H_s(θ)) g with g = ∇L_q(φ); first order keeps g."""
    lr, tb = 0.3, batch()
    so = MAML(small_net(), inner_lr=lr, inner_steps=1, batching="loop").double()
    fo = MAML(small_net(), inner_lr=lr, inner_steps=1, first_order=True, batching="loop").double()
    g_so, g_fo = meta_grad(so, tb), meta_grad(fo, tb)
    params = {n: p.detach() for n, p in so.module.named_parameters()}
    names = list(params)
    expected = []
    for t in tb:

        def support(p, t=t):
            return so._loss(so._forward(p, t.support_x), t.support_y)

        def query(p, t=t):
            return so._loss(so._forward(p, t.query_x), t.query_y)

        gs = grad(support)(params)
        phi = {n: params[n] - lr * gs[n] for n in names}
        g = grad(query)(phi)  # first-order term, per task
        hg = jvp(grad(support), (params,), (g,))[1]  # H_s(θ) g (H symmetric)
        expected.append(
            (torch.cat([g[n].reshape(-1) for n in names]), torch.cat([(g[n] - lr * hg[n]).reshape(-1) for n in names]))
        )
    exp_fo = torch.stack([e[0] for e in expected]).mean(0)
    exp_so = torch.stack([e[1] for e in expected]).mean(0)
    torch.testing.assert_close(g_fo, exp_fo, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(g_so, exp_so, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"first_order": True},
        {"lr_mode": "per_param"},
        {"lr_mode": "per_layer_step", "multi_step_loss": True},
        {"bn": "support"},
    ],
)
def test_vmap_path_equals_loop_path(kwargs):
    tb = batch(3, torch.float32)
    a = MAML(small_net(), inner_lr=0.2, inner_steps=2, batching="vmap", **kwargs)
    b = MAML(small_net(), inner_lr=0.2, inner_steps=2, batching="loop", **kwargs)
    la, lb = a.meta_loss(tb)[0], b.meta_loss(tb)[0]
    torch.testing.assert_close(la, lb)
    la.backward(), lb.backward()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-6)
    a.eval(), b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a.predict_batch(tb).logits, b.predict_batch(tb).logits)


@pytest.mark.parametrize("kwargs", [{}, {"lr_mode": "per_layer_step", "multi_step_loss": True}])
def test_vmap_in_chunks_equals_one_vmap_call(kwargs):
    """task_chunk=2 on 3 tasks, back-propagated by the trainer's meta_backward (chunks of 2 and 1, each
    back-propagated at once): same metrics and meta-gradient as the whole meta-batch in one vmap call, and the
    chunks count as one meta-iteration (MAML++'s multi-step loss anneals by them)."""
    tb = batch(3, torch.float32)
    whole = MAML(small_net(), inner_lr=0.2, inner_steps=2, batching="vmap", **kwargs)
    parts = MAML(small_net(), inner_lr=0.2, inner_steps=2, batching="vmap", task_chunk=2, **kwargs)
    assert (whole.backward_chunk(tb), parts.backward_chunk(tb)) == (None, 2)
    for _ in range(2):
        whole.zero_grad(), parts.zero_grad()
        ma, mb = meta_backward(whole, tb), meta_backward(parts, tb)
        assert ma == pytest.approx(mb)
        for pa, pb in zip(whole.parameters(), parts.parameters()):
            torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-6)
    assert int(whole.meta_iterations) == int(parts.meta_iterations) == 2


def test_loop_path_back_propagates_task_by_task_with_the_whole_batch_gradient():
    tb = batch(3, torch.float32)
    learner = MAML(small_net(), inner_lr=0.2, inner_steps=2, batching="loop")
    assert learner.backward_chunk(tb) == 1
    loss, metrics = learner.meta_loss(tb)
    loss.backward()
    whole = [p.grad.clone() for p in learner.parameters()]
    learner.zero_grad()
    assert meta_backward(learner, tb) == pytest.approx(metrics)
    for g, p in zip(whole, learner.parameters()):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7)


def test_auto_batching_on_the_cpu_vmaps_small_tasks_and_loops_over_large_ones():
    """batching="auto" on the CPU: one vmap call (the trainer back-propagates the whole meta-batch at once) for tasks of
    few input values, a loop over tasks (back-propagated one by one) above `CPU_VMAP_MAX_VALUES`; both the same math."""
    from fastadapt.learners.gradient import CPU_VMAP_MAX_VALUES

    learner = MAML(small_net(), inner_lr=0.2, inner_steps=1)
    small = batch(2, torch.float32)
    side = int((CPU_VMAP_MAX_VALUES / 12) ** 0.5) + 1  # 6 support + 6 query images of side x side: over the limit
    y = small.support_y
    large = TaskBatch(torch.randn(2, 6, 1, side, side), y, torch.randn(2, 6, 1, side, side), y, 3)
    assert 12 * 36 <= CPU_VMAP_MAX_VALUES < 12 * side * side
    assert (learner.backward_chunk(small), learner.backward_chunk(large)) == (None, 1)


def test_task_chunk_must_be_positive():
    with pytest.raises(ValueError, match="task_chunk"):
        MAML(small_net(), task_chunk=0)


def test_batchnorm_statistics_are_per_task_inside_the_batch():
    """A task's predictions do not depend on which other tasks share its meta-batch."""
    learner = MAML(small_net(), inner_lr=0.2, inner_steps=1).double()
    tb = batch(3)
    other = TaskBatch(
        *(
            torch.cat([getattr(tb, k)[:1], 5 * getattr(tb, k)[1:]]) if k.endswith("x") else getattr(tb, k)
            for k in ("support_x", "support_y", "query_x", "query_y")
        ),
        ways=3,
    )
    torch.testing.assert_close(learner.predict_batch(tb).logits[0], learner.predict_batch(other).logits[0])


def test_bn_support_mode_predicts_each_query_independently():
    tb = batch(1)
    t = tb[0]
    for mode, independent in (("support", True), ("transductive", False)):
        pred = MAML(small_net(), inner_lr=0.2, bn=mode).double().adapt(t.support_x, t.support_y, 3)
        together = pred.predict(t.query_x).logits[:2]
        alone = torch.cat([pred.predict(t.query_x[i : i + 1]).logits for i in range(2)])
        assert torch.allclose(together, alone) == independent, mode


class UserNet(nn.Module):
    """A module written by a user: fastadapt knows nothing of it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.relu(self.norm(self.conv(x)))
        return self.fc(h.mean(dim=(2, 3)))


def test_user_module_adapts_meta_trains_and_is_never_mutated():
    torch.manual_seed(0)
    net = UserNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    learner = MAML(net, inner_lr=0.5, inner_steps=1)
    tb = learnable_batch()
    t = tb[0]
    pre = learner.module.state_dict()
    pre = {k: v.clone() for k, v in pre.items()}
    fast = learner.adapt(t.support_x, t.support_y, 3)
    assert fast.predict(t.query_x).logits.shape == (6, 3)
    for k, v in learner.module.state_dict().items():  # adapt leaves the learner untouched too
        assert torch.equal(v, pre[k]), k
    opt = torch.optim.Adam(learner.parameters(), 1e-2)
    first = None
    for _ in range(60):
        loss, _ = learner.meta_loss(tb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.7 * first
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), f"user module changed: {k}"
    assert type(net.norm) is nn.BatchNorm2d and net.norm.training


def test_functional_copy_keeps_state_dict_keys_and_rejects_non_modules():
    net = small_net()
    copy = functional_copy(net)
    assert list(copy.state_dict()) == list(net.state_dict())
    assert isinstance(copy[1], nn.BatchNorm2d) and type(copy[1]) is not nn.BatchNorm2d
    with pytest.raises(TypeError, match="nn.Module"):
        functional_copy(lambda x: x)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="bn must be one of"):
        MAML(small_net(), bn="running")
    with pytest.raises(ValueError, match="selected no parameter"):
        MAML(small_net(), adapt=lambda n: False)
    learner = MAML(small_net())
    with pytest.raises(ValueError, match="labels must lie"):
        learner.adapt(torch.randn(2, 1, 6, 6), torch.tensor([0, 3]), ways=3)


def conv4(width: int = 16) -> nn.Module:
    """Finn 2017's Omniglot network at a small width (four conv-BN-ReLU-pool blocks on 28x28 inputs)."""
    torch.manual_seed(0)
    blocks = []
    for i in range(4):
        blocks += [nn.Conv2d(1 if i == 0 else width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        blocks.append(nn.MaxPool2d(2))
    return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(width, 5))


def omniglot_like(b: int, seed: int, dtype=torch.float32) -> TaskBatch:
    """5-way 1-shot tasks of 28x28 images, 3 queries a class: noisy copies of a random image per class (the same
    images in every ``dtype``)."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(b, 5, 1, 28, 28, generator=g)
    ys, yq = torch.arange(5).repeat(b, 1), torch.arange(5).repeat_interleave(3).repeat(b, 1)
    qx = protos[torch.arange(b)[:, None], yq] + 0.5 * torch.randn(b, 15, 1, 28, 28, generator=g)
    sx = protos + 0.5 * torch.randn(protos.shape, generator=g)
    return TaskBatch(sx.to(dtype), ys, qx.to(dtype), yq, 5)


@pytest.mark.parametrize("batching", ["loop", "vmap"])
def test_bf16_second_order_meta_gradient_against_the_exact_one(batching):
    """precision="bf16" (autocast; weights, fast weights and BatchNorm statistics in fp32). Measured with this
    network at initialization (where BatchNorm makes weight gradients sums of many cancelling terms, the hard
    case for an 8-bit mantissa): relative error 0.17-0.37 at one inner step, 0.45-0.52 at three, against the
    float64 meta-gradient (itself equal to finite differences, test above). What we guarantee, and test: the
    direction is kept (cosine >= 0.85), the error is below the gradient's own task-sampling noise at a meta-batch
    of 4, and the second-order term survives (bf16 is far closer to exact MAML than first-order MAML is)."""
    exact_learner = MAML(conv4(), inner_lr=0.4, inner_steps=1, batching=batching)
    mixed = MAML(conv4(), inner_lr=0.4, inner_steps=1, batching=batching)
    mixed.set_precision("bf16")
    first_order = MAML(conv4(), inner_lr=0.4, inner_steps=1, batching=batching, first_order=True)
    tasks = omniglot_like(4, 1)
    exact = meta_grad(exact_learner.double(), omniglot_like(4, 1, torch.float64))
    noise = (exact - meta_grad(exact_learner, omniglot_like(4, 2, torch.float64))).norm() / 2**0.5
    g = meta_grad(mixed, tasks).double()
    assert all(p.dtype == torch.float32 for p in mixed.parameters())
    assert torch.nn.functional.cosine_similarity(g, exact, dim=0) > 0.85
    assert (g - exact).norm() < 0.6 * noise
    assert (g - exact).norm() < 0.5 * (meta_grad(first_order, tasks).double() - exact).norm()


def test_bf16_adaptation_keeps_fast_weights_in_fp32_and_fits_the_support_set_as_fp32_does():
    learner = MAML(conv4(), inner_lr=0.4, inner_steps=3)
    t = omniglot_like(1, 3)[0]

    def support_loss(predictor) -> float:
        return learner._loss(predictor.predict(t.support_x).logits, t.support_y).item()

    before = learner._loss(learner._forward(learner._params(), t.support_x), t.support_y).item()
    ref = support_loss(learner.adapt(t.support_x, t.support_y))
    learner.set_precision("bf16")
    fast = learner.adapt(t.support_x, t.support_y)
    assert all(v.dtype == torch.float32 for v in fast.params.values())
    assert fast.predict(t.query_x).logits.dtype == torch.float32
    # bf16 steps differ from fp32 ones by their gradient error (test above): the fit is similar, not equal.
    assert ref < 0.5 * before and before - support_loss(fast) > 0.5 * (before - ref), (before, ref)
