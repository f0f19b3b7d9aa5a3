"""zoo.cli.signals.handling: the one way the long commands (download, hub serve, demo) take over the
signals that would end them."""

import signal
import threading

import pytest

from zoo.cli.signals import handling


def _record(signum, frame):
    pass


def test_handlers_are_set_for_the_block_and_put_back_after_an_error():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError):
        with handling(("SIGTERM",), _record):
            assert signal.getsignal(signal.SIGTERM) is _record
            raise RuntimeError
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_ignored_signal_stays_ignored():
    """nohup ignores SIGHUP, a shell's background job SIGINT: the command keeps going on either."""
    callers = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with handling(("SIGHUP", "SIGTERM"), _record):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is _record
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, callers)


def test_outside_the_main_thread_nothing_is_touched():
    """Python sets handlers from the main thread only (ValueError elsewhere): a command run from a
    worker thread (a notebook, a test) runs with the signals as they are."""
    seen = []

    def work():
        with handling(("SIGTERM",), _record):
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [before]


def test_a_signal_the_platform_lacks_is_left_out():
    with handling(("SIGTERM", "SIGNOSUCH"), _record):
        assert signal.getsignal(signal.SIGTERM) is _record


def test_commands_take_over_only_signals_left_at_their_default():
    """`zoo demo` records SIGTERM to let the model at hand finish, and runs its steps as nested
    commands: each of those took SIGTERM over as an interrupt, and the demo stopped mid-model."""
    from zoo.cli.signals import terminate_as_interrupt

    callers = signal.signal(signal.SIGTERM, _record)  # the demo's, or an embedding program's
    try:
        with terminate_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is _record
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with terminate_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, _record)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, callers)
