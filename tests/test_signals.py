"""SIGINT and SIGTERM: a request the loop reads during a run, an Interrupted while starting."""

import os
import signal
import threading

import pytest

from tf_style import signals


def test_a_signal_during_the_run_is_a_request_and_the_old_handlers_come_back():
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    with signals.stop_on_signals() as request:
        assert request.signal_number is None
        os.kill(os.getpid(), signal.SIGTERM)  # would end this process without the handler
        assert request.signal_number == signal.SIGTERM
        os.kill(os.getpid(), signal.SIGINT)
        assert request.signal_number == signal.SIGINT
    assert {number: signal.getsignal(number) for number in before} == before


def test_outside_the_main_thread_nothing_is_installed_and_no_request_comes():
    before = signal.getsignal(signal.SIGTERM)
    seen = {}

    def in_a_thread():
        with signals.stop_on_signals() as request:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["request"] = request.signal_number

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == {"handler": before, "request": None}


def test_a_signal_while_starting_raises_interrupted_and_is_remembered():
    startup = signals.StartupStop()
    previous = signal.signal(signal.SIGINT, startup)
    try:
        with pytest.raises(signals.Interrupted) as raised:
            os.kill(os.getpid(), signal.SIGINT)
            signal.pthread_kill(threading.get_ident(), 0)  # let Python run the handler here
    finally:
        signal.signal(signal.SIGINT, previous)
    assert raised.value.step is None and raised.value.signal_number == signal.SIGINT
    assert str(raised.value) == "stopped by SIGINT while starting, before the first step"
    # A library that swallowed that exception does not make the run go on.
    with pytest.raises(signals.Interrupted):
        startup.raise_if_received()
    assert startup.received == signal.SIGINT
    quiet = signals.StartupStop()
    quiet.raise_if_received()  # no signal: nothing to raise, nothing remembered
    assert quiet.received is None


def test_interrupted_at_a_step_says_where_and_how_to_go_on():
    message = str(signals.Interrupted(signal.SIGTERM, step=42))
    assert message == ("stopped by SIGTERM at step 42; checkpoint saved, rerun the same "
                       "command to continue")
