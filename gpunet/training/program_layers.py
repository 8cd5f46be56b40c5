"""Each layer family's rule in a node program (graph_program.py): which layers of the family it takes (check),
their launches on the program's buffers (forward) and their gradient (backward), side by side. A rule runs the
kernels the eager op runs (gpunet/kernels/*), so the program computes what the op computes.

Every rule takes the exact class only: a subclass may override call(). What a rule cannot honour raises
Unsupported with the reason, and fit runs the tape path (README: "The captured GPU step")."""
import numpy as np

from .. import activations
from ..kernels import conv, dense, graph, norm, pool, sequence, step
from ..kernels.launch import ACT_CODES, stores_z
from ..layers.activations import ReLU
from ..layers.convolutional import (Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                                    SeparableConv2D)
from ..layers.core import Activation, Dense, Dropout, Flatten, Reshape
from ..layers.merge import Add
from ..layers.normalization import BatchNormalization
from ..layers import pooling as P
from ..ops.convolution import conv_geometry


class Unsupported(Exception):
    """Why a model (or an option) has no step program; fit logs it once and runs the tape."""


def _sink(var, layer):
    sink = var._grad_sink
    if sink is None:
        raise Unsupported('layer "%s": the optimizer holds no gradient buffer for %s' % (layer.name, var.name))
    return sink


def _f32(var, layer):
    if var is not None and var.dtype != np.float32:
        raise Unsupported('layer "%s" has %s weights (the kernels run float32)' % (layer.name, var.dtype))


class Rule:
    fuses_activation = False  # an Activation right after it (its only reader) folds into its epilogue
    mask_mode = None  # "pass": a mask on the input passes to the output; "consume": the rule applies it
    call_kwargs = frozenset()  # constant keyword arguments of the layer's call the rule honours
    batch_statistics = False  # whether the layer's output depends on the other rows of the batch (no DataParallel)

    def output_mask(self, node, mask):
        """The mask source on the node's output (graph_program.plan follows Keras's compute_mask)."""
        return mask if self.mask_mode == "pass" else None

    def check(self, node, training):
        pass

    def draws(self, node, training):
        return False

    def trains(self, node):
        """Whether the optimizer updates weights of this node (a gradient must reach it)."""
        return node.layer.trainable and any(w.trainable for w in node.layer.weights)


class _View(Rule):
    """Flatten, Reshape: the same buffer seen in another shape (channels_last rows are already contiguous)."""

    def forward(self, p, node, ins, head):
        layer = node.layer
        if type(layer) is Flatten and layer.data_format != "channels_last" and ins[0].ndim > 2:
            raise Unsupported('Flatten "%s" is channels_first (its transpose has no program rule)' % layer.name)
        node.state = ins[0].shape
        return p.buffers.alias(ins[0], p.value_shape(node.shape))

    def backward(self, p, node, g, wants):
        return [p.buffers.alias(g, node.state)]


class _Dense(Rule):
    fuses_activation = True
    mask_mode = "pass"  # Keras's Dense passes a mask on (it computes every timestep)

    def check(self, node, training):
        layer = node.layer
        _f32(layer.kernel, layer)
        if training and layer.trainable:
            _sink(layer.kernel, layer)
            if layer.bias is not None:
                _sink(layer.bias, layer)
        node.act = layer._fused or "?"

    def forward(self, p, node, ins, head):
        layer, x = node.layer, ins[0]
        W = layer.kernel.data
        b = layer.bias.data if layer.bias is not None else None
        K, N = W.shape
        rows = x.size // K
        x2 = x.reshape(rows, K)
        Y = p.buffers.get((rows, N))
        Z = p.buffers.get((rows, N)) if stores_z(node.act) else None
        if head is None or not head(x2, W, b, Y, Z, node.act):
            p.launches += dense.dense_forward_launches(x2, W, b, Y, Z, node.act, alloc=p.scratch)
        node.state = (x2, x.shape, Y, Z)
        return p.buffers.alias(Y, p.value_shape(node.shape))

    def backward(self, p, node, g, wants):
        layer = node.layer
        x2, in_shape, Y, Z = node.state
        g2 = g.reshape(Y.shape)
        if layer.trainable:
            gb = layer.bias._grad_sink if layer.bias is not None else None
            p.launches += dense.dense_backward_weight_launches(x2, g2, Y, Z, layer.kernel._grad_sink, gb, node.act,
                                                               alloc=p.scratch)
        if not wants[0]:
            return [None]
        gx = p.buffers.get(x2.shape)
        p.launches += dense.dense_backward_data_launches(g2, Y, Z, layer.kernel.data, gx, node.act, alloc=p.scratch)
        return [p.buffers.alias(gx, in_shape)]


def _conv_stages(layer):
    """The convolutions a conv layer runs: [(kernel variable, its grouped shape, bias variable, strides, padding,
    dilation)] — one for Conv1D/2D and DepthwiseConv (a grouped conv, one group per input channel), two for
    SeparableConv (the depthwise, then the 1×1 pointwise with the bias)."""
    def grouped(k):  # (*kernel, C, multiplier) as a conv kernel of C groups: (*kernel, 1, C·multiplier)
        return tuple(k.shape[:-2]) + (1, k.shape[-2] * k.shape[-1])
    t = type(layer)
    if t in (Conv1D, Conv2D):
        return [(layer.kernel, tuple(layer.kernel.shape), layer.bias, layer.strides, layer.padding,
                 layer.dilation_rate)]
    if t in (DepthwiseConv1D, DepthwiseConv2D):
        return [(layer.kernel, grouped(layer.kernel), layer.bias, layer.strides, layer.padding, layer.dilation_rate)]
    ones = (1,) * layer.rank
    return [(layer.depthwise_kernel, grouped(layer.depthwise_kernel), None, layer.strides, layer.padding,
             layer.dilation_rate), (layer.pointwise_kernel, tuple(layer.pointwise_kernel.shape), layer.bias, ones,
                                    "valid", ones)]


class _Conv(Rule):
    """Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D: the implicit-GEMM kernels with the bias and activation
    fused (kernels/conv.cu), as the layers' eager ops run them."""
    fuses_activation = True

    def check(self, node, training):
        layer = node.layer
        if layer.data_format != "channels_last":
            raise Unsupported('%s "%s" is channels_first' % (type(layer).__name__, layer.name))
        if layer.padding not in ("valid", "same"):
            raise Unsupported('%s "%s" has padding=%r' % (type(layer).__name__, layer.name, layer.padding))
        for kernel, _, bias, *_ in _conv_stages(layer):
            for v in (kernel, bias):
                _f32(v, layer)
                if v is not None and training and layer.trainable:
                    _sink(v, layer)
        node.act = layer._fused or "?"

    def forward(self, p, node, ins, head):
        layer, x = node.layer, ins[0]
        stages = _conv_stages(layer)
        node.state = []
        for i, (kernel, wshape, bias, strides, padding, dilation) in enumerate(stages):
            act = node.act if i == len(stages) - 1 else "linear"
            W = kernel.data.reshape(wshape)
            b = bias.data if bias is not None else None
            F = W.shape[-1]
            groups = x.shape[-1] // W.shape[-2]
            outs, lo = conv_geometry(x.shape[1:-1], W.shape[:-2], strides, dilation, padding)
            y_shape = (x.shape[0],) + tuple(outs) + (F,)
            if not conv.conv_supported(layer.rank, act, x.shape, y_shape, W.shape, groups=groups):
                raise Unsupported('%s "%s": the conv kernels cannot take this shape or activation (%s)'
                                  % (type(layer).__name__, layer.name, act))
            geo = conv._shape_args(x.shape, outs, F, W.shape[:-2], strides, dilation, lo, groups)
            y = p.buffers.get(y_shape)
            z = p.buffers.get(y_shape) if stores_z(act) else None
            p.launches.append(conv.conv_forward_launch(x, W, b, y, z, geo, act))
            node.state.append((kernel, wshape, bias, act, x, y, z, geo))
            x = y
        return x

    def backward(self, p, node, g, wants):
        layer, inner = node.layer, []
        for i in range(len(node.state) - 1, -1, -1):
            kernel, wshape, bias, act, x, y, z, geo = node.state[i]
            yy = y if act != "linear" and not stores_z(act) else None
            if layer.trainable:
                gW = kernel._grad_sink.reshape(wshape)
                gb = bias._grad_sink if bias is not None else None
                F = gW.shape[-1]
                rows = g.size // F
                if gb is None or rows <= dense.DB_SERIAL_ROWS:
                    p.launches.append(conv.conv_backward_weight_launch(x, g, yy, z, gW, gb, geo, act))
                else:  # many output positions: the bias gradient in parallel, as the eager op (kernels/conv.py)
                    p.launches.append(conv.conv_backward_weight_launch(x, g, yy, z, gW, None, geo, act))
                    d2 = g.reshape(rows, F)
                    p.launches += dense.bias_grad_launches(d2, d2 if yy is None else yy.reshape(rows, F),
                                                           None if z is None else z.reshape(rows, F), gb, act,
                                                           alloc=p.scratch)
            if i == 0 and not wants[0]:
                g = None
                break
            dx = p.buffers.get(x.shape)
            p.launches.append(conv.conv_backward_data_launch(g, yy, z, kernel.data.reshape(wshape), dx, geo, act))
            if i > 0:  # a gradient between this node's own stages: free once the stage below has read it
                p.buffers.ref(dx)
                inner.append(dx)
            g = dx
        for buf in inner:
            p.buffers.ref(buf, -1)
        return [g]


class _Activation(Rule):
    """Activation, ReLU() with its defaults: one elementwise kernel each way, where it cannot fold."""
    mask_mode = "pass"

    def check(self, node, training):
        layer = node.layer
        if type(layer) is ReLU:
            if layer.max_value is not None or layer.negative_slope or layer.threshold:
                raise Unsupported('ReLU "%s" has max_value, negative_slope or threshold' % layer.name)
            node.act = "relu"
            return
        name = activations.fusable_name(layer.activation)
        node.act = name if name in ACT_CODES else "?"

    def forward(self, p, node, ins, head):
        x = ins[0]
        y = p.buffers.get(x.shape)
        p.launches.append(graph.act_forward_launch(x, y, node.act))
        node.state = (x, y)
        return y

    def backward(self, p, node, g, wants):
        x, y = node.state
        dx = p.buffers.get(x.shape)
        p.launches.append(graph.act_backward_launch(g, x, y, dx, node.act))
        return [dx]


class _Dropout(Rule):
    """Philox dropout keyed by (step, call): the masks the tape path draws (gpunet/random.py)."""
    mask_mode = "pass"

    def check(self, node, training):
        if node.layer.noise_shape is not None:
            raise Unsupported('Dropout "%s" has a noise_shape' % node.layer.name)

    def draws(self, node, training):
        return training and node.layer.rate > 0

    def forward(self, p, node, ins, head):
        x = ins[0]
        if not self.draws(node, p.training):
            node.state = None
            return x
        y, mask = p.buffers.get(x.shape), p.buffers.get(x.shape)
        rows = x.shape[0]
        p.launches.append(step.dropout_forward_launch(x.reshape(rows, -1), y.reshape(rows, -1), mask.reshape(rows, -1),
                                                      p.ctl, p.dropout_calls, p.n_dropout, node.layer.rate))
        p.dropout_calls += 1
        node.state = mask
        return y

    def backward(self, p, node, g, wants):
        mask = node.state
        if mask is None:
            return [g]
        if p.buffers.exclusive(g):  # no other tensor's gradient is this buffer: in place
            p.launches.append(step.mask_multiply_launch(g, mask))
            return [g]
        out = p.buffers.get(g.shape)
        p.launches.append(graph.multiply_out_launch(g, mask, out))
        return [out]


class _Pool(Rule):
    """MaxPooling, AveragePooling (1-D, 2-D) and their Global forms (one window over the whole input);
    GlobalAveragePooling1D under mask_zero's mask: the mean over the unmasked steps (sequence.cu)."""
    mask_mode = "consume"

    def check(self, node, training):
        if node.layer.data_format != "channels_last":
            raise Unsupported('%s "%s" is channels_first' % (type(node.layer).__name__, node.layer.name))
        if node.mask is not None and (type(node.layer) is not P.GlobalAveragePooling1D or node.layer.keepdims):
            raise Unsupported('the mask of "%s" reaches layer "%s", which cannot take it in a program'
                              % (node.mask.layer.name, node.layer.name))

    def forward(self, p, node, ins, head):
        layer, x = node.layer, ins[0]
        if node.mask is not None:
            ids, is_int = node.mask.state
            y = p.buffers.get((x.shape[0], x.shape[-1]))
            p.launches.append(sequence.masked_mean_forward_launch(x, ids, is_int, y, p.ctl[1:2]))
            node.state = ("masked", x.shape, ids, is_int)
            return y
        sp = tuple(x.shape[1:-1])
        if isinstance(layer, P._GlobalPooling):
            size, strides, padding = sp, sp, "valid"
            is_max = layer._reduce == "max"
        else:
            size, strides, padding = layer.pool_size, layer.strides, layer.padding
            is_max = layer._op == "max_pool"
        outs, lo = conv_geometry(sp, size, strides, (1,) * len(sp), padding)
        y_shape = (x.shape[0],) + tuple(outs) + (x.shape[-1],)
        if not pool.pool_supported(len(sp), x.shape, y_shape):
            raise Unsupported('%s "%s": the pooling kernels cannot take this shape' % (type(layer).__name__,
                                                                                       layer.name))
        geo = pool._pool_args(x.shape, outs, size, strides, lo)
        y = p.buffers.get(y_shape)
        arg = None
        if is_max:
            arg = p.buffers.get(y_shape, np.int32)
            p.launches.append(pool.max_pool_forward_launch(x, y, arg, geo))
            if not p.training:  # nothing reads the taps: the buffer is free again after this launch
                p.buffers.ref(arg)
                p.buffers.ref(arg, -1)
        else:
            p.launches.append(pool.avg_pool_forward_launch(x, y, geo))
        node.state = (x.shape, y_shape, arg, geo)
        return p.buffers.alias(y, p.value_shape(node.shape))

    def backward(self, p, node, g, wants):
        if node.state[0] == "masked":
            _, x_shape, ids, is_int = node.state
            dx = p.buffers.get(x_shape)
            p.launches.append(sequence.masked_mean_backward_launch(g, ids, is_int, dx, p.ctl[1:2]))
            return [dx]
        x_shape, y_shape, arg, geo = node.state
        g = g.reshape(y_shape)
        dx = p.buffers.get(x_shape)
        if arg is not None:
            p.launches.append(pool.max_pool_backward_launch(g, arg, dx, geo))
        else:
            p.launches.append(pool.avg_pool_backward_launch(g, dx, geo))
        return [dx]


class _BatchNorm(Rule):
    """Training: the batch statistics over the step's valid rows only (the short last batch's padding rows
    take no part), the moving averages updated on the device in the graph; else the moving statistics."""
    batch_statistics = True

    def check(self, node, training):
        layer = node.layer
        for v in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance):
            _f32(v, layer)
        if layer.axis % len(node.shape) == 0:
            raise Unsupported('BatchNormalization "%s" normalizes over the batch axis' % layer.name)
        if training and layer.trainable:
            for v in (layer.gamma, layer.beta):
                if v is not None:
                    _sink(v, layer)

    def trains(self, node):
        return node.layer.trainable and (node.layer.gamma is not None or node.layer.beta is not None)

    def forward(self, p, node, ins, head):
        layer, x = node.layer, ins[0]
        acb = norm._acb(x.shape, layer.axis % x.ndim)
        C = int(acb[1])
        gamma = layer.gamma.data if layer.gamma is not None else None
        beta = layer.beta.data if layer.beta is not None else None
        y = p.buffers.get(x.shape)
        if p.training and layer.trainable:
            rows, per_row = p.ctl[1:2], int(acb[0]) // p.batch
            mean, var = p.buffers.get((C,)), p.buffers.get((C,))
            p.launches += [norm.bn_stats_launch(x, mean, var, acb, rows, per_row),
                           norm.bn_forward_launch(x, y, mean, var, gamma, beta, acb, layer.epsilon, rows, per_row),
                           graph.moving_update_launch(layer.moving_mean.data, mean, layer.momentum),
                           graph.moving_update_launch(layer.moving_variance.data, var, layer.momentum)]
            node.state = ("batch", x, mean, var, acb, rows, per_row)
        else:
            p.launches.append(norm.bn_forward_launch(x, y, layer.moving_mean.data, layer.moving_variance.data, gamma,
                                                     beta, acb, layer.epsilon))
            node.state = ("moving", x, acb)
        return y

    def backward(self, p, node, g, wants):
        layer = node.layer
        gamma = layer.gamma.data if layer.gamma is not None else None
        C = int(layer.moving_mean.shape[0])
        if node.state[0] == "batch":
            _, x, mean, var, acb, rows, per_row = node.state
            dgamma = layer.gamma._grad_sink if layer.gamma is not None else p.buffers.get((C,))
            dbeta = layer.beta._grad_sink if layer.beta is not None else p.buffers.get((C,))
            p.launches.append(norm.bn_backward_reduce_launch(g, x, mean, var, dgamma, dbeta, acb, layer.epsilon,
                                                             rows, per_row))
            if not wants[0]:
                return [None]
            dx = p.buffers.get(x.shape)
            p.launches.append(norm.bn_backward_data_launch(g, x, mean, var, gamma, dgamma, dbeta, dx, acb,
                                                           layer.epsilon, rows, per_row))
            return [dx]
        _, x, acb = node.state  # frozen: y is affine in x, dx = g·γ/√(var + ε) (the forward with a zero mean)
        if not wants[0]:
            return [None]
        dx = p.buffers.get(x.shape)
        zeros = p.arena.empty((C,), fill=0)
        p.launches.append(norm.bn_forward_launch(g, dx, zeros, layer.moving_variance.data, gamma, None, acb,
                                                 layer.epsilon))
        return [dx]


class _Add(Rule):
    """Add of inputs of one shape (no broadcasting); the gradient reaches every input as it is. Masks: the AND of
    its inputs' (graph_program.plan lets one mask source reach a node, so the AND is that mask)."""
    mask_mode = "pass"

    def check(self, node, training):
        if len(node.inputs) < 2 or len(set(node.inputs)) != len(node.inputs):
            raise Unsupported('Add "%s" takes one tensor twice or fewer than two' % node.layer.name)

    def trains(self, node):
        return False

    def forward(self, p, node, ins, head):
        if any(a.shape != ins[0].shape for a in ins) or ins[0].shape != p.value_shape(node.shape):
            raise Unsupported('Add "%s" broadcasts its inputs' % node.layer.name)
        y = p.buffers.get(ins[0].shape)
        p.launches.append(graph.add2_launch(ins[0], ins[1], y))
        for a in ins[2:]:
            p.launches.append(graph.add_into_launch(y, a))
        return y

    def backward(self, p, node, g, wants):
        return [g] * len(node.inputs)


_view, _pool = _View(), _Pool()
_conv = _Conv()
RULES = {Dense: _Dense(), Conv1D: _conv, Conv2D: _conv, DepthwiseConv1D: _conv, DepthwiseConv2D: _conv,
         SeparableConv1D: _conv, SeparableConv2D: _conv, Activation: _Activation(), ReLU: _Activation(),
         Dropout: _Dropout(), Flatten: _view, Reshape: _view, BatchNormalization: _BatchNorm(), Add: _Add(),
         P.MaxPooling1D: _pool, P.MaxPooling2D: _pool, P.AveragePooling1D: _pool, P.AveragePooling2D: _pool,
         P.GlobalAveragePooling1D: _pool, P.GlobalAveragePooling2D: _pool, P.GlobalMaxPooling1D: _pool,
         P.GlobalMaxPooling2D: _pool}
ACTIVATION_LAYERS = (Activation, ReLU)
