import pytest
import torch

from fastadapt.tasks import EpisodeSampler, Task, TaskBatch


def toy(n_classes=10, per_class=(6,), groups=None):
    counts = list(per_class) * n_classes if len(per_class) == 1 else list(per_class)
    y = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    x = torch.arange(len(y)).float().view(-1, 1)  # x identifies the example
    return x, y


def test_shapes_and_labels():
    x, y = toy()
    b = EpisodeSampler(x, y, ways=5, shots=2, queries=3, seed=1).batch(0, 4)
    assert b.support_x.shape == (4, 10, 1) and b.query_x.shape == (4, 15, 1) and b.ways == 5
    assert b.support_y.min() == 0 and b.support_y.max() == 4
    for t in b:
        sx, qx = t.support_x.flatten().long(), t.query_x.flatten().long()
        assert len(set(sx.tolist()) | set(qx.tolist())) == 25  # no example drawn twice
        # every example carries the class its label says, consistently across support and query
        cls_of = {int(lbl): int(y[i]) for i, lbl in zip(sx, t.support_y)}
        assert len(set(cls_of.values())) == 5
        assert all(cls_of[int(lbl)] == int(y[i]) for i, lbl in zip(qx, t.query_y))


def test_deterministic_and_seed_dependent():
    x, y = toy()
    a = EpisodeSampler(x, y, 5, 1, 2, seed=3).batch(7, 2)
    b = EpisodeSampler(x, y, 5, 1, 2, seed=3).batch(7, 2)
    c = EpisodeSampler(x, y, 5, 1, 2, seed=4).batch(7, 2)
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_x, b.query_x)
    assert not torch.equal(a.support_x, c.support_x)


def test_relabelling_is_random():
    x, y = toy(n_classes=5)
    s = EpisodeSampler(x, y, 5, 1, 1, seed=0)
    firsts = {int(y[int(s.batch(i).support_x[0, 0, 0])]) for i in range(40)}
    assert len(firsts) > 1  # label 0 is not always the same class


def test_uneven_class_sizes_respected():
    x, y = toy(per_class=[3, 8, 8, 8, 8])
    s = EpisodeSampler(x, y, ways=3, shots=2, queries=2, seed=0)
    for i in range(20):
        used = {int(y[int(v)]) for v in s.batch(i).support_x.flatten()}
        assert 0 not in used  # class 0 holds only 3 < 4 examples


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(ways=11, shots=1, queries=1), "only 10 classes"),
        (dict(ways=5, shots=4, queries=3), "7 examples per class"),
        (dict(ways=0, shots=1, queries=1), "ways must be a positive"),
        (dict(ways=5, shots=-1, queries=1), "shots must be a positive"),
    ],
)
def test_impossible_requests(kw, msg):
    x, y = toy()
    with pytest.raises(ValueError, match=msg):
        EpisodeSampler(x, y, **kw)


def test_within_group():
    x, y = toy(n_classes=12)
    groups = y // 4  # 3 groups of 4 classes
    s = EpisodeSampler(x, y, 3, 1, 1, groups=groups, within_group=True, seed=0)
    seen = set()
    for i in range(30):
        g = {int(groups[int(v)]) for v in s.batch(i).support_x.flatten()}
        assert len(g) == 1
        seen |= g
    assert seen == {0, 1, 2}
    with pytest.raises(ValueError, match="no group has 5 classes"):
        EpisodeSampler(x, y, 5, 1, 1, groups=groups, within_group=True)


def test_uint8_images_become_floats():
    x = torch.full((20, 1, 2, 2), 255, dtype=torch.uint8)
    y = torch.arange(4).repeat_interleave(5)
    b = EpisodeSampler(x, y, 2, 1, 1).batch(0)
    assert b.support_x.dtype == torch.float32 and torch.all(b.support_x == 1.0)


def test_taskbatch_stack_and_index():
    t = Task(torch.zeros(2, 3), torch.tensor([0, 1]), torch.ones(4, 3), torch.tensor([0, 1, 0, 1]), ways=2)
    b = TaskBatch.stack([t, t])
    assert len(b) == 2 and torch.equal(b[1].query_x, t.query_x)
    with pytest.raises(ValueError, match="empty"):
        TaskBatch.stack([])


def test_nan_in_user_data_refused():
    x, y = toy()
    x[7] = float("nan")
    with pytest.raises(ValueError, match="1 examples contain NaN or Inf .first at index 7"):
        EpisodeSampler(x, y, 2, 1, 1)
