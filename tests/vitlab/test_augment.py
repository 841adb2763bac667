"""Augmentation ladder: table interpolation/validation and the batched device augmentation."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from vitlab.augment import BatchAugment, _affine_grid, eval_batch
from vitlab.ladder import AUG_KEYS, DEFAULT_LADDER, AugParams, aug_params, validate_ladder

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
R0, R1, R2 = DEFAULT_LADDER


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Real-looking (smooth, full-range) uint8 (n, size, size, 3) images."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 5, 5, generator=g)
    x = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def params(**overrides: float) -> AugParams:
    """Identity-ish params (centre crop, no flip) with some fields overridden."""
    base = dict.fromkeys(AUG_KEYS, 0.0) | {"crop_scale_min": 1.0}
    return AugParams(**(base | overrides))


def table(*rows: dict[str, float]) -> list[dict[str, float]]:
    return [dict(r) for r in rows]


# ---------------------------------------------------------------------------- the ladder table


@pytest.mark.parametrize("row", DEFAULT_LADDER, ids=lambda r: f"s={r['s']}")
def test_aug_params_at_rows_equals_the_row(row: dict[str, float]) -> None:
    assert aug_params(row["s"]) == AugParams(**{k: row[k] for k in AUG_KEYS})


def test_aug_params_interpolates_linearly() -> None:
    got = aug_params(0.25)
    expected = dict(
        crop_scale_min=0.675,
        hflip=0.5,
        color_jitter=0.2,
        erase_prob=0.125,
        randaug_magnitude=0.0,
        mixup_alpha=0.0,
        cutmix_alpha=0.0,
    )
    for key, value in expected.items():
        assert getattr(got, key) == pytest.approx(value, abs=1e-12), key
    assert aug_params(0.75).randaug_magnitude == pytest.approx(4.5)


def test_default_anchors_are_the_seed_recipe() -> None:
    seed = aug_params(0.5)
    assert (seed.color_jitter, seed.erase_prob, seed.randaug_magnitude) == (0.4, 0.25, 0.0)
    assert aug_params(0.0).crop_scale_min == 1.0 and aug_params(1.0).crop_scale_min == 0.08


def test_every_param_is_monotone_in_strength() -> None:
    grid = [aug_params(i / 200) for i in range(201)]
    for key in AUG_KEYS:
        values = [getattr(p, key) for p in grid]
        if key == "crop_scale_min":
            values = [-v for v in values]
        assert all(a <= b for a, b in zip(values, values[1:], strict=False)), key


def test_validate_ladder_accepts_default_and_coerces_ints() -> None:
    assert validate_ladder(DEFAULT_LADDER) == DEFAULT_LADDER
    rows = table(DEFAULT_LADDER[0] | {"s": 0}, DEFAULT_LADDER[2] | {"s": 1, "randaug_magnitude": 9})
    got = validate_ladder(rows)
    assert all(isinstance(v, float) for r in got for v in r.values())
    assert aug_params(0.5, rows).randaug_magnitude == 4.5
    flat = table(R0, R1 | {"crop_scale_min": 1.0}, R2 | {"crop_scale_min": 1.0})
    assert aug_params(0.9, flat).crop_scale_min == 1.0  # monotone need not be strict


@pytest.mark.parametrize("strength", [-0.01, 1.01, math.nan, math.inf, "0.5", None, True])
def test_bad_strength_raises_naming_it(strength: object) -> None:
    with pytest.raises(ValueError, match=f"strength {re.escape(repr(strength))} is not"):
        aug_params(strength)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (table(R0, R1 | {"blur": 0.1}, R2), r"row 1 \(s=0.5\): unknown key 'blur'"),
        (table(R0, R1 | {"erase_prob": 1.5}, R2), r"row 1 \(s=0.5\): erase_prob 1.5 is outside"),
        (table(R0, R1, R2 | {"randaug_magnitude": 11}), r"row 2 .*randaug_magnitude 11 is outside"),
        (
            table(R0 | {"crop_scale_min": 0.0}, R2),
            r"row 0 .*crop_scale_min 0.0 is outside \(0, 1\]",
        ),
        (table(R0, R1 | {"mixup_alpha": -0.1}, R2), r"row 1 .*mixup_alpha -0.1 is outside"),
        (table(R0, R1 | {"hflip": "half"}, R2), r"row 1 .*hflip 'half' is not a number"),
        (table(R0, R1 | {"color_jitter": math.nan}, R2), r"row 1 .*color_jitter nan is outside"),
        (
            table(R0, {k: v for k, v in R1.items() if k != "hflip"}, R2),
            r"row 1 .*missing key 'hflip'",
        ),
        (table(R0 | {"s": 0.1}, R1, R2), r"cover s in \[0, 1\].*0.1..1"),
        (table(R0, R1), r"cover s in \[0, 1\].*0..0.5"),
        (table(R0, R2, R1), r"row 2 \(s=0.5\): s must be strictly increasing"),
        (table(R0, R1, R1, R2), r"row 2 \(s=0.5\): s must be strictly increasing"),
        (table(R0, R1 | {"s": 1.5}), r"row 1 \(s=1.5\): s 1.5 is outside"),
        (
            table(R0, R1, R2 | {"crop_scale_min": 0.5}),
            r"row 2 .*crop_scale_min=0.5 must be non-inc",
        ),
        (table(R0, R1, R2 | {"color_jitter": 0.3}), r"row 2 .*color_jitter=0.3 must be non-decr"),
        (table(R0, R1 | {"hflip": 0.6}, R2), r"row 2 .*hflip=0.5 must be non-decreasing"),
        ([dict(R0), "row", dict(R2)], r"row 1: 'row' is not a mapping"),
        (table(R0), r">= 2 rows, got 0..0"),
        ([], r">= 2 rows, got nothing"),
        (R0, r"must be a list of rows, got dict"),
    ],
)
def test_bad_ladder_raises_naming_row_and_key(rows: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_ladder(rows)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):  # aug_params validates user tables too
        aug_params(0.5, rows)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "value"), [("hflip", 1.2), ("crop_scale_min", 0.0), ("randaug_magnitude", -1.0)]
)
def test_aug_params_rejects_out_of_range_fields(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"AugParams.{key}: {value}"):
        params(**{key: value})


# ------------------------------------------------------------------------------ eval view


@pytest.mark.parametrize(("size", "out", "top"), [(37, 32, 2), (36, 32, 2), (38, 32, 3), (9, 7, 1)])
def test_eval_batch_is_the_hand_computed_centre_slice(size: int, out: int, top: int) -> None:
    images = smooth_images(2, size)
    mean, std = (0.5, 0.25, 0.0), (0.5, 2.0, 1.0)
    got = eval_batch(images, out, mean, std)
    crop = images[:, top : top + out, top : top + out].permute(0, 3, 1, 2).float() / 255
    expected = (crop - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert got.shape == (2, 3, out, out) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_eval_batch_224_offset_is_16() -> None:
    images = torch.zeros(1, 256, 256, 3, dtype=torch.uint8)
    images[:, 16:240, 16:240] = 255
    got = eval_batch(images, 224, mean=(0, 0, 0), std=(1, 1, 1))
    assert torch.equal(got, torch.ones(1, 3, 224, 224))


@pytest.mark.parametrize(
    ("images", "out", "match"),
    [
        (torch.zeros(2, 37, 37, 3), 32, "uint8"),
        (torch.zeros(2, 3, 37, 37, dtype=torch.uint8), 32, r"\(B, H, W, 3\)"),
        (torch.zeros(37, 37, 3, dtype=torch.uint8), 32, r"\(B, H, W, 3\)"),
        (torch.zeros(2, 31, 31, 3, dtype=torch.uint8), 32, "out_size 32 is larger"),
    ],
)
def test_bad_images_raise(images: torch.Tensor, out: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        eval_batch(images, out)
    with pytest.raises(ValueError, match=match):
        BatchAugment(aug_params(0.5), out)(images, torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------- BatchAugment


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize(("size", "out"), [(37, 32), (18, 16)])
def test_output_shape_dtype_device_finite(strength: float, size: int, out: int) -> None:
    images = smooth_images(6, size)
    got = BatchAugment(aug_params(strength), out)(images, torch.Generator().manual_seed(1))
    assert got.shape == (6, 3, out, out)
    assert got.dtype == torch.float32 and got.device == images.device and got.is_contiguous()
    assert torch.isfinite(got).all()


def test_strength_zero_is_eval_or_its_mirror_exactly() -> None:
    images = smooth_images(64, 37)
    expected = eval_batch(images, 32)
    got = BatchAugment(aug_params(0.0), 32)(images, torch.Generator().manual_seed(3))
    same = [torch.equal(g, e) for g, e in zip(got, expected, strict=True)]
    mirrored = [torch.equal(g, e.flip(-1)) for g, e in zip(got, expected, strict=True)]
    assert all(a or b for a, b in zip(same, mirrored, strict=True))
    assert 10 < sum(mirrored) < 54  # the flip is the only randomness, at p = 0.5


def test_hflip_zero_and_one() -> None:
    images = smooth_images(8, 37)
    expected = eval_batch(images, 32)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(BatchAugment(params(hflip=0.0), 32)(images, gen), expected)
    assert torch.equal(BatchAugment(params(hflip=1.0), 32)(images, gen), expected.flip(-1))


@pytest.mark.parametrize("out", [1, 7, 32])
def test_broadcast_affine_grid_equals_f_affine_grid(out: int) -> None:
    theta = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0))
    expected = F.affine_grid(theta, [5, 3, out, out], align_corners=False)
    torch.testing.assert_close(_affine_grid(theta, out), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_affine_path_with_a_centred_full_crop_matches_the_centre_crop(flip: float) -> None:
    # Pins the affine convention: a crop of out x out at the centre, resampled with grid_sample,
    # must land on the same pixels as integer slicing (36 -> 32 has an integer offset of 2).
    images = smooth_images(4, 36)
    aug = BatchAugment(params(crop_scale_min=0.5, hflip=flip), 32)
    u = torch.full((4, 64), 0.5, dtype=torch.float64)
    u[:, 0], u[:, 1] = 0.0, 1.0  # flip column below hflip; scale column at the top (area out^2)
    flip_mask = torch.full((4,), flip > 0)
    got = aug._geometry(images, u, flip_mask, torch.zeros(4, 12, dtype=torch.float64))
    expected = images[:, 2:34, 2:34].permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(got, expected.flip(-1) if flip else expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("strength", [0.0, 0.3, 0.5, 1.0])
def test_same_seed_same_output_different_seed_different(strength: float) -> None:
    images = smooth_images(16, 37)
    aug = BatchAugment(aug_params(strength), 32)
    a = aug(images, torch.Generator().manual_seed(7))
    b = aug(images, torch.Generator().manual_seed(7))
    c = aug(images, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_generator_state_replays_a_batch() -> None:
    # The training loop saves the generator state to resume mid-epoch.
    images = smooth_images(8, 37)
    aug, gen = BatchAugment(aug_params(1.0), 32), torch.Generator().manual_seed(5)
    aug(images, gen)
    state = gen.get_state()
    second = aug(images, gen)
    gen.set_state(state)
    assert torch.equal(aug(images, gen), second)


def test_distortion_grows_with_strength() -> None:
    images = smooth_images(32, 37, seed=11)
    reference = eval_batch(images, 32)
    distance = []
    for strength in STRENGTHS:
        aug = BatchAugment(aug_params(strength), 32)
        runs = [aug(images, torch.Generator().manual_seed(s)) for s in range(4)]
        distance.append(sum((r - reference).abs().mean().item() for r in runs) / len(runs))
    assert all(a < b for a, b in zip(distance, distance[1:], strict=False)), distance


@pytest.mark.parametrize("prob", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_erasing_frequency_and_box_size(prob: float) -> None:
    images = torch.full((2000, 37, 37, 3), 128, dtype=torch.uint8)  # flat: any change is erasing
    got = BatchAugment(params(erase_prob=prob), 32)(images, torch.Generator().manual_seed(2))
    changed = got != eval_batch(images, 32)
    erased = changed.flatten(1).any(1)
    assert abs(erased.float().mean().item() - prob) < 0.04
    if prob > 0:
        area = changed.any(1)[erased].flatten(1).float().mean(1)  # noise hits almost all pixels
        assert 0.015 < area.min() and area.max() < 0.36
        assert 0.12 < area.mean() < 0.2  # uniform in [0.02, 1/3], a little clamping
        noise = got[erased][changed[erased]]
        assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1) < 0.05  # normal, 'pixel' mode


def test_colour_jitter_changes_colours_not_geometry() -> None:
    images = smooth_images(16, 37)
    got = BatchAugment(params(color_jitter=0.4), 32)(images, torch.Generator().manual_seed(0))
    expected = eval_batch(images, 32)
    assert not torch.equal(got, expected)
    # Per-sample brightness/contrast/saturation keep the spatial pattern: strongly correlated.
    for g, e in zip(got, expected, strict=True):
        corr = torch.corrcoef(torch.stack([g.mean(0).flatten(), e.mean(0).flatten()]))[0, 1]
        assert corr > 0.9


def test_full_magnitude_randaugment_changes_every_sample_and_stays_in_range() -> None:
    images = smooth_images(128, 37)
    aug = BatchAugment(params(randaug_magnitude=10.0), 32, mean=(0, 0, 0), std=(1, 1, 1))
    got = aug(images, torch.Generator().manual_seed(4))
    assert got.min() >= 0 and got.max() <= 1  # [0, 1] before (identity) normalisation
    assert (got - eval_batch(images, 32, (0, 0, 0), (1, 1, 1))).abs().flatten(1).amax(1).min() > 0
