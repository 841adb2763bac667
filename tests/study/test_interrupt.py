"""The Ctrl-C gate: raised at once inside `open()`, deferred to the next safe point elsewhere."""

from __future__ import annotations

import signal

import pytest

from study.interrupt import InterruptGate


@pytest.fixture(autouse=True)
def _python_sigint(python_sigint):
    """Every test here starts from Python's own Ctrl-C handler."""


def ctrl_c() -> None:
    signal.raise_signal(signal.SIGINT)


def test_outside_open_a_ctrl_c_waits_for_the_next_safe_point():
    with InterruptGate() as gate:
        ctrl_c()  # would be a KeyboardInterrupt here without the gate
        assert gate.pending
        with pytest.raises(KeyboardInterrupt):
            gate.check()


def test_inside_open_a_ctrl_c_raises_at_once():
    with InterruptGate() as gate:
        reached = []
        with pytest.raises(KeyboardInterrupt):
            with gate.open():
                ctrl_c()
                reached.append("after")
        assert reached == []
        assert not gate._open


def test_a_deferred_ctrl_c_raises_when_the_gate_opens():
    with InterruptGate() as gate:
        ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            with gate.open():
                pytest.fail("the body must not run")


def test_a_second_ctrl_c_raises_at_once():
    with InterruptGate():
        ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()


def test_the_callback_is_a_safe_point():
    with InterruptGate() as gate:
        gate.callback(None, None)  # nothing pending: no-op
        ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            gate.callback(None, None)


def test_leaving_restores_the_previous_handler():
    before = signal.getsignal(signal.SIGINT)
    with InterruptGate():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):
        ctrl_c()


def test_an_uninstalled_gate_leaves_python_default():
    gate = InterruptGate()  # never entered: the Objective's default
    with pytest.raises(KeyboardInterrupt):
        ctrl_c()
    gate.check()
