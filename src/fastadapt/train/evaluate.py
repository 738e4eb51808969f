"""Few-shot evaluation as the papers do it: mean accuracy over many test episodes with a 95% confidence
interval (1.96 standard errors), plus NLL and expected calibration error of the query probabilities.
Regression learners get mean squared error (and Gaussian NLL when they predict a variance) likewise."""

from __future__ import annotations

import copy
import hashlib
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..learners.base import Learner, Prediction, count_non_finite
from ..nn.episodic import embed_dataset
from ..nn.modes import evaluating
from ..seeding import stream_seed
from ..stats import ci95  # noqa: F401 (also imported from here)
from ..tasks import TaskSampler
from ..tasks.sampler import EpisodeSampler
from ..tasks.task import TaskBatch
from .calibration import brier, ece, nll


class NonFinitePredictions(ValueError):
    """A model's predictions on finite test data hold NaN or infinite values."""


TEST_DRAWS = 7919  # offset of the global generator's seed at test time from the sampler's own stream
MAX_IMAGES = 1000  # images (or examples) the learner sees at once when evaluating: bounds peak memory,
MAX_VALUES = 2**22  # and at most this many input values (16 MB in fp32: 189 colour images of 84x84), since a
# network's activations grow with the image: 1,000 mini-ImageNet images peaked at 3.7 GB


def _examples(batch: TaskBatch) -> int:
    return batch.support_x.shape[1] + batch.query_x.shape[1]


def episodes_per_chunk(batch: TaskBatch, max_images: int = MAX_IMAGES, max_values: int = MAX_VALUES) -> int:
    """How many of ``batch``'s episodes the learner sees at once: at most ``max_images`` examples and
    ``max_values`` input values (whichever is smaller), and always at least one episode."""
    per_example = max(1, batch.support_x[0, 0].numel())
    return max(1, min(max_images, max_values // per_example) // _examples(batch))


def frozen_feature_sampler(learner: Learner, sampler: TaskSampler) -> TaskSampler | None:
    """For a learner whose encoder is frozen and tested per query (``eval_bn="running"``), the same episodes drawn
    from the data set's features instead of its images: each image is embedded once (`embed_dataset`, cached on the
    learner), not once per episode it appears in. ``None`` when that does not apply."""
    if not (
        getattr(learner, "frozen_encoder", False)
        and learner.eval_bn == "running"
        and isinstance(sampler, EpisodeSampler)
        and sampler.x.dim() == 4
    ):
        return None
    cache = learner.__dict__.setdefault("_feature_cache", {})
    key = (sampler.x.data_ptr(), tuple(sampler.x.shape), _views_key(learner))
    if key not in cache:
        cache[key] = _stored_features(learner, sampler.x)
    features = copy.copy(sampler)
    features.x = cache[key]
    return features


def _views_key(learner: Learner) -> tuple:
    """What, besides the weights and the images, frozen features depend on: the test-time views and the precision."""
    return (*learner.test_views.items(), learner.precision)


def _stored_features(learner: Learner, x: Tensor) -> Tensor:
    """`embed_dataset` of ``x``, kept in ``~/.cache/fastadapt/features`` under a key made of the encoder's weights,
    the images (shape and a strided sample of their bytes), precision and test-time views (mirror, crops): a later
    evaluation or another process finds them there."""
    from safetensors.torch import load_file, save_file

    h = hashlib.sha256()
    for k, v in sorted(learner.encoder.state_dict().items()):
        h.update(k.encode() + v.detach().double().abs().sum().cpu().numpy().tobytes())
    h.update(repr((tuple(x.shape), str(x.dtype), _views_key(learner))).encode())
    h.update(x.flatten()[:: max(1, x.numel() // 1_000_000)].cpu().numpy().tobytes())
    path = Path.home() / ".cache" / "fastadapt" / "features" / f"{h.hexdigest()[:24]}.safetensors"
    if path.exists():
        try:
            return load_file(str(path))["features"]
        except (OSError, ValueError, KeyError, RuntimeError):
            path.unlink(missing_ok=True)  # unreadable: computed again below
    z = embed_dataset(learner.encoder, x, precision=learner.precision, **learner.test_views)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"features": z.contiguous()}, str(path.with_suffix(".tmp")))
        os.replace(path.with_suffix(".tmp"), path)
    except OSError:
        pass  # a read-only home: features are recomputed next time
    return z


@torch.no_grad()
def collect(
    learner: Learner,
    sampler: TaskSampler,
    episodes: int = 1000,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    max_images: int = MAX_IMAGES,
) -> tuple[Prediction, Tensor, float]:
    """Query predictions (leading dimension: episode) and targets over ``episodes`` episodes, and seconds.
    The learner runs in ``eval()`` mode (BatchNorm uses running statistics unless the learner says otherwise).
    Episodes are drawn ``batch_size`` at a time (which fixes which episodes are drawn; what the learner itself draws,
    e.g. Monte Carlo weights, comes from torch's global generator seeded per batch, restored afterwards, so the same
    episodes give the same numbers) and run through the learner
    in chunks of at most ``max_images`` support + query examples (and `MAX_VALUES` input values), so memory does
    not grow with ways, shots or image size."""
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}.")
    with evaluating(learner), torch.random.fork_rng(devices=[]):
        features = frozen_feature_sampler(learner, sampler)
        if features is not None:
            sampler, learner.features_given = features, True
        preds, targets = [], []
        start = time.perf_counter()
        try:
            for i, lo in enumerate(range(0, episodes, batch_size)):
                batch = sampler.batch(i, min(batch_size, episodes - lo))
                # what a learner draws at test time (VERSA's weight samples) is redrawn the same way every time
                torch.manual_seed(stream_seed(getattr(sampler, "seed", None) or 0, i, offset=TEST_DRAWS))
                chunks = (
                    batch.chunks(episodes_per_chunk(batch, max_images)) if isinstance(batch, TaskBatch) else [batch]
                )
                for chunk in chunks:
                    p = learner.predict_batch(chunk.to(device))
                    preds.append(
                        Prediction(*(None if t is None else t.float().cpu() for t in (p.logits, p.mean, p.var)))
                    )
                    targets.append(chunk.query_y)
        finally:
            if features is not None:
                learner.features_given = False
    pred = Prediction(
        *(
            None if getattr(preds[0], k) is None else torch.cat([getattr(p, k) for p in preds])
            for k in ("logits", "mean", "var")
        )
    )
    bad = count_non_finite(pred)
    if bad:
        raise NonFinitePredictions(
            f"{bad} values of the model's predictions on {episodes} episodes are NaN or infinite: its "
            f"arithmetic overflows. A setting can cause it (a very large inner_lr, scale or "
            f"temperature), or weights that grew beyond float32; results would be meaningless."
        )
    return pred, torch.cat(targets), time.perf_counter() - start


def summarize(pred: Prediction, targets: Tensor) -> dict[str, Any]:
    """Classification: accuracy with 95% CI over episodes, NLL, ECE (15 bins), Brier over all queries.
    Regression: MSE with 95% CI over episodes, and Gaussian NLL when a variance is predicted.
    ``score`` is the number to maximize when selecting checkpoints: accuracy; for regression minus the
    Gaussian NLL when a variance is predicted (probabilistic models), else minus the MSE."""
    if pred.logits is not None:
        probs = pred.probs.double()
        acc = (probs.argmax(-1) == targets).double().mean(-1)
        flat_p, flat_y = probs.reshape(-1, probs.shape[-1]), targets.reshape(-1)
        return {
            "accuracy": float(acc.mean()),
            "ci95": ci95(acc),
            "nll": nll(flat_p, flat_y),
            "ece": ece(flat_p, flat_y),
            "brier": brier(flat_p, flat_y),
            "episodes": len(acc),
            "score": float(acc.mean()),
        }
    err = ((pred.mean.double() - targets.double()) ** 2).reshape(len(targets), -1).mean(-1)
    out = {"mse": float(err.mean()), "ci95": ci95(err), "episodes": len(err), "score": -float(err.mean())}
    if pred.var is not None:
        v = pred.var.double()
        per = 0.5 * (torch.log(2 * math.pi * v) + (targets.double() - pred.mean.double()) ** 2 / v)
        per = per.reshape(len(targets), -1).mean(-1)
        out.update(nll=float(per.mean()), nll_ci95=ci95(per), score=-float(per.mean()))
    return out


def evaluate(
    learner: Learner,
    sampler: TaskSampler,
    episodes: int = 1000,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    pred, targets, secs = collect(learner, sampler, episodes, batch_size, device)
    out = summarize(pred, targets)
    out.update(
        ways=sampler.ways,
        shots=sampler.shots,
        queries=sampler.queries,
        seconds=secs,
        episodes_per_second=episodes / secs,
    )
    return out


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (a no-op off CUDA), so wall-clock timings are honest."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def adaptation_latency_ms(
    learner: Learner, sampler: TaskSampler, tasks: int = 20, device: str | torch.device = "cpu", warmup: int = 2
) -> dict[str, Any]:
    """Wall-clock milliseconds of ``learner.adapt`` on one task at a time (support set only; no query
    prediction), over ``tasks`` tasks after ``warmup`` untimed ones, in ``eval()`` mode. Timed under
    ``torch.no_grad()`` when the learner allows it; learners whose adaptation takes gradients (MAML and
    kin) are timed with autograd on, and ``latency_grad`` says so. Returns the median (``adapt_ms``),
    mean and 90th percentile."""
    if tasks <= 0:
        raise ValueError(f"tasks must be positive, got {tasks}.")
    with evaluating(learner):
        use_grad, times = False, []
        for i in range(warmup + tasks + 1):  # + 1: a first try without autograd may fail
            if len(times) == tasks:
                break
            t = sampler.batch(i, 1).to(device)[0]
            synchronize(device)
            start = time.perf_counter()
            try:
                with torch.set_grad_enabled(use_grad):
                    learner.adapt(t.support_x, t.support_y, t.ways)
            except RuntimeError:
                if use_grad:
                    raise
                use_grad = True  # adaptation differentiates: time it with autograd on
                warmup += 1
                continue
            synchronize(device)
            if i >= warmup:
                times.append(1000 * (time.perf_counter() - start))
    ms = torch.tensor(times, dtype=torch.float64)
    return {
        "adapt_ms": float(ms.median()),
        "adapt_ms_mean": float(ms.mean()),
        "adapt_ms_p90": float(ms.quantile(0.9)),
        "latency_tasks": len(times),
        "latency_grad": use_grad,
    }
