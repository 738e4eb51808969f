"""Image augmentation for meta-training episodes."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from .task import TaskBatch

AUGMENTATIONS = ("", "natural")


def _shift_offsets(n: int, max_shift: int, generator: torch.Generator | None) -> list[tuple[int, int]]:
    off = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator) - max_shift
    return list(zip(off[0].tolist(), off[1].tolist()))


def _shifted(flat: Tensor, offsets: list[tuple[int, int]], flip: list[bool] | None = None) -> Tensor:
    """``flat [n, C, H, W]`` with image i moved by ``offsets[i]`` (rows, columns; zeros shifted in) and mirrored
    left-right afterwards where ``flip[i]``: one copy of each image's visible part (a slice each, no index tensors)."""
    out = torch.zeros_like(flat)
    h, w = flat.shape[-2:]
    for i, (dy, dx) in enumerate(offsets):
        src = flat[i]
        if flip is not None and flip[i]:  # mirroring after the move = mirroring, then the mirrored move
            src, dx = src.flip(-1), -dx
        if abs(dy) >= h or abs(dx) >= w:
            continue
        out[i, :, max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = src[
            :, max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)
        ]
    return out


def random_translate(x: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Each image of ``x [..., C, H, W]`` moved by its own random whole-pixel offset in ``[-max_shift,
    max_shift]`` along each axis, with zeros (Omniglot's background after inversion) shifted in. Santoro et
    al. (2016) train their memory-augmented network on Omniglot "augmented by translating" the characters."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0 pixels, got {max_shift}.")
    if max_shift == 0:
        return x
    *lead, c, h, w = x.shape
    flat = x.reshape(-1, c, h, w)
    return _shifted(flat, _shift_offsets(flat.shape[0], max_shift, generator)).reshape(x.shape)


def random_rotate(x: Tensor, max_degrees: float, generator: torch.Generator | None = None) -> Tensor:
    """Each image of ``x [..., C, H, W]`` rotated about its centre by its own random angle, uniform in
    ``[-max_degrees, max_degrees]`` (bilinear resampling, zeros outside the frame). Santoro et al. (2016)
    perturb the characters by small rotations as well as translations."""
    if max_degrees < 0:
        raise ValueError(f"max_degrees must be >= 0, got {max_degrees}.")
    if max_degrees == 0:
        return x
    *lead, c, h, w = x.shape
    flat = x.reshape(-1, c, h, w)
    n = flat.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1).to(x.device, x.dtype) * (max_degrees * torch.pi / 180)
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    # grid_sample's theta maps output coordinates to input ones: rotating the content by +angle (counter-
    # clockwise on screen, rows pointing down) samples the input at the output point rotated by -angle.
    theta = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], -2)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    return F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False).reshape(x.shape)


def random_hflip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each image of ``x [..., C, H, W]`` mirrored left-right with probability 1/2."""
    flip = (torch.rand(x.shape[:-3], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[..., None, None, None], x.flip(-1), x)


def colour_jitter(x: Tensor, strength: float = 0.4, generator: torch.Generator | None = None) -> Tensor:
    """Brightness, contrast and saturation of each RGB image of ``x [..., 3, H, W]`` (in [0, 1]) scaled by its own
    factors, uniform in ``[1 - strength, 1 + strength]`` (torchvision's ColorJitter(0.4, 0.4, 0.4) as in the RFS and
    FEAT training code), applied in that order and clipped to [0, 1]."""
    if not 0 <= strength < 1:
        raise ValueError(f"jitter strength must lie in [0, 1), got {strength}.")
    if strength == 0:
        return x
    f = (1 + strength * (2 * torch.rand(3, *x.shape[:-3], 1, 1, 1, generator=generator) - 1)).to(x.device, x.dtype)
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(3, 1, 1)
    x = (x * f[0]).clamp_(0, 1)  # brightness (a new tensor)
    mean = (x.mean((-2, -1), keepdim=True) * weights).sum(-3, keepdim=True)  # the grayscale image's mean
    x.mul_(f[1]).add_(mean * (1 - f[1])).clamp_(0, 1)  # contrast
    gray = (x * weights).sum(-3, keepdim=True)
    return x.mul_(f[2]).add_(gray.mul_(1 - f[2])).clamp_(0, 1)  # saturation


def natural_image_augment(
    x: Tensor, generator: torch.Generator | None = None, pad: int = 8, jitter: float = 0.4
) -> Tensor:
    """The natural-image training augmentation of the RFS code (Tian et al. 2020): random crop after zero-padding by
    ``pad`` pixels (a random translation), horizontal flip, colour jitter; batched on tensors, any leading dims."""
    *lead, c, h, w = x.shape
    offsets = _shift_offsets(x[..., 0, 0, 0].numel(), pad, generator)  # the draws of random_translate,
    flip = (torch.rand(lead, generator=generator) < 0.5).reshape(-1).tolist()  # then of random_hflip
    x = _shifted(x.reshape(-1, c, h, w), offsets, flip).reshape(x.shape)  # both in one copy
    return colour_jitter(x, jitter, generator) if c == 3 else x


def augment_batch(batch: TaskBatch, kind: str, generator: torch.Generator) -> TaskBatch:
    """A training batch with its support and query images augmented (``kind``: "" none, "natural" for colour
    images: `natural_image_augment`). The trainer seeds ``generator`` by step, so a resumed run sees the same views."""
    if kind not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {kind!r}.")
    if not kind:
        return batch
    return replace(
        batch,
        support_x=natural_image_augment(batch.support_x, generator),
        query_x=natural_image_augment(batch.query_x, generator),
    )
