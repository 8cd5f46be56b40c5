"""The recurrent family's rules in a node program (graph_program.py): Embedding (with mask_zero's mask),
SimpleRNN / LSTM / GRU (masks, return_sequences, go_backwards) and Bidirectional (concat or sum), on the kernels
the eager recurrent op runs (rnn.cu's cells, the dense GEMMs) and sequence.cu's moves.

The time loop lives in the launch list: T steps unrolled, captured once in the step's CUDA graph, the same
arithmetic as ops/rnn.py's sequence op. Per direction, with G gates (LSTM 4, GRU 3, SimpleRNN 1), batch B,
T steps, D inputs and H units:
  forward   1 transpose to time-major, 1 input GEMM (T·B × D × G·H), then per step 1 recurrent GEMM
            (B × H × G·H) and 1 cell kernel: 2T + 2 launches, (+1 mask, +1 transpose out with return_sequences);
  backward  per step 1 cell kernel, 1 GEMM for dh (B × G·H × H; none at t = 0) and, under a mask or for GRU,
            1 add of the carry: 2T − 1 (to 3T − 2) launches; then the weight products dW, dU (and the bias sums
            in their epilogue), dX and its transpose: 4 to 6.
So LSTM(128)×100 at batch 64 is 202 + 205 = 407 launches a step (one graph launch on a GPU), moving per step
about 2·(T+1)·B·H floats of states plus the gates 2·T·B·4H each way: ~53 MB, a few µs of H100 bandwidth; the
floor is the GEMMs' 2T + 3 launches. The alternative, a persistent kernel that keeps U in shared memory and
walks the sequence with a grid-wide barrier per step, would take 1 launch each way and read U once instead of T
times, but needs cooperative launch (not capturable everywhere) and H·G·H·4 bytes of on-chip memory (256 KB for
LSTM(128): more than one SM holds), so it would split U across SMs and synchronise them every step: it is the
next step once a GPU run shows the launch-bound time. The emulated tier runs the unrolled launches."""
import numpy as np

from .. import activations
from ..kernels import dense, graph, sequence as S
from ..layers.embedding import Embedding
from ..layers.recurrent import GRU, LSTM, RNN, SimpleRNN
from ..layers.wrappers import Bidirectional
from ..ops import rnn as rnn_ops
from .program_layers import Rule, Unsupported, _f32, _sink


def _check_rnn(layer, training, masked):
    kind = layer._fused_kind(training)
    cell = layer.cell
    if kind is None:
        raise Unsupported('%s "%s": the fused recurrent kernels cannot run this cell (its activation, '
                          'recurrent_dropout or reset_after=False)' % (type(layer).__name__, layer.name))
    if layer.stateful or layer.return_state:
        raise Unsupported('%s "%s" is stateful or returns its states' % (type(layer).__name__, layer.name))
    if training and cell.dropout:
        raise Unsupported('%s "%s" has input dropout' % (type(layer).__name__, layer.name))
    if masked and layer.zero_output_for_mask and not layer.return_sequences:
        raise Unsupported('%s "%s" zeroes a masked last output' % (type(layer).__name__, layer.name))
    for v in (cell.kernel, cell.recurrent_kernel, cell.bias):
        _f32(v, layer)
        if v is not None and training and layer.trainable:
            _sink(v, layer)
    return kind


class _Direction:
    """One pass of a recurrent layer over the sequence: its buffers and launches (see the module docstring)."""

    def __init__(self, layer, kind):
        self.layer, self.kind, self.cell = layer, kind, layer.cell
        self.G, self.H = rnn_ops.GATES[kind], self.cell.units
        self.act = rnn_ops.ACTIVATIONS[activations.name_of(self.cell.activation)]
        self.ract = rnn_ops.ACTIVATIONS[activations.name_of(getattr(self.cell, "recurrent_activation",
                                                                    activations.sigmoid))]

    def _bias(self):
        b = self.cell.bias
        if b is None:
            return None, None
        return (b.data[0], b.data[1]) if self.kind == "gru" else (b.data, None)

    def forward(self, p, X, mask_ids, out, stride, off, rev_out, accumulate):
        """X (B, T, D); out: (B, T, stride) with return_sequences, else (B, stride); this direction's columns
        [off, off + H). Returns the output buffer itself when it can be the last state (no launch)."""
        L, A, Bf = p.launches, p.arena, p.buffers
        B, T, D = X.shape
        G, H, kind, rev_in = self.G, self.H, self.kind, self.layer.go_backwards
        self.B, self.T, self.D = B, T, D
        W, U = self.cell.kernel.data, self.cell.recurrent_kernel.data
        b_in, b_rec = self._bias()
        m, has = A.empty(1, np.uint8, fill=0), 0
        if mask_ids is not None:
            m, has = Bf.get((T, B), np.uint8), 1
            L.append(S.token_mask_launch(mask_ids[0], mask_ids[1], m, rev_in))
        Xt = Bf.get((T, B, D))
        L.append(S.to_time_major_launch(X, Xt, D, 0, rev_in, m))
        pre = Bf.get((T, B, G * H))
        L.extend(dense.dense_forward_launches(Xt.reshape(T * B, D), W, b_in, pre.reshape(T * B, G * H), None, "linear",
                                              alloc=p.scratch))
        hs = A.empty((T + 1, B, H), fill=0)  # hs[0] is never written: Keras's zero initial state
        cs = A.empty((T + 1, B, H), fill=0) if kind == "lstm" else None
        acs = Bf.get((T, B, H)) if kind == "lstm" else None
        rhs = Bf.get((T, B, H)) if kind == "gru" else None
        rec = Bf.get((B, G * H))
        for t in range(T):
            L.extend(dense.dense_forward_launches(hs[t], U, None, rec, None, "linear", alloc=p.scratch))
            mt = m[t] if has else m
            if kind == "lstm":
                L.append(S.lstm_forward_launch(pre[t], rec, cs[t], hs[t], hs[t + 1], cs[t + 1], acs[t], mt, has,
                                               self.act, self.ract))
            elif kind == "gru":
                L.append(S.gru_forward_launch(pre[t], rec, b_rec, hs[t], hs[t + 1], rhs[t], mt, has, self.act,
                                              self.ract))
            else:
                L.append(S.simple_forward_launch(pre[t], rec, hs[t], hs[t + 1], mt, has, self.act))
        self.saved = (Xt, pre, hs, cs, acs, rhs, m, has)
        if not p.training:  # nothing reads them again
            for buf in (Xt, pre, acs, rhs, rec) + ((m,) if has else ()):
                if buf is not None:
                    Bf.ref(buf)
                    Bf.ref(buf, -1)
        else:
            Bf.ref(rec)
            Bf.ref(rec, -1)
        if out is None:  # the last state is the output
            return hs[T]
        if self.layer.return_sequences:  # zero_output_for_mask (Bidirectional's): masked steps output 0
            self.zero_out = has and bool(self.layer.zero_output_for_mask)
            L.append(S.from_time_major_launch(hs[1:], out, stride, off, rev_out, m, self.zero_out, accumulate))
        else:
            L.append(S.from_time_major_launch(hs[T:], out.reshape(B, 1, stride), stride, off, False, m, False,
                                              accumulate))
        return out

    def backward(self, p, g, stride, off, rev_out, dX, accumulate, plain_last):
        """g: the output's gradient ((B, T, stride) or (B, stride)); dX (B, T, D) written (or added to) when given.
        plain_last: g is this direction's own (B, H) gradient of the last state."""
        L, A, Bf = p.launches, p.arena, p.buffers
        B, T, D, G, H, kind = self.B, self.T, self.D, self.G, self.H, self.kind
        Xt, pre, hs, cs, acs, rhs, m, has = self.saved
        layer, cell = self.layer, self.cell
        temps = []

        def temp(shape):
            return Bf.held(shape, into=temps)
        zeros = A.empty((B, H), fill=0)  # read where no gradient comes in; never written
        if layer.return_sequences:
            dY = temp((T, B, H))
            L.append(S.to_time_major_launch(g, dY, stride, off, rev_out, m, self.zero_out))
            g_last = zeros
        else:
            dY = None
            if plain_last:
                g_last = g
            else:
                g_last = temp((1, B, H))
                L.append(S.to_time_major_launch(g.reshape(B, 1, stride), g_last, stride, off, False, m))
                g_last = g_last[0]
        dpre = temp((T, B, G * H))
        drec = temp((T, B, G * H)) if kind == "gru" else dpre
        dhn, carry = temp((B, H)), temp((B, H))
        dc = None
        if kind == "lstm":
            dc = temp((B, H))
            L.append(S.fill_launch(dc, 0.0))
        U = cell.recurrent_kernel.data
        for t in range(T - 1, -1, -1):
            dy = dY[t] if dY is not None else zeros
            dh_in = dhn if t < T - 1 else (zeros if dY is not None else g_last)
            mt = m[t] if has else m
            if kind == "lstm":
                L.append(S.lstm_backward_launch(pre[t], acs[t], cs[t], dy, dh_in, dc, dpre[t], carry, mt, has,
                                                self.act, self.ract))
            elif kind == "gru":
                L.append(S.gru_backward_launch(pre[t], rhs[t], hs[t], dy, dh_in, dpre[t], drec[t], carry, mt, has,
                                               self.act, self.ract))
            else:
                L.append(S.simple_backward_launch(pre[t], dy, dh_in, dpre[t], carry, mt, has, self.act))
            if t == 0:
                break  # the initial state is a constant: no gradient past the first step
            L.extend(dense.dense_backward_data_launches(drec[t], drec[t], None, U, dhn, "linear", alloc=p.scratch))
            if has or kind == "gru":  # the carry past a masked step; GRU's direct z·dh
                L.append(graph.add_into_launch(dhn, carry))
        dpre2, drec2 = dpre.reshape(T * B, G * H), drec.reshape(T * B, G * H)
        if layer.trainable:
            sb = cell.bias._grad_sink if cell.bias is not None else None
            sb_in, sb_rec = (sb[0], sb[1]) if (sb is not None and kind == "gru") else (sb, None)
            L.extend(dense.dense_backward_weight_launches(Xt.reshape(T * B, D), dpre2, dpre2, None,
                                                          cell.kernel._grad_sink, sb_in, "linear", alloc=p.scratch))
            L.extend(dense.dense_backward_weight_launches(hs[:T].reshape(T * B, H), drec2, drec2, None,
                                                          cell.recurrent_kernel._grad_sink, sb_rec, "linear",
                                                          alloc=p.scratch))
        if dX is not None:
            dXt = temp((T, B, D))
            L.extend(dense.dense_backward_data_launches(dpre2, dpre2, None, cell.kernel.data, dXt.reshape(T * B, D),
                                                        "linear", alloc=p.scratch))
            L.append(S.from_time_major_launch(dXt, dX, D, 0, layer.go_backwards, m, False, accumulate))
        Bf.release(temps)


class _Recurrent(Rule):
    """SimpleRNN, LSTM, GRU, RNN over one of their cells; Bidirectional of them (merge_mode concat or sum)."""
    mask_mode = "consume"

    def _layers(self, layer):
        if type(layer) is Bidirectional:
            return [layer.forward_layer, layer.backward_layer]
        return [layer]

    def check(self, node, training):
        layer = node.layer
        if type(layer) is Bidirectional and layer.merge_mode not in ("concat", "sum"):
            raise Unsupported('Bidirectional "%s" has merge_mode=%r' % (layer.name, layer.merge_mode))
        for sub in self._layers(layer):
            if type(sub) not in (LSTM, GRU, SimpleRNN, RNN):
                raise Unsupported('Bidirectional "%s" wraps a %s' % (layer.name, type(sub).__name__))
            _check_rnn(sub, training, node.mask is not None)

    def trains(self, node):
        return node.layer.trainable

    def output_mask(self, node, mask):
        return mask if node.layer.return_sequences else None

    def forward(self, p, node, ins, head):
        layer, X = node.layer, ins[0]
        if X.ndim != 3:
            raise Unsupported('layer "%s" takes inputs of shape %s' % (layer.name, X.shape))
        B, T, _ = X.shape
        subs = self._layers(layer)
        dirs = [_Direction(sub, sub._fused_kind(p.training)) for sub in subs]
        mask_ids = node.mask.state if node.mask is not None else None  # (ids, whether int32)
        H = dirs[0].H
        bi = len(dirs) == 2
        concat = bi and layer.merge_mode == "concat"
        width = 2 * H if concat else H
        seq = layer.return_sequences
        out = None
        if bi or seq:
            out = p.buffers.get((B, T, width) if seq else (B, width))
        placement = []
        for k, d in enumerate(dirs):
            off = H * k if concat else 0
            rev_out = bi and k == 1 and seq  # Bidirectional flips the backward layer's outputs back in time
            y = d.forward(p, X, mask_ids, out, width, off, rev_out, accumulate=bi and k == 1 and not concat)
            placement.append((off, rev_out))
        node.state = (dirs, placement, width, X.shape)
        return y

    def backward(self, p, node, g, wants):
        dirs, placement, width, x_shape = node.state
        dX = p.buffers.get(x_shape) if wants[0] else None
        plain = len(dirs) == 1 and not node.layer.return_sequences
        for k, (d, (off, rev_out)) in enumerate(zip(dirs, placement)):
            d.backward(p, g, width, off, rev_out, dX, accumulate=k == 1, plain_last=plain)
        return [dX]


class _Embedding(Rule):
    """Rows of the table for each id of the model's input (float32 ids as Embedding casts them, or int32 data);
    the backward zeroes the table's gradient and adds each row's gradient at its id."""
    mask_mode = "produce"

    def check(self, node, training):
        layer = node.layer
        _f32(layer.embeddings, layer)
        if training and layer.trainable:
            _sink(layer.embeddings, layer)

    def forward(self, p, node, ins, head):
        layer, ids = node.layer, ins[0]
        if node.inputs[0] != p.x_id:
            raise Unsupported('Embedding "%s" does not read the model\'s input' % layer.name)
        lo, hi = p.data_range()  # once per program, on the host: the step never checks
        if lo < 0 or hi >= layer.input_dim:
            raise Unsupported('Embedding "%s": ids outside [0, %d) in the data' % (layer.name, layer.input_dim))
        y = p.buffers.get(tuple(ids.shape) + (layer.output_dim,))
        p.launches.append(S.embedding_gather_launch(ids, p.ids_int, layer.embeddings.data, y))
        node.state = (ids, p.ids_int)
        return y

    def backward(self, p, node, g, wants):
        layer = node.layer
        if layer.trainable:
            sink = layer.embeddings._grad_sink
            p.launches += [S.fill_launch(sink, 0.0), S.embedding_scatter_launch(node.state[0], node.state[1], g, sink)]
        return [None]

    def output_mask(self, node, mask):
        return node if node.layer.mask_zero else None


_recurrent = _Recurrent()
RULES = {LSTM: _recurrent, GRU: _recurrent, SimpleRNN: _recurrent, RNN: _recurrent, Bidirectional: _recurrent,
         Embedding: _Embedding()}
