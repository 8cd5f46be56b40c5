"""A seeded mutation fuzzer for every loader of files someone else wrote (issue 29): `load_model` on .keras
archives, `load_weights` on .weights.h5 files, the legacy Keras 2 .h5 reader, `get_file`'s extraction, and the
dataset readers whose files hold pickles (IMDB's .npz object arrays, CIFAR's batches; issue 34).

Real files are written first (a trained gpunet model, a Keras 2 style .h5, tar and zip archives), then each case
applies one mutation: bit flips, truncation, zip member edits, HDF5 attribute/dtype/shape/link edits (external
links, soft links, external storage, virtual datasets), config JSON edits, archive member edits (device nodes,
links, paths out of the folder, setuid modes). Every outcome must be one of:
  equal     the load succeeded and the model predicts what the original does (or the folder holds the files)
  differs   the load succeeded with other numbers, for mutations that make another valid file (a config edit,
            a flipped bit inside the weights of a file without checksums: undetectable by design)
  refused   SavingError / ValueError with a message, and a model given to load_weights left as it was
Anything else is a failure: another exception type, a half-loaded model, a file read or written outside the
archive, a crash or a hang (the runner's child process dies or exceeds its per-case deadline).

Run: python tests/fuzz_loaders.py --seed 29 --cases 300 (prints one JSON summary); tests/test_fuzz_loaders.py
runs it in CI, bench/fuzz_loaders.py runs it long."""
import argparse
import collections
import copy
import faulthandler
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import traceback
import zipfile

import numpy as np

TARGETS = ("keras", "weights", "legacy", "archive", "dataset")


# ---- the real files ----

def _gpunet_model():
    import gpunet
    from gpunet import layers
    gpunet.utils.set_random_seed(1)
    m = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                           layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    r = np.random.default_rng(0)
    m.fit(r.random((32, 6)).astype("float32"), r.integers(0, 3, 32), epochs=1, verbose=0)
    return m


def _legacy_h5(path, model):
    """A Keras 2 / tf.keras .h5 with the same layers: model_config, training_config, model_weights/<layer>."""
    import h5py
    names = ["dense", "batch_normalization", "dense_1"]
    weight_names = [["kernel:0", "bias:0"], ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"],
                    ["kernel:0", "bias:0"]]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6], "dtype": "float32", "name": "in"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 8, "activation": "relu", "use_bias": True}},
        {"class_name": "BatchNormalization", "config": {"name": "batch_normalization", "axis": -1,
                                                        "momentum": 0.99, "epsilon": 0.001}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 3, "activation": "softmax"}}]}}
    training = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}
    weights = [l.get_weights() for l in model.layers]
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps(training)
        f.attrs["keras_version"] = "2.15.0"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name, wn, ws in zip(names, weight_names, weights):
            lg = g.create_group(name)
            lg.attrs["weight_names"] = np.array([("%s/%s" % (name, w)).encode() for w in wn])
            for w, a in zip(wn, ws):
                lg.create_dataset("%s/%s" % (name, w), data=a)


def _archives(d):
    """A tar.gz and a zip holding a folder of a few files."""
    src = os.path.join(d, "src")
    os.makedirs(os.path.join(src, "pack", "sub"))
    for i in range(4):
        with open(os.path.join(src, "pack", "sub" if i % 2 else "", "f%d.txt" % i), "w") as f:
            f.write("file %d\n" % i * (i + 1))
    with tarfile.open(os.path.join(d, "base.tar.gz"), "w:gz") as t:
        t.add(os.path.join(src, "pack"), arcname="pack")
    with zipfile.ZipFile(os.path.join(d, "base.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in os.walk(os.path.join(src, "pack")):
            for n in files:
                full = os.path.join(root, n)
                z.write(full, os.path.relpath(full, src))


class Bases:
    def __init__(self, d):
        import gpunet
        self.dir = d
        self.model = _gpunet_model()
        self.x = np.random.default_rng(2).random((5, 6)).astype("float32")
        self.pred = self.model.predict(self.x, verbose=0)
        self.weights = [w.copy() for w in self.model.get_weights()]
        self.keras = os.path.join(d, "base.keras")
        self.model.save(self.keras)
        self.h5 = os.path.join(d, "base.weights.h5")
        self.model.save_weights(self.h5)
        self.legacy = os.path.join(d, "base.h5")
        _legacy_h5(self.legacy, self.model)
        self.legacy_pred = gpunet.models.load_model(self.legacy).predict(self.x, verbose=0)
        _archives(d)
        self.secret = os.path.join(d, "secret.bin")  # what an external link/storage would read
        with open(self.secret, "wb") as f:
            f.write(np.arange(64, dtype="float32").tobytes())
        self.fifo = os.path.join(d, "secret.fifo")  # opening it would block: a hang, caught by the deadline
        os.mkfifo(self.fifo)
        self.imdb, self.cifar = _dataset_files(d)

    def fresh_model(self):
        import gpunet
        from gpunet import layers
        m = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                               layers.Dense(3, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return m


# ---- mutations ----

def _flip(raw, rng, n=None):
    raw = bytearray(raw)
    for _ in range(n or int(rng.integers(1, 4))):
        i = int(rng.integers(len(raw)))
        raw[i] ^= 1 << int(rng.integers(8))
    return bytes(raw)


def _truncate(raw, rng):
    return raw[:int(rng.integers(len(raw)))]


def _rewrite(src, dst, mutate, rng):
    """dst = mutate(the bytes of src)."""
    with open(src, "rb") as f:
        raw = mutate(f.read(), rng)
    with open(dst, "wb") as f:
        f.write(raw)


def _zip_members(path):
    with zipfile.ZipFile(path) as z:
        return [(i, z.read(i.filename)) for i in z.infolist()]


def _write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for info, data in members:
            z.writestr(info if isinstance(info, zipfile.ZipInfo) else info, data)


def _h5_edit(raw_or_path, rng, bases, out_path):
    """One structural HDF5 edit of the weights file (bytes or a path), written to out_path. Returns a label."""
    import h5py
    if isinstance(raw_or_path, bytes):
        with open(out_path, "wb") as f:
            f.write(raw_or_path)
    else:
        shutil.copyfile(raw_or_path, out_path)
    with h5py.File(out_path, "r+") as f:
        datasets, groups = [], []
        f.visititems(lambda n, o: (datasets if isinstance(o, h5py.Dataset) else groups).append(n))
        name = datasets[int(rng.integers(len(datasets)))]
        ds = f[name]
        shape, dtype = ds.shape, ds.dtype
        choice = int(rng.integers(12))
        if choice == 0:
            del f[name]
            f[name] = h5py.ExternalLink(bases.fifo if rng.random() < 0.5 else bases.secret, "/x")
            return "external link"
        if choice == 1:
            del f[name]
            f.create_dataset(name, shape=shape, dtype=dtype,
                             external=[(bases.secret, 0, int(np.prod(shape or (1,))) * dtype.itemsize)])
            return "external storage"
        if choice == 2:
            other = os.path.join(os.path.dirname(out_path), "virtual-src.h5")
            with h5py.File(other, "w") as o:
                o.create_dataset("v", shape=shape, dtype=dtype)
            del f[name]
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            layout[...] = h5py.VirtualSource(other, "v", shape=shape)
            f.create_virtual_dataset(name, layout)
            return "virtual dataset"
        if choice == 3:
            target = datasets[int(rng.integers(len(datasets)))]
            data = f[target][()]
            del f[name]
            if "elsewhere" not in f:
                f["elsewhere"] = data
            f[name] = h5py.SoftLink("/elsewhere" if rng.random() < 0.5 or target == name else "/" + target)
            return "soft link"
        if choice == 4:
            data = ds[()]
            del f[name]
            f.create_dataset(name, data=data.astype(rng.choice(["float16", "float64", "int8", "uint32"])))
            return "dtype"
        if choice == 5:
            del f[name]
            f.create_dataset(name, data=np.full(shape, b"x", dtype="S1") if shape else np.bytes_(b"x"))
            return "strings"
        if choice == 6:
            del f[name]
            new = tuple(int(s) + int(rng.integers(-1, 2)) for s in shape) if shape else (2,)
            if new == tuple(shape):  # always another shape: the same shape with new values is another valid file
                new = new + (1,)
            f.create_dataset(name, data=np.zeros([max(s, 0) for s in new], "float32"))
            return "shape"
        if choice == 7:
            del f[name]
            return "missing dataset"
        if choice == 8:
            parent = name.rsplit("/", 1)[0] if "/" in name else ""
            f.require_group((parent + "/" if parent else "") + "extra%d" % int(rng.integers(100)))
            extra = (parent + "/" if parent else "") + "9"
            if extra not in f:
                f[extra] = np.zeros(3, "float32")
            return "extra variable"
        if choice == 9:
            g = f[groups[int(rng.integers(len(groups)))]] if groups else f
            key = str(rng.choice(["name", "layer_names", "weight_names", "model_config", "training_config"]))
            junk = [b"\xff\xfe", 12345, "not json {", np.arange(3), "", np.array([b"dense", b"../x"])]
            g.attrs[key] = junk[int(rng.integers(len(junk)))]
            return "attribute"
        if choice == 10:
            del f[name]
            f.create_dataset(name, shape=(1 << 30,), dtype="float32", chunks=(1 << 20,), compression="gzip")
            return "shape bomb"
        other = f[datasets[int(rng.integers(len(datasets)))]]
        del f[name]
        f[name] = other  # a second name for another dataset (or a dangling name for itself, when the same)
        return "hard link"


_JUNK = [None, 0, -1, 10 ** 12, 1.5, float("nan"), "", "relu", "__import__", "../../etc/passwd", [], {}, [None],
         {"class_name": "__lambda__", "config": {"code": "AAAA", "defaults": None, "closure": None}},
         {"module": "os", "class_name": "system", "config": {"command": "true"}},
         {"module": "keras.src.ops.numpy", "class_name": "__getattribute__", "config": {}},
         {"class_name": "__keras_tensor__", "config": {"shape": [1], "dtype": "float32", "keras_history": ["x", 9, 9]}},
         [[[[[[[[[[[[]]]]]]]]]]]]]


def _json_edit(config, rng):
    """One edit at a random place of a JSON tree: delete a key, replace a value, rename a class."""
    config = copy.deepcopy(config)
    spots = []

    def walk(node):
        if isinstance(node, dict):
            for k in list(node):
                spots.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                spots.append((node, i))
                walk(node[i])
    walk(config)
    node, key = spots[int(rng.integers(len(spots)))]
    choice = int(rng.integers(4))
    if choice == 0 and isinstance(node, dict):
        del node[key]
        return config, "delete key"
    if choice == 1 and isinstance(node, dict) and "class_name" in node:
        node["class_name"] = str(rng.choice(["Dense", "Lambda", "Functional", "Sequential", "GetItem", "Switch",
                                             "__class__", "eval", "Add", "InputLayer", "Unknown"]))
        return config, "class name"
    node[key] = copy.deepcopy(_JUNK[int(rng.integers(len(_JUNK)))])
    return config, "value"


# ---- one case per target ----

def _outcome_of_load(fn):
    """('ok', result) or ('refused', message) or ('failure', description)."""
    from gpunet.saving import SavingError
    try:
        return "ok", fn()
    except (SavingError, ValueError) as e:
        if not str(e).strip():
            return "failure", "%s with an empty message" % type(e).__name__
        return "refused", str(e)
    except Exception as e:  # noqa: BLE001 - the point: any other type is a finding
        return "failure", "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=6))


def case_keras(bases, rng, work):
    import gpunet
    path = os.path.join(work, "m.keras")
    choice = int(rng.integers(5))
    may_differ = False
    if choice == 0:
        label = "bit flip"
        _rewrite(bases.keras, path, _flip, rng)
        may_differ = True  # a flip inside config.json may make another valid config (the zip has CRCs: rarely)
    elif choice == 1:
        label = "truncate"
        _rewrite(bases.keras, path, _truncate, rng)
    elif choice == 2:
        members = _zip_members(bases.keras)
        op = int(rng.integers(5))
        if op == 0:
            members.pop(int(rng.integers(len(members))))
            label = "zip member removed"
        elif op == 4:  # assets/ members, hostile names among them: extracted only for a load_assets holder,
            name = ["assets/../escape.txt", "assets//abs.txt", "assets/layers/dense/vocabulary.txt",  # inside
                    "assets/" + "a/" * 40 + "deep.txt"][int(rng.integers(4))]                       # the archive
            members.append((name, os.urandom(int(rng.integers(1, 300)))))
            label = "assets member added"
        elif op == 1:
            i = int(rng.integers(len(members)))
            members[i] = (members[i][0].filename, os.urandom(int(rng.integers(1, 300))))
            label = "zip member replaced"
        elif op == 2:
            members.append((members[int(rng.integers(len(members)))][0].filename, b"{}"))
            label = "zip member duplicated"
        else:
            i = int(rng.integers(len(members)))
            members[i] = ("renamed-" + members[i][0].filename, members[i][1])
            label = "zip member renamed"
        _write_zip(path, [(i.filename if isinstance(i, zipfile.ZipInfo) else i, d) for i, d in members],
                   zipfile.ZIP_DEFLATED if rng.random() < 0.5 else zipfile.ZIP_STORED)
        may_differ = label == "zip member duplicated"
    elif choice == 3:
        members = dict((i.filename, d) for i, d in _zip_members(bases.keras))
        label = "hdf5 " + _h5_edit(members["model.weights.h5"], rng, bases, os.path.join(work, "w.h5"))
        with open(os.path.join(work, "w.h5"), "rb") as f:
            members["model.weights.h5"] = f.read()
        _write_zip(path, list(members.items()))
        may_differ = label in ("hdf5 dtype", "hdf5 hard link", "hdf5 attribute")
    else:
        members = dict((i.filename, d) for i, d in _zip_members(bases.keras))
        config, label = _json_edit(json.loads(members["config.json"]), rng)
        members["config.json"] = json.dumps(config, default=str)
        _write_zip(path, list(members.items()))
        label = "config " + label
        may_differ = True
    if rng.random() < 0.5:  # the same archive from a file object (io.BytesIO: scikeras's pickles) refuses alike
        label += " (file object)"
        kind, value = _outcome_of_load(lambda: gpunet.models.load_model(io.BytesIO(open(path, "rb").read())))
    else:
        kind, value = _outcome_of_load(lambda: gpunet.models.load_model(path))
    if kind == "ok":
        kind, value = _outcome_of_load(lambda: value.predict(bases.x, verbose=0))
        if kind == "ok":
            same = value.shape == bases.pred.shape and np.allclose(value, bases.pred, atol=1e-6, equal_nan=False)
            kind = "equal" if same else ("differs" if may_differ else "failure")
            value = None if same else "loaded a model that predicts differently after %s" % label
        elif kind == "refused":
            kind = "refused"  # loaded a valid but different model that refuses this input: another valid config
    return label, kind, value


def case_weights(bases, rng, work):
    path = os.path.join(work, "m.weights.h5")
    choice = int(rng.integers(3))
    may_differ = False
    if choice == 0:
        _rewrite(bases.h5, path, _flip, rng)
        label = "bit flip"
        may_differ = True  # HDF5 metadata has no checksum: a flip in an attribute's text changes nothing checked
    elif choice == 1:
        _rewrite(bases.h5, path, _truncate, rng)
        label = "truncate"
    else:
        label = "hdf5 " + _h5_edit(bases.h5, rng, bases, path)
        may_differ = label in ("hdf5 dtype", "hdf5 hard link", "hdf5 attribute")
    m = bases.fresh_model()
    before = [w.copy() for w in m.get_weights()]
    kind, value = _outcome_of_load(lambda: m.load_weights(path))
    after = m.get_weights()
    if kind == "refused":
        if not all(np.array_equal(a, b) for a, b in zip(before, after)):
            return label, "failure", "half-loaded: the model changed although the load was refused (%s)" % value
        return label, kind, value
    if kind == "ok":
        same = all(np.array_equal(a, b) for a, b in zip(after, bases.weights))
        if same:
            return label, "equal", None
        return label, ("differs" if may_differ else "failure"), "loaded different weights after %s" % label
    return label, kind, value


def case_legacy(bases, rng, work):
    import gpunet
    import h5py
    path = os.path.join(work, "m.h5")
    choice = int(rng.integers(4))
    may_differ = True  # a Keras 2 file has no checksums: a flipped bit in a weight is undetectable
    if choice == 0:
        _rewrite(bases.legacy, path, _flip, rng)
        label = "bit flip"
    elif choice == 1:
        _rewrite(bases.legacy, path, _truncate, rng)
        label, may_differ = "truncate", False
    elif choice == 2:
        label = "hdf5 " + _h5_edit(bases.legacy, rng, bases, path)
    else:
        shutil.copyfile(bases.legacy, path)
        with h5py.File(path, "r+") as f:
            key = "model_config" if rng.random() < 0.7 else "training_config"
            config, what = _json_edit(json.loads(f.attrs[key]), rng)
            f.attrs[key] = json.dumps(config, default=str)
        label = "%s %s" % (key, what)
    if rng.random() < 0.5:  # the same archive from a file object (io.BytesIO: scikeras's pickles) refuses alike
        label += " (file object)"
        kind, value = _outcome_of_load(lambda: gpunet.models.load_model(io.BytesIO(open(path, "rb").read())))
    else:
        kind, value = _outcome_of_load(lambda: gpunet.models.load_model(path))
    if kind == "ok":
        kind, value = _outcome_of_load(lambda: value.predict(bases.x, verbose=0))
        if kind == "ok":
            same = value.shape == bases.legacy_pred.shape and np.allclose(value, bases.legacy_pred, atol=1e-6)
            kind = "equal" if same else ("differs" if may_differ else "failure")
            value = None if same else "loaded a model that predicts differently after %s" % label
    return label, kind, value


def case_archive(bases, rng, work):
    from gpunet.utils import file_utils
    fmt = "tar" if rng.random() < 0.5 else "zip"
    src = os.path.join(bases.dir, "base.tar.gz" if fmt == "tar" else "base.zip")
    archive = os.path.join(work, "pack.tar.gz" if fmt == "tar" else "pack.zip")
    choice = int(rng.integers(3))
    if choice == 0:
        with open(src, "rb") as f:
            raw = _flip(f.read(), rng)
        label = "bit flip"
    elif choice == 1:
        with open(src, "rb") as f:
            raw = _truncate(f.read(), rng)
        label = "truncate"
    else:
        raw, label = _archive_member_edit(src, fmt, rng)
    with open(archive, "wb") as f:
        f.write(raw)
    cache = os.path.join(work, "cache")
    outside = set(os.listdir(work))
    kind, value = _outcome_of_load(lambda: file_utils.get_file(
        os.path.basename(archive), "file://" + archive, extract=True, cache_dir=cache, archive_format=fmt))
    if set(os.listdir(work)) - outside - {"cache"}:
        return label, "failure", "wrote outside the cache: %s" % sorted(set(os.listdir(work)) - outside)
    if kind != "ok":
        return label, kind, value
    problems = _unsafe_tree(value)
    if problems:
        return label, "failure", "extracted unsafe entries after %s: %s" % (label, problems)
    return label, "equal", None


def _archive_member_edit(src, fmt, rng):
    op = int(rng.integers(6))
    names = {0: "pack/dev", 1: "pack/fifo", 2: "../escape.txt", 3: "/tmp/gpunet-fuzz-abs.txt", 4: "pack/link",
             5: "pack/setuid"}
    name = names[op]
    buf = io.BytesIO()
    if fmt == "tar":
        with tarfile.open(src) as t_in, tarfile.open(fileobj=buf, mode="w:gz") as t_out:
            for m in t_in.getmembers():
                t_out.addfile(m, t_in.extractfile(m) if m.isfile() else None)
            info = tarfile.TarInfo(name)
            if op == 0:
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif op == 1:
                info.type = tarfile.FIFOTYPE
            elif op == 4:
                info.type, info.linkname = (tarfile.SYMTYPE, "/etc/passwd") if rng.random() < 0.5 else \
                    (tarfile.LNKTYPE, "../../etc/passwd")
            data = b"payload" if info.type == tarfile.REGTYPE else b""
            info.size = len(data)
            if op == 5:
                info.mode = 0o6777
            t_out.addfile(info, io.BytesIO(data) if data else None)
    else:
        with zipfile.ZipFile(src) as z_in, zipfile.ZipFile(buf, "w") as z_out:
            for i in z_in.infolist():
                z_out.writestr(i, z_in.read(i.filename))
            info = zipfile.ZipInfo(name)
            mode = {0: stat.S_IFCHR | 0o644, 1: stat.S_IFIFO | 0o644, 4: stat.S_IFLNK | 0o777,
                    5: stat.S_IFREG | 0o6777}.get(op, stat.S_IFREG | 0o644)
            info.external_attr = mode << 16
            z_out.writestr(info, b"/etc/passwd" if op == 4 else b"payload")
    return buf.getvalue(), "member " + {0: "device", 1: "fifo", 2: "dotdot", 3: "absolute", 4: "link",
                                        5: "setuid"}[op]


def _unsafe_tree(root):
    bad = []
    real_root = os.path.realpath(root)
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                bad.append("special file %s" % p)
            if st.st_mode & 0o7000:
                bad.append("setuid/setgid/sticky %s" % p)
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(p)
                if not (target == real_root or target.startswith(real_root + os.sep)):
                    bad.append("link out of the folder %s -> %s" % (p, os.readlink(p)))
    return bad


# ---- dataset files holding pickles ----

class _Gadget:
    """What a hostile pickle carries: rebuilding it would create `marker` (the restricted unpickler must refuse)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _dataset_files(d):
    """A small imdb.npz (ragged object arrays) and one CIFAR batch, in Keras's formats."""
    import pickle
    rng = np.random.default_rng(7)
    rows = np.empty(6, dtype=object)
    for i in range(6):
        rows[i] = [int(v) for v in rng.integers(1, 50, size=3 + i)]
    imdb = os.path.join(d, "imdb.npz")
    np.savez(imdb, x_train=rows, y_train=np.arange(6) % 2, x_test=rows[:4], y_test=np.arange(4) % 2)
    cifar = os.path.join(d, "data_batch")
    with open(cifar, "wb") as f:
        pickle.dump({b"data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8), b"labels": [1, 2, 3]}, f)
    return imdb, cifar


def _hostile(kind, marker, path):
    import pickle
    if kind == "npz":
        rows = np.empty(2, dtype=object)
        rows[0], rows[1] = [1, 2], _Gadget(marker)
        np.savez(path, x_train=rows, y_train=np.zeros(2), x_test=rows, y_test=np.zeros(2))
    else:
        with open(path, "wb") as f:
            pickle.dump({b"data": _Gadget(marker), b"labels": [0]}, f)


def case_dataset(bases, rng, work):
    """imdb.load_data on a damaged or hostile .npz (path=), cifar10.load_data on damaged or hostile batches (an
    extracted copy in $GPUNET_DATA_DIR): equal, differs, or refused with a DatasetError; nothing else, and no code
    from the file runs."""
    from gpunet.datasets import DatasetError, cifar10, imdb
    kind = "npz" if rng.random() < 0.5 else "cifar"
    src = bases.imdb if kind == "npz" else bases.cifar
    marker = os.path.join(work, "PWNED")
    if kind == "npz":
        path = os.path.join(work, "imdb.npz")
    else:
        folder = os.path.join(work, "cifar-10-batches-py")
        os.makedirs(folder)
        path = os.path.join(folder, "data_batch_1")
    choice = int(rng.integers(4))
    if choice == 0:
        label = "copy"
        shutil.copy(src, path)
    elif choice == 1:
        label = "bit flip"
        _rewrite(src, path, _flip, rng)
    elif choice == 2:
        label = "truncate"
        _rewrite(src, path, _truncate, rng)
    else:
        label = "pickle gadget"
        _hostile(kind, marker, path)
    if kind == "cifar":
        for name in ["data_batch_%d" % i for i in range(2, 6)] + ["test_batch"]:
            shutil.copy(bases.cifar, os.path.join(folder, name))

    def load():
        if kind == "npz":
            return imdb.load_data(path=path)
        saved = os.environ.get("GPUNET_DATA_DIR")
        os.environ["GPUNET_DATA_DIR"] = work
        try:
            return cifar10.load_data()
        finally:
            if saved is None:
                del os.environ["GPUNET_DATA_DIR"]
            else:
                os.environ["GPUNET_DATA_DIR"] = saved
    try:
        got = load()
        outcome = "ok"
    except (DatasetError, ValueError) as e:  # ValueError: a load that kept no sequence (maxlen), for instance
        outcome = "refused" if str(e).strip() else "failure"
        got = str(e)
    except Exception as e:  # noqa: BLE001 - any other type is a finding
        return label, "failure", "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=6))
    if os.path.exists(marker):
        return label, "failure", "code from the file ran (%s)" % label
    if outcome != "ok":
        return label, outcome, got
    if label == "pickle gadget":
        return label, "failure", "a hostile pickle loaded"
    if label == "copy":
        want = imdb.load_data(path=bases.imdb) if kind == "npz" else None
        if kind == "npz" and not all(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
                                     for a, b in zip(got[0] + got[1], want[0] + want[1])):
            return label, "failure", "an untouched copy loaded other numbers"
        return label, "equal", None
    return label, "differs", None  # a flipped byte inside the array data: no checksum can see it (pickles have none)


CASES = {"keras": case_keras, "weights": case_weights, "legacy": case_legacy, "archive": case_archive,
         "dataset": case_dataset}


def run(seed, cases, targets=TARGETS, deadline_s=30, verbose=False):
    """Runs `cases` cases spread over targets; returns the summary dict (counts per target and outcome,
    failures). A case that takes longer than deadline_s ends the process with a traceback (a hang)."""
    import logging
    import warnings
    warnings.simplefilter("ignore")
    logging.getLogger("gpunet").setLevel(logging.ERROR)
    top = tempfile.mkdtemp(prefix="gpunet-fuzz-")
    try:
        bases = Bases(top)
        counts = {t: collections.Counter() for t in targets}
        labels = {t: collections.Counter() for t in targets}
        failures = []
        t0 = time.monotonic()
        for i in range(cases):
            target = targets[i % len(targets)]
            work = os.path.join(top, "case%d" % i)
            os.makedirs(work)
            sys.stderr.write("case %d %s\n" % (i, target))
            sys.stderr.flush()
            faulthandler.dump_traceback_later(deadline_s, exit=True)
            try:
                label, kind, detail = CASES[target](bases, np.random.default_rng([seed, i]), work)
            finally:
                faulthandler.cancel_dump_traceback_later()
            counts[target][kind] += 1
            labels[target][label] += 1
            if kind == "failure":
                failures.append({"case": i, "target": target, "mutation": label, "detail": detail})
            if verbose and kind in ("refused", "differs"):
                sys.stderr.write("  %s %s: %s\n" % (kind, label, str(detail)[:200]))
            shutil.rmtree(work, ignore_errors=True)
        return {"seed": seed, "cases": cases, "seconds": round(time.monotonic() - t0, 1),
                "outcomes": {t: dict(c) for t, c in counts.items()},
                "mutations": {t: dict(c) for t, c in labels.items()}, "failures": failures}
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=29)
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--deadline", type=float, default=30.0, help="seconds one case may take before it is a hang")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    summary = run(args.seed, args.cases, tuple(args.targets.split(",")), args.deadline, args.verbose)
    print(json.dumps(summary))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
