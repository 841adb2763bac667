"""Split invariants, table-style over class-count tables."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from vitlab.manifest import Record, read_manifest
from vitlab.split import (
    Split,
    split_counts,
    stratified_split,
    summarize,
    write_split,
)


def make_records(counts: dict[str, int], root: str = "/data") -> list[Record]:
    return [
        Record(path=f"{root}/{label}/{i:04d}.jpg", label=label, key=f"{label}/{i:04d}.jpg")
        for label, n in counts.items()
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("n", "val_frac", "test_frac", "expected"),
    [
        (1, 0.1, 0.1, (1, 0, 0)),
        (2, 0.1, 0.1, (1, 1, 0)),
        (3, 0.1, 0.1, (2, 1, 0)),
        (9, 0.1, 0.1, (8, 1, 0)),
        (10, 0.1, 0.1, (8, 1, 1)),
        (19, 0.1, 0.1, (17, 1, 1)),
        (20, 0.1, 0.1, (16, 2, 2)),
        (30, 0.1, 0.1, (24, 3, 3)),  # 0.1 * 30 is 3.0000000000000004 in floats
        (100, 0.1, 0.1, (80, 10, 10)),
        (10, 0.7, 0.0, (3, 7, 0)),  # 0.7 * 10 is 6.999999999999999 in floats
        (10, 0.2, 0.3, (5, 2, 3)),
        (3, 0.5, 0.4, (1, 1, 1)),
        (3, 0.0, 0.9, (1, 1, 1)),  # val forced to 1 overflows: test gives one back
        (4, 0.5, 0.45, (1, 2, 1)),
        (2, 0.0, 0.0, (1, 1, 0)),  # n = 2 always validates one image
        (5, 0.0, 0.0, (4, 1, 0)),  # val is at least 1
    ],
)
def test_split_counts_table(n, val_frac, test_frac, expected):
    assert split_counts(n, val_frac, test_frac) == expected


@pytest.mark.parametrize("n", range(2, 60))
@pytest.mark.parametrize(
    ("val_frac", "test_frac"), [(0.1, 0.1), (0.3, 0.3), (0.0, 0.9), (0.9, 0.05)]
)
def test_split_counts_keeps_one_train_and_one_val(n, val_frac, test_frac):
    train, val, test = split_counts(n, val_frac, test_frac)
    assert train >= 1 and val >= 1 and test >= 0 and train + val + test == n


@pytest.mark.parametrize(
    ("val_frac", "test_frac"), [(-0.1, 0.1), (1.0, 0.0), (0.5, 0.5), (0.1, float("nan"))]
)
def test_bad_fractions_name_the_value(val_frac, test_frac):
    with pytest.raises(ValueError, match="frac"):
        split_counts(10, val_frac, test_frac)


COUNT_TABLES = {
    "seed-like tail": {"a": 1, "b": 1, "c": 2, "d": 3, "e": 5, "f": 10, "g": 37, "h": 120},
    "all singletons": {"a": 1, "b": 1, "c": 1},
    "all pairs": {"a": 2, "b": 2},
    "one big class": {"big": 500},
    "many mid classes": {f"class{i:03d}": 3 + i % 17 for i in range(60)},
}


@pytest.mark.parametrize("counts", COUNT_TABLES.values(), ids=COUNT_TABLES.keys())
def test_per_class_counts_disjoint_and_val_in_train(counts):
    split = stratified_split(make_records(counts), seed=7)
    per_split = {name: Counter(r.label for r in part) for name, part in split.parts().items()}
    for label, n in counts.items():
        got = tuple(per_split[name][label] for name in ("train", "val", "test"))
        assert got == split_counts(n)
    paths = [r.path for part in split.parts().values() for r in part]
    assert len(paths) == len(set(paths)) == sum(counts.values())
    assert set(per_split["val"]) <= set(per_split["train"])
    assert set(per_split["test"]) <= set(per_split["train"])


def _split_bytes(split: Split, out: Path) -> dict[str, bytes]:
    write_split(split, out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("counts", COUNT_TABLES.values(), ids=COUNT_TABLES.keys())
def test_byte_identical_across_runs_and_line_order(counts, tmp_path):
    records = make_records(counts)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    first = _split_bytes(stratified_split(records, seed=3), tmp_path / "a")
    again = _split_bytes(stratified_split(records, seed=3), tmp_path / "b")
    reordered = _split_bytes(stratified_split(shuffled, seed=3), tmp_path / "c")
    assert first == again == reordered
    assert set(first) == {"train.jsonl", "val.jsonl", "test.jsonl", "split_summary.json"}


def test_seed_changes_membership_but_not_counts():
    records = make_records({"x": 50, "y": 20})
    a, b = stratified_split(records, seed=0), stratified_split(records, seed=1)
    assert {r.key for r in a.val} != {r.key for r in b.val}
    assert len(a.val) == len(b.val) and len(a.test) == len(b.test)


def test_adding_a_class_does_not_reshuffle_the_others():
    base = make_records({"x": 40, "y": 13})
    grown = base + make_records({"z": 25})
    before, after = stratified_split(base, seed=5), stratified_split(grown, seed=5)
    for name in ("train", "val", "test"):
        old = {r.key for r in before.parts()[name]}
        new = {r.key for r in after.parts()[name] if r.label != "z"}
        assert old == new


def test_written_files_read_back_to_the_same_images(tmp_path):
    img_root = tmp_path / "imgs"
    counts = {"rosa": 4, "quercus": 2, "ficus": 1}
    for label, n in counts.items():
        (img_root / label).mkdir(parents=True)
        for i in range(n):
            (img_root / label / f"{i}.jpg").write_bytes(b"x")
    manifest = read_manifest(img_root)
    split = stratified_split(manifest.records, seed=0)
    out = tmp_path / "results" / "split"
    write_split(split, out)
    for name, part in split.parts().items():
        back = read_manifest(out / f"{name}.jsonl") if part else None
        if back is not None:
            assert [(r.path, r.label) for r in back.records] == [(r.path, r.label) for r in part]
    line = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert not Path(line["path"]).is_absolute()  # no machine-specific absolute paths


def test_summary_reproduces_the_seed_table():
    # 3 singletons, 2 pairs, 2 classes with 3+ images (10 and 20).
    counts = {"s1": 1, "s2": 1, "s3": 1, "p1": 2, "p2": 2, "m": 10, "l": 20}
    summary = summarize(stratified_split(make_records(counts)))
    assert summary["classes"] == 7
    assert summary["classes_per_split"] == {"train": 7, "val": 4, "test": 2}
    assert summary["images_per_split"] == {"train": 29, "val": 5, "test": 3}
    assert summary["val_train_overlap"] == 4
    assert summary["classes_only_in_val"] == 0
    assert (
        summary["classes_with_1_image"],
        summary["classes_with_2_images"],
        summary["classes_with_3plus_images"],
    ) == (3, 2, 2)
    assert summary["singleton_fraction"] == round(3 / 7, 4)
    assert summary["mean_images_per_class"] == {"train": round(29 / 7, 2), "val": 1.25, "test": 1.5}


def test_summary_flags_classes_only_in_val_of_a_user_split():
    train = make_records({"a": 3})
    val = make_records({"a": 1, "b": 1}, root="/val")
    summary = summarize(Split(tuple(train), tuple(val)))
    assert summary["classes_only_in_val"] == 1
    assert summary["val_train_overlap"] == 1


def test_writers_racing_on_one_split_file_never_collide(tmp_path):
    """Workers starting together all rewrite the split: each write uses a temp file of its own."""
    from concurrent.futures import ThreadPoolExecutor

    from vitlab.split import _write_atomic

    target = tmp_path / "train.jsonl"
    texts = [f"line {i}\n" * 2000 for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: _write_atomic(target, t), texts * 4))
    assert target.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]  # no temp file left behind
