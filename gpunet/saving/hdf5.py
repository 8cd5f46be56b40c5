"""Reading HDF5 files someone else wrote: only plain datasets inside the file.

HDF5 can make a name in one file point elsewhere: an external link (another file's object), a soft link (a
path that may leave the group it sits in), a dataset whose raw data lives in external files (any file on
disk: a private key would load as weights, then be written into the next saved model), and a virtual
dataset (a view of other files' datasets). It can also declare a huge dataset that stores almost nothing
(a fill value, or chunks that inflate a thousandfold) and costs gigabytes to read. `check_file` walks every
link of a file before anything in it is read and refuses all of these with a SavingError naming the object,
as Keras does (keras/src/saving/saving_lib.py, safe_get_h5_dataset); it never opens another file. It returns
the number of weight elements the file holds, which bounds what a config loaded beside it may allocate."""
import math

from ..common.registry import SavingError

MAX_OBJECTS = 200_000        # groups + datasets; a large real model has a few thousand
MAX_DEPTH = 64               # group nesting; Keras's deepest paths are ~10 levels
BOMB_FLOOR_BYTES = 1 << 20   # datasets larger than this ...
MAX_EXPANSION = 64           # ... must store at least 1/64 of their bytes (weights compress ~1.1x)


def check_dataset(ds, where, source):
    """Refuses a dataset stored outside the file, virtual, or declaring far more than it stores."""
    if ds.external:
        raise SavingError("%s: %s keeps its data in external files %s: refused (only data inside the file is read)"
                     % (source, where, [e[0] for e in ds.external]))
    if ds.is_virtual:
        raise SavingError("%s: %s is a virtual dataset (a view of other files): refused" % (source, where))
    declared = math.prod(ds.shape or ()) * ds.dtype.itemsize
    stored = ds.id.get_storage_size()
    if declared > BOMB_FLOOR_BYTES and declared > MAX_EXPANSION * stored:
        raise SavingError("%s: %s declares %s (shape %s) but stores %d bytes: refusing a decompression or shape bomb"
                     % (source, where, _size(declared), ds.shape, stored))


def _size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "bytes" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def check_file(f, source, skip=()):
    """Walks every link of an open h5py File without following any but hard links. Raises SavingError at the
    first external link, soft link, user-defined link, external or virtual dataset, shape bomb, or when the
    file holds more than MAX_OBJECTS objects or nests deeper than MAX_DEPTH. Returns the total element count
    of the datasets, those under the top-level groups named in `skip` (optimizer state) excluded."""
    import h5py
    seen, total, count = set(), 0, 0
    stack = [(f, "", 0)]
    while stack:
        group, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SavingError("%s: groups nest deeper than %d levels at %s: not a Keras weights file"
                         % (source, MAX_DEPTH, path))
        for name in group:
            where = "%s/%s" % (path, name) if path else name
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise SavingError("%s: %s is an external link to %s in %s: refused (another file is never opened)"
                             % (source, where, link.path, link.filename))
            if isinstance(link, h5py.SoftLink):
                raise SavingError("%s: %s is a soft link to %s: refused (Keras files hold plain groups and datasets)"
                             % (source, where, link.path))
            if not isinstance(link, h5py.HardLink):
                raise SavingError("%s: %s is a user-defined link: refused" % (source, where))
            obj = group[name]
            addr = h5py.h5o.get_info(obj.id).addr
            if addr in seen:  # the same object under a second name (a cycle, or a shared dataset): once only
                continue
            seen.add(addr)
            count += 1
            if count > MAX_OBJECTS:
                raise SavingError("%s holds more than %d objects: not a Keras weights file" % (source, MAX_OBJECTS))
            if isinstance(obj, h5py.Dataset):
                check_dataset(obj, where, source)
                if where.split("/", 1)[0] not in skip:
                    total += math.prod(obj.shape or ())
            elif isinstance(obj, h5py.Group):
                stack.append((obj, where, depth + 1))
            else:
                raise SavingError("%s: %s is a committed datatype, not a group or dataset: refused" % (source, where))
    return total
