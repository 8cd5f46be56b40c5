import csv
import math

import numpy as np
import pytest

import gpunet
from gpunet import callbacks, layers

R = np.random.default_rng(5)


def small_model(lr=0.01, opt="sgd"):
    m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=gpunet.optimizers.get(opt) if opt != "sgd" else gpunet.optimizers.SGD(lr),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


X = R.random((64, 4)).astype("float32")
Y = R.integers(0, 3, 64)


class Scripted(callbacks.Callback):
    """Overwrites the monitored value with a script (it runs before the callback under test) and
    records the weights after each epoch."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values, self.weights = key, values, []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def test_hook_order():
    calls = []

    class Rec(callbacks.Callback):
        pass
    for h in callbacks._HOOKS:
        setattr(Rec, h, (lambda name: lambda self, *a, **k: calls.append(name))(h))
    m = small_model()
    m.fit(X, Y, batch_size=32, epochs=2, validation_data=(X[:8], Y[:8]), verbose=0, callbacks=[Rec()])
    epoch = ["on_epoch_begin", "on_train_batch_begin", "on_train_batch_end", "on_train_batch_begin",
             "on_train_batch_end", "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
             "on_epoch_end"]  # Keras: fit's validation is an evaluate() with the same callbacks
    assert calls == ["on_train_begin"] + epoch + epoch + ["on_train_end"]
    calls.clear()
    m.evaluate(X, Y, batch_size=64, verbose=0, callbacks=[Rec()])
    assert calls == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end"]
    calls.clear()
    m.predict(X, batch_size=64, verbose=0, callbacks=[Rec()])
    assert calls == ["on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]


def test_set_params_and_model():
    seen = {}

    class P(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.update(self.params, model=self.model)
    m = small_model()
    m.fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[P()])
    assert seen["epochs"] == 3 and seen["steps"] == 4 and seen["model"] is m


def test_early_stopping_stops_and_restores_best():
    script = Scripted("val_loss", [1.0, 0.8, 0.5, 0.6, 0.7, 0.9, 0.4, 0.3])
    es = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    m = small_model()
    h = m.fit(X, Y, epochs=8, verbose=0, validation_data=(X, Y), callbacks=[script, es])
    assert h.epoch == [0, 1, 2, 3, 4]  # best at epoch 2, two epochs without improvement
    assert es.stopped_epoch == 4 and es.best_epoch == 2 and es.best == 0.5
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), script.weights[2]))


def test_early_stopping_modes_baseline_min_delta_start():
    es = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)  # auto -> max for accuracy
    m = small_model()
    h = m.fit(X, Y, epochs=6, verbose=0, validation_data=(X, Y),
              callbacks=[Scripted("val_accuracy", [0.5, 0.6, 0.6, 0.7, 0.8, 0.9]), es])
    assert len(h.epoch) == 3
    es = callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.15)
    h = small_model().fit(X, Y, epochs=6, verbose=0, validation_data=(X, Y),
                          callbacks=[Scripted("val_loss", [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]), es])
    assert len(h.epoch) == 2  # improvements of 0.1 are below min_delta
    seq = [1.0, 0.9, 0.95, 0.97, 0.6, 0.5]
    for baseline, epochs in ((0.5, 3), (None, 4)):  # above the baseline, improvements don't reset patience
        es = callbacks.EarlyStopping(monitor="val_loss", patience=2, baseline=baseline)
        h = small_model().fit(X, Y, epochs=6, verbose=0, validation_data=(X, Y), callbacks=[Scripted("val_loss", seq), es])
        assert len(h.epoch) == epochs
    es = callbacks.EarlyStopping(monitor="val_loss", patience=0, start_from_epoch=3)
    h = small_model().fit(X, Y, epochs=6, verbose=0, validation_data=(X, Y),
                          callbacks=[Scripted("val_loss", [1.0, 2.0, 3.0, 0.5, 0.6, 0.1]), es])
    assert len(h.epoch) == 5
    with pytest.raises(ValueError, match="mode='max'"):
        small_model().fit(X, Y, epochs=1, verbose=0, callbacks=[
            Scripted("weird", [1.0]), callbacks.EarlyStopping(monitor="weird")])


def test_reduce_lr_on_plateau():
    script = Scripted("val_loss", [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.002)
    m = small_model(lr=0.01)
    h = m.fit(X, Y, epochs=8, verbose=0, validation_data=(X, Y), callbacks=[script, cb])
    # logged before the reduction of that epoch: wait hits 2 at epoch 3 -> 0.005; the cooldown epoch
    # resets wait, which is counted again in the same epoch; 2 at epoch 5 -> 0.0025; epoch 7 -> min_lr
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert m.optimizer.learning_rate == pytest.approx(0.002)


def test_learning_rate_scheduler():
    m = small_model(lr=0.1)
    h = m.fit(X, Y, epochs=3, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: lr * 0.5)])
    assert h.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    m = small_model()
    h = m.fit(X, Y, epochs=3, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], h.history["loss"], rtol=1e-12)
    m.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    assert len(list(csv.reader(open(path)))) == 5  # appended, no second header


def test_terminate_on_nan():
    x = R.standard_normal((256, 4)).astype("float32") * 10
    y = R.standard_normal((256, 1)).astype("float32") * 10
    m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(1)])
    m.compile(optimizer=gpunet.optimizers.SGD(1e8), loss="mse")
    seen = []
    h = m.fit(x, y, epochs=5, batch_size=8, verbose=0,
              callbacks=[callbacks.TerminateOnNaN(),
                         callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))])
    assert not math.isfinite(seen[-1]) and len(seen) < 5 * 32
    assert len(h.epoch) == 1


def test_lambda_callback():
    ends = []
    small_model().fit(X, Y, epochs=2, verbose=0,
                      callbacks=[callbacks.LambdaCallback(on_epoch_end=lambda e, logs: ends.append((e, sorted(logs))))])
    assert ends == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]


@pytest.mark.slow
def test_fashion_mnist_script_with_callbacks(tmp_path, data_dir):
    import os
    (xt, yt), (xs, ys) = gpunet.datasets.fashion_mnist.load_data(path=os.path.join(data_dir, "fashion-mnist"))
    xt, xs = xt[:12000] / 255.0, xs / 255.0
    m = gpunet.Sequential([gpunet.Input((28, 28)), layers.Flatten(), layers.Dense(64, activation="relu"),
                           layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cbs = [callbacks.EarlyStopping(patience=1, restore_best_weights=True),
           callbacks.ReduceLROnPlateau(patience=1, factor=0.5), callbacks.CSVLogger(tmp_path / "train.csv")]
    h = m.fit(xt, yt[:12000], epochs=4, validation_split=0.2, callbacks=cbs, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert len(open(tmp_path / "train.csv").readlines()) == len(h.epoch) + 1
    assert m.evaluate(xs, ys, verbose=0)[1] > 0.8


# ---- the callback contract of the Keras guide "Writing your own callbacks" ----

def test_guide_custom_callback_sees_log_dicts_everywhere():
    """Every hook gets a dict (begin hooks an empty one), so `list(logs.keys())` works everywhere."""
    seen = []

    class CustomCallback(callbacks.Callback):
        pass
    for h in callbacks._HOOKS:
        def hook(self, *args, _h=h):
            logs = args[-1]
            seen.append((_h, sorted(logs.keys())))
        setattr(CustomCallback, h, hook)
    m = small_model()
    m.fit(X, Y, batch_size=32, epochs=1, verbose=0, validation_split=0.5, callbacks=[CustomCallback()])
    d = dict(seen)
    assert d["on_train_begin"] == [] and d["on_epoch_begin"] == [] and d["on_train_batch_begin"] == []
    assert d["on_train_batch_end"] == ["accuracy", "loss"]
    assert d["on_test_batch_end"] == ["accuracy", "loss"]
    assert d["on_epoch_end"] == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert d["on_train_end"] == ["accuracy", "loss", "val_accuracy", "val_loss"]
    seen.clear()
    m.evaluate(X, Y, batch_size=32, verbose=0, callbacks=[CustomCallback()])
    assert dict(seen)["on_test_end"] == ["accuracy", "loss"]
    seen.clear()
    m.predict(X, batch_size=32, verbose=0, callbacks=[CustomCallback()])
    assert dict(seen)["on_predict_batch_end"] == ["outputs"] and dict(seen)["on_predict_end"] == []


def test_hooks_without_default_logs_legacy_batch_hooks_and_a_bare_callback():
    calls = []

    class NoDefaults(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs):  # no `logs=None`: Keras always passes logs
            calls.append(("epoch_begin", epoch, logs))

        def on_train_begin(self, logs):
            calls.append(("train_begin", logs))

        def on_batch_end(self, batch, logs):  # legacy name: Keras calls it for every training batch
            calls.append(("batch_end", batch, round(logs["loss"], 6)))
    m = small_model()
    h = m.fit(X, Y, batch_size=32, epochs=1, verbose=0, callbacks=NoDefaults())  # not a list
    assert calls[:2] == [("train_begin", {}), ("epoch_begin", 0, {})]
    assert [c[:2] for c in calls[2:]] == [("batch_end", 0), ("batch_end", 1)]
    assert isinstance(calls[-1][2], float)
    assert list(h.history) == ["accuracy", "loss"]
    with pytest.raises(TypeError, match="Callback instances.*str"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=["early_stopping"])


def test_lambda_callback_with_positional_logs():
    got = []
    cb = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: got.append(("b", epoch, logs)),
                                  on_epoch_end=lambda epoch, logs: got.append(("e", epoch, sorted(logs))),
                                  on_batch_end=lambda batch, logs: got.append(("batch", batch)),
                                  on_train_end=lambda logs: got.append(("end", sorted(logs))))
    small_model().fit(X, Y, batch_size=64, epochs=2, verbose=0, callbacks=[cb])
    assert got == [("b", 0, {}), ("batch", 0), ("e", 0, ["accuracy", "loss"]), ("b", 1, {}), ("batch", 0),
                   ("e", 1, ["accuracy", "loss"]), ("end", ["accuracy", "loss"])]


def test_guide_early_stopping_at_min_loss_and_lr_schedule_callbacks():
    """The guide's EarlyStoppingAtMinLoss and CustomLearningRateScheduler, as written there."""
    class EarlyStoppingAtMinLoss(callbacks.Callback):
        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait, self.stopped_epoch, self.best = 0, 0, np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best, self.wait = current, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    self.model.set_weights(self.best_weights)

    class CustomLearningRateScheduler(callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            lr = self.model.optimizer.learning_rate
            self.model.optimizer.learning_rate = self.schedule(epoch, float(np.array(lr)))

    m = small_model(lr=5.0)  # diverging on purpose: the loss stops improving
    sched = CustomLearningRateScheduler(lambda epoch, lr: lr * 2)
    stop = EarlyStoppingAtMinLoss(patience=1)
    h = m.fit(X, Y, batch_size=8, epochs=30, verbose=0, callbacks=[stop, sched])
    assert len(h.history["loss"]) < 30 and stop.stopped_epoch > 0
    assert m.optimizer.learning_rate == pytest.approx(5.0 * 2 ** len(h.history["loss"]))


def test_backup_and_restore_resumes_bit_identically(tmp_path):
    """An interrupted fit resumed through BackupAndRestore ends with exactly the weights of an
    uninterrupted one (same epochs, same shuffles and dropout masks, same optimizer state)."""
    def model():
        gpunet.utils.set_random_seed(4)
        m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m
    ref = model()
    ref.fit(X, Y, epochs=5, batch_size=16, verbose=0)

    class Interrupt(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("interrupted")
    backup = str(tmp_path / "backup")
    m = model()
    with pytest.raises(RuntimeError, match="interrupted"):
        m.fit(X, Y, epochs=5, batch_size=16, verbose=0, callbacks=[callbacks.BackupAndRestore(backup), Interrupt()])
    m2 = model()  # a fresh process would start from a fresh model
    h = m2.fit(X, Y, epochs=5, batch_size=16, verbose=0, callbacks=[callbacks.BackupAndRestore(backup)])
    assert h.epoch == [3, 4]
    for a, b in zip(m2.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup").exists()  # deleted at the end of a completed fit
