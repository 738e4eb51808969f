"""Image augmentation for meta-training episodes."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_translate(x: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Each image of ``x [..., C, H, W]`` moved by its own random whole-pixel offset in ``[-max_shift,
    max_shift]`` along each axis, with zeros (Omniglot's background after inversion) shifted in. Santoro et
    al. (2016) train their memory-augmented network on Omniglot "augmented by translating" the characters."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0 pixels, got {max_shift}.")
    if max_shift == 0:
        return x
    *lead, c, h, w = x.shape
    flat = F.pad(x.reshape(-1, c, h, w), (max_shift,) * 4)
    n = flat.shape[0]
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator).to(x.device)
    rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, :, None]        # [n, H, 1]
    cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, :]        # [n, 1, W]
    out = flat[torch.arange(n, device=x.device)[:, None, None], :, rows, cols]           # [n, H, W, C]
    return out.permute(0, 3, 1, 2).reshape(*lead, c, h, w)


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
