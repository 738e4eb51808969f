"""MANN (Santoro 2016): content reads, LRUA writes, usage decay, the episodic API."""

from dataclasses import replace

import pytest
import torch

from fastadapt.configs import build_learner
from fastadapt.learners.mann import MANN, content_weights, instance_accuracy, least_used, lrua_write
from fastadapt.tasks.sequence import as_sequence
from fastadapt.tasks.task import TaskBatch


def test_read_weights_sum_to_one_and_prefer_the_matching_row():
    g = torch.Generator().manual_seed(0)
    memory = torch.randn(2, 16, 8, generator=g)
    keys = torch.cat([memory[:, 3:4] * 2.5, torch.randn(2, 2, 8, generator=g)], 1)  # head 0 = row 3 (scaled)
    w = content_weights(memory, keys, strength=torch.full((2, 3), 10.0))
    assert w.shape == (2, 3, 16) and (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3))
    assert (w[:, 0].argmax(-1) == 3).all()  # cosine ignores the scale of the key


def test_least_used_slot_is_written():
    usage = torch.tensor([[0.9, 0.2, 0.05, 0.7, 0.3]])
    memory = torch.randn(1, 5, 4)
    key = torch.randn(1, 1, 4)
    prev_read = torch.softmax(torch.randn(1, 1, 5), -1)
    new, w = lrua_write(memory, usage, prev_read, key, gate=torch.full((1, 1), -30.0))  # sigmoid(gate) ~ 0
    torch.testing.assert_close(w, torch.nn.functional.one_hot(torch.tensor([[2]]), 5).float())
    torch.testing.assert_close(new[0, 2], key[0, 0])  # erased, then written
    keep = [0, 1, 3, 4]
    torch.testing.assert_close(new[0, keep], memory[0, keep])


def test_gate_open_writes_to_previously_read_slots_and_heads_take_distinct_slots():
    usage = torch.tensor([[0.9, 0.2, 0.05, 0.7, 0.3]])
    prev_read = torch.tensor([[[0.0, 0.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0]]])
    _, w = lrua_write(torch.zeros(1, 5, 4), usage, prev_read, torch.randn(1, 2, 4), torch.full((1, 2), 30.0))
    torch.testing.assert_close(w, prev_read)
    lu = least_used(usage, 2)
    assert lu[0].argmax(-1).tolist() == [2, 1]  # head h <- h-th least used
    with pytest.raises(ValueError, match="memory slots"):
        least_used(usage, 6)


def test_erase_one_zeroes_only_the_least_used_slot():
    usage = torch.tensor([[0.9, 0.2, 0.05, 0.7, 0.3]])  # least used: slot 2, then slot 1
    memory = torch.randn(1, 5, 4)
    values = torch.randn(1, 2, 4)
    closed = torch.full((1, 2), -30.0)  # both heads write least-used slots
    heads, _ = lrua_write(memory, usage, torch.zeros(1, 2, 5), values, closed)
    one, _ = lrua_write(memory, usage, torch.zeros(1, 2, 5), values, closed, erase="one")
    torch.testing.assert_close(heads[0, 1], values[0, 1])  # erased, then written
    torch.testing.assert_close(one[0, 1], memory[0, 1] + values[0, 1])  # kept, then added to
    torch.testing.assert_close(one[0, 2], values[0, 0])
    keep = [0, 3, 4]
    torch.testing.assert_close(one[0, keep], memory[0, keep])
    with pytest.raises(ValueError, match="erase must be"):
        lrua_write(memory, usage, torch.zeros(1, 2, 5), values, closed, erase="all")
    with pytest.raises(ValueError, match="mann_erase"):
        MANN(erase="all")


def test_usage_decays_and_adds_read_and_write_weights():
    torch.manual_seed(0)
    m = MANN(image_size=4, max_ways=3, controller=8, slots=6, width=5, heads=2, gamma=0.5)
    with torch.no_grad():  # fixed access: random keys, write gate closed (least-used only)
        m.access.weight.zero_()
        m.access.bias.copy_(torch.randn(2, 7).index_fill_(1, torch.tensor([5]), -30.0).flatten())
    state = m.initial_state(2, torch.device("cpu"))
    state.usage = torch.rand(2, 6)
    _, new = m.step(state, torch.randn(2, 16), torch.tensor([-1, 2]))
    expected = 0.5 * state.usage + new.read_w.sum(1) + least_used(state.usage, 2).sum(1)
    torch.testing.assert_close(new.usage, expected)
    torch.testing.assert_close(new.read_w.sum(-1), torch.ones(2, 2))


@pytest.mark.parametrize("write", ["add", "key"])
def test_written_vector_is_the_add_vector_or_the_key(write):
    torch.manual_seed(0)
    m = MANN(image_size=4, max_ways=3, controller=8, slots=6, width=5, heads=1, write=write)
    with torch.no_grad():  # constant access: key from the bias, write gate closed
        m.access.weight.zero_()
        m.access.bias.copy_(torch.cat([torch.randn(5), torch.tensor([-30.0, 0.0])]))
        if write == "add":
            m.add.weight.zero_()
            m.add.bias.copy_(torch.randn(5))
    state = m.initial_state(1, torch.device("cpu"))
    state.usage = torch.tensor([[0.9, 0.8, 0.1, 0.7, 0.6, 0.5]])  # slot 2 least used
    _, new = m.step(state, torch.randn(1, 16), torch.tensor([-1]))
    source = m.add.bias if write == "add" else m.access.bias[:5]
    torch.testing.assert_close(new.memory[0, 2], torch.tanh(source))
    with pytest.raises(ValueError, match="write must be"):
        MANN(write="value")


def small_mann(ways=3):
    torch.manual_seed(0)
    return MANN(image_size=8, max_ways=ways, controller=16, slots=12, width=6, heads=2).eval()


def random_batch(b=2, n=3, k=2, q=4):
    g = torch.Generator().manual_seed(1)
    y = torch.arange(n).repeat_interleave(k)
    return TaskBatch(
        torch.rand(b, n * k, 1, 8, 8, generator=g),
        y.expand(b, -1).clone(),
        torch.rand(b, n * q, 1, 8, 8, generator=g),
        torch.arange(n).repeat_interleave(q).expand(b, -1).clone(),
        ways=n,
    )


def test_episodic_api_matches_batched_path_and_ignores_query_order():
    m, batch = small_mann(), random_batch()
    with torch.no_grad():
        batched = m.predict_batch(batch).logits
        for i, task in enumerate(batch):
            single = m.adapt(task.support_x, task.support_y, task.ways).predict(task.query_x).logits
            torch.testing.assert_close(single, batched[i], atol=1e-5, rtol=1e-5)
        perm = torch.randperm(batch.query_x.shape[1])
        pred = m.adapt(batch[0].support_x, batch[0].support_y).predict(batch[0].query_x[perm]).logits
    torch.testing.assert_close(pred, batched[0][perm], atol=1e-5, rtol=1e-5)
    assert batched.shape == (2, 12, 3)


def test_meta_loss_backprops_and_too_many_ways_is_a_clear_error():
    m, batch = small_mann().train(), random_batch()
    loss, metrics = m.meta_loss(batch)
    loss.backward()
    assert m.cell.weight_ih.grad.abs().sum() > 0 and {"loss", "acc", "acc_inst1", "acc_inst2"} <= set(metrics)
    with pytest.raises(ValueError, match="max_ways"):
        small_mann(ways=2).adapt(batch[0].support_x, batch[0].support_y)
    with pytest.raises(ValueError, match="encoder"):
        MANN(encoder="resnet")


def test_label_units_relabel_the_sequence_and_spare_units_are_trained():
    m, batch = small_mann(ways=5), random_batch(n=3)
    seq = as_sequence(batch, torch.Generator().manual_seed(0))
    units = torch.tensor([[4, 0, 2], [1, 3, 0]])
    with torch.no_grad():
        spread = m.sequence_logits(seq, units)
        relabelled = replace(
            seq,
            y=units.gather(1, seq.y),
            prev_y=torch.where(seq.prev_y >= 0, units.gather(1, seq.prev_y.clamp_min(0)), -1),
            ways=5,
        )  # the labels moved in the data
        full = m.sequence_logits(relabelled)
    torch.testing.assert_close(spread, full.gather(-1, units.unsqueeze(1).expand(-1, seq.y.shape[1], -1)))
    torch.testing.assert_close(m.sequence_logits(seq, torch.arange(3).expand(2, -1)), m.sequence_logits(seq))
    loss, _ = m.train().meta_loss(random_batch(b=8))  # 3 classes on 5 units: a random subset per sequence
    loss.backward()
    assert (m.out.weight.grad.abs().sum(1) > 0).all()  # every label unit learns


def test_instance_accuracy_reports_each_presentation():
    m = small_mann()

    class Toy:
        ways = 3

        def batch(self, i, b):
            return as_sequence(random_batch(b), torch.Generator().manual_seed(i))

    out = instance_accuracy(m, Toy(), episodes=4, batch_size=2, instances=(1, 2, 6, 7))
    assert out["1"]["sequences"] == 4 and 0 <= out["2"]["accuracy"] <= 1
    assert out["7"]["sequences"] == 0  # a class appears 6 times at most


@pytest.mark.slow
def test_short_training_beats_chance_on_omniglot_sequences(data_root):
    """Real meta-training on Omniglot sequences (3 classes x 5 drawings, conv encoder). A short run learns
    to beat chance from the label history (e.g. a new image is likely a class not yet shown);
    binding images to labels (the 2nd-instance jump of Santoro's Table 1) needs the benchmark's budget."""
    from fastadapt.presets import DEFAULTS
    from fastadapt.tasks import build_sampler
    from fastadapt.tasks.sequence import omniglot_sequences

    torch.manual_seed(0)
    cfg = dict(DEFAULTS, data_root=str(data_root))
    m = MANN(max_ways=3, encoder="conv4", hidden=32, controller=64, slots=16, width=32, heads=1)
    train = build_sampler(cfg, "train", 3, 1, 4, seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for step in range(120):
        loss, _ = m.meta_loss(train.batch(step, 8))
        opt.zero_grad()
        loss.backward()
        opt.step()
    res = instance_accuracy(m, omniglot_sequences(cfg, "test", 3, 5, seed=1), episodes=200, instances=(1, 2, 3, 4, 5))
    overall = sum(res[str(k)]["accuracy"] for k in (1, 2, 3, 4, 5)) / 5
    assert overall > 1 / 3 + 0.08 and res["1"]["accuracy"] > 0.45, res


def test_adapt_shows_each_support_label_one_step_late(monkeypatch):
    m, bt = small_mann(), random_batch()
    shown = []
    original = MANN.run
    monkeypatch.setattr(
        MANN, "run", lambda self, f, y, state=None: (shown.append(y.clone()), original(self, f, y, state))[1]
    )
    with torch.no_grad():
        pred = m.adapt(bt[0].support_x, bt[0].support_y)
    assert shown[0].tolist() == [[-1] + bt[0].support_y[:-1].tolist()]
    assert pred.state.last_y.tolist() == [bt[0].support_y[-1].item()]  # shown with every query


@pytest.mark.parametrize("attr, value", [("shift", 2), ("rotate", 15.0)])
def test_augmentation_applies_to_training_sequences_only(attr, value):
    plain, batch = small_mann(), random_batch()
    augmented = small_mann()
    augmented.load_state_dict(plain.state_dict())
    setattr(augmented, attr, value)
    with torch.no_grad():
        assert not torch.isclose(augmented.train().meta_loss(batch)[0], plain.train().meta_loss(batch)[0])
        torch.testing.assert_close(augmented.eval().meta_loss(batch)[0], plain.eval().meta_loss(batch)[0])
        torch.testing.assert_close(augmented.predict_batch(batch).logits, plain.predict_batch(batch).logits)


def test_augmentation_config_keys_and_bad_values():
    m = build_learner({"method": "mann", "image_size": 8, "mann_shift": 3, "mann_rotate": 10})
    assert (m.shift, m.rotate) == (3, 10)
    with pytest.raises(ValueError, match="mann_shift"):
        MANN(image_size=8, shift=-1)
    with pytest.raises(ValueError, match="mann_rotate"):
        MANN(image_size=8, rotate=-5)


def test_frozen_encoder_gets_no_gradient_and_keeps_its_running_statistics():
    torch.manual_seed(0)
    m = MANN(
        image_size=16,
        max_ways=3,
        encoder="conv4",
        hidden=8,
        controller=16,
        slots=12,
        width=6,
        heads=2,
        freeze_encoder=True,
    ).train()
    assert not m.encoder.training  # BatchNorm on running statistics
    batch = random_batch()
    batch = TaskBatch(
        *(
            t.repeat_interleave(2, -1).repeat_interleave(2, -2) if t.dim() == 5 else t
            for t in (batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        ),
        ways=3,
    )
    stats = [b.clone() for b in m.encoder.buffers()]
    m.meta_loss(batch)[0].backward()
    assert all(p.grad is None for p in m.encoder.parameters()) and m.cell.weight_ih.grad.abs().sum() > 0
    assert all(torch.equal(a, b) for a, b in zip(stats, m.encoder.buffers()))
    cfg = {"method": "mann", "image_size": 16, "mann_encoder": "conv4", "mann_freeze_encoder": True}
    assert build_learner(cfg).freeze_encoder
    with pytest.raises(ValueError, match="mann_encoder='conv4'"):
        MANN(image_size=8, freeze_encoder=True)
