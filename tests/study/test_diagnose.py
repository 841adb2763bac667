"""``python -m study diagnose``: another tool's per-epoch log through the report's classifier."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from study.analysis.failure import CHANCE_HEADLINE, EpochLog
from study.cli import COMMANDS
from study.cli.diagnose import add_diagnose, cmd_diagnose
from study.diagnose import diagnose_file, format_diagnosis, read_metrics
from vitlab.errors import UserError

REPO = Path(__file__).resolve().parents[2]

# The seed's run as timm would have logged it (epochs from 0, top-1 in percent, no train top-1).
TIMM_SUMMARY = """epoch,train_loss,eval_loss,eval_top1,eval_top5,lr
0,7.53,10.32,0.0,0.08,0.001
4,2.15,11.38,0.02,0.07,0.0009
9,1.39,11.52,0.03,0.09,0.0005
14,1.31,11.22,0.03,0.08,0.0001
"""
SEED_AS_READ = (
    EpochLog(0, 7.53, 10.32, 0.0, None, 0.0008),
    EpochLog(4, 2.15, 11.38, 0.0002, None, 0.0007),
    EpochLog(9, 1.39, 11.52, 0.0003, None, 0.0009),
    EpochLog(14, 1.31, 11.22, 0.0003, None, 0.0008),
)
DEMO = [  # the first epochs of a demo baseline (fractions), then its val loss turning up
    {"epoch": 1, "train_loss": 3.4, "val_loss": 3.55, "val_top1": 0.29, "train_top1": 0.35},
    {"epoch": 2, "train_loss": 1.3, "val_loss": 2.74, "val_top1": 0.43, "train_top1": 0.80},
    {"epoch": 3, "train_loss": 0.67, "val_loss": 3.22, "val_top1": 0.42, "train_top1": 0.99},
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def approx_epochs(epochs):
    return [pytest.approx(e.__dict__) for e in epochs]


def test_timm_summary_csv_is_read_in_percent(tmp_path):
    epochs, unit = read_metrics(write(tmp_path / "summary.csv", TIMM_SUMMARY))
    assert unit == "percent"
    assert [e.__dict__ for e in epochs] == approx_epochs(SEED_AS_READ)


def test_timm_summary_of_the_seeds_run_is_val_at_chance(tmp_path):
    path = write(tmp_path / "summary.csv", TIMM_SUMMARY)
    diagnosis, note = diagnose_file(path, 5_578)
    assert diagnosis.kind == "val_at_chance" and diagnosis.headline == CHANCE_HEADLINE
    assert note == f"{path}: 4 epochs, top-1 read as percent, chance 1/5,578"
    assert diagnosis.evidence[0] == "train loss 7.53 at epoch 0 falling to 1.31 at epoch 14"


@pytest.mark.parametrize(
    ("rows", "unit", "expected_unit", "scale"),
    [
        (DEMO, "auto", "fraction", 1.0),
        ([{**r, "val_top1": 100 * r["val_top1"]} for r in DEMO], "auto", "percent", 1.0),
        (DEMO, "percent", "percent", 0.01),  # as the user says, however small
    ],
)  # fmt: skip
def test_jsonl_units(tmp_path, rows, unit, expected_unit, scale):
    epochs, read_unit = read_metrics(write(tmp_path / "m.jsonl", jsonl(rows)), unit)
    assert read_unit == expected_unit
    assert [e.val_top1 for e in epochs] == pytest.approx([scale * r["val_top1"] for r in DEMO])
    assert [e.epoch for e in epochs] == [1, 2, 3]


def test_our_own_metrics_jsonl_and_timm_names_in_jsonl(tmp_path):
    ours = [{**r, "lr": 0.001, "gap": 0.1, "val_top5": 0.6} for r in DEMO]
    epochs, _ = read_metrics(write(tmp_path / "metrics.jsonl", jsonl(ours)))
    assert epochs[0] == EpochLog(1, 3.4, 3.55, 0.29, 0.35, 0.6)
    timm_names = [
        {"train_loss": r["train_loss"], "eval_loss": r["val_loss"], "eval_top1": r["val_top1"]}
        for r in DEMO
    ]
    epochs, _ = read_metrics(write(tmp_path / "t.jsonl", jsonl(timm_names)))
    assert epochs[2] == EpochLog(3, 0.67, 3.22, 0.42)  # no epoch field: numbered by line


def test_a_demo_log_is_overfitting(tmp_path):
    diagnosis, _ = diagnose_file(write(tmp_path / "m.jsonl", jsonl(DEMO)), 200, val_images=326)
    assert diagnosis.kind == "overfitting"
    text = format_diagnosis(diagnosis)
    assert text.splitlines()[0] == diagnosis.headline
    assert text.splitlines()[1] == f"  - {diagnosis.evidence[0]}"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.csv", "epoch,train_loss,eval_top1\n0,1.0,3.0\n", "no val_loss or eval_loss column"),
        ("m.csv", "", "no epochs in it"),
        ("m.jsonl", '{"train_loss": 1.0}\nnot json\n', "line 2: not JSON"),
        ("m.jsonl", "[1, 2]\n", "line 1: not a JSON object"),
        ("m.csv", TIMM_SUMMARY.replace("11.38", "high"), "line 3: eval_loss is not a number"),
        ("m.csv", TIMM_SUMMARY.replace("0,7.53,10.32", "0,7.53,"), "line 2: no eval_loss value"),
    ],
)
def test_a_bad_file_is_one_user_error_naming_it(tmp_path, name, text, message):
    path = write(tmp_path / name, text)
    with pytest.raises(UserError) as e:
        read_metrics(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value)
    assert "\n" not in str(e.value)


def test_a_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_metrics(tmp_path / "absent.csv")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m study")
    add_diagnose(parser.add_subparsers(dest="command")).set_defaults(func=cmd_diagnose)
    return parser.parse_args(argv)


def test_the_command_prints_the_diagnosis(tmp_path, capsys):
    path = write(tmp_path / "summary.csv", TIMM_SUMMARY)
    args = parse(["diagnose", "--metrics", str(path), "--classes", "5578"])
    assert cmd_diagnose(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: 4 epochs, top-1 read as percent, chance 1/5,578"
    assert out[1] == CHANCE_HEADLINE
    assert "  - val loss 10.32 at epoch 0, above the uniform-guess loss ln(5,578) = 8.63" in out


def test_the_command_refuses_one_class(capsys):
    with pytest.raises(SystemExit):
        parse(["diagnose", "--metrics", "x.csv", "--classes", "1"])
    assert "must be at least 2 classes" in capsys.readouterr().err


registered = any(cmd.__name__ == "cmd_diagnose" for _, cmd in COMMANDS)


@pytest.mark.skipif(not registered, reason="diagnose is not yet in study.cli.COMMANDS")
@pytest.mark.parametrize("bad", [False, True])
def test_python_m_study_diagnose(tmp_path, bad):
    text = "epoch,train_loss\n0,1.0\n" if bad else TIMM_SUMMARY
    path = write(tmp_path / "summary.csv", text)
    r = subprocess.run(
        [sys.executable, "-m", "study", "diagnose", "--metrics", str(path), "--classes", "5578"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if bad:  # one clear line naming the file, no traceback
        assert r.returncode == 2 and r.stderr.startswith(f"error: {path}: no val_loss")
        assert len(r.stderr.strip().splitlines()) == 1
    else:
        assert r.returncode == 0 and CHANCE_HEADLINE in r.stdout, r.stderr
