"""Keras callbacks: the base class, the list that drives them, History and ProgbarLogger."""
import sys

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
        return getattr(type(self), hook) is not getattr(Callback, hook)


for _h in _HOOKS:
    setattr(Callback, _h, lambda self, *a, **k: None)


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
        self.callbacks = list(callbacks or [])
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
                    materialised = logs() if callable(logs) else (logs or {})
                fn(batch, materialised)

    def wants_batch_logs(self, hook):
        return any(c._overrides(hook) and not isinstance(c, ProgbarLogger) for c in self.callbacks)


def _hook(name, batch):
    if batch:
        return lambda self, b, logs=None: self._batch(name, b, logs)
    return lambda self, *args: self._call(name, *args)


for _h in _HOOKS:
    setattr(CallbackList, _h, _hook(_h, "batch" in _h))
