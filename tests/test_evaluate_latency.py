"""adaptation_latency_ms (train/evaluate.py): per-task adaptation time in milliseconds."""

import time

import pytest
import torch

from fastadapt.learners.base import Learner
from fastadapt.tasks.sampler import EpisodeSampler
from fastadapt.train.evaluate import adaptation_latency_ms


def sampler():
    g = torch.Generator().manual_seed(0)
    return EpisodeSampler(torch.rand(40, 1, 4, 4, generator=g), torch.arange(8).repeat_interleave(5), 3, 1, 2)


class Sleepy(Learner):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.calls, self.modes = 0, []

    def adapt(self, support_x, support_y, ways=None):
        self.calls += 1
        self.modes.append(self.training)
        time.sleep(0.02)
        return self


class GradientStep(Sleepy):
    def adapt(self, support_x, support_y, ways=None):
        loss = (self.w * support_x.mean()) ** 2
        (g,) = torch.autograd.grad(loss, [self.w])  # fails under no_grad
        return self.w - g


def test_latency_is_measured_in_milliseconds_in_eval_mode():
    m = Sleepy().train()
    res = adaptation_latency_ms(m, sampler(), tasks=4, warmup=1)
    assert res["latency_tasks"] == 4 and m.calls == 5 and res["latency_grad"] is False
    assert 20 <= res["adapt_ms"] < 1000 and res["adapt_ms_p90"] >= res["adapt_ms"] - 1e-9
    assert m.modes == [False] * 5 and m.training  # timed in eval(), mode restored


def test_gradient_based_adaptation_is_timed_with_autograd_on():
    for warmup in (0, 2):
        res = adaptation_latency_ms(GradientStep(), sampler(), tasks=3, warmup=warmup)
        assert res["latency_grad"] is True and res["latency_tasks"] == 3 and res["adapt_ms"] > 0


def test_bad_task_count():
    with pytest.raises(ValueError, match="tasks must be positive"):
        adaptation_latency_ms(Sleepy(), sampler(), tasks=0)
