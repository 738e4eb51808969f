"""Evaluation (fastadapt.train.evaluate): bounded memory without changing the numbers."""

from __future__ import annotations

import pytest
import torch

from fastadapt.learners import ProtoNet
from fastadapt.nn.conv4 import Conv4
from fastadapt.tasks.sampler import EpisodeSampler
from fastadapt.train import evaluate as ev


def test_chunked_evaluation_gives_the_same_predictions():
    """Episodes are drawn 50 at a time, as before, and run in chunks of at most max_images images: the same
    episodes and the same predictions as one pass, at a fraction of the peak memory."""
    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (120, 1, 28, 28), dtype=torch.uint8), torch.arange(12).repeat_interleave(10)
    learner = ProtoNet(Conv4(1, hidden=8))
    s = EpisodeSampler(x, y, ways=5, shots=2, queries=3, seed=1)
    seen = []
    real = learner.predict_batch
    learner.predict_batch = lambda b: (seen.append(b.support_x.shape[0] * 25), real(b))[1]
    small, ys, _ = ev.collect(learner, s, episodes=30, batch_size=20, max_images=60)  # 2 episodes a chunk
    assert max(seen) <= 60 and len(seen) == 15
    seen.clear()
    whole, ys2, _ = ev.collect(learner, s, episodes=30, batch_size=20, max_images=10_000)
    assert len(seen) == 2 and torch.equal(ys, ys2)
    assert torch.allclose(small.logits, whole.logits, atol=1e-5)


def test_frozen_encoder_is_tested_on_features_with_the_same_predictions(tmp_path, monkeypatch):
    """A frozen encoder embeds each image once (and stores the features for later runs); the episodes and
    predictions equal those of the image path, with mirror-image averaging and the power transform too."""
    monkeypatch.setenv("HOME", str(tmp_path))
    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (120, 3, 28, 28), dtype=torch.uint8), torch.arange(12).repeat_interleave(10)
    learner = ProtoNet(Conv4(3, hidden=8), distance="cosine", feature_transform="power")
    learner.configure_encoder(freeze=True, tta_flip=True)
    assert not any(p.requires_grad for p in learner.encoder.parameters())
    learner.train()
    assert not learner.encoder.training  # frozen BatchNorm keeps its running statistics
    s = EpisodeSampler(x, y, ways=5, shots=2, queries=3, seed=1)
    calls = []
    real = learner.encoder.forward
    learner.encoder.forward = lambda b: (calls.append(len(b)), real(b))[1]
    fast, ys, _ = ev.collect(learner, s, episodes=20, batch_size=10)
    assert sum(calls) == 2 * 120  # every image once, and its mirror image once
    del learner._feature_cache
    calls.clear()
    again, _, _ = ev.collect(learner, s, episodes=20, batch_size=10)
    assert not calls and torch.equal(again.logits, fast.logits)  # read back from ~/.cache
    assert len(list((tmp_path / ".cache" / "fastadapt" / "features").glob("*.safetensors"))) == 1
    learner.frozen_encoder = False  # the image path: encoder run per episode
    calls.clear()
    slow, ys2, _ = ev.collect(learner, s, episodes=20, batch_size=10)
    assert sum(calls) == 2 * 20 * 25 and torch.equal(ys, ys2)
    assert torch.allclose(fast.logits, slow.logits, atol=1e-4)


def test_chunks_are_bounded_by_input_values_too():
    """Large colour images go through fewer episodes at a time (activations grow with the image), small
    grayscale ones keep the image bound, and an episode is never split."""

    def batch(n, c, side, per_class=20):
        q = 5 * (per_class - 5)
        return ev.TaskBatch(
            torch.zeros(n, 25, c, side, side),
            torch.zeros(n, 25, dtype=torch.long),
            torch.zeros(n, q, c, side, side),
            torch.zeros(n, q, dtype=torch.long),
            5,
        )

    assert ev.episodes_per_chunk(batch(50, 1, 28)) == 1000 // 100  # image bound (10 episodes)
    assert ev.episodes_per_chunk(batch(50, 3, 84)) == 1  # value bound: 189 images
    assert ev.episodes_per_chunk(batch(50, 3, 84), max_values=10**8) == 10
    assert ev.episodes_per_chunk(batch(2, 3, 224)) == 1  # never below one episode


def test_nan_predictions_are_refused_not_averaged():
    """A model whose arithmetic overflows (weights or a setting too large) gets a clear error, not NLL nan."""
    import pytest

    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (60, 1, 28, 28), dtype=torch.uint8), torch.arange(6).repeat_interleave(10)
    learner = ProtoNet(Conv4(1, hidden=8))
    s = EpisodeSampler(x, y, ways=5, shots=1, queries=2, seed=1)
    ev.collect(learner, s, episodes=4)  # finite weights: fine
    with torch.no_grad():
        next(learner.parameters()).fill_(float("nan"))
    with pytest.raises(ev.NonFinitePredictions, match=r"40 values .* on 4 episodes are NaN or infinite"):
        ev.collect(learner, s, episodes=4)


def test_a_learner_that_samples_at_test_time_gives_the_same_numbers_every_time_and_leaves_torchs_generator_alone():
    """VERSA's predictive is a Monte Carlo average over weight draws: evaluation seeds what it draws per episode
    batch (from the sampler's seed), so re-testing a run reproduces it, and the caller's random state is restored."""
    from fastadapt.learners.versa import Versa

    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (120, 1, 28, 28), dtype=torch.uint8), torch.arange(12).repeat_interleave(10)
    learner = Versa(Conv4(1, hidden=8), feature_dim=8, hidden=16, eval_samples=5, init_logvar=0.0)
    s = EpisodeSampler(x, y, ways=5, shots=1, queries=3, seed=1)
    state = torch.get_rng_state()
    one, _, _ = ev.collect(learner, s, episodes=20, batch_size=10)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(3)  # another random state before the second evaluation
    two, _, _ = ev.collect(learner, s, episodes=20, batch_size=10)
    assert torch.equal(one.logits, two.logits)
    other, _, _ = ev.collect(learner, EpisodeSampler(x, y, ways=5, shots=1, queries=3, seed=2), episodes=20)
    assert not torch.equal(one.logits, other.logits)


def test_frozen_features_with_five_crops_match_the_image_path(tmp_path, monkeypatch):
    """Five-crop test features (``tta_crop``) are stored under their own key and give the image path's predictions;
    training ignores them."""
    monkeypatch.setenv("HOME", str(tmp_path))
    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (60, 3, 28, 28), dtype=torch.uint8), torch.arange(6).repeat_interleave(10)
    learner = ProtoNet(Conv4(3, hidden=8), distance="cosine")
    learner.configure_encoder(freeze=True, tta_flip=True, tta_crop=24, tta_crop_weight=0.5)
    s = EpisodeSampler(x, y, ways=5, shots=2, queries=3, seed=1)
    calls = []
    real = learner.encoder.forward
    learner.encoder.forward = lambda b: (calls.append(len(b)), real(b))[1]
    fast, _, _ = ev.collect(learner, s, episodes=10, batch_size=10)
    assert sum(calls) == 7 * 60  # whole, mirror, five crops
    learner.configure_encoder(freeze=True, tta_flip=True)
    plain, _, _ = ev.collect(learner, s, episodes=10, batch_size=10)
    assert not torch.allclose(plain.logits, fast.logits, atol=1e-3)  # another key: not the crops' features
    assert len(list((tmp_path / ".cache" / "fastadapt" / "features").glob("*.safetensors"))) == 2
    learner.configure_encoder(freeze=False, tta_flip=True, tta_crop=24, tta_crop_weight=0.5)
    slow, _, _ = ev.collect(learner, s, episodes=10, batch_size=10)
    assert torch.allclose(fast.logits, slow.logits, atol=1e-4)
    learner.train()
    calls.clear()
    learner.embed(torch.rand(4, 3, 28, 28))
    assert calls == [4]  # training embeds the image once, no test-time views
    with pytest.raises(ValueError, match="tta_crop_weight in"):
        learner.configure_encoder(tta_crop=24, tta_crop_weight=0.0)
