"""The one meta-training loop on a toy objective: the best validation is kept, --resume is exact, a non-finite loss
stops the run, gradient clipping matches its closed form."""

import math

import pytest
import torch
from torch import nn

from fastadapt.checkpoint import read_checkpoint
from fastadapt.configs import from_dict
from fastadapt.configs.run import TrainConfig
from fastadapt.train.distributed import World
from fastadapt.train.loop import TrainingDiverged, fit, require_finite, update
from fastadapt.train.run_log import BEST, prepare_out, read_log

CFG = {
    "steps": 20,
    "log_every": 2,
    "ckpt_every": 4,
    "val_every": 5,
    "meta_batch": 1,
    "lr": 0.1,
    "lr_decay": 0.5,
    "lr_decay_every": 8,
    "eval_episodes": 1,
    "val_episodes": 1,
    "seed": 3,
}


class NoisyQuadratic:
    """Minimize (w - t)^2 for a target t drawn from torch's global generator each step; validation: -(w - 1)^2."""

    def __init__(self, nan_at: int = -1) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(1, 1, bias=False)
        self.nan_at = nan_at

    def param_groups(self):
        return self.model.parameters()

    def step(self, step: int, opt: torch.optim.Optimizer) -> dict[str, float]:
        target = 1.0 + 0.1 * torch.randn(())
        loss = (self.model.weight[0, 0] - target) ** 2 * (math.nan if step == self.nan_at else 1.0)
        require_finite(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        update(opt, list(self.model.parameters()), World())
        return {"loss": float(loss.detach())}

    def validate(self) -> dict[str, float]:
        return {"val_score": -float((self.model.weight.detach()[0, 0] - 1.0) ** 2), "val_ci95": 0.0}


def run(out, cfg=CFG, resume=False, objective=None):
    objective = objective or NoisyQuadratic()
    prepare_out(out, resume)
    done, _ = fit(objective, cfg, from_dict(TrainConfig, cfg), out, resume, False, World())
    return objective, done


def test_fit_keeps_the_best_validation_and_resumes_exactly(tmp_path):
    straight, done = run(tmp_path / "a")
    assert done == 20
    log = read_log(tmp_path / "a" / "metrics.jsonl")
    scores = [r["val_score"] for r in log if "val_score" in r]
    assert len(scores) == 4 and scores[-1] > scores[0]  # learning happened
    _, header = read_checkpoint(tmp_path / "a" / BEST)
    assert header["meta"]["val_score"] == max(scores)
    run(tmp_path / "b", dict(CFG, steps=10))  # stopped at step 10 (the last of a shorter run) ...
    resumed, _ = run(tmp_path / "b", resume=True)  # ... and continued: the same draws, the same weights
    assert torch.equal(resumed.model.weight, straight.model.weight)
    untimed = lambda records: [{k: v for k, v in r.items() if k != "time"} for r in records]  # noqa: E731
    assert untimed(read_log(tmp_path / "b" / "metrics.jsonl")) == untimed(log)


def test_a_non_finite_loss_stops_before_the_update_and_names_the_step(tmp_path):
    objective = NoisyQuadratic(nan_at=6)
    with pytest.raises(TrainingDiverged, match=r"became nan at step 7.*last\.safetensors"):
        run(tmp_path, objective=objective)
    assert torch.isfinite(objective.model.weight).all()


def test_update_clips_the_gradient_norm_to_its_closed_form():
    w = nn.Parameter(torch.tensor([3.0, 4.0]))
    w.grad = torch.tensor([30.0, 40.0])  # norm 50
    update(torch.optim.SGD([w], lr=1.0), [w], World(), grad_clip=5.0)
    assert torch.allclose(w, torch.tensor([0.0, 0.0]), atol=1e-5)  # the step is the gradient scaled to norm 5
    w.grad = torch.tensor([0.3, 0.4])  # below the limit: untouched
    update(torch.optim.SGD([w], lr=1.0), [w], World(), grad_clip=5.0)
    assert torch.allclose(w, torch.tensor([-0.3, -0.4]))
