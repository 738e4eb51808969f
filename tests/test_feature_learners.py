"""The feature-space learners are written once (`FeatureLearner.adapt_features`): adapting one task from its images
and predicting a batch of tasks whose images are embedded together give the same predictions."""

import pytest
import torch

from fastadapt.configs import build_learner
from fastadapt.learners.base import METHODS, FeatureLearner
from fastadapt.presets import get_preset
from fastadapt.tasks.task import TaskBatch

IMAGE_PRESETS = {
    "protonet": "omniglot-protonet-5w1s",
    "matching": "omniglot-matching-5w1s",
    "relation": "omniglot-relation-5w1s",
    "siamese": "omniglot-siamese-5w1s",
    "versa": "omniglot-versa-5w1s",
    "hypernet": "omniglot-hypernet-5w1s",
    "lstm": "omniglot-lstm-5w1s",
    "mann": "omniglot-mann-5class",
    "baseline": "mini-imagenet-baseline-5w1s",
}
TEXT_METHODS = {"protonet-frozen", "protonet-finetune"}  # sentence-encoder inputs (tests/test_clinc150.py)


def test_every_feature_learner_is_written_once():
    """No feature-space learner writes its own `adapt` or batched path; each is listed here to be checked."""
    found = {name for name, cls in METHODS.items() if issubclass(cls, FeatureLearner)}
    assert found == set(IMAGE_PRESETS) | TEXT_METHODS
    for name in found:
        cls = METHODS[name]
        assert "adapt_features" in cls.__dict__ or name == "protonet-finetune", name
        assert not {"adapt", "predict_batch", "predict_jointly"} & set(cls.__dict__), name


@pytest.mark.parametrize("method", sorted(IMAGE_PRESETS))
def test_adapting_one_task_equals_the_batched_path(method):
    cfg = {**get_preset(IMAGE_PRESETS[method]), "precision": "fp32", "data_root": ""}
    if method == "baseline":
        cfg["image_size"], cfg["backbone"] = 28, "conv4"  # a small encoder is enough for the check
    torch.manual_seed(0)
    learner = build_learner(cfg).eval()
    if method == "versa":  # weight draws of (almost) no variance: the Monte Carlo predictive is deterministic
        torch.nn.init.zeros_(learner.logvar_head.weight)
        torch.nn.init.constant_(learner.logvar_head.bias, -40.0)
    ways, shots, queries, tasks = 5, 2, 3, 3
    shape = learner.input_shape or (cfg["channels"], cfg["image_size"], cfg["image_size"])
    g = torch.Generator().manual_seed(1)
    batch = TaskBatch(
        torch.rand(tasks, ways * shots, *shape, generator=g),
        torch.arange(ways).repeat_interleave(shots).expand(tasks, -1).clone(),
        torch.rand(tasks, ways * queries, *shape, generator=g),
        torch.arange(ways).repeat_interleave(queries).expand(tasks, -1).clone(),
        ways=ways,
    )
    with torch.no_grad():
        batched = learner.predict_batch(batch).logits
        one_by_one = torch.stack(
            [learner.adapt(t.support_x, t.support_y, ways).predict(t.query_x).logits for t in batch]
        )
    assert batched.shape == (tasks, ways * queries, ways)
    torch.testing.assert_close(one_by_one, batched, rtol=1e-4, atol=1e-4)
