"""Ctrl-C that lands only where it is safe.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside a SQLAlchemy
write that leaves the session half-done, and Optuna's own bookkeeping then fails with "Should not
reach" and the trial stays RUNNING. So while a study runs, the first Ctrl-C only raises inside
code opened with :meth:`InterruptGate.open` (training compute, which keeps nothing half-written);
anywhere else it is remembered and raised at the next safe point. A second Ctrl-C raises at once.
SIGTERM (``kill``, a batch scheduler, a container stopping) is handled the same way: without it
the worker would die with its trial RUNNING, until another worker's grace period ran out.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptGate:
    def __init__(self) -> None:
        self.pending = False
        self.signum: int = signal.SIGINT  # the last signal received
        self._open = False
        self._previous: dict[int, Any] = {}

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    def __enter__(self) -> InterruptGate:
        # Signal handlers can only be set from the main thread; elsewhere the gate is a no-op
        # and Ctrl-C behaves as Python's default.
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._on_signal) for s in SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        if self._open or self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def check(self) -> None:
        """A safe point: raise the Ctrl-C that arrived while it was not safe."""
        if self.pending:
            raise KeyboardInterrupt

    @contextmanager
    def open(self) -> Iterator[None]:
        """Code in here may be interrupted at any line."""
        self.check()
        self._open = True
        try:
            yield
        finally:
            self._open = False

    def callback(self, study: object, trial: object) -> None:
        """An Optuna callback: stop after a trial whose bookkeeping a Ctrl-C had to wait for."""
        self.check()
