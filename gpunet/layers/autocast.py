"""Keras's autocast for mixed precision: while a layer whose policy computes in another dtype than its variables
runs its call, each trainable float variable of it and of its sublayers reads as a cast to the compute dtype. The
cast is an op on the tape, so gradients reach the float32 variables (cast back). Layers that are not mixed never
come here."""
from ..ops.tape import Tensor, Variable

_open = []  # the compute dtype of each autocast scope entered, outermost first


def _castable(v, dtype):
    return (isinstance(v, Variable) and v.trainable and getattr(v, "autocast", True)
            and str(v.dtype) in ("float32", "float64") and str(v.dtype) != dtype)


def _is_layer(obj):
    return hasattr(obj, "_own_weights") and hasattr(obj, "_compute_dtype")  # a Layer (base.py imports this module)


def enter(layer, dtype):
    """Swaps the attributes holding layer's (and its sublayers') castable variables for casts; returns what
    `leave` puts back, or None when an enclosing scope of the same dtype already did it."""
    if _open and _open[-1] == dtype:
        return None
    from .. import ops
    swapped, seen = [], set()

    def visit(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for name, value in list(vars(obj).items()):
            if _castable(value, dtype):
                swapped.append((obj, name, value))
                obj.__dict__[name] = ops.cast(value, dtype)
            elif _is_layer(value):
                visit_layer(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if _is_layer(item):
                        visit_layer(item)

    def visit_layer(sub):
        # a sublayer with a policy of its own (Activation("softmax", dtype="float32")) keeps its variables
        if getattr(sub, "compute_dtype", dtype) == dtype:
            visit(sub)
    visit(layer)
    _open.append(dtype)
    return swapped


def leave(swapped):
    if swapped is None:
        return
    _open.pop()
    for obj, name, value in swapped:
        obj.__dict__[name] = value


def outputs_in(out, dtype):
    """A mixed layer's float outputs in its compute dtype (NumPy promotes some bfloat16 products to float32)."""
    from .. import ops

    def fix(t):
        if isinstance(t, Tensor) and t.dtype.name in ("float32", "float64") and t.dtype.name != dtype:
            mask = t._keras_mask
            t = ops.cast(t, dtype)
            t._keras_mask = mask
        return t
    if isinstance(out, (list, tuple)):
        return type(out)(fix(t) for t in out)
    return fix(out)
