"""`keras.utils.PyDataset`: a Python object that returns one batch per index."""


class PyDataset:
    """Subclass it, call ``super().__init__(**kwargs)``, and define ``__len__`` (the number of
    batches) and ``__getitem__(idx)`` (batch idx: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``).
    fit() asks for every batch of an epoch (in a shuffled order when shuffle=True, as Keras does)
    and calls ``on_epoch_begin``/``on_epoch_end``. With ``workers`` > 1 the batches are read ahead (up to
    ``max_queue_size``) by that many threads, or processes with ``use_multiprocessing=True``, and handed over in
    order (training/batches.py)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    @property
    def workers(self):
        return self.__dict__.get("_workers", 1)

    @property
    def use_multiprocessing(self):
        return self.__dict__.get("_use_multiprocessing", False)

    @property
    def max_queue_size(self):
        return self.__dict__.get("_max_queue_size", 10)

    def __getitem__(self, index):
        raise NotImplementedError("%s must define __getitem__(index) returning one batch" % type(self).__name__)

    @property
    def num_batches(self):
        """The number of batches per epoch: len(self), or None for an endless dataset (Keras)."""
        if hasattr(type(self), "__len__"):
            return len(self)
        return None

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


def is_reiterable(x):
    """A dataset iterated afresh each epoch (a tf.data.Dataset, a torch DataLoader, any iterable that is not an
    array, a list, a tuple, a dict or a string): Keras's TF-dataset and torch adapters take it."""
    if isinstance(x, (list, tuple, dict, str, bytes, PyDataset)) or hasattr(x, "__next__"):
        return False
    if any(hasattr(x, a) for a in ("shape", "__array__", "__array_interface__", "__cuda_array_interface__")):
        return False
    return hasattr(x, "__iter__")


def num_batches(x):
    """The batches in one pass over a re-iterable dataset: len() (a DataLoader), a tf.data cardinality that is
    known and finite, else None (found by running out)."""
    if hasattr(type(x), "__len__"):
        try:
            return int(len(x))
        except TypeError:  # a __len__ that refuses (an IterableDataset's DataLoader)
            return None
    card = getattr(x, "cardinality", None)
    if callable(card):
        n = int(card())
        return n if n >= 0 else None
    return None


def is_stream(x):
    """A PyDataset, a generator or another iterator, or a re-iterable dataset: batches come from it, not from
    slicing arrays."""
    return isinstance(x, PyDataset) or (hasattr(x, "__next__") and hasattr(x, "__iter__")) or is_reiterable(x)
