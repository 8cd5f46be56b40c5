"""Text and lookup preprocessing: StringLookup, IntegerLookup and TextVectorization, with Keras 3's
arguments, vocabulary layout and ordering.

A vocabulary is laid out as Keras lays it out: [mask token] + [OOV token] + learned tokens, the learned
ones by descending frequency (ties by descending token, as Keras's adapt sorts them). These layers work
on host data (strings are not tensors): call them on lists or NumPy arrays of strings or integers, as a
preprocessing step before `fit` — they return integer ids or (batch, vocabulary) encodings as tensors — or on a
`keras.Input(dtype="string")`, where they are nodes of a Functional model that keeps its string inputs as host
arrays (the raw-string model idiom). Hashing and CategoryEncoding are in categorical.py."""
import collections
import math
import os
import re

import numpy as np

from .. import backend
from ..ops.symbolic import KerasTensor, make_outputs
from ..ops.tape import Tensor
from .base import Layer

# Keras's DEFAULT_STRIP_REGEX: the ASCII punctuation "lower_and_strip_punctuation" removes
STRIP_REGEX = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _deprecated_mode(mode):
    """The output_mode names Keras still accepts for the lookups and TextVectorization: "binary" is multi_hot,
    "tf-idf" is tf_idf (keras/src/layers/preprocessing/index_lookup.py)."""
    return {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(mode, mode) if isinstance(mode, str) else mode


def _host(data):
    if isinstance(data, Tensor):
        return data.numpy()
    if hasattr(data, "__cuda_array_interface__"):
        return backend.to_numpy(data)
    return data


def _bag(ids_per_sample, depth, mode):
    """(samples, depth) float32: one_hot (one id per sample), multi_hot (presence) or count/tf_idf (counts)."""
    out = np.zeros((len(ids_per_sample), depth), dtype="float32")
    for r, ids in enumerate(ids_per_sample):
        if mode == "one_hot":
            if len(ids) != 1:
                raise ValueError("output_mode='one_hot' encodes one value per sample; received a sample of %d values "
                                 "(use 'multi_hot' for several)" % len(ids))
            out[r, ids[0]] = 1.0
        elif mode == "multi_hot":
            out[r, ids] = 1.0
        else:
            np.add.at(out[r], ids, 1.0)
    return out


def _host_layer_call(layer, inputs):
    """The lookups, TextVectorization and Hashing run on host data outside Layer.__call__ (strings are no backend
    arrays). On a symbolic tensor (a string `Input` of a Functional model: the raw-string model idiom) the call is a
    graph node: its output shape is compute_output_shape's, its dtype int64 for ids, the compute dtype for
    encodings, strings for an inverted lookup."""
    if isinstance(inputs, KerasTensor):
        if not layer.built:
            layer._maybe_build(tuple(inputs.shape))
        shape = tuple(layer.compute_output_shape(tuple(inputs.shape)))
        if getattr(layer, "invert", False):
            dtype = "string"
        elif getattr(layer, "output_mode", "int") == "int":
            dtype = "int64"
        else:
            dtype = layer.compute_dtype
        return make_outputs(layer, (inputs,), {}, (shape, dtype))
    return layer.call(inputs)


class _IndexLookup(Layer):
    """The vocabulary, the lookup and the encodings StringLookup, IntegerLookup and TextVectorization share."""

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                 output_mode, pad_to_max_tokens, sparse, **kwargs):
        super().__init__(**kwargs)
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or
                                       max_tokens <= 1):
            raise ValueError("If set, `max_tokens` must be greater than 1. Received: max_tokens=%r" % (max_tokens,))
        output_mode = _deprecated_mode(output_mode)
        if output_mode not in _MODES:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of %s. Received: output_mode=%r"
                             % (list(_MODES), output_mode))
        if num_oov_indices not in (0, 1):
            raise ValueError("gpunet supports num_oov_indices 0 or 1 (Keras hashes tokens across several OOV "
                             "indices with FarmHash); received num_oov_indices=%r" % (num_oov_indices,))
        if invert and output_mode != "int":
            raise ValueError("`output_mode` must be 'int' when `invert` is true. Received: output_mode=%r"
                             % (output_mode,))
        if sparse:
            raise ValueError("sparse=True is not supported by gpunet: the encodings come out dense")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError("`idf_weights` should only be set if `output_mode` is 'tf_idf'. Received: "
                             "output_mode=%r" % (output_mode,))
        self.max_tokens, self.num_oov_indices = max_tokens, num_oov_indices
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.output_mode = invert, output_mode
        self.pad_to_max_tokens, self.sparse = pad_to_max_tokens, sparse
        self.input_vocabulary = None if vocabulary is None else list(self._read_vocabulary(vocabulary))
        self.input_idf_weights = None if idf_weights is None else [float(w) for w in np.asarray(idf_weights)]
        self._vocab = []  # learned tokens, in index order
        self._idf = None
        self._index = {}
        self.built = True
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ---- the vocabulary ----
    def _token_start_index(self):
        return (1 if self.mask_token is not None else 0) + self.num_oov_indices

    def _specials(self):
        return ([self.mask_token] if self.mask_token is not None else []) + \
            ([self.oov_token] if self.num_oov_indices else [])

    def _read_vocabulary(self, vocabulary):
        if isinstance(vocabulary, (str, os.PathLike)) and os.path.isfile(vocabulary):
            with open(vocabulary, encoding="utf-8") as f:
                lines = f.read().splitlines()
            while lines and lines[-1] == "":
                lines.pop()
            return [self._token(line) for line in lines]
        return [self._token(t) for t in np.asarray(_host(vocabulary)).reshape(-1).tolist()]

    def set_vocabulary(self, vocabulary, idf_weights=None):
        tokens = self._read_vocabulary(vocabulary)
        specials = self._specials()
        if tokens[:len(specials)] == specials:  # a full vocabulary (get_vocabulary()): special tokens first
            tokens = tokens[len(specials):]
        if len(set(tokens)) != len(tokens):
            dup = [t for t, c in collections.Counter(tokens).items() if c > 1]
            raise ValueError("The passed vocabulary has at least one repeated term. Please uniquify your dataset. "
                             "The repeated terms are: %s" % (dup,))
        for special in specials:
            if special in tokens:
                raise ValueError("Found reserved token %r in the passed vocabulary at index %d; special tokens "
                                 "belong before the learned ones" % (special, tokens.index(special)))
        if self.max_tokens is not None and len(tokens) + self._token_start_index() > self.max_tokens:
            raise ValueError("Attempted to set a vocabulary larger than the maximum vocab size. Received "
                             "vocabulary size is %d; `max_tokens` is %d."
                             % (len(tokens) + self._token_start_index(), self.max_tokens))
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
            w = np.asarray(_host(idf_weights), dtype=np.float64).reshape(-1)
            if len(w) == len(tokens) + self._token_start_index():
                w = w[self._token_start_index():]
            if len(w) != len(tokens):
                raise ValueError("`idf_weights` must be the same length as vocabulary. len(idf_weights) is %d; "
                                 "len(vocabulary) is %d" % (len(w), len(tokens)))
            self._idf = np.concatenate([np.full(self._token_start_index(), w.mean() if len(w) else 0.0), w])
        self._vocab = tokens
        start = self._token_start_index()
        self._index = {t: start + i for i, t in enumerate(tokens)}

    def get_vocabulary(self, include_special_tokens=True):
        return (self._specials() if include_special_tokens else []) + list(self._vocab)

    def vocabulary_size(self):
        return self._token_start_index() + len(self._vocab)

    def adapt(self, data, batch_size=None, steps=None):
        """Learns the vocabulary (and, for tf_idf, the document frequencies) from data: the tokens by count,
        the most frequent first, up to max_tokens."""
        counts, docs, n_docs = collections.Counter(), collections.Counter(), 0
        for doc in self._documents(data, steps):
            counts.update(doc)
            docs.update(set(doc))
            n_docs += 1
        for special in self._specials():
            counts.pop(special, None)
        ordered = sorted(counts.items(), key=lambda kv: (kv[1], self._sort_key(kv[0])), reverse=True)
        if self.max_tokens:
            ordered = ordered[:max(0, self.max_tokens - self._token_start_index())]
        tokens = [t for t, _ in ordered]
        idf = None
        if self.output_mode == "tf_idf":
            idf = [math.log(1 + n_docs / (1 + docs[t])) for t in tokens]
        self.input_vocabulary = None  # learned, not given
        self.set_vocabulary(tokens, idf)

    @staticmethod
    def _sort_key(token):
        return token.encode("utf-8") if isinstance(token, str) else token

    def _documents(self, data, steps=None):
        """Each sample's tokens, from an array or list of samples (a sample: one token or a row of them) or
        from an iterable of such batches (a generator, a PyDataset)."""
        data = _host(data)
        if isinstance(data, str):
            yield [self._token(data)]
        elif isinstance(data, (np.ndarray, list, tuple)):
            for item in data:
                yield self._tokens_of(item)
        else:
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                yield from self._documents(batch[0] if isinstance(batch, tuple) else batch)

    def _tokens_of(self, item):
        arr = np.asarray(item, dtype=object).reshape(-1)
        return [self._token(t) for t in arr.tolist()]

    # ---- encoding ----
    def _lookup(self, token):
        if self.mask_token is not None and token == self.mask_token:
            return 0
        i = self._index.get(token)
        if i is None:
            if not self.num_oov_indices:
                raise ValueError("%s: token %r is not in the vocabulary and num_oov_indices=0"
                                 % (type(self).__name__, token))
            return 1 if self.mask_token is not None else 0
        return i

    def _encode(self, ids_per_sample):
        """ids (one list per sample) to the (samples, depth) encoding of a non-int output_mode, as a Tensor."""
        xp = backend.get_xp()
        depth = self.max_tokens if (self.pad_to_max_tokens and self.max_tokens) else self.vocabulary_size()
        out = _bag(ids_per_sample, depth, self.output_mode)
        if self.output_mode == "tf_idf":
            idf = np.zeros(depth)
            idf[:len(self._idf)] = self._idf[:depth]
            out = (out * idf).astype("float32")
        return Tensor(xp.asarray(out))

    def _token(self, t):
        raise NotImplementedError

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                    "mask_token": self.mask_token, "oov_token": self.oov_token,
                    # Keras saves an adapted vocabulary as an asset of the .keras file; here it travels in
                    # the config too, so from_config(get_config()) gives back a working layer
                    "vocabulary": self.get_vocabulary(include_special_tokens=False) if self._vocab else
                    self.input_vocabulary,
                    "idf_weights": None if self._idf is None else [float(w) for w in self._idf[
                        self._token_start_index():]],
                    "invert": self.invert, "output_mode": self.output_mode,
                    "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": self.sparse,
                    "vocabulary_size": self.vocabulary_size()})
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("vocabulary_size", None)
        return cls(**config)

    def save_assets(self, dir_path):
        """Keras's asset file: the vocabulary, special tokens included, one token per line."""
        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(str(w) for w in self.get_vocabulary()))

    def load_assets(self, dir_path):
        """As Keras's: a vocabulary in the config wins (Keras writes the asset for an adapted layer, whose config
        has none); else the asset's vocabulary.txt, which must be there."""
        if self.input_vocabulary is not None:
            return
        path = None if dir_path is None else os.path.join(dir_path, "vocabulary.txt")
        if path is None or not os.path.isfile(path):
            raise ValueError("Layer %r has no vocabulary in its config and the saved archive has no "
                             "assets/.../vocabulary.txt for it" % self.name)
        self.set_vocabulary(path, None if self._idf is None else self._idf)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self.max_tokens if (self.pad_to_max_tokens and self.max_tokens) else self.vocabulary_size()
        return (input_shape[0], depth)


class StringLookup(_IndexLookup):
    """Maps strings to integer ids from a vocabulary ([UNK] for unknown ones), or back with invert=True."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", **kwargs):
        self.encoding = encoding
        kwargs.pop("vocabulary_dtype", None)
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _token(self, t):
        return t.decode(self.encoding) if isinstance(t, bytes) else str(t)

    def __call__(self, inputs, **kwargs):
        return _host_layer_call(self, inputs)

    def call(self, inputs):
        arr = np.asarray(_host(inputs), dtype=object)
        if self.invert:
            vocab = self.get_vocabulary()
            ids = np.asarray(arr, dtype=np.int64)
            out = np.vectorize(lambda i: vocab[i] if 0 <= i < len(vocab) else self.oov_token, otypes=[object])(ids)
            return out.astype(str)
        if self.output_mode == "int":
            ids = np.vectorize(lambda t: self._lookup(self._token(t)), otypes=[np.int64])(arr) if arr.size else \
                arr.astype(np.int64)
            return Tensor(backend.get_xp().asarray(ids))
        rows = arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)
        return self._encode([[self._lookup(self._token(t)) for t in row] for row in rows.tolist()])

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"encoding": self.encoding, "vocabulary_dtype": "string"})
        return cfg


class IntegerLookup(_IndexLookup):
    """Maps integers to contiguous ids from a vocabulary (-1 stands for unknown ones)."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, **kwargs):
        self.vocabulary_dtype = vocabulary_dtype
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _token(self, t):
        return int(t)

    def call(self, inputs):
        arr = np.asarray(_host(inputs))
        if self.invert:
            vocab = np.asarray(self.get_vocabulary(), dtype=np.int64)
            ids = arr.astype(np.int64)
            bad = (ids < 0) | (ids >= len(vocab))
            return Tensor(backend.get_xp().asarray(np.where(bad, self.oov_token, vocab[np.clip(ids, 0, len(vocab) - 1)])))
        if self.output_mode == "int":
            flat = np.array([self._lookup(int(t)) for t in arr.reshape(-1).tolist()], dtype=np.int64)
            return Tensor(backend.get_xp().asarray(flat.reshape(arr.shape)))
        rows = arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)
        return self._encode([[self._lookup(int(t)) for t in row] for row in rows.tolist()])

    def get_config(self):
        cfg = super().get_config()
        cfg["vocabulary_dtype"] = self.vocabulary_dtype
        return cfg


class TextVectorization(Layer):
    """Strings to token ids (or bag-of-words encodings): standardize, split, n-grams, then a StringLookup
    whose vocabulary `adapt` learns. output_mode "int" pads (or cuts) each sample to output_sequence_length
    (the longest sample of the call when None) with the padding id 0."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        kwargs.pop("vocabulary_size", None)
        super().__init__(**kwargs)
        if not (standardize in (None, "lower_and_strip_punctuation", "lower", "strip_punctuation") or
                callable(standardize)):
            raise ValueError("Invalid value for argument `standardize`. Received: standardize=%r" % (standardize,))
        if not (split in (None, "whitespace", "character") or callable(split)):
            raise ValueError("Invalid value for argument `split`. Received: split=%r" % (split,))
        if not (ngrams is None or isinstance(ngrams, int) and not isinstance(ngrams, bool) or
                isinstance(ngrams, (tuple, list)) and all(isinstance(i, int) for i in ngrams)):
            raise ValueError("`ngrams` must be None, an integer, or a tuple of integers. Received: ngrams=%r"
                             % (ngrams,))
        output_mode = _deprecated_mode(output_mode)
        if output_mode not in ("int", "multi_hot", "count", "tf_idf"):
            raise ValueError("Invalid value for argument `output_mode`. Expected one of ['int', 'multi_hot', "
                             "'count', 'tf_idf']. Received: output_mode=%r" % (output_mode,))
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError("`output_sequence_length` must not be set if `output_mode` is not 'int'. Received: "
                             "output_sequence_length=%r" % (output_sequence_length,))
        if ragged:
            raise ValueError("ragged=True is not supported by gpunet (its tensors are dense)")
        self.standardize, self.split, self.output_mode = standardize, split, output_mode
        self._ngrams_arg = tuple(ngrams) if isinstance(ngrams, list) else ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else self._ngrams_arg
        self.output_sequence_length, self.encoding, self.ragged = output_sequence_length, encoding, ragged
        self._lookup_layer = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                                          mask_token="" if output_mode == "int" else None,
                                          output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens,
                                          sparse=sparse, encoding=encoding, name=self.name + "_lookup")
        self.built = True

    def _standardize_text(self, text):
        if callable(self.standardize):
            return str(self.standardize(text))
        if self.standardize in ("lower_and_strip_punctuation", "lower"):
            text = text.lower()
        if self.standardize in ("lower_and_strip_punctuation", "strip_punctuation"):
            text = re.sub(STRIP_REGEX, "", text)
        return text

    def _tokens(self, text):
        if isinstance(text, bytes):
            text = text.decode(self.encoding)
        text = self._standardize_text(str(text))
        if self.split is None:
            toks = [text]
        elif callable(self.split):
            toks = [str(t) for t in self.split(text)]
        elif self.split == "whitespace":
            toks = text.split()
        else:
            toks = list(text)
        if self._ngrams:
            toks = [" ".join(toks[i:i + n]) for n in self._ngrams for i in range(len(toks) - n + 1)]
        return toks

    def _samples(self, data):
        arr = np.asarray(_host(data), dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim > 1:
            raise ValueError("TextVectorization expects a batch of strings of shape (batch,) or (batch, 1), "
                             "received shape %s" % (arr.shape,))
        return arr.reshape(-1).tolist(), arr.ndim == 0

    def adapt(self, data, batch_size=None, steps=None):
        if not isinstance(data, (np.ndarray, list, tuple, str, Tensor)):
            data = [s for i, b in enumerate(data) if steps is None or i < steps
                    for s in self._samples(b[0] if isinstance(b, tuple) else b)[0]]
        samples, _ = self._samples(data)
        self._lookup_layer.adapt([self._tokens(s) for s in samples])

    def __call__(self, inputs, **kwargs):
        return _host_layer_call(self, inputs)

    def call(self, inputs):
        samples, scalar = self._samples(inputs)
        lk = self._lookup_layer
        ids = [[lk._lookup(t) for t in self._tokens(s)] for s in samples]
        if self.output_mode != "int":
            return lk._encode(ids)
        length = self.output_sequence_length or max([len(i) for i in ids] + [0])
        out = np.zeros((len(ids), length), dtype=np.int64)
        for r, row in enumerate(ids):
            row = row[:length]
            out[r, :len(row)] = row
        return Tensor(backend.get_xp().asarray(out[0] if scalar else out))

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def vocabulary_size(self):
        return self._lookup_layer.vocabulary_size()

    def save_assets(self, dir_path):
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self._lookup_layer.load_assets(dir_path)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return self._lookup_layer.compute_output_shape(input_shape)

    def get_config(self):
        lk = self._lookup_layer
        cfg = super().get_config()
        cfg.update({"max_tokens": lk.max_tokens, "standardize": self.standardize, "split": self.split,
                    "ngrams": self._ngrams_arg, "output_mode": self.output_mode,
                    "output_sequence_length": self.output_sequence_length, "pad_to_max_tokens": lk.pad_to_max_tokens,
                    "sparse": lk.sparse, "ragged": self.ragged,
                    "vocabulary": lk.get_vocabulary(include_special_tokens=False) if lk._vocab else lk.input_vocabulary,
                    "idf_weights": lk.get_config()["idf_weights"], "encoding": self.encoding,
                    "vocabulary_size": self.vocabulary_size()})
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)
