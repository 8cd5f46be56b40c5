"""Saving while training: ModelCheckpoint, BackupAndRestore, and SwapEMAWeights (evaluation on the
optimizer's moving averages)."""
import os
import warnings

import numpy as np

from .base import Callback, _print
from .monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Saves the model (a .keras file) or its weights (a .weights.h5 file) every epoch or every
    `save_freq` batches; the path may hold format fields, e.g. "ckpt-{epoch:02d}-{val_loss:.2f}.keras"
    (epoch counted from 1, as Keras does)."""
    _rank_zero_only = True  # under DataParallel only process 0 writes or prints (training/parallel.py)

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

    def on_train_begin(self, logs=None):
        """A folder that cannot be written is found now, not after the first epoch's work."""
        from ..saving import saving_lib
        if "{" in self.filepath:  # formatted per save: the folders before the first field must be writable
            saving_lib.check_folder(os.path.dirname(self.filepath.split("{", 1)[0]) or ".", self.filepath)
        else:
            saving_lib.check_save_path(self.filepath, ".weights.h5" if self.save_weights_only else ".keras")

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
    and falls back to it when the latest one cannot be read.

    A backup is one file, `latest.weights.h5`, holding the resume point (epoch, seed) as attributes beside the
    weights, written to a temp file and renamed into place: a crash at any point leaves a whole backup of
    one epoch or of the next, never the weights of one with the epoch of another."""
    _rank_zero_only = True  # under DataParallel only process 0 writes or prints (training/parallel.py)
    _EPOCH, _SEED = "gpunet_resume_epoch", "gpunet_seed"

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
        self._meta_path = os.path.join(self.backup_dir, "training_metadata.json")  # earlier gpunet backups only
        self._prev_weights_path = self._weights_path + ".bkp"
        self._batches_seen = 0
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        from ..saving import saving_lib
        if not self.model.built:
            raise ValueError("To use the BackupAndRestore callback, your model must be built before you call `fit()`.")
        saving_lib.check_save_path(self._weights_path, ".weights.h5")  # a folder that cannot be written: now
        for path in (self._weights_path, self._prev_weights_path):
            if not os.path.exists(path):
                continue
            try:
                epoch, seed = self._resume_point(path)
                self.model.load_weights(path)
            except (ValueError, OSError):
                if self.double_checkpoint and path == self._weights_path:
                    continue  # the latest backup is unreadable: the previous one
                raise
            self._current_epoch = epoch
            self.model._initial_epoch = epoch
            if seed is not None:
                self.model._seed = seed
            return

    def _resume_point(self, path):
        """(epoch to resume at, seed) of a backup: its attributes, or an earlier gpunet's training_metadata.json."""
        import h5py
        from ..common.registry import SavingError
        try:
            with h5py.File(path, "r") as f:
                attrs = {k: f.attrs[k] for k in (self._EPOCH, self._SEED) if k in f.attrs}
        except OSError as e:
            raise SavingError("BackupAndRestore: the backup %s cannot be read (%s); delete %s to start over"
                              % (path, e, self.backup_dir)) from None
        if self._EPOCH in attrs:
            epoch, seed = attrs[self._EPOCH], attrs.get(self._SEED)
            where = path
        else:
            epoch, seed, where = self._legacy_metadata(path)
        if not (isinstance(epoch, (int, np.integer)) and epoch >= 0) or not (
                seed is None or isinstance(seed, (int, np.integer))):
            raise SavingError("BackupAndRestore: the resume point in %s is damaged (epoch %r, seed %r); delete %s to "
                              "start over" % (where, epoch, seed, self.backup_dir))
        return int(epoch), (None if seed is None else int(seed))

    def _legacy_metadata(self, path):
        import json
        from ..common.registry import SavingError
        try:
            with open(self._meta_path) as f:
                info = json.load(f)
        except FileNotFoundError:
            raise SavingError("BackupAndRestore: %s holds no resume point and there is no %s: not a backup written "
                              "by gpunet; delete %s to start over" % (path, self._meta_path, self.backup_dir)) from None
        except (OSError, ValueError) as e:
            raise SavingError("BackupAndRestore: %s is damaged (%s); delete %s to start over"
                              % (self._meta_path, e, self.backup_dir)) from None
        if not isinstance(info, dict) or "epoch" not in info:
            raise SavingError("BackupAndRestore: %s is damaged: expected {\"epoch\": N, ...}, found %r; delete %s "
                              "to start over" % (self._meta_path, info, self.backup_dir))
        return info["epoch"], info.get("seed"), self._meta_path

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
        from ..saving import saving_lib
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            os.replace(self._weights_path, self._prev_weights_path)  # each file is a whole backup on its own
        attrs = {self._EPOCH: int(resume_epoch)}
        if getattr(self.model, "_seed", None) is not None:
            attrs[self._SEED] = int(self.model._seed)
        saving_lib.save_weights(self.model, self._weights_path, overwrite=True, _attrs=attrs)
        if os.path.exists(self._meta_path):  # an earlier gpunet's metadata would now describe another epoch
            os.remove(self._meta_path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            for p in (self._weights_path, self._meta_path, self._prev_weights_path, self._meta_path + ".bkp"):
                if os.path.exists(p):
                    os.remove(p)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass
