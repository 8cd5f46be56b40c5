"""Sequential: a plain stack of layers."""
from .. import activations
from ..layers.base import KerasTensor, Layer, call_context
from ..layers.convolutional import _Conv, fused_conv_pool
from ..layers.core import Activation, Dense, InputLayer
from ..layers.embedding import Embedding
from ..ops.symbolic import make_outputs
from ..ops.tape import Tensor
from . import summary as summary_mod
from .model import Model


class Sequential(Model):
    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        self._layers = []
        self._input_layer = None
        self._batch_input_shape = None
        self._layer_output_shapes = {}
        for layer in layers or []:
            self.add(layer, rebuild=False)
        if self._batch_input_shape is not None:
            self.build(self._batch_input_shape)

    def add(self, layer, rebuild=True):
        if isinstance(layer, KerasTensor):
            layer = layer._history[0]
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential model %r: an Input can only be the first layer" % self.name)
            self._input_layer = layer
            self._batch_input_shape = layer.batch_shape
            return
        if not isinstance(layer, Layer):
            raise TypeError("Only instances of gpunet.layers.Layer can be added to a Sequential model, "
                            "received %r (of type %s)" % (layer, type(layer).__name__))
        if any(l.name == layer.name for l in self._layers):
            raise ValueError('All layers added to a Sequential model should have unique names. Name "%s" is '
                             "already the name of a layer in this model." % layer.name)
        if not self._layers and self._batch_input_shape is None and layer._batch_input_shape is not None:
            self._batch_input_shape = layer._batch_input_shape
        self._layers.append(layer)
        self.built = False
        if rebuild and self._batch_input_shape is not None:
            self.build(self._batch_input_shape)

    def pop(self, rebuild=True):
        if not self._layers:
            raise IndexError("There are no layers in model %r to pop" % self.name)
        layer = self._layers.pop()
        self.built = False
        if rebuild and self._layers and self._batch_input_shape is not None:
            self.build(self._batch_input_shape)
        return layer

    @property
    def layers(self):
        return list(self._layers)

    def _sublayers(self):
        return list(self._layers)

    def build(self, input_shape=None):
        if input_shape is None:
            input_shape = self._batch_input_shape
        if input_shape is None:
            raise ValueError("Sequential model %r cannot be built without an input shape: add an Input, pass "
                             "input_shape= to the first layer, or call build(input_shape)" % self.name)
        shape = tuple(input_shape)
        self._batch_input_shape = shape
        self._build_shape = shape
        for layer in self._layers:
            try:
                layer._maybe_build(shape)
                layer._check_input_shape(shape)
                shape = tuple(layer.compute_output_shape(shape))
            except (ValueError, TypeError) as e:
                msg = str(e)
                if layer.name not in msg:
                    msg = 'Layer "%s" could not be built on input shape %s: %s' % (layer.name, shape, msg)
                raise type(e)(msg) from None
            self._layer_output_shapes[id(layer)] = shape
        self._output_shape_value = shape
        self.built = True
        self._make_graph()

    def _make_graph(self):
        """The symbolic graph Keras's Sequential builds (an Input, then each layer on the previous tensor), from
        the shapes build() worked out: it gives model.inputs/outputs and every layer's .input/.output."""
        shape = self._batch_input_shape
        src = self._input_layer if self._input_layer is not None else self.__dict__.get("_graph_input")
        if src is None or tuple(src.batch_shape) != tuple(shape):
            first = self._layers[0] if self._layers else None
            src = self._graph_input = InputLayer(batch_shape=shape, dtype=getattr(first, "dtype", None))
        kt = src.output
        for layer in self._layers:
            out = self._layer_output_shapes[id(layer)]
            kt = make_outputs(layer, (kt,), {}, (out, layer.dtype))
        self._graph = ([src.output], [kt])

    def _graph_tensors(self, which, what):
        if not self.built or "_graph" not in self.__dict__:
            raise AttributeError("Sequential model '%s' has no defined %s yet." % (self.name, what))
        return self._graph[which]

    @property
    def inputs(self):
        return list(self._graph_tensors(0, "inputs"))

    @property
    def outputs(self):
        return list(self._graph_tensors(1, "outputs"))

    # Keras 3 answers these only after the Sequential itself was called symbolically; gpunet also answers
    # them from the model's own graph, as tf.keras did (README: differences)
    @property
    def input(self):
        if self.__dict__.get("_inbound_nodes"):
            return Model.input.fget(self)
        return self._graph_tensors(0, "input")[0]

    @property
    def output(self):
        if self.__dict__.get("_inbound_nodes"):
            return Model.output.fget(self)
        return self._graph_tensors(1, "output")[0]

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)

    def call(self, inputs, training=None):
        x = inputs
        if self.built and self._batch_input_shape is not None:
            from .functional import adjust_rank  # as Keras's Sequential runs its Functional graph
            x = adjust_rank(x, self._batch_input_shape)
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    # ---- trainer hooks ----
    def _expected_input_shape(self):
        return self._batch_input_shape

    def _ensure_built(self, x_shape):
        if not self._layers:
            raise ValueError("Sequential model %r has no layers" % self.name)
        if not self.built:
            self.build((None,) + tuple(x_shape[1:]))

    def _output_shape(self):
        return self._output_shape_value

    def _head(self):
        last = self._layers[-1] if self._layers else None
        # a subclass that overrides call() is not the fused head: its own call must run
        if isinstance(last, Dense) and type(last).call is Dense.call and last.activation is activations.softmax:
            return "dense"
        if isinstance(last, Activation) and type(last).call is Activation.call and last.activation is activations.softmax:
            return "activation"
        return None

    def _has_softmax_head(self):
        return self._head() is not None

    def _forward(self, x, training, fast=False):
        with call_context(self, training):
            return self._run(x, training, fast)

    def _run(self, x, training, fast):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if fast and self._fast_ok():
            return self._call_fast(self._layers, x, training)
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    @staticmethod
    def _call_fast(layers, x, training):
        """Each layer's call on the previous output; a Conv followed by its MaxPooling runs as one op
        where fused_conv_pool covers them (the full-resolution activation is never materialised)."""
        i = 0
        while i < len(layers):
            layer = layers[i]
            if i + 1 < len(layers) and isinstance(layer, _Conv):
                y = fused_conv_pool(layer, layers[i + 1], x)
                if y is not None:
                    x, i = y, i + 2
                    continue
            x = layer.call(x, training=training) if layer._call_takes_training else layer.call(x)
            i += 1
        return x

    def _forward_logits(self, x, training, fast=False):
        with call_context(self, training):
            return self._run_logits(x, training, fast)

    def _run_logits(self, x, training, fast):
        x = x if isinstance(x, Tensor) else Tensor(x)
        fast = fast and self._fast_ok()
        if fast:
            x = self._call_fast(self._layers[:-1], x, training)
        else:
            for layer in self._layers[:-1]:
                x = layer(x, training=training)
        if self._head() == "dense":
            last = self._layers[-1]
            if not fast:
                last._check_input(x)
            logits = last.call_logits(x)
            logits._keras_mask = x._keras_mask  # Dense passes a mask on (padded timesteps leave the loss)
            return logits
        return x

    def _fast_ok(self):
        """Inside fit/evaluate the data were checked once up front, so each batch may go straight to
        `call` (no per-batch input checks) — unless a layer needs __call__ (activity regularizer)."""
        return self.built and all(l.built and l.activity_regularizer is None and not l._produces_mask()
                                  and not l._mixed for l in self._layers)  # masks, autocast ride on __call__

    def _loss_output_names(self):
        return ["output"], True

    def _saved_layers(self):
        return list(self.layers)

    def _layer_chain(self):
        if not self._fast_ok():
            return None
        return [(l, self._layer_output_shapes.get(id(l))) for l in self.layers]

    def _program_chain(self):
        """[(layer, output shape)] for the GPU step programs (training/graph_program.py checks each layer)."""
        if not self.built or not all(l.built for l in self._layers):
            return None
        return [(l, self._layer_output_shapes.get(id(l))) for l in self.layers]

    def _declared_input_dtype(self):
        first = self.layers[0] if self.layers else None
        dtype = getattr(self._input_layer, "dtype", None)
        return dtype if dtype and isinstance(first, Embedding) else None

    # ---- summary / config ----
    def _summary_rows(self):
        rows = []
        for layer in self._layers:
            shape = self._layer_output_shapes.get(id(layer)) if self.built else None
            params = "{:,}".format(layer.count_params()) if layer.built else "0 (unbuilt)"
            rows.append(["%s (%s)" % (layer.name, type(layer).__name__), summary_mod.format_shape(shape), params])
        return rows

    @property
    def input_shape(self):
        return self._batch_input_shape

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError("Sequential model %r is not built yet: it has no output shape" % self.name)
        return self._output_shape_value

    def get_config(self):
        from ..common.registry import serialize_layer
        layers = []
        if self._batch_input_shape is not None:
            layers.append({"module": "keras.layers", "class_name": "InputLayer",
                           "config": {"batch_shape": list(self._batch_input_shape), "dtype": self.dtype,
                                      "sparse": False, "ragged": False,
                                      "name": self._input_layer.name if self._input_layer else "input_layer"},
                           "registered_name": None})
        layers.extend(serialize_layer(l) for l in self._layers)
        cfg = {"name": self.name, "trainable": self.trainable,
               "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": self.dtype},
                         "registered_name": None},
               "layers": layers}
        if self._build_shape is not None:
            cfg["build_input_shape"] = list(self._build_shape)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..layers.core import Input
        from ..common.registry import deserialize_layer
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        layer_configs = config.get("layers", [])
        if not isinstance(layer_configs, list) or not all(isinstance(lc, dict) for lc in layer_configs):
            raise ValueError("a Sequential config's `layers` must be a list of layer configs, received %r"
                             % (layer_configs,))
        for i, lc in enumerate(layer_configs):
            if lc.get("class_name") == "InputLayer" and i > 0:
                raise ValueError("a Sequential config has an InputLayer at position %d (%r): an InputLayer may only "
                                 "come first" % (i, (lc.get("config") or {}).get("name")))
            if lc.get("class_name") == "InputLayer":
                c = lc.get("config", {})
                shape = c.get("batch_shape") or c.get("batch_input_shape")
                model.add(Input(batch_shape=tuple(shape), dtype=c.get("dtype"), name=c.get("name")))
            else:
                model.add(deserialize_layer(lc, custom_objects), rebuild=False)
        shape = model._batch_input_shape or config.get("build_input_shape")
        if shape is not None and model._layers:
            model.build(tuple(shape))
        return model
