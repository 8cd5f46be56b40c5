"""Tensors, Variables and the define-by-run tape.

An op computes its result on backend arrays and, when a tape is recording and one of its inputs
needs a gradient, appends a node ``(output, inputs, needs, backward)``. ``backward(g, needs)``
returns one gradient per input (``None`` where ``needs`` is False), so an op never computes a
gradient nobody asked for (e.g. the input-data gradient of the first Dense layer).
"""
import numpy as np

from .. import backend


class Tensor:
    """A backend array that can sit on the tape. Ops return Tensors; ``numpy()`` gives a host copy."""
    __slots__ = ("data", "requires_grad", "_keras_mask", "__weakref__")
    __array_priority__ = 1000  # numpy scalars/arrays defer to our operators

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.requires_grad = requires_grad
        self._keras_mask = None  # Keras's mask metadata: which timesteps of this tensor are real (layers set it)

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def numpy(self):
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def __len__(self):
        return len(self.data)

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __bool__(self):
        return bool(self.data)

    def __repr__(self):
        return "<%s shape=%s dtype=%s\n%r>" % (type(self).__name__, self.shape, self.dtype, self.numpy())

    # operators are attached in ops/__init__.py (they need the ops)


class Variable(Tensor):
    """A named, assignable tensor (Keras's ``keras.Variable``). Assignment writes in place, so the
    optimizer may keep all parameters as views into one flat buffer."""
    __slots__ = ("name", "trainable", "path", "_constraint", "_grad_sink", "autocast")

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, name=None):
        from .. import config
        dtype = dtype or config.floatx()
        if callable(initializer):
            if shape is None:
                raise ValueError("Variable with a callable initializer needs a shape")
            value = initializer(tuple(shape), dtype=dtype)
        else:
            value = initializer.data if isinstance(initializer, Tensor) else initializer
        xp = backend.get_xp()
        super().__init__(xp.array(value, dtype=dtype), requires_grad=trainable)
        self.name = name or "variable"
        self.path = self.name
        self.trainable = trainable
        self._constraint = None
        self._grad_sink = None  # the optimizer's flat-gradient view for this variable, once built
        self.autocast = True  # Keras: read in a mixed-precision layer's compute dtype during its call

    @property
    def value(self):
        return Tensor(self.data)

    def assign(self, value):
        value = value.data if isinstance(value, Tensor) else value
        if tuple(np.shape(value)) != tuple(self.data.shape):
            raise ValueError("Cannot assign a value of shape %s to variable %r of shape %s"
                             % (np.shape(value), self.path, self.data.shape))
        self.data[...] = backend.get_xp().asarray(value, dtype=self.data.dtype)
        return self

    def assign_add(self, value):
        self.data += value.data if isinstance(value, Tensor) else value
        return self

    def assign_sub(self, value):
        self.data -= value.data if isinstance(value, Tensor) else value
        return self

    @property
    def requires_grad(self):
        return self.trainable

    @requires_grad.setter
    def requires_grad(self, v):
        pass

    def __repr__(self):
        return "<Variable path=%s, shape=%s, dtype=%s>" % (self.path, self.shape, self.dtype)


class _Node:
    __slots__ = ("out", "inputs", "needs", "backward")

    def __init__(self, out, inputs, needs, backward):
        self.out, self.inputs, self.needs, self.backward = out, inputs, needs, backward


_active = []  # stack of recording tapes
_sink_grads = None  # the gradient dict of a backward pass that allows writing into sinks


def grad_sink(var, dtype):
    """A buffer the op may write var's gradient into (no accumulation pending), or None."""
    g = _sink_grads
    if g is None or type(var) is not Variable:
        return None
    sink = var._grad_sink
    if sink is None or id(var) in g or sink.dtype != dtype:
        return None
    return sink


class GradientTape:
    """Records ops for reverse-mode differentiation (the TensorFlow API, which Keras users know)::

        with gpunet.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
    """

    def __init__(self, persistent=False):
        self.nodes = []
        self.watched = set()
        self.persistent = persistent
        self._used = False

    def __enter__(self):
        _active.append(self)
        return self

    def __exit__(self, *exc):
        _active.remove(self)
        return False

    def watch(self, tensor):
        for t in tensor if isinstance(tensor, (list, tuple)) else (tensor,):
            self.watched.add(id(t))

    def gradient(self, target, sources, write_to_sinks=False):
        """d target / d sources. write_to_sinks (the trainer's choice): ops may write a variable's
        gradient straight into the optimizer's flat gradient buffer instead of a new array."""
        global _sink_grads
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only compute one gradient")
        self._used = True
        single = isinstance(sources, Tensor)
        srcs = [sources] if single else list(sources)
        xp = backend.get_xp()
        keep = {id(s) for s in srcs}
        grads = {id(target): xp.ones_like(target.data)}
        if write_to_sinks:
            _sink_grads = grads
        try:
            for node in reversed(self.nodes):
                key = id(node.out)
                g = grads.get(key) if key in keep else grads.pop(key, None)
                if g is None:
                    continue
                for inp, ig in zip(node.inputs, node.backward(g, node.needs)):
                    if ig is None:
                        continue
                    k = id(inp)
                    prev = grads.get(k)
                    grads[k] = ig if prev is None else prev + ig
        finally:
            _sink_grads = None
        out = []
        for s in srcs:
            g = grads.get(id(s))
            out.append(None if g is None else Tensor(g))
        if not self.persistent:
            self.nodes = []
        return out[0] if single else out


def _needs_grad(t, tape):
    return isinstance(t, Tensor) and (t.requires_grad or id(t) in tape.watched)


def record(data, inputs, backward):
    """Wraps an op's result; puts it on the innermost recording tape when an input needs a grad."""
    if _active:
        tape = _active[-1]
        needs = tuple(_needs_grad(t, tape) for t in inputs)
        if any(needs):
            out = Tensor(data, True)
            tape.nodes.append(_Node(out, inputs, needs, backward))
            return out
    return Tensor(data)


def recording():
    return bool(_active)


class stop_recording:
    """Context in which ops are not recorded (inference)."""

    def __enter__(self):
        self._saved = _active[:]
        del _active[:]

    def __exit__(self, *exc):
        _active[:] = self._saved
        return False
