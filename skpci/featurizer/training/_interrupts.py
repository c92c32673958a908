"""Ctrl-C as a request to stop at the next safe point.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be
when the signal arrives. Inside a training loop that may be a Keras data
iterator, a TensorFlow callback or a finalizer, where the exception can be
swallowed or leave threads that keep the interpreter from exiting.
:class:`StopRequest` instead records the first Ctrl-C and lets the caller
stop between two batches; a second Ctrl-C interrupts at once, as usual.

The Python-level handler alone is not enough. CPython up to 3.12 runs it only
when the main thread notices a shared "signals pending" flag, and threads
that may not handle signals recompute that flag without it (bpo-40010, fixed
by per-thread flags in 3.13, gh-109846). While data-loading threads run
Python code and the main thread mostly waits inside TensorFlow, the handler
was seen not to run for minutes. The C-level handler, however, writes every
signal to the wakeup file descriptor at once (:func:`signal.set_wakeup_fd`),
so :attr:`StopRequest.requested` also reads it.
"""

import signal
import socket
import sys
import threading


class StopRequest:
    """Context manager that turns the first SIGINT into a flag.

    Outside the main thread, or when SIGINT is not handled by Python (ignored
    or left to the operating system), it installs nothing and Ctrl-C keeps its
    usual effect.

    Parameters
    ----------
    message : str
        Printed to standard error when the first Ctrl-C is noticed.
    """

    def __init__(self, message):
        self.message = message
        self._noticed = False
        self._handler_calls = 0
        self._previous = None
        self._previous_wakeup_fd = None
        self._wakeup = None

    @property
    def requested(self):
        """Whether Ctrl-C was pressed since the context was entered."""
        if not self._noticed and self._wakeup is not None:
            try:
                received = self._wakeup[0].recv(4096)
            except BlockingIOError:
                received = b""
            if signal.SIGINT in received:
                self._notice()
        return self._noticed

    def __enter__(self):
        self._noticed, self._handler_calls = False, 0
        if threading.current_thread() is not threading.main_thread():
            return self
        previous = signal.getsignal(signal.SIGINT)
        if not callable(previous):
            return self
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._wakeup = (reader, writer)
        self._previous_wakeup_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._previous = previous
        signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            for end in self._wakeup:
                end.close()
            self._wakeup = None
        return False

    def _notice(self):
        if not self._noticed:
            self._noticed = True
            print(self.message, file=sys.stderr, flush=True)

    def _handle(self, signum, frame):
        self._handler_calls += 1
        if self._handler_calls == 1:
            self._notice()
            return
        previous, self._previous = self._previous, None
        signal.signal(signal.SIGINT, previous)
        previous(signum, frame)
