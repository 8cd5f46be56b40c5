"""Recurrent layers: the cells (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells), the generic RNN
loop, the SimpleRNN/LSTM/GRU layers and the Bidirectional and TimeDistributed wrappers — Keras 3's names,
arguments, weights (kernel (input, G*units) in Keras's gate order) and configs.

Two paths compute the same numbers. The fused path (`ops.rnn.sequence`: one GEMM for all inputs, one
per step for the recurrence, fused gate kernels) runs the built-in cells whenever it can honour every
option; the general path steps the cell's own `call` on the tape, as Keras's `backend.rnn` does, and
runs everything else: custom cells, StackedRNNCells, recurrent_dropout, GRU(reset_after=False),
activations the fused cells do not have. Tests compare the two."""
import copy

from .. import activations, backend, constraints, initializers, ops, random as _random, regularizers
from ..ops import rnn as rnn_ops
from ..ops.tape import Tensor, Variable
from .base import InputSpec, Layer


def _positive_units(units, what):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError("Received an invalid value for argument `units`, expected a positive integer, got %r "
                         "(in %s)." % (units, what))


def _rate(v, name):
    v = float(v)
    if not 0.0 <= v <= 1.0:
        raise ValueError("`%s` must be in [0, 1], received %s=%r" % (name, name, v))
    return v


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
        return [Tensor(xp.zeros((batch_size, d), dtype=self.dtype)) for d in sizes]

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
    def init(shape, dtype=None):
        import numpy as np
        return np.concatenate([np.asarray(base((H,), dtype=dtype)), np.ones((H,), dtype=dtype),
                               np.asarray(base((2 * H,), dtype=dtype))])
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
        from ..saving.serialization import serialize_layer
        cfg = super().get_config()
        cfg["cells"] = [serialize_layer(c) for c in self.cells]
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.serialization import deserialize_layer
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


class RNN(Layer):
    """Runs a cell over the time axis of (batch, time, features) inputs: Keras's RNN layer."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, "call"):
            raise ValueError("Argument `cell` should have a `call` method. Received: cell=%r" % (cell,))
        if not hasattr(cell, "state_size"):
            raise ValueError("The RNN cell should have a `state_size` attribute (single integer or list of "
                             "integers, one integer per RNN state). Received: cell=%r" % (cell,))
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True
        self.input_spec = InputSpec(min_ndim=3)
        self.states = None
        ss = cell.state_size
        self.state_size = [ss] if isinstance(ss, int) else list(ss)
        self.single_state = isinstance(ss, int)

    # ---- shapes and masks ----
    def _output_size(self):
        return getattr(self.cell, "output_size", None) or _sizes(self.state_size[0])[0]

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        b, t = sequences_shape[0], sequences_shape[1]
        out = (b, t, self._output_size()) if self.return_sequences else (b, self._output_size())
        if not self.return_state:
            return out
        states = [[(b, d) for d in s] if isinstance(s, (list, tuple)) else (b, s) for s in self.state_size]
        return [out] + states

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * len(self.state_size)
        return out

    def build(self, sequences_shape, initial_state_shape=None):
        sequences_shape = tuple(sequences_shape)
        if len(sequences_shape) < 3:
            raise ValueError('Layer "%s" expects inputs of shape (batch, time, features), received shape %s'
                             % (self.name, sequences_shape))
        step = (sequences_shape[0],) + sequences_shape[2:]
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell._maybe_build(step)
        if self.stateful:
            if sequences_shape[0] is None:
                raise ValueError("When using `stateful=True` in a RNN, the batch size must be static. Found "
                                 "dynamic batch size: sequence.shape=%s" % (sequences_shape,))
            self._create_state_variables(sequences_shape[0])

    def _create_state_variables(self, batch_size):
        self.states = [Variable(s.data, trainable=False, name="rnn_state") for s in self.get_initial_state(batch_size)]

    def get_initial_state(self, batch_size):
        fn = getattr(self.cell, "get_initial_state", None)
        if fn is None:
            return [Tensor(backend.get_xp().zeros((batch_size, d), dtype=self.dtype)) for d in _flat(self.state_size)]
        init = fn(batch_size=batch_size)
        return _flat(init if isinstance(init, (list, tuple)) else [init])

    def reset_states(self):
        self.reset_state()

    def reset_state(self):
        if self.states is not None:
            for v in self.states:
                v.assign(backend.get_xp().zeros(v.shape, dtype=v.dtype))

    # ---- call ----
    def call(self, sequences, initial_state=None, mask=None, training=False):
        if sequences.ndim < 3:
            raise ValueError('Layer "%s" expects inputs of shape (batch, time, features), received shape %s'
                             % (self.name, tuple(sequences.shape)))
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        B = sequences.shape[0]
        if initial_state is None:
            initial_state = list(self.states) if self.stateful else self.get_initial_state(B)
        elif self.stateful and self.states is not None and B != self.states[0].shape[0]:
            raise ValueError("If an RNN is stateful, the batch size of the input sequences must be the same as the "
                             "batch size of the initial state. \n- Expected batch size: %d\n- Received batch size: %d"
                             % (self.states[0].shape[0], B))
        if self.stateful and self.states is not None and B != self.states[0].shape[0]:
            raise ValueError("If an RNN is stateful, the batch size of the input sequences must be the same as the "
                             "batch size of the initial state. \n- Expected batch size: %d\n- Received batch size: %d"
                             % (self.states[0].shape[0], B))
        states = [s if isinstance(s, Tensor) else Tensor(backend.get_xp().asarray(s, dtype=self.dtype))
                  for s in _flat(initial_state if isinstance(initial_state, (list, tuple)) else [initial_state])]
        if len(states) != len(_flat(self.state_size)):
            raise ValueError('Layer "%s" expects %d initial state tensor(s), received %d'
                             % (self.name, len(_flat(self.state_size)), len(states)))
        for i, (s, size) in enumerate(zip(states, _flat(self.state_size))):
            if tuple(s.shape) != (B, size):
                raise ValueError('Layer "%s": initial_state[%d] must have shape (batch, %d) = %s, received %s'
                                 % (self.name, i, size, (B, size), tuple(s.shape)))
        kind = self._fused_kind(training)
        if kind is not None:
            outputs, last, new_states = self._fused(kind, sequences, states, mask, training)
        else:
            outputs, last, new_states = self._loop(sequences, states, mask, training)
        if self.stateful:
            for v, s in zip(self.states, new_states):
                v.assign(s.data)
        out = outputs if self.return_sequences else last
        if self.return_state:  # Keras: the output, then one entry per state_size entry (a list for a nested one)
            if self.single_state:
                return [out] + list(new_states)
            packed = _pack(new_states, self.state_size)
            if any(isinstance(s, (list, tuple)) for s in self.state_size):  # stacked cells: a list per cell
                packed = [p if isinstance(p, list) else [p] for p in packed]
            return [out] + packed
        return out

    def _fused_kind(self, training):
        """The ops.rnn kind when the fused path honours every option of this call, else None."""
        cell = self.cell
        kind = {SimpleRNNCell: "simple_rnn", LSTMCell: "lstm", GRUCell: "gru"}.get(type(cell))
        if kind is None or (kind == "gru" and not cell.reset_after):
            return None
        if training and cell.recurrent_dropout:
            return None
        act = activations.name_of(cell.activation)
        ract = activations.name_of(getattr(cell, "recurrent_activation", activations.sigmoid))
        if not rnn_ops.supported(act, ract) or activations.get(act) is not cell.activation:
            return None
        if cell.dtype not in ("float32", "float64"):
            return None
        return kind

    def _fused(self, kind, x, states, mask, training):
        cell = self.cell
        if x.dtype != cell.dtype:
            x = ops.cast(x, cell.dtype)
        if training and cell.dropout:  # Keras's LSTM/GRU: one input mask for the whole sequence
            dp = cell.get_dropout_mask(x[:, 0, :])
            cell.reset_dropout_mask()
            x = ops.multiply(x, ops.expand_dims(dp if not isinstance(dp, list) else dp[0], 1))
        act = activations.name_of(cell.activation)
        ract = activations.name_of(getattr(cell, "recurrent_activation", activations.sigmoid))
        y = rnn_ops.sequence(kind, x, states[0], states[1] if kind == "lstm" else None, cell.kernel,
                             cell.recurrent_kernel, cell.bias, mask=mask, go_backwards=self.go_backwards,
                             activation=act, recurrent_activation=ract)
        T = x.shape[1]
        outputs = y[:, :T] if kind == "lstm" else y
        new_states = [y[:, T - 1], y[:, T]] if kind == "lstm" else [y[:, T - 1]]
        last = new_states[0]
        if mask is not None and self.zero_output_for_mask:
            outputs, last = self._zero_masked(outputs, mask)
        return outputs, last, new_states

    def _zero_masked(self, outputs, mask):
        m = ops.cast(mask, outputs.dtype)
        if self.go_backwards:
            m = ops.flip(m, axis=1)  # outputs come in processing order
        outputs = ops.multiply(outputs, ops.expand_dims(m, -1))
        return outputs, outputs[:, -1]

    def _loop(self, x, states, mask, training):
        """Keras's backend.rnn (unroll=False) over the cell's own call, recorded on the tape step by step."""
        cell = self.cell
        structure = self.cell.state_size if not self.single_state else None
        T = x.shape[1]
        order = range(T - 1, -1, -1) if self.go_backwards else range(T)
        kw = {"training": training} if getattr(cell, "_call_takes_training", False) else {}
        self._config_dropout(cell, x[:, 0], states)
        m = None if mask is None else ops.cast(mask, "bool")
        # Keras's masked output is the previous value of states[0] — of the last cell's states when nested
        nested = isinstance(structure, (list, tuple)) and any(isinstance(s, (list, tuple)) for s in structure)
        prev_at = len(states) - len(_sizes(structure[-1])) if nested else 0
        outputs = []
        try:
            for t in order:
                cur = list(states) if self.single_state else _pack(states, structure)  # Keras passes a list
                out, new = cell.call(x[:, t], cur, **kw) if isinstance(cell, Layer) else cell(x[:, t], cur)
                new = _flat(new if isinstance(new, (list, tuple)) else [new])
                if m is not None:
                    keep = ops.expand_dims(m[:, t], -1)
                    prev = ops.zeros_like(out) if self.zero_output_for_mask else states[prev_at]
                    out = ops.where(keep, out, prev)
                    new = [ops.where(keep, n, s) for n, s in zip(new, states)]
                states = new
                outputs.append(out)
        finally:
            self._reset_dropout(cell)
        seq = ops.stack(outputs, axis=1)
        return seq, outputs[-1], states

    def _config_dropout(self, cell, step_input, states):
        if isinstance(cell, _CellBase):
            cell.get_dropout_mask(step_input)
            cell.get_recurrent_dropout_mask(states[0])
        elif isinstance(cell, StackedRNNCells):
            x = step_input
            for c in cell.cells:
                if isinstance(c, _CellBase):
                    c.get_dropout_mask(x)
                    c.get_recurrent_dropout_mask(Tensor(backend.get_xp().zeros((x.shape[0], c.units), dtype=x.dtype)))
                    x = Tensor(backend.get_xp().zeros((x.shape[0], c.output_size), dtype=x.dtype))

    def _reset_dropout(self, cell):
        for c in cell.cells if isinstance(cell, StackedRNNCells) else [cell]:
            if isinstance(c, _CellBase):
                c.reset_dropout_mask()
                c.reset_recurrent_dropout_mask()

    def get_config(self):
        from ..saving.serialization import serialize_layer
        cfg = super().get_config()
        cfg.update({"return_sequences": self.return_sequences, "return_state": self.return_state,
                    "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                    "zero_output_for_mask": self.zero_output_for_mask})
        cfg["cell"] = serialize_layer(self.cell)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.serialization import deserialize_layer
        config = dict(config)
        cell = config.pop("cell")
        cell = [deserialize_layer(c, custom_objects) for c in cell] if isinstance(cell, list) else \
            deserialize_layer(cell, custom_objects)
        return cls(cell, **config)


_RNN_KEYS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")
_LAYER_KEYS = ("name", "trainable", "dtype", "activity_regularizer", "input_shape", "batch_input_shape",
               "batch_size", "input_dim", "weights")


class _RecurrentLayer(RNN):
    """SimpleRNN, LSTM, GRU: an RNN over their own cell, built from the cell's arguments; the config is
    flat (units, activation, ..., return_sequences) as Keras writes it."""
    _cell_class = None

    def __init__(self, units, **kwargs):
        rnn_kw = {k: kwargs.pop(k) for k in _RNN_KEYS if k in kwargs}
        layer_kw = {k: kwargs.pop(k) for k in _LAYER_KEYS if k in kwargs}
        kwargs.pop("use_cudnn", None)  # a cuDNN switch; gpunet runs its own kernels either way
        cell = self._cell_class(units, dtype=layer_kw.get("dtype"), trainable=layer_kw.get("trainable", True),
                                name=self._cell_name, **kwargs)
        super().__init__(cell, **rnn_kw, **layer_kw)
        self.input_spec = InputSpec(min_ndim=3)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def __getattr__(self, name):  # units, activation, dropout, ...: the cell's (Keras has a property each)
        if name != "cell" and "cell" in self.__dict__ and not name.startswith("_"):
            try:
                return getattr(self.__dict__["cell"], name)
            except AttributeError:
                pass
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

    def get_config(self):
        cfg = Layer.get_config(self)
        cfg.update({k: getattr(self, k) for k in _RNN_KEYS})
        cell_cfg = self.cell.get_config()
        for k in ("name", "trainable", "dtype"):
            cell_cfg.pop(k, None)
        cfg.update(cell_cfg)
        cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("cell", None)
        config.pop("implementation", None)
        return cls(**config)


class SimpleRNN(_RecurrentLayer):
    _cell_class, _cell_name = SimpleRNNCell, "simple_rnn_cell"

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("seed", None)  # Keras's SimpleRNN leaves its cell's seed out of the config
        return cfg


class LSTM(_RecurrentLayer):
    _cell_class, _cell_name = LSTMCell, "lstm_cell"


class GRU(_RecurrentLayer):
    _cell_class, _cell_name = GRUCell, "gru_cell"


def _removeprefix(s, p):
    return s[len(p):] if s.startswith(p) else s


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the two outputs."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        from ..saving.serialization import deserialize_layer, serialize_layer
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
        from ..saving.serialization import serialize_layer
        cfg = super().get_config()
        cfg["merge_mode"] = self.merge_mode
        cfg["layer"] = serialize_layer(self.forward_layer)
        cfg["backward_layer"] = serialize_layer(self.backward_layer)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.serialization import deserialize_layer
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
        from ..saving.serialization import serialize_layer
        cfg = super().get_config()
        cfg["layer"] = serialize_layer(self.layer)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.serialization import deserialize_layer
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        return cls(**config)
