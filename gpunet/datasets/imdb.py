"""IMDB movie reviews (Keras's imdb.npz): `load_data(...)` -> (x_train, y_train), (x_test, y_test), each x a 1-D
object array of lists of word indices, with Keras's arguments and numbers (shuffle with seed, start_char,
oov_char, index_from, num_words, skip_top, maxlen). `get_word_index()` -> {word: index}."""
import numpy as np

from . import _keras_files as kf

SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"  # Keras checks the word index with this md5


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    if kwargs:
        raise TypeError("Unrecognized keyword arguments: %s" % (sorted(kwargs),))
    where = kf.locate("imdb", "imdb.npz", SHA256, path=path)
    arrays = kf.load_npz(where)
    x_train, y_train, x_test, y_test = kf.need(arrays, where, "x_train", "y_train", "x_test", "y_test")
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = x_train[order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = x_test[order], y_test[order]
    x_train = kf.shift_indices(x_train, start_char, index_from)
    x_test = kf.shift_indices(x_test, start_char, index_from)
    if maxlen:
        x_train, y_train = kf.remove_long(maxlen, x_train, y_train)
        x_test, y_test = kf.remove_long(maxlen, x_test, y_test)
        if not x_train or not x_test:
            raise ValueError("After filtering for sequences shorter than maxlen=%s, no sequence was kept. Increase "
                             "maxlen." % (maxlen,))
    xs = kf.cut_vocabulary(x_train + x_test, skip_top, num_words, oov_char)
    labels = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    n = len(x_train)
    return (kf.object_array(xs[:n]), labels[:n]), (kf.object_array(xs[n:]), labels[n:])


def get_word_index(path="imdb_word_index.json"):
    """{word: index} (index 1 is the most frequent word; add index_from to match load_data's sequences)."""
    return kf.read_json(kf.locate("imdb", "imdb_word_index.json", WORD_INDEX_MD5, "md5", path=path))


__all__ = ["load_data", "get_word_index"]
