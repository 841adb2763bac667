"""Manifest readers: the formats, path resolution, and errors that name file, line and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitlab.errors import ManifestError
from vitlab.manifest import read_manifest, write_missing_report


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for label, names in {"rosa": ["1.jpg", "2.jpg"], "ficus": ["3.png"]}.items():
        (root / label).mkdir(parents=True)
        for name in names:
            (root / label / name).write_bytes(b"img")
    return root


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("image_key", "label_key"),
    [("path", "label"), ("image", "class"), ("file", "species"), ("filepath", "category")],
)
def test_jsonl_default_fields(tmp_path, images, image_key, label_key):
    manifest = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {image_key: "images/rosa/1.jpg", label_key: "rosa", "genus": "Rosa"},
            {image_key: "images/ficus/3.png", label_key: "ficus"},
        ],
    )
    m = read_manifest(manifest)
    assert [(Path(r.path), r.label) for r in m.records] == [
        (images / "rosa/1.jpg", "rosa"),
        (images / "ficus/3.png", "ficus"),
    ]
    assert m.records[0].extra == {"genus": "Rosa"}  # extra fields are kept
    assert m.records[0].key == "images/rosa/1.jpg"


def test_configured_fields_and_image_root(tmp_path, images):
    (tmp_path / "sub").mkdir()
    manifest = write_jsonl(tmp_path / "sub" / "m.jsonl", [{"img": "rosa/2.jpg", "taxon": 12}])
    m = read_manifest(manifest, image_field="img", label_field="taxon", image_root=images)
    assert (Path(m.records[0].path), m.records[0].label) == (images / "rosa/2.jpg", "12")


def test_csv_with_header(tmp_path, images):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "file,species,family\nimages/rosa/1.jpg,rosa,Rosaceae\nimages/ficus/3.png,ficus,Moraceae\n"
    )
    m = read_manifest(manifest)
    assert [r.label for r in m.records] == ["rosa", "ficus"]
    assert m.records[1].extra == {"family": "Moraceae"}
    assert m.records[1].line == 3


def test_image_folder_one_subfolder_per_class(images):
    (images / "notes.txt").write_text("ignored")
    (images / "rosa" / "readme.md").write_text("not an image")
    m = read_manifest(images)
    assert [(r.key, r.label) for r in m.records] == [
        ("ficus/3.png", "ficus"),
        ("rosa/1.jpg", "rosa"),
        ("rosa/2.jpg", "rosa"),
    ]


BAD_JSONL = [
    (
        "malformed",
        ['{"path": "a.jpg", "label": "x"}', '{"path": "b.jpg", "label": '],
        r"m\.jsonl, line 2: malformed JSON",
    ),
    ("not an object", ['["a.jpg", "x"]'], r"line 1: expected a JSON object, got list"),
    (
        "missing label",
        ['{"path": "a.jpg", "label": "x"}', '{"path": "b.jpg"}'],
        r"line 2: missing field 'label'",
    ),
    (
        "no known fields",
        ['{"picture": "a.jpg", "label": "x"}'],
        r"line 1: no image field: expected one of path, image.*found picture, label",
    ),
    ("empty label", ['{"path": "a.jpg", "label": "  "}'], r"line 1: empty 'label'"),
    ("null label", ['{"path": "a.jpg", "label": null}'], r"line 1: missing field 'label'"),
    (
        "list label",
        ['{"path": "a.jpg", "label": ["x"]}'],
        r"line 1: field 'label' must be a string",
    ),
    ("empty file", [], r"m\.jsonl: the manifest is empty"),
    ("blank lines only", ["", "  "], r"the manifest is empty"),
    (
        "conflicting labels",
        ['{"path": "a.jpg", "label": "x"}', '{"path": "a.jpg", "label": "y"}'],
        r"line 2: image 'a.jpg' has label 'y' here but 'x' on line 1",
    ),
]


@pytest.mark.parametrize(
    ("lines", "message"), [(b[1], b[2]) for b in BAD_JSONL], ids=[b[0] for b in BAD_JSONL]
)
def test_bad_jsonl_names_file_line_and_problem(tmp_path, lines, message):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(line + "\n" for line in lines))
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    with pytest.raises(ManifestError, match=message) as info:
        read_manifest(manifest)
    assert str(manifest) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty: no header"),
        ("path,label\n", r"the manifest is empty"),
        ("path,label\na.jpg,x,extra\n", r"line 2: more values than header columns"),
        ("path,label\na.jpg,\n", r"line 2: empty 'label'"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(ManifestError, match=message):
        read_manifest(manifest)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nope.jsonl", r"no such file"),
        (lambda d: (d / "m.txt").write_text("x") and d / "m.txt", r"unknown manifest type '.txt'"),
        (lambda d: (d / "flat").mkdir() or d / "flat", r"one sub-folder per class"),
    ],
    ids=["absent", "unknown type", "folder without classes"],
)
def test_bad_sources(tmp_path, make, message):
    with pytest.raises(ManifestError, match=message):
        read_manifest(make(tmp_path))


def test_missing_images_are_skipped_counted_and_listed(tmp_path, images):
    manifest = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"path": "images/rosa/1.jpg", "label": "rosa"},
            {"path": "images/rosa/gone.jpg", "label": "rosa"},
            {"path": "images/ficus/3.png", "label": "ficus"},
            {"path": "images/ficus/lost.png", "label": "ficus"},
        ],
    )
    m = read_manifest(manifest)
    assert len(m.records) == 2
    assert [(x.line, Path(x.path).name) for x in m.missing] == [(2, "gone.jpg"), (4, "lost.png")]
    report = tmp_path / "missing.txt"
    write_missing_report(m, report)
    lines = report.read_text().splitlines()
    assert lines[0].startswith("# 2 image file(s)") and lines[1].startswith("2\t")

    with pytest.raises(ManifestError, match=r"2 image file\(s\) not found"):
        read_manifest(manifest, on_missing="error")


def test_all_images_missing_points_at_image_root(tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"path": "x/1.jpg", "label": "a"}])
    with pytest.raises(ManifestError, match=r"none of the 1 listed image files exists.*image-root"):
        read_manifest(manifest)


def test_duplicate_lines_are_dropped_and_counted(tmp_path, images):
    row = {"path": "images/rosa/1.jpg", "label": "rosa"}
    m = read_manifest(write_jsonl(tmp_path / "m.jsonl", [row, row]))
    assert len(m.records) == 1 and m.duplicates == 1
