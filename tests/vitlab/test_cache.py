"""The decode-once image cache (vitlab/cache.py) and its decoding (vitlab/decode.py), on real
image files."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from vitlab import cache as cache_mod
from vitlab import decode as decode_mod
from vitlab.cache import (
    CacheError,
    build_cache,
    cache_key,
    cache_size_for,
    estimate_cache_bytes,
    open_cache,
)
from vitlab.decode import decode_image
from vitlab.errors import UserError

S = 32  # cache side used throughout: small images keep the file fast


def _pattern(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Asymmetric RGB content (gradients + blobs), so flips, rotations and crops show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([255 * x / width, 255 * y / height, 128 + 100 * np.sin(x / 23 + y / 29)], -1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _save(path: Path, kind: str, width: int, height: int) -> Path:
    rgb = Image.fromarray(_pattern(width, height))
    if kind == "jpeg":
        rgb.save(path, "JPEG", quality=92)
    elif kind == "png":
        rgb.save(path, "PNG")
    elif kind == "gray":
        rgb.convert("L").save(path, "PNG")
    elif kind == "gray16":
        gray = np.asarray(rgb.convert("L")).astype(np.uint16) * 257
        Image.fromarray(gray).save(path, "PNG")
    elif kind == "rgba":
        rgba = rgb.convert("RGBA")
        rgba.putalpha(Image.fromarray(np.full((height, width), 200, np.uint8)))
        rgba.save(path, "PNG")
    elif kind == "palette":
        rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(path, "PNG")
    elif kind == "cmyk":
        rgb.convert("CMYK").save(path, "JPEG", quality=92)
    elif kind == "exif_rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise on display
        rgb.save(path, "JPEG", quality=92, exif=exif)
    else:
        raise ValueError(kind)
    return path


def _reference(path: Path, size: int) -> np.ndarray:
    """Independent decode: exif transpose, RGB on white, shorter side to size, center crop."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode == "I;16":
            im = Image.fromarray((np.asarray(im) // 257).astype(np.uint8))
        if im.mode in ("RGBA", "LA"):
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im.convert("RGBA"))
        im = im.convert("RGB")
    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)))


# name, kind, width, height
GOOD = [
    ("photo.jpg", "jpeg", 120, 90),
    ("tall.jpg", "jpeg", 60, 140),
    ("rgb.png", "png", 64, 64),
    ("gray.png", "gray", 50, 80),
    ("gray16.png", "gray16", 48, 40),
    ("rgba.png", "rgba", 70, 40),
    ("palette.png", "palette", 40, 60),
    ("cmyk.jpg", "cmyk", 60, 45),
    ("tiny.jpg", "jpeg", 20, 24),  # smaller than S: upscaled
    ("rotated.jpg", "exif_rotated", 90, 50),
]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# name, how to make it, words expected in the reason
BAD = [
    ("truncated.jpg", lambda p: (_save(p, "jpeg", 200, 150), _truncate(p)), "truncated"),
    ("truncated.png", lambda p: (_save(p, "png", 200, 150), _truncate(p)), "Error"),
    ("empty.jpg", lambda p: p.write_bytes(b""), "cannot identify"),
    ("text.jpg", lambda p: p.write_text("not an image\n" * 20), "cannot identify"),
    ("missing.jpg", lambda p: None, "No such file"),
]


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    """Good and bad files interleaved, as absolute path strings."""
    folder = tmp_path / "images"
    folder.mkdir()
    paths = [str(_save(folder / name, kind, w, h)) for name, kind, w, h in GOOD]
    for i, (name, make, _) in enumerate(BAD):
        make(folder / name)
        paths.insert(2 * i + 1, str(folder / name))
    return paths


def _build(paths, root: Path, **kw):
    return build_cache(paths, size=S, root=root, progress=False, **kw)


@pytest.mark.parametrize("name, kind, width, height", GOOD)
def test_decode_matches_direct_pil(tmp_path, name, kind, width, height):
    path = _save(tmp_path / name, kind, width, height)
    got = decode_image(str(path), S)
    assert got.shape == (S, S, 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - _reference(path, S).astype(int))
    assert diff.mean() < 4.0, f"{name}: mean abs diff {diff.mean():.2f}"


def test_exif_rotation_and_alpha_are_applied(tmp_path):
    rotated = _save(tmp_path / "r.jpg", "exif_rotated", 90, 50)
    with Image.open(rotated) as im:  # the same file without exif_transpose looks different
        plain = np.asarray(im.convert("RGB").resize((S, S), box=(20, 0, 70, 50)))
    assert np.abs(decode_image(rotated, S).astype(int) - plain).mean() > 20

    clear = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # fully transparent black
    clear.save(tmp_path / "clear.png")
    assert (decode_image(tmp_path / "clear.png", S) == 255).all()  # shown on white


def test_16_bit_gray_is_rescaled_not_clipped(tmp_path):
    g8 = decode_image(_save(tmp_path / "g8.png", "gray", 48, 40), S).astype(int)
    g16 = decode_image(_save(tmp_path / "g16.png", "gray16", 48, 40), S).astype(int)
    assert np.abs(g8 - g16).max() <= 1


def test_build_layout_content_and_failures(tmp_path, images):
    c = _build(images, tmp_path / "cache", workers=0)
    assert c.array.shape == (len(images), S, S, 3) and c.array.dtype == np.uint8
    assert c.paths == tuple(images) and len(c) == len(images)
    assert c.directory.parent == tmp_path / "cache"
    assert c.directory.name == f"{cache_key(images, S)[:16]}-s{S}"
    assert sorted(p.name for p in c.directory.iterdir()) == ["failed.tsv", "images.u8", "meta.json"]

    bad_names = {name for name, _, _ in BAD}
    expected_valid = [Path(p).name not in bad_names for p in images]
    assert c.valid.tolist() == expected_valid
    for path, ok in zip(images, expected_valid, strict=True):
        row = c.array[c.row_of(path)]
        if ok:
            assert np.array_equal(row, decode_image(path, S))
        else:
            assert not row.any(), f"{path}: failed row must be zero"

    reasons = {Path(f.path).name: f.reason for f in c.failed}
    assert set(reasons) == bad_names
    for name, _, words in BAD:
        assert words in reasons[name], (name, reasons[name])
    lines = (c.directory / "failed.tsv").read_text().splitlines()
    assert lines[0] == "path\treason"
    assert {tuple(line.split("\t")) for line in lines[1:]} == {(f.path, f.reason) for f in c.failed}


@pytest.mark.parametrize(
    "label, make",
    [
        ("truncated jpeg", lambda p: (_save(p, "jpeg", 200, 150), _truncate(p))),
        ("zero bytes", lambda p: p.write_bytes(b"")),
    ],
)
def test_corrupt_file_alone_does_not_raise(tmp_path, label, make):
    make(tmp_path / "x.jpg")
    c = _build([str(tmp_path / "x.jpg")], tmp_path / "cache", workers=0)
    assert c.valid.tolist() == [False] and len(c.failed) == 1, label


def test_reopen_and_second_build_reuses_without_decoding(tmp_path, images, monkeypatch):
    first = _build(images, tmp_path / "cache", workers=0)
    inode = os.stat(first.directory / "images.u8").st_ino
    calls = []
    real = decode_mod.decode_image
    monkeypatch.setattr(decode_mod, "decode_image", lambda *a: calls.append(a) or real(*a))
    second = _build(images, tmp_path / "cache", workers=0)
    assert calls == [], "a complete cache must not be decoded again"
    assert os.stat(second.directory / "images.u8").st_ino == inode
    assert second.directory == first.directory
    assert np.array_equal(second.array, first.array)
    assert second.failed == first.failed and np.array_equal(second.valid, first.valid)
    reopened = open_cache(first.directory)
    assert reopened.paths == first.paths and np.array_equal(reopened.array, first.array)


@pytest.mark.parametrize(
    "change, same_key",
    [
        ("nothing", True),
        ("touch mtime", False),
        ("rewrite content", False),
        ("reorder", False),
        ("other size", False),
        ("delete a file", False),
    ],
)
def test_cache_key_changes_with_inputs(tmp_path, change, same_key):
    paths = [str(_save(tmp_path / f"{i}.jpg", "jpeg", 40, 30)) for i in range(3)]
    before = cache_key(paths, S)
    size = S
    if change == "touch mtime":
        st = os.stat(paths[1])
        os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    elif change == "rewrite content":
        Image.fromarray(_pattern(41, 30, seed=5)).save(paths[1], "JPEG")
    elif change == "reorder":
        paths = paths[::-1]
    elif change == "other size":
        size = S + 1
    elif change == "delete a file":
        os.remove(paths[0])
    after = cache_key(paths, size)
    assert len(after) == 64
    assert (after == before) is same_key


def test_changed_file_builds_a_new_cache(tmp_path):
    paths = [str(_save(tmp_path / f"{i}.jpg", "jpeg", 40, 30)) for i in range(3)]
    first = _build(paths, tmp_path / "cache", workers=0)
    Image.fromarray(_pattern(40, 30, seed=9)).save(paths[2], "JPEG")
    second = _build(paths, tmp_path / "cache", workers=0)
    assert second.directory != first.directory
    assert not np.array_equal(second.array[2], first.array[2])


def test_multi_worker_build_equals_in_process(tmp_path, images):
    serial = _build(images, tmp_path / "a", workers=0)
    parallel = _build(images, tmp_path / "b", workers=2)
    assert serial.directory.name == parallel.directory.name
    assert (serial.directory / "images.u8").read_bytes() == (
        parallel.directory / "images.u8"
    ).read_bytes()
    assert serial.failed == parallel.failed
    assert np.array_equal(serial.valid, parallel.valid)


def _interrupt_on_third_call(monkeypatch):
    calls = []
    real = decode_mod.decode_image

    def decode(path, size):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(decode_mod, "decode_image", decode)


def _fail_writing_results(monkeypatch):
    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_mod, "_write_results", fail)


@pytest.mark.parametrize(
    "how, workers, exc",
    [
        ("ctrl-c while decoding", 0, KeyboardInterrupt),
        ("ctrl-c while decoding", 2, KeyboardInterrupt),
        ("error writing meta", 0, OSError),
    ],
)
def test_interrupted_build_leaves_nothing(tmp_path, images, monkeypatch, how, workers, exc):
    if workers > 1 and multiprocessing.get_start_method() != "fork":
        pytest.skip("the monkeypatch reaches worker processes only when they are forked")
    setup = _interrupt_on_third_call if how.startswith("ctrl-c") else _fail_writing_results
    setup(monkeypatch)
    root = tmp_path / "cache"
    with pytest.raises(exc):
        _build(images, root, workers=workers)
    assert list(root.iterdir()) == [], "neither a final nor a partial directory may remain"
    monkeypatch.undo()
    assert _build(images, root, workers=0).valid.sum() == len(GOOD)  # a retry builds cleanly


def test_pickle_reopens_instead_of_copying_pixels(tmp_path, images):
    c = _build(images, tmp_path / "cache", workers=0)
    blob = pickle.dumps(c)
    assert len(blob) < c.array.nbytes / 4
    clone = pickle.loads(blob)
    assert clone.directory == c.directory and clone.paths == c.paths
    assert isinstance(clone.array, np.memmap) and np.array_equal(clone.array, c.array)


def test_rows_row_of_and_read_only(tmp_path, images):
    c = _build(images, tmp_path / "cache", workers=0)
    rows = c.rows([images[3], images[0]])
    assert rows.dtype == np.int64 and rows.tolist() == [3, 0]
    # read() returns the rows' images in the order asked, whatever order it reads them in.
    batch = c.read(np.array([4, 0, 4, 2]))
    assert batch.shape == (4, S, S, 3) and batch.dtype == np.uint8
    assert np.array_equal(batch, np.asarray(c.array)[[4, 0, 4, 2]])
    with pytest.raises(KeyError, match="nope.jpg"):
        c.row_of("/nope.jpg")
    with pytest.raises(ValueError):
        c.array[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        c.valid[0] = False


@pytest.mark.parametrize(
    "paths, size, message",
    [
        ([], S, "empty"),
        (["/a.jpg", "/b.jpg", "/a.jpg"], S, "/a.jpg appears more than once"),
        (["/a.jpg"], 0, "positive"),
    ],
)
def test_bad_arguments_raise_user_errors(tmp_path, paths, size, message):
    with pytest.raises(CacheError, match=message) as info:
        build_cache(paths, size=size, root=tmp_path, progress=False)
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "meta.json").unlink(), "not an image cache"),
        (lambda d: (d / "meta.json").write_text("{"), "malformed"),
        (lambda d: (d / "images.u8").write_bytes(b"\0" * 10), "does not match"),
        (lambda d: (d / "images.u8").unlink(), "does not match"),
    ],
)
def test_open_damaged_cache_names_the_file(tmp_path, images, damage, message):
    c = _build(images, tmp_path / "cache", workers=0)
    del c
    directory = next((tmp_path / "cache").iterdir())
    damage(directory)
    with pytest.raises(CacheError, match=message) as info:
        open_cache(directory)
    assert str(directory) in str(info.value)


def test_progress_reports_failures_on_stderr(tmp_path, images, capsys):
    build_cache(images, size=S, root=tmp_path / "cache", workers=0, progress=True)
    err = capsys.readouterr().err
    assert f"{len(BAD)} failed" in err and "failed.tsv" in err
    build_cache(images, size=S, root=tmp_path / "cache", workers=0, progress=True)
    assert "reusing" in capsys.readouterr().err


@pytest.mark.parametrize(
    "image_size, crop_pct, expected",
    [
        (224, 0.875, 256),
        (32, 0.875, 37),
        (384, 1.0, 384),
        (256, 0.875, 293),
        (224, 0.9, 249),
        (299, 0.875, 342),
    ],
)
def test_cache_size_for(image_size, crop_pct, expected):
    assert cache_size_for(image_size, crop_pct) == expected


@pytest.mark.parametrize("image_size, crop_pct", [(0, 0.875), (224, 0.0), (224, 1.5)])
def test_cache_size_for_rejects_bad_values(image_size, crop_pct):
    with pytest.raises(CacheError):
        cache_size_for(image_size, crop_pct)


def test_estimate_cache_bytes():
    assert estimate_cache_bytes(118126, 256) == 118126 * 256 * 256 * 3
    assert estimate_cache_bytes(0, 256) == 0
