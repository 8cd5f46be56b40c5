"""Recurrent layers: the generic RNN loop and the SimpleRNN/LSTM/GRU layers, with Keras 3's names, arguments,
weights and configs (the cells are in rnn_cells.py, Bidirectional and TimeDistributed in wrappers.py).

Two paths compute the same numbers. The fused path (`ops.rnn.sequence`: one GEMM for all inputs, one
per step for the recurrence, fused gate kernels) runs the built-in cells whenever it can honour every
option; the general path steps the cell's own `call` on the tape, as Keras's `backend.rnn` does, and
runs everything else: custom cells, StackedRNNCells, recurrent_dropout, GRU(reset_after=False),
activations the fused cells do not have. Tests compare the two."""
from .. import activations, backend, ops, regularizers
from ..ops import rnn as rnn_ops
from ..ops.tape import Tensor, Variable
from .base import InputSpec, Layer
from .rnn_cells import (GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells, _CellBase, _flat, _pack,  # noqa: F401
                        _sizes)


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
            return [Tensor(backend.get_xp().zeros((batch_size, d), dtype=self.compute_dtype))
                    for d in _flat(self.state_size)]
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
        states = [s if isinstance(s, Tensor) else Tensor(backend.get_xp().asarray(s, dtype=self.compute_dtype))
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
        if cell.dtype not in ("float32", "float64") or cell.compute_dtype != cell.dtype:
            return None  # mixed precision: the cell's own call, in its compute dtype
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
        from ..common.registry import serialize_layer
        cfg = super().get_config()
        cfg.update({"return_sequences": self.return_sequences, "return_state": self.return_state,
                    "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                    "zero_output_for_mask": self.zero_output_for_mask})
        cfg["cell"] = serialize_layer(self.cell)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..common.registry import deserialize_layer
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
