"""Saving and loading under faults: checksummed weights, no half-loaded model, file modes, symlinks,
read-only files, fsync, stale temp files, Ctrl-C (issue 16)."""
import os
import signal
import stat
import zipfile

import numpy as np
import pytest

import gpunet
from gpunet import callbacks, layers
from gpunet.saving import SavingError
from gpunet.saving import saving_lib
from keras_ref import keras

R = np.random.default_rng(61)
X = R.random((40, 6)).astype("float32")
Y = R.integers(0, 3, 40)


def model():
    m = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    return m


def trained():
    m = model()
    m.fit(X, Y, epochs=1, verbose=0)
    return m


def same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


# ---- corruption is detected: HDF5's Fletcher-32 checksum on every weight gpunet writes ----

def _flip_in_dataset(path, name):
    import h5py
    with h5py.File(path, "r") as f:
        ds = f[name]
        assert ds.fletcher32 and ds.chunks is not None
        offset = ds.id.get_chunk_info(0).byte_offset
    raw = bytearray(open(path, "rb").read())
    raw[offset + 17] ^= 0x01
    open(path, "wb").write(bytes(raw))


def _damaged_load_changes_nothing(tmp_path, damage, match):
    """A trained model's weights file, damaged, loaded into a fresh model: SavingError, the model as it was."""
    p = tmp_path / "m.weights.h5"
    trained().save_weights(p)
    damage(p)
    fresh = model()
    before = fresh.get_weights()
    with pytest.raises(SavingError, match=match):
        fresh.load_weights(p)
    assert same(before, fresh.get_weights())


def test_a_flipped_bit_in_a_kernel_is_refused(tmp_path):
    _damaged_load_changes_nothing(tmp_path, lambda p: _flip_in_dataset(p, "layers/dense/vars/0"),
                                  r"cannot read layers/dense/vars/0 \(layer 'dense_\d+'\): the file is corrupt")


def test_checksummed_files_still_load_in_keras(tmp_path):
    k = keras()
    m = trained()
    m.save(tmp_path / "m.keras")
    km = k.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(km.predict(X, verbose=0), m.predict(X, verbose=0), atol=1e-6)


def test_keras_files_without_checksums_load(tmp_path):
    k = keras()
    km = k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="relu"), k.layers.Dense(3, activation="softmax")])
    km.save_weights(tmp_path / "k.weights.h5")
    g = model()
    g.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(g.predict(X, verbose=0), km.predict(X, verbose=0), atol=1e-6)


# ---- no half-loaded model: every array is read, converted and checked before any is assigned ----

def _replace_with_strings(path, name):
    import h5py
    with h5py.File(path, "r+") as f:
        shape = f[name].shape
        del f[name]
        f.create_dataset(name, data=np.full(shape, b"x", dtype="S1"))


def test_strings_in_the_last_bias_leave_the_model_untouched(tmp_path):
    _damaged_load_changes_nothing(tmp_path, lambda p: _replace_with_strings(p, "layers/dense_1/vars/1"),
                                  r"layers/dense_1/vars/1 \(layer 'dense_\d+'\) holds string data, not numbers")


def test_strings_in_a_legacy_h5_leave_the_model_untouched(tmp_path):
    k = keras()
    km = k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="relu", name="d0"),
                       k.layers.Dense(3, activation="softmax", name="d1")])
    km.save(tmp_path / "k.h5")
    import h5py
    with h5py.File(tmp_path / "k.h5") as f:
        names = []
        f.visit(names.append)
    _replace_with_strings(tmp_path / "k.h5", next(n for n in names if n.endswith("d1/bias")))
    fresh = model()
    before = fresh.get_weights()
    with pytest.raises(SavingError, match=r"d1/.*bias.* holds string data"):
        fresh.load_weights(tmp_path / "k.h5")
    assert same(before, fresh.get_weights())


def test_keras_model_compiled_but_never_trained_loads(tmp_path):
    """Keras saves such a model's optimizer unbuilt (iteration and learning rate only)."""
    k = keras()
    km = k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="relu"), k.layers.Dense(3, activation="softmax")])
    km.compile(optimizer=k.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    km.save(tmp_path / "k.keras")
    import h5py
    with zipfile.ZipFile(tmp_path / "k.keras") as z:
        z.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5") as f:
        assert len(f["optimizer/vars"]) == 2
    g = gpunet.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(g.predict(X, verbose=0), km.predict(X, verbose=0), atol=1e-6)
    assert g.optimizer.learning_rate == pytest.approx(0.003) and int(g.optimizer.iterations.numpy()) == 0
    h = g.fit(X, Y, epochs=2, verbose=0).history
    assert h["loss"][1] < h["loss"][0]


def test_a_mismatched_optimizer_state_is_refused_before_the_weights_change(tmp_path):
    m = trained()
    m.save(tmp_path / "m.keras")
    other = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    other.compile(gpunet.optimizers.Adam(amsgrad=True), "sparse_categorical_crossentropy")
    other.fit(X, Y, epochs=1, verbose=0)
    before = other.get_weights()
    with pytest.raises(SavingError, match="Optimizer 'adam' has"):
        saving_lib._read_h5(_weights_of(tmp_path / "m.keras"), other, "m.keras")
    assert same(before, other.get_weights())


def _weights_of(path):
    import io
    with zipfile.ZipFile(path) as z:
        return io.BytesIO(z.read("model.weights.h5"))


# ---- loading errors say what to do ----

def custom_loss(t, p):
    return gpunet.ops.mean((t - p) ** 2)


def test_unknown_custom_loss_hints_at_custom_objects(tmp_path):
    m = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(3)])
    m.compile("adam", loss=custom_loss)
    m.save(tmp_path / "c.keras")
    with pytest.raises(SavingError, match=r"Unknown loss: 'custom_loss'.*custom_objects=\{name: object\}.*"
                                          r"compile=False"):
        gpunet.models.load_model(tmp_path / "c.keras")
    g = gpunet.models.load_model(tmp_path / "c.keras", custom_objects={"custom_loss": custom_loss})
    assert g.loss is custom_loss
    assert gpunet.models.load_model(tmp_path / "c.keras", compile=False).compiled is False


@pytest.mark.parametrize("bad", [[custom_loss], "custom_loss", 3])
def test_custom_objects_of_the_wrong_type(tmp_path, bad):
    model().save(tmp_path / "m.keras")
    with pytest.raises(TypeError, match=r"custom_objects must be a dict \{name: class or function\}, received"):
        gpunet.models.load_model(tmp_path / "m.keras", custom_objects=bad)


def test_a_bad_value_in_config_json_is_a_saving_error(tmp_path):
    import json
    model().save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    cfg = json.loads(files["config.json"])
    cfg["config"]["layers"][1]["config"]["units"] = -3
    files["config.json"] = json.dumps(cfg).encode()
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as z:
        for n, b in files.items():
            z.writestr(n, b)
    with pytest.raises(SavingError, match=r"bad\.keras: its config cannot be rebuilt: ValueError: .*`units` must be a "
                                          r"positive integer, received -3"):
        gpunet.models.load_model(tmp_path / "bad.keras")


# ---- files: where and how they are written ----

def test_saving_onto_a_directory(tmp_path):
    (tmp_path / "m.keras").mkdir()
    with pytest.raises(SavingError, match=r"m\.keras is a directory: cannot save a file there"):
        model().save(tmp_path / "m.keras")
    with pytest.raises(SavingError, match="is a directory"):
        saving_lib.check_save_path(tmp_path / "m.keras")


def test_saved_files_get_the_umask_mode_or_keep_their_own(tmp_path):
    old = os.umask(0o022)
    try:
        m = model()
        m.save(tmp_path / "m.keras")
        m.save_weights(tmp_path / "m.weights.h5")
        assert stat.S_IMODE(os.stat(tmp_path / "m.keras").st_mode) == 0o644
        assert stat.S_IMODE(os.stat(tmp_path / "m.weights.h5").st_mode) == 0o644
        os.chmod(tmp_path / "m.keras", 0o640)
        m.save(tmp_path / "m.keras")  # an existing file keeps its mode, as open(..., "w") leaves it
        assert stat.S_IMODE(os.stat(tmp_path / "m.keras").st_mode) == 0o640
    finally:
        os.umask(old)


def test_saving_onto_a_symlink_writes_through_to_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.keras"
    model().save(target)
    link = tmp_path / "latest.keras"
    link.symlink_to(target)
    m = trained()
    m.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_allclose(gpunet.models.load_model(target).predict(X, verbose=0), m.predict(X, verbose=0))


def test_saving_over_a_read_only_file_is_refused(tmp_path):
    p = tmp_path / "m.keras"
    model().save(p)
    good = p.read_bytes()
    os.chmod(p, 0o444)
    with pytest.raises(PermissionError, match="m.keras is read-only"):
        trained().save(p)
    with pytest.raises(PermissionError):
        saving_lib.check_save_path(p)
    assert p.read_bytes() == good


def test_the_file_and_its_directory_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", None))
        return real_replace(a, b)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    model().save(tmp_path / "m.keras")
    assert events == [("fsync", False), ("replace", None), ("fsync", True)]


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / (".m.keras.tmp-%d-abc123.tmp" % dead_pid)
    stale.write_bytes(b"\0" * 1000)
    alive = tmp_path / (".m.keras.tmp-%d-def456.tmp" % os.getppid())  # a live writer's file stays
    alive.write_bytes(b"\0")
    other = tmp_path / (".other.keras.tmp-%d-abc123.tmp" % dead_pid)  # another target's: not ours to remove
    other.write_bytes(b"\0")
    model().save(tmp_path / "m.keras")
    assert sorted(os.listdir(tmp_path)) == sorted(["m.keras", alive.name, other.name])


# ---- Ctrl-C ----

def test_ctrl_c_during_a_save_is_delivered_after_the_file_is_whole(tmp_path, monkeypatch):
    m = trained()
    real = saving_lib._write_h5

    def interrupted(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)  # arrives mid-save
        return real(*a, **k)
    monkeypatch.setattr(saving_lib, "_write_h5", interrupted)
    with pytest.raises(KeyboardInterrupt):
        m.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(gpunet.models.load_model(tmp_path / "m.keras").predict(X, verbose=0),
                                  m.predict(X, verbose=0))
    assert os.listdir(tmp_path) == ["m.keras"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _SwallowedInterrupt:
    """Sends SIGINT from a destructor: Python prints the KeyboardInterrupt as 'Exception ignored' and drops it,
    as it does inside h5py's weakref callbacks."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # give the handler a bytecode boundary inside this destructor
            pass


class _Counter(callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at, self.batches = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.at:
            _SwallowedInterrupt()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed one, on purpose
def test_a_swallowed_ctrl_c_still_stops_fit_at_the_next_batch(tmp_path):
    m = model()
    counter = _Counter(at=3)
    ck = callbacks.ModelCheckpoint(str(tmp_path / "ck.keras"))
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, Y, batch_size=4, epochs=50, callbacks=[counter, ck], verbose=0)
    assert counter.batches <= 4  # stopped at the next hook, not after 500 batches
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    m.fit(X, Y, epochs=1, verbose=0)  # nothing left pending: the next fit runs


def test_ctrl_c_during_a_checkpoint_leaves_the_last_checkpoint_intact(tmp_path, monkeypatch):
    m = model()
    saves = []
    real = saving_lib._write_h5

    def write(*a, **k):
        saves.append(1)
        if len(saves) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)
    monkeypatch.setattr(saving_lib, "_write_h5", write)
    ck = callbacks.ModelCheckpoint(str(tmp_path / "ck.keras"))
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, Y, batch_size=8, epochs=5, callbacks=[ck], verbose=0)
    assert len(saves) == 2
    g = gpunet.models.load_model(tmp_path / "ck.keras")  # epoch 2's checkpoint, whole
    np.testing.assert_array_equal(g.predict(X, verbose=0), m.predict(X, verbose=0))
    assert sorted(os.listdir(tmp_path)) == ["ck.keras"]
