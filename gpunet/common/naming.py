"""Keras-style automatic names: dense, dense_1, dense_2, ..."""
import re

_counts = {}


def to_snake_case(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def get_uid(prefix=""):
    """The next count of prefix (1 the first time), from the counts uniquify keeps, as Keras shares them."""
    _counts[prefix] = _counts.get(prefix, 0) + 1
    return _counts[prefix]


def uniquify(base):
    n = _counts.get(base, 0)
    _counts[base] = n + 1
    return base if n == 0 else "%s_%d" % (base, n)


_session_state = []  # resets of other session-wide state (the global dtype policy), registered by its owner


def on_clear_session(reset):
    _session_state.append(reset)


def clear_session():
    """Keras's clear_session: fresh automatic names, and every session-wide setting back to its default."""
    _counts.clear()
    for reset in _session_state:
        reset()
