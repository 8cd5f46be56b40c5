"""model.export(path, format="onnx"): the model's inference graph as an ONNX file, written with the `onnx` package.

The graph is walked from the model's outputs (Sequential and Functional alike, nested models inlined); each layer
becomes the ONNX ops that compute what its inference call computes, with its weights as initializers. Images stay
channels_last at the model's edges; a convolution or pooling transposes to ONNX's channels-first around itself.
The batch dimension is dynamic ("batch"); every other dimension is the model's. A layer with no mapping, or an
option a mapping cannot honour, is refused with its name and class before anything is written.

`tests/test_export_onnx.py` runs each family through onnxruntime against `predict`."""
import os

import numpy as np

from .onnx_layers import CONVERTERS, ExportError

DEFAULT_OPSET = 18  # LayerNormalization, axes-as-inputs reductions; onnxruntime runs it everywhere


class _Graph:
    def __init__(self, onnx):
        self.onnx, self.helper = onnx, onnx.helper
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint):
        self.n += 1
        return "%s_%d" % (hint.replace("/", "_"), self.n)

    def const(self, value, hint="const", dtype=np.float32):
        name = self.name(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype=dtype)),
                                                            name))
        return name

    def ints(self, values, hint="shape"):
        return self.const(np.asarray(values, dtype=np.int64), hint, np.int64)

    def op(self, op_type, inputs, hint=None, outputs=1, **attrs):
        outs = [self.name(hint or op_type) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0] if outputs == 1 else outs


def export_onnx(model, filepath, verbose=None, input_signature=None, opset_version=None):
    try:
        import onnx
    except ImportError:
        raise ImportError("model.export(format=\"onnx\") writes the file with the `onnx` package, which is not "
                          "installed: pip install onnx (onnxruntime runs the exported file)") from None
    if input_signature is not None:
        raise ValueError("gpunet exports the model's own input shapes (batch dimension dynamic); input_signature "
                         "is not supported. Received: input_signature=%r" % (input_signature,))
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < 17:
        raise ValueError("gpunet's ONNX export needs opset_version >= 17, received %r" % (opset_version,))
    if not getattr(model, "built", False):
        raise ValueError("The model must be built before export: call it on data, fit it, or give it an Input.")
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except AttributeError:
        raise ExportError("%s %r has no symbolic graph (a subclassed model): ONNX export takes Sequential and "
                          "Functional models" % (type(model).__name__, model.name)) from None
    g = _Graph(onnx)
    values = {}
    graph_inputs = []
    for kt in inputs:
        name = kt._history[0].name
        values[id(kt)] = name
        graph_inputs.append(onnx.helper.make_tensor_value_info(name, _onnx_type(onnx, kt.dtype), _dims(kt.shape)))
    _walk(g, outputs, values)
    graph_outputs = []
    for i, kt in enumerate(outputs):
        name = _output_name(model, i)
        g.nodes.append(onnx.helper.make_node("Identity", [values[id(kt)]], [name]))
        graph_outputs.append(onnx.helper.make_tensor_value_info(name, _onnx_type(onnx, kt.dtype), _dims(kt.shape)))
    graph = onnx.helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, g.inits)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="gpunet")
    proto.ir_version = min(proto.ir_version, 10)  # what current onnxruntime releases read
    onnx.checker.check_model(proto, full_check=True)
    filepath = os.fspath(filepath)
    from ..saving.files import _atomic_write
    data = proto.SerializeToString()

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    _atomic_write(filepath, write)  # the old file or the whole new one, never a partial model
    if verbose or verbose is None:
        print("Saved artifact at '%s'." % filepath)
    return filepath


def _output_name(model, i):
    names = getattr(model, "output_names", None) or []
    return names[i] if i < len(names) and names[i] else "output_%d" % i


def _onnx_type(onnx, dtype):
    table = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE, "int32": onnx.TensorProto.INT32,
             "int64": onnx.TensorProto.INT64, "bool": onnx.TensorProto.BOOL, "float16": onnx.TensorProto.FLOAT16}
    key = str(np.dtype(dtype)) if dtype is not None else "float32"
    if key not in table:
        raise ExportError("ONNX export: tensors of dtype %s are not supported" % key)
    return table[key]


def _dims(shape):
    return ["batch" if (i == 0 and d is None) else (d if d is not None else "dim_%d" % i) for i, d in enumerate(shape)]


def _walk(g, outputs, values):
    """Converts every node the outputs depend on, in run order; values maps id(KerasTensor) -> ONNX value."""
    order, seen = [], set()

    def visit(kt):
        if id(kt) in values:
            return
        op, parents, node = kt._history
        if node is None:
            raise ExportError("the graph reads %r, which is not among the model's inputs" % (kt,))
        if id(node) in seen:
            return
        seen.add(id(node))
        for p in parents:
            visit(p)
        order.append((op, parents, node, kt._siblings or [kt]))
    for kt in outputs:
        visit(kt)
    for op, parents, (args, kwargs), outs in order:
        results = _convert(g, op, args, kwargs, values)
        results = results if isinstance(results, list) else [results]
        if len(results) != len(outs):
            raise ExportError("layer %r (%s): %d outputs exported, the model uses %d"
                              % (op.name, type(op).__name__, len(results), len(outs)))
        for kt, name in zip(outs, results):
            values[id(kt)] = name


def _tensors(struct):
    if isinstance(struct, (list, tuple)):
        return [t for s in struct for t in _tensors(s)]
    if isinstance(struct, dict):
        return [t for k in sorted(struct) for t in _tensors(struct[k])]
    return [struct] if hasattr(struct, "_history") else []


def _convert(g, layer, args, kwargs, values):
    if callable(getattr(layer, "fit", None)) and hasattr(layer, "outputs"):  # a nested model (duck-typed: models/
        # imports this room, not the other way): its graph, fed with our values
        ins = _tensors(args)
        inner = dict(values)
        for kt, outer in zip(layer.inputs, ins):
            inner[id(kt)] = values[id(outer)]
        _walk(g, layer.outputs, inner)
        return [inner[id(kt)] for kt in layer.outputs]
    fn = CONVERTERS.get(type(layer))
    if fn is None:
        raise ExportError("layer %r (%s) has no ONNX mapping in gpunet; the layers that export: %s"
                          % (layer.name, type(layer).__name__, ", ".join(sorted(c.__name__ for c in CONVERTERS))))
    tensors = _tensors(args)
    return fn(g, layer, [values[id(t)] for t in tensors], [tuple(t.shape) for t in tensors], args, kwargs, values)
