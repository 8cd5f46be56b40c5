"""Symbolic tensors and the operations that make a Functional graph.

A `KerasTensor` carries a shape and dtype only (`gpunet.Input` and calls on it). An `Operation`
called on KerasTensors records a node instead of computing: `Layer` is an Operation, and so is
every `keras.ops` function applied to a KerasTensor (`x + y`, `ops.concatenate([a, b])`), which
becomes a weightless node named after the op ("add", "concatenate"), serialised as Keras does.
The node keeps the call's own args and kwargs with the KerasTensors in place, so replaying it
calls the operation exactly as the user wrote it (several positional tensors included)."""
import inspect

import numpy as np

from ..common.naming import to_snake_case, uniquify


class KerasTensor:
    """A symbolic tensor: shape and dtype only (``gpunet.Input``, and layer calls on it)."""
    __array_priority__ = 1001  # numpy arrays defer to our operators (x + np.ones(...) stays symbolic)
    _keras_mask = None  # the symbolic mask a masking layer's output carries (layers/symbolic_masks.py)
    _is_keras_tensor = True  # backend.is_keras_tensor reads this

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = tuple(shape)
        self.dtype = str(dtype)
        self.name = name
        self._history = history  # (operation, parent KerasTensors, (args, kwargs)); Inputs: (layer, [], None)
        self._node_index = 0     # which call of the operation made it ("dense[1][0]")
        self._tensor_index = 0   # which output of that call
        self._siblings = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return "<KerasTensor shape=%s, dtype=%s, name=%s>" % (self.shape, self.dtype, self.name)

    def __bool__(self):
        raise TypeError("A symbolic KerasTensor has no truth value: it only describes a shape (%s). Use "
                        "gpunet.ops.cond/where on real tensors inside a layer's call()." % (self.shape,))

    def __len__(self):
        if not self.shape or self.shape[0] is None:
            raise TypeError("len() of a symbolic tensor with shape %s is unknown" % (self.shape,))
        return self.shape[0]

    def __iter__(self):
        raise TypeError("A symbolic KerasTensor (shape %s) cannot be iterated; index it (x[:, 0]) or use "
                        "gpunet.ops.split/unstack" % (self.shape,))

    def numpy(self):
        raise TypeError("A symbolic KerasTensor has no value: it is a placeholder in a Functional model. Call "
                        "the model on data to get numbers.")

    __array__ = numpy


def is_symbolic(struct):
    """True when a KerasTensor sits anywhere in struct (lists, tuples, dicts)."""
    if isinstance(struct, KerasTensor):
        return True
    if isinstance(struct, (list, tuple)):
        return any(is_symbolic(s) for s in struct)
    if isinstance(struct, dict):
        return any(is_symbolic(s) for s in struct.values())
    return False


def flatten_symbolic(struct, out=None):
    out = [] if out is None else out
    if isinstance(struct, KerasTensor):
        out.append(struct)
    elif isinstance(struct, (list, tuple)):
        for s in struct:
            flatten_symbolic(s, out)
    elif isinstance(struct, dict):
        for s in struct.values():
            flatten_symbolic(s, out)
    return out


def map_structure(fn, struct):
    """fn applied to every KerasTensor in struct; everything else is kept."""
    if isinstance(struct, KerasTensor):
        return fn(struct)
    if isinstance(struct, list):
        return [map_structure(fn, s) for s in struct]
    if isinstance(struct, tuple):
        return tuple(map_structure(fn, s) for s in struct)
    if isinstance(struct, dict):
        return {k: map_structure(fn, v) for k, v in struct.items()}
    return struct


def compute_output_spec(fn, *args, **kwargs):
    """What fn returns, as KerasTensors, without computing it (Keras's backend.compute_output_spec): every array
    in args and kwargs (anything with a shape and a dtype) becomes a KerasTensor of its shape and dtype first."""
    def spec(x):
        if isinstance(x, KerasTensor) or not (hasattr(x, "shape") and hasattr(x, "dtype")) or np.isscalar(x):
            return x
        return KerasTensor(tuple(None if d is None else int(d) for d in x.shape), str(getattr(x.dtype, "name", x.dtype)))

    def walk(struct):
        if isinstance(struct, (list, tuple)) and not hasattr(struct, "_fields"):
            return type(struct)(walk(s) for s in struct)
        if isinstance(struct, dict):
            return {k: walk(v) for k, v in struct.items()}
        return spec(struct)
    return fn(*walk(list(args)), **walk(kwargs))


def encode_special(struct):
    """Slices and Ellipsis in a node's arguments (x[:, 1, ...]) as Keras writes them: JSON has neither."""
    if isinstance(struct, slice):
        return {"class_name": "__slice__", "config": {"start": encode_special(struct.start), "stop": encode_special(struct.stop),
                                                      "step": encode_special(struct.step)}}
    if struct is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(struct, (list, tuple)):
        return type(struct)(encode_special(s) for s in struct)
    if isinstance(struct, dict):
        return {k: encode_special(v) for k, v in struct.items()}
    return struct


def decode_special(d):
    """encode_special's inverse, inside lists too; other values are returned as they are."""
    if isinstance(d, list):
        return [decode_special(v) for v in d]
    if not (isinstance(d, dict) and d.get("class_name") in ("__slice__", "__ellipsis__")):
        return d
    if d["class_name"] == "__ellipsis__":
        return Ellipsis
    c = d.get("config") or {}
    bounds = [c.get(k) for k in ("start", "stop", "step")]
    for b in bounds:
        if not (b is None or isinstance(b, int) and not isinstance(b, bool)):
            raise ValueError("A saved slice's start, stop and step must be integers or null, received %r" % (c,))
    return slice(*bounds)


def dummy_value(kt, xp, size=1):
    """A zero array standing in for kt while an output shape is worked out: an unknown batch is 1, other unknown
    sizes are `size`."""
    return xp.zeros([(1 if i == 0 else size) if d is None else d for i, d in enumerate(kt.shape)], dtype=kt.dtype)


def probe_outputs(run, structs, xp):
    """Runs `run` on zeros standing in for the KerasTensors in `structs` and returns (its result, the shape of each
    output, flat). A size that depends on an unknown input size stays None, as in Keras's symbolic shapes: with
    unknown sizes the call runs twice, at sizes 2 and 3, and an output size that differs between them is unknown.
    A call that cannot run at those sizes falls back to one run at size 1, its sizes taken as they come."""
    from .tape import Tensor

    def once(size):
        out = run(map_structure(lambda kt: Tensor(dummy_value(kt, xp, size)), structs))
        flat = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else [out]
        return out, [tuple(np.shape(t.data if isinstance(t, Tensor) else t)) for t in flat]
    if any(None in kt.shape[1:] for kt in flatten_symbolic(structs)):
        try:
            out, a = once(2)
            _, b = once(3)
        except Exception:  # noqa: BLE001 — a call that only runs at size 1 keeps the old answer
            pass
        else:
            if [len(s) for s in a] == [len(s) for s in b]:
                return out, [tuple(None if x != y else x for x, y in zip(sa, sb)) for sa, sb in zip(a, b)]
    return once(1)


def make_outputs(op, args, kwargs, specs):
    """KerasTensors for one symbolic call: `specs` is one (shape, dtype) or a list of them."""
    parents = flatten_symbolic((args, kwargs))
    node = (list(args), dict(kwargs))
    index = op.__dict__.get("_calls", 0)
    op._calls = index + 1
    multi = isinstance(specs, list)
    outs = []
    for i, (shape, dtype) in enumerate(specs if multi else [specs]):
        kt = KerasTensor(shape, dtype, name=op.name, history=(op, parents, node))
        kt._node_index, kt._tensor_index = index, i
        outs.append(kt)
    for kt in outs:
        kt._siblings = outs if multi else None  # a call that returned a list: its outputs, in order
    op.__dict__.setdefault("_inbound_nodes", []).append((parents, outs))  # Keras's node: its tensors in, out
    return outs if multi else outs[0]


class Operation:
    """Something a Functional graph can hold: a name, and a call that works on real tensors.
    Layers are Operations; `FunctionOp` wraps one `keras.ops` function."""

    def _symbolic_call(self, args, kwargs):
        raise NotImplementedError

    # Keras's Operation.input / .output: the tensors of the first symbolic call (the feature-extraction idiom
    # `Model(model.input, model.get_layer("x").output)`); one tensor, or a list when the call had several
    @property
    def input(self):
        return self._node_tensors(0, "input")

    @property
    def output(self):
        return self._node_tensors(1, "output")

    def _node_tensors(self, which, what):
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError("The layer %s has never been called and thus has no defined %s."
                                 % (getattr(self, "name", type(self).__name__), what))
        tensors = nodes[0][which]
        return tensors[0] if len(tensors) == 1 else list(tensors)


class FunctionOp(Operation):
    """A `keras.ops` function applied to KerasTensors: a node with no weights. Its config is its
    name and the function's non-tensor arguments, as Keras saves ops ("Add", "Concatenate" axis=-1)."""

    def __init__(self, fn_name, fn, static=None, name=None):
        self.fn_name = fn_name
        self._callable = fn  # the op itself; never looked up by name (a loaded name goes through op_classes)
        self.static = dict(static or {})
        self.name = name or uniquify(fn_name)
        self.trainable = True
        self.built = True
        self.weights = self.trainable_weights = self.non_trainable_weights = []

    def _fn(self):
        return self._callable

    def __call__(self, *args, **kwargs):
        kwargs.pop("training", None)
        if is_symbolic((args, kwargs)):
            return self._symbolic_call(args, kwargs)
        return self._fn()(*args, **self.static, **kwargs)

    def _symbolic_call(self, args, kwargs):
        from .. import backend
        from .tape import Tensor, stop_recording
        xp = backend.get_xp()
        with stop_recording():
            out, shapes = probe_outputs(lambda d: self._fn()(*d[0], **self.static, **d[1]), (list(args), dict(kwargs)),
                                        xp)
        batch = any(kt.shape and kt.shape[0] is None for kt in flatten_symbolic((args, kwargs)))

        def spec(t, shape):
            if batch and shape:
                shape = (None,) + shape[1:]
            return shape, str(getattr(t, "dtype", None) or np.asarray(t.data if isinstance(t, Tensor) else t).dtype)
        if isinstance(out, (list, tuple)):
            return make_outputs(self, args, kwargs, [spec(o, s) for o, s in zip(out, shapes)])
        return make_outputs(self, args, kwargs, spec(out, shapes[0]))

    @property
    def class_name(self):
        """Keras's operation class for this op ("Add", "GetItem", "HSVToRGB")."""
        from .op_classes import class_for_function
        known = class_for_function(self.fn_name)
        return known[0] if known else "".join(p.capitalize() for p in self.fn_name.split("_"))

    @property
    def keras_module(self):
        """The module Keras saves the class under; None for a gpunet op Keras does not have."""
        from .op_classes import class_for_function
        known = class_for_function(self.fn_name)
        return known[1] if known else None

    def count_params(self):
        return 0

    def get_config(self):
        return {"name": self.name, **encode_special(self.static)}

    def __repr__(self):
        return "<%s op name=%s>" % (self.class_name, self.name)


def symbolic_op(fn_name, fn, args, kwargs):
    """`fn(*args, **kwargs)` on KerasTensors: a FunctionOp node. Non-tensor positional arguments
    after the tensors become named static arguments (its config), as in Keras's op classes."""
    params = list(inspect.signature(fn).parameters)
    tensors, static = [], {}
    for i, a in enumerate(args):
        if is_symbolic(a) or i == 0 or fn_name == "getitem":  # Keras's GetItem takes its key as a call argument
            tensors.append(a)
        else:
            static[params[i]] = a
    tensor_kw = {k: v for k, v in kwargs.items() if is_symbolic(v)}
    static.update({k: v for k, v in kwargs.items() if not is_symbolic(v)})
    return FunctionOp(fn_name, fn, static, name=uniquify(to_snake_case(fn_name)))._symbolic_call(tuple(tensors),
                                                                                                 tensor_kw)


_BINARY = {"__add__": "add", "__sub__": "subtract", "__mul__": "multiply", "__truediv__": "divide",
           "__pow__": "power", "__matmul__": "matmul", "__lt__": "less", "__le__": "less_equal",
           "__gt__": "greater", "__ge__": "greater_equal", "__floordiv__": "floor_divide", "__mod__": "mod",
           "__and__": "logical_and", "__or__": "logical_or"}
_REFLECTED = {"__radd__": "add", "__rsub__": "subtract", "__rmul__": "multiply", "__rtruediv__": "divide",
              "__rpow__": "power", "__rmatmul__": "matmul", "__rfloordiv__": "floor_divide", "__rmod__": "mod"}


def _install_operators(ops):
    """KerasTensor's operators (x + y, x[i], x.T, ...) as calls of the public ops; the ops package passes
    itself in when it has wrapped them (this module sits below it and does not import it)."""

    def binary(name):
        return lambda a, b: getattr(ops, name)(a, b)

    def reflected(name):
        return lambda a, b: getattr(ops, name)(b, a)
    for dunder, name in _BINARY.items():
        setattr(KerasTensor, dunder, binary(name))
    for dunder, name in _REFLECTED.items():
        setattr(KerasTensor, dunder, reflected(name))
    KerasTensor.__neg__ = lambda a: ops.negative(a)
    KerasTensor.__abs__ = lambda a: ops.abs(a)
    KerasTensor.__invert__ = lambda a: ops.logical_not(a)
    KerasTensor.__getitem__ = lambda a, key: ops.getitem(a, key)
    KerasTensor.T = property(lambda a: ops.transpose(a))
    KerasTensor.reshape = lambda a, *s: ops.reshape(a, s[0] if len(s) == 1 else s)
    KerasTensor.astype = lambda a, dtype: ops.cast(a, dtype)
