"""Stop requests from SIGTERM and Ctrl-C that survive a swallowed KeyboardInterrupt.

A signal handler raises in whatever Python code runs when the signal arrives. If that code is a
garbage-collector callback (JAX registers one) or a ``__del__``, Python prints "Exception
ignored" and carries on, and a run told to stop would train to its end. So the request is also
recorded, and the training loop calls ``check()`` each time compiled code returns to it.
"""

import signal
import threading
from contextlib import contextmanager

_requested = threading.Event()


def check():
    """Raise KeyboardInterrupt where a stop was requested inside ``stop_on_signals``."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextmanager
def stop_on_signals(signals=(signal.SIGTERM, signal.SIGINT)):
    """Within the block each of ``signals`` records a stop request and raises KeyboardInterrupt."""

    def request(signum, frame):
        _requested.set()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, request) for s in signals}
    _requested.clear()
    try:
        yield
    finally:
        _requested.clear()
        for s, handler in previous.items():
            signal.signal(s, handler)
