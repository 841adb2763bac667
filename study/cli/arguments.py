"""Argument types and groups more than one sub-command uses, their defaults from their owners."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from study.storage import DEFAULT_ARTIFACTS
from vitlab.config import DEVICES, DataConfig, check_device
from vitlab.manifest import IMAGE_FIELDS, LABEL_FIELDS, OnMissing

__all__ = [
    "DEBUG_HELP",
    "MISSING",
    "Command",
    "Sub",
    "add_artifacts",
    "add_debug",
    "add_device",
    "add_manifest_options",
    "device",
    "fraction",
    "manifest_data",
]

DEBUG_HELP = "show Python tracebacks on errors"
MISSING = typing.get_args(OnMissing)  # what --missing accepts: skip (the default) or error
Sub = Any  # argparse's sub-parsers action (its class is private)
Command = Callable[[argparse.Namespace], int]


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _positive(convert: Callable[[str], float], what: str) -> Callable[[str], Any]:
    """An argparse type: ``convert(text)``, finite and > 0 (0 would silently mean the default)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be {what} > 0, got {text}")
        return value

    return parse


positive_int = _positive(int, "an integer")
positive_number = _positive(float, "a number")  # seconds


def device(text: str) -> str:
    """A device a training config accepts (:func:`vitlab.config.check_device`)."""
    try:
        return check_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_device(p: argparse.ArgumentParser, what: str) -> None:
    names = ", ".join(DEVICES)
    p.add_argument("--device", type=device, help=f"override {what}: {names} or cuda:N")


def add_debug(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a sub-command's default must not overwrite a --debug given before the command.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)


def add_artifacts(p: argparse.ArgumentParser) -> None:
    help = "artifact folder: each trial's curves.html (default %(default)s)"
    p.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS, help=help)


def add_manifest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--image-root",
        type=Path,
        help="resolve relative image paths against this folder (default: the manifest's folder)",
    )
    p.add_argument(
        "--image-field",
        help=f"JSONL/CSV field holding the image path (default: the first of "
        f"{', '.join(IMAGE_FIELDS)})",
    )
    p.add_argument(
        "--label-field",
        help=f"JSONL/CSV field holding the label (default: the first of {', '.join(LABEL_FIELDS)})",
    )
    help = "missing image files: skip and list them (default), or stop"
    p.add_argument("--missing", choices=MISSING, default=MISSING[0], help=help)


def manifest_data(args: argparse.Namespace, **settings: Any) -> DataConfig:
    """The ``--manifest`` and its field flags as a DataConfig (no manifest: the demo's)."""
    return DataConfig(
        manifest=None if args.manifest is None else str(args.manifest),
        image_root=None if args.image_root is None else str(args.image_root),
        image_field=args.image_field,
        label_field=args.label_field,
        **settings,
    )


def add_study_option(p: argparse.ArgumentParser) -> None:
    """``--study`` and ``--storage``, as every command on an existing study takes them."""
    from study.storage import default_storage_url

    p.add_argument(
        "--study",
        dest="study_name",
        metavar="STUDY",
        help="study name (default: the storage's only study)",
    )
    p.add_argument("--storage", help=f"SQLAlchemy URL (default {default_storage_url()})")


def add_worker_options(p: argparse.ArgumentParser) -> None:
    """A rerun worker's ``--device``, ``--heartbeat``, ``--grace`` and ``--artifacts``."""
    from study.storage import GRACE_SECONDS, HEARTBEAT_SECONDS

    add_device(p, "the study's device")
    p.add_argument(
        "--heartbeat",
        type=positive_int,
        help=f"seconds between heartbeats (default {HEARTBEAT_SECONDS})",
    )
    p.add_argument(
        "--grace",
        type=positive_int,
        help=f"seconds without a heartbeat before a run is retried (default {GRACE_SECONDS})",
    )
    add_artifacts(p)


def rerun_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The ``RerunOptions`` fields of a rerun command's parsed arguments (``add_study_option``
    and ``add_worker_options``)."""
    names = ("study_name", "storage", "device", "heartbeat", "grace", "artifacts")
    return {name: getattr(args, name) for name in names}
