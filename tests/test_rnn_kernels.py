"""kernels/rnn.cu (the recurrent cells), kernels/attention.cu (the masked softmax) and kernels/cpu_rnn.c
against their NumPy references (gpunet/ops/rnn.py's cells, ops/attention.py), through the ops, at odd
sizes (units and batch not multiples of the 256-thread blocks or of a SIMD width), with masks, every
activation code and go_backwards: outputs and the gradient of every input. The CUDA kernels run in the
emulated tier (CI) and on a GPU; the C cells wherever a compiler is."""
import numpy as np
import pytest
from conftest import in_tier
from test_conv_kernels import check

from gpunet import ops
from gpunet.ops import rnn as rnn_ops
from gpunet.ops.attention import masked_softmax
from gpunet.ops.tape import GradientTape, Variable

# every kernel of these files and the tests here that run it (tests/test_kernels.py checks the list)
COVERS = {
    "lstm_cell_forward": ["test_recurrent_cell_kernels"],
    "lstm_cell_backward": ["test_recurrent_cell_kernels"],
    "gru_cell_forward": ["test_recurrent_cell_kernels"],
    "gru_cell_backward": ["test_recurrent_cell_kernels"],
    "simple_cell_forward": ["test_recurrent_cell_kernels"],
    "simple_cell_backward": ["test_recurrent_cell_kernels"],
    "masked_softmax_forward": ["test_masked_softmax_kernels"],
    "masked_softmax_backward": ["test_masked_softmax_kernels"],
}
KERNELS = {"lstm": ["lstm_cell_forward", "lstm_cell_backward"], "gru": ["gru_cell_forward", "gru_cell_backward"],
           "simple_rnn": ["simple_cell_forward", "simple_cell_backward"]}


def _case(kind, B=3, T=5, D=7, H=13, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    G = rnn_ops.GATES[kind]
    arrays = [rng.normal(size=(B, T, D)) * 0.8, rng.normal(size=(B, H)) * 0.5]
    if kind == "lstm":
        arrays.append(rng.normal(size=(B, H)) * 0.5)
    arrays += [rng.normal(size=(D, G * H)) * 0.4, rng.normal(size=(H, G * H)) * 0.4]
    if bias:
        arrays.append(rng.normal(size=(2, 3 * H) if kind == "gru" else (G * H,)) * 0.3)
    mask = rng.random((B, T)) > 0.3
    mask[0] = False  # a row masked throughout: its states pass through untouched
    return arrays, mask


def _fn(kind, mask, go_backwards, act, ract, bias=True, cells=None):
    def f(*a):
        if kind == "lstm":
            x, h0, c0, W, U = a[:5]
            b = a[5] if bias else None
        else:
            (x, h0, W, U), c0 = a[:4], None
            b = a[4] if bias else None
        return rnn_ops.sequence(kind, x, h0, c0, W, U, b, mask=mask, go_backwards=go_backwards, activation=act,
                                recurrent_activation=ract, cells=cells)
    return f


CELL_CASES = [("lstm", True, False, "tanh", "sigmoid", True), ("lstm", False, True, "relu", "hard_sigmoid", False),
              ("gru", True, True, "tanh", "sigmoid", True), ("gru", False, False, "linear", "sigmoid", False),
              ("simple_rnn", True, False, "tanh", "sigmoid", True), ("simple_rnn", True, True, "sigmoid", "sigmoid",
                                                                      False)]


@pytest.mark.parametrize("kind,use_mask,gb,act,ract,bias", CELL_CASES)
def test_recurrent_cell_kernels(kernel_tier, kind, use_mask, gb, act, ract, bias):
    arrays, mask = _case(kind, bias=bias)
    check(kernel_tier, _fn(kind, mask if use_mask else None, gb, act, ract, bias), arrays, KERNELS[kind], rtol=3e-4)


@pytest.mark.parametrize("shape,mask_kind", [((2, 3, 5, 7), "heads"), ((2, 3, 5, 7), "full"), ((4, 9), None),
                                             ((2, 3, 4, 130), "heads"), ((2, 1, 3, 6), "broadcast")])
def test_masked_softmax_kernels(kernel_tier, shape, mask_kind):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape) * 3
    if mask_kind == "heads":  # MultiHeadAttention's (B, 1, Tq, Tk) mask, shared by the heads
        mask = rng.random((shape[0], 1) + shape[2:]) > 0.4
        mask[0, 0, 1] = False  # a fully masked row: all zeros, as in Keras
    elif mask_kind == "full":
        mask = rng.random(shape) > 0.4
    elif mask_kind == "broadcast":
        mask = rng.random((shape[-1],)) > 0.4
    else:
        mask = None
    check(kernel_tier, lambda a: masked_softmax(a, mask), [x], ["masked_softmax_forward", "masked_softmax_backward"])
    if mask is not None:
        with in_tier("numpy"):
            y = masked_softmax(ops.convert_to_tensor(x), mask).numpy()
        assert np.all(y[~np.broadcast_to(mask, y.shape)] == 0)


def _run32(fn, arrays, w):
    vs = [Variable(np.asarray(a, np.float32)) for a in arrays]
    with GradientTape() as tape:
        out = fn(*vs)
        loss = ops.sum(ops.multiply(out, np.asarray(w, np.float32)))
    return [out.numpy()] + [g.numpy() for g in tape.gradient(loss, vs)]


@pytest.mark.parametrize("kind,use_mask,gb,act,ract,bias", CELL_CASES + [("lstm", True, True, "sigmoid", "relu", True)])
@pytest.mark.parametrize("H", [13, 64])
def test_cpu_cell_kernels_equal_the_numpy_cells(kind, use_mask, gb, act, ract, bias, H):
    from gpunet.kernels.cpu import rnn_library
    from gpunet.ops.rnn_native import NativeCells
    lib = rnn_library()
    if lib is None:
        pytest.skip("no C compiler: the NumPy cells run instead")
    arrays, mask = _case(kind, H=H, bias=bias, seed=H)
    m = mask if use_mask else None
    with in_tier("numpy"):
        w = np.random.default_rng(2).normal(size=_fn(kind, m, gb, act, ract, bias)(
            *[ops.convert_to_tensor(np.asarray(a, np.float32)) for a in arrays]).shape)
        ref = _run32(_fn(kind, m, gb, act, ract, bias, cells=rnn_ops._NumpyCells(np)), arrays, w)
        got = _run32(_fn(kind, m, gb, act, ract, bias, cells=NativeCells(lib)), arrays, w)
    for i, (g, r) in enumerate(zip(got, ref)):
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(r).max()), err_msg="result %d" % i)


def test_the_fast_exp_and_tanh_of_the_cpu_kernels_stay_within_float32_rounding():
    """The C cells' polynomial exp/tanh (vectorised) against float64 libm over the whole range, extremes too."""
    from gpunet.kernels.cpu import rnn_library
    lib = rnn_library()
    if lib is None:
        pytest.skip("no C compiler")
    z = np.concatenate([np.linspace(-30, 30, 6001), [-1e4, -90, -88.5, -1e-8, 0.0, 1e-8, 88.5, 90, 1e4]])
    z = z.astype(np.float32)
    with np.errstate(over="ignore"):  # exp(1e4) is inf in float64 too: the sigmoid there is 0
        sig = 1 / (1 + np.exp(-z.astype(np.float64)))
    for name, ref in (("tanh", np.tanh(z.astype(np.float64))), ("sigmoid", sig)):
        zt, zero, h = z.copy(), np.zeros_like(z), np.empty_like(z)
        lib.simple_fwd(zt.ctypes.data, zero.ctypes.data, zero.ctypes.data, h.ctypes.data, None, 1, z.size,
                       rnn_ops.ACTIVATIONS[name])
        np.testing.assert_allclose(h, ref, rtol=4e-7, atol=2e-7, err_msg=name)


def _seq_fit(tier_name):
    import gpunet
    with in_tier(tier_name):
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(3)
        rng = np.random.default_rng(1)
        ids = rng.integers(1, 30, (24, 9))
        ids[:, 6:] = 0
        y = rng.integers(0, 3, 24)
        L = gpunet.layers
        inp = gpunet.Input((9,))
        h = L.Embedding(30, 8, mask_zero=True)(inp)
        h = L.Bidirectional(L.LSTM(6, return_sequences=True))(h)
        h = L.GRU(5, return_sequences=True, go_backwards=True)(h)
        a = L.MultiHeadAttention(2, 3)(h, h)
        out = L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(L.Add()([h, a])))
        m = gpunet.Model(inp, out)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        hist = m.fit(ids, y, epochs=2, batch_size=12, shuffle=False, verbose=0).history
        return hist["loss"], [np.asarray(w) for w in m.get_weights()]


@pytest.mark.emulated
def test_a_masked_recurrent_attention_model_trains_alike_through_the_kernels():
    """A whole fit through rnn.cu and attention.cu (emulated) against the NumPy reference path."""
    from conftest import require_emulation
    from gpunet.kernels import emulated
    require_emulation()
    before = dict(emulated.launch_counts)
    got_loss, got_w = _seq_fit("emulate")
    missing = [k for k in COVERS if not k.startswith("simple") and emulated.launch_counts[k] <= before.get(k, 0)]
    assert not missing, "kernels not launched: %s" % missing
    ref_loss, ref_w = _seq_fit("numpy")
    np.testing.assert_allclose(got_loss, ref_loss, rtol=1e-5)
    for g, r in zip(got_w, ref_w):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)
