"""Functional models: `gpunet.Model(inputs, outputs)` over a graph of layer calls on symbolic
tensors (`gpunet.Input`), with multiple inputs and outputs and shared layers."""
from ..layers.base import KerasTensor, Layer
from ..layers.core import InputLayer
from ..ops.tape import Tensor
from . import summary as summary_mod
from .model import Model


def _flatten(struct):
    if isinstance(struct, dict):
        return list(struct.values())
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
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError("Model(inputs, outputs) takes symbolic tensors from gpunet.Input and layer calls, "
                                "received %r" % (t,))
        for t in self.inputs:
            if not isinstance(t._history[0], InputLayer):
                raise ValueError("Model inputs must come from gpunet.Input(), received %r" % (t,))
        self._nodes = []
        seen = set()

        def visit(kt):
            if id(kt) in seen:
                return
            seen.add(id(kt))
            layer, parents, kw = kt._history
            if isinstance(layer, InputLayer):
                if not any(kt is i for i in self.inputs):
                    raise ValueError("Graph disconnected: cannot obtain a value for %r of input layer %r, which is "
                                     "not among the model's inputs" % (kt, layer.name))
                return
            for p in parents:
                visit(p)
            self._nodes.append((layer, parents, kw, kt))
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
        return list(self._functional_layers)

    def _sublayers(self):
        return [l for l in self._functional_layers if not isinstance(l, InputLayer)]

    def call(self, inputs, training=None):
        xs = self._match_inputs(inputs)
        values = {id(kt): x for kt, x in zip(self.inputs, xs)}
        for layer, parents, kw, out in self._nodes:
            args = [values[id(p)] for p in parents]
            arg = args if (len(args) > 1 or getattr(layer, "_takes_list", False)) else args[0]
            values[id(out)] = layer(arg, training=training, **kw)
        outs = [values[id(o)] for o in self.outputs]
        if isinstance(self._outputs_struct, dict):
            return dict(zip(self._outputs_struct, outs))
        if isinstance(self._outputs_struct, (list, tuple)):
            return outs
        return outs[0]

    def __call__(self, inputs, training=None, **kwargs):
        flat = _flatten(inputs)
        if all(isinstance(i, KerasTensor) for i in flat):
            return Layer.__call__(self, inputs, training=training, **kwargs)
        xs = [i if isinstance(i, Tensor) else Tensor(Layer._to_tensor(self, i).data) for i in self._match_inputs(inputs)]
        return self.call(xs if len(xs) > 1 else xs[0], training=training)

    def _match_inputs(self, inputs):
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError('Model "%s" expects inputs named %s; missing %s' % (self.name, self.input_names, missing))
            return [inputs[n] for n in self.input_names]
        xs = _flatten(inputs)
        if len(xs) != len(self.inputs):
            raise ValueError('Model "%s" expects %d input(s), but received %d' % (self.name, len(self.inputs), len(xs)))
        return xs

    def get_build_config(self):
        return None

    def compute_output_shape(self, input_shape):
        shapes = [o.shape for o in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # ---- trainer hooks ----
    def _forward(self, x, training, fast=False):
        from .data import Multi
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
        if len(self.outputs) != 1:
            return False
        layer, parents, kw, _ = self._nodes[-1]
        if self._nodes[-1][3] is not self.outputs[0] or len(parents) != 1 or kw:
            return False
        if isinstance(layer, Dense) and layer.activation is activations.softmax:
            return True
        return isinstance(layer, Activation) and layer.activation is activations.softmax

    def _forward_logits(self, x, training, fast=False):
        from ..layers.core import Dense
        from .data import Multi
        xs = self._match_inputs(x.arrays if isinstance(x, Multi) else x)
        values = {id(kt): v for kt, v in zip(self.inputs, xs)}
        for layer, parents, kw, out in self._nodes[:-1]:
            args = [values[id(p)] for p in parents]
            arg = args if (len(args) > 1 or getattr(layer, "_takes_list", False)) else args[0]
            values[id(out)] = layer(arg, training=training, **kw)
        layer, parents, _, _ = self._nodes[-1]
        h = values[id(parents[0])]
        if isinstance(layer, Dense):
            layer._check_input(h)
            return layer.call_logits(h)
        return h

    # ---- summary / config ----
    def _summary_headers(self):
        return (["Layer (type)", "Output Shape", "Param #", "Connected to"], ["left", "left", "right", "left"])

    def _summary_rows(self):
        rows = []
        calls = {}
        for layer, parents, _, out in self._nodes:
            calls.setdefault(id(layer), []).append((parents, out))
        for layer in self._functional_layers:
            if isinstance(layer, InputLayer):
                rows.append(["%s (InputLayer)" % layer.name, summary_mod.format_shape(layer.batch_shape), "0", "-"])
                continue
            for parents, out in calls.get(id(layer), []):
                conn = ", ".join("%s[%d][0]" % (p._history[0].name, _node_index(p)) for p in parents)
                rows.append(["%s (%s)" % (layer.name, type(layer).__name__), summary_mod.format_shape(out.shape),
                             "{:,}".format(layer.count_params()), conn])
        return rows

    def get_config(self):
        from ..saving.serialization import serialize_layer
        index = {}  # layer -> list of its output KerasTensors in call order
        for layer, parents, kw, out in self._nodes:
            index.setdefault(id(layer), []).append(out)

        def ref(kt):
            layer = kt._history[0]
            node = 0 if isinstance(layer, InputLayer) else index[id(layer)].index(kt)
            return [layer.name, node, 0]
        layers = []
        for layer in self._functional_layers:
            entry = serialize_layer(layer) if not isinstance(layer, InputLayer) else {
                "module": "keras.layers", "class_name": "InputLayer", "config": layer.get_config(),
                "registered_name": None}
            entry["name"] = layer.name
            nodes = []
            for l2, parents, kw, out in self._nodes:
                if l2 is layer:
                    args = [{"class_name": "__keras_tensor__", "config": {"shape": list(p.shape), "dtype": p.dtype,
                                                                          "keras_history": ref(p)}} for p in parents]
                    nodes.append({"args": [args] if len(parents) > 1 or getattr(layer, "_takes_list", False)
                                  else args, "kwargs": dict(kw)})
            entry["inbound_nodes"] = nodes
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
        from ..saving.serialization import deserialize_layer
        created, outputs = {}, {}  # name -> layer; (name, node index) -> KerasTensor
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                c = entry["config"]
                kt = Input(batch_shape=tuple(c.get("batch_shape") or c.get("batch_input_shape")),
                           dtype=c.get("dtype"), name=c.get("name"))
                created[entry["name"]] = kt._history[0]
                outputs[(entry["name"], 0)] = kt
            else:
                e = dict(entry)
                e.pop("build_config", None)  # built by the symbolic calls below
                created[entry["name"]] = deserialize_layer(e, custom_objects)
        pending = [(e["name"], i, node) for e in config["layers"] if e["class_name"] != "InputLayer"
                   for i, node in enumerate(e.get("inbound_nodes", []))]
        while pending:  # call layers in an order where every input already exists
            progress = False
            for item in list(pending):
                name, i, node = item
                args = node["args"][0] if node["args"] and isinstance(node["args"][0], list) else node["args"]
                refs = [tuple(a["config"]["keras_history"][:2]) for a in args]
                if all(r in outputs for r in refs):
                    ins = [outputs[r] for r in refs]
                    layer = created[name]
                    arg = ins if (len(ins) > 1 or getattr(layer, "_takes_list", False)) else ins[0]
                    outputs[(name, i)] = layer(arg, **node.get("kwargs", {}))
                    pending.remove(item)
                    progress = True
            if not progress:
                raise ValueError("The functional model config has inputs that are never produced: %s" % pending)

        def struct(s):
            if isinstance(s, dict):
                return {k: outputs[tuple(v[:2])] for k, v in s.items()}
            if s and isinstance(s[0], list):
                return [outputs[tuple(v[:2])] for v in s]
            return outputs[tuple(s[:2])]
        return cls(struct(config["input_layers"]), struct(config["output_layers"]), name=config.get("name"),
                   trainable=config.get("trainable", True))


def _node_index(kt):
    return getattr(kt, "_node_index", 0)
