"""Saving while training: ModelCheckpoint, BackupAndRestore, and SwapEMAWeights (evaluation on the
optimizer's moving averages)."""
import os
import warnings

from .base import Callback, _print
from .monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Saves the model (a .keras file) or its weights (a .weights.h5 file) every epoch or every
    `save_freq` batches; the path may hold format fields, e.g. "ckpt-{epoch:02d}-{val_loss:.2f}.keras"
    (epoch counted from 1, as Keras does)."""
    _rank_zero_only = True  # under DataParallel only process 0 writes or prints (models/parallel.py)

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_best_only, self.save_weights_only = verbose, save_best_only, save_weights_only
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError("Unrecognized save_freq: %r (expected 'epoch' or a positive integer)" % (save_freq,))
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._batches_seen = 0
        self._epoch = 0
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must "
                             "end in `.weights.h5`. Received: filepath=%s" % self.filepath)
        if not save_weights_only and not self.filepath.endswith(".keras"):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). Received: "
                             "filepath=%s" % self.filepath)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _overrides(self, hook):
        if hook == "on_train_batch_end" and self.save_freq == "epoch":
            return False  # saving per epoch needs no batch logs: no step should wait to read them back
        return super()._overrides(hook)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = dict(logs or {})
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except KeyError as e:
            raise KeyError('Failed to format this callback filepath: "%s". Reason: %s is not in the logs %s'
                           % (self.filepath, e, sorted(logs))) from None
        if self.save_best_only:
            if self.monitor_op is None:
                self._set_monitor_op()
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn("Can save best model only with %s available, skipping." % self.monitor, stacklevel=2)
                return
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    _print("\nEpoch %d: %s did not improve from %.5f" % (epoch + 1, self.monitor, self.best))
                return
            if self.verbose > 0:
                _print("\nEpoch %d: %s improved from %s to %.5f, saving model to %s"
                       % (epoch + 1, self.monitor, self.best, current, path))
            self.best = current
        elif self.verbose > 0:
            _print("\nEpoch %d: saving model to %s" % (epoch + 1, path))
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


class SwapEMAWeights(Callback):
    """With an optimizer made with use_ema=True: evaluation (and with swap_on_epoch=True, the callbacks
    after this one at each epoch end) sees the moving-average weights; training continues on the
    raw ones (Keras's SwapEMAWeights)."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._swapped = False

    def _swap(self):
        opt = self.model.optimizer
        if not getattr(opt, "use_ema", False):
            raise ValueError("SwapEMAWeights requires the optimizer to be built with use_ema=True. Received: "
                             "use_ema=%r" % getattr(opt, "use_ema", None))
        if opt._ema is None:
            return
        tmp = opt._flat.copy()
        opt._flat[...] = opt._ema
        opt._ema[...] = tmp
        self._swapped = not self._swapped

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._swapped:
            self._swap()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._swapped:
            self._swap()
            if epoch == self.params.get("epochs", 0) - 1:  # the end of fit keeps the averages (Keras)
                opt = self.model.optimizer
                opt._ema[...] = opt._flat

    def on_test_begin(self, logs=None):
        if not self._swapped:
            self._swap()

    def on_test_end(self, logs=None):
        if self._swapped:
            self._swap()

    on_predict_begin = on_test_begin
    on_predict_end = on_test_end


class BackupAndRestore(Callback):
    """Backs the model (weights and optimizer state) up into `backup_dir` at each epoch end (or every
    `save_freq` batches); a fit() that finds a backup resumes from it — at the epoch after the last
    complete one, with the same seed, so the result equals an uninterrupted run's. The backup is
    deleted when training ends (delete_checkpoint=True). double_checkpoint keeps the previous backup
    and falls back to it when the latest one cannot be read."""
    _rank_zero_only = True  # under DataParallel only process 0 writes or prints (models/parallel.py)

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0) and save_freq is not False:
            raise ValueError("Invalid value for argument `save_freq`. Received: save_freq=%r. Expected either "
                             "'epoch' or an integer value." % (save_freq,))
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.double_checkpoint, self.delete_checkpoint = save_freq, double_checkpoint, delete_checkpoint
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._meta_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = self._weights_path + ".bkp"
        self._prev_meta_path = self._meta_path + ".bkp"
        self._batches_seen = 0
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        import json
        if not self.model.built:
            raise ValueError("To use the BackupAndRestore callback, your model must be built before you call `fit()`.")
        for weights, meta in ((self._weights_path, self._meta_path), (self._prev_weights_path, self._prev_meta_path)):
            if not (os.path.exists(weights) and os.path.exists(meta)):
                continue
            try:
                with open(meta) as f:
                    info = json.load(f)
                self.model.load_weights(weights)
            except Exception:
                if self.double_checkpoint and weights == self._weights_path:
                    continue  # the latest backup is unreadable: the previous one
                raise
            self._current_epoch = int(info["epoch"])
            self.model._initial_epoch = self._current_epoch
            if info.get("seed") is not None:
                self.model._seed = int(info["seed"])
            return

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def _overrides(self, hook):
        if hook == "on_train_batch_end" and not (isinstance(self.save_freq, int) and self.save_freq is not False):
            return False  # as ModelCheckpoint: a batch hook only when saving every N batches
        return super()._overrides(hook)

    def on_train_batch_end(self, batch, logs=None):
        if isinstance(self.save_freq, int) and self.save_freq is not False and self.save_freq != "epoch":
            self._batches_seen += 1
            if self._batches_seen % self.save_freq == 0:
                self._save(self._current_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1)

    def _save(self, resume_epoch):
        import json
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            os.replace(self._weights_path, self._prev_weights_path)
            if os.path.exists(self._meta_path):
                os.replace(self._meta_path, self._prev_meta_path)
        self.model.save_weights(self._weights_path, overwrite=True)
        tmp = self._meta_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"epoch": resume_epoch, "seed": getattr(self.model, "_seed", None)}, f)
        os.replace(tmp, self._meta_path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            for p in (self._weights_path, self._meta_path, self._prev_weights_path, self._prev_meta_path):
                if os.path.exists(p):
                    os.remove(p)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass
