"""The Ctrl-C gate: raised at once inside `open()`, deferred to the next safe point elsewhere."""

from __future__ import annotations

import signal
import threading

import pytest

from study.run.interrupt import InterruptGate


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


def entered_off_the_main_thread() -> InterruptGate:
    """A gate entered where signal handlers cannot be set: entering must be a no-op there."""
    gate, errors = InterruptGate(), []

    def enter() -> None:
        try:
            gate.__enter__()
        except BaseException as e:  # a thread's exception would otherwise be lost
            errors.append(e)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    assert errors == []
    return gate


@pytest.mark.parametrize(
    "make_gate",
    [InterruptGate, entered_off_the_main_thread],
    ids=["never entered (the Objective's default)", "entered off the main thread"],
)
def test_an_uninstalled_gate_leaves_python_default(make_gate):
    gate = make_gate()
    with pytest.raises(KeyboardInterrupt):
        with gate.open():
            ctrl_c()
    with pytest.raises(KeyboardInterrupt):
        ctrl_c()  # outside open() too: Python's handler raises at once, nothing is deferred
    assert not gate.pending
    gate.check()  # nothing pending: the safe points do not raise a Ctrl-C already raised
    gate.callback(None, None)
    gate.__exit__(None, None, None)
