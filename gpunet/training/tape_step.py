"""What one training step needs, resolved once per fit (the Plan: the loss, whether the softmax head and the
cross-entropy fuse, the metrics), and the tape executor: the general step every model can take, the
reference the compiled CPU step (cpu_step.py) and the GPU launch program (gpu_step.py) are tested against.

A step records the forward pass on a GradientTape, takes the gradient of the (scaled) loss into the
optimizer's flat buffer and applies it; the loss and metric sums stay on the device until logs are read."""
from .. import backend, losses as losses_mod, metrics as metrics_mod, ops
from ..layers.base import has_pending_losses
from ..ops.tape import GradientTape, Tensor
from . import data as data_mod, outputs


class _Plan:
    """What one training step needs, resolved once per fit (not once per step)."""

    def __init__(self, model, y_sample, y_pred_shape):
        self.multi = isinstance(y_sample, data_mod.Multi)
        if self.multi:
            return self._init_multi(model, y_sample)
        self.loss = model._loss_obj
        self.variables = model.trainable_weights
        fn = getattr(self.loss, "fn", None)
        kwargs = getattr(self.loss, "fn_kwargs", {})
        self.sparse = fn is losses_mod.sparse_categorical_crossentropy
        ce = self.sparse or fn is losses_mod.categorical_crossentropy
        # one fused softmax + cross-entropy op on the logits: a softmax output with cross-entropy on
        # probabilities (the logits before the softmax), or any output with from_logits=True (the output)
        self.from_logits = bool(ce and kwargs.get("from_logits"))
        self.fused = (ce and kwargs.get("axis", -1) == -1 and self.loss.reduction == "sum_over_batch_size"
                      and kwargs.get("ignore_class") is None and (self.from_logits or model._has_softmax_head())
                      and not _any_mixed(model))  # mixed precision: the layers' calls, the loss in float32
        self.label_smoothing = kwargs.get("label_smoothing", 0.0) or 0.0
        yshape = y_sample.shape if y_sample is not None else None
        self.metrics = model._resolve_metrics(yshape, y_pred_shape)
        self.weighted_metrics = model._resolve_metrics(yshape, y_pred_shape, weighted=True)
        self.metrics_on_logits = all(m.argmax_invariant for m in self.metrics + self.weighted_metrics)
        self.has_extra_losses = bool(model.losses)  # regularizers: scanned once per fit, not per step

    def _init_multi(self, model, y):
        """Several outputs: one loss each (a single loss applies to every output), weighted by
        loss_weights; metrics per output, logged as <output>_<metric> beside <output>_loss."""
        keys = outputs.keys(model)
        self.variables = model.trainable_weights
        self.fused = self.sparse = self.from_logits = False
        self.label_smoothing = 0.0
        self.has_extra_losses = bool(model.losses)
        self.out_losses = outputs.losses(model)
        if all(fn is None for fn in self.out_losses) and not self.has_extra_losses:
            raise ValueError("compile(loss=...) gives none of the outputs %s a loss" % (keys,))
        self.loss_weights = outputs.loss_weights(model)
        each = outputs.logs_each_loss(model)  # Keras logs <output>_loss only when several outputs have a loss
        self.out_trackers = {i: metrics_mod.Mean(name="%s_loss" % k) for i, (k, fn) in
                             enumerate(zip(keys, self.out_losses)) if fn is not None and each}
        self.slots = []
        for i, (k, t, o) in enumerate(zip(keys, y.arrays, model.outputs)):
            if t is not None:
                for m in model._resolve_output_metrics(i, k, t.shape, o.shape):
                    self.slots.append((m, i))
        self.metrics = list(self.out_trackers.values()) + [m for m, _ in self.slots]
        self.weighted_metrics = []
        self.metrics_on_logits = True


def _any_mixed(model):
    """Whether a layer of the model computes in half precision (its calls must run, not the fused head)."""
    from ..layers.base import Layer
    seen, todo = set(), [model]
    while todo:
        layer = todo.pop()
        if id(layer) in seen or not isinstance(layer, Layer):
            continue
        seen.add(id(layer))
        if layer._mixed:
            return True
        todo.extend(layer._sublayers())
    return False


def _multi_loss(model, plan, xb, yb, swb, training):
    preds = outputs.preds_list(model, model._forward(xb, training=training))
    total = None
    for i, (lf, w) in enumerate(zip(plan.out_losses, plan.loss_weights)):
        if lf is None:
            continue
        li = lf(yb.arrays[i], preds[i], sample_weight=swb)
        if i in plan.out_trackers:
            plan.out_trackers[i].add(li.data, len(yb))
        term = li if w == 1.0 else ops.multiply(li, w)
        total = term if total is None else ops.add(total, term)
    if total is None:  # only add_loss() terms: they are added by the caller
        total = Tensor(backend.get_xp().zeros((), dtype=preds[0].dtype))
    return total, preds


def _loss_and_preds(model, plan, xb, yb, swb, training):
    if plan.multi:
        return _multi_loss(model, plan, xb, yb, swb, training)
    if plan.fused:
        if plan.from_logits:
            logits = model._forward(xb, training=training, fast=True)
        else:
            logits = model._forward_logits(xb, training=training, fast=True)
        mask = logits._keras_mask
        if swb is None and mask is None:
            loss = ops.softmax_cross_entropy(yb, logits, plan.sparse, plan.label_smoothing, reduction="mean")
        else:
            per = ops.softmax_cross_entropy(yb, logits, sparse=plan.sparse, label_smoothing=plan.label_smoothing)
            loss = losses_mod.reduce_weighted(per, losses_mod.apply_mask(swb, mask, "sum_over_batch_size"))
        return loss, logits
    preds = model._forward(xb, training=training, fast=True)
    return plan.loss(yb, preds, sample_weight=swb), preds


def _softmax_logits(plan):
    """Whether the fused loss's predictions are the logits before the model's softmax (the metrics take
    probabilities then); with from_logits=True they are the model's own output, handed over as they are."""
    return plan.fused and not plan.from_logits


def _update_metrics(plan, yb, preds, swb, is_logits):
    """preds: the step's prediction Tensor(s); a mask on them (padded timesteps) weighs those entries 0."""
    if plan.multi:
        for m, i in plan.slots:
            mw = _mask_weights(None, preds[i])
            if mw is None:
                m.update_state(yb.arrays[i], preds[i].data)
            else:
                m.update_state(yb.arrays[i], preds[i].data, sample_weight=mw)
        return
    if not plan.metrics and not plan.weighted_metrics:
        return
    mask = getattr(preds, "_keras_mask", None)
    preds = preds.data if isinstance(preds, Tensor) else preds
    if is_logits and not plan.metrics_on_logits:
        preds = ops.softmax(preds).data
    mw = None if mask is None else losses_mod.apply_mask(None, mask, "sum")
    for m in plan.metrics:  # Keras: `metrics` ignore sample weights, `weighted_metrics` use them
        if mw is None:
            m.update_state(yb, preds)
        else:
            m.update_state(yb, preds, sample_weight=mw)
    if plan.weighted_metrics:
        sw = swb if mask is None else losses_mod.apply_mask(swb, mask, "sum")
        for m in plan.weighted_metrics:
            m.update_state(yb, preds, sample_weight=sw)


def _mask_weights(swb, pred):
    mask = getattr(pred, "_keras_mask", None)
    return swb if mask is None else losses_mod.apply_mask(swb, mask, "sum")


def train_step(model, plan, xb, yb, swb):
    with GradientTape() as tape:
        loss, preds = _loss_and_preds(model, plan, xb, yb, swb, True)
        total = loss
        if plan.has_extra_losses or has_pending_losses():  # regularizers, add_loss() of this pass
            for r in model.losses:
                total = ops.add(total, r)
        scaled = model.optimizer.scale_loss(total)  # Keras: gradients of the scaled loss; apply() unscales
    if plan.variables:  # Keras trains a model without trainable weights too: losses and metrics, no update
        grads = tape.gradient(scaled, plan.variables, write_to_sinks=True)
        model.optimizer.apply(grads, plan.variables)
    model._loss_tracker.add(total.data, len(xb))
    _update_metrics(plan, yb, preds, swb, _softmax_logits(plan))
    return total


def _logs(model, plan, prefix=""):
    out = {prefix + "loss": float(model._loss_tracker.result())}
    for m in plan.metrics + plan.weighted_metrics:
        out[prefix + m.name] = _log_value(m.result())
    return out


def _log_value(value):
    """A metric's result as the logs hold it: a float, or an array for a per-class result (F1Score(average=None)),
    as Keras logs it."""
    size = getattr(value, "size", 1)
    return float(value) if size == 1 else backend.to_numpy(value)


def _trackers(model, plan):
    return [model._loss_tracker] + plan.metrics + plan.weighted_metrics
