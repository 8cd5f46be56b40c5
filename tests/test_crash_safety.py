"""Crashes and full disks while saving (issue 29, items 8, 9, 13): a backup is one atomic unit, so a process
killed at any point of a save resumes exactly like an uninterrupted run; a full disk or a file-size limit is a
clear error and the process exits normally; a folder that cannot be written is found before training."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gpunet
from gpunet import callbacks, layers
from gpunet.saving import SavingError

HERE = os.path.dirname(os.path.abspath(__file__))

# One training process: fit 4 epochs with BackupAndRestore; with KILL=k it SIGKILLs itself at the k-th save event
# of the third backup (each intercepted call, just before and just after it), and prints how many events that save
# had. It ends by printing the SHA-256 of the final weights.
CHILD = textwrap.dedent("""
    import hashlib, os, signal, sys
    import numpy as np
    import gpunet
    from gpunet import callbacks, layers
    from gpunet.saving import saving_lib
    backup, double, kill = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
    R = np.random.default_rng(8)
    X, Y = R.random((64, 5)).astype("float32"), R.integers(0, 3, 64)
    gpunet.utils.set_random_seed(3)
    m = gpunet.Sequential([gpunet.Input((5,)), layers.Dense(16, activation="relu"), layers.Dropout(0.2),
                           layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    events, state = [], {"saves": 0}

    def event(name):
        if state["saves"] == 3:
            events.append(name)
            if len(events) == kill:
                os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, attr):
        real = getattr(owner, attr)
        def hooked(*a, **k):
            event("before " + attr)
            out = real(*a, **k)
            event("after " + attr)
            return out
        setattr(owner, attr, hooked)
    for name in ("replace", "remove", "fsync", "posix_fallocate", "makedirs"):
        wrap(os, name)
    wrap(saving_lib, "_write_h5")

    class Counting(callbacks.BackupAndRestore):
        def _save(self, epoch):
            state["saves"] += 1
            event("save begins")
            super()._save(epoch)
            event("save ends")
    m.fit(X, Y, epochs=4, batch_size=16, verbose=0, callbacks=[Counting(backup, double_checkpoint=double)])
    print("EVENTS", len([e for e in events]))
    print("WEIGHTS", hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in m.get_weights())).hexdigest())
""")


def _run(backup, double, kill):
    r = subprocess.run([sys.executable, "-c", CHILD, str(backup), "1" if double else "0", str(kill)],
                       capture_output=True, text=True, timeout=300, cwd=HERE)
    return r


def _value(r, key):
    for line in r.stdout.splitlines():
        if line.startswith(key + " "):
            return line.split(" ", 1)[1]
    raise AssertionError("no %s in the child's output: %s %s" % (key, r.stdout, r.stderr))


@pytest.mark.parametrize("double", [False, True], ids=["single", "double_checkpoint"])
def test_a_process_killed_at_any_point_of_a_backup_resumes_bit_for_bit(tmp_path, double):
    reference = _run(tmp_path / "ref", double, 0)
    assert reference.returncode == 0, reference.stderr
    weights, count = _value(reference, "WEIGHTS"), int(_value(reference, "EVENTS"))
    assert count >= 12  # the save's calls: makedirs, (replace), fallocate, write, fsyncs, rename, ...

    def killed_then_resumed(k):
        backup = tmp_path / ("b%d" % k)
        first = _run(backup, double, k)
        assert first.returncode == -signal.SIGKILL, (k, first.stdout, first.stderr)
        second = _run(backup, double, 0)  # a fresh process resumes from whatever the killed one left
        assert second.returncode == 0, (k, second.stderr)
        return k, _value(second, "WEIGHTS")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(killed_then_resumed, range(1, count + 1)))
    wrong = [k for k, w in results if w != weights]
    assert not wrong, "resumed weights differ from the uninterrupted run when killed at save events %s" % wrong


def _model():
    m = gpunet.Sequential([gpunet.Input((5,)), layers.Dense(4), layers.Dense(2)])
    m.compile("adam", "mse")
    return m


X5 = np.random.default_rng(5).random((16, 5)).astype("float32")
Y2 = np.zeros((16, 2), "float32")


@pytest.mark.parametrize("content", ["{not json", '{"seed": 3}', "[1, 2]"])
def test_a_damaged_training_metadata_json_is_a_clear_error(tmp_path, content):
    """An earlier gpunet's backup (weights + training_metadata.json) with damaged metadata."""
    backup = tmp_path / "backup"
    backup.mkdir()
    _model().save_weights(backup / "latest.weights.h5")
    (backup / "training_metadata.json").write_text(content)
    with pytest.raises(SavingError, match=r"BackupAndRestore: .*training_metadata.json is damaged.*delete .*backup to "
                                          r"start over"):
        _model().fit(X5, Y2, epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(str(backup))])


def test_an_earlier_backup_with_its_metadata_still_resumes(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    _model().save_weights(backup / "latest.weights.h5")
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "seed": 7}))
    h = _model().fit(X5, Y2, epochs=3, verbose=0, callbacks=[callbacks.BackupAndRestore(str(backup))])
    assert h.epoch == [2]


def test_a_damaged_resume_point_is_a_clear_error(tmp_path):
    import h5py
    backup = tmp_path / "backup"
    backup.mkdir()
    _model().save_weights(backup / "latest.weights.h5")
    with h5py.File(backup / "latest.weights.h5", "r+") as f:
        f.attrs["gpunet_resume_epoch"] = "three"
    with pytest.raises(SavingError, match="the resume point in .*latest.weights.h5 is damaged"):
        _model().fit(X5, Y2, epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(str(backup))])


# ---- item 9: a full disk or a file-size limit while saving ----

SAVE = textwrap.dedent("""
    import os, resource, sys
    import numpy as np, h5py, gpunet
    from gpunet import layers
    path, limit = sys.argv[1], sys.argv[2]
    m = gpunet.Sequential([gpunet.Input((1000,)), layers.Dense(4000), layers.Dense(10)])  # 16 MB of weights
    m.compile("adam", "mse")
    m.fit(np.zeros((4, 1000), "float32"), np.zeros((4, 10), "float32"), verbose=0)  # + 32 MB of Adam state
    if limit == "fsize":
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))  # `ulimit -f 1024`
    else:  # `ulimit -v`: 24 MiB more address space than the process has now, less than the weights + Adam state
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + (24 << 20), resource.RLIM_INFINITY))
    try:
        m.save(path) if path.endswith(".keras") else m.save_weights(path)
        print("SAVED")
    except (OSError, MemoryError) as e:
        print("ERROR", e)
""")


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_a_file_size_limit_during_save_is_an_error_and_the_process_exits_normally(tmp_path, name):
    old = tmp_path / name
    old.write_bytes(b"the previous save")
    r = subprocess.run([sys.executable, "-c", SAVE, str(old), "fsize"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "exit status %d (a crash at exit): %s" % (r.returncode, r.stderr[-2000:])
    assert "ERROR [Errno 27] The file exceeds the size limit while saving %s (File too large); %s was left as it " \
           "was" % (old, old) in r.stdout, r.stdout
    assert old.read_bytes() == b"the previous save"
    assert sorted(os.listdir(tmp_path)) == [name]  # no temp file left behind


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_a_memory_limit_during_save_never_crashes_the_process(tmp_path, name):
    """Under `ulimit -v` the save needs little memory now (HDF5 written by name, not built in memory): it saves, or
    says it ran out of memory; either way the process exits normally and a saved file loads."""
    path = tmp_path / name
    r = subprocess.run([sys.executable, "-c", SAVE, str(path), "memory"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, "exit status %d (a crash at exit): %s" % (r.returncode, r.stderr[-2000:])
    if "SAVED" in r.stdout:
        m = gpunet.Sequential([gpunet.Input((1000,)), layers.Dense(4000), layers.Dense(10)])
        m.compile("adam", "mse")
        gpunet.models.load_model(path) if name.endswith(".keras") else m.load_weights(path)
    else:
        assert "ERROR out of memory while saving %s" % path in r.stdout, r.stdout


def test_a_full_disk_is_said_in_words(tmp_path, monkeypatch):
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match=r"No space left on the device while saving .*m.keras.*nothing was written"):
        _model().save(tmp_path / "m.keras")
    assert os.listdir(tmp_path) == []


# ---- item 13: a folder that cannot be written is found before the first epoch ----

@pytest.mark.parametrize("make", [
    lambda d: callbacks.ModelCheckpoint(str(d / "ck.keras")),
    lambda d: callbacks.ModelCheckpoint(str(d / "ck-{epoch:02d}.weights.h5"), save_weights_only=True),
    lambda d: callbacks.BackupAndRestore(str(d / "backup")),
], ids=["ModelCheckpoint", "ModelCheckpoint-formatted", "BackupAndRestore"])
def test_a_read_only_folder_is_refused_at_train_begin(tmp_path, make):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    batches = []

    class Count(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
    try:
        with pytest.raises(PermissionError, match="cannot create files in .*ro"):
            _model().fit(X5, Y2, epochs=2, verbose=0, callbacks=[Count(), make(folder)])
    finally:
        folder.chmod(0o755)
    assert batches == []  # refused before any training


def test_a_read_only_filesystem_is_refused_at_train_begin():
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc")
    with pytest.raises(PermissionError, match="cannot create files in /proc"):
        _model().fit(X5, Y2, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint("/proc/x.keras")])


@pytest.mark.parametrize("save,match", [("", "--save: expected a file name such as model.keras, received ''"),
                                        ("/proc/x.keras", "cannot create files in /proc")], ids=["empty", "proc"])
def test_train_refuses_a_save_path_that_saves_nothing_before_training(save, match, tmp_path):
    root = os.path.dirname(HERE)
    env = dict(os.environ, PYTHONPATH=root, GPUNET_DATA_DIR=str(tmp_path / "no-data"), GPUNET_HOME=str(tmp_path),
               GPUNET_DATASETS_URL="http://127.0.0.1:9/")
    r = subprocess.run([sys.executable, "-m", "gpunet", "train", "fashion_mnist", "--save", save], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 2 and match in r.stderr, (r.returncode, r.stderr)  # a usage error, before any data
