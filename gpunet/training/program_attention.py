"""The attention family's rules in a node program (graph_program.py): LayerNormalization over the last axis and
MultiHeadAttention over (batch, time, dim) inputs (self- or cross-attention, use_causal_mask), on the dense GEMMs,
transformer.cu's per-head products and layer norm, and attention.cu's masked softmax. With the Dense feed-forward,
Dropout and Add rules, the keras.io text classifier's transformer encoder block, written as a Functional graph, is
one program.

MultiHeadAttention with N heads, query length Tq, key length Tk: forward 3 projection GEMMs, the scores
(one batched launch over B·N heads), the masked softmax, the weighted values (one batched launch) and the output
projection: 7 launches; backward 2 for the output projection, 2 batched for dP and dV, the softmax's, 2 batched for
dQ and dK, then weight and data products of the three projections: 13, plus one add when key and value are one
tensor. The floor is the same count less the softmax pair: the products are the arithmetic."""
import numpy as np

from ..kernels import dense, graph, sequence as S_, transformer as TR
from ..layers.attention import MultiHeadAttention
from ..layers.misc import LayerNormalization
from .program_layers import Rule, Unsupported, _f32, _sink


class _LayerNorm(Rule):
    mask_mode = "pass"

    def check(self, node, training):
        layer = node.layer
        if tuple(layer._axes) != (len(node.shape) - 1,):
            raise Unsupported('LayerNormalization "%s" normalizes over axes %s, not the last alone'
                              % (layer.name, layer._axes))
        for v in (layer.gamma, layer.beta):
            _f32(v, layer)
            if v is not None and training and layer.trainable:
                _sink(v, layer)

    def forward(self, p, node, ins, head):
        layer, x = node.layer, ins[0]
        C = x.shape[-1]
        R = x.size // C
        y, xhat, rstd = p.buffers.get(x.shape), p.buffers.get((R, C)), p.buffers.get((R,))
        gamma = layer.gamma.data if layer.gamma is not None else None
        beta = layer.beta.data if layer.beta is not None else None
        p.launches.append(TR.ln_forward_launch(x.reshape(R, C), gamma, beta, y.reshape(R, C), xhat, rstd,
                                               layer.epsilon))
        if not p.training:
            for buf in (xhat, rstd):
                p.buffers.ref(buf)
                p.buffers.ref(buf, -1)
        node.state = (xhat, rstd, x.shape)
        return y

    def backward(self, p, node, g, wants):
        layer, Bf = node.layer, p.buffers
        xhat, rstd, x_shape = node.state
        R, C = xhat.shape
        g2 = g.reshape(R, C)
        if layer.trainable and layer.gamma is not None:
            t = Bf.get((R, C))
            Bf.ref(t)
            p.launches.append(graph.multiply_out_launch(g2, xhat, t))
            p.launches += dense.bias_grad_launches(t, t, None, layer.gamma._grad_sink, "linear", alloc=p.scratch)
            Bf.ref(t, -1)
        if layer.trainable and layer.beta is not None:
            p.launches += dense.bias_grad_launches(g2, g2, None, layer.beta._grad_sink, "linear", alloc=p.scratch)
        if not wants[0]:
            return [None]
        dx = Bf.get(x_shape)
        gamma = layer.gamma.data if layer.gamma is not None else None
        p.launches.append(TR.ln_backward_data_launch(g2, xhat, rstd, gamma, dx.reshape(R, C)))
        return [dx]


def _heads(shape, N, d):
    """(batch, head, row, column) strides of a (B, T, N, d) projection read as per-head (T, d) matrices."""
    T = shape[1]
    return (T * N * d, d, N * d, 1)


class _MultiHeadAttention(Rule):
    call_kwargs = {"use_causal_mask"}
    mask_mode = "consume"  # mask_zero's masks of the query and the value/key: the attention mask, made per step

    def output_mask(self, node, mask):
        return node.in_masks[0]  # Keras: the query's mask passes on

    def check(self, node, training):
        layer = node.layer
        if not 2 <= len(node.inputs) <= 3:
            raise Unsupported('MultiHeadAttention "%s" is called with %d tensors' % (layer.name, len(node.inputs)))
        if training and layer.dropout > 0:
            raise Unsupported('MultiHeadAttention "%s" has dropout on the attention weights' % layer.name)
        if not isinstance(node.kwargs.get("use_causal_mask", False), bool):
            raise Unsupported('MultiHeadAttention "%s": use_causal_mask is not a constant' % layer.name)
        for d in self._denses(layer):
            for v in (d.kernel, d.bias):
                _f32(v, layer)
                if v is not None and training and layer.trainable:
                    _sink(v, layer)

    @staticmethod
    def _denses(layer):
        return (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense)

    @staticmethod
    def _project(p, d, x, width):
        """x (B, T, E) through an EinsumDense whose kernel is (E, N, d) or (N, d, E): one GEMM on the rows."""
        W = d.kernel.data
        W2 = W.reshape(-1, width)
        rows = x.size // W2.shape[0]
        y = p.buffers.get((rows, width))
        b = d.bias.data.reshape(width) if d.bias is not None else None
        p.launches += dense.dense_forward_launches(x.reshape(rows, W2.shape[0]), W2, b, y, None, "linear",
                                                   alloc=p.scratch)
        return y

    def forward(self, p, node, ins, head):
        layer, Bf = node.layer, p.buffers
        q_in, v_in = ins[0], ins[1]
        k_in = ins[2] if len(ins) > 2 else v_in
        if q_in.ndim != 3 or v_in.ndim != 3 or k_in.shape[:2] != v_in.shape[:2]:
            raise Unsupported('MultiHeadAttention "%s" takes inputs of shapes %s' % (layer.name,
                                                                                     [a.shape for a in ins]))
        B, Tq, _ = q_in.shape
        Tk = v_in.shape[1]
        N, K, Vd = layer.num_heads, layer.key_dim, layer.value_dim
        Eo = layer.output_dense.kernel.shape[-1]
        Q = self._project(p, layer.query_dense, q_in, N * K)
        Kp = self._project(p, layer.key_dense, k_in, N * K)
        Vp = self._project(p, layer.value_dense, v_in, N * Vd)
        S, P = Bf.get((B, N, Tq, Tk)), Bf.get((B, N, Tq, Tk))
        scores = (N * Tq * Tk, Tq * Tk, Tk, 1)
        inv = layer._inverse_sqrt_key_dim
        L = p.launches
        L.append(TR.bgemm_launch(Q, Kp, S, Tq, Tk, K, B, N, _heads((B, Tq), N, K),
                                 (Tk * N * K, K, 1, N * K), scores, scale_a=inv))
        causal = node.kwargs.get("use_causal_mask", False)
        if node.mask is not None:  # padding: the ids of this step's batch decide it, so a launch per step
            ids, is_int = node.mask.state
            mask, heads = p.arena.empty((B, Tq, Tk), np.uint8), N
            L.append(S_.attention_mask_launch(ids, is_int, mask, node.in_masks[0] is not None,
                                              any(m is not None for m in node.in_masks[1:]), causal))
        elif causal:  # Keras's causal mask (key j ≤ query i), the same for every sample: made once, here
            tri = np.tril(np.ones((Tq, Tk), np.uint8))
            mask, heads = p.arena.copy_of(np.broadcast_to(tri, (B, Tq, Tk)), np.uint8), N
        else:
            mask, heads = p.arena.empty(1, np.uint8, fill=0), 0
        L.append(TR.masked_softmax_forward_launch(S, mask, P, heads, Tq))
        O = Bf.get((B, Tq, N, Vd))
        L.append(TR.bgemm_launch(P, Vp, O, Tq, Vd, Tk, B, N, scores, (Tk * N * Vd, Vd, N * Vd, 1),
                                 _heads((B, Tq), N, Vd)))
        out = self._project(p, layer.output_dense, O, Eo)
        Bf.ref(S)
        Bf.ref(S, -1)  # the softmax's backward reads P, not the scores
        node.state = (q_in, k_in, v_in, Q, Kp, Vp, P, O, (B, Tq, Tk, N, K, Vd, Eo))
        if not p.training:
            for buf in (Q, Kp, Vp, P, O):
                Bf.ref(buf)
                Bf.ref(buf, -1)
        return p.buffers.alias(out, (B, Tq, Eo))

    def backward(self, p, node, g, wants):
        layer, Bf, L = node.layer, p.buffers, p.launches
        q_in, k_in, v_in, Q, Kp, Vp, P, O, (B, Tq, Tk, N, K, Vd, Eo) = node.state
        temps = []

        def temp(shape):
            return Bf.held(shape, into=temps)

        def weights(d, x, dy, width):
            if layer.trainable:
                sb = d.bias._grad_sink.reshape(width) if d.bias is not None else None
                L.extend(dense.dense_backward_weight_launches(x.reshape(dy.shape[0], -1), dy, dy, None,
                                                              d.kernel._grad_sink.reshape(-1, width), sb, "linear",
                                                              alloc=p.scratch))

        def data(d, dy, shape, width, returned=False):
            dx = Bf.get(shape) if returned else temp(shape)  # a returned gradient: the program holds it next
            L.extend(dense.dense_backward_data_launches(dy, dy, None, d.kernel.data.reshape(-1, width),
                                                        dx.reshape(dy.shape[0], -1), "linear", alloc=p.scratch))
            return dx
        g2 = g.reshape(B * Tq, Eo)
        scores = (N * Tq * Tk, Tq * Tk, Tk, 1)
        scores_t = (N * Tq * Tk, Tq * Tk, 1, Tk)  # the same buffer read as per-head (Tk, Tq) matrices
        inv = layer._inverse_sqrt_key_dim
        weights(layer.output_dense, O, g2, Eo)
        dO = data(layer.output_dense, g2, (B, Tq, N, Vd), Eo)
        dP, dS = temp((B, N, Tq, Tk)), temp((B, N, Tq, Tk))
        dQ, dK, dV = temp((B, Tq, N, K)), temp((B, Tk, N, K)), temp((B, Tk, N, Vd))
        L.append(TR.bgemm_launch(dO, Vp, dP, Tq, Tk, Vd, B, N, _heads((B, Tq), N, Vd), (Tk * N * Vd, Vd, 1, N * Vd),
                                 scores))
        L.append(TR.bgemm_launch(P, dO, dV, Tk, Vd, Tq, B, N, scores_t, _heads((B, Tq), N, Vd),
                                 _heads((B, Tk), N, Vd)))
        L.append(TR.masked_softmax_backward_launch(P, dP, dS))
        L.append(TR.bgemm_launch(dS, Kp, dQ, Tq, K, Tk, B, N, scores, _heads((B, Tk), N, K), _heads((B, Tq), N, K),
                                 alpha=inv))
        L.append(TR.bgemm_launch(dS, Q, dK, Tk, K, Tq, B, N, scores_t, _heads((B, Tq), N, K), _heads((B, Tk), N, K),
                                 alpha=inv))
        dQ2, dK2, dV2 = dQ.reshape(B * Tq, N * K), dK.reshape(B * Tk, N * K), dV.reshape(B * Tk, N * Vd)
        weights(layer.query_dense, q_in, dQ2, N * K)
        weights(layer.key_dense, k_in, dK2, N * K)
        weights(layer.value_dense, v_in, dV2, N * Vd)
        out = [None] * len(node.inputs)
        if wants[0]:
            out[0] = data(layer.query_dense, dQ2, q_in.shape, N * K, returned=True)
        if len(node.inputs) > 2:
            out[1] = data(layer.value_dense, dV2, v_in.shape, N * Vd, returned=True) if wants[1] else None
            out[2] = data(layer.key_dense, dK2, k_in.shape, N * K, returned=True) if wants[2] else None
        elif wants[1]:  # key is value: both projections' gradients reach it
            out[1] = data(layer.value_dense, dV2, v_in.shape, N * Vd, returned=True)
            L.append(graph.add_into_launch(out[1], data(layer.key_dense, dK2, k_in.shape, N * K)))
        Bf.release(temps)
        return out


RULES = {LayerNormalization: _LayerNorm(), MultiHeadAttention: _MultiHeadAttention()}
