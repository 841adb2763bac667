"""Tests for the procedurally generated long-tailed demo dataset (vitlab.demo)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitlab import demo
from vitlab.demo import DemoSpec, class_counts, make_demo_dataset, noisy_labels
from vitlab.errors import UserError
from vitlab.species import class_attributes, class_names, render_image

SMALL = DemoSpec(num_classes=24, max_images=12, mean_images=4.0)


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root, keyed by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _rows(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text().splitlines()]


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default dataset, generated once for the module; returns its manifest."""
    return make_demo_dataset(tmp_path_factory.mktemp("a") / "demo", progress=False)


# --- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("class_index", [0, 57, 123, 199])
def test_render_image_is_deterministic_and_varied(class_index: int) -> None:
    def draw(i: int) -> np.ndarray:
        return render_image(class_index, np.random.default_rng([0, class_index, i]), DemoSpec())

    first = draw(0)
    assert first.dtype == np.uint8 and first.shape == (40, 40, 3)
    assert np.array_equal(first, draw(0))
    assert not np.array_equal(first, draw(1))


@pytest.mark.parametrize("size", [16, 40, 64])
def test_render_image_size(size: int) -> None:
    img = render_image(5, np.random.default_rng(1), DemoSpec(image_size=size))
    assert img.shape == (size, size, 3)


# --- class counts: the long tail -------------------------------------------------------------


def test_default_counts_have_the_seed_long_tail() -> None:
    counts = class_counts(DemoSpec())
    assert len(counts) == 200
    assert 0.25 <= sum(c == 1 for c in counts) / 200 <= 0.31
    assert 60 <= max(counts) <= 120 and min(counts) == 1
    assert 2500 <= sum(counts) <= 4000
    assert 3 <= np.median(counts) <= 8  # a Zipf-like middle, not a few giants plus singletons
    assert counts == class_counts(DemoSpec())  # pure


@pytest.mark.parametrize(
    ("spec", "n_classes", "n_singletons", "largest", "total_range"),
    [
        (DemoSpec(), 200, 56, 120, (2900, 3100)),
        (DemoSpec(seed=7), 200, 56, 120, (2900, 3100)),
        (DemoSpec(num_classes=50), 50, 14, 120, (650, 850)),
        (DemoSpec(singleton_fraction=0.0), 200, 0, 120, (2900, 3100)),
        (DemoSpec(max_images=30, mean_images=8.0), 200, 56, 30, (1500, 1700)),
        (SMALL, 24, 7, 12, (80, 110)),
        (DemoSpec(num_classes=1), 1, 0, 120, (120, 120)),
    ],
)
def test_class_counts_table(
    spec: DemoSpec, n_classes: int, n_singletons: int, largest: int, total_range: tuple
) -> None:
    counts = class_counts(spec)
    assert len(counts) == n_classes
    assert sum(c == 1 for c in counts) == n_singletons
    assert max(counts) == largest
    assert total_range[0] <= sum(counts) <= total_range[1]


def test_seed_shuffles_which_classes_are_in_the_tail() -> None:
    a, b = class_counts(DemoSpec(seed=0)), class_counts(DemoSpec(seed=1))
    assert sorted(a) == sorted(b) and a != b
    # Tail-ness is not confounded with one attribute: every shape and texture has singletons.
    singles = [class_attributes(c) for c, n in enumerate(a) if n == 1]
    assert {s for s, _, _ in singles} == set(range(8))
    assert {t for _, _, t in singles} == set(range(5))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 0},
        {"num_classes": 201},
        {"image_size": 8},
        {"singleton_fraction": 1.0},
        {"max_images": 1},
        {"label_noise": 1.0},
        {"label_noise": -0.1},
    ],
)
def test_bad_spec_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DemoSpec(**kwargs)


# --- label noise -----------------------------------------------------------------------------


def test_no_label_noise_labels_every_image_as_drawn() -> None:
    spec = DemoSpec(label_noise=0.0)
    assert noisy_labels(spec) == [[c] * n for c, n in enumerate(class_counts(spec))]


@pytest.mark.parametrize(("noise", "low", "high"), [(0.1, 0.08, 0.12), (0.2, 0.18, 0.23)])
def test_label_noise_rate_and_targets(noise: float, low: float, high: float) -> None:
    spec = DemoSpec(label_noise=noise)
    counts, labels = class_counts(spec), noisy_labels(spec)
    assert [len(x) for x in labels] == counts
    wrong = [(c, y) for c, ys in enumerate(labels) for y in ys if y != c]
    assert low <= len(wrong) / sum(counts) <= high
    # Wrong labels are drawn uniformly, whatever the class's size: the 20 biggest classes (10 %)
    # get about 10 % of them (in proportion to size they would get over 40 %).
    head = set(np.argsort(counts)[-20:].tolist())
    assert sum(y in head for _, y in wrong) / len(wrong) < 0.2
    assert len({y for _, y in wrong}) >= 0.5 * min(len(wrong), spec.num_classes)
    assert noisy_labels(spec) == labels  # pure: the same spec, the same labels


def test_label_noise_floods_the_tail_with_foreign_images() -> None:
    # Why the demo overfits: a species with one or two images of its own also holds a few
    # random foreign ones, and memorising those is learning noise.
    spec = DemoSpec()
    counts, labels = class_counts(spec), noisy_labels(spec)
    received = Counter(y for c, ys in enumerate(labels) for y in ys if y != c)
    tail = [c for c, n in enumerate(counts) if n <= 2]
    own = sum(sum(y == c for y in labels[c]) for c in tail)
    assert sum(received[c] for c in tail) > own


# --- the generated files ---------------------------------------------------------------------


def test_manifest_rows_and_images(default_demo: Path) -> None:
    rows = _rows(default_demo)
    assert len(rows) == sum(class_counts(DemoSpec()))
    for row in rows:
        assert set(row) == {"path", "label", "genus", "family", "drawn"}
        with Image.open(default_demo.parent / row["path"]) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (40, 40))
    # Taxonomy: 200 species drawn, in 40 genera in 8 families, each level nested in the next.
    assert len({r["drawn"] for r in rows}) == 200
    labelled = {(r["label"], r["genus"], r["family"]) for r in rows}
    assert len(labelled) == len({r["label"] for r in rows}) >= 180
    assert len({r["genus"] for r in rows}) == 40
    assert len({(r["genus"], r["family"]) for r in rows}) == 40
    assert len({r["family"] for r in rows}) == 8
    sizes = Counter(r["drawn"] for r in rows)
    assert sorted(sizes.values()) == sorted(class_counts(DemoSpec()))
    # The labels are noisy_labels(), image by image.
    names = {c: class_names(c)["label"] for c in range(200)}
    expected = [names[y] for ys in noisy_labels(DemoSpec()) for y in ys]
    assert [r["label"] for r in rows] == expected
    stamp = json.loads((default_demo.parent / "demo.json").read_text())
    assert stamp["spec"]["num_classes"] == 200 and "format_version" in stamp


def test_generation_is_byte_identical(default_demo: Path, tmp_path: Path) -> None:
    again = make_demo_dataset(tmp_path / "other", progress=False)
    first, second = _hashes(default_demo.parent), _hashes(again.parent)
    assert len(first) == sum(class_counts(DemoSpec())) + 2  # images + manifest + stamp
    assert first == second
    # ...and no two images in the whole dataset are the same file.
    images = [h for p, h in first.items() if p.endswith(".png")]
    assert len(set(images)) == len(images)


def test_generation_is_idempotent(tmp_path: Path, monkeypatch, capsys) -> None:
    root = tmp_path / "demo"
    manifest = make_demo_dataset(root, SMALL)
    assert f"{sum(class_counts(SMALL))} images of 24 classes" in capsys.readouterr().err
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}

    def boom(*args, **kwargs):
        raise AssertionError("must not re-render an up-to-date dataset")

    monkeypatch.setattr(demo, "render_image", boom)
    assert make_demo_dataset(root, SMALL) == manifest
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before
    assert capsys.readouterr().err == ""


def test_a_different_spec_regenerates_in_place(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    make_demo_dataset(root, SMALL, progress=False)
    other = DemoSpec(num_classes=24, max_images=12, mean_images=4.0, seed=3)
    manifest = make_demo_dataset(root, other, progress=False)
    assert json.loads((root / "demo.json").read_text())["spec"]["seed"] == 3
    assert _hashes(root) == _hashes(make_demo_dataset(tmp_path / "fresh", other).parent)
    assert manifest.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["demo", "fresh"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("existing", [False, True])
def test_interrupted_generation_leaves_nothing_half_done(
    tmp_path: Path, monkeypatch, error: type[BaseException], existing: bool
) -> None:
    root = tmp_path / "demo"
    if existing:  # an older complete dataset must survive a failed regeneration untouched
        make_demo_dataset(root, SMALL, progress=False)
        before = _hashes(root)
    real, calls = demo.render_image, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) > 10:
            raise error("interrupted")
        return real(*args, **kwargs)

    monkeypatch.setattr(demo, "render_image", flaky)
    with pytest.raises(error):
        make_demo_dataset(root, DemoSpec(num_classes=24, seed=5), progress=False)
    if existing:
        assert _hashes(root) == before
        assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    else:
        assert not (root / "manifest.jsonl").exists()
        assert list(tmp_path.iterdir()) == []  # no temp dir left behind


def test_refuses_to_overwrite_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(UserError, match="not a demo dataset"):
        make_demo_dataset(tmp_path, SMALL, progress=False)
    assert (tmp_path / "mine.txt").read_text() == "precious"


# --- a real, learnable signal ----------------------------------------------------------------


def test_classes_are_learnable_but_not_memorisable_copies(default_demo: Path) -> None:
    rows = _rows(default_demo)
    labels = sorted({r["drawn"] for r in rows})  # the signal in the pixels, without label noise
    y = np.array([labels.index(r["drawn"]) for r in rows])
    imgs = np.stack([np.asarray(Image.open(default_demo.parent / r["path"])) for r in rows])
    x = imgs.astype(np.float32).reshape(len(rows), 8, 5, 8, 5, 3).mean((2, 4)) / 255.0
    x = x.reshape(len(rows), -1)  # 8x8x3 downsampled pixels

    # Stratified split: hold out the last image of every class with >= 3 images.
    counts = np.bincount(y, minlength=len(labels))
    test = np.zeros(len(y), bool)
    for k in np.flatnonzero(counts >= 3):
        test[np.flatnonzero(y == k)[-1]] = True
    train = ~test
    means = np.stack([x[train & (y == k)].mean(0) for k in range(len(labels))])
    dists = ((x[test][:, None, :] - means[None]) ** 2).sum(-1)
    acc = float((dists.argmin(1) == y[test]).mean())
    print(f"nearest-class-mean held-out accuracy: {acc:.3f} on {test.sum()} images")
    assert acc >= 10 / len(labels)  # >= 10x chance

    # Images within a class differ a lot (RMS pixel distance in [0, 1]).
    pix = imgs.reshape(len(rows), -1).astype(np.float32) / 255.0
    for k in np.flatnonzero(counts >= 2):
        z = pix[y == k][:20]
        d = np.sqrt(((z[:, None] - z[None]) ** 2).mean(-1))[np.triu_indices(len(z), 1)]
        assert d.mean() > 0.1, labels[k]
