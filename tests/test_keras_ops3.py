"""keras.ops.image, keras.ops.nn's spatial rearrangements and adaptive pooling, the keras.ops namespaces,
ConvLSTM1D/2D/3D and keras.preprocessing (issue 32), each against real Keras."""

import numpy as np
import pytest

import gpunet
from keras_jax_ref import assert_same, same_program
from keras_ref import keras as real_keras


# ---- 10. keras.ops.image and the keras.ops namespaces ----

_IMAGE_CASES = [
    ("extract_patches", dict(size=3)), ("extract_patches", dict(size=(2, 3), strides=(1, 2))),
    ("extract_patches", dict(size=3, padding="same")), ("extract_patches", dict(size=2, dilation_rate=2, strides=1)),
    ("rgb_to_hsv", {}), ("rgb_to_hsv", dict(data_format="channels_first")),
    ("pad_images", dict(top_padding=1, left_padding=2, target_height=12, target_width=10)),
    ("pad_images", dict(bottom_padding=0, right_padding=3, target_height=10, target_width=11)),
    ("crop_images", dict(top_cropping=1, left_cropping=2, target_height=5, target_width=3)),
    ("crop_images", dict(top_cropping=1, bottom_cropping=2, left_cropping=0, right_cropping=1)),
    ("gaussian_blur", {}), ("gaussian_blur", dict(kernel_size=(5, 3), sigma=(2.0, 0.7))),
    ("gaussian_blur", dict(data_format="channels_first")),
    ("sobel_edges", {}), ("sobel_edges", dict(data_format="channels_first")),
]


@pytest.mark.parametrize("name,kwargs", _IMAGE_CASES)
def test_image_ops_equal_keras(name, kwargs):
    k = real_keras()
    x = np.random.default_rng(11).uniform(size=(2, 9, 7, 3)).astype("float32")
    if kwargs.get("data_format") == "channels_first":
        x = np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    got = getattr(gpunet.ops.image, name)(x, **kwargs)
    want = getattr(k.ops.image, name)(x, **kwargs)
    np.testing.assert_allclose(np.asarray(got.numpy()), np.asarray(want), rtol=1e-5, atol=1e-6)
    if name != "rgb_to_hsv":  # an unbatched image gives the batched result's first item
        one = getattr(gpunet.ops.image, name)(x[0], **kwargs) if name != "sobel_edges" else None
        if one is not None:
            np.testing.assert_allclose(np.asarray(one.numpy()), np.asarray(want)[0], rtol=1e-5, atol=1e-6)


def test_hsv_to_rgb_and_3d_patches_equal_keras():
    k = real_keras()
    rng = np.random.default_rng(12)
    hsv = rng.uniform(size=(2, 5, 4, 3)).astype("float32")
    np.testing.assert_allclose(gpunet.ops.image.hsv_to_rgb(hsv).numpy(), np.asarray(k.ops.image.hsv_to_rgb(hsv)),
                               rtol=1e-5, atol=1e-6)
    v = rng.uniform(size=(2, 6, 5, 4, 2)).astype("float32")
    np.testing.assert_array_equal(gpunet.ops.image.extract_patches(v, (2, 2, 2)).numpy(),
                                  np.asarray(k.ops.image.extract_patches_3d(v, (2, 2, 2))))


@pytest.mark.parametrize("name,kwargs", [
    ("extract_patches", dict(size=2, strides=1)), ("rgb_to_hsv", {}), ("hsv_to_rgb", {}),
    ("pad_images", dict(top_padding=1, left_padding=0, target_height=6, target_width=5)),
    ("crop_images", dict(top_cropping=1, left_cropping=1, target_height=2, target_width=2)),
    ("gaussian_blur", {}), ("sobel_edges", {})])
def test_image_ops_gradients_match_central_differences(name, kwargs):
    from gradcheck import directional_check
    x = np.random.default_rng(13).uniform(0.1, 0.9, size=(1, 4, 4, 3))
    directional_check(lambda t: getattr(gpunet.ops.image, name)(t, **kwargs), x, rtol=1e-5, atol=1e-8)


def test_image_op_arguments_are_checked_by_name():
    x = np.zeros((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match="exactly two of top_padding"):
        gpunet.ops.image.pad_images(x, top_padding=1, bottom_padding=1, target_height=6, left_padding=0,
                                    target_width=4)
    with pytest.raises(ValueError, match="bottom_padding must be >= 0"):
        gpunet.ops.image.pad_images(x, top_padding=3, left_padding=0, target_height=5, target_width=4)
    with pytest.raises(ValueError, match="rank"):
        gpunet.ops.image.crop_images(np.zeros((4, 4)), top_cropping=0, left_cropping=0, target_height=1,
                                     target_width=1)
    with pytest.raises(ValueError, match="float dtype"):
        gpunet.ops.image.rgb_to_hsv(np.zeros((1, 2, 2, 3), "uint8"))


def test_the_keras_ops_namespaces_answer_keras_s_names():
    k = real_keras()
    from gpunet.ops.namespaces import NAMES
    for ns in ("nn", "numpy", "linalg"):
        assert NAMES[ns] == {n for n in dir(getattr(k.ops, ns)) if not n.startswith("_")}, ns
    assert gpunet.ops.numpy.mean is gpunet.ops.mean and gpunet.ops.nn.conv is gpunet.ops.conv
    assert gpunet.ops.linalg.norm is gpunet.ops.norm
    with pytest.raises(AttributeError, match="no attribute 'not_an_op'"):
        _ = gpunet.ops.numpy.not_an_op
    with pytest.raises(AttributeError):
        _ = gpunet.ops.numpy.data  # a gpunet.ops name Keras does not list under numpy


class Patches(gpunet.layers.Layer):
    """keras.io's ViT patch layer, unchanged but for the import."""

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, images):
        shape = gpunet.ops.shape(images)
        patches = gpunet.ops.image.extract_patches(images, size=self.patch_size)
        return gpunet.ops.reshape(patches, (shape[0], (shape[1] // self.patch_size) * (shape[2] // self.patch_size),
                                            self.patch_size * self.patch_size * shape[-1]))


def test_a_vit_patch_layer_builds_and_trains():
    inp = gpunet.Input((8, 8, 3))
    h = Patches(4)(inp)
    assert h.shape == (None, 4, 48)
    out = gpunet.layers.Dense(2)(gpunet.layers.GlobalAveragePooling1D()(gpunet.layers.Dense(6)(h)))
    m = gpunet.Model(inp, out)
    m.compile("adam", gpunet.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(14).uniform(size=(6, 8, 8, 3)).astype("float32")
    h = m.fit(x, np.arange(6) % 2, epochs=2, verbose=0).history
    assert np.isfinite(h["loss"]).all()

# ---- 10. keras.ops.nn: depth/space, unfold/fold, adaptive pooling (and the Adaptive*Pooling layers) ----

@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_depth_and_space_rearrangements_equal_keras(fmt):
    k = real_keras()
    x = np.random.default_rng(32).normal(size=(2, 4, 6, 8) if fmt == "channels_last" else (2, 8, 4, 6))
    x = x.astype("float32")
    for name, arg in (("depth_to_space", 2), ("space_to_depth", 2)):
        got = getattr(gpunet.ops, name)(x, arg, data_format=fmt)
        np.testing.assert_array_equal(got.numpy(), np.asarray(getattr(k.ops, name)(x, arg, data_format=fmt)))
    back = gpunet.ops.space_to_depth(gpunet.ops.depth_to_space(x, 2, data_format=fmt), 2, data_format=fmt)
    np.testing.assert_array_equal(back.numpy(), x)
    with pytest.raises(ValueError, match="block_size"):
        gpunet.ops.depth_to_space(x, 1)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=2, padding=1),
                                    dict(kernel_size=3, dilation=2, padding=(1, 2), stride=(1, 2))])
def test_unfold_and_fold_equal_keras(kwargs):
    k = real_keras()
    x = np.random.default_rng(33).normal(size=(2, 3, 7, 8)).astype("float32")
    cols = gpunet.ops.unfold(x, **kwargs)
    want = np.asarray(k.ops.unfold(x, **kwargs))
    np.testing.assert_allclose(cols.numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(gpunet.ops.fold(want, (7, 8), **kwargs).numpy(),
                               np.asarray(k.ops.fold(want, (7, 8), **kwargs)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,size", [((2, 10, 3), 4), ((2, 7, 9, 3), (3, 4)), ((1, 5, 6, 7, 2), (2, 3, 4)),
                                        ((2, 3, 11, 5), (4, 2))])
def test_adaptive_pooling_equals_keras(shape, size):
    k = real_keras()
    fmt = "channels_first" if shape == (2, 3, 11, 5) else "channels_last"
    x = np.random.default_rng(34).normal(size=shape).astype("float32")
    for name in ("adaptive_average_pool", "adaptive_max_pool"):
        got = getattr(gpunet.ops, name)(x, size, data_format=fmt)
        np.testing.assert_allclose(got.numpy(), np.asarray(getattr(k.ops, name)(x, size, data_format=fmt)),
                                   rtol=1e-5, atol=1e-6)
    rank = len(shape) - 2
    for kind in ("Average", "Max"):
        name = "Adaptive%sPooling%dD" % (kind, rank)
        mine, theirs = getattr(gpunet.layers, name)(size, data_format=fmt), getattr(k.layers, name)(size,
                                                                                                 data_format=fmt)
        np.testing.assert_allclose(mine(x).numpy(), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
        assert mine.get_config()["output_size"] == theirs.get_config()["output_size"]
        assert mine.compute_output_shape(shape) == theirs.compute_output_shape(shape)


@pytest.mark.parametrize("name,args", [
    ("depth_to_space", (2,)), ("space_to_depth", (2,)), ("unfold", (2,)), ("adaptive_average_pool", ((2, 3),)),
    ("adaptive_max_pool", ((3, 2),))])
def test_spatial_ops_gradients_match_central_differences(name, args):
    from gradcheck import directional_check
    x = np.random.default_rng(35).normal(size=(1, 4, 6, 8))
    directional_check(lambda t: getattr(gpunet.ops, name)(t, *args), x, rtol=1e-5, atol=1e-8)


def test_fold_gradient_matches_central_differences():
    from gradcheck import directional_check
    cols = np.random.default_rng(36).normal(size=(1, 2 * 4, 9))
    directional_check(lambda t: gpunet.ops.fold(t, (5, 5), kernel_size=2, stride=2, padding=1), cols, rtol=1e-5,
                      atol=1e-8)

# ---- 9. ConvLSTM1D/2D/3D ----

_CONVLSTM_CASES = [
    (2, (2, 4, 6, 5, 2), {}), (2, (2, 4, 6, 5, 2), dict(return_sequences=True, padding="same")),
    (2, (2, 4, 6, 5, 2), dict(return_state=True, go_backwards=True, strides=2)),
    (1, (2, 4, 7, 2), dict(return_sequences=True, dilation_rate=2)),
    (3, (2, 3, 5, 4, 4, 2), dict(return_sequences=True)),
    (2, (2, 4, 2, 6, 5), dict(data_format="channels_first", return_sequences=True)),
    (2, (2, 4, 6, 5, 2), dict(return_sequences=True, use_bias=False, activation="relu", unit_forget_bias=False)),
]


@pytest.mark.parametrize("rank,shape,kwargs", _CONVLSTM_CASES)
def test_conv_lstm_equals_keras(rank, shape, kwargs):
    k = real_keras()
    x = np.random.default_rng(19).normal(size=shape).astype("float32")
    mine = getattr(gpunet.layers, "ConvLSTM%dD" % rank)(3, 3, **kwargs)
    theirs = getattr(k.layers, "ConvLSTM%dD" % rank)(3, 3, **kwargs)
    got = mine(x)
    theirs(x)
    assert [w.path for w in mine.weights] == [w.path.replace(theirs.name, mine.name) for w in theirs.weights]
    theirs.set_weights(mine.get_weights())
    want = theirs(x)
    for a, b in zip(got if isinstance(got, list) else [got], want if isinstance(want, (list, tuple)) else [want]):
        np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5, atol=1e-6)
    cfg, kcfg = mine.get_config(), theirs.get_config()
    assert sorted(cfg) == sorted(kcfg)
    assert {key: cfg[key] for key in ("filters", "kernel_size", "strides", "padding", "return_sequences")} == \
        {key: kcfg[key] for key in ("filters", "kernel_size", "strides", "padding", "return_sequences")}


@pytest.mark.parametrize("zero_output", [False, True])
def test_conv_lstm_masks_hold_the_state_over_masked_steps(zero_output):
    """Keras 3.15 fails on a ConvLSTM mask (its mask does not broadcast over the frames), so the reference is the
    RNN rule itself: a masked step keeps h and c, and its output is the previous output (or zeros)."""
    x = np.random.default_rng(20).normal(size=(3, 5, 4, 4, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    seq = gpunet.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True,
                                   zero_output_for_mask=zero_output)
    out, h, c = seq(x, mask=mask)
    for i, n in enumerate(mask.sum(1)):
        ref_out, ref_h, ref_c = seq(x[i:i + 1, :n])
        np.testing.assert_allclose(out.numpy()[i, :n], ref_out.numpy()[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h.numpy()[i], ref_h.numpy()[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c.numpy()[i], ref_c.numpy()[0], rtol=1e-5, atol=1e-6)
        tail = out.numpy()[i, n:]
        want = np.zeros_like(tail) if zero_output else np.broadcast_to(ref_out.numpy()[0, -1], tail.shape)
        np.testing.assert_allclose(tail, want, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"mask of shape \(batch, time\)"):
        seq(x, mask=np.ones((3, 5, 4), bool))


def test_conv_lstm_files_travel_both_ways(tmp_path):
    k = real_keras()
    x = np.random.default_rng(21).normal(size=(2, 3, 5, 5, 1)).astype("float32")
    m = gpunet.Sequential([gpunet.Input((3, 5, 5, 1)), gpunet.layers.ConvLSTM2D(2, 3, return_sequences=True),
                           gpunet.layers.ConvLSTM2D(2, 3), gpunet.layers.Flatten(), gpunet.layers.Dense(1)])
    m.save(str(tmp_path / "g.keras"))
    km = k.saving.load_model(str(tmp_path / "g.keras"))
    np.testing.assert_allclose(np.asarray(km.predict(x, verbose=0)), m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    km.save(str(tmp_path / "k.keras"))
    back = gpunet.saving.load_model(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(back.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


_CONVLSTM_FIT = '''
def build(keras):
    return keras.Sequential([keras.Input((4, 6, 6, 1)),
                             keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                             keras.layers.TimeDistributed(keras.layers.Flatten()), keras.layers.LSTM(4),
                             keras.layers.Dense(1)])

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model.fit(d["x"], d["y"], epochs=3, batch_size=4, shuffle=False, verbose=0).history
'''


def test_a_conv_lstm_model_trains_as_in_keras(tmp_path):
    rng = np.random.default_rng(22)
    data = {"x": rng.normal(size=(8, 4, 6, 6, 1)).astype("float32"), "y": rng.normal(size=(8, 1)).astype("float32")}
    mine, theirs = same_program(tmp_path, _CONVLSTM_FIT, data)
    assert_same(mine, theirs, rtol=2e-4, atol=1e-5)


def test_a_stateful_conv_lstm_carries_its_state():
    x = np.random.default_rng(23).normal(size=(2, 3, 4, 4, 1)).astype("float32")
    layer = gpunet.layers.ConvLSTM2D(2, 3, padding="same", stateful=True)
    plain = gpunet.layers.ConvLSTM2D(2, 3, padding="same", return_state=True)
    first = layer(x)
    plain(x)
    plain.set_weights(layer.get_weights())
    _, h, c = plain(x)
    np.testing.assert_allclose(first.numpy(), h.numpy(), rtol=1e-6)
    np.testing.assert_allclose(layer(x).numpy(), plain(x, initial_state=[h, c])[0].numpy(), rtol=1e-5, atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(layer(x).numpy(), first.numpy(), rtol=1e-6)


def test_conv_lstm_dropout_draws_one_mask_per_sequence_and_leaves_inference_alone():
    x = np.random.default_rng(24).normal(size=(2, 3, 4, 4, 1)).astype("float32")
    layer = gpunet.layers.ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.5)
    base = gpunet.layers.ConvLSTM2D(2, 3)
    out = layer(x)
    base(x)
    base.set_weights(layer.get_weights())
    np.testing.assert_allclose(out.numpy(), base(x).numpy(), rtol=1e-6)  # training=False: no dropout
    assert not np.allclose(layer(x, training=True).numpy(), out.numpy())
    with pytest.raises(ValueError, match="static input shapes"):
        gpunet.layers.ConvLSTM2D(2, 3)(gpunet.Input((None, None, 4, 1)))


# ---- 16. keras.preprocessing, as Keras 3 keeps it ----

@pytest.mark.parametrize("size", [(5, 5), (4, 7), (13, 9)])
def test_preprocessing_image_smart_resize_equals_keras(size):
    k = real_keras()
    x = np.random.default_rng(25).uniform(0, 255, size=(2, 13, 9, 3)).astype("float32")
    np.testing.assert_allclose(gpunet.preprocessing.image.smart_resize(x, size),
                               np.asarray(k.preprocessing.image.smart_resize(x, size)), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gpunet.preprocessing.image.smart_resize(x[0], size),
                               np.asarray(k.preprocessing.image.smart_resize(x[0], size)), rtol=1e-5, atol=1e-4)
    from gpunet.preprocessing.sequence import pad_sequences
    assert pad_sequences is gpunet.utils.pad_sequences
    assert gpunet.preprocessing.image.load_img is gpunet.utils.load_img


# ---- 10. keras.ops.ctc_loss / ctc_decode and keras.losses.CTC ----

_CTC_TARGETS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 4, 4, 1], [2, 0, 0, 0]])


@pytest.mark.parametrize("mask_index", [0, 4])
def test_ctc_loss_equals_keras(mask_index):
    k = real_keras()
    logits = np.random.default_rng(37).normal(size=(4, 9, 5)).astype("float32")
    targets = _CTC_TARGETS if mask_index == 0 else np.where(_CTC_TARGETS == 4, 0, _CTC_TARGETS)
    tl, ol = np.array([3, 2, 4, 1]), np.array([9, 6, 9, 3])
    np.testing.assert_allclose(gpunet.ops.ctc_loss(targets, logits, tl, ol, mask_index=mask_index).numpy(),
                               np.asarray(k.ops.ctc_loss(targets, logits, tl, ol, mask_index=mask_index)),
                               rtol=1e-5)


def test_ctc_loss_gradient_matches_central_differences():
    from gradcheck import directional_check
    logits = np.random.default_rng(38).normal(size=(2, 6, 4))
    directional_check(lambda t: gpunet.ops.ctc_loss(np.array([[1, 2, 2], [3, 0, 0]]), t, np.array([3, 1]),
                                                    np.array([6, 4])), logits, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kwargs", [{}, dict(merge_repeated=False), dict(mask_index=4)])
def test_ctc_greedy_decode_equals_keras(kwargs):
    k = real_keras()
    x = np.random.default_rng(39).normal(size=(3, 8, 5)).astype("float32")
    lengths = np.array([8, 5, 7])
    got, score = gpunet.ops.ctc_decode(x, lengths, **kwargs)
    want, kscore = k.ops.ctc_decode(x, lengths, **kwargs)
    np.testing.assert_array_equal(got.numpy(), np.asarray(want))
    np.testing.assert_allclose(score.numpy(), np.asarray(kscore), rtol=1e-6)


@pytest.mark.parametrize("beam_width,top_paths,mask_index", [(10, 3, 0), (4, 2, 4), (100, 1, 0), (3, 3, 2)])
def test_ctc_beam_search_decode_equals_keras(beam_width, top_paths, mask_index):
    k = real_keras()
    rng = np.random.default_rng(45)
    for _ in range(3):
        x, lengths = (rng.normal(size=(3, 8, 5)) * 2).astype("float32"), np.array([8, 5, 7])
        kwargs = dict(strategy="beam_search", beam_width=beam_width, top_paths=top_paths, mask_index=mask_index)
        got, score = gpunet.ops.ctc_decode(x, lengths, **kwargs)
        want, kscore = k.ops.ctc_decode(x, lengths, **kwargs)
        np.testing.assert_array_equal(got.numpy(), np.asarray(want))
        np.testing.assert_allclose(score.numpy(), np.asarray(kscore), rtol=1e-5)
    with pytest.raises(ValueError, match="top_paths"):
        gpunet.ops.ctc_decode(x, lengths, strategy="beam_search", beam_width=2, top_paths=3)


_CTC_FIT = '''
def build(keras):
    inp = keras.Input((7, 3))
    return keras.Model(inp, keras.layers.Dense(5)(keras.layers.Dense(8, activation="tanh")(inp)))

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.CTC())
    return model.fit(d["x"], d["y"], epochs=3, batch_size=4, shuffle=False, verbose=0).history
'''


def test_a_model_trains_with_the_ctc_loss_as_in_keras(tmp_path):
    rng = np.random.default_rng(40)
    data = {"x": rng.normal(size=(8, 7, 3)).astype("float32"), "y": np.tile(_CTC_TARGETS, (2, 1))}
    mine, theirs = same_program(tmp_path, _CTC_FIT, data)
    assert_same(mine, theirs, rtol=1e-4, atol=1e-5)


# ---- 10. the geometric image transforms and ssim ----

@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_map_coordinates_equals_keras(order, mode):
    k = real_keras()
    rng = np.random.default_rng(41)
    x, c = rng.normal(size=(5, 6)).astype("float32"), rng.uniform(-3, 8, size=(2, 4, 7)).astype("float32")
    np.testing.assert_allclose(gpunet.ops.image.map_coordinates(x, c, order, fill_mode=mode, fill_value=0.5).numpy(),
                               np.asarray(k.ops.image.map_coordinates(x, c, order, fill_mode=mode, fill_value=0.5)),
                               rtol=1e-5, atol=1e-6)


def test_ssim_perspective_elastic_and_scale_and_translate_equal_keras():
    k = real_keras()
    rng = np.random.default_rng(42)
    x = rng.uniform(size=(2, 16, 15, 3)).astype("float32")
    y = np.clip(x + rng.normal(scale=0.1, size=x.shape), 0, 1).astype("float32")
    close = dict(rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(gpunet.ops.image.ssim(x, y).numpy(), np.asarray(k.ops.image.ssim(x, y)), **close)
    np.testing.assert_allclose(gpunet.ops.image.ssim(x[0], y[0], filter_size=7, max_val=2.0).numpy(),
                               np.asarray(k.ops.image.ssim(x[0], y[0], filter_size=7, max_val=2.0)), **close)
    start = np.array([[0, 0], [14, 0], [0, 15], [14, 15]], "float32")
    end = np.array([[1, 1], [13, 0], [0, 14], [14, 15]], "float32")
    for interpolation in ("bilinear", "nearest"):
        np.testing.assert_allclose(
            gpunet.ops.image.perspective_transform(x, start, end, interpolation=interpolation, fill_value=0.3).numpy(),
            np.asarray(k.ops.image.perspective_transform(x, start, end, interpolation=interpolation, fill_value=0.3)),
            **close)
    for mode in ("reflect", "constant", "wrap"):  # an integer seed draws Keras's fields
        np.testing.assert_allclose(
            gpunet.ops.image.elastic_transform(x, alpha=3.0, sigma=1.0, fill_mode=mode, seed=7).numpy(),
            np.asarray(k.ops.image.elastic_transform(x, alpha=3.0, sigma=1.0, fill_mode=mode, seed=7)), **close)
    for method in ("linear", "cubic", "lanczos3", "lanczos5"):
        for antialias in (True, False):
            args = ((2, 5, 13, 3), np.array([0.6, 1.7]), np.array([0.5, -1.0]), (1, 2), method)
            np.testing.assert_allclose(
                gpunet.ops.image.scale_and_translate(x, *args, antialias=antialias).numpy(),
                np.asarray(k.ops.image.scale_and_translate(x, *args, antialias=antialias)), **close)


@pytest.mark.parametrize("name,call", [
    ("map_coordinates", lambda t: gpunet.ops.image.map_coordinates(
        t[0, :, :, 0], np.random.default_rng(43).uniform(-1, 5, size=(2, 9)), 1)),
    ("ssim", lambda t: gpunet.ops.image.ssim(t, t * 0.9 + 0.05, filter_size=3)),
    ("perspective_transform", lambda t: gpunet.ops.image.perspective_transform(
        t, [[0, 0], [4, 0], [0, 4], [4, 4]], [[0.5, 0], [4, 0.5], [0, 4], [3.5, 4]])),
    ("scale_and_translate", lambda t: gpunet.ops.image.scale_and_translate(
        t, (1, 3, 7, 2), np.array([0.7, 1.4]), np.array([0.2, 0.0]), (1, 2), "cubic"))])
def test_geometric_image_ops_gradients_match_central_differences(name, call):
    from gradcheck import directional_check
    x = np.random.default_rng(44).uniform(0.1, 0.9, size=(1, 5, 5, 2))
    directional_check(call, x, rtol=1e-5, atol=1e-8)


def test_an_unseeded_elastic_transform_draws_from_the_global_stream():
    x = np.random.default_rng(46).uniform(size=(1, 8, 8, 2)).astype("float32")
    runs = []
    for _ in range(2):
        gpunet.utils.set_random_seed(3)
        runs.append(gpunet.ops.image.elastic_transform(x, alpha=2.0, sigma=1.0).numpy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], gpunet.ops.image.elastic_transform(x, alpha=2.0, sigma=1.0).numpy())
