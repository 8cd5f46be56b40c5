"""Bidirectional (a recurrent layer forwards and a copy backwards, merged) and TimeDistributed (a layer
applied to every timestep), with Keras 3's arguments, weights and configs."""
import copy

from .. import ops
from .base import Layer
from .recurrent import _flat


def _removeprefix(s, p):
    return s[len(p):] if s.startswith(p) else s


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the two outputs."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        from ..common.registry import deserialize_layer, serialize_layer
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `Bidirectional` layer with a `keras.layers.Layer` instance. "
                             "Received: %r" % (layer,))
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError("`backward_layer` need to be a `keras.layers.Layer` instance. Received: %r"
                             % (backward_layer,))
        if merge_mode not in ("sum", "mul", "ave", "concat", None):
            raise ValueError('Invalid merge mode. Received: %r. Merge mode should be one of {"sum", "mul", "ave", '
                             '"concat", None}' % (merge_mode,))
        if not hasattr(layer, "go_backwards") or not hasattr(layer, "return_sequences"):
            raise ValueError("Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU, RNN), which has "
                             "`go_backwards` and `return_sequences`; received a %s" % type(layer).__name__)
        super().__init__(**kwargs)
        cfg = serialize_layer(layer)
        cfg["config"]["name"] = "forward_" + _removeprefix(layer.name, "forward_")
        self.forward_layer = deserialize_layer(cfg)
        if backward_layer is None:
            cfg = copy.deepcopy(serialize_layer(layer))
            cfg["config"]["go_backwards"] = not layer.go_backwards
            cfg["config"]["name"] = "backward_" + _removeprefix(layer.name, "backward_")
            self.backward_layer = deserialize_layer(cfg)
        else:
            self.backward_layer = backward_layer
        for half in (self.forward_layer, self.backward_layer):
            if getattr(half, "zero_output_for_mask", None) is not None:
                half.zero_output_for_mask = half.return_sequences
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Forward layer and backward layer should have different `go_backwards` value.")
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, attr) != getattr(self.backward_layer, attr):
                raise ValueError("Forward layer and backward layer are expected to have the same value for "
                                 "attribute %r, got %r and %r" % (attr, getattr(self.forward_layer, attr),
                                                                  getattr(self.backward_layer, attr)))
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self._initial_weights = weights

    def build(self, sequences_shape, initial_state_shape=None):
        self.forward_layer._maybe_build(tuple(sequences_shape))
        self.backward_layer._maybe_build(tuple(sequences_shape))
        if self._initial_weights:
            w = self._initial_weights
            self.forward_layer.set_weights(w[:len(w) // 2])
            self.backward_layer.set_weights(w[len(w) // 2:])
            self._initial_weights = None

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        out = self.forward_layer.compute_output_shape(tuple(sequences_shape))
        states = []
        if self.return_state:
            out, states = out[0], list(out[1:])
        out = tuple(out)
        if self.merge_mode == "concat":
            out = out[:-1] + (out[-1] * 2,)
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            return outs + states + states
        return outs if self.merge_mode is None else out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.return_sequences:
            out = [mask, mask] if not self.merge_mode else [mask]
        else:
            out = [None, None] if not self.merge_mode else [None]
        if self.return_state:
            out = out + [None] * (2 * len(_flat(self.forward_layer.state_size)))
        return out if len(out) > 1 else out[0]

    def call(self, sequences, initial_state=None, mask=None, training=None):
        kw = {"training": training, "mask": mask}
        fs = bs = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fs, bs = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer.call(sequences, initial_state=fs, **kw)
        y_rev = self.backward_layer.call(sequences, initial_state=bs, **kw)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        if self.merge_mode == "concat":
            out = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            out = ops.add(y, y_rev)
        elif self.merge_mode == "ave":
            out = ops.divide(ops.add(y, y_rev), 2.0)
        elif self.merge_mode == "mul":
            out = ops.multiply(y, y_rev)
        else:
            out = [y, y_rev]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def reset_states(self):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def get_config(self):
        from ..common.registry import serialize_layer
        cfg = super().get_config()
        cfg["merge_mode"] = self.merge_mode
        cfg["layer"] = serialize_layer(self.forward_layer)
        cfg["backward_layer"] = serialize_layer(self.backward_layer)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..common.registry import deserialize_layer
        config = copy.deepcopy(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_layer(config["backward_layer"], custom_objects)
        return cls(**config)


class TimeDistributed(Layer):
    """Applies `layer` to every timestep: (batch, time, ...) is folded to (batch * time, ...) and back."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                             "Received: %r" % (layer,))
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, "
                             "received: %s" % (input_shape,))
        self.layer._maybe_build((None,) + input_shape[2:])

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((input_shape[0],) + tuple(input_shape[2:]))
        return (inner[0], input_shape[1]) + tuple(inner[1:])

    def call(self, inputs, training=None, mask=None):
        B, T = inputs.shape[0], inputs.shape[1]
        x = ops.reshape(inputs, (B * T,) + tuple(inputs.shape[2:]))
        kw = {}
        if self.layer._call_takes_training:
            kw["training"] = training
        if mask is not None and "mask" in getattr(self.layer, "_call_mask_args", ()):
            kw["mask"] = ops.reshape(mask, (B * T,) + tuple(mask.shape[2:]))
        y = self.layer.call(x, **kw)
        return ops.reshape(y, (B, T) + tuple(y.shape[1:]))

    def get_config(self):
        from ..common.registry import serialize_layer
        cfg = super().get_config()
        cfg["layer"] = serialize_layer(self.layer)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..common.registry import deserialize_layer
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        return cls(**config)
