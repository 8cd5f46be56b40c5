"""The script tests/test_distribution.py runs under `mpirun -n 2` (and alone, as the one-process reference).

    python tests/mpi_worker.py <scenario> <out dir> [single|dp] [args...]

Each scenario writes what it measured to <out dir> as rank-<r>-<name>.npz / .json; the test compares."""
import json
import os
import signal
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import gpunet as keras  # noqa: E402

BATCH = 64


def data(n, features=12, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (np.abs(x[:, :classes]).argmax(axis=1) + (x[:, -1] > 1.5)) % classes
    return x, y.astype("int64")


def model_fast():
    """The compiled CPU step / the GPU launch program: Dense stack, softmax + sparse cross-entropy, Adam."""
    keras.utils.set_random_seed(3)
    m = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(5, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def model_tape():
    """The tape path: a regularizer, one-hot targets, sample weights, clipping, confusion-matrix metrics."""
    keras.utils.set_random_seed(4)
    inp = keras.Input((12,))
    h = keras.layers.Dense(10, activation="tanh", kernel_regularizer=keras.regularizers.L2(1e-3))(inp)
    out = keras.layers.Dense(5, activation="softmax")(h)
    m = keras.Model(inp, out)
    m.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, clipnorm=1.0), loss="categorical_crossentropy",
              metrics=["categorical_accuracy", keras.metrics.Precision(name="precision"),
                       keras.metrics.F1Score(average="macro", name="f1")])
    return m


def model_multi():
    """Two outputs: a classifier and a regression head, each with its loss and metric."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((12,), name="x")
    h = keras.layers.Dense(8, activation="relu")(inp)
    cls = keras.layers.Dense(5, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    m = keras.Model(inp, [cls, reg])
    m.compile(optimizer="rmsprop", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
              metrics=[["accuracy"], ["mae"]])
    return m


def run_equal(out, dist):
    """Three models trained, evaluated and predicted; every number saved."""
    rank = keras.distribution.process_id() if dist else 0
    results = {}
    # fast: 1025 training rows -> the last batch has 1 row: rank 1 has none in that step
    x, y = data(1282)
    m = model_fast()
    h = m.fit(x, y, batch_size=BATCH, epochs=3, validation_split=0.2, verbose=0)
    results["fast"] = (m, h, m.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True), m.predict(x[:77], verbose=0))
    # the same with run_eagerly=True: the tape instead of the compiled step, the same numbers
    m = model_fast()
    m.run_eagerly = True
    h = m.fit(x, y, batch_size=BATCH, epochs=3, validation_split=0.2, verbose=0)
    results["eager"] = (m, h, m.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True), m.predict(x[:77], verbose=0))
    # tape: 999 rows (last batch 39: 19 + 20), sample weights, one-hot targets
    x, y = data(999, seed=1)
    sw = np.linspace(0.5, 1.5, len(x)).astype("float32")
    m = model_tape()
    h = m.fit(x, np.eye(5, dtype="float32")[y], sample_weight=sw, batch_size=BATCH, epochs=2, verbose=0,
              validation_data=(x[:130], np.eye(5, dtype="float32")[y[:130]]))
    results["tape"] = (m, h, m.evaluate(x, np.eye(5, dtype="float32")[y], batch_size=BATCH, verbose=0, return_dict=True),
                       m.predict(x[:77], verbose=0))
    # multi: no shuffling, 700 rows
    x, y = data(700, seed=2)
    m = model_multi()
    h = m.fit(x, [y, x[:, :1]], batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    results["multi"] = (m, h, m.evaluate(x, [y, x[:, :1]], batch_size=BATCH, verbose=0, return_dict=True),
                        m.predict(x[:77], verbose=0))
    for name, (m, h, ev, pred) in results.items():
        preds = pred if isinstance(pred, list) else [pred]
        how = "dp" if dist else "single"
        np.savez(os.path.join(out, "%s-rank-%d-%s.npz" % (how, rank, name)), *m.get_weights(),
                 **{"pred%d" % i: p for i, p in enumerate(preds)})
        with open(os.path.join(out, "%s-rank-%d-%s.json" % (how, rank, name)), "w") as f:
            json.dump({"history": h.history, "evaluate": ev}, f)


class CountingCheckpoint(keras.callbacks.ModelCheckpoint):
    """Records which process saved (ModelCheckpoint is rank-0-only under DataParallel)."""

    def _save(self, epoch, batch, logs):
        with open(os.path.join(os.path.dirname(self.filepath), "saved-by-rank-%d" % keras.distribution.process_id()),
                  "a") as f:
            f.write("%d\n" % epoch)
        return super()._save(epoch, batch, logs)


def run_checkpoint(out, dist, phase):
    """phase "first": 1 of 2 epochs with a checkpoint; "resume": load it, train epoch 2; "whole": 2 epochs."""
    rank = keras.distribution.process_id() if dist else 0
    x, y = data(1000, seed=7)
    path = os.path.join(out, "ckpt.keras")
    if phase == "first":
        m = model_fast()
        m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[CountingCheckpoint(path, monitor="loss")])
        return
    if phase == "resume":
        m = keras.saving.load_model(path)
        m.fit(x, y, batch_size=BATCH, epochs=2, initial_epoch=1, verbose=0)
    else:
        m = model_fast()
        m.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    np.savez(os.path.join(out, "rank-%d-%s-%s.npz" % (rank, phase, "dp" if dist else "single")), *m.get_weights())


def run_fail(out, dist, mode):
    """A process that dies, hangs, raises, disagrees, or stops on its own."""
    rank = keras.distribution.process_id()
    x, y = data(512, seed=3)
    if mode == "disagree" and rank == 1:
        x, y = x[:-1], y[:-1]
    m = model_fast()
    if mode == "model" and rank == 1:  # another architecture on one process
        m = keras.Sequential([keras.Input((12,)), keras.layers.Dense(17, activation="relu"),
                              keras.layers.Dense(5, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    class Trouble(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1 and rank == 1:
                sys.stdout.flush()
                if mode == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if mode == "hang":
                    time.sleep(600)
                if mode == "raise":
                    raise RuntimeError("rank 1 broke on purpose")

        def on_train_batch_end(self, batch, logs=None):
            if mode == "stop" and rank == 1 and batch == 2:
                self.model.stop_training = True

    batch = 63 if mode == "indivisible" else BATCH
    if mode == "custom":
        class Custom(keras.Sequential):
            def train_step(self, data):
                return super().train_step(data)
        m = Custom(m.layers)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h = m.fit(x, y, batch_size=batch, epochs=3, verbose=0, callbacks=[Trouble()])
    np.savez(os.path.join(out, "rank-%d-%s.npz" % (rank, mode)), *m.get_weights(),
             epochs=np.array(len(h.history["loss"])), steps=np.array(m.optimizer.iterations.numpy()))
    print("rank %d finished" % rank)


def run_emulated(out, dist):
    """The launch program (GPUNET_KERNELS=emulate) with the all-reduce among its launches."""
    from gpunet.training import gpu_step
    built = []
    original = gpu_step.TrainProgram.build

    def recording(*args, **kwargs):
        prog = original(*args, **kwargs)
        built.append(prog is not None)
        return prog
    gpu_step.TrainProgram.build = staticmethod(recording)
    rank = keras.distribution.process_id() if dist else 0
    x, y = data(1025 + 300, seed=9)  # 1060 training rows: the last batch has 36 (18 + 18)
    m = model_fast()
    h = m.fit(x, y, batch_size=BATCH, epochs=2, validation_split=0.2, verbose=0)
    np.savez(os.path.join(out, "rank-%d-emulated-%s.npz" % (rank, "dp" if dist else "single")), *m.get_weights(),
             program=np.array(all(built) and bool(built)), loss=np.array(h.history["loss"]),
             val_loss=np.array(h.history["val_loss"]))


class _Patch:
    """monkeypatch.setattr for a script (cupy_standin.installed takes one)."""

    def setattr(self, obj, name, value):
        setattr(obj, name, value)


def run_nccl_standin(out, dist):
    """The GPU path without a GPU: the CuPy stand-in (tests/cupy_standin.py: CuPy's streams and capture rules,
    kernels emulated) and a stand-in NCCL whose collectives run over MPI. So fit takes the "cuda" kernels, the
    NCCL communicator and the captured launch program with its all-reduce recorded into the graph."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cupy_standin
    from gpunet.distribution import comm
    comm._nccl_module = lambda: cupy_standin.FakeNccl
    with cupy_standin.installed(_Patch()) as counters:
        if dist:  # inside: the backend is "cuda" now, so the job connects over (stand-in) NCCL
            keras.distribution.set_distribution(keras.distribution.DataParallel())
            assert keras.distribution.list_devices() == ["gpu:0", "gpu:1"] == keras.distribution.list_devices("GPU")
            assert keras.distribution.list_devices("cpu") == []  # a process drives its GPU, not a CPU device
            assert type(keras.distribution.communicator()).__name__ == "NCCLComm"
        rank = keras.distribution.process_id() if dist else 0
        x, y = data(1025 + 300, seed=9)
        m = model_fast()
        h = m.fit(x, y, batch_size=BATCH, epochs=2, validation_split=0.2, verbose=0)
        ev = m.evaluate(x, y, batch_size=BATCH, verbose=0)
        pred = m.predict(x[:77], verbose=0)
        weights = [np.asarray(w) for w in m.get_weights()]
    np.savez(os.path.join(out, "rank-%d-nccl-%s.npz" % (rank, "dp" if dist else "single")), *weights,
             loss=np.array(h.history["loss"]), val_loss=np.array(h.history["val_loss"]), evaluate=np.array(ev),
             pred=np.asarray(pred), captures=np.array(counters.captures), replays=np.array(counters.replays),
             **{"nccl_" + k: np.array(v) for k, v in cupy_standin.FakeNccl.counts.items()})


def main():
    scenario, out, how = sys.argv[1], sys.argv[2], sys.argv[3]
    dist = how == "dp"
    if scenario == "nccl":
        return run_nccl_standin(out, dist)
    if dist:
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    if scenario == "equal":
        run_equal(out, dist)
    elif scenario == "checkpoint":
        run_checkpoint(out, dist, sys.argv[4])
    elif scenario == "fail":
        run_fail(out, dist, sys.argv[4])
    elif scenario == "emulated":
        run_emulated(out, dist)
    else:
        raise SystemExit("unknown scenario %r" % scenario)


if __name__ == "__main__":
    main()
