"""The augmentation ladder's parameters (:mod:`vitlab.ladder`), applied batched on the device.

:class:`BatchAugment` turns a (B, S, S, 3) uint8 batch from the image cache into a normalised
float32 (B, 3, out, out) batch on the same device, with no per-image PIL work: random-resized-crop,
flip and the geometric RandAugment ops are one affine per sample (bilinear ``grid_sample``), the
photometric ops are batched tensor maths, and all randomness comes from the caller's generator
so an epoch can be replayed exactly. Mixup/cutmix alphas are only carried: the training loop
applies them with ``timm.data.Mixup`` because they need the targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from vitlab.ladder import AugParams
from vitlab.photometric import BY_MAGNITUDE, ENHANCE


def _stats(values: Sequence[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device).view(1, 3, 1, 1)


def _check(images: torch.Tensor, out_size: int) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 (B, H, W, 3) images, got {images.dtype} {images.shape}")
    if min(images.shape[1:3]) < out_size:
        raise ValueError(f"out_size {out_size} is larger than images of {tuple(images.shape[1:3])}")


def _centre(images: torch.Tensor, out_size: int) -> torch.Tensor:
    """Centre crop as float (B, 3, out, out) in [0, 1]; offsets round like torchvision's."""
    top = int(round((images.shape[1] - out_size) / 2.0))
    left = int(round((images.shape[2] - out_size) / 2.0))
    return _to_float(images[:, top : top + out_size, left : left + out_size])


def _to_float(images: torch.Tensor) -> torch.Tensor:
    # One pass from uint8 NHWC to contiguous float NCHW (a plain .float() would keep HWC strides,
    # which slows grid_sample and every later op), then scale to [0, 1].
    x = images.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format)
    return x.div_(255.0)


def _normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """In place; shared by eval and train so s=0 reproduces eval_batch bit for bit."""
    return x.sub_(_stats(mean, x.device)).div_(_stats(std, x.device))


def eval_batch(
    images: torch.Tensor,
    out_size: int,
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> torch.Tensor:
    """Deterministic eval view: centre crop + normalise; uint8 (B,S,S,3) -> float (B,3,out,out)."""
    _check(images, out_size)
    return _normalise(_centre(images, out_size), mean, std)


_GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
_OPS = (*_GEOMETRIC, *BY_MAGNITUDE, *ENHANCE)
# Columns of the per-sample uniform draw. One fixed block per call whatever the params, so a
# generator state replays exactly and couples the draws across strengths.
_U_FLIP, _U_SCALE, _U_RATIO, _U_X, _U_Y, _U_JIT, _U_ERASE, _U_PICK = 0, 1, 2, 3, 4, 5, 8, 13
_U_SIGN = _U_PICK + len(_OPS)
_U_COLS = _U_SIGN + len(_OPS)


def _affine_grid(theta: torch.Tensor, out: int) -> torch.Tensor:
    """``F.affine_grid(theta, (n, 3, out, out), align_corners=False)`` by broadcasting.

    Same grid (to float rounding); F.affine_grid's bmm with an inner size of 3 is ~7x slower on CPU.
    """
    c = (torch.arange(out, dtype=theta.dtype, device=theta.device) * 2 + 1) / out - 1
    col = theta[:, None, None, :, 2] + theta[:, None, None, :, 1] * c[None, :, None, None]
    return torch.addcmul(col, theta[:, None, None, :, 0], c[None, None, :, None])


def _apply(x: torch.Tensor, mask: torch.Tensor, fn: Callable, *args: torch.Tensor) -> torch.Tensor:
    """``x`` with ``fn(x[i], *args[i])`` on the samples where the CPU bool ``mask`` is set."""
    idx = mask.nonzero().squeeze(1)  # mask lives on the CPU: no device sync
    if idx.numel() == 0:
        return x
    idx = idx.to(x.device)
    return x.index_copy_(0, idx, fn(x[idx], *(a[idx] for a in args)))  # x is never the input


class BatchAugment:
    """Batched train-time augmentation for one :class:`AugParams`.

    Order: crop+flip+geometric ops (one affine), colour jitter (brightness, contrast, saturation
    in [1-j, 1+j], fixed order, no hue as in timm's default), photometric ops, normalise, erasing.

    RandAugment-style, batched: each sample gets 2 distinct ops from ``_OPS`` at m/10 of their
    range with a random sign. Unlike timm's PIL ``rand_augment_transform``, the geometric ops are
    fused into the crop's affine (so they always precede the photometric ones), every op is the
    identity at m=0 (posterize drops round(0.4 m) bits, autocontrast is blended by m/10, enhance
    factors are 1 +- 0.9 m/10), equalize/invert are omitted, and pixels from outside the image
    take the mean colour (0 after normalisation).
    """

    def __init__(
        self,
        params: AugParams,
        out_size: int,
        mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        std: Sequence[float] = IMAGENET_DEFAULT_STD,
    ) -> None:
        if not isinstance(params, AugParams) or out_size < 1:
            raise ValueError(f"need AugParams and out_size >= 1, got {params!r}, {out_size}")
        self.params, self.out_size = params, out_size
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (B, S, S, 3) -> normalised float32 (B, 3, out, out) on ``images.device``."""
        _check(images, self.out_size)
        p, dev, n = self.params, images.device, images.shape[0]
        m = p.randaug_magnitude / 10
        u = torch.rand(n, _U_COLS, generator=generator, device=generator.device).cpu().double()
        # Erasing noise is big, so it is drawn on the images' device, from a generator seeded by
        # the caller's: still reproducible for a given device.
        noise = torch.Generator(device=dev)
        noise.manual_seed(
            int(torch.randint(2**62, (), generator=generator, device=generator.device))
        )
        flip = u[:, _U_FLIP] < p.hflip
        picked = torch.zeros(n, len(_OPS), dtype=torch.bool)
        if m > 0:
            picked.scatter_(1, u[:, _U_PICK:_U_SIGN].argsort(1)[:, :2], True)
        signed = picked * torch.where(u[:, _U_SIGN:] < 0.5, -1.0, 1.0).double()
        if p.crop_scale_min >= 1 and m == 0:
            # The eval pixels themselves (no resampling): s=0 is eval_batch up to a mirror.
            x = _centre(images, self.out_size)
            x = _apply(x, flip, lambda v: v.flip(-1))
        else:
            x = self._geometry(images, u, flip, signed)
        if p.color_jitter > 0:
            f = 1 + p.color_jitter * (2 * u[:, _U_JIT : _U_JIT + 3] - 1)
            f = f.float().to(dev).view(n, 3, 1, 1, 1)
            for k, name in enumerate(("brightness", "contrast", "color")):
                x = ENHANCE[name](x, f[:, k])
        for k, name in enumerate(_OPS[len(_GEOMETRIC) :], start=len(_GEOMETRIC)):
            if name in BY_MAGNITUDE:
                x = _apply(x, picked[:, k], partial(BY_MAGNITUDE[name], m=m))
            else:
                f = (1 + 0.9 * m * signed[:, k]).float().to(dev).view(n, 1, 1, 1)
                x = _apply(x, picked[:, k], ENHANCE[name], f)
        x = _normalise(x, self.mean, self.std)
        if p.erase_prob > 0:
            x = self._erase(x, u[:, _U_ERASE : _U_ERASE + 5], noise)
        return x.contiguous()

    def _geometry(
        self, images: torch.Tensor, u: torch.Tensor, flip: torch.Tensor, signed: torch.Tensor
    ) -> torch.Tensor:
        """RandomResizedCrop + flip + RandAugment rotate/shear/translate as one affine per sample.

        The crop's area is a fraction of the eval crop's (out^2), so scale 1 keeps eval's zoom.
        """
        n, h_img, w_img, _ = images.shape
        out, m = self.out_size, self.params.randaug_magnitude / 10
        lo = self.params.crop_scale_min
        area = out * out * (lo + (1 - lo) * u[:, _U_SCALE])
        ratio = torch.exp(math.log(3 / 4) + math.log(16 / 9) * u[:, _U_RATIO])
        w = (area * ratio).sqrt().clamp(max=w_img)  # clamping (not re-drawing) keeps it inside
        h = (area / ratio).sqrt().clamp(max=h_img)
        x0, y0 = u[:, _U_X] * (w_img - w), u[:, _U_Y] * (h_img - h)
        # affine_grid maps output coords in [-1, 1] to input coords: in = A (T out + t) + c.
        a = torch.zeros(n, 2, 2, dtype=torch.float64)
        a[:, 0, 0] = torch.where(flip, -1.0, 1.0) * w / w_img
        a[:, 1, 1] = h / h_img
        c = torch.stack([(2 * x0 + w) / w_img - 1, (2 * y0 + h) / h_img - 1], 1)
        s = dict(zip(_OPS, signed.T, strict=True))
        ang = s["rotate"] * math.radians(30 * m)
        rot = torch.stack([ang.cos(), -ang.sin(), ang.sin(), ang.cos()], 1).view(n, 2, 2)
        one = torch.ones(n, dtype=torch.float64)
        shear = torch.stack([one, s["shear_x"] * 0.3 * m, s["shear_y"] * 0.3 * m, one], 1)
        t = torch.stack([s["translate_x"], s["translate_y"]], 1) * (2 * 0.45 * m)  # [-1,1] spans 2
        theta = torch.cat([a @ rot @ shear.view(n, 2, 2), a @ t[:, :, None] + c[:, :, None]], 2)
        grid = _affine_grid(theta.float().to(images.device), out)
        x = _to_float(images)
        if m == 0:  # plain crops stay inside the image: border padding avoids any edge blend
            return F.grid_sample(x, grid, padding_mode="border", align_corners=False)
        mean = _stats(self.mean, x.device)  # zero padding of x - mean fills with the mean colour
        x = F.grid_sample(x.sub_(mean), grid, mode="bilinear", align_corners=False)
        return x.add_(mean).clamp_(0, 1)

    def _erase(self, x: torch.Tensor, u: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        """timm RandomErasing(mode='pixel'), one box per sample; too-big boxes are clamped."""
        n, _, out, _ = x.shape
        area = out * out * (0.02 + (1 / 3 - 0.02) * u[:, 1])
        ratio = torch.exp(math.log(0.3) + 2 * math.log(1 / 0.3) * u[:, 2])  # log-uniform 0.3..3.3
        h = (area * ratio).sqrt().round().clamp(1, out)
        w = (area / ratio).sqrt().round().clamp(1, out)
        top, left = (u[:, 3] * (out - h + 1)).floor(), (u[:, 4] * (out - w + 1)).floor()
        edges = torch.stack([top, top + h, left, left + w], 1).float().to(x.device)

        def erase(v: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
            pos = torch.arange(out, device=v.device)
            rows = (pos >= e[:, 0:1]) & (pos < e[:, 1:2])
            cols = (pos >= e[:, 2:3]) & (pos < e[:, 3:4])
            box = rows[:, None, :, None] & cols[:, None, None, :]  # (k, 1, out, out)
            return torch.where(box, torch.randn(v.shape, generator=noise, device=v.device), v)

        return _apply(x, u[:, 0] < self.params.erase_prob, erase, edges)
