"""The skeleton every `fit` runs on: callbacks, epochs, each epoch's seeded streams, validation, logs.

Two loops fill it in. array_loop.py runs the built-in steps on arrays resident on the device (a launch
program, the compiled CPU step or the tape); batch_loop.py calls the model's own train_step on each batch
of arrays, a generator or a PyDataset, as Keras does. What they share lives here once: the order of the
callbacks' hooks, how an epoch's shuffle and dropout streams are keyed, validation every
`validation_freq` epochs (fit's validation runs as an evaluate: the on_test_* hooks fire), stopping, the
optimizer's final values (use_ema) and the flags the model reads while it is being fitted."""
import numpy as np

from .. import random as _random


class EpochLoop:
    """Subclasses fill in the hooks; `run` calls them in Keras's order."""

    def __init__(self, model, callbacks, validation_freq=1):
        self.model, self.cbs, self.validation_freq = model, callbacks, validation_freq

    # ---- hooks ----
    def start(self, initial_epoch):
        """After on_train_begin and the seed; returns the epoch to start from."""
        return initial_epoch

    def reset_metrics(self):
        raise NotImplementedError

    def begin_epoch(self, stream, dropout_key):
        """Before the epoch's streams are set; returns the dropout key to set (a process's own, under DataParallel)."""
        return dropout_key

    def run_epoch(self, stream):
        raise NotImplementedError

    def end_epoch(self):
        """After the epoch's steps; False stops training before this epoch is logged."""
        return True

    def epoch_logs(self, epoch):
        raise NotImplementedError

    def has_validation(self):
        return False

    def validate(self):
        """Fit's validation pass: its logs, before the val_ prefix."""
        raise NotImplementedError

    def after_epoch_end(self):
        pass

    def finish(self):
        """Always runs last, after an error too."""

    # ---- the loop ----
    def run(self, initial_epoch, epochs):
        model, cbs = self.model, self.cbs
        model.stop_training = False
        model._in_fit = True
        epoch_logs = {}
        try:
            initial_epoch = self.start(begin_training(model, cbs, initial_epoch))
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                cbs.on_epoch_begin(epoch)
                index = stream_index(model, epoch)
                stream = _random.epoch_stream(model._seed, index)
                _random.set_epoch_stream(stream, self.begin_epoch(stream, _random.dropout_key(model._seed, index)))
                self.run_epoch(stream)
                _random.set_epoch_stream(None)
                end_epoch(model)
                if not self.end_epoch():
                    break
                epoch_logs = self.epoch_logs(epoch)
                if self.has_validation() and (epoch + 1) % self.validation_freq == 0:
                    model._in_fit_validation = True
                    try:
                        vlogs = self.validate()
                    finally:
                        model._in_fit_validation = False
                    epoch_logs.update({"val_" + k: v for k, v in vlogs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                self.after_epoch_end()
                if model.stop_training:
                    break
            if epochs > 0 and model.optimizer is not None:  # Keras: with use_ema the weights become their averages
                model.optimizer.finalize_variable_values(model.trainable_weights)
            cbs.on_train_end(epoch_logs)
        finally:
            model._in_fit = False
            _random.set_epoch_stream(None)
            self.finish()
        return cbs.history


def begin_training(model, cbs, initial_epoch):
    """on_train_begin (where BackupAndRestore may load a backup and name the epoch to resume from), then the
    model's seed, which keys every epoch's shuffle and dropout.

    An epoch's streams are keyed by (seed, index): the index is the epoch number, moved past the epochs
    this model already trained in earlier fit calls. So fit(epochs=1) called in a loop shuffles and drops
    differently each time, as Keras does (keyed by the epoch number alone, every call replayed epoch 0's
    order and masks), while a resumed run (initial_epoch=k after k epochs) replays the original's."""
    cbs.on_train_begin()
    resumed = model.__dict__.pop("_initial_epoch", None)
    if model._seed is None:
        # Keras shuffles from NumPy's global state and drops out from seeds Python's `random` gave each layer:
        # the one seed that keys both here takes a draw from each, so seeding both (set_random_seed) repeats a fit
        model._seed = (_random.make_default_seed() * 1000003 + int(np.random.randint(2**31))) % 2**31
    start = initial_epoch if resumed is None else resumed
    model._stream_offset = max(0, getattr(model, "_epochs_trained", 0) - start)
    return start


def stream_index(model, epoch):
    """The index that keys this epoch's shuffle and dropout streams (see begin_training)."""
    return epoch + getattr(model, "_stream_offset", 0)


def end_epoch(model):
    model._epochs_trained = getattr(model, "_epochs_trained", 0) + 1


def steps_per_execution(model):
    """compile(steps_per_execution=k): the batch hooks run once per k steps, as Keras calls them."""
    spe = getattr(model, "steps_per_execution", 1)
    if spe is None:
        return 1
    if isinstance(spe, bool) or not isinstance(spe, (int, np.integer)) or spe < 1:
        raise ValueError("compile(steps_per_execution=...) must be a positive integer, received %r" % (spe,))
    return int(spe)
