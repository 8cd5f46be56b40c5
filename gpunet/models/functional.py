"""Functional models: `gpunet.Model(inputs, outputs)` over a graph of layer calls on symbolic
tensors (`gpunet.Input`), with multiple inputs and outputs and shared layers."""
import numpy as np

from .. import backend
from ..layers.base import KerasTensor, Layer, call_context
from ..layers.core import InputLayer
from ..layers.embedding import Embedding
from ..ops.symbolic import FunctionOp, decode_special, encode_special, is_symbolic, map_structure
from ..ops.tape import Tensor
from ..training.data import adjusted_rank
from . import summary as summary_mod
from .model import Model


def _flatten(struct):
    if isinstance(struct, dict):  # Keras flattens a dict in sorted key order (keras.tree)
        return [struct[k] for k in sorted(struct)]
    if isinstance(struct, (list, tuple)):
        return list(struct)
    return [struct]


class Functional(Model):
    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        if "_nodes" in self.__dict__:
            return  # Model(inputs, outputs) built this already in Model.__new__
        Model.__init__(self, name=name, trainable=trainable)
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs, self.outputs = _flatten(inputs), _flatten(outputs)
        # the keys of dict inputs and outputs, in the order of self.inputs / self.outputs: compile's losses,
        # metrics and the targets name a dict model's outputs by key (training/outputs.py)
        self._output_keys = sorted(outputs) if isinstance(outputs, dict) else None
        self._input_key_list = sorted(inputs) if isinstance(inputs, dict) else None
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError("Model(inputs, outputs) takes symbolic tensors from gpunet.Input and layer calls, "
                                "received %r" % (t,))
        for t in self.inputs:
            if not isinstance(t._history[0], InputLayer):
                raise ValueError("Model inputs must come from gpunet.Input(), received %r" % (t,))
        self._nodes = []  # (operation, parent KerasTensors, (args, kwargs), output KerasTensors), in run order
        seen = set()

        def visit(kt):
            op, parents, node = kt._history
            if node is None:  # an Input
                if not any(kt is i for i in self.inputs):
                    raise ValueError("Graph disconnected: cannot obtain a value for %r of input layer %r, which is "
                                     "not among the model's inputs" % (kt, op.name))
                return
            if id(node) in seen:
                return
            seen.add(id(node))
            for p in parents:
                visit(p)
            self._nodes.append((op, parents, node, kt._siblings or [kt]))
        for o in self.outputs:
            visit(o)
        self._functional_layers = self._keras_layer_order()
        shapes = [t.shape for t in self.inputs]
        self._build_shape = shapes[0] if len(shapes) == 1 else shapes
        self.built = True
        self.output_names = [o._history[0].name for o in self.outputs]
        self.input_names = [i._history[0].name for i in self.inputs]

    def _keras_layer_order(self):
        """Layers in Keras's order (its map_graph): by depth from the outputs, deepest first, ties
        broken by discovery order — the order that numbers the weights in a Keras file."""
        order, index, post = set(), {}, []  # visited nodes, layer discovery index, nodes in post-order

        def visit(kt):
            if id(kt) in order:
                return
            layer, parents, _ = kt._history
            index.setdefault(id(layer), (len(index), layer))
            for p in parents:
                visit(p)
            order.add(id(kt))
            post.append(kt)
        for o in self.outputs:
            visit(o)
        node_depth, layer_depth = {}, {}
        for kt in reversed(post):
            layer = kt._history[0]
            d = max(node_depth.setdefault(id(kt), 0), layer_depth.get(id(layer), 0))
            layer_depth[id(layer)] = node_depth[id(kt)] = d
            for p in kt._history[1]:
                node_depth[id(p)] = max(d + 1, node_depth.get(id(p), 0))
        for t in self.inputs:
            layer = t._history[0]
            if id(layer) not in layer_depth:
                layer_depth[id(layer)] = 0
                index[id(layer)] = (-1, layer)
        items = sorted(index.values(), key=lambda il: (-layer_depth[id(il[1])], il[0]))
        return [layer for _, layer in items]

    @property
    def layers(self):
        # Keras: the Layers among the graph's operations; a keras.ops call on symbolic tensors (x + 3.0) is an
        # operation of the graph (summary, config, plot) but not a layer
        return [op for op in self._functional_layers if isinstance(op, Layer)]

    # Keras's Functional answers these with the structures it was built from, not its first call's tensors
    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _sublayers(self):
        return [l for l in self._functional_layers if isinstance(l, Layer) and not isinstance(l, InputLayer)]

    def _run_nodes(self, nodes, values, training):
        for op, _, (args, kwargs), outs in nodes:
            a = map_structure(lambda kt: values[id(kt)], args)
            k = map_structure(lambda kt: values[id(kt)], kwargs)
            if isinstance(op, Layer) and "training" not in k:
                k["training"] = training
            res = op(*a, **k)
            if isinstance(res, dict):
                res = [res[o._output_key] for o in outs]
            if outs[0]._siblings is None:
                values[id(outs[0])] = res
            else:
                for o, r in zip(outs, res):
                    values[id(o)] = r
        return values

    def call(self, inputs, training=None):
        xs = self._match_inputs(inputs)
        values = self._run_nodes(self._nodes, {id(kt): x for kt, x in zip(self.inputs, xs)}, training)
        outs = [values[id(o)] for o in self.outputs]
        if isinstance(self._outputs_struct, dict):
            return dict(zip(self._output_keys, outs))
        if isinstance(self._outputs_struct, (list, tuple)) and len(outs) > 1:
            return outs  # Keras unnests a one-element output list
        return outs[0]

    def __call__(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.pop("inputs")
        if is_symbolic(inputs):
            return Layer.__call__(self, inputs, *args[1:], **kwargs)
        self._warn_structure(inputs)
        xs = [_input_value(self, i, t) for i, t in zip(self._match_inputs(inputs), self.inputs)]
        with call_context(self, kwargs.pop("training", None)) as training:
            return self.call(xs if len(xs) > 1 else xs[0], training=training)

    def _match_inputs(self, inputs):
        if isinstance(inputs, dict):
            keys = self._input_keys(inputs)
            missing = [n for n in keys if n not in inputs]
            if missing:
                raise ValueError('Model "%s" expects inputs named %s; missing %s' % (self.name, keys, missing))
            xs = [inputs[n] for n in keys]
        else:
            xs = _flatten(inputs)
        if len(xs) != len(self.inputs):
            raise ValueError('Model "%s" expects %d input(s), but received %d' % (self.name, len(self.inputs), len(xs)))
        return [adjust_rank(x, t.shape) for x, t in zip(xs, self.inputs)]

    def _warn_structure(self, inputs):
        """Keras's _maybe_warn_inputs_struct_mismatch for the case it warns on: a list (or tuple) of arrays given to
        a model built on one input tensor. The arrays are still used."""
        if isinstance(self._inputs_struct, KerasTensor) and isinstance(inputs, (list, tuple)):
            import warnings
            warnings.warn("The structure of `inputs` doesn't match the expected structure.\nExpected: %s\nReceived: "
                          "inputs=%s" % (self._inputs_struct.name, ["Tensor(shape=%s)" % (tuple(np.shape(i)),)
                                                                  for i in inputs]), stacklevel=3)

    def _takes_strings(self):
        return any(t.dtype == "string" for t in self.inputs)

    def _input_keys(self, given):
        """How a dict of input arrays is matched to self.inputs: by the keys of the dict the model was built from
        when it has them all (Keras matches structures), else by the Input layers' names."""
        keys = self._input_key_list
        return keys if keys and all(k in given for k in keys) else self.input_names

    def get_build_config(self):
        return None

    def compute_output_shape(self, input_shape):
        if isinstance(self._outputs_struct, dict):
            return {k: o.shape for k, o in zip(self._output_keys, self.outputs)}
        shapes = [o.shape for o in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # ---- trainer hooks ----
    def _forward(self, x, training, fast=False):
        from ..training.data import Multi
        with call_context(self, training):
            return self.call(x.arrays if isinstance(x, Multi) else x, training=training)

    def _expected_input_shape(self):
        return self.inputs[0].shape if len(self.inputs) == 1 else None

    def _ensure_built(self, x_shape):
        pass

    def _output_shape(self):
        return self.outputs[0].shape if len(self.outputs) == 1 else [o.shape for o in self.outputs]

    def _has_softmax_head(self):
        from .. import activations
        from ..layers.core import Activation, Dense
        if len(self.outputs) != 1 or not self._nodes:
            return False
        layer, parents, (args, kw), outs = self._nodes[-1]
        if outs[0] is not self.outputs[0] or len(parents) != 1 or len(args) != 1 or kw \
                or type(layer).call not in (Dense.call, Activation.call):
            return False
        if isinstance(layer, Dense) and layer.activation is activations.softmax:
            return True
        return isinstance(layer, Activation) and layer.activation is activations.softmax

    def _forward_logits(self, x, training, fast=False):
        from ..layers.core import Dense
        from ..training.data import Multi
        xs = self._match_inputs(x.arrays if isinstance(x, Multi) else x)
        with call_context(self, training):
            values = self._run_nodes(self._nodes[:-1], {id(kt): v for kt, v in zip(self.inputs, xs)}, training)
        layer, parents, _, _ = self._nodes[-1]
        h = values[id(parents[0])]
        if not isinstance(h, Tensor):  # the head reads the Input itself (a one-layer model): the batch as given
            h = Tensor(backend.get_xp().asarray(h))
        if isinstance(layer, Dense):
            layer._check_input(h)
            logits = layer.call_logits(h)
            logits._keras_mask = h._keras_mask
            return logits
        return h

    # ---- summary / config ----
    def _saved_layers(self):
        return list(self._functional_layers)

    def _layer_chain(self):
        if type(self).call is not Functional.call or len(self.inputs) != 1 or len(self.outputs) != 1:
            return None
        prev, chain = self.inputs[0], []
        for op, parents, (args, kwargs), outs in self._nodes:
            if (not isinstance(op, Layer) or len(parents) != 1 or parents[0] is not prev or len(args) != 1
                    or args[0] is not prev or kwargs or len(outs) != 1 or not op.built
                    or op.activity_regularizer is not None):
                return None
            chain.append((op, tuple(outs[0].shape)))
            prev = outs[0]
        return chain if prev is self.outputs[0] else None

    def _program_graph(self):
        """(nodes, input, output) for the GPU step programs (training/graph_program.py) when this model's call is
        Functional's own on one input and one output; (None, None, None) otherwise."""
        if type(self).call is not Functional.call or len(self.inputs) != 1 or len(self.outputs) != 1 \
                or isinstance(self._outputs_struct, dict) or isinstance(self._inputs_struct, dict):
            return None, None, None
        return self._nodes, self.inputs[0], self.outputs[0]

    def _declared_input_dtype(self):
        if len(self.inputs) != 1:
            return None
        readers = [op for op, parents, _, _ in self._nodes if any(p is self.inputs[0] for p in parents)]
        return self.inputs[0].dtype if readers and all(isinstance(op, Embedding) for op in readers) else None

    def _summary_headers(self):
        return (["Layer (type)", "Output Shape", "Param #", "Connected to"], ["left", "left", "right", "left"])

    def _summary_rows(self):
        rows = []
        calls = {}
        for layer, parents, _, outs in self._nodes:
            calls.setdefault(id(layer), []).append((parents, outs))
        for layer in self._functional_layers:
            if isinstance(layer, InputLayer):
                rows.append(["%s (InputLayer)" % layer.name, summary_mod.format_shape(layer.batch_shape), "0", "-"])
                continue
            for parents, outs in calls.get(id(layer), []):
                conn = ", ".join("%s[%d][%d]" % (p._history[0].name, p._node_index, p._tensor_index) for p in parents)
                shape = outs[0].shape if len(outs) == 1 else [o.shape for o in outs]
                rows.append(["%s (%s)" % (layer.name, _class_name(layer)), summary_mod.format_shape(shape),
                             "{:,}".format(layer.count_params()), conn])
        return rows

    def get_config(self):
        from ..common.registry import serialize_layer
        index = {}  # operation -> the nodes it makes in this model, in call order
        for op, parents, node, outs in self._nodes:
            index.setdefault(id(op), []).append(id(node))

        def ref(kt):
            op = kt._history[0]
            node = 0 if isinstance(op, InputLayer) else index[id(op)].index(id(kt._history[2]))
            return [op.name, node, kt._tensor_index]

        def tensor(kt):
            return {"class_name": "__keras_tensor__", "config": {"shape": list(kt.shape), "dtype": kt.dtype,
                                                                 "keras_history": ref(kt)}}
        layers = []
        for layer in self._functional_layers:
            if isinstance(layer, InputLayer):
                entry = {"module": "keras.layers", "class_name": "InputLayer", "config": layer.get_config(),
                         "registered_name": None}
            elif isinstance(layer, FunctionOp):  # a keras.ops call on symbolic tensors, saved as Keras saves ops
                if layer.keras_module is None:
                    raise ValueError("The model uses gpunet.ops.%s on symbolic tensors; Keras has no operation class "
                                     "for it, so the model cannot be saved in Keras's format. Wrap it in a Layer "
                                     "subclass with get_config()." % layer.fn_name)
                entry = {"module": layer.keras_module, "class_name": layer.class_name,
                         "config": layer.get_config(), "registered_name": layer.class_name}
            else:
                entry = serialize_layer(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [{"args": encode_special(map_structure(tensor, args)),
                                       "kwargs": encode_special(map_structure(tensor, kw))}
                                      for op, _, (args, kw), _ in self._nodes if op is layer]
            layers.append(entry)

        def struct(s):
            if isinstance(s, dict):
                return {k: ref(v) for k, v in s.items()}
            if isinstance(s, (list, tuple)):
                return [ref(v) for v in s]
            return ref(s)
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": struct(self._inputs_struct), "output_layers": struct(self._outputs_struct)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..layers.core import Input
        from ..common.registry import deserialize_layer
        created, outputs = {}, {}  # name -> operation; (name, node index, tensor index) -> KerasTensor
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                c = entry["config"]
                kt = Input(batch_shape=tuple(c.get("batch_shape") or c.get("batch_input_shape")),
                           dtype=c.get("dtype"), name=c.get("name"))
                created[entry["name"]] = kt._history[0]
                outputs[(entry["name"], 0, 0)] = kt
            elif str(entry.get("module") or "").startswith("keras.src.ops"):
                created[entry["name"]] = _function_op(entry)
            else:
                e = dict(entry)
                e.pop("build_config", None)  # built by the symbolic calls below
                created[entry["name"]] = deserialize_layer(e, custom_objects)

        def is_ref(d):
            return isinstance(d, dict) and d.get("class_name") == "__keras_tensor__"

        def refs(struct, out):
            if is_ref(struct):
                h = struct["config"]["keras_history"]
                out.append((h[0], h[1], h[2] if len(h) > 2 else 0))
            elif isinstance(struct, (list, tuple)):
                for s in struct:
                    refs(s, out)
            elif isinstance(struct, dict):
                for s in struct.values():
                    refs(s, out)
            return out

        def fill(struct):
            if is_ref(struct):
                h = struct["config"]["keras_history"]
                return outputs[(h[0], h[1], h[2] if len(h) > 2 else 0)]
            if isinstance(struct, dict) and struct.get("class_name") in ("__slice__", "__ellipsis__"):
                return decode_special(struct)
            if isinstance(struct, (list, tuple)):  # Keras's in-memory configs hold tuples
                return type(struct)(fill(s) for s in struct)
            if isinstance(struct, dict):
                return {k: fill(v) for k, v in struct.items()}
            return struct
        pending = [(e["name"], i, node) for e in config["layers"] if e["class_name"] != "InputLayer"
                   for i, node in enumerate(e.get("inbound_nodes", []))]
        while pending:  # call layers in an order where every input already exists
            progress = False
            for item in list(pending):
                name, i, node = item
                if all(r in outputs for r in refs([node.get("args", []), node.get("kwargs", {})], [])):
                    args, kwargs = fill(node.get("args", [])), fill(node.get("kwargs", {}))
                    if not is_symbolic((args, kwargs)):  # a graph node always has a tensor input; without one the
                        raise ValueError(              # call would run eagerly on the file's data
                            "node %d of %r has no tensor inputs (its arguments are %.200r)" % (i, name, (args, kwargs)))
                    res = created[name](*args, **kwargs)
                    for j, kt in enumerate(res if isinstance(res, list) else [res]):
                        outputs[(name, i, j)] = kt
                    pending.remove(item)
                    progress = True
            if not progress:
                raise ValueError("The functional model config has inputs that are never produced: %s" % pending)

        def key(v):
            return (v[0], v[1], v[2] if len(v) > 2 else 0)

        def struct(s):
            if isinstance(s, dict):
                return {k: outputs[key(v)] for k, v in s.items()}
            if s and isinstance(s[0], list):
                return [outputs[key(v)] for v in s]
            return outputs[key(s)]
        return cls(struct(config["input_layers"]), struct(config["output_layers"]), name=config.get("name"),
                   trainable=config.get("trainable", True))


def _input_value(model, x, kt):
    """A value for Input `kt`: a Tensor, or the host array itself for a string Input (the raw-string model idiom:
    the lookup layers read host data)."""
    if isinstance(x, Tensor):
        return x
    if kt.dtype == "string":
        arr = np.asarray(x)
        if arr.dtype.kind not in "OSU":
            raise TypeError('Input %r of model "%s" takes strings, received an array of dtype %s'
                            % (kt._history[0].name, model.name, arr.dtype))
        return arr
    return Tensor(Layer._to_tensor(model, x).data)


def adjust_rank(x, ref):
    """x reshaped by Keras's input-rank rule (training/data.adjusted_rank), keeping its mask."""
    shape = getattr(x, "shape", None)
    new = None if shape is None else adjusted_rank(tuple(shape), tuple(ref))
    if new is None:
        return x
    if isinstance(x, Tensor):
        from .. import ops
        y = ops.reshape(x, new)
        y._keras_mask = x._keras_mask
        return y
    return x.reshape(new)


def _class_name(op):
    return op.class_name if isinstance(op, FunctionOp) else type(op).__name__


def _function_op(entry):
    """A saved keras.ops node ("Add", "Concatenate" with axis=-1) back as the gpunet op it names. The class name
    is looked up in Keras's table of saved op classes and nowhere else (ops/op_classes.py)."""
    from ..ops import op_classes
    name = entry.get("class_name")
    try:
        fn_name = op_classes.function_for_class(name)
    except (KeyError, TypeError):
        raise ValueError("%r (module %r) is not one of Keras's saved operation classes" % (name, entry.get("module"))) \
            from None
    fn = _loadable_ops().get(fn_name)
    if fn is None:
        raise ValueError("The saved model uses the op %r (keras.ops.%s), which gpunet does not have" % (name, fn_name))
    cfg = entry.get("config") or {}
    if not isinstance(cfg, dict):
        raise ValueError("the config of op %r must be a dict, received %r" % (name, cfg))
    static = {k: decode_special(v) for k, v in cfg.items() if k != "name"}
    return FunctionOp(fn_name, fn, static, name=cfg.get("name", entry["name"]))


_LOADABLE = {}


def _loadable_ops():
    """{keras.ops name: gpunet op} for the names in Keras's op-class table that gpunet implements."""
    if not _LOADABLE:
        from .. import ops
        from ..ops import op_classes
        namespace = vars(ops)
        _LOADABLE.update({fn: namespace[fn] for fn in set(op_classes.FUNCTION_OF.values())
                          if callable(namespace.get(fn))})
    return _LOADABLE
