"""Helpers shared by the tests (conftest.py holds the fixtures)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

# Debian's Chromium, which .ci/run installs: the browser tests drive it, nothing is downloaded.
CHROMIUM = Path("/usr/bin/chromium")

# A ViT shrunk through timm keyword arguments: 16 px images, 4 px patches, one block.
TINY_VIT = {"patch_size": 4, "depth": 1, "embed_dim": 32, "num_heads": 2}


def default_sigint() -> None:
    """Popen preexec_fn: Ctrl-C behaves as in a terminal, even when the test run itself was
    started in the background (where the shell makes children ignore SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    """A command started in ``cwd`` with its output piped as text, Ctrl-C as in a terminal."""
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def require_chromium() -> None:
    """Fail without the system Chromium (skip only when STUDY_ALLOW_NO_BROWSER=1 says so)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("STUDY_ALLOW_NO_BROWSER") == "1":
            pytest.skip(reason)
        pytest.fail(f"{reason}, or set STUDY_ALLOW_NO_BROWSER=1 to skip this test")
