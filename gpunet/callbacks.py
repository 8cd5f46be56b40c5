"""Keras callbacks: the base class, the list that drives them, and Keras's built-in callbacks."""
import csv
import math
import os
import sys
import warnings

import numpy as np

from .utils.progbar import Progbar

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
          "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    def __init__(self):
        self.params = {}
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def _overrides(self, hook):
        cls = type(self)
        return (getattr(cls, hook) is not getattr(Callback, hook)
                or (hook in _LEGACY and getattr(cls, _LEGACY[hook]) is not getattr(Callback, _LEGACY[hook])))


for _h in _HOOKS + ("on_batch_begin", "on_batch_end"):
    setattr(Callback, _h, lambda self, *a, **k: None)
# Keras: the training-batch hooks default to the legacy on_batch_begin/on_batch_end
Callback.on_train_batch_begin = lambda self, batch, logs=None: self.on_batch_begin(batch, logs)
Callback.on_train_batch_end = lambda self, batch, logs=None: self.on_batch_end(batch, logs)
_LEGACY = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def pythonify_logs(logs):
    """Keras hands every hook a dict: keys sorted, nested dicts flattened, values as Python floats
    where they convert (a metric may return a tensor or an array)."""
    out = {}
    for k, v in sorted((logs or {}).items()):
        if isinstance(v, dict):
            out.update(pythonify_logs(v))
            continue
        try:
            v = float(v.numpy() if hasattr(v, "numpy") else v)
        except (TypeError, ValueError):
            pass
        out[k] = v
    return out


class History(Callback):
    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        self.model.history = self


class ProgbarLogger(Callback):
    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.progbar = None
        self.verbose = 1
        self.epochs = 1
        self.target = None

    def set_params(self, params):
        super().set_params(params)
        self.verbose = params.get("verbose", 1)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _out(self):
        return self.stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose and self.epochs > 1:
            self._out().write("Epoch %d/%d\n" % (epoch + 1, self.epochs))
        self.progbar = Progbar(self.target, verbose=self.verbose, stream=self.stream)

    def on_test_begin(self, logs=None):
        if self.progbar is None or not getattr(self.model, "_in_fit", False):
            self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose, stream=self.stream)

    on_predict_begin = on_test_begin

    def _batch(self, batch, logs):
        if self.progbar is not None and not getattr(self.model, "_in_fit_validation", False):
            self.progbar.update(batch + 1, _items(logs), finalize=False)

    def on_train_batch_end(self, batch, logs=None):
        self._batch(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not getattr(self.model, "_in_fit", False):
            self._batch(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._batch(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self.progbar.update(self.target or 0, _items(logs), finalize=True)

    def on_test_end(self, logs=None):
        if not getattr(self.model, "_in_fit", False):
            self.progbar.update(self.params.get("steps") or 0, _items(logs), finalize=True)

    def on_predict_end(self, logs=None):
        self.progbar.update(self.params.get("steps") or 0, None, finalize=True)


def _items(logs):
    if callable(logs):
        return lambda: sorted(logs().items())
    return sorted((logs or {}).items())


class CallbackList:
    """Calls every callback's hook in order. Batch logs are passed lazily: a callable that reads
    the metrics back is handed to the progress bar (which calls it only when it draws), and a dict
    is built only for callbacks that override a batch hook themselves."""

    def __init__(self, callbacks=None, model=None, add_history=False, add_progbar=False, **params):
        if isinstance(callbacks, Callback):  # Keras flattens: one callback needs no list around it
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError("callbacks must be gpunet.callbacks.Callback instances, received %r (of type %s)"
                                % (c, type(c).__name__))
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.history = History()
            self.callbacks.append(self.history)
        else:
            self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.insert(0, ProgbarLogger())
        self.model = model
        self._batch_targets = {}
        for c in self.callbacks:
            c.set_model(model)
            c.set_params(dict(params))

    def set_params(self, params):
        for c in self.callbacks:
            c.set_params(dict(params))

    def _call(self, hook, *args):
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def _batch(self, hook, batch, logs):
        targets = self._batch_targets.get(hook)
        if targets is None:  # who listens is fixed for the run: work it out once per hook
            targets = self._batch_targets[hook] = [
                (getattr(c, hook), isinstance(c, ProgbarLogger) and type(c)._batch is ProgbarLogger._batch)
                for c in self.callbacks
                if c._overrides(hook) or (isinstance(c, ProgbarLogger) and type(c)._batch is ProgbarLogger._batch)]
        materialised = None
        for fn, lazy in targets:
            if lazy:
                fn(batch, logs)
            else:
                if materialised is None:
                    materialised = pythonify_logs(logs() if callable(logs) else logs)
                fn(batch, materialised)

    def wants_batch_logs(self, hook):
        return any(c._overrides(hook) and not isinstance(c, ProgbarLogger) for c in self.callbacks)


def _hook(name, batch):
    if batch:
        return lambda self, b, logs=None: self._batch(name, b, logs)
    if name in ("on_epoch_begin", "on_epoch_end"):
        def epoch_hook(self, epoch, logs=None):
            d = pythonify_logs(logs)  # a sorted dict, as Keras hands over (History's key order)
            self._call(name, epoch, d)
            if isinstance(logs, dict):  # what callbacks added (learning_rate) reaches the caller's dict too
                logs.clear()
                logs.update(d)
        return epoch_hook
    return lambda self, logs=None: self._call(name, logs if isinstance(logs, dict) else pythonify_logs(logs))


for _h in _HOOKS:
    setattr(CallbackList, _h, _hook(_h, "batch" in _h))


def _print(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


class MonitorCallback(Callback):
    """A callback that watches one log value and decides, as Keras 3 does, whether lower or higher
    is better ("auto": losses go down; accuracies, AUC, precision and recall go up)."""

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn("%s mode %r is unknown, fallback to auto mode." % (type(self).__name__, mode), stacklevel=3)
            mode = "auto"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = np.less
        elif self.mode == "max":
            self.monitor_op = np.greater
        else:
            name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
            if name == "loss":
                self.monitor_op = np.less
            flat = getattr(self.model, "_flat_metrics", None)
            for m in (flat() if flat else getattr(self.model, "metrics", [])):
                if m.name == name and getattr(m, "direction", None):
                    self.monitor_op = np.greater if m.direction == "up" else np.less
            if self.monitor_op is None:
                raise ValueError("%s callback received monitor=%s, but gpunet isn't able to automatically determine "
                                 "whether that metric should be maximized or minimized. Pass `mode='max'` in order "
                                 "to maximize the metric, or `mode='min'` to minimize it."
                                 % (type(self).__name__, self.monitor))
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(MonitorCallback):
    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn("Early stopping conditioned on metric `%s` which is not available. Available metrics are: "
                          "%s" % (self.monitor, ",".join(logs or {})), stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print("Epoch %d: early stopping" % (self.stopped_epoch + 1))
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print("Restoring model weights from the end of the best epoch: %d." % (self.best_epoch + 1))
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0. Received factor=%r" % (factor,))
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn("Learning rate reduction is conditioned on metric `%s` which is not available. Available "
                          "metrics are: %s." % (self.monitor, ",".join(logs)), stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        _print("\nEpoch %d: ReduceLROnPlateau reducing learning rate to %s." % (epoch + 1, new))
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError('The output of the "schedule" function should be a float. Got: %r' % (lr,))
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            _print("\nEpoch %d: LearningRateScheduler setting learning rate to %s." % (epoch + 1, float(lr)))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """One row per epoch: `epoch` then the log keys sorted (val_ columns added up front when the
    first epoch has none), as Keras writes them."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.csv_file = self.writer = self.keys = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        mode = "w"
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend("val_" + k for k in list(self.keys))
        if self.writer is None:
            class Dialect(csv.excel):
                delimiter = self.sep
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, logs.get(k, "NA")) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            _print("Batch %d: Invalid loss, terminating training" % batch)
            self.model.stop_training = True


class LambdaCallback(Callback):
    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for hook, fn in given.items():
            if hook not in _HOOKS + ("on_batch_begin", "on_batch_end"):
                raise TypeError("LambdaCallback got an unknown hook %r" % hook)
            if fn is not None:
                setattr(self, hook, fn)

    def _overrides(self, hook):
        return hook in self.__dict__ or _LEGACY.get(hook) in self.__dict__


class ModelCheckpoint(MonitorCallback):
    """Saves the model (a .keras file) or its weights (a .weights.h5 file) every epoch or every
    `save_freq` batches; the path may hold format fields, e.g. "ckpt-{epoch:02d}-{val_loss:.2f}.keras"
    (epoch counted from 1, as Keras does)."""

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
