"""Decoding image files into rows of the cache's memory map, in worker processes.

One file becomes an RGB uint8 square (:func:`decode_image`: shorter side to the size, centre
crop, any Pillow mode to RGB). :func:`decode_into` decodes a whole list into a preallocated
``images.u8`` in parallel: each worker writes its own rows into the shared file, so no pixel data
is pickled back, and an image that cannot be decoded leaves its row zero and a reason.
"""

from __future__ import annotations

import math
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

Failures = list[tuple[int, str]]  # (row, reason) of the images that could not be decoded


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """Decode one file to an RGB uint8 (size, size, 3) array: shorter side to ``size``, center crop.

    The square keeps the whole center of the image; the training pipeline takes its random or
    center crop from it later, so the cache does not depend on any augmentation setting.
    Raises whatever Pillow raises for unreadable, truncated or non-image files.
    """
    with Image.open(path) as im:
        # JPEG only: let libjpeg decode at 1/2, 1/4 or 1/8 scale while both sides stay >= size;
        # large photos decode several times faster. A no-op for other formats.
        im.draft(im.mode, (size, size))
        # load() now, with ImageFile.LOAD_TRUNCATED_IMAGES left False, so truncated files raise
        # here instead of being padded with grey.
        im.load()
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block should not cost an otherwise readable image
            pass
        im = _to_rgb(im)
    width, height = im.size
    side = min(width, height)
    box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
    # Resizing only the central square box equals "shorter side to size, then center crop",
    # in one pass and without resampling the margins that would be cropped away.
    out = im.resize((size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB."""
    if im.mode == "RGB":
        return im
    if im.mode == "I" or im.mode.startswith("I;16"):
        # convert() would clip 16-bit values at 255 (a white image); rescale 0..65535 instead.
        gray = np.clip(np.rint(np.asarray(im, dtype=np.float64) / 257.0), 0, 255)
        return Image.fromarray(gray.astype(np.uint8)).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        # Composite onto white: transparent pixels often hide black or junk RGB values, and
        # white is how they are usually displayed.
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, no tabs: fits the TSV


def _chunks(count: int, workers: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges: ~8 per worker so all cores stay busy until the end."""
    step = max(1, min(256, math.ceil(count / (max(workers, 1) * 8))))
    return [(start, min(start + step, count)) for start in range(0, count, step)]


def _build_chunk(image_file: str, count: int, size: int, start: int, paths: list[str]) -> Failures:
    """Decode ``paths`` into rows ``start...`` of the memmap; return [(row, reason)] of failures.

    Runs in a worker process: it writes its rows into the shared file itself, so no pixel data
    is pickled back to the parent.
    """
    rows = np.memmap(image_file, dtype=np.uint8, mode="r+", shape=(count, size, size, 3))
    failures: Failures = []
    for offset, path in enumerate(paths):
        try:
            rows[start + offset] = decode_image(path, size)
        except Exception as exc:  # any error means "skip this image", never "abort the build"
            rows[start + offset] = 0
            failures.append((start + offset, _reason(exc)))
    rows.flush()
    del rows
    return failures


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent should react (and clean up).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def decode_into(
    image_file: Path, paths: list[str], size: int, workers: int, progress: bool
) -> Failures:
    """Decode every path into its row of ``image_file`` (an existing, zero-filled uint8
    (len(paths), size, size, 3) file); return the failures as sorted [(row, reason)]."""
    count = len(paths)
    chunks = _chunks(count, workers)
    failures: Failures = []
    bar = tqdm(
        total=count, desc="caching images", unit="img", file=sys.stderr, disable=not progress
    )
    with bar:
        if workers <= 1 or len(chunks) == 1:
            for start, stop in chunks:
                failures += _build_chunk(str(image_file), count, size, start, paths[start:stop])
                bar.update(stop - start)
            return sorted(failures)
        pool = ProcessPoolExecutor(min(workers, len(chunks)), initializer=_ignore_sigint)
        try:
            todo = {
                pool.submit(_build_chunk, str(image_file), count, size, a, paths[a:b]): b - a
                for a, b in chunks
            }
            for future in as_completed(todo):
                failures += future.result()
                bar.update(todo[future])
                bar.set_postfix(failed=len(failures), refresh=False)
        finally:
            # After an error or Ctrl-C, drop queued chunks and wait for running ones, so no
            # worker still writes into a directory the caller is about to delete.
            pool.shutdown(wait=True, cancel_futures=True)
    return sorted(failures)
