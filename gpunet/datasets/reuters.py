"""Reuters newswires, 46 topics (Keras's reuters.npz): `load_data(...)` -> (x_train, y_train), (x_test, y_test)
with Keras's arguments; `get_word_index()` and `get_label_names()` as Keras has them."""
import numpy as np

from . import _keras_files as kf

SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog",
    "lead")


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3):
    if not (0 <= test_split < 1):
        raise ValueError("Invalid `test_split` argument: %r. It must be between 0 and 1 (exclusive of 1)."
                         % (test_split,))
    where = kf.locate("reuters", "reuters.npz", SHA256, path=path)
    xs, labels = kf.need(kf.load_npz(where), where, "x", "y")
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    xs, labels = xs[order], labels[order]
    xs = kf.shift_indices(xs, start_char, index_from)
    labels = list(labels)
    if maxlen:
        xs, labels = kf.remove_long(maxlen, xs, labels)
    xs = kf.cut_vocabulary(xs, skip_top, num_words, oov_char)
    cut = int(len(xs) * (1 - test_split))
    labels = np.array(labels)
    return (kf.object_array(xs[:cut]), labels[:cut]), (kf.object_array(xs[cut:]), labels[cut:])


def get_word_index(path="reuters_word_index.json"):
    """{word: index}; indices in load_data's sequences are these + index_from (3)."""
    return kf.read_json(kf.locate("reuters", "reuters_word_index.json", WORD_INDEX_MD5, "md5", path=path))


def get_label_names():
    """The 46 topic names, in label order."""
    return LABEL_NAMES
