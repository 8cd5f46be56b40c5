"""keras.models.clone_model: the same architecture with new layers (and so new weights)."""
from ..layers.base import KerasTensor
from ..layers.core import Input
from ..ops.symbolic import FunctionOp, map_structure


def _default_clone(layer):
    return layer.__class__.from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """Sequential and Functional models are rebuilt layer by layer with clone_function (default: a new
    layer from the layer's config); a shared layer stays shared. Subclassed models go through
    from_config(get_config()). The clone has freshly initialised weights, as in Keras."""
    from .functional import Functional
    from .sequential import Sequential
    if kwargs:
        raise ValueError("Unexpected keyword arguments: %s" % sorted(kwargs))
    clone_function = clone_function or _default_clone

    def clone_layer(layer):
        if recursive and isinstance(layer, (Sequential, Functional)):
            return clone_model(layer, clone_function=clone_function, call_function=call_function, recursive=True)
        return clone_function(layer)
    if isinstance(model, Sequential):
        new = Sequential(name=model.name)
        if input_tensors is not None:
            new.add(input_tensors if isinstance(input_tensors, KerasTensor) else input_tensors[0])
        elif model._batch_input_shape is not None:
            new.add(Input(batch_shape=model._batch_input_shape, dtype=model.dtype))
        for layer in model.layers:
            new.add(clone_layer(layer))
        return new
    if isinstance(model, Functional):
        values = {}
        if input_tensors is None:
            new_inputs = [Input(batch_shape=t.shape, dtype=t.dtype, name=t._history[0].name) for t in model.inputs]
        else:
            new_inputs = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
            if len(new_inputs) != len(model.inputs):
                raise ValueError("clone_model: the model has %d inputs, input_tensors has %d"
                                 % (len(model.inputs), len(new_inputs)))
        for old, new in zip(model.inputs, new_inputs):
            values[id(old)] = new
        cloned = {}
        for op, _, (args, kw), outs in model._nodes:
            if id(op) not in cloned:
                cloned[id(op)] = (FunctionOp(op.fn_name, op._callable, op.static) if isinstance(op, FunctionOp)
                                  else clone_layer(op))
            new_op = cloned[id(op)]
            a = map_structure(lambda kt: values[id(kt)], args)
            k = map_structure(lambda kt: values[id(kt)], kw)
            res = call_function(new_op, *a, **k) if call_function is not None else new_op(*a, **k)
            for o, r in zip(outs, res if outs[0]._siblings is not None else [res]):
                values[id(o)] = r

        def struct(s):
            if isinstance(s, dict):
                return {k: values[id(v)] for k, v in s.items()}
            if isinstance(s, (list, tuple)):
                return [values[id(v)] for v in s]
            return values[id(s)]
        ins = struct(model._inputs_struct) if input_tensors is None else input_tensors
        return Functional(ins, struct(model._outputs_struct), name=model.name)
    try:
        config = model.get_config()
    except NotImplementedError as e:
        raise ValueError("clone_model of a subclassed model needs get_config() and from_config(); %s has none"
                         % type(model).__name__) from e
    return model.__class__.from_config(config)

