"""keras.utils.model_to_dot / plot_model: the DOT source equals what real Keras 3 writes for the same models
(node ids, which are Python object ids, renumbered in order of appearance)."""
import re
import sys

import numpy as np
import pytest

import gpunet

pydot = pytest.importorskip("pydot", reason="pydot is optional (pip install pydot)")
from keras_ref import keras  # noqa: E402


def _norm(dot):
    text = dot.to_string()
    ids = {}
    return re.sub(r"\b\d{6,}\b", lambda m: ids.setdefault(m.group(0), "n%d" % len(ids)), text)


def _sequential(k):
    return k.Sequential([k.Input((8,), name="x"), k.layers.Dense(4, activation="relu", name="d1"),
                         k.layers.Dropout(0.1, name="drop"), k.layers.Dense(2, activation="softmax", name="d2")],
                        name="seq")


def _functional(k):
    a, b = k.Input((6,), name="a"), k.Input((3,), name="b")
    h = k.layers.Dense(5, activation="tanh", name="h")(a)
    c = k.layers.Concatenate(name="cat")([h, b])
    out1 = k.layers.Dense(1, name="out1")(c)
    shared = k.layers.Dense(3, name="shared")
    out2 = k.layers.Add(name="add")([shared(b), shared(k.layers.Dense(3, name="proj")(h))])
    model = k.Model([a, b], [out1, out2], name="two_heads")
    model.get_layer("h").trainable = False
    return model


def _nested(k):
    inner_in = k.Input((4,), name="inner_in")
    inner = k.Model(inner_in, k.layers.Dense(3, name="inner_dense")(inner_in), name="inner")
    seq = k.Sequential([k.Input((3,), name="sq_in"), k.layers.Dense(2, name="sq1"), k.layers.Dense(2, name="sq2")],
                       name="block")
    x = k.Input((4,), name="outer_in")
    y = seq(inner(x))
    return k.Model(x, k.layers.Dense(1, name="head")(y), name="outer")


def _conv(k):
    x = k.Input((12, 12, 3), name="img")
    y = k.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    y = k.layers.BatchNormalization(name="bn")(y)
    y = k.layers.GlobalAveragePooling2D(name="gap")(y)
    return k.Model(x, k.layers.Dense(2, name="logits")(y), name="cnn")


OPTIONS = [dict(), dict(show_shapes=True), dict(show_shapes=True, show_dtype=True, show_layer_activations=True,
                                                show_trainable=True),
           dict(show_layer_names=False, rankdir="LR", dpi=96), dict(expand_nested=True, show_shapes=True)]


@pytest.mark.parametrize("build", [_sequential, _functional, _nested, _conv], ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(sorted(o)) or "defaults")
def test_dot_source_equals_keras(build, options):
    k = keras()
    from keras.src.utils import model_visualization as kv
    ours = gpunet.utils.model_to_dot(build(gpunet), **options)
    theirs = kv.model_to_dot(build(k), **options)
    assert isinstance(ours, pydot.Dot)
    assert _norm(ours) == _norm(theirs)


def test_errors_and_the_missing_tools(monkeypatch, tmp_path):
    model = _sequential(gpunet)
    with pytest.raises(ValueError, match="layer_range.*no longer supported"):
        gpunet.utils.model_to_dot(model, layer_range=["a", "b"])
    with pytest.raises(ValueError, match="Unrecognized keyword arguments.*colour"):
        gpunet.utils.model_to_dot(model, colour="red")
    unbuilt = gpunet.Sequential([gpunet.layers.Dense(2)])
    with pytest.raises(ValueError, match="has not yet been built"):
        gpunet.utils.model_to_dot(unbuilt)
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(ImportError, match=r"You must install pydot \(`pip install pydot`\) for model_to_dot"):
        gpunet.utils.model_to_dot(model)
    with pytest.raises(ImportError, match="You must install pydot .* for `plot_model` to work"):
        gpunet.utils.plot_model(model, to_file=str(tmp_path / "m.png"))


def test_plot_model_writes_the_picture(tmp_path):
    from gpunet.utils import model_visualization as mv
    model = _functional(gpunet)
    if not mv.check_graphviz():
        with pytest.raises(ImportError, match="You must install graphviz"):
            gpunet.utils.plot_model(model, to_file=str(tmp_path / "m.png"))
        pytest.skip("Graphviz's dot program is not installed: the picture itself is not drawn here")
    gpunet.utils.plot_model(model, to_file=str(tmp_path / "m.png"), show_shapes=True)
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gpunet.utils.plot_model(model, to_file=str(tmp_path / "m.svg"))
    assert b"<svg" in (tmp_path / "m.svg").read_bytes()


def test_subclassed_model_is_one_box():
    class Net(gpunet.Model):
        def __init__(self):
            super().__init__(name="net")
            self.d = gpunet.layers.Dense(2)

        def call(self, x):
            return self.d(x)
    net = Net()
    net(np.zeros((1, 3), "float32"))
    dot = gpunet.utils.model_to_dot(net)
    assert len(dot.get_nodes()) == 2 and "(Net)" in dot.to_string()  # the node defaults and the model's box
