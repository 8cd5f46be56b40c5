"""Merge layers: combine a list of same-shaped tensors (Concatenate: along one axis)."""
from .. import ops
from .base import Layer


class _Merge(Layer):
    _takes_list = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras: a timestep is kept where every input that has a mask keeps it."""
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        out = None
        for m in mask:
            if m is not None:
                m = ops.cast(m, "bool")
                out = m if out is None else ops.logical_and(out, m)
        return out

    def build(self, input_shapes):
        if not isinstance(input_shapes, list) or len(input_shapes) < 2 or not isinstance(input_shapes[0], tuple):
            raise ValueError('A merge layer ("%s") should be called on a list of at least 2 inputs, received %s'
                             % (self.name, input_shapes))
        self._check_shapes(input_shapes)

    def _check_shapes(self, shapes):
        ref = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(ref) or any(a is not None and b is not None and a != b and a != 1 and b != 1
                                         for a, b in zip(s[1:], ref[1:])):
                raise ValueError('Layer "%s" needs inputs of the same shape, received shapes %s'
                                 % (self.name, [tuple(x) for x in shapes]))

    def compute_output_shape(self, input_shapes):
        out = list(input_shapes[0])
        for s in input_shapes[1:]:
            out = [a if b in (None, 1) else b for a, b in zip(out, s)]
        return tuple(out)

    def call(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return self._finish(out, len(inputs))

    def _finish(self, out, n):
        return out


class Add(_Merge):
    _merge = staticmethod(ops.add)


class Subtract(_Merge):
    def build(self, input_shapes):
        if len(input_shapes) != 2:
            raise ValueError('Layer "%s" (Subtract) needs exactly 2 inputs, received %d' % (self.name, len(input_shapes)))
        super().build(input_shapes)

    _merge = staticmethod(ops.subtract)


class Multiply(_Merge):
    _merge = staticmethod(ops.multiply)


class Average(_Merge):
    _merge = staticmethod(ops.add)

    def _finish(self, out, n):
        return ops.divide(out, float(n))


class Maximum(_Merge):
    _merge = staticmethod(ops.maximum)


class Minimum(_Merge):
    _merge = staticmethod(ops.minimum)


class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _check_shapes(self, shapes):
        nd = len(shapes[0])
        ax = self.axis % nd
        for s in shapes[1:]:
            if len(s) != nd or any(i != ax and i != 0 and a is not None and b is not None and a != b
                                   for i, (a, b) in enumerate(zip(s, shapes[0]))):
                raise ValueError('Layer "%s" (Concatenate) needs inputs matching except on axis %d, received %s'
                                 % (self.name, self.axis, [tuple(x) for x in shapes]))

    def compute_output_shape(self, input_shapes):
        nd = len(input_shapes[0])
        ax = self.axis % nd
        out = list(input_shapes[0])
        sizes = [s[ax] for s in input_shapes]
        out[ax] = None if any(s is None for s in sizes) else sum(sizes)
        return tuple(out)

    def call(self, inputs):
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        """Keras: along the feature axis the masks combine (AND); along the time axis they are joined."""
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        nd = inputs[0].ndim
        ax = self.axis % nd
        if ax >= nd - 1:
            return _Merge.compute_mask(self, inputs, mask)
        ms = [ops.cast(m, "bool") if m is not None else ops.ones(x.shape[:nd - 1], dtype="bool")
              for m, x in zip(mask, inputs)]
        return ops.concatenate(ms, axis=ax)

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


class Dot(_Merge):
    """Dot product of two samples along `axes` (normalize: cosine proximity), as Keras's Dot."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes, self.normalize = axes, normalize

    def _check_shapes(self, shapes):
        if len(shapes) != 2:
            raise ValueError('A `Dot` layer ("%s") should be called on a list of 2 inputs, received %d'
                             % (self.name, len(shapes)))

    def _axes(self, n1, n2):
        axes = self.axes if isinstance(self.axes, (list, tuple)) else [self.axes, self.axes]
        return [a % n if a < 0 else a for a, n in zip(axes, (n1, n2))]

    def compute_output_shape(self, input_shapes):
        s1, s2 = list(input_shapes[0]), list(input_shapes[1])
        a1, a2 = self._axes(len(s1), len(s2))
        out = s1[:a1] + s1[a1 + 1:] + s2[1:a2] + s2[a2 + 1:]
        return tuple(out) if len(out) > 1 else tuple(out) + (1,)

    def call(self, inputs):
        x1, x2 = inputs
        a1, a2 = self._axes(x1.ndim, x2.ndim)
        if self.normalize:
            x1, x2 = ops.normalize(x1, axis=a1), ops.normalize(x2, axis=a2)
        # batched tensordot: move the contracted axes last/first and matmul per sample
        x1 = ops.moveaxis(x1, a1, -1)
        x2 = ops.moveaxis(x2, a2, 1)
        s1, s2 = x1.shape, x2.shape
        out = ops.matmul(ops.reshape(x1, (s1[0], -1, s1[-1])), ops.reshape(x2, (s2[0], s2[1], -1)))
        out = ops.reshape(out, (s1[0],) + tuple(s1[1:-1]) + tuple(s2[2:]))
        return out if out.ndim > 1 else ops.expand_dims(out, -1)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"axes": self.axes, "normalize": self.normalize})
        return cfg


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    return Dot(axes=axes, **kwargs)(inputs)
