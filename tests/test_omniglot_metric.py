"""Presets of the metric family (presets/omniglot_metric.py)."""

import pytest

from fastadapt.configs import build_learner
from fastadapt.learners.matching import MatchingNet
from fastadapt.learners.relation import RelationNet
from fastadapt.learners.siamese import Siamese
from fastadapt.presets import apply_overrides, get_preset

CLASSES = {"siamese": Siamese, "matching": MatchingNet, "relation": RelationNet}
TRAIN_KEYS = ("method", "train_ways", "train_shots", "train_queries", "steps", "lr", "lr_decay_every", "seed")


@pytest.mark.parametrize("method", sorted(CLASSES))
def test_every_setting_is_registered_and_builds(method):
    for k in (1, 5):
        c5, c20 = get_preset(f"omniglot-{method}-5w{k}s"), get_preset(f"omniglot-{method}-20w{k}s")
        assert (c5["ways"], c5["shots"], c20["ways"], c20["shots"]) == (5, k, 20, k)
        assert c5["train_shots"] == k
        # one model serves both presets of a shot count: identical training configuration
        assert all(c5[key] == c20[key] for key in TRAIN_KEYS)
        assert isinstance(build_learner(c5), CLASSES[method])


def test_method_options_can_be_set():
    cfg = apply_overrides(get_preset("omniglot-matching-5w1s"), ["fce=true", "fce_steps=2"])
    learner = build_learner(cfg)
    assert learner.fce is not None and learner.fce.steps == 2
    cfg = apply_overrides(get_preset("omniglot-relation-5w1s"), ["relation_probs=normalize"])
    assert build_learner(cfg).probs == "normalize"
    cfg = apply_overrides(get_preset("omniglot-siamese-5w1s"), ["siamese_pairs=3"])
    assert build_learner(cfg).pairs_per_example == 3
    with pytest.raises(ValueError, match="probs"):
        build_learner(apply_overrides(get_preset("omniglot-relation-5w1s"), ["relation_probs=bogus"]))
