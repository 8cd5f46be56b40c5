"""Keras-style automatic names: dense, dense_1, dense_2, ..."""
import re

_counts = {}


def to_snake_case(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def uniquify(base):
    n = _counts.get(base, 0)
    _counts[base] = n + 1
    return base if n == 0 else "%s_%d" % (base, n)


def clear_session():
    _counts.clear()
