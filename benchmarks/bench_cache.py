"""Benchmark: decoding JPEGs every epoch vs reading the decode-once cache.

    python benchmarks/bench_cache.py [--images 512] [--batch 64] [--epochs 2] [--loader-workers 0]

Writes N synthetic 500x375 JPEGs (smooth content plus grain, ~50 KB each, like photos), builds
the cache at cache_size_for(224) = 256, then times one epoch of each loader side by side with
the same DataLoader settings and the same crop/normalise code. Only the source of the
256x256 square differs: (a) PIL decode + resize + center crop of every file, every epoch;
(b) a row of the cache memmap. One warm-up epoch each (files and cache in the page cache),
then the median of --epochs epochs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from vitlab.cache import ImageCache, build_cache, cache_size_for, estimate_cache_bytes
from vitlab.decode import decode_image

CROP = 224
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # ImageNet statistics
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
SCALE, SHIFT = 1 / (255 * STD), MEAN / STD


def make_images(folder: Path, count: int, seed: int = 0) -> list[str]:
    """Photo-like JPEGs: blurred colour fields + mid-frequency texture + sensor-like grain."""
    rng = np.random.default_rng(seed)
    w, h = 500, 375
    paths = []
    for i in range(count):
        low = rng.integers(0, 256, (h // 24 + 2, w // 24 + 2, 3), dtype=np.uint8)
        mid = rng.integers(0, 256, (h // 6, w // 6, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC), np.float32)
        tex = np.asarray(Image.fromarray(mid).resize((w, h), Image.Resampling.BILINEAR), np.float32)
        grain = rng.normal(0, rng.uniform(2, 6), (h, w, 3)).astype(np.float32)
        img = np.clip(0.75 * base + 0.25 * tex + grain, 0, 255).astype(np.uint8)
        path = folder / f"img_{i:05d}.jpg"
        Image.fromarray(img).save(path, "JPEG", quality=90)
        paths.append(str(path))
    return paths


def to_batch(squares: list[np.ndarray], rng: np.random.Generator, to_float: bool) -> torch.Tensor:
    """Random 224x224 crop of each square, then a normalised float (B, 3, 224, 224) batch.

    ``to_float=False`` stops at the uint8 NHWC batch: used to time the image source alone.
    """
    crops = []
    for square in squares:
        y, x = rng.integers(0, square.shape[0] - CROP + 1, size=2)
        crops.append(square[y : y + CROP, x : x + CROP])
    if not to_float:
        return torch.from_numpy(np.stack(crops))
    # Transpose while still uint8 (4x fewer bytes), then one float conversion and in-place
    # (x / 255 - mean) / std folded into a multiply and a subtract.
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous().float()
    return x.mul_(SCALE).sub_(SHIFT)


class DecodeEveryEpoch(Dataset):
    """(a) Baseline: decode, resize and crop the file each time it is read."""

    def __init__(self, paths: list[str], size: int, to_float: bool = True) -> None:
        self.paths, self.size, self.to_float = paths, size, to_float
        self.rng = np.random.default_rng(1)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, batch: list[int]) -> torch.Tensor:
        squares = [decode_image(self.paths[i], self.size) for i in batch]
        return to_batch(squares, self.rng, self.to_float)


class FromCache(Dataset):
    """(b) Read the already-decoded square from the cache memmap."""

    def __init__(self, cache: ImageCache, to_float: bool = True) -> None:
        # Hold the ImageCache, not its array: it pickles as a reference to the directory.
        self.cache, self.to_float, self.rng = cache, to_float, np.random.default_rng(1)

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, batch: list[int]) -> torch.Tensor:
        return to_batch([self.cache.array[i] for i in batch], self.rng, self.to_float)


def make_loader(dataset: Dataset, batch: int, workers: int) -> DataLoader:
    # batch_size=None + a BatchSampler: the dataset gets a list of indices and builds the whole
    # batch itself; both loaders share this path, so only the image source differs.
    return DataLoader(
        dataset,
        sampler=BatchSampler(RandomSampler(dataset), batch_size=batch, drop_last=False),
        batch_size=None,
        num_workers=workers,
        persistent_workers=workers > 0,
    )


def run_epoch(loader: DataLoader) -> float:
    start = time.perf_counter()
    seen = sum(x.shape[0] for x in loader)
    assert seen == len(loader.dataset)
    return time.perf_counter() - start


def compare(datasets: dict[str, Dataset], batch: int, workers: int, epochs: int) -> dict:
    """Median seconds per epoch of each dataset after one warm-up epoch each.

    Epochs alternate between the datasets, so a load change on the machine hits both alike.
    """
    loaders = {name: make_loader(ds, batch, workers) for name, ds in datasets.items()}
    for loader in loaders.values():
        run_epoch(loader)  # warm-up: files/cache pages in the page cache, workers started
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(epochs):
        for name, loader in loaders.items():
            times[name].append(run_epoch(loader))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--loader-workers", type=int, default=0)
    parser.add_argument("--build-workers", type=int, default=None, help="default: all cores")
    args = parser.parse_args()

    size = cache_size_for(CROP)
    with tempfile.TemporaryDirectory(prefix="bench_cache_") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        start = time.perf_counter()
        paths = make_images(folder, args.images)
        kb = statistics.mean(Path(p).stat().st_size for p in paths) / 1e3
        print(
            f"images: {len(paths)} JPEG 500x375, mean {kb:.1f} KB "
            f"(generated in {time.perf_counter() - start:.1f} s)"
        )

        start = time.perf_counter()
        cache = build_cache(paths, size=size, root=Path(tmp) / "cache", workers=args.build_workers)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        build_cache(paths, size=size, root=Path(tmp) / "cache", progress=False)
        reuse_s = time.perf_counter() - start
        mb = estimate_cache_bytes(len(paths), size) / 1e6
        print(
            f"cache build: {build_s:.2f} s ({len(paths) / build_s:.0f} img/s), "
            f"{mb:.1f} MB at {size}x{size}; reuse (second build_cache call): {reuse_s:.3f} s"
        )

        print(
            f"epoch: batch {args.batch}, loader workers {args.loader_workers}, "
            f"median of {args.epochs} after 1 warm-up"
        )
        n, w = len(paths), args.loader_workers
        full = compare(
            {"decode": DecodeEveryEpoch(paths, size), "cache": FromCache(cache)},
            args.batch,
            w,
            args.epochs,
        )
        decode, cached = full["decode"], full["cache"]
        print(f"  (a) decode every epoch: {decode:.3f} s/epoch, {n / decode:.0f} img/s")
        print(f"  (b) from cache:         {cached:.3f} s/epoch, {n / cached:.0f} img/s")
        print(f"cache speedup: {decode / cached:.1f}x (target >= 5x)")
        # The float conversion is the same work in both loaders; timing uint8 batches shows
        # how much of each epoch is the image source itself.
        raw = compare(
            {
                "decode": DecodeEveryEpoch(paths, size, False),
                "cache": FromCache(cache, False),
            },
            args.batch,
            w,
            args.epochs,
        )
        print(
            f"  image source only (uint8 batches, no float conversion): decode "
            f"{raw['decode']:.3f} s, cache {raw['cache']:.3f} s -> "
            f"{raw['decode'] / raw['cache']:.1f}x; float conversion ~{cached - raw['cache']:.3f} "
            f"s/epoch in both"
        )
        del cache
    seed = estimate_cache_bytes(118126, size)
    print(
        f"estimated cache for the seed (118126 images at {size}px): {seed / 1e9:.2f} GB "
        f"({seed / 2**30:.2f} GiB)"
    )


if __name__ == "__main__":
    main()
