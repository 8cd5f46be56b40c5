"""How compile()'s loss, loss_weights and metrics, and the targets fit/evaluate receive, map onto the outputs of a
multi-output model, by Keras's rules (keras/src/trainers/compile_utils.py, CompileLoss):

- the outputs are keyed by their names, or by their keys for a model whose outputs are a dict (Keras flattens a
  dict in sorted key order, so a list of losses for a dict of outputs follows the sorted keys);
- one loss applies to every output; a list gives one per output; a dict names outputs, and an output without an
  entry (or with None) has no loss;
- targets are needed only for the outputs that have a loss or metrics: a dict of them by key, a list with an entry
  per output (None where there is none), or a list with just the outputs that have a loss, in order;
- each output's loss is logged as `<key>_loss` only when more than one output has a loss."""
from .. import losses as losses_mod


def keys(model):
    """The outputs' keys in order (model.outputs order), or None for a model with one output."""
    names = getattr(model, "output_names", None)
    if names is None or len(names) < 2:
        return None
    return list(getattr(model, "_output_keys", None) or names)


def _entries(spec, ks, what):
    """spec (compile's loss, loss_weights or metrics) as one entry per output."""
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in ks]
        if unknown:
            raise ValueError("compile(%s=...) names outputs %s that the model does not have; its outputs are %s"
                             % (what, unknown, ks))
        return [spec.get(k) for k in ks]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(ks):
            raise ValueError("compile(%s=...) has %d entries for %d outputs %s" % (what, len(spec), len(ks), ks))
        return list(spec)
    return [spec] * len(ks)


def losses(model):
    """One loss object (or None: no loss) per output."""
    return [None if l is None else losses_mod.get(l) for l in _entries(model.loss, keys(model), "loss")]


def loss_weights(model):
    lw = model._loss_weights
    ks = keys(model)
    if lw is None:
        return [1.0] * len(ks)
    return [1.0 if w is None else float(w) for w in _entries(lw, ks, "loss_weights")]


def metric_ids(model, i):
    """The compile(metrics=...) identifiers of output i: a dict by key, a list per output, or one flat list for
    every output."""
    spec, ks = model._metric_ids, keys(model)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in ks]
        if unknown:
            raise ValueError("compile(metrics=...) names outputs %s that the model does not have; its outputs are %s"
                             % (unknown, ks))
        ids = spec.get(ks[i]) or []
    elif spec and all(isinstance(m, (list, tuple)) for m in spec):
        if len(spec) != len(ks):
            raise ValueError("compile(metrics=...) has %d lists for %d outputs %s" % (len(spec), len(ks), ks))
        ids = spec[i]
    else:
        ids = spec
    return list(ids) if isinstance(ids, (list, tuple)) else [ids]


def flat_metric_ids(spec):
    """A single output's metric identifiers: Keras flattens compile(metrics=...) for it, whatever the structure (a
    dict's values in key order, nested lists)."""
    if isinstance(spec, dict):
        return [m for k in sorted(spec) for m in flat_metric_ids(spec[k])]
    if isinstance(spec, (list, tuple)):
        return [m for s in spec for m in flat_metric_ids(s)]
    return [spec]


def map_metric_ids(fn, spec):
    """fn on every identifier of compile(metrics=...), its dicts and lists kept (a saved compile config)."""
    if isinstance(spec, dict):
        return {k: map_metric_ids(fn, v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [map_metric_ids(fn, v) for v in spec]
    return fn(spec)


def needs_targets(model):
    """Per output: whether it takes targets (it has a loss or metrics)."""
    fns = losses(model)
    return [fn is not None or bool(metric_ids(model, i)) for i, fn in enumerate(fns)]


def per_output(model, y, what="y"):
    """y (a dict by key, a list, or one array) as one entry per output, None where an output gets no target."""
    ks = keys(model)
    fns = losses(model)
    needed = needs_targets(model)
    if isinstance(y, dict):
        unknown = [k for k in y if k not in ks]
        if unknown:
            raise ValueError("%s is a dict with entries %s that name no output; the model's outputs are %s"
                             % (what, unknown, ks))
        missing = [k for k, need in zip(ks, needed) if need and y.get(k) is None]
        if missing:
            raise ValueError("%s is a dict without entries for %s (expected keys %s)" % (what, missing, ks))
        return [y.get(k) for k in ks]
    with_loss = [i for i, fn in enumerate(fns) if fn is not None]
    if isinstance(y, (list, tuple)):
        y = list(y)
        if len(y) == len(ks):
            missing = [k for k, need, t in zip(ks, needed, y) if need and t is None]
            if missing:
                raise ValueError("%s has None for outputs %s, which have a loss or metrics" % (what, missing))
            return y
        if len(y) == len(with_loss):  # Keras: targets for just the outputs that have a loss, in order
            out = [None] * len(ks)
            for i, t in zip(with_loss, y):
                out[i] = t
            return out
        raise ValueError("%s: received %d target arrays; the model has %d outputs %s (%d with a loss)"
                         % (what, len(y), len(ks), ks, len(with_loss)))
    if len(with_loss) == 1 and sum(needed) == 1:
        out = [None] * len(ks)
        out[with_loss[0]] = y
        return out
    raise ValueError('Model "%s" has %d outputs %s: pass a list or a dict of target arrays as %s'
                     % (model.name, len(ks), ks, what))


def preds_list(model, y_pred):
    """The model's predictions as one entry per output."""
    if isinstance(y_pred, dict):
        return [y_pred[k] for k in keys(model)]
    return list(y_pred)


def logs_each_loss(model):
    """Keras logs `<key>_loss` for each output only when more than one output has a loss."""
    return sum(fn is not None for fn in losses(model)) > 1
