"""`keras.utils.PyDataset`: a Python object that returns one batch per index."""


class PyDataset:
    """Subclass it, call ``super().__init__(**kwargs)``, and define ``__len__`` (the number of
    batches) and ``__getitem__(idx)`` (batch idx: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``).
    fit() asks for every batch of an epoch (in a shuffled order when shuffle=True, as Keras does)
    and calls ``on_epoch_begin``/``on_epoch_end``. gpunet reads batches in the calling thread:
    ``workers``/``use_multiprocessing`` are accepted and stored, not used (README)."""

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


def is_stream(x):
    """A PyDataset, a generator or another iterator: batches come from it, not from slicing arrays."""
    return isinstance(x, PyDataset) or (hasattr(x, "__next__") and hasattr(x, "__iter__"))
