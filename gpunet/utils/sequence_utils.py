"""keras.utils.pad_sequences."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pads (or truncates) each sequence to maxlen (default: the longest), as Keras does: padding and
    truncating at the start ("pre") or the end ("post"); items may themselves be arrays."""
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable. Received: sequences=%r" % (sequences,))
    if padding not in ("pre", "post"):
        raise ValueError('padding must be "pre" or "post", received padding=%r' % (padding,))
    if truncating not in ("pre", "post"):
        raise ValueError('truncating must be "pre" or "post", received truncating=%r' % (truncating,))
    lengths, sample_shape, flag = [], (), True
    for x in sequences:
        try:
            lengths.append(len(x))
            if flag and len(x):
                sample_shape = np.asarray(x).shape[1:]
                flag = False
        except TypeError as e:
            raise ValueError("`sequences` must be a list of iterables. Found non-iterable: %r" % (x,)) from e
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    is_str = np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.object_)
    if isinstance(value, str) and dtype != object and not is_str:
        raise ValueError("`dtype` %s is not compatible with `value`'s type: %s" % (dtype, type(value)))
    out = np.full((len(sequences), maxlen) + tuple(sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != tuple(sample_shape):
            raise ValueError("Shape of sample %s of sequence at position %d is different from expected shape %s"
                             % (trunc.shape[1:], i, sample_shape))
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, -len(trunc):] = trunc
    return out
