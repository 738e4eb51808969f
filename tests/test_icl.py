import copy

import pytest
import torch

from fastadapt.learners import icl as icl_mod
from fastadapt.learners.icl import ICLTransformer, MLPEmbed, icl_mask, permute_labels
from fastadapt.tasks import TaskBatch
from fastadapt.tasks.linreg import LinearRegressionTasks


def small(max_ways=5, prefix=False, dim_in=4, label_dim=0):
    torch.manual_seed(0)
    return ICLTransformer(
        MLPEmbed(dim_in, 32), 32, max_ways=max_ways, dim=32, layers=2, heads=2, prefix_loss=prefix, label_dim=label_dim
    ).eval()


def test_mask_layout():
    m = icl_mask(3, 3, 2)
    assert m[:3, :3].equal(torch.ones(3, 3, dtype=torch.bool).tril())  # pairs: causal
    assert m[3, :3].sum() == 0 and m[5, :3].tolist() == [True, True, False]  # probe i sees pairs < i
    assert m[6, :3].all() and m[6, 6] and not m[6, 7] and not m[7, 6]  # queries see context only
    assert not m[:6, 6:].any()  # nobody sees a query


def test_causality_no_token_sees_later_tokens():
    model = small(max_ways=0, prefix=True)
    sx, sy, qx = torch.randn(1, 6, 4), torch.randn(1, 6), torch.randn(1, 3, 4)
    with torch.no_grad():
        base = model(sx, sy, qx, probes=True)
        sx2, sy2 = sx.clone(), sy.clone()
        sx2[:, 4:] += 5.0
        sy2[:, 4:] -= 3.0  # change examples 5 and 6
        after = model(sx2, sy2, qx, probes=True)
        # probes 1..5 predict from examples before them: the first five never see the change of example 5's label
        assert torch.allclose(base["probe_mean"][:, :4], after["probe_mean"][:, :4], atol=1e-6)
        assert not torch.allclose(base["probe_mean"][:, 5], after["probe_mean"][:, 5], atol=1e-4)
        assert not torch.allclose(base["mean"], after["mean"], atol=1e-4)  # queries do read the context
        qx2 = qx.clone()
        qx2[:, 2] += 4.0  # another query changes: the others do not
        other = model(sx, sy, qx2)
        assert torch.allclose(base["mean"][:, :2], other["mean"][:, :2], atol=1e-6)
        assert not torch.allclose(base["mean"][:, 2], other["mean"][:, 2], atol=1e-4)


@pytest.mark.parametrize("label_dim", [0, 8])
def test_adapt_equals_batched_and_does_not_mutate(label_dim):
    model = small(label_dim=label_dim)
    before = copy.deepcopy(model.state_dict())
    b = TaskBatch(
        torch.randn(3, 10, 4),
        torch.arange(5).repeat(2).expand(3, 10),
        torch.randn(3, 7, 4),
        torch.randint(0, 5, (3, 7)),
        ways=5,
    )
    with torch.no_grad():
        batched = model.predict_batch(b).logits
        single = torch.stack([model.adapt(t.support_x, t.support_y, 5).predict(t.query_x).logits for t in b])
    assert batched.shape == (3, 7, 5) and torch.allclose(batched, single, atol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_label_permutation_is_consistent_and_applied(monkeypatch):
    # x encodes the class, so a query and the support example of its class share x before and after.
    b, n, k = 8, 5, 2
    sy = torch.arange(n).repeat_interleave(k).expand(b, -1)
    qy = torch.arange(n).repeat(3).expand(b, -1)
    batch = TaskBatch(sy.float().unsqueeze(-1), sy, qy.float().unsqueeze(-1), qy, ways=n)
    out = permute_labels(batch, torch.Generator().manual_seed(0))
    for t in range(b):
        label_of_x = {float(x): int(y) for x, y in zip(out.support_x[t, :, 0], out.support_y[t])}
        assert sorted(label_of_x.values()) == list(range(n))  # a permutation
        assert all(label_of_x[float(x)] == int(y) for x, y in zip(out.query_x[t, :, 0], out.query_y[t]))
    assert not torch.equal(out.query_y, qy)  # not the identity
    assert not torch.equal(out.support_x, batch.support_x)  # support order shuffled
    calls = []
    monkeypatch.setattr(icl_mod, "permute_labels", lambda bt: calls.append(1) or permute_labels(bt))
    model = small(dim_in=1).train()
    model.meta_loss(batch)
    assert calls == [1]
    model.eval().meta_loss(batch)  # evaluation: no permutation
    assert calls == [1]


def test_empty_context_and_too_many_ways():
    model = small(max_ways=0)
    out = model(torch.zeros(2, 0, 4), torch.zeros(2, 0), torch.randn(2, 3, 4))
    assert out["mean"].shape == (2, 3)
    with pytest.raises(ValueError, match="at most 5 classes"):
        small(max_ways=5).adapt(torch.randn(6, 4), torch.arange(6), ways=6).predict(torch.randn(1, 4))


def test_linear_regression_in_context_learning_happens():
    torch.set_num_threads(1)
    d = 2
    model = small(max_ways=0, prefix=True, dim_in=d).train()
    tasks = LinearRegressionTasks(d, 2 * d + 2, 8, seed=0)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for i in range(250):
        loss, _ = model.meta_loss(tasks.batch(i, 32))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    test = LinearRegressionTasks(d, 2 * d + 2, 8, seed=1, part="test").batch(0, 200)
    with torch.no_grad():
        err_full = ((model(test.support_x, test.support_y, test.query_x)["mean"] - test.query_y) ** 2).mean() / d
        err_none = (
            (model(test.support_x[:, :0], test.support_y[:, :0], test.query_x)["mean"] - test.query_y) ** 2
        ).mean() / d
    assert err_none > 0.7  # with no examples nothing beats predicting 0 (error 1)
    assert err_full < 0.35  # with 2d+2 examples it has learned to regress in context


def test_omniglot_preset_builds_conv4_learner_that_trains():
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset

    cfg = {**get_preset("omniglot-icl-5w1s"), "icl_dim": 32, "icl_layers": 1, "hidden": 8}
    model = build_learner(cfg).train()
    b = TaskBatch(
        torch.rand(2, 5, 1, 28, 28),
        torch.arange(5).expand(2, 5),
        torch.rand(2, 10, 1, 28, 28),
        torch.arange(5).repeat(2).expand(2, 10),
        ways=5,
    )
    loss, m = model.meta_loss(b)
    loss.backward()
    assert 0 <= m["acc"] <= 1
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith("embedder"))


def test_classification_in_context_learning_happens_with_permuted_labels():
    # Each episode: 5 random unit vectors are the classes; queries are noisy copies. Labels are permuted
    # per episode, so only reading the context can solve it. The loss sits on a plateau, then drops.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    d = 32
    model = ICLTransformer(MLPEmbed(d, 64), 64, max_ways=5, dim=64, layers=2, heads=4).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def episodes(b):
        c = torch.nn.functional.normalize(torch.randn(b, 5, d), dim=-1)
        qy = torch.randint(0, 5, (b, 10))
        qx = c.gather(1, qy.unsqueeze(-1).expand(-1, -1, d)) + 0.3 * torch.randn(b, 10, d) / d**0.5
        return TaskBatch(c, torch.arange(5).expand(b, 5), torch.nn.functional.normalize(qx, dim=-1), qy, ways=5)

    for _ in range(350):
        loss, _ = model.meta_loss(episodes(32))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = model.eval().predict_batch(b := episodes(200)).accuracy(b.query_y)
    assert acc > 0.9


def test_random_rotation_is_orthogonal_per_episode():
    from fastadapt.learners.icl import random_rotation

    b = TaskBatch(
        torch.randn(3, 4, 6),
        torch.arange(4).expand(3, 4),
        torch.randn(3, 5, 6),
        torch.arange(5).expand(3, 5) % 4,
        ways=4,
    )
    r = random_rotation(b, torch.Generator().manual_seed(0))
    both, rboth = torch.cat([b.support_x, b.query_x], 1), torch.cat([r.support_x, r.query_x], 1)
    assert torch.allclose(both @ both.transpose(1, 2), rboth @ rboth.transpose(1, 2), atol=1e-4)  # inner products kept
    assert not torch.allclose(both, rboth, atol=1e-2)
    assert not torch.allclose(rboth[0] @ torch.linalg.pinv(both[0]), rboth[1] @ torch.linalg.pinv(both[1]), atol=1e-2)


def test_concatenated_label_tokens_keep_input_and_label_apart():
    model = small(label_dim=8)
    assert model.blocks.layers[0].self_attn.embed_dim == 40 and model.y_emb.weight.shape == (6, 8)
    seen = {}
    model.blocks.register_forward_pre_hook(lambda m, args, kw: seen.update(h=args[0]) or None, with_kwargs=True)
    sx, qx = torch.randn(1, 5, 4), torch.randn(1, 2, 4)
    with torch.no_grad():
        model(sx, torch.arange(5).unsqueeze(0), qx)
    h = seen["h"]
    assert torch.equal(h[0, :5, 32:], model.y_emb.weight[:5])  # label coordinates: e(y) alone
    assert torch.equal(h[0, 5:, 32:], model.y_emb.weight[[5, 5]])  # queries: the unknown label
    assert torch.allclose(h[0, 5:, :32], model.x_norm(model.x_proj(model.embedder(qx[0]))))


def test_label_dim_errors_are_explained():
    with pytest.raises(ValueError, match="classification"):
        ICLTransformer(MLPEmbed(4, 32), 32, max_ways=0, dim=32, heads=2, label_dim=8)
    with pytest.raises(ValueError, match="divisible"):
        ICLTransformer(MLPEmbed(4, 32), 32, max_ways=5, dim=32, heads=2, label_dim=7)


def test_nearest_neighbour_init_reads_the_context_like_a_cosine_nearest_neighbour():
    # Untrained, icl_init="nn" is already an in-context soft nearest-neighbour classifier: on random 5-way
    # episodes it predicts the class of the support example most cosine-similar to the query, whatever the
    # labels are called; the default random start is at chance on the same episodes.
    torch.manual_seed(0)
    d, ways = 24, 5
    nn_model = ICLTransformer(
        torch.nn.Identity(), d, max_ways=ways, dim=d, layers=2, heads=1, label_dim=8, init="nn", nn_scale=20.0
    ).eval()
    rand = ICLTransformer(torch.nn.Identity(), d, max_ways=ways, dim=d, layers=2, heads=1, label_dim=8).eval()
    sx = torch.nn.functional.normalize(torch.randn(200, ways, d), dim=-1)
    sy = torch.rand(200, ways).argsort(-1)  # random names for the classes
    qx = torch.nn.functional.normalize(sx + 0.5 * torch.randn(200, ways, d) / d**0.5, dim=-1)
    cos = torch.einsum("bqd,bsd->bqs", qx, sx)
    nearest = sy.gather(1, cos.argmax(-1))
    with torch.no_grad():
        pred = nn_model(sx, sy, qx, ways)["logits"].argmax(-1)
        pred_rand = rand(sx, sy, qx, ways)["logits"].argmax(-1)
    assert (pred == nearest).float().mean() > 0.97
    assert (pred_rand == nearest).float().mean() < 0.4
    assert torch.equal(nn_model.x_proj.weight, torch.eye(d))  # inputs' geometry kept exactly


def test_nearest_neighbour_init_is_a_start_not_a_frozen_head():
    # Every weight still trains from the nearest-neighbour start (zeroed output weights included).
    torch.manual_seed(0)
    model = ICLTransformer(MLPEmbed(6, 16), 16, max_ways=3, dim=16, layers=2, heads=1, label_dim=4, init="nn")
    b = TaskBatch(
        torch.randn(2, 3, 6), torch.arange(3).expand(2, 3), torch.randn(2, 4, 6), torch.randint(0, 3, (2, 4)), ways=3
    )
    model.meta_loss(b)[0].backward()
    blk = model.blocks.layers[1]
    for p in (blk.self_attn.out_proj.weight, blk.linear2.weight, model.head.weight, model.y_emb.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_nearest_neighbour_init_errors_are_explained():
    with pytest.raises(ValueError, match="icl_heads=1"):
        ICLTransformer(MLPEmbed(4, 32), 32, max_ways=5, dim=32, heads=2, label_dim=8, init="nn")
    with pytest.raises(ValueError, match="icl_label_dim"):
        ICLTransformer(MLPEmbed(4, 32), 32, max_ways=5, dim=32, heads=1, label_dim=0, init="nn")
    with pytest.raises(ValueError, match="'default' or 'nn'"):
        ICLTransformer(MLPEmbed(4, 32), 32, max_ways=5, dim=32, heads=1, label_dim=8, init="mimetic")


def test_regression_adapt_takes_the_samplers_scalar_targets_and_explains_a_trailing_dimension():
    model = small(max_ways=0, prefix=True, dim_in=3).eval()
    t = LinearRegressionTasks(3, 6, 4, seed=0, part="test").batch(0, 1)[0]
    with torch.no_grad():
        mean = model.adapt(t.support_x, t.support_y).predict(t.query_x).mean
        batched = model(t.support_x[None], t.support_y[None], t.query_x[None])["mean"][0]
    torch.testing.assert_close(mean, batched)
    with pytest.raises(ValueError, match=r"support_y \[\.\.\., N\] \(one scalar target per point\)"):
        model.adapt(t.support_x, t.support_y.unsqueeze(-1))
