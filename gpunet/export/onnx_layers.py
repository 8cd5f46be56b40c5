"""Each layer's ONNX ops: `fn(g, layer, inputs, shapes, args, kwargs, values) -> output value name(s)`, where
`inputs` are the ONNX names of the layer's tensor arguments and `shapes` their static shapes (batch None).
What a mapping cannot honour (an option, a mask, a state) raises ExportError naming the layer."""
import numpy as np

from .. import layers as L


class ExportError(ValueError):
    """A layer, or an option of one, that the ONNX export cannot write."""

NEG = -1e9  # Keras's masked-softmax addend (ops/attention.py LARGE_NEGATIVE)


def _w(v):
    from .. import backend
    return backend.to_numpy(v.data if hasattr(v, "data") else v).astype(np.float32)


def _refuse(layer, what):
    raise ExportError("layer %r (%s): %s cannot be exported to ONNX" % (layer.name, type(layer).__name__, what))


# ---- activations ----

def activation(g, x, act, layer, axis=-1):
    from .. import activations
    name = act if isinstance(act, str) else activations.serialize(act)
    if not isinstance(name, str):
        _refuse(layer, "the activation %r" % (name,))
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "softsign": "Softsign",
              "exponential": "Exp", "selu": "Selu"}
    if name == "linear":
        return x
    if name in simple:
        return g.op(simple[name], [x])
    if name == "softmax":
        return g.op("Softmax", [x], axis=axis)
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], axis=axis)
    if name == "elu":
        return g.op("Elu", [x], alpha=1.0)
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], alpha=0.2)
    if name == "relu6":
        return g.op("Clip", [x, g.const(0.0), g.const(6.0)])
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name in ("silu", "swish"):
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name in ("hard_silu", "hard_swish"):
        return g.op("Mul", [x, g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)])
    if name == "gelu":  # exact: x * (1 + erf(x / sqrt 2)) / 2
        e = g.op("Erf", [g.op("Mul", [x, g.const(1.0 / np.sqrt(2.0))])])
        return g.op("Mul", [g.op("Mul", [x, g.const(0.5)]), g.op("Add", [e, g.const(1.0)])])
    if name == "mish":
        return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x])])])
    _refuse(layer, "the activation %r" % name)


def _activation_layer(g, layer, inputs, shapes, *_):
    return activation(g, inputs[0], layer.activation, layer)


def _relu(g, layer, inputs, shapes, *_):
    """Keras's ReLU: max_value at and above it; x from threshold up; negative_slope * (x - threshold) below."""
    x = inputs[0]
    if layer.threshold != 0 or layer.negative_slope != 0:
        t = g.const(float(layer.threshold))
        below = g.op("Mul", [g.op("Sub", [x, t]), g.const(float(layer.negative_slope))])
        y = g.op("Where", [g.op("GreaterOrEqual", [x, t]), x, below])
    else:
        y = g.op("Relu", [x])
    if layer.max_value is not None:
        y = g.op("Min", [y, g.const(float(layer.max_value))])
    return y


def _leaky(g, layer, inputs, *_):
    return g.op("LeakyRelu", [inputs[0]], alpha=float(layer.negative_slope))


def _elu(g, layer, inputs, *_):
    return g.op("Elu", [inputs[0]], alpha=float(layer.alpha))


def _softmax_layer(g, layer, inputs, shapes, args, kwargs, values):
    if kwargs.get("mask") is not None:
        _refuse(layer, "a mask")
    axis = layer.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            _refuse(layer, "softmax over several axes")
        axis = axis[0]
    return g.op("Softmax", [inputs[0]], axis=int(axis))


def _identity(g, layer, inputs, *_):
    return inputs[0]  # inference: dropout and noise layers pass their input through


# ---- core ----

def _dense(g, layer, inputs, shapes, *_):
    y = g.op("MatMul", [inputs[0], g.const(_w(layer.kernel), layer.name + "/kernel")])
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(_w(layer.bias), layer.name + "/bias")])
    return activation(g, y, layer.activation, layer)


def _einsum_dense(g, layer, inputs, shapes, *_):
    _refuse(layer, "EinsumDense outside MultiHeadAttention")


def _flatten(g, layer, inputs, shapes, *_):
    if getattr(layer, "data_format", "channels_last") == "channels_first" and len(shapes[0]) > 2:
        perm = [0] + list(range(2, len(shapes[0]))) + [1]  # Keras flattens channels_first in channels_last order
        return g.op("Flatten", [g.op("Transpose", [inputs[0]], perm=perm)], axis=1)
    return g.op("Flatten", [inputs[0]], axis=1)


def _reshape(g, layer, inputs, shapes, *_):
    target = [-1 if d is None else int(d) for d in layer.target_shape]
    return g.op("Reshape", [inputs[0], g.ints([0] + target)])


def _permute(g, layer, inputs, *_):
    return g.op("Transpose", [inputs[0]], perm=[0] + [int(d) for d in layer.dims])


def _rescaling(g, layer, inputs, *_):
    y = g.op("Mul", [inputs[0], g.const(np.asarray(layer.scale, np.float32))])
    return g.op("Add", [y, g.const(np.asarray(layer.offset, np.float32))])


def _embedding(g, layer, inputs, shapes, *_):
    if getattr(layer, "mask_zero", False):
        _refuse(layer, "mask_zero=True (masks are not exported)")
    ids = g.op("Cast", [inputs[0]], to=7)  # int64
    return g.op("Gather", [g.const(_w(layer.embeddings), layer.name + "/embeddings"), ids], axis=0)


# ---- normalization ----

def _bshape(rank, axes, sizes):
    shape = [1] * rank
    for a, n in zip(axes, sizes):
        shape[a] = n
    return shape


def _batchnorm(g, layer, inputs, shapes, *_):
    rank = len(shapes[0])
    axis = layer.axis % rank if isinstance(layer.axis, int) else layer.axis[0] % rank
    mean, var = _w(layer.moving_mean), _w(layer.moving_variance)
    gamma = _w(layer.gamma) if getattr(layer, "gamma", None) is not None else np.ones_like(mean)
    beta = _w(layer.beta) if getattr(layer, "beta", None) is not None else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + np.float32(layer.epsilon))
    shape = _bshape(rank, [axis], [len(mean)])
    y = g.op("Mul", [g.op("Sub", [inputs[0], g.const(mean.reshape(shape))]), g.const(scale.reshape(shape))])
    return g.op("Add", [y, g.const(beta.reshape(shape))])


def _layernorm(g, layer, inputs, shapes, *_):
    if getattr(layer, "rms_scaling", False):
        _refuse(layer, "rms_scaling=True")
    rank = len(shapes[0])
    axes = list(layer._axes)
    ax = g.ints(axes, "axes")
    mean = g.op("ReduceMean", [inputs[0], ax], keepdims=1)
    d = g.op("Sub", [inputs[0], mean])
    var = g.op("ReduceMean", [g.op("Mul", [d, d]), ax], keepdims=1)
    y = g.op("Div", [d, g.op("Sqrt", [g.op("Add", [var, g.const(float(layer.epsilon))])])])
    shape = _bshape(rank, axes, [shapes[0][a] for a in axes])
    if layer.gamma is not None:
        y = g.op("Mul", [y, g.const(_w(layer.gamma).reshape(shape))])
    if layer.beta is not None:
        y = g.op("Add", [y, g.const(_w(layer.beta).reshape(shape))])
    return y


# ---- convolution and pooling (channels_last in and out; ONNX works channels-first) ----

def _to_cf(g, x, rank):
    return g.op("Transpose", [x], perm=[0, rank + 1] + list(range(1, rank + 1)))


def _to_cl(g, x, rank):
    return g.op("Transpose", [x], perm=[0] + list(range(2, rank + 2)) + [1])


def _pads(layer, shape, kernel, strides, dilations, padding):
    """ONNX pads (begins then ends) for Keras's padding: "same" as TensorFlow pads (the odd pixel at the end)."""
    rank = len(kernel)
    if padding == "valid":
        return [0] * (2 * rank)
    begins, ends = [], []
    for i in range(rank):
        n = shape[1 + i]
        if n is None:
            _refuse(layer, "padding='same' with an unknown spatial size")
        eff = (kernel[i] - 1) * dilations[i] + 1
        out = -(-n // strides[i])
        total = max((out - 1) * strides[i] + eff - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _check_cl(layer):
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        _refuse(layer, "data_format='channels_first'")


def _conv_core(g, layer, x, shape, weight, bias, groups):
    rank = layer.rank
    _check_cl(layer)
    k = tuple(layer.kernel_size)
    if layer.padding == "causal":
        pads = [(k[0] - 1) * layer.dilation_rate[0], 0]
    else:
        pads = _pads(layer, shape, k, layer.strides, layer.dilation_rate, layer.padding)
    ins = [_to_cf(g, x, rank), g.const(weight, layer.name + "/kernel")]
    if bias is not None:
        ins.append(g.const(bias, layer.name + "/bias"))
    y = g.op("Conv", ins, kernel_shape=list(k), strides=list(layer.strides), dilations=list(layer.dilation_rate),
             pads=pads, group=int(groups))
    return _to_cl(g, y, rank)


def _conv(g, layer, inputs, shapes, *_):
    rank = layer.rank
    w = _w(layer.kernel)  # (*k, in/groups, out) -> (out, in/groups, *k)
    w = np.transpose(w, (rank + 1, rank) + tuple(range(rank)))
    bias = _w(layer.bias) if layer.bias is not None else None
    y = _conv_core(g, layer, inputs[0], shapes[0], w, bias, layer.groups)
    return activation(g, y, layer.activation, layer)


def _depthwise_weight(kernel, rank):
    """(*k, in, mult) -> (in*mult, 1, *k): output channel c*mult + m, as Keras orders them."""
    c, m = kernel.shape[rank], kernel.shape[rank + 1]
    w = np.transpose(kernel, (rank, rank + 1) + tuple(range(rank)))
    return w.reshape((c * m, 1) + kernel.shape[:rank])


def _depthwise(g, layer, inputs, shapes, *_):
    rank = layer.rank
    kernel = _w(layer.kernel)
    bias = _w(layer.bias) if layer.bias is not None else None
    y = _conv_core(g, layer, inputs[0], shapes[0], _depthwise_weight(kernel, rank), bias, kernel.shape[rank])
    return activation(g, y, layer.activation, layer)


def _separable(g, layer, inputs, shapes, *_):
    rank = layer.rank
    dk = _w(layer.depthwise_kernel)
    y = _conv_core(g, layer, inputs[0], shapes[0], _depthwise_weight(dk, rank), None, dk.shape[rank])
    pk = _w(layer.pointwise_kernel)  # (1.., in*mult, out) -> MatMul over the channels
    y = g.op("MatMul", [y, g.const(pk.reshape(pk.shape[-2], pk.shape[-1]), layer.name + "/pointwise")])
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(_w(layer.bias), layer.name + "/bias")])
    return activation(g, y, layer.activation, layer)


def _pool(kind):
    def convert(g, layer, inputs, shapes, *_):
        _check_cl(layer)
        rank = len(layer.pool_size)
        pads = _pads(layer, shapes[0], layer.pool_size, layer.strides, (1,) * rank, layer.padding)
        attrs = dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides), pads=pads)
        if kind == "AveragePool":
            attrs["count_include_pad"] = 0  # Keras's "same" averages only the real pixels
        return _to_cl(g, g.op(kind, [_to_cf(g, inputs[0], rank)], **attrs), rank)
    return convert


def _global_pool(kind):
    def convert(g, layer, inputs, shapes, args, kwargs, values):
        _check_cl(layer)
        if kwargs.get("mask") is not None:
            _refuse(layer, "a mask")
        axes = list(range(1, len(shapes[0]) - 1))
        return g.op(kind, [inputs[0], g.ints(axes, "axes")], keepdims=int(layer.keepdims))
    return convert


def _zero_padding(g, layer, inputs, shapes, *_):
    _check_cl(layer)
    rank = len(shapes[0])
    begins, ends = [0] * rank, [0] * rank
    for a, (lo, hi) in zip(layer._axes(), layer.padding):
        begins[a], ends[a] = lo, hi
    return g.op("Pad", [inputs[0], g.ints(begins + ends, "pads")], mode="constant")


# ---- merge ----

def _nary(kind):
    def convert(g, layer, inputs, *_):
        return g.op(kind, inputs)
    return convert


def _multiply(g, layer, inputs, *_):
    y = inputs[0]
    for x in inputs[1:]:  # ONNX's Mul takes two inputs
        y = g.op("Mul", [y, x])
    return y


def _average(g, layer, inputs, *_):
    return g.op("Mean", inputs)


def _subtract(g, layer, inputs, *_):
    return g.op("Sub", inputs)


def _concatenate(g, layer, inputs, *_):
    return g.op("Concat", inputs, axis=int(layer.axis))


def _dot(g, layer, inputs, shapes, *_):
    axes = layer.axes if isinstance(layer.axes, (list, tuple)) else (layer.axes, layer.axes)
    if any(len(s) != 2 for s in shapes) or tuple(a % 2 for a in axes) != (1, 1):
        _refuse(layer, "Dot other than between two (batch, n) inputs over their last axis")
    a, b = inputs
    if layer.normalize:
        a, b = (g.op("LpNormalization", [v], axis=-1, p=2) for v in (a, b))
    return g.op("ReduceSum", [g.op("Mul", [a, b]), g.ints([1], "axes")], keepdims=1)


# ---- recurrent ----

def _rnn_common(g, layer, x, kwargs):
    for flag in ("return_state", "stateful"):
        if getattr(layer, flag):
            _refuse(layer, "%s=True" % flag)
    if kwargs.get("mask") is not None or kwargs.get("initial_state") is not None:
        _refuse(layer, "a mask or an initial state")
    if layer.go_backwards:  # Keras reads the sequence reversed and returns the outputs in that order
        x = g.op("Slice", [x, g.ints([-1]), g.ints([-(2 ** 62)]), g.ints([1]), g.ints([-1])])
    return g.op("Transpose", [x], perm=[1, 0, 2])  # ONNX's time-major layout (onnxruntime runs only layout=0)


def _rnn_activation(layer, act, what):
    from .. import activations
    name = activations.serialize(act)
    table = {"sigmoid": ("Sigmoid", None, None), "tanh": ("Tanh", None, None), "relu": ("Relu", None, None),
             "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5), "linear": ("Affine", 1.0, 0.0)}
    if name not in table:
        _refuse(layer, "the %s %r" % (what, name))
    return table[name]


def _rnn_attrs(acts):
    attrs = {"activations": [a[0] for a in acts]}
    if any(a[1] is not None for a in acts):
        attrs["activation_alpha"] = [a[1] if a[1] is not None else 0.0 for a in acts]
        attrs["activation_beta"] = [a[2] if a[2] is not None else 0.0 for a in acts]
    return attrs


def _rnn_finish(g, layer, y, y_h):
    if layer.return_sequences:  # Y is (seq, 1, batch, hidden)
        return g.op("Transpose", [g.op("Squeeze", [y, g.ints([1], "axes")])], perm=[1, 0, 2])
    return g.op("Squeeze", [y_h, g.ints([0], "axes")])  # Y_h is (1, batch, hidden)


def _lstm(g, layer, inputs, shapes, args, kwargs, values):
    cell = layer.cell
    x = _rnn_common(g, layer, inputs[0], kwargs)
    H = cell.units
    reorder = lambda m: np.concatenate([m[..., :H], m[..., 3 * H:], m[..., H:2 * H], m[..., 2 * H:3 * H]],  # noqa
                                       axis=-1)  # Keras i, f, c, o -> ONNX i, o, f, c
    W = reorder(_w(cell.kernel)).T[None]
    R = reorder(_w(cell.recurrent_kernel)).T[None]
    b = reorder(_w(cell.bias)) if cell.bias is not None else np.zeros(4 * H, np.float32)
    B = np.concatenate([b, np.zeros(4 * H, np.float32)])[None]
    f = _rnn_activation(layer, cell.recurrent_activation, "recurrent_activation")
    act = _rnn_activation(layer, cell.activation, "activation")
    y, y_h, _ = g.op("LSTM", [x, g.const(W, layer.name + "/W"), g.const(R, layer.name + "/R"),
                              g.const(B, layer.name + "/B")], outputs=3, hidden_size=H,
                     **_rnn_attrs([f, act, act]))
    return _rnn_finish(g, layer, y, y_h)


def _gru(g, layer, inputs, shapes, args, kwargs, values):
    cell = layer.cell
    x = _rnn_common(g, layer, inputs[0], kwargs)
    H = cell.units  # Keras's gates z, r, h are ONNX's order
    W = _w(cell.kernel).T[None]
    R = _w(cell.recurrent_kernel).T[None]
    if cell.bias is None:
        B = np.zeros((1, 6 * H), np.float32)
    elif cell.reset_after:
        B = _w(cell.bias).reshape(1, 6 * H)  # (input bias, recurrent bias)
    else:
        B = np.concatenate([_w(cell.bias), np.zeros(3 * H, np.float32)])[None]
    f = _rnn_activation(layer, cell.recurrent_activation, "recurrent_activation")
    act = _rnn_activation(layer, cell.activation, "activation")
    y, y_h = g.op("GRU", [x, g.const(W, layer.name + "/W"), g.const(R, layer.name + "/R"),
                          g.const(B, layer.name + "/B")], outputs=2, hidden_size=H,
                  linear_before_reset=int(bool(cell.reset_after)), **_rnn_attrs([f, act]))
    return _rnn_finish(g, layer, y, y_h)


def _simple_rnn(g, layer, inputs, shapes, args, kwargs, values):
    cell = layer.cell
    x = _rnn_common(g, layer, inputs[0], kwargs)
    H = cell.units
    b = _w(cell.bias) if cell.bias is not None else np.zeros(H, np.float32)
    B = np.concatenate([b, np.zeros(H, np.float32)])[None]
    act = _rnn_activation(layer, cell.activation, "activation")
    y, y_h = g.op("RNN", [x, g.const(_w(cell.kernel).T[None], layer.name + "/W"),
                          g.const(_w(cell.recurrent_kernel).T[None], layer.name + "/R"),
                          g.const(B, layer.name + "/B")], outputs=2, hidden_size=H, **_rnn_attrs([act]))
    return _rnn_finish(g, layer, y, y_h)


# ---- attention ----

def _project(g, dense, x, heads, dim, name):
    """EinsumDense "abc,cde->abde" as a MatMul: (B, T, C) @ (C, heads*dim) -> (B, heads, T, dim)."""
    k = _w(dense.kernel)
    y = g.op("MatMul", [x, g.const(k.reshape(k.shape[0], -1), name + "/kernel")])
    if dense.bias is not None:
        y = g.op("Add", [y, g.const(_w(dense.bias).reshape(-1), name + "/bias")])
    y = g.op("Reshape", [y, g.ints([0, 0, heads, dim])])
    return g.op("Transpose", [y], perm=[0, 2, 1, 3])


def _mha(g, layer, inputs, shapes, args, kwargs, values):
    if kwargs.get("return_attention_scores"):
        _refuse(layer, "return_attention_scores=True")
    for key in ("attention_mask", "query_mask", "value_mask", "key_mask"):
        if kwargs.get(key) is not None:
            _refuse(layer, "%s (only use_causal_mask is exported)" % key)
    q_in, v_in = inputs[0], inputs[1]
    k_in = inputs[2] if len(inputs) > 2 else v_in
    N, K, V = layer.num_heads, layer.key_dim, layer.value_dim
    q = _project(g, layer.query_dense, q_in, N, K, layer.name + "/query")
    k = _project(g, layer.key_dense, k_in, N, K, layer.name + "/key")
    v = _project(g, layer.value_dense, v_in, N, V, layer.name + "/value")
    q = g.op("Mul", [q, g.const(np.float32(layer._inverse_sqrt_key_dim))])
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])  # (B, N, T, S)
    if kwargs.get("use_causal_mask"):
        T, S = shapes[0][1], shapes[1][1]
        if T is None or S is None:
            _refuse(layer, "use_causal_mask with an unknown sequence length")
        allowed = np.tril(np.ones((T, S), dtype=bool))
        scores = g.op("Add", [scores, g.const(np.where(allowed, 0.0, NEG).astype(np.float32))])
        probs = g.op("Mul", [g.op("Softmax", [scores], axis=-1), g.const(allowed.astype(np.float32))])
    else:
        probs = g.op("Softmax", [scores], axis=-1)
    out = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])  # (B, T, N, V)
    out = g.op("Reshape", [out, g.ints([0, 0, N * V])])
    ko = _w(layer.output_dense.kernel)
    y = g.op("MatMul", [out, g.const(ko.reshape(N * V, -1), layer.name + "/attention_output/kernel")])
    if layer.output_dense.bias is not None:
        y = g.op("Add", [y, g.const(_w(layer.output_dense.bias), layer.name + "/attention_output/bias")])
    return y


CONVERTERS = {
    L.Dense: _dense, L.EinsumDense: _einsum_dense, L.Activation: _activation_layer, L.ReLU: _relu,
    L.LeakyReLU: _leaky, L.ELU: _elu, L.Softmax: _softmax_layer,
    L.Dropout: _identity, L.SpatialDropout1D: _identity, L.SpatialDropout2D: _identity,
    L.SpatialDropout3D: _identity, L.GaussianNoise: _identity, L.GaussianDropout: _identity,
    L.AlphaDropout: _identity, L.ActivityRegularization: _identity, L.Identity: _identity,
    L.Flatten: _flatten, L.Reshape: _reshape, L.Permute: _permute, L.Rescaling: _rescaling,
    L.Embedding: _embedding, L.BatchNormalization: _batchnorm, L.LayerNormalization: _layernorm,
    L.Conv1D: _conv, L.Conv2D: _conv, L.Conv3D: _conv, L.DepthwiseConv1D: _depthwise, L.DepthwiseConv2D: _depthwise,
    L.SeparableConv1D: _separable, L.SeparableConv2D: _separable,
    L.MaxPooling1D: _pool("MaxPool"), L.MaxPooling2D: _pool("MaxPool"), L.MaxPooling3D: _pool("MaxPool"),
    L.AveragePooling1D: _pool("AveragePool"), L.AveragePooling2D: _pool("AveragePool"),
    L.AveragePooling3D: _pool("AveragePool"),
    L.GlobalAveragePooling1D: _global_pool("ReduceMean"), L.GlobalAveragePooling2D: _global_pool("ReduceMean"),
    L.GlobalAveragePooling3D: _global_pool("ReduceMean"), L.GlobalMaxPooling1D: _global_pool("ReduceMax"),
    L.GlobalMaxPooling2D: _global_pool("ReduceMax"), L.GlobalMaxPooling3D: _global_pool("ReduceMax"),
    L.ZeroPadding1D: _zero_padding, L.ZeroPadding2D: _zero_padding, L.ZeroPadding3D: _zero_padding,
    L.Add: _nary("Sum"), L.Multiply: _multiply, L.Maximum: _nary("Max"), L.Minimum: _nary("Min"),
    L.Average: _average, L.Subtract: _subtract, L.Concatenate: _concatenate, L.Dot: _dot,
    L.LSTM: _lstm, L.GRU: _gru, L.SimpleRNN: _simple_rnn, L.MultiHeadAttention: _mha,
}
