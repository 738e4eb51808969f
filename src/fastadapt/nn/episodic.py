"""Helpers for episodic models: run an image encoder over inputs with any leading dimensions; evaluate
with BatchNorm's batch statistics (transductive)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# The five crops' weight against the whole image's: 1 (the crops alone, 5 encoder passes) is within 0.04 points of
# the best mix (0.75, 7 passes with the mirror image) on flowers seed-1 episodes, 1- and 5-shot
# (results/flowers_crops.json).
CROP_WEIGHT = 1.0


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later), on which bf16 matmuls and convolutions
    run several times faster than fp32 (5.7x for a 2048x2048 matmul on this project's machine, issue #33)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe()) if callable(probe) else False


def resolve_device(name: str) -> torch.device:
    """The device a run's ``device`` setting names; ``"auto"``: CUDA when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def fastest_precision(device: torch.device | str, offered: tuple[str, ...]) -> str:
    """What ``precision="auto"`` becomes: ``"bf16"`` where the hardware computes it natively and fast (a CUDA GPU
    with bf16, a CPU with AMX) and the learner offers it (``offered``: its ``supports_precision``), else ``"fp32"``."""
    kind = torch.device(device).type
    fast = (kind == "cuda" and torch.cuda.is_bf16_supported()) or (kind == "cpu" and cpu_has_amx())
    return "bf16" if fast and "bf16" in offered else "fp32"


def check_precision(precision: str, device: torch.device | str | None = None) -> None:
    """Refuse an unknown precision, and fp16 off CUDA (CPU kernels for it are slow or missing)."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {sorted(PRECISIONS)} or 'auto' (training picks bf16 where the hardware runs "
            f"it fast), got {precision!r}."
        )
    if precision == "fp16" and device is not None and torch.device(device).type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; on the CPU use 'bf16' (AMX / AVX-512 BF16) or 'fp32'.")


def autocast(precision: str, device_type: str) -> torch.autocast:
    """``torch.autocast`` for ``precision`` on ``device_type`` (disabled for ``"fp32"``): matmuls and convolutions
    run in the low-precision type while the weights, and what they accumulate, stay fp32."""
    dtype = PRECISIONS[precision]
    return torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def embed(encoder: nn.Module, x: Tensor, precision: str = "fp32") -> Tensor:
    """``encoder`` over images ``x [..., C, H, W]`` -> ``[..., *out]`` (flattened batch, channels-last,
    which is ~1.3x faster for these convolutions on CPU). The encoder's output keeps its own shape
    (a vector for Conv4, a feature map for the Relation Network's embedding).

    ``precision="bf16"`` (or ``"fp16"`` on CUDA) runs the encoder under ``torch.autocast`` with the weights kept
    in fp32, and returns fp32 features: the heads that compare features (distances, softmaxes) stay in fp32."""
    if x.dim() < 4:
        raise ValueError(f"Expected images shaped [..., C, H, W], got a tensor of shape {tuple(x.shape)}.")
    lead = x.shape[:-3]
    with autocast(precision, x.device.type):
        z = encoder(x.reshape(-1, *x.shape[-3:]).contiguous(memory_format=torch.channels_last))
    return z.float().reshape(*lead, *z.shape[1:])


@contextmanager
def batch_statistics(module: nn.Module) -> Iterator[None]:
    """Inside the block, every BatchNorm layer of ``module`` normalizes with the statistics of the batch it
    sees, even in ``eval()`` mode, and leaves its running averages untouched: transductive evaluation, where
    the statistics come from the task's own examples (the released code of Sung et al. 2018 and Finn et al.
    2017 evaluates so; it is not the per-query protocol of the rest of this library)."""
    layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [
        (m.training, m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
        for m in layers
    ]
    for m in layers:
        m.train()
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield
    finally:
        for m, (training, momentum, tracked) in zip(layers, saved):
            m.train(training)
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


@torch.no_grad()
def five_crops(x: Tensor, size: int, resize: bool = True) -> list[Tensor]:
    """The four corner crops and the centre crop (Krizhevsky 2012), ``size`` pixels square, of images
    ``x [..., C, H, W]`` (floats); with ``resize``, each resized back to ``H x W`` (bilinear) so that the encoder sees
    the input shape it was built for."""
    *lead, c, h, w = x.shape
    if not 0 < size < min(h, w):
        raise ValueError(
            f"A five-crop side must be between 1 and {min(h, w) - 1} pixels for {h}x{w} images, got {size}. "
            f"Use tta_crop=0 for no crops, or a side such as {round(0.86 * min(h, w))} (86% of the image)."
        )
    top, left = (h - size) // 2, (w - size) // 2
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), (top, left)]
    out = []
    for i, j in corners:
        crop = x[..., i : i + size, j : j + size]
        if resize:
            crop = F.interpolate(crop.reshape(-1, c, size, size), size=(h, w), mode="bilinear", align_corners=False)
            crop = crop.reshape(*lead, c, h, w)
        out.append(crop)
    return out


def embed_views(
    encoder: nn.Module,
    x: Tensor,
    precision: str = "fp32",
    flip: bool = False,
    crop: int = 0,
    crop_weight: float = CROP_WEIGHT,
) -> Tensor:
    """Test-time features of images ``x [..., C, H, W]`` (floats): `embed`, averaged with the mirror image's with
    ``flip``; with ``crop`` > 0, mixed with the mean features of the image's five crops of that side (`five_crops`;
    five-crop testing, Krizhevsky 2012) at weight ``crop_weight`` (1: the crops alone). An encoder that resizes its
    input itself (``resizes_input``, e.g. EfficientNet-Lite0) gets the crops as they are, not resized twice. A
    query's features depend on its own image only, so evaluation with them stays inductive. On cross-domain flowers
    with a frozen ImageNet encoder they add 2 points 1-shot (`benchmarks/flowers_crops.py`)."""
    if crop:
        resize = not getattr(encoder, "resizes_input", False)
        crops = sum(embed(encoder, v, precision) for v in five_crops(x, crop, resize)) / 5
        if crop_weight == 1.0:  # the crops alone: the whole image is not embedded
            return crops
    z = embed(encoder, x, precision)
    if flip:
        z = (z + embed(encoder, x.flip(-1), precision)) / 2
    return (1 - crop_weight) * z + crop_weight * crops if crop else z


def embed_dataset(
    encoder: nn.Module,
    x: Tensor,
    batch: int = 64,
    precision: str = "fp32",
    flip: bool = False,
    progress: bool | None = None,
    crop: int = 0,
    crop_weight: float = CROP_WEIGHT,
) -> Tensor:
    """Features of every image of a data set ``x [M, C, H, W]`` (uint8 or [0, 1] floats) through a *frozen* encoder
    in ``eval()`` mode, ``batch`` images at a time: ``[M, D]`` fp32. Frozen features are a function of the image
    alone, so episodes can be sampled from them instead of the pixels (the encoder runs once per image, not once
    per episode). ``flip``, ``crop`` and ``crop_weight``: test-time views, as in `embed_views`."""
    from tqdm import tqdm

    was = encoder.training
    encoder.eval()
    device = next(encoder.parameters(), torch.empty(0)).device
    out = []
    try:
        for lo in tqdm(
            range(0, len(x), batch), desc="embedding", unit="batch", disable=None if progress is None else not progress
        ):
            xb = x[lo : lo + batch].to(device)
            xb = xb.float().div_(255) if xb.dtype == torch.uint8 else xb.float()
            out.append(embed_views(encoder, xb, precision, flip, crop, crop_weight).cpu())
    finally:
        encoder.train(was)
    return torch.cat(out)
