"""Photometric ops on float [0, 1] (n, 3, H, W) batches, as the batched RandAugment applies them.

The enhance ops follow PIL ImageEnhance: blend towards a degenerate image by per-sample factors
``f`` of shape (n, 1, 1, 1), where f = 1 is the identity. The magnitude ops take RandAugment's
magnitude ``m`` in [0, 1] (m/10 of timm's scale) and are the identity at m = 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def blend(x: torch.Tensor, degenerate: torch.Tensor, f: torch.Tensor | float) -> torch.Tensor:
    """``degenerate + f * (x - degenerate)``, clamped to [0, 1]."""
    return x.sub(degenerate).mul_(f).add_(degenerate).clamp_(0, 1)


def gray(x: torch.Tensor) -> torch.Tensor:
    # In-place adds: ~3x faster on CPU than the plain expression (and a 1x1 conv is far slower).
    return (x[:, 0:1] * 0.299).add_(x[:, 1:2], alpha=0.587).add_(x[:, 2:3], alpha=0.114)


def contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    # The gray image's mean (PIL "L" weights) is the weighted sum of the channel means.
    luma = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
    return blend(x, x.mean((2, 3), keepdim=True).mul_(luma).sum(1, keepdim=True), f)


def sharpness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], device=x.device) / 13  # PIL SMOOTH
    smooth = x.clone()  # PIL leaves the one-pixel border unsmoothed
    smooth[..., 1:-1, 1:-1] = F.conv2d(x, kernel.expand(3, 1, 3, 3), groups=3)
    return blend(x, smooth, f)


def autocontrast(x: torch.Tensor, m: float) -> torch.Tensor:
    lo, hi = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    stretched = torch.where(hi > lo, (x - lo) / (hi - lo).clamp_min(1e-6), x)
    return blend(stretched, x, m)  # only m of the full stretch, so m=0 is a no-op


ENHANCE: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "brightness": lambda x, f: x.mul(f).clamp_(0, 1),
    "contrast": contrast,
    "color": lambda x, f: blend(x, gray(x), f),
    "sharpness": sharpness,
}


def solarize(x: torch.Tensor, m: float) -> torch.Tensor:
    """Invert the pixels >= 1 - m (timm: threshold 256 - 256 m/10)."""
    return torch.where(x >= 1 - m, 1 - x, x)


def posterize(x: torch.Tensor, m: float) -> torch.Tensor:
    """Keep 8 - round(4 m) bits of each channel."""
    q = 2.0 ** round(4 * m)
    return torch.div((x * 255).round(), q, rounding_mode="floor") * q / 255


BY_MAGNITUDE: dict[str, Callable[..., torch.Tensor]] = {
    "solarize": solarize,
    "posterize": posterize,
    "autocontrast": autocontrast,
}
