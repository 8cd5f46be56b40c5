"""Ctrl-C that always stops training, and never stops a save half-way.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives. Inside a
destructor or a weakref callback (h5py closes its objects in those) the exception is printed as
"Exception ignored" and dropped: training went on as if Ctrl-C had not been pressed. `watch` (around
fit/evaluate/predict) remembers that SIGINT came, and `check` (called by every batch and epoch hook)
raises it again if it got lost. `deferred` (around a save) holds SIGINT until the file is complete and
renamed into place, then raises it: the last checkpoint is always whole."""
import contextlib
import signal
import threading

_pending = False


def _on_sigint(signum, frame):
    global _pending
    _pending = True
    raise KeyboardInterrupt


def _main_thread():
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def watch():
    """Installs the remembering handler where Python's own is in place (a program's own SIGINT handler is
    left alone), for the duration of the block."""
    global _pending
    installed = False
    if _main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
        installed = True
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _pending = False


def check():
    """Raises the KeyboardInterrupt of a Ctrl-C whose first raise was swallowed."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt("interrupted (Ctrl-C)")


@contextlib.contextmanager
def deferred():
    """SIGINT inside the block is held, and delivered (to the handler that was in place) when it ends."""
    if not _main_thread():
        yield
        return
    got = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if got:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt
