"""More of the convnet family in a node program (graph_program.py), channels_last: Conv1DTranspose/2DTranspose
(conv.cu's products with their roles swapped, as ops.conv_transpose runs them, then graph.cu's bias_act), and the
weightless spatial layers: ZeroPadding, Cropping and UpSampling ("nearest") in 1-D and 2-D, and SpatialDropout1D/2D
on graph.cu's kernels. Each of those is one launch each way; SpatialDropout draws its (sample, channel) mask with
the Philox dropout kernel the tape path's draw equals (gpunet/random.py), one more launch."""
from .. import activations
from ..kernels import conv, dense
from ..kernels.launch import ACT_CODES
from ..layers.convolutional import Conv1DTranspose, Conv2DTranspose
from ..ops.convolution import _transpose_geometry
from ..kernels import graph, step
from ..layers.core import SpatialDropout1D, SpatialDropout2D
from ..layers.reshaping import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from .program_layers import Rule, Unsupported, _Dropout, _f32, _sink


def _channels_last(layer):
    if layer.data_format != "channels_last":
        raise Unsupported('%s "%s" is channels_first' % (type(layer).__name__, layer.name))


def _lo(pairs):
    """The leading amounts (top, left) of a 1-D or 2-D layer's ((lo, hi), ...) as a 2-D window offset."""
    return (0, pairs[0][0]) if len(pairs) == 1 else (pairs[0][0], pairs[1][0])


class _Window(Rule):
    """ZeroPadding (the input placed at (top, left) of zeros) and Cropping (a window of the input): each one's
    gradient is the other's forward."""

    def check(self, node, training):
        _channels_last(node.layer)

    def _offset(self, layer):
        if isinstance(layer, (ZeroPadding1D, ZeroPadding2D)):
            top, left = _lo(layer.padding)
            return -top, -left
        return _lo(layer.cropping)

    def forward(self, p, node, ins, head):
        x = ins[0]
        y = p.buffers.get(p.value_shape(node.shape))
        oh, ow = self._offset(node.layer)
        p.launches.append(graph.window_copy_launch(x, y, oh, ow))
        node.state = x.shape
        return y

    def backward(self, p, node, g, wants):
        dx = p.buffers.get(node.state)
        oh, ow = self._offset(node.layer)
        p.launches.append(graph.window_copy_launch(g, dx, -oh, -ow))
        return [dx]


class _UpSampling(Rule):
    def check(self, node, training):
        layer = node.layer
        _channels_last(layer)
        if layer.interpolation != "nearest":
            raise Unsupported('%s "%s" interpolates %s' % (type(layer).__name__, layer.name, layer.interpolation))

    def _size(self, layer):
        return (1, layer.size[0]) if len(layer.size) == 1 else tuple(layer.size)

    def forward(self, p, node, ins, head):
        x = ins[0]
        y = p.buffers.get(p.value_shape(node.shape))
        p.launches.append(graph.upsample_forward_launch(x, y, *self._size(node.layer)))
        node.state = x.shape
        return y

    def backward(self, p, node, g, wants):
        dx = p.buffers.get(node.state)
        p.launches.append(graph.upsample_backward_launch(g, dx, *self._size(node.layer)))
        return [dx]


class _SpatialDropout(_Dropout):
    """One Philox draw per (sample, channel), as Dropout with noise_shape (batch, 1, ..., channels) draws it."""

    def check(self, node, training):
        _channels_last(node.layer)

    def forward(self, p, node, ins, head):
        x = ins[0]
        if not self.draws(node, p.training):
            node.state = None
            return x
        rows, C = x.shape[0], x.shape[-1]
        ones = p.arena.empty((rows, C), fill=1)
        kept, mask = p.buffers.get((rows, C)), p.buffers.get((rows, C))
        p.launches.append(step.dropout_forward_launch(ones, kept, mask, p.ctl, p.dropout_calls, p.n_dropout,
                                                      node.layer.rate))
        p.dropout_calls += 1
        y = p.buffers.get(x.shape)
        p.launches.append(graph.channel_scale_launch(x, mask, y))
        node.state = mask
        return y

    def backward(self, p, node, g, wants):
        if node.state is None:
            return [g]
        dx = p.buffers.get(g.shape)
        p.launches.append(graph.channel_scale_launch(g, node.state, dx))
        return [dx]


class _ConvTranspose(Rule):
    """y = act(conv_transpose(x, W) + b): the transposed product is conv.cu's data-gradient kernel, its input
    gradient the forward kernel and its kernel gradient the weight kernel with the two operands swapped."""

    def check(self, node, training):
        layer = node.layer
        _channels_last(layer)
        for v in (layer.kernel, layer.bias):
            _f32(v, layer)
            if v is not None and training and layer.trainable:
                _sink(v, layer)
        node.act = activations.fusable_name(layer.activation)
        if node.act not in ACT_CODES:
            raise Unsupported('%s "%s" has an activation the kernels lack' % (type(layer).__name__, layer.name))

    def forward(self, p, node, ins, head):
        layer, x = node.layer, ins[0]
        W = layer.kernel.data
        in_sp = tuple(x.shape[1:-1])
        outs, lo = _transpose_geometry(in_sp, W.shape[:-2], layer.strides, layer.dilation_rate, layer.padding,
                                       layer.output_padding)
        out_shape = (x.shape[0],) + tuple(outs) + (W.shape[-2],)
        if not conv.conv_supported(layer.rank, "linear", x.shape, out_shape, W.shape):
            raise Unsupported('%s "%s": the conv kernels cannot take this shape' % (type(layer).__name__, layer.name))
        geo = conv._shape_args(out_shape, in_sp, W.shape[-1], W.shape[:-2], layer.strides, layer.dilation_rate,
                               lo, 1)
        z = p.buffers.get(out_shape)
        p.launches.append(conv.conv_backward_data_launch(x, None, None, W, z, geo, "linear"))
        y = z
        b = layer.bias.data if layer.bias is not None else None
        if b is not None or node.act != "linear":
            y = p.buffers.get(out_shape)
            p.launches.append(graph.bias_act_launch(z, b, y, node.act))
        node.state = (x, z, y, geo)
        return y

    def backward(self, p, node, g, wants):
        layer = node.layer
        x, z, y, geo = node.state
        dz = g
        if node.act != "linear":
            dz = p.buffers.get(g.shape)
            p.buffers.ref(dz)
            p.launches.append(graph.act_backward_launch(g, z, y, dz, node.act))
        F = z.shape[-1]
        if layer.trainable:
            p.launches.append(conv.conv_backward_weight_launch(dz, x, None, None, layer.kernel._grad_sink, None, geo,
                                                               "linear"))
            if layer.bias is not None:
                d2 = dz.reshape(-1, F)
                p.launches += dense.bias_grad_launches(d2, d2, None, layer.bias._grad_sink, "linear",
                                                       alloc=p.scratch)
        dx = None
        if wants[0]:
            dx = p.buffers.get(x.shape)
            p.launches.append(conv.conv_forward_launch(dz, layer.kernel.data, None, dx, None, geo, "linear"))
        if dz is not g:
            p.buffers.ref(dz, -1)
        return [dx]


_window = _Window()
_up = _UpSampling()
_spatial_dropout = _SpatialDropout()
RULES = {Conv1DTranspose: _ConvTranspose(), Conv2DTranspose: _ConvTranspose(), ZeroPadding1D: _window, ZeroPadding2D: _window, Cropping1D: _window, Cropping2D: _window,
         UpSampling1D: _up, UpSampling2D: _up, SpatialDropout1D: _spatial_dropout,
         SpatialDropout2D: _spatial_dropout}
