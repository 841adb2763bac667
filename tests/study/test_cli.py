"""The CLI as a user runs it: subprocesses, exit codes, and no tracebacks on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def study(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "study", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_lists_subcommands_each_with_help():
    top = study("--help")
    assert top.returncode == 0
    commands = ["run", "dashboard", "split", "cache", "train", "pretrain", "demo"]
    # argparse lists each subcommand indented by four spaces, its help after it (or below it).
    assert re.findall(r"^    (\w+)", top.stdout, flags=re.MULTILINE) == commands, top.stdout
    for name in commands:
        assert re.search(rf"^    {name}(?: +|\n {{6,}})\S", top.stdout, flags=re.MULTILINE), name
        sub = study(name, "--help")
        assert sub.returncode == 0 and f"python -m study {name}" in sub.stdout


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    lines = []
    for c, n in {"rosa": 12, "ficus": 3, "acer": 2, "betula": 1}.items():
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(n):
            (tmp_path / "img" / c / f"{i}.jpg").write_bytes(b"x")
            lines.append({"image": f"img/{c}/{i}.jpg", "species": c})
    lines.append({"image": "img/rosa/absent.jpg", "species": "rosa"})
    path = tmp_path / "plants.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_split_writes_files_summary_and_missing_report(tmp_path, manifest):
    out = tmp_path / "split"
    r = study("split", "--manifest", str(manifest), "--out", str(out), "--seed", "4")
    assert r.returncode == 0, r.stderr
    assert "classes only in val   0" in r.stdout
    assert "skipped 1 missing image file(s)" in r.stdout
    summary = json.loads((out / "split_summary.json").read_text())
    assert summary["images_per_split"] == {"train": 14, "val": 3, "test": 1}
    assert summary["missing_images"] == 1 and summary["seed"] == 4
    assert "absent.jpg" in (out / "missing_images.txt").read_text()
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert (
        study("split", "--manifest", str(manifest), "--out", str(out), "--seed", "4").returncode
        == 0
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            '{"path": "a.jpg", "label": "x"}\n{"path": \n',
            [],
            "plants.jsonl, line 2: malformed JSON",
        ),
        ('{"path": "a.jpg"}\n', [], "line 1: no label field"),
        ('{"path": "a.jpg", "label": ""}\n', [], "line 1: empty 'label'"),
        ("", [], "the manifest is empty"),
        (
            '{"path": "gone.jpg", "label": "x"}\n{"path": "a.jpg", "label": "x"}\n',
            ["--missing", "error"],
            "1 image file(s) not found",
        ),
    ],
)
def test_bad_manifest_is_one_clear_line(tmp_path, content, args, message):
    (tmp_path / "a.jpg").write_bytes(b"x")
    path = tmp_path / "plants.jsonl"
    path.write_text(content)
    r = study("split", "--manifest", str(path), "--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2
    assert message in r.stderr and str(path) in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "plants.jsonl"
    path.write_text("{oops\n")
    r = study("split", "--manifest", str(path), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "ManifestError" in r.stderr


def test_bad_fraction_is_rejected_by_the_parser():
    r = study("split", "--val-frac", "1.5")
    assert r.returncode == 2 and "must be in [0, 1), got 1.5" in r.stderr


def test_split_with_no_arguments_uses_the_demo_dataset(tmp_path):
    r = study("split", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # The fallback is said in one line (train and run share it: study.data.demo_manifest).
    assert r.stdout.count("no data given: using the demo dataset data/demo/manifest.jsonl") == 1
    out = tmp_path / "results" / "splits" / "demo"
    summary = json.loads((out / "split_summary.json").read_text())
    assert summary["classes_only_in_val"] == 0
    assert summary["classes"] >= 100
    assert (tmp_path / "data" / "demo" / "manifest.jsonl").is_file()


def test_split_refuses_to_overwrite_its_own_input(tmp_path, manifest):
    source = manifest.rename(tmp_path / "train.jsonl")
    before = source.read_bytes()
    r = study("split", "--manifest", str(source), "--out", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert str(source) in r.stderr and "--out" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--val-frac", "0.6", "--test-frac", "0.5"], "--val-frac + --test-frac must be < 1"),
        (["--out", "{file}"], "--out {file}: exists and is not a folder"),
    ],
    ids=["fractions leave no train", "out is a file"],
)
def test_split_errors_name_the_flag_not_internal_error(tmp_path, manifest, args, message):
    file = tmp_path / "notes.txt"
    file.write_text("keep me\n")
    args = [a.format(file=file) for a in args]
    r = study("split", "--manifest", str(manifest), *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message.format(file=file) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "internal error" not in r.stderr
    assert file.read_text() == "keep me\n"


def test_train_help_names_a_config_that_exists():
    from study.cli import DEMO_TRAIN_CONFIG

    r = study("train", "--help")
    assert r.returncode == 0
    named = re.findall(r"[\w/.-]+\.yaml", r.stdout)
    assert named == [str(DEMO_TRAIN_CONFIG)], r.stdout
    assert (REPO / DEMO_TRAIN_CONFIG).is_file()
