"""The API boundary of every classification learner: bad support or query inputs give one clear ValueError with the
same wording for every method, never NaN predictions in silence (`Learner.__init_subclass__` wraps each `adapt`)."""

from __future__ import annotations

import pytest
import torch

from fastadapt.configs import build_learner
from fastadapt.presets import get_preset

PRESETS = [
    "omniglot-protonet-5w1s",
    "omniglot-matching-5w1s",
    "omniglot-relation-5w1s",
    "omniglot-siamese-5w1s",
    "omniglot-versa-5w1s",
    "omniglot-maml-5w1s",
    "omniglot-anil-5w1s",
    "omniglot-metasgd-5w1s",
    "omniglot-reptile-5w1s",
    "omniglot-hypernet-5w1s",
    "omniglot-lstm-5w1s",
    "omniglot-icl-5w1s",
    "omniglot-mann-5class",
    "mini-imagenet-baseline-5w1s",
]


@pytest.fixture(scope="module")
def learners():
    torch.manual_seed(0)
    return {
        p: build_learner({**get_preset(p), "hidden": 8} if "mann" not in p else get_preset(p)).eval() for p in PRESETS
    }


def images(preset: str, n: int) -> torch.Tensor:
    cfg = get_preset(preset)
    return torch.rand(n, cfg["channels"], cfg["image_size"], cfg["image_size"])


@pytest.mark.parametrize("preset", PRESETS)
def test_bad_inputs_are_refused_with_one_message(preset, learners):
    learner = learners[preset]
    sx, sy = images(preset, 5), torch.arange(5)
    bad = sx.clone()
    bad[2, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="support_x contains 1 NaN or Inf values"):
        learner.adapt(bad, sy, 5)
    with pytest.raises(ValueError, match="support set is empty"):
        learner.adapt(sx[:0], sy[:0], 5)
    with pytest.raises(ValueError, match="5 examples but support_y 4 labels"):
        learner.adapt(sx, sy[:4], 5)
    with pytest.raises(ValueError, match=r"labels must lie in 0..4"):
        learner.adapt(sx, torch.tensor([0, 1, 2, 3, 7]), 5)
    predictor = learner.adapt(sx, sy, 5)
    q = images(preset, 3)
    assert torch.isfinite(predictor.predict(q).logits).all()
    q[1, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="query_x contains 1 NaN or Inf values; clean the data before predicting"):
        predictor.predict(q)
