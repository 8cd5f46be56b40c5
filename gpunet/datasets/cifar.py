"""CIFAR-10 and CIFAR-100: Keras's tar.gz of pickled batches, read straight from the archive (or an extracted
copy) with the restricted unpickler; nothing is extracted to disk."""
import os
import tarfile

import numpy as np

from . import _files, _keras_files

ORIGIN = "https://www.cs.toronto.edu/~kriz/"


def _batch(raw, where, label_key):
    import io
    d = _keras_files.unpickle(io.BytesIO(raw), where, encoding="bytes")
    if not isinstance(d, dict):
        raise _files.DatasetError("%s is not a CIFAR batch (a dict), it holds %s" % (where, type(d).__name__))
    d = {k.decode("utf8", "replace") if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or label_key not in d:
        raise _files.DatasetError("%s lacks %r or %r (it has %s)" % (where, "data", label_key,
                                                                     sorted(map(repr, d))))
    try:
        data, labels = np.asarray(d["data"]), np.asarray(d[label_key])
    except (ValueError, TypeError) as e:
        raise _files.DatasetError("%s: its data or labels are not arrays: %s" % (where, e)) from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or \
            labels.dtype.kind not in "iu" or len(labels) != len(data):
        raise _files.DatasetError("%s: expected uint8 data of shape (N, 3072) and N integer labels, got %s %s and "
                                  "labels %s %s" % (where, data.dtype, data.shape, labels.dtype, labels.shape))
    return data.reshape(len(data), 3, 32, 32), labels


def _extracted(folder, inner):
    """An extracted copy in one of the search folders: <dir>/<inner>/ or Keras's <dir>/<inner>-target/<inner>/."""
    for _, directory in _files.search_dirs(folder):
        for d in (os.path.join(directory, inner), os.path.join(directory, inner + "-target", inner)):
            if os.path.isdir(d):
                return d
    return None


def load(folder, archive, sha256, inner, members, label_key):
    """[(x, y), ...] for each member batch group, channels per keras.config.image_data_format()."""
    found = _extracted(folder, inner)
    raws = {}
    if found is not None:
        for group in members:
            for m in group:
                p = os.path.join(found, m)
                try:
                    with open(p, "rb") as f:
                        raws[m] = (f.read(), p)
                except OSError as e:
                    raise _files.DatasetError("%s holds an incomplete CIFAR copy: %s" % (found, e)) from None
    else:
        path = _keras_files.locate(folder, archive, sha256, origin=ORIGIN)
        try:
            with tarfile.open(path) as t:
                for group in members:
                    for m in group:
                        f = t.extractfile(inner + "/" + m)
                        if f is None:
                            raise KeyError(m)
                        raws[m] = (f.read(), "%s:%s/%s" % (path, inner, m))
        except KeyError as e:
            raise _files.DatasetError("%s lacks the member %s/%s" % (path, inner, e.args[0])) from None
        except (tarfile.TarError, OSError, EOFError) as e:
            raise _files.DatasetError("%s is not a readable tar.gz (corrupt or truncated): %s" % (path, e)) from None
    from .. import backend
    out = []
    for group in members:
        parts = [_batch(raws[m][0], raws[m][1], label_key) for m in group]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts]).astype(np.uint8 if label_key == "labels" else np.int64)
        if backend.image_data_format() == "channels_last":
            x = x.transpose(0, 2, 3, 1)
        out.append((x, y.reshape(-1, 1)))
    return out
