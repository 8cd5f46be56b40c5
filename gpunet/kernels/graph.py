"""Launchers of kernels/graph.cu: the elementwise glue of a node program (training/graph_program.py) — a standalone
activation and its derivative, Add, gradient sums, dropout's out-of-place backward, BatchNormalization's moving
statistics. Every array is a program buffer; the launch is built once and replayed every step."""
import numpy as np

from .launch import ACT_CODES, Launch, _f32, _grid, _i32


def _n(a):
    return np.int64(a.size)


def act_forward_launch(x, y, activation):
    return Launch("graph.cu", "act_forward_ew", _grid(x.size, 256), (256,), (x, y, _n(x), _i32(ACT_CODES[activation])))


def act_backward_launch(g, x, y, dx, activation):
    return Launch("graph.cu", "act_backward_ew", _grid(x.size, 256), (256,),
                  (g, x, y, dx, _n(x), _i32(ACT_CODES[activation])))


def add2_launch(a, b, y):
    return Launch("graph.cu", "add2", _grid(y.size, 256), (256,), (a, b, y, _n(y)))


def add_into_launch(y, a):
    return Launch("graph.cu", "add_into", _grid(y.size, 256), (256,), (y, a, _n(y)))


def multiply_out_launch(g, m, y):
    return Launch("graph.cu", "multiply_out", _grid(y.size, 256), (256,), (g, m, y, _n(y)))


def moving_update_launch(v, s, momentum):
    """v = v·momentum + s·(1 − momentum), each product in float32 as BatchNormalization._update_moving."""
    return Launch("graph.cu", "moving_update", _grid(v.size, 256), (256,),
                  (v, s, _n(v), _f32(momentum), _f32(1.0 - momentum)))
