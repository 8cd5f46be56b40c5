"""ConvLSTM1D/2D/3D: an LSTM whose input and recurrent transforms are convolutions (Shi et al. 2015), with
Keras 3's arguments, weights (`conv_lstm_cell/kernel`, `recurrent_kernel`, `bias`), configs, masks and return
options.

The input convolution of every timestep runs as one convolution over (batch x time) frames, all four gates at
once; the recurrence runs one convolution per step with the whole recurrent kernel ("same" padding, stride 1, as
Keras). Both equal Keras's per-gate convolutions: a convolution's output channels do not mix. With dropout, each
gate's inputs (or states) are masked differently, so those convolutions run per gate, as Keras runs them."""
from .. import activations, backend, ops, regularizers
from ..ops import convolution as C
from ..ops.tape import Tensor
from .base import InputSpec, Layer
from .convolutional import _std_tuple
from .rnn_cells import _CellBase, _draw, _forget_bias_one


class ConvLSTMCell(_CellBase):
    """One ConvLSTM step on (batch, *spatial, channels) frames; Keras's ConvLSTMCell."""
    _gates = 4

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(filters, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, **kwargs)
        self.rank, self.filters = rank, filters
        self.kernel_size = _std_tuple(kernel_size, rank, "kernel_size", self)
        self.strides = _std_tuple(strides, rank, "strides", self)
        self.dilation_rate = _std_tuple(dilation_rate, rank, "dilation_rate", self)
        try:
            self.padding = C._padding_of(padding)
        except ValueError as e:
            raise ValueError('%s "%s": %s' % (type(self).__name__, self.name, e)) from None
        self.data_format = C.data_format_of(data_format)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    def _mask_count(self):
        return 4  # one mask per gate, as Keras's ConvLSTMCell

    def build(self, input_shape):
        channel_axis = -1 if self.data_format == "channels_last" else 1
        spatial = tuple(input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:])
        if None in spatial:
            raise ValueError("ConvLSTM layers only support static input shapes for the spatial dimension. Received "
                             "invalid input shape: input_shape=%s" % (tuple(input_shape),))
        channels = input_shape[channel_axis]
        if channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found None. Full input shape "
                             "received: input_shape=%s" % (tuple(input_shape),))
        self.spatial_dims, self.input_dim = spatial, channels
        self.kernel = self.add_weight(shape=self.kernel_size + (channels, 4 * self.filters), name="kernel",
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=self.kernel_size + (self.filters, 4 * self.filters),
                                                name="recurrent_kernel", initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            init = _forget_bias_one(self.bias_initializer, self.filters) if self.unit_forget_bias \
                else self.bias_initializer
            self.bias = self.add_weight(shape=(4 * self.filters,), name="bias", initializer=init,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def state_shape(self, step_shape):
        """The shape of h and c for frames of step_shape (the input convolution's output)."""
        spatial = step_shape[1:-1] if self.data_format == "channels_last" else step_shape[2:]
        out = tuple(C.out_size(n, k, s, d, self.padding)
                    for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if self.data_format == "channels_last":
            return (step_shape[0],) + out + (self.filters,)
        return (step_shape[0], self.filters) + out

    def _gate_slice(self, w, k):
        f = self.filters
        return w[(slice(None),) * (self.rank + 1) + (slice(k * f, (k + 1) * f),)]

    def _bias_shape(self, n):
        return (1,) * (self.rank + 1) + (n,) if self.data_format == "channels_last" else (1, n) + (1,) * self.rank

    def input_conv(self, x, kernel, bias=None):
        out = ops.conv(x, kernel, strides=self.strides, padding=self.padding, data_format=self.data_format,
                       dilation_rate=self.dilation_rate)
        if bias is not None:
            out = ops.add(out, ops.reshape(bias, self._bias_shape(int(bias.shape[0]))))
        return out

    def recurrent_conv(self, h, kernel):
        return ops.conv(h, kernel, strides=1, padding="same", data_format=self.data_format)

    def split_gates(self, z):
        axis = self.rank + 1 if self.data_format == "channels_last" else 1
        return ops.split(z, 4, axis=axis)

    def step(self, x_gates, h_tm1, c_tm1, rec_masks):
        """One step from the four gates' input convolutions (already computed): the recurrence and the update."""
        if rec_masks is None:
            h_gates = self.split_gates(self.recurrent_conv(h_tm1, self.recurrent_kernel))
        else:
            h_gates = [self.recurrent_conv(ops.multiply(h_tm1, m), self._gate_slice(self.recurrent_kernel, k))
                       for k, m in enumerate(rec_masks)]
        z = [ops.add(a, b) for a, b in zip(x_gates, h_gates)]
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = ops.add(ops.multiply(f, c_tm1), ops.multiply(i, self.activation(z[2])))
        o = self.recurrent_activation(z[3])
        h = ops.multiply(o, self.activation(c))
        return h, c

    def call(self, inputs, states, training=False):
        """Keras's cell call: one frame, states [h, c] -> (h, [h, c])."""
        dp = self.get_dropout_mask(inputs) if training else None
        rdp = self.get_recurrent_dropout_mask(states[0]) if training else None
        h, c = self.step(self.input_gates(inputs, dp), states[0], states[1], rdp)
        return h, [h, c]

    def input_gates(self, x, masks):
        if masks is None:
            return self.split_gates(self.input_conv(x, self.kernel, self.bias))
        return [self.input_conv(ops.multiply(x, m), self._gate_slice(self.kernel, k),
                                None if self.bias is None else self.bias[k * self.filters:(k + 1) * self.filters])
                for k, m in enumerate(masks)]

    def get_config(self):
        cfg = self._base_config({"recurrent_activation": activations.serialize(self.recurrent_activation)})
        del cfg["units"]
        cfg.update({"rank": self.rank, "filters": self.filters, "kernel_size": self.kernel_size,
                    "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                    "dilation_rate": self.dilation_rate, "unit_forget_bias": self.unit_forget_bias})
        return cfg


_RNN_KEYS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")


class _ConvLSTM(Layer):
    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly positive value. Received "
                             "filters=%r" % (filters,))
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.cell = ConvLSTMCell(self.rank, filters, kernel_size, strides, padding, data_format, dilation_rate,
                                 activation, recurrent_activation, use_bias, kernel_initializer,
                                 recurrent_initializer, bias_initializer, unit_forget_bias, kernel_regularizer,
                                 recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                                 bias_constraint, dropout, recurrent_dropout, seed, name="conv_lstm_cell",
                                 dtype=kwargs.get("dtype"))
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.input_spec = InputSpec(ndim=self.rank + 3)
        self.states = None

    def __getattr__(self, name):  # Keras's ConvLSTM exposes its cell's arguments (filters, kernel_size, ...)
        if name in _CELL_ATTRS and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

    def build(self, sequences_shape, initial_state_shape=None):
        shape = tuple(sequences_shape)
        if len(shape) != self.rank + 3:
            raise ValueError('%s "%s" expects inputs of rank %d (batch, time, %s), received shape %s'
                             % (type(self).__name__, self.name, self.rank + 3,
                                "spatial..., channels" if self.cell.data_format == "channels_last" else
                                "channels, spatial...", shape))
        if self.stateful and shape[0] is None:
            raise ValueError("When using `stateful=True` in a RNN, the batch size must be static. Found dynamic "
                             "batch size: sequence.shape=%s" % (shape,))
        self.cell._maybe_build((shape[0],) + shape[2:])
        self.input_spec = InputSpec(ndim=self.rank + 3, shape=(None,) + shape[1:])

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        b, t = sequences_shape[0], sequences_shape[1]
        state = self.cell.state_shape((b,) + tuple(sequences_shape[2:]))
        out = (b, t) + state[1:] if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out, None, None] if self.return_state else out

    def get_initial_state(self, batch_size):
        cell = self.cell
        frame = cell.spatial_dims + (cell.input_dim,) if cell.data_format == "channels_last" else \
            (cell.input_dim,) + cell.spatial_dims
        shape = cell.state_shape((batch_size,) + frame)
        xp = backend.get_xp()
        return [Tensor(xp.zeros(shape, dtype=self.compute_dtype)), Tensor(xp.zeros(shape, dtype=self.compute_dtype))]

    def reset_states(self):
        if self.states is not None:
            for v in self.states:
                v.assign(backend.get_xp().zeros(v.shape, dtype=v.dtype))

    reset_state = reset_states

    def call(self, sequences, initial_state=None, mask=None, training=False):
        cell = self.cell
        x = sequences if isinstance(sequences, Tensor) else Tensor(backend.get_xp().asarray(sequences))
        b, t = int(x.shape[0]), int(x.shape[1])
        frame = (b,) + tuple(x.shape[2:])
        states = self._start_states(frame, initial_state)
        dp = rdp = None
        if training and 0.0 < cell.dropout < 1.0:
            dp = _draw(frame, cell.dropout, x.dtype, 4)
        state_shape = cell.state_shape(frame)
        if training and 0.0 < cell.recurrent_dropout < 1.0:
            rdp = _draw(state_shape, cell.recurrent_dropout, x.dtype, 4)
        order = list(range(t))[::-1] if self.go_backwards else list(range(t))
        if dp is None:  # every frame's input convolution at once: (batch x time) frames, all four gates
            flat = cell.input_conv(ops.reshape(x, (b * t,) + frame[1:]), cell.kernel, cell.bias)
            if cell.data_format == "channels_last":
                all_gates = ops.reshape(flat, (b, t) + state_shape[1:-1] + (state_shape[-1] * 4,))
            else:
                all_gates = ops.reshape(flat, (b, t, 4 * cell.filters) + state_shape[2:])
        h, c = states
        outputs = []
        m = None if mask is None else (mask if isinstance(mask, Tensor) else Tensor(backend.get_xp().asarray(mask)))
        if m is not None and tuple(m.shape) != (b, t):
            raise ValueError('Layer "%s" takes a mask of shape (batch, time) = %s, received a mask of shape %s'
                             % (self.name, (b, t), tuple(m.shape)))
        for step in order:
            gates = cell.input_gates(x[:, step], dp) if dp is not None else cell.split_gates(all_gates[:, step])
            h_new, c_new = cell.step(gates, h, c, rdp)
            if m is not None:
                keep = ops.reshape(ops.cast(m[:, step], h_new.dtype), (b,) + (1,) * (len(state_shape) - 1))
                out = ops.add(ops.multiply(keep, h_new),
                              ops.multiply(1.0 - keep, ops.zeros_like(h_new) if self.zero_output_for_mask else h))
                h = ops.add(ops.multiply(keep, h_new), ops.multiply(1.0 - keep, h))
                c = ops.add(ops.multiply(keep, c_new), ops.multiply(1.0 - keep, c))
            else:
                out, h, c = h_new, h_new, c_new
            outputs.append(out)
        if self.stateful:
            self.states[0].assign(ops.stop_gradient(h).data)
            self.states[1].assign(ops.stop_gradient(c).data)
        result = ops.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return [result, h, c] if self.return_state else result

    def _start_states(self, frame, initial_state):
        from ..ops.tape import Variable
        shape = self.cell.state_shape(frame)
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != 2:
                raise ValueError('Layer "%s" expects 2 initial states (h and c), received %d'
                                 % (self.name, len(states)))
            for s in states:
                if tuple(s.shape[1:]) != tuple(shape[1:]):
                    raise ValueError('Layer "%s": an initial state has shape %s, expected %s'
                                     % (self.name, tuple(s.shape), shape))
            return [s if isinstance(s, Tensor) else Tensor(backend.get_xp().asarray(s)) for s in states]
        if self.stateful:
            if self.states is None or tuple(self.states[0].shape) != tuple(shape):
                self.states = [Variable(backend.get_xp().zeros(shape, dtype=self.compute_dtype), trainable=False,
                                        name="state_%d" % i) for i in range(2)]
            return [Tensor(self.states[0].data), Tensor(self.states[1].data)]
        xp = backend.get_xp()
        return [Tensor(xp.zeros(shape, dtype=self.compute_dtype)), Tensor(xp.zeros(shape, dtype=self.compute_dtype))]

    def get_config(self):
        cfg = Layer.get_config(self)
        cfg.update({k: getattr(self, k) for k in _RNN_KEYS})
        cell = self.cell.get_config()
        for k in ("name", "trainable", "dtype", "rank"):
            cell.pop(k, None)
        cfg.update(cell)
        cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("cell", None)
        return cls(**config)


_CELL_ATTRS = {"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
               "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
               "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
               "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed"}


class ConvLSTM1D(_ConvLSTM):
    rank = 1


class ConvLSTM2D(_ConvLSTM):
    rank = 2


class ConvLSTM3D(_ConvLSTM):
    rank = 3

