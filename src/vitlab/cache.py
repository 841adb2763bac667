"""Decode-once image cache: every image is decoded and resized once into a uint8 memmap.

Decoding JPEGs costs far more than a small model's forward pass on CPU, and an Optuna study reads
the same images for every epoch of every trial. So the images are decoded once, resized to a
square a little larger than the training resolution (see :func:`cache_size_for`), and stored as
``<root>/<key16>-s<size>/images.u8``: a raw C-order uint8 array of shape (N, S, S, 3), RGB.
Later epochs and trials take their crops straight from that memory map.

The directory also holds ``meta.json`` (shape, paths in row order, failed rows) and
``failed.tsv`` (``path<TAB>reason`` for every image that could not be decoded; its row is zero).
The decoding itself, in worker processes, is :mod:`vitlab.decode`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vitlab.config import DataConfig
from vitlab.decode import Failures, decode_into
from vitlab.errors import UserError

FORMAT_VERSION = 1
IMAGE_FILE = "images.u8"
META_FILE = "meta.json"
FAILED_FILE = "failed.tsv"
DEFAULT_ROOT = Path(DataConfig.cache_root)  # one default: the config's


class CacheError(UserError):
    """An image cache that cannot be built or read."""


@dataclass(frozen=True)
class FailedImage:
    """An image that could not be decoded; its cache row is all zeros."""

    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class ImageCache:
    """A complete cache directory, opened read-only. Row ``i`` holds ``paths[i]``."""

    directory: Path
    size: int
    paths: tuple[str, ...] = field(repr=False)
    valid: np.ndarray = field(repr=False)
    failed: tuple[FailedImage, ...] = field(repr=False)
    array: np.ndarray = field(repr=False)
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Built once: row_of() is called per sample by datasets, so it must be O(1).
        object.__setattr__(self, "_index", {p: i for i, p in enumerate(self.paths)})

    def row_of(self, path: str) -> int:
        """The row holding ``path``; KeyError naming the path if it was not cached."""
        try:
            return self._index[os.fspath(path)]
        except KeyError:
            raise KeyError(f"{path} is not in the image cache {self.directory}") from None

    def rows(self, paths: Sequence[str]) -> np.ndarray:
        """Row indices (int64) of ``paths``, in the order given."""
        return np.fromiter((self.row_of(p) for p in paths), dtype=np.int64, count=len(paths))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images in ``rows`` as one uint8 (n, S, S, 3) array, in the order given."""
        # Sorted reads are kinder to the memory map; the batch is put back in order after.
        order = np.argsort(rows, kind="stable")
        images = np.empty((len(rows), *self.array.shape[1:]), dtype=np.uint8)
        images[order] = self.array[rows[order]]
        return images

    def __len__(self) -> int:
        return len(self.paths)

    def __reduce__(self) -> tuple:
        # Pickling a memmap copies all its pixels; DataLoader workers started with spawn or
        # forkserver get the directory instead and map the same file themselves.
        return open_cache, (self.directory,)


def cache_size_for(image_size: int, crop_pct: float = 0.875) -> int:
    """Side of the cached square for a model input of ``image_size`` (224 -> 256, 32 -> 37).

    The usual eval transform resizes to ``image_size / crop_pct`` and center-crops
    ``image_size``; caching at that size serves it exactly and leaves room for random crops.
    """
    if image_size < 1:
        raise CacheError(f"image size must be a positive number of pixels, got {image_size}")
    if not 0 < crop_pct <= 1:
        raise CacheError(f"crop_pct must be in (0, 1], got {crop_pct}")
    # round() first so float noise (e.g. 256.00000000001) does not bump the size by one.
    return math.ceil(round(image_size / crop_pct, 6))


def estimate_cache_bytes(num_images: int, size: int) -> int:
    """Bytes taken by ``images.u8`` for ``num_images`` squares of ``size`` pixels."""
    return num_images * size * size * 3


def cache_key(paths: Sequence[str | Path], size: int) -> str:
    """sha256 over the ordered paths, each file's byte size and mtime_ns, and the size.

    Stat data instead of file contents: hashing a dataset's bytes would cost as much as
    decoding it, while an edited or replaced file practically always changes size or mtime.
    """
    digest = hashlib.sha256(f"vitlab-cache v{FORMAT_VERSION} size={size}\n".encode())
    for path in paths:
        path = os.fspath(path)
        try:
            st = os.stat(path)
            stamp = f"{st.st_size} {st.st_mtime_ns}"
        except OSError:
            stamp = "missing"  # part of the key, so the file appearing later invalidates it
        # NUL cannot occur in a path, so this encoding of the list is unambiguous.
        digest.update(f"{path}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _write_results(
    directory: Path, key: str, size: int, paths: list[str], failures: Failures
) -> None:
    lines = [f"{paths[row]}\t{reason}\n" for row, reason in failures]
    with open(directory / FAILED_FILE, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("path\treason\n" + "".join(lines))
    meta = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "size": size,
        "count": len(paths),
        "dtype": "uint8",
        "shape": [len(paths), size, size, 3],
        "layout": "NHWC, RGB, C order",
        "failed": [[row, reason] for row, reason in failures],
        "paths": paths,
    }
    (directory / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    # fsync before the rename, so a power cut cannot leave a "complete" cache with lost rows.
    for name in (IMAGE_FILE, META_FILE):
        with open(directory / name, "rb") as f:
            os.fsync(f.fileno())


def build_cache(
    paths: Sequence[str | Path],
    *,
    size: int,
    root: Path = DEFAULT_ROOT,
    workers: int | None = None,
    progress: bool = True,
) -> ImageCache:
    """Decode ``paths`` (absolute, in row order) into a cache under ``root``, or reuse it.

    Unreadable images are skipped and listed, never fatal. ``workers`` processes decode in
    parallel (default: all cores; 0 or 1: in this process). ``progress`` shows a bar and a
    summary on stderr. The build happens in a ``.partial-<host>-<pid>`` sibling renamed into
    place only when complete, so an interrupted build is never mistaken for a cache.
    """
    names = _check_paths(paths)
    if size < 1:
        raise CacheError(f"cache size must be a positive number of pixels, got {size}")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 0:
        raise CacheError(f"workers must be >= 0, got {workers}")

    key = cache_key(names, size)
    root = Path(root)
    final = root / f"{key[:16]}-s{size}"
    if final.exists():
        cache = _open(final, key)
        if progress:
            print(f"reusing image cache {final} ({len(cache)} images)", file=sys.stderr)
        return cache

    _check_space(root, estimate_cache_bytes(len(names), size))
    started = time.perf_counter()
    _build(final, key, names, size, workers, progress)
    cache = _open(final, key)
    if progress:
        print(
            f"cached {len(cache)} images in {time.perf_counter() - started:.1f}s to {final}; "
            f"{len(cache.failed)} failed"
            + (f" (see {final / FAILED_FILE})" if cache.failed else ""),
            file=sys.stderr,
        )
    return cache


def _check_paths(paths: Sequence[str | Path]) -> list[str]:
    """The paths as strings; CacheError for an empty list or a path listed twice."""
    names = [os.fspath(p) for p in paths]
    if not names:
        raise CacheError("no images to cache: the image list is empty")
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = next(p for p in names if p in seen or seen.add(p))
        raise CacheError(f"{dup} appears more than once in the image list")
    return names


def _check_space(root: Path, need: int) -> None:
    """Create ``root``; CacheError unless its disk has ``need`` bytes free.

    Checked up front: running out of space while writing through a memmap kills the writer
    with SIGBUS rather than raising an error.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(root).free
    except OSError as exc:
        raise CacheError(f"cannot create the cache directory {root}: {exc.strerror}") from exc
    if free < need:
        raise CacheError(
            f"{root}: the image cache needs {need / 1e9:.2f} GB, {free / 1e9:.2f} free"
        )


def _build(
    final: Path, key: str, names: list[str], size: int, workers: int, progress: bool
) -> None:
    """Decode into a partial sibling of ``final``, then rename it into place (or drop it when
    a concurrent build of the same images finished first); nothing half-written stays."""
    # Host and pid make the name unique among concurrent builders, even on a shared disk.
    partial = final.with_name(f"{final.name}.partial-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)  # left by an earlier process with our pid
    partial.mkdir()
    try:
        with open(partial / IMAGE_FILE, "wb") as f:
            f.truncate(estimate_cache_bytes(len(names), size))  # zeros: failed rows stay zero
        failures = decode_into(partial / IMAGE_FILE, names, size, workers, progress)
        _write_results(partial, key, size, names, failures)
        try:
            os.replace(partial, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(partial)  # a concurrent build of the same images finished first
    except BaseException:  # includes KeyboardInterrupt: never leave a half-written directory
        shutil.rmtree(partial, ignore_errors=True)
        raise


def open_cache(directory: Path) -> ImageCache:
    """Open a complete cache directory read-only (as written by :func:`build_cache`)."""
    return _open(Path(directory), None)


def _open(directory: Path, key: str | None) -> ImageCache:
    meta_file, image_file = directory / META_FILE, directory / IMAGE_FILE
    rebuild = f"delete {directory} to rebuild it"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta["format_version"] != FORMAT_VERSION or (key and meta["key"] != key):
            raise CacheError(f"{meta_file} is from another version or other images; {rebuild}")
        count, size, paths = int(meta["count"]), int(meta["size"]), tuple(meta["paths"])
        failed = tuple(FailedImage(paths[row], str(why)) for row, why in meta["failed"])
        valid = np.ones(count, dtype=bool)
        valid[[row for row, _ in meta["failed"]]] = False
    except FileNotFoundError:
        raise CacheError(f"{directory} is not an image cache (no {META_FILE})") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CacheError(f"{meta_file} is unreadable or malformed ({exc}); {rebuild}") from exc
    actual = image_file.stat().st_size if image_file.is_file() else None
    if len(paths) != count or actual != estimate_cache_bytes(count, size):
        raise CacheError(f"{image_file} does not match {meta_file} ({actual} bytes); {rebuild}")
    valid.setflags(write=False)
    array = np.memmap(image_file, dtype=np.uint8, mode="r", shape=(count, size, size, 3))
    return ImageCache(directory, size, paths, valid, failed, array)
