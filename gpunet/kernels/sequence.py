"""Launchers of kernels/sequence.cu (embeddings, mask_zero's mask, batch-major ↔ time-major moves) and of
rnn.cu's cells as fixed launches, for the recurrent rules of a node program (training/program_recurrent.py).
The eager recurrent op runs the same cells through kernels/rnn.py."""
import numpy as np

from .launch import Launch, _f32, _grid, _i32


def embedding_gather_launch(ids, is_int, E, y):
    V, D = E.shape
    return Launch("sequence.cu", "embedding_gather", _grid(y.size, 256), (256,),
                  (ids, _i32(is_int), E, y, np.int64(ids.size), _i32(D), _i32(V)))


def embedding_scatter_launch(ids, is_int, g, dE):
    V, D = dE.shape
    return Launch("sequence.cu", "embedding_scatter", _grid(g.size, 256), (256,),
                  (ids, _i32(is_int), g, dE, np.int64(ids.size), _i32(D), _i32(V)))


def token_mask_launch(ids, is_int, m, reverse):
    """m (T, B) uint8 from ids (B, T)."""
    T, B = m.shape
    return Launch("sequence.cu", "token_mask", _grid(m.size, 256), (256,),
                  (ids, _i32(is_int), m, _i32(B), _i32(T), _i32(reverse)))


def to_time_major_launch(src, dst, stride, off, reverse, m, has_mask=False):
    """dst (T, B, D) from src (B, T, stride) columns [off, off + D); with has_mask, 0 where m (T, B) is 0. m: a
    uint8 buffer (a 1-element stand-in without a mask: a kernel never takes a null pointer)."""
    T, B, D = dst.shape
    return Launch("sequence.cu", "to_time_major", _grid(dst.size, 256), (256,),
                  (src, dst, _i32(B), _i32(T), _i32(D), _i32(stride), _i32(off), _i32(reverse), m, _i32(has_mask)))


def from_time_major_launch(src, dst, stride, off, reverse, m, has_mask=False, accumulate=False):
    """dst (B, T, stride) columns [off, off + D) from src (T, B, D), or added to them (accumulate); with
    has_mask, 0 where m (T, B) is 0 (zero_output_for_mask)."""
    T, B, D = src.shape
    return Launch("sequence.cu", "from_time_major", _grid(src.size, 256), (256,),
                  (src, dst, _i32(B), _i32(T), _i32(D), _i32(stride), _i32(off), _i32(reverse), _i32(accumulate), m,
                   _i32(has_mask)))


def fill_launch(y, value):
    return Launch("sequence.cu", "fill", _grid(y.size, 256), (256,), (y, np.int64(y.size), _f32(value)))


# ---- rnn.cu's cells, one launch per timestep (the argument lists of kernels/rnn.py's CudaCells) ----

def _cell_grid(B, H):
    return _grid(B * H, 256), (256,)


def lstm_forward_launch(pre, rec, c_prev, h_prev, h_out, c_out, ac_out, m, has, act, ract):
    B, H = h_prev.shape
    return Launch("rnn.cu", "lstm_cell_forward", *_cell_grid(B, H),
                  (pre, rec, c_prev, h_prev, h_out, c_out, ac_out, m, _i32(has), _i32(B), _i32(H), _i32(act),
                   _i32(ract)))


def lstm_backward_launch(pre, ac, c_prev, dy, dhn, dc, dpre, carry, m, has, act, ract):
    B, H = dc.shape
    return Launch("rnn.cu", "lstm_cell_backward", *_cell_grid(B, H),
                  (pre, ac, c_prev, dy, dhn, dc, dpre, carry, m, _i32(has), _i32(B), _i32(H), _i32(act), _i32(ract)))


def gru_forward_launch(pre, rec, brec, h_prev, h_out, rh_out, m, has, act, ract):
    B, H = h_prev.shape
    return Launch("rnn.cu", "gru_cell_forward", *_cell_grid(B, H),
                  (pre, rec, brec if brec is not None else rec, _i32(brec is not None), h_prev, h_out, rh_out, m,
                   _i32(has), _i32(B), _i32(H), _i32(act), _i32(ract)))


def gru_backward_launch(pre, rh, h_prev, dy, dhn, dpre, drec, carry, m, has, act, ract):
    B, H = h_prev.shape
    return Launch("rnn.cu", "gru_cell_backward", *_cell_grid(B, H),
                  (pre, rh, h_prev, dy, dhn, dpre, drec, carry, m, _i32(has), _i32(B), _i32(H), _i32(act),
                   _i32(ract)))


def simple_forward_launch(pre, rec, h_prev, h_out, m, has, act):
    B, H = h_prev.shape
    return Launch("rnn.cu", "simple_cell_forward", *_cell_grid(B, H),
                  (pre, rec, h_prev, h_out, m, _i32(has), _i32(B), _i32(H), _i32(act)))


def simple_backward_launch(pre, dy, dhn, dpre, carry, m, has, act):
    B, H = dy.shape
    return Launch("rnn.cu", "simple_cell_backward", *_cell_grid(B, H),
                  (pre, dy, dhn, dpre, carry, m, _i32(has), _i32(B), _i32(H), _i32(act)))


def attention_mask_launch(ids, is_int, m, use_q, use_k, causal):
    """m (B, Tq, Tk) uint8 from mask_zero's ids (B, T): MultiHeadAttention's attention mask."""
    B, Tq, Tk = m.shape
    return Launch("sequence.cu", "attention_mask", _grid(m.size, 256), (256,),
                  (ids, _i32(is_int), m, _i32(B), _i32(Tq), _i32(Tk), _i32(ids.shape[1]), _i32(use_q), _i32(use_k),
                   _i32(causal)))


def masked_mean_forward_launch(x, ids, is_int, y, rows):
    B, T, C = x.shape
    return Launch("sequence.cu", "masked_mean_forward", _grid(y.size, 256), (256,),
                  (x, ids, _i32(is_int), y, rows, _i32(B), _i32(T), _i32(C)))


def masked_mean_backward_launch(g, ids, is_int, dx, rows):
    B, T, C = dx.shape
    return Launch("sequence.cu", "masked_mean_backward", _grid(dx.size, 256), (256,),
                  (g, ids, _i32(is_int), dx, rows, _i32(B), _i32(T), _i32(C)))
