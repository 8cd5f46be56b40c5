"""keras.utils.model_to_dot and plot_model: the model as a pydot graph, node for node and edge for edge what
Keras 3 draws (the same HTML-like labels, graph attributes and edge order), and the picture through Graphviz.

pydot and Graphviz are optional, as in Keras: `pip install pydot` and Graphviz's `dot` program
(https://graphviz.gitlab.io/download/); without them the calls raise Keras's ImportError messages."""
import os
import sys


def _pydot():
    try:
        import pydot
    except ImportError:
        return None
    return pydot


def check_pydot():
    """True when pydot can be imported."""
    return _pydot() is not None


def check_graphviz():
    """True when pydot and Graphviz's `dot` program both work (an empty graph renders)."""
    pydot = _pydot()
    if pydot is None:
        return False
    try:
        pydot.Dot.create(pydot.Dot())
        return True
    except (OSError, pydot.PydotException):
        return False


def _models():
    from ..models.functional import Functional
    from ..models.sequential import Sequential
    return Functional, Sequential


def _activation_name(layer):
    act = layer.activation
    if hasattr(act, "name"):
        return act.name
    if hasattr(act, "__name__"):
        return act.__name__
    return str(act)


def _shape_text(shape):
    if shape is None:
        return "?"
    text = ", ".join("%s: %s" % kv for kv in shape.items()) if isinstance(shape, dict) else "%s" % (shape,)
    return text.replace("}", "").replace("{", "")


def _structure(value, fn):
    if isinstance(value, dict):
        return {k: _structure(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_structure(v, fn) for v in value)
    return fn(value)


def _label(layer, show_layer_names, show_layer_activations, show_dtype, show_shapes, show_trainable):
    """Keras's HTML-like table: name and class, activation, input/output shapes, dtype, trainable."""
    cls = type(layer).__name__
    colspan = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    title = "<b>%s</b> (%s)" % (layer.name, cls) if show_layer_names else "<b>%s</b>" % cls
    table = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10"><tr><td colspan="%d" '
             'bgcolor="black"><font point-size="16" color="white">%s</font></td></tr>' % (colspan, title))
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        table += ('<tr><td bgcolor="white" colspan="%d"><font point-size="14">Activation: <b>%s</b></font></td></tr>'
                  % (colspan, _activation_name(layer)))
    cols = []
    if show_shapes:
        shapes = [None, None]
        try:
            shapes = [_structure(layer.input, lambda t: t.shape), _structure(layer.output, lambda t: t.shape)]
        except (ValueError, AttributeError):
            pass
        if cls != "InputLayer":
            cols.append('<td bgcolor="white"><font point-size="14">Input shape: <b>%s</b></font></td>'
                        % _shape_text(shapes[0]))
        cols.append('<td bgcolor="white"><font point-size="14">Output shape: <b>%s</b></font></td>'
                    % _shape_text(shapes[1]))
    if show_dtype:
        dtype = None
        try:
            dtype = _structure(layer.output, lambda t: t.dtype)
        except (ValueError, AttributeError):
            pass
        cols.append('<td bgcolor="white"><font point-size="14">Output dtype: <b>%s</b></font></td>' % (dtype or "?"))
    if show_trainable and hasattr(layer, "trainable") and layer.weights:
        cols.append('<td bgcolor="forestgreen"><font point-size="14" color="white"><b>Trainable</b></font></td>'
                    if layer.trainable else
                    '<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b></font></td>')
    if cols:
        table += "<tr>%s</tr>" % "".join(cols)
    return table + "</table>>"


def _node(pydot, layer, options):
    node = pydot.Node(str(id(layer)), label=_label(layer, **options))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _edge(pydot, dot, src, dst):
    a, b = str(id(src)), str(id(dst))
    if not dot.get_edge(a, b):
        edge = pydot.Edge(a, b)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho", **kwargs):
    """The model as a `pydot.Dot` (a `pydot.Cluster` with subgraph=True), as Keras's model_to_dot builds it."""
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or by "
                         "calling the model on a batch of data.")
    pydot = _pydot()
    if pydot is None:
        raise ImportError("You must install pydot (`pip install pydot`) for model_to_dot to work.")
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError("Unrecognized keyword arguments: %s" % (kwargs,))
    options = dict(show_layer_names=show_layer_names, show_layer_activations=show_layer_activations,
                   show_dtype=show_dtype, show_shapes=show_shapes, show_trainable=show_trainable)
    Functional, Sequential = _models()
    if isinstance(model, Sequential):
        layers = model.layers
    elif not isinstance(model, Functional):  # a subclassed model is one box
        dot.add_node(_node(pydot, model, options))
        return dot
    else:
        layers = model._functional_layers  # every operation, InputLayers too, in Keras's order (its _operations)
    for layer in layers:
        if expand_nested and isinstance(layer, (Functional, Sequential)):
            dot.add_subgraph(model_to_dot(layer, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested,
                                          subgraph=True, show_layer_activations=show_layer_activations,
                                          show_trainable=show_trainable))
        else:
            dot.add_node(_node(pydot, layer, options))
    if isinstance(model, Sequential):
        if not expand_nested:
            for a, b in zip(layers, layers[1:]):
                _edge(pydot, dot, a, b)
            return dot
        for a, b in zip(layers, layers[1:]):  # inside a Sequential each layer takes the one before
            _edge(pydot, dot, _last_box(a, Functional, Sequential), _first_box(b, 0, Functional, Sequential))
        return dot
    calls = {}
    for op, parents, _, _ in model._nodes:
        calls.setdefault(id(op), []).append(parents)
    for layer in layers:
        for parents in calls.get(id(layer), []):
            for input_index, tensor in enumerate(parents):
                source = tensor._history[0]
                if not expand_nested:
                    _edge(pydot, dot, source, layer)
                    continue
                output_index = tensor._tensor_index
                while isinstance(source, (Functional, Sequential)):  # into the nested model: its output's layer
                    inner = source.outputs[output_index]
                    source, output_index = inner._history[0], inner._tensor_index
                _edge(pydot, dot, source, _first_box(layer, input_index, Functional, Sequential))
    return dot


def _first_box(layer, input_index, Functional, Sequential):
    """The box an edge into `layer` points at: a nested Functional's InputLayer, a Sequential's first layer."""
    while isinstance(layer, (Functional, Sequential)):
        layer = layer.inputs[input_index]._history[0] if isinstance(layer, Functional) else layer.layers[0]
    return layer


def _last_box(layer, Functional, Sequential):
    while isinstance(layer, (Functional, Sequential)):
        out = layer.outputs[0]
        layer = out._history[0]
    return layer


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho",
               **kwargs):
    """Draws the model with Graphviz into `to_file` (its extension picks the format; png without one). Returns an
    IPython Image where IPython is installed, as Keras does."""
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or by "
                         "calling the model on a batch of data.")
    for ok, message in ((check_pydot, "You must install pydot (`pip install pydot`) for `plot_model` to work."),
                        (check_graphviz, "You must install graphviz (see instructions at "
                                         "https://graphviz.gitlab.io/download/) for `plot_model` to work.")):
        if not ok():
            if "IPython.core.magics.namespace" in sys.modules:  # in a notebook Keras prints instead of raising
                print(message)
                return None
            raise ImportError(message)
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError("Unrecognized keyword arguments: %s" % (kwargs,))
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable, splines=splines)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    if extension != "pdf":
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None
