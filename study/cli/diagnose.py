"""The ``diagnose`` sub-command: the report's failure classifier on another tool's epoch log."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.cli.arguments import Sub, positive_int
from study.diagnose import UNITS

__all__ = ["add_diagnose", "cmd_diagnose"]


def _classes(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 classes, got {text}")
    return value


def add_diagnose(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "diagnose",
        help="say what kind of failure a per-epoch training log shows (overfitting, ...)",
        description="Classify a per-epoch log as overfitting, underfitting, val at chance "
        "(a data or label problem) or healthy, with the evidence in numbers. Reads timm's "
        "summary.csv (top-1 in percent) or a JSONL of epoch, train_loss, val_loss, val_top1 "
        "(optionally train_top1, val_top5).",
    )
    p.add_argument("--metrics", type=Path, required=True, metavar="FILE", help="the log file")
    p.add_argument(
        "--classes",
        type=_classes,
        required=True,
        metavar="N",
        help="classes a uniform guess picks from (the model head's, or the dataset's)",
    )
    p.add_argument(
        "--val-images",
        type=positive_int,
        metavar="N",
        help="val images, when known: chance is then widened by its binomial noise",
    )
    p.add_argument(
        "--top1-unit",
        choices=UNITS,
        default=UNITS[0],
        help="how top-1 is written (default %(default)s: percent for a CSV, as timm writes "
        "it; for JSONL, percent only if a value is above 1)",
    )
    return p


def cmd_diagnose(args: argparse.Namespace) -> int:
    from study.diagnose import diagnose_file, format_diagnosis

    diagnosis, note = diagnose_file(
        args.metrics, args.classes, val_images=args.val_images, unit=args.top1_unit
    )
    print(note)
    print(format_diagnosis(diagnosis))
    return 0
