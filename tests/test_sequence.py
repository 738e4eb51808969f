"""Santoro-style sequences (tasks/sequence.py): previous-step labels, instance counts, orders."""

import pytest
import torch

from fastadapt.tasks.sequence import as_sequence, batch_generator, instance_index, permute_support, shifted_labels
from fastadapt.tasks.task import TaskBatch


def toy_batch(b=3, n=4, k=1, q=3):
    """Images whose pixel value encodes (episode, class, draw), so pairs can be checked after reordering."""

    def imgs(lo, m):
        cls = torch.arange(n).repeat_interleave(m)
        val = torch.arange(b).view(b, 1) * 1000 + cls * 10 + torch.arange(lo, lo + m).repeat(n)
        return val.float().view(b, n * m, 1, 1, 1).expand(b, n * m, 1, 2, 2).contiguous(), cls.expand(b, n * m)

    sx, sy = imgs(0, k)
    qx, qy = imgs(k, q)
    return TaskBatch(sx, sy.clone(), qx, qy.clone(), ways=n)


def test_label_shown_at_step_t_is_label_of_step_t_minus_1():
    seq = as_sequence(toy_batch(), torch.Generator().manual_seed(0))
    assert (seq.prev_y[:, 0] == -1).all()
    assert torch.equal(seq.prev_y[:, 1:], seq.y[:, :-1])
    assert torch.equal(shifted_labels(torch.tensor([[2, 0, 1]])), torch.tensor([[-1, 2, 0]]))


def test_sequence_keeps_image_label_pairs_and_shuffles_time():
    batch = toy_batch()
    seq = as_sequence(batch, torch.Generator().manual_seed(1))
    cls_from_pixels = (seq.x[:, :, 0, 0, 0].long() % 1000) // 10
    assert torch.equal(cls_from_pixels, seq.y)
    assert not torch.equal(seq.y, torch.cat([batch.support_y, batch.query_y], 1))  # order changed
    assert seq.x.shape[:2] == (3, 16) and (torch.bincount(seq.y[0], minlength=4) == 4).all()


def test_instance_index_counts_presentations():
    y = torch.tensor([[0, 1, 0, 0, 2, 1]])
    assert instance_index(y, 3).tolist() == [[1, 1, 2, 3, 1, 2]]


def test_permute_support_orders():
    batch = toy_batch(k=2)
    g = torch.Generator().manual_seed(0)
    for order in ("shuffled", "sorted", "reversed"):
        out = permute_support(batch, order, g)
        assert torch.equal((out.support_x[:, :, 0, 0, 0].long() % 1000) // 10, out.support_y)
        assert torch.equal(out.query_x, batch.query_x)
    assert torch.equal(permute_support(batch, "reversed").support_y, batch.support_y.flip(1))
    with pytest.raises(ValueError, match="order must be"):
        permute_support(batch, "random")


def test_batch_generator_is_a_function_of_the_batch():
    a, b = toy_batch(), toy_batch()
    assert torch.equal(torch.rand(5, generator=batch_generator(a)), torch.rand(5, generator=batch_generator(b)))


def test_sequence_sampler_on_omniglot_is_deterministic(data_root):
    from fastadapt.presets import DEFAULTS
    from fastadapt.tasks.sequence import omniglot_sequences

    cfg = dict(DEFAULTS, data_root=str(data_root))
    s = omniglot_sequences(cfg, "test", 5, 10, seed=3)
    one, two = s.batch(7, 2), s.batch(7, 2)
    assert one.x.shape == (2, 50, 1, 28, 28) and s.length == 50
    assert torch.equal(one.x, two.x) and torch.equal(one.y, two.y)
    assert (one.instance.max(1).values == 10).all()
    with pytest.raises(ValueError, match="instances"):
        omniglot_sequences(cfg, "test", 5, 1, seed=0)
