"""The recurrent cells — SimpleRNNCell, LSTMCell, GRUCell and StackedRNNCells — with Keras 3's arguments,
weights (kernel (input, G*units) and recurrent_kernel (units, G*units) in Keras's gate order: i, f, c, o for
LSTM, z, r, h for GRU) and configs. A cell's `call` is one timestep on the tape: the RNN layer's general
path steps it; the built-in cells' fused path (ops.rnn.sequence) computes the same numbers."""
from .. import activations, backend, constraints, initializers, ops, random as _random, regularizers
from ..ops.tape import Tensor
from .base import Layer


def _positive_units(units, what):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError("Received an invalid value for argument `units`, expected a positive integer, got %r "
                         "(in %s)." % (units, what))


class _CellBase(Layer):
    """What the three built-in cells share: weights' initializers, regularizers and constraints, and the
    dropout masks Keras draws once per sequence (the same units dropped at every timestep)."""
    _gates = 1

    def __init__(self, units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                 kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                 recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, **kwargs):
        _positive_units(units, type(self).__name__)
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._dp_mask = self._rec_dp_mask = None

    def _mask_count(self):
        return 1

    def get_dropout_mask(self, step_input):
        """The input dropout mask(s) of this sequence: drawn at the first step, reused at every other."""
        if self._dp_mask is None and 0.0 < self.dropout < 1.0:
            self._dp_mask = _draw(step_input.shape, self.dropout, step_input.dtype, self._mask_count())
        return self._dp_mask

    def get_recurrent_dropout_mask(self, state):
        if self._rec_dp_mask is None and 0.0 < self.recurrent_dropout < 1.0:
            self._rec_dp_mask = _draw(state.shape, self.recurrent_dropout, state.dtype, self._mask_count())
        return self._rec_dp_mask

    def reset_dropout_mask(self):
        self._dp_mask = None

    def reset_recurrent_dropout_mask(self):
        self._rec_dp_mask = None

    def _add_kernels(self, input_dim):
        G = self._gates
        self.kernel = self.add_weight(shape=(input_dim, G * self.units), name="kernel",
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=(self.units, G * self.units), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)

    def get_initial_state(self, batch_size=None):
        xp = backend.get_xp()
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [Tensor(xp.zeros((batch_size, d), dtype=self.compute_dtype)) for d in sizes]

    def _base_config(self, extra):
        cfg = super().get_config()
        cfg.update({"units": self.units, "activation": activations.serialize(self.activation)})
        cfg.update(extra)
        cfg.update({"use_bias": self.use_bias,
                    "kernel_initializer": initializers.serialize(self.kernel_initializer),
                    "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                    "bias_initializer": initializers.serialize(self.bias_initializer),
                    "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                    "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                    "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                    "kernel_constraint": constraints.serialize(self.kernel_constraint),
                    "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
                    "bias_constraint": constraints.serialize(self.bias_constraint),
                    "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed})
        return cfg


def _draw(shape, rate, dtype, count):
    masks = [Tensor(_random.dropout_mask(tuple(shape), rate, dtype)) for _ in range(count)]
    return masks[0] if count == 1 else masks


class SimpleRNNCell(_CellBase):
    _gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, **kwargs)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None

    def call(self, sequence, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        dp = self.get_dropout_mask(sequence)
        rdp = self.get_recurrent_dropout_mask(prev)
        if training and dp is not None:
            sequence = ops.multiply(sequence, dp)
        h = ops.matmul(sequence, self.kernel)
        if self.bias is not None:
            h = ops.add(h, self.bias)
        if training and rdp is not None:
            prev = ops.multiply(prev, rdp)
        out = self.activation(ops.add(h, ops.matmul(prev, self.recurrent_kernel)))
        return out, ([out] if isinstance(states, (list, tuple)) else out)

    def get_config(self):
        return self._base_config({})


class LSTMCell(_CellBase):
    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.implementation = 1 if self.recurrent_dropout else implementation
        self.state_size = [units, units]
        self.output_size = units

    def _mask_count(self):
        return 4 if self.implementation == 1 else 1

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        self.bias = None
        if self.use_bias:
            init = self.bias_initializer
            if self.unit_forget_bias:
                init = _forget_bias_one(self.bias_initializer, self.units)
            self.bias = self.add_weight(shape=(4 * self.units,), name="bias", initializer=init,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        H = self.units
        dp = self.get_dropout_mask(inputs) if training else None
        rdp = self.get_recurrent_dropout_mask(h_tm1) if training else None
        if self.implementation == 1:  # one mask per gate, as Keras's implementation 1
            xs = [ops.multiply(inputs, dp[k]) for k in range(4)] if dp is not None else [inputs] * 4
            hs = [ops.multiply(h_tm1, rdp[k]) for k in range(4)] if rdp is not None else [h_tm1] * 4
            z = []
            for k in range(4):
                zk = ops.add(ops.matmul(xs[k], self.kernel[:, k * H:(k + 1) * H]),
                             ops.matmul(hs[k], self.recurrent_kernel[:, k * H:(k + 1) * H]))
                if self.bias is not None:
                    zk = ops.add(zk, self.bias[k * H:(k + 1) * H])
                z.append(zk)
        else:
            if dp is not None:
                inputs = ops.multiply(inputs, dp)
            zz = ops.add(ops.matmul(inputs, self.kernel), ops.matmul(h_tm1, self.recurrent_kernel))
            if self.bias is not None:
                zz = ops.add(zz, self.bias)
            z = [zz[:, k * H:(k + 1) * H] for k in range(4)]
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = ops.add(ops.multiply(f, c_tm1), ops.multiply(i, self.activation(z[2])))
        o = self.recurrent_activation(z[3])
        h = ops.multiply(o, self.activation(c))
        return h, [h, c]

    def get_config(self):
        cfg = self._base_config({"recurrent_activation": activations.serialize(self.recurrent_activation)})
        cfg["unit_forget_bias"] = self.unit_forget_bias
        return cfg


def _forget_bias_one(base, H):
    """Keras's unit_forget_bias: the forget gate's bias starts at 1, the others from the initializer."""
    def init(shape, dtype=None):  # on the backend's arrays: CuPy refuses an implicit copy to NumPy
        xp = backend.get_xp()
        return xp.concatenate([xp.asarray(base((H,), dtype=dtype)), xp.ones((H,), dtype=dtype),
                               xp.asarray(base((2 * H,), dtype=dtype))])
    return init


class GRUCell(_CellBase):
    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 reset_after=True, seed=None, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = reset_after
        self.implementation = 1 if self.recurrent_dropout else implementation
        self.state_size = units
        self.output_size = units

    def _mask_count(self):
        return 3 if self.implementation == 1 else 1

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        self.bias = self.add_weight(shape=(2, 3 * self.units) if self.reset_after else (3 * self.units,), name="bias",
                                    initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        H = self.units
        b_in = b_rec = None
        if self.bias is not None:
            b_in, b_rec = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        dp = self.get_dropout_mask(inputs) if training else None
        rdp = self.get_recurrent_dropout_mask(h_tm1) if training else None
        if self.implementation == 1:
            xs = [ops.multiply(inputs, dp[k]) for k in range(3)] if dp is not None else [inputs] * 3
            hs = [ops.multiply(h_tm1, rdp[k]) for k in range(3)] if rdp is not None else [h_tm1] * 3
        else:
            xs = [ops.multiply(inputs, dp) if dp is not None else inputs] * 3
            hs = [h_tm1] * 3
        x = [ops.matmul(xs[k], self.kernel[:, k * H:(k + 1) * H]) for k in range(3)]
        if b_in is not None:
            x = [ops.add(x[k], b_in[k * H:(k + 1) * H]) for k in range(3)]
        rz = ops.matmul(hs[0], self.recurrent_kernel[:, :H])
        rr = ops.matmul(hs[1], self.recurrent_kernel[:, H:2 * H])
        if self.reset_after and b_rec is not None:
            rz, rr = ops.add(rz, b_rec[:H]), ops.add(rr, b_rec[H:2 * H])
        z = self.recurrent_activation(ops.add(x[0], rz))
        r = self.recurrent_activation(ops.add(x[1], rr))
        if self.reset_after:
            rh = ops.matmul(hs[2], self.recurrent_kernel[:, 2 * H:])
            if b_rec is not None:
                rh = ops.add(rh, b_rec[2 * H:])
            rh = ops.multiply(r, rh)
        else:
            rh = ops.matmul(ops.multiply(r, hs[2]), self.recurrent_kernel[:, 2 * H:])
        hh = self.activation(ops.add(x[2], rh))
        h = ops.add(ops.multiply(z, h_tm1), ops.multiply(ops.subtract(1.0, z), hh))
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def get_config(self):
        cfg = self._base_config({"recurrent_activation": activations.serialize(self.recurrent_activation)})
        cfg["reset_after"] = self.reset_after
        return cfg


class StackedRNNCells(Layer):
    """Several cells stepped one after the other at each timestep (RNN([cell1, cell2]))."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for c in cells:
            if not hasattr(c, "call") or not hasattr(c, "state_size"):
                raise ValueError("All cells must have a `call` method and a `state_size` attribute. Received cell "
                                 "without one: %r" % (c,))
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        c = self.cells[-1]
        return getattr(c, "output_size", None) or _sizes(c.state_size)[0]

    def get_initial_state(self, batch_size=None):
        out = []
        for c in self.cells:
            fn = getattr(c, "get_initial_state", None)
            s = fn(batch_size=batch_size) if fn else [Tensor(backend.get_xp().zeros((batch_size, d), dtype=c.dtype))
                                                       for d in _sizes(c.state_size)]
            out.append(s if isinstance(c.state_size, (list, tuple)) else s[0] if isinstance(s, list) else s)
        return out

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            if isinstance(c, Layer) and not c.built:
                c._maybe_build(shape)
            shape = shape[:-1] + (getattr(c, "output_size", None) or _sizes(c.state_size)[0],)

    def call(self, inputs, states, training=False):
        new_states = []
        for c, s in zip(self.cells, states):
            nested = isinstance(c.state_size, (list, tuple))
            s = list(s) if nested else [s]
            kw = {"training": training} if getattr(c, "_call_takes_training", False) else {}
            inputs, ns = c.call(inputs, s if nested else s, **kw) if isinstance(c, Layer) else c(inputs, s)
            ns = list(ns) if isinstance(ns, (list, tuple)) else [ns]
            new_states.append(ns if nested else ns[0])
        return inputs, new_states

    def get_config(self):
        from ..common.registry import serialize_layer
        cfg = super().get_config()
        cfg["cells"] = [serialize_layer(c) for c in self.cells]
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..common.registry import deserialize_layer
        config = dict(config)
        cells = [deserialize_layer(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)


def _sizes(state_size):
    return list(state_size) if isinstance(state_size, (list, tuple)) else [state_size]


def _flat(struct):
    out = []
    for s in struct if isinstance(struct, (list, tuple)) else [struct]:
        out.extend(_flat(s) if isinstance(s, (list, tuple)) else [s])
    return out


def _pack(flat, structure):
    """flat tensors back into the nesting of a cell's state_size."""
    it = iter(flat)

    def build(s):
        return [build(x) for x in s] if isinstance(s, (list, tuple)) else next(it)
    return build(structure)
