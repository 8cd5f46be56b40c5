"""The Callback base class, the CallbackList that drives the hooks (logs handed over as Keras
hands them), History and the progress bar."""
import sys

from ..common import interrupts
from ..common.progbar import Progbar


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
    _rank_zero_only = True  # under DataParallel only process 0 writes or prints (training/parallel.py)

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
        interrupts.check()  # a Ctrl-C swallowed somewhere in the last batch stops the loop here
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
            interrupts.check()
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
