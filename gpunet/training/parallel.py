"""What fit/evaluate/predict do differently under a DataParallel distribution in a job of several processes
(gpunet.distribution): every process holds the whole dataset and model; each takes its rows of every batch.

- Batches: the epoch's permutation is drawn from the same seeded stream on every process; global batch t
  is rows [tB, tB + b) of it, and process r of W takes the contiguous part [b·r/W, b·(r+1)/W) of those rows
  (integer division). A short last batch splits as evenly as it can; a process may get none.
- Gradients: each process's gradient is the mean over its rows; fit scales it by rows_r / b before the
  all-reduce sums it, so the sum is the gradient of the mean over the global batch, exactly what one process
  computes for batch b (regularizers too: Σ rows_r / b = 1). A process without rows takes part with scale 0.
- Start: the ranks check they agree (data sizes, batch size, epochs, model, optimizer), then everything is
  broadcast from rank 0: weights, optimizer state, the seed and the epoch to start from. At each epoch end
  the weights and optimizer state are broadcast again (MPI does not promise bit-equal sums on every rank),
  non-trainable weights (BatchNormalization's moving statistics) are averaged, and the loss and metric
  states are summed, so every rank's epoch logs, History and callbacks see the global numbers.
- Side effects: only rank 0 prints the progress bar and runs ModelCheckpoint, BackupAndRestore and CSVLogger.
  Other callbacks run on every rank, with the same epoch logs, so EarlyStopping and friends decide alike;
  `stop_training` is agreed across ranks after each epoch (and after each batch when a callback has batch hooks)."""
import zlib

import numpy as np

from .. import backend


def active():
    """The communicator to shard over, or None (no DataParallel, or a job of one process)."""
    from ..distribution import data_parallel_comm
    return data_parallel_comm()


def check_divisible(batch_size, size, name="batch_size"):
    if batch_size % size:
        raise ValueError("%s=%d is not divisible by the %d processes of the DataParallel distribution: each process "
                         "takes %s / %d rows of every batch. Use a multiple of %d"
                         % (name, batch_size, size, name, size, size))


def rank(comm):
    return 0 if comm is None else comm.rank


def for_rank(callbacks, comm):
    """The callbacks this process runs: on ranks other than 0, none of those that write files or print
    (ProgbarLogger, ModelCheckpoint, BackupAndRestore, CSVLogger: `_rank_zero_only`)."""
    from ..callbacks import Callback
    if comm is None or comm.rank == 0 or callbacks is None:
        return callbacks
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    return [c for c in callbacks if not getattr(c, "_rank_zero_only", False)]


def stops_in_batches(callbacks):
    """Whether a callback may set stop_training inside an epoch (it has a batch-end hook): then the processes
    agree on it after every batch, not only after every epoch."""
    from ..callbacks import Callback, ProgbarLogger
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    return any(isinstance(c, Callback) and not isinstance(c, ProgbarLogger) and c._overrides("on_train_batch_end")
               and not getattr(c, "_rank_zero_only", False) for c in callbacks or [])


def _part(b, rank, size):
    return (b * rank) // size, (b * (rank + 1)) // size


class Shard:
    """This process's rows of fit's batches: n samples, global batch `batch`, `steps` steps per epoch."""

    def __init__(self, comm, n, batch, steps):
        self.comm, self.rank, self.size = comm, comm.rank, comm.size
        self.n, self.batch, self.steps = n, batch, steps
        self.local_batch = batch // self.size
        self.global_rows = [min(batch, n - t * batch) for t in range(steps)]
        self.counts = [_part(b, self.rank, self.size)[1] - _part(b, self.rank, self.size)[0] for b in self.global_rows]
        self.n_local = sum(self.counts)
        self.batch_consensus = False  # set by fit: a callback may set stop_training inside an epoch

    def order(self, order):
        """This rank's rows of the epoch, step after step (indices into the whole dataset)."""
        if order is None:
            order = np.arange(self.n)
        parts = []
        for t, b in enumerate(self.global_rows):
            lo, hi = _part(b, self.rank, self.size)
            parts.append(order[t * self.batch + lo:t * self.batch + hi])
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def scale(self, t):
        """The factor on this rank's mean gradient at step t: its share of the global batch."""
        return self.counts[t] / self.global_rows[t]


def eval_part(comm, n, batch_size, max_steps, name="batch_size"):
    """(lo, hi, local batch) of evaluate's or predict's rows (the first max_steps batches, if given) on this
    rank: contiguous parts; None when there are fewer rows than processes (every rank does all of them)."""
    check_divisible(batch_size, comm.size, name)
    rows = n if max_steps is None else min(n, max_steps * batch_size)
    if rows < comm.size:
        return None
    lo, hi = _part(rows, comm.rank, comm.size)
    return lo, hi, batch_size // comm.size


def eval_shard(model, n, batch_size, steps):
    """(communicator, part) for evaluate/predict: part is (lo, hi, local batch) of this process under
    DataParallel, None when not sharded; the processes first agree on the data and model, and take rank 0's
    weights."""
    dp = active()
    if dp is None:
        return None, None
    check_divisible(batch_size, dp.size)
    agree(dp, [("the number of samples", n), ("batch_size", batch_size), ("steps", steps or 0),
               ("the model (weights and config)", model_fingerprint(model))])
    broadcast_model(dp, model)
    return dp, eval_part(dp, n, batch_size, steps)


# ---- agreement ----

def fingerprint(text):
    """A 31-bit number for a text, the same in every process (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode("utf-8", "replace")) & 0x7FFFFFFF


def model_fingerprint(model):
    """A number that differs when two processes built different models: weight paths, shapes, dtypes and,
    where the model has one, its config."""
    parts = ["%s%s%s" % (getattr(w, "path", w.name), tuple(w.shape), w.dtype) for w in model.weights]
    try:
        import json
        parts.append(json.dumps(model.get_config(), sort_keys=True, default=repr))
    except Exception:  # a subclassed model without get_config: the weights alone
        pass
    return fingerprint("|".join(parts))


def agree(comm, items):
    """items: [(what, int)]. Every rank gets every rank's values; the first that differs raises, on all ranks
    alike, naming the values of each rank."""
    xp = backend.get_xp()
    mine = xp.asarray(np.array([int(v) for _, v in items], dtype=np.int64))
    table = backend.to_numpy(comm.allgather(mine))
    for j, (what, _) in enumerate(items):
        column = table[:, j]
        if (column != column[0]).any():
            from ..distribution import DistributedError
            each = ", ".join("rank %d: %d" % (r, v) for r, v in enumerate(column))
            raise DistributedError("the processes disagree on %s (%s): every process must run the same script "
                                   "with the same data, model and arguments" % (what, each))


# ---- state: broadcast from rank 0, metric sums ----

def _arrays_to_sync(model):
    """Model weights and optimizer state, each a contiguous backend array (views into the flat buffers)."""
    opt = getattr(model, "optimizer", None)
    out, in_flat = [], set()
    if opt is not None and getattr(opt, "built", False) and getattr(opt, "_flat", None) is not None:
        out.append(opt._flat)
        in_flat = set(opt._index)
        out += [opt._state[k] for k in sorted(opt._state)]
        out += [a for a in (opt._ema, opt._acc) if a is not None]
        out.append(opt.iterations.data.reshape(1))
    out += [w.data for w in model.weights if id(w) not in in_flat]
    return [a for a in out if a.size]


def broadcast_model(comm, model):
    for a in _arrays_to_sync(model):
        if not a.flags.c_contiguous:
            raise ValueError("a weight of shape %s is not contiguous: cannot broadcast it" % (a.shape,))
        comm.broadcast(a)


def sync_start(comm, model, start):
    """After on_train_begin: rank 0's seed, epoch to start from, stream offset and optimizer step count, then
    its weights and optimizer state. Returns the epoch to start from."""
    opt = model.optimizer
    xp = backend.get_xp()
    ints = xp.asarray(np.array([model._seed, start, getattr(model, "_stream_offset", 0), opt._host_step,
                                getattr(model, "_epochs_trained", 0)], dtype=np.int64))
    v = [int(x) for x in backend.to_numpy(comm.broadcast(ints))]
    model._seed, model._stream_offset, opt._host_step, model._epochs_trained = v[0], v[2], v[3], v[4]
    broadcast_model(comm, model)
    return v[1]


def end_epoch_sync(comm, model):
    """Non-trainable float weights averaged (moving statistics seen on every rank's rows), then rank 0's
    weights and optimizer state everywhere."""
    xp = backend.get_xp()
    opt = model.optimizer
    in_flat = set(opt._index) if getattr(opt, "built", False) else set()
    moving = [w for w in model.weights if id(w) not in in_flat and not w.trainable
              and np.dtype(w.dtype).kind == "f" and w.data.size]
    if moving:
        buf = xp.concatenate([xp.asarray(w.data, dtype=np.float64).reshape(-1) for w in moving])
        comm.allreduce(buf)
        buf /= comm.size
        at = 0
        for w in moving:
            k = w.data.size
            w.data[...] = buf[at:at + k].reshape(w.data.shape).astype(w.data.dtype)
            at += k
    broadcast_model(comm, model)


def _state_attrs(metric):
    for cls in type(metric).__mro__:
        attrs = cls.__dict__.get("_sum_state")
        if attrs is not None:
            return attrs
    return ()


def _metric_slots(metrics):
    """[(metric, attribute name or Variable, aggregation)] for every additive piece of state."""
    slots = []
    for m in metrics:
        variables = m.variables if hasattr(m, "variables") else []
        for v in variables:
            slots.append((m, v, m.__dict__.get("_aggregations", {}).get(id(v), "sum")))
        for a in _state_attrs(m):
            slots.append((m, a, "sum"))
        if not variables and not _state_attrs(m):
            _warn_local(m)
    return slots


_warned = set()


def _warn_local(metric):
    name = type(metric).__name__
    if name not in _warned:
        _warned.add(name)
        import warnings
        warnings.warn("gpunet: metric %r (%s) keeps its state outside add_variable(): under DataParallel its value is "
                      "this process's alone" % (metric.name, name), RuntimeWarning, stacklevel=3)


def _get(m, slot):
    return slot.data if not isinstance(slot, str) else getattr(m, slot)


def _size(value):
    return int(getattr(value, "size", 1))  # a Python float is one value


def pack(metrics):
    xp = backend.get_xp()
    slots = _metric_slots(metrics)
    values = [xp.asarray(_get(m, s), dtype=np.float64).reshape(-1) for m, s, _ in slots]
    buf = xp.concatenate(values) if values else xp.zeros(0, np.float64)
    return slots, buf


def unpack(slots, buf):
    at = 0
    for m, s, _ in slots:
        old = _get(m, s)
        k = _size(old)
        piece = buf[at:at + k]
        at += k
        if isinstance(s, str):
            if not hasattr(old, "shape"):
                setattr(m, s, float(piece[0]))
            else:
                xp = backend.get_xp()
                setattr(m, s, xp.asarray(piece.reshape(old.shape), dtype=old.dtype))
        else:
            s.data[...] = piece.reshape(s.data.shape).astype(s.data.dtype)


def _same_sizes(comm, metrics):
    """A state that starts as the scalar 0.0 and becomes one entry per class at the first batch (F-beta, R2)
    is still 0.0 on a rank that saw no rows: widened to the other ranks' size, so every buffer matches."""
    xp = backend.get_xp()
    slots = _metric_slots(metrics)
    sizes = xp.asarray(np.array([_size(_get(m, s)) for m, s, _ in slots], dtype=np.int64))
    most = backend.to_numpy(comm.allgather(sizes)).max(axis=0) if slots else []
    for (m, s, _), k, target in zip(slots, backend.to_numpy(sizes), most):
        if k != target:
            if not isinstance(s, str) or k != 1 or float(_get(m, s)) != 0.0:
                from ..distribution import DistributedError
                raise DistributedError("metric %r holds %d values on rank %d but %d on another: its state cannot be "
                                       "summed across processes" % (m.name, k, comm.rank, target))
            setattr(m, s, xp.zeros(int(target), dtype=np.float64))


def snapshot(metrics):
    """The metrics' state, to put back with restore() (a step whose numbers must not count)."""
    return pack(metrics)


def restore(saved):
    unpack(*saved)


def reduce_metrics(comm, metrics):
    """Every rank's metric state summed (Keras's aggregation="mean" variables averaged, "only_first_replica"
    taken from rank 0): each rank then holds the state one process would have over all the rows."""
    _same_sizes(comm, metrics)
    slots, buf = pack(metrics)
    if not slots:
        return
    at = 0
    for m, s, agg in slots:
        k = _size(_get(m, s))
        if agg in ("only_first_replica", "none", None) and comm.rank != 0:
            buf[at:at + k] = 0
        at += k
    comm.allreduce(buf)
    at = 0
    for m, s, agg in slots:
        k = _size(_get(m, s))
        if agg == "mean":
            buf[at:at + k] /= comm.size
        at += k
    unpack(slots, buf)


def agree_stop(comm, model):
    xp = backend.get_xp()
    flag = xp.asarray(np.array([1.0 if model.stop_training else 0.0]))
    model.stop_training = bool(float(backend.to_numpy(comm.allreduce(flag, op="max"))[0]))


def gather_rows(comm, local):
    """Each rank's rows (a backend array), concatenated in rank order on every rank."""
    xp = backend.get_xp()
    counts = backend.to_numpy(comm.allgather(xp.asarray(np.array([len(local)], np.int64)))).reshape(-1)
    most = int(counts.max())
    padded = xp.zeros((most,) + tuple(local.shape[1:]), dtype=local.dtype)
    padded[:len(local)] = local
    every = comm.allgather(padded)
    return xp.concatenate([every[r, :int(c)] for r, c in enumerate(counts)], axis=0)


def dropout_key(key, rank):
    """Rank 0 keeps the single-process key; the others draw their own masks (a rank-mixed first word)."""
    if rank == 0:
        return key
    return (key[0] + 0x9E3779B9 * rank) & 0xFFFFFFFF, key[1]
