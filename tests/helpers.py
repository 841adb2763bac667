"""Helpers shared by the tests (conftest.py holds the fixtures)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

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
