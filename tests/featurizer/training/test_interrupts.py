"""The first Ctrl-C becomes a stop request; the second interrupts as usual."""

import _thread
import signal
import threading

import pytest

from skpci.featurizer.training._interrupts import StopRequest


def test_first_ctrl_c_sets_the_flag_and_says_so(capsys):
    with StopRequest("stopping soon") as stop:
        assert not stop.requested
        _thread.interrupt_main()
        assert stop.requested
    assert "stopping soon" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_ctrl_c_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt):
        with StopRequest("stopping soon") as stop:
            _thread.interrupt_main()
            _thread.interrupt_main()
    assert stop.requested
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_previous_handler_is_restored_and_receives_the_second_ctrl_c():
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        with StopRequest("stopping soon"):
            _thread.interrupt_main()
            assert received == []
            _thread.interrupt_main()
            assert received == [signal.SIGINT]
        _thread.interrupt_main()
        assert received == [signal.SIGINT, signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopRequest("stopping soon") as stop:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert not stop.requested
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_nothing_is_installed():
    seen = []

    def enter():
        with StopRequest("stopping soon"):
            seen.append(signal.getsignal(signal.SIGINT))

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()
    assert seen == [signal.default_int_handler]
