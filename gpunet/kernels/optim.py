"""Launchers of kernels/optim.cu: the fused optimizer updates (Adam/AdamW, SGD, RMSprop), eager and reading
their per-step scalars from the device (`*_ctl`, for step programs), and the gradient clipping, unscaling,
accumulation and EMA passes. Reference: optimizers/rules.py's NumPy updates."""
import numpy as np

from .build import fn
from .launch import INT_MAX, Launch, _f32, _grid, _i32

# 1 − β is formed on the host in float64 and rounded once, as the NumPy update and the CPU kernel do:
# the device's 1.f − β from float32(β) differs (1 − 0.999f = 0.0009999871, float32(0.001) = 0.001).

def optim_supported(n):
    return n <= INT_MAX


def adam_update(p, g, m, v, vhat, alpha, beta_1, beta_2, eps, decay):
    n = p.size
    fn("optim.cu", "adam_update")(_grid(n, 256), (256,),
                                  (p, g, m, v, vhat if vhat is not None else v, _i32(n), _f32(alpha),
                                   _f32(1 - beta_1), _f32(1 - beta_2), _f32(eps), _f32(decay),
                                   _i32(vhat is not None)))


def sgd_update(p, g, m, lr, momentum, nesterov, decay):
    n = p.size
    fn("optim.cu", "sgd_update")(_grid(n, 256), (256,),
                                 (p, g, m if m is not None else g, _i32(n), _f32(lr), _f32(momentum),
                                  _i32(bool(nesterov)), _f32(decay)))


def rmsprop_update(p, g, vel, mom, avg, lr, rho, momentum, eps, decay):
    n = p.size
    fn("optim.cu", "rmsprop_update")(_grid(n, 256), (256,),
                                     (p, g, vel, mom if mom is not None else vel, avg if avg is not None else vel,
                                      _i32(n), _f32(lr), _f32(rho), _f32(1 - rho), _f32(momentum), _f32(eps),
                                      _i32(avg is not None), _f32(decay)))


# the same rules reading the per-step scalars through `cur` (cur[0] = lr or α, cur[1] = decay): step programs

def adam_update_ctl_launch(p, g, m, v, vhat, cur, beta_1, beta_2, eps):
    n = p.size
    return Launch("optim.cu", "adam_update_ctl", _grid(n, 256), (256,),
                  (p, g, m, v, vhat if vhat is not None else v, _i32(n), cur, _f32(1 - beta_1), _f32(1 - beta_2),
                   _f32(eps), _i32(vhat is not None)))


def sgd_update_ctl_launch(p, g, m, cur, momentum, nesterov):
    n = p.size
    return Launch("optim.cu", "sgd_update_ctl", _grid(n, 256), (256,),
                  (p, g, m if m is not None else g, _i32(n), cur, _f32(momentum), _i32(bool(nesterov))))


def rmsprop_update_ctl_launch(p, g, vel, mom, avg, cur, rho, momentum, eps):
    n = p.size
    return Launch("optim.cu", "rmsprop_update_ctl", _grid(n, 256), (256,),
                  (p, g, vel, mom if mom is not None else vel, avg if avg is not None else vel, _i32(n), cur,
                   _f32(rho), _f32(1 - rho), _f32(momentum), _f32(eps), _i32(avg is not None)))


# ---- gradient clipping (kernels/optim.cu) ----

CLIP_MODES = {"clipnorm": 1, "global_clipnorm": 2, "clipvalue": 3}


def clip_launches(g, bounds, longest, sums, mode, c):
    """The launches that clip the flat gradient `g` per segment (bounds: int64 device array of each
    segment's [start, end); sums: float32 scratch of nseg), on the device: no norm is read back."""
    nseg = sums.size
    if nseg > 65535:
        raise ValueError("clipping on the device handles up to 65535 variables, received %d" % nseg)
    clip = Launch("optim.cu", "grad_clip", (max(1, -(-longest // 256)), nseg), (256,),
                  (g, bounds, sums, _i32(nseg), _i32(CLIP_MODES[mode]), _f32(c)))
    if mode == "clipvalue":
        return [clip]
    return [Launch("optim.cu", "grad_sumsq", (nseg,), (256,), (g, bounds, sums, _i32(nseg))), clip]


def grad_unscale_launch(g, c):
    n = g.size
    return Launch("optim.cu", "grad_unscale", _grid(n, 256), (256,), (g, np.int64(n), _f32(c)))


def grad_accumulate_ctl_launch(g, acc, steps, cur):
    """gradient_accumulation_steps: accumulate, or (where cur[5] != 0) average into g and restart."""
    n = g.size
    return Launch("optim.cu", "grad_accumulate_ctl", _grid(n, 256), (256,), (g, acc, np.int64(n), _f32(steps), cur))


def ema_update_ctl_launch(p, ema, cur):
    """The moving average of the weights (use_ema), its momentum and overwrite flag read from cur[3], cur[4]."""
    n = p.size
    return Launch("optim.cu", "ema_update_ctl", _grid(n, 256), (256,), (p, ema, np.int64(n), cur))
