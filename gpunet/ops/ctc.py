"""keras.ops.ctc_loss and ctc_decode (greedy): connectionist temporal classification for unsegmented sequences
(Graves et al. 2006), as keras.io's OCR and speech examples use them.

The loss runs the forward (alpha) recursion in log space over each target padded with blanks, batched: one step
per frame, each a handful of differentiable ops (log-softmax, logaddexp, where), so the gradient with respect to the
logits comes from the tape. Frames past an output's length leave its alphas as they are; labels past a target's
length are never reached. Unreachable states hold a large negative number, not -inf, so no gradient is NaN."""
import numpy as np

from .. import backend
from . import elementwise, math as M, nn, products, reductions
from .core import convert_to_tensor

__all__ = ["ctc_loss", "ctc_decode"]

_NEG = -1e5  # log of "impossible", finite (Keras's log_epsilon)


def _host_ints(v, what):
    a = np.asarray(backend.to_numpy(v.data if hasattr(v, "data") and not isinstance(v, np.ndarray) else v))
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise ValueError("%s must hold integers, received dtype %s" % (what, a.dtype))
    return a.astype(np.int64)


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """The negative log-likelihood of each target (batch, max_label) under the logits output
    (batch, max_time, classes); target_length and output_length (batch,) say how much of each is real.
    mask_index is the blank class. Returns (batch,) losses."""
    labels = _host_ints(target, "target")
    tl, ol = _host_ints(target_length, "target_length"), _host_ints(output_length, "output_length")
    if labels.ndim != 2 or len(output.shape) != 3:
        raise ValueError("ctc_loss expects target (batch, max_label_length) and output (batch, max_time, classes); "
                         "received %s and %s" % (labels.shape, tuple(output.shape)))
    b, t_max, k = (int(s) for s in output.shape)
    if labels.shape[0] != b or tl.shape != (b,) or ol.shape != (b,):
        raise ValueError("ctc_loss: target %s, target_length %s and output_length %s must all have the batch size %d"
                         % (labels.shape, tl.shape, ol.shape, b))
    if np.any(tl > labels.shape[1]) or np.any(ol > t_max) or np.any(tl < 0) or np.any(ol < 0):
        raise ValueError("ctc_loss: target_length must be within [0, %d] and output_length within [0, %d]; received "
                         "%s and %s" % (labels.shape[1], t_max, tl.tolist(), ol.tolist()))
    n = labels.shape[1]
    s = 2 * n + 1
    real = np.arange(n)[None, :] < tl[:, None]
    lab = np.where(real, labels, mask_index)
    if np.any((lab < 0) | (lab >= k)):
        raise ValueError("ctc_loss: labels must be class indices in [0, %d), received %s" % (k, labels.tolist()))
    ext = np.full((b, s), mask_index, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    ext[:, 1::2] = lab
    skip = np.zeros((b, s), dtype=bool)  # s - 2 -> s allowed: a label that differs from the label before it
    skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
    final = np.zeros((b, s), dtype=bool)  # the two states a full path may end in: the last label or the blank after
    final[np.arange(b), 2 * tl] = True
    final[np.arange(b), np.maximum(2 * tl - 1, 0)] = True
    xp = backend.get_xp()
    dtype = output.dtype if str(output.dtype) in ("float32", "float64") else np.dtype("float32")
    logits = output if str(output.dtype) == str(dtype) else M.cast(output, dtype)
    logprobs = nn.log_softmax(logits, axis=-1)
    onehot = xp.asarray(np.eye(k, dtype=dtype)[ext])  # (b, s, k)
    emit = products.einsum("btk,bsk->bts", logprobs, onehot)  # logprob of each extended state at each frame
    neg = xp.full((b, 1), _NEG, dtype=dtype)
    neg2 = xp.full((b, 2), _NEG, dtype=dtype)
    skip_d, final_d = xp.asarray(skip), xp.asarray(final)
    alpha = xp.full((b, s), _NEG, dtype=dtype)
    alpha[:, 0] = 0.0  # a virtual start one frame before the first: its only successors are states 0 and 1
    alpha = convert_to_tensor(alpha)
    for t in range(int(ol.max(initial=0))):
        stay = alpha
        step = M.concatenate([convert_to_tensor(neg), alpha[:, :-1]], axis=1)
        jump = M.where(skip_d, M.concatenate([convert_to_tensor(neg2), alpha[:, :-2]], axis=1), _NEG)
        new = elementwise.logaddexp(elementwise.logaddexp(stay, step), jump) + emit[:, t]
        alpha = M.where(xp.asarray((t < ol)[:, None]), new, alpha)
    ended = M.where(final_d, alpha, _NEG)
    loss = M.negative(reductions.logsumexp(ended, axis=1))
    # no frame at all: only the empty target has a path (probability 1)
    if np.any(ol == 0):
        loss = M.where(xp.asarray(ol == 0), M.where(xp.asarray(tl == 0), 0.0, -_NEG), loss)
    return loss


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """Keras's ctc_decode. strategy="greedy": the most likely class of each frame, repeats merged, blanks dropped;
    returns (decoded (1, batch, max_time) with -1 padding, scores (batch, 1): minus the sum of the chosen
    frames' values, as Keras). strategy="beam_search": the `top_paths` most likely label sequences by CTC prefix
    beam search over the log-softmax of the inputs, keeping `beam_width` prefixes per frame; returns (decoded
    (top_paths, batch, max_time), scores (batch, top_paths): their log-probabilities)."""
    if strategy == "beam_search":
        return _beam_search(inputs, sequence_lengths, beam_width, top_paths, mask_index)
    if strategy != "greedy":
        raise ValueError("Invalid strategy %r. Supported values are 'greedy' and 'beam_search'." % (strategy,))
    x = np.asarray(backend.to_numpy(inputs.data if hasattr(inputs, "data") and not isinstance(inputs, np.ndarray)
                                    else inputs)).astype(np.float32)
    lengths = _host_ints(sequence_lengths, "sequence_lengths")
    if x.ndim != 3 or lengths.shape != (x.shape[0],):
        raise ValueError("ctc_decode expects inputs (batch, max_time, classes) and sequence_lengths (batch,); "
                         "received %s and %s" % (x.shape, lengths.shape))
    b, t_max, k = x.shape
    blank = k - 1 if mask_index is None else int(mask_index)
    best = x.argmax(axis=-1)
    past = np.arange(t_max)[None, :] >= lengths[:, None]
    best = np.where(past, blank, best)
    scores = np.where(past, 0.0, x.max(axis=-1))
    if merge_repeated:
        repeat = np.zeros_like(past)
        repeat[:, 1:] = best[:, 1:] == best[:, :-1]
        best = np.where(repeat, blank, best)
    decoded = np.full((b, t_max), -1, dtype=np.int32)
    for i in range(b):
        kept = best[i][best[i] != blank]
        decoded[i, :len(kept)] = kept
    return convert_to_tensor(decoded[None]), convert_to_tensor(-scores.sum(axis=1, keepdims=True).astype(np.float32))


def _beam_search(inputs, sequence_lengths, beam_width, top_paths, mask_index):
    x = np.asarray(backend.to_numpy(getattr(inputs, "data", inputs)), dtype=np.float64)
    lengths = _host_ints(sequence_lengths, "sequence_lengths")
    if x.ndim != 3 or lengths.shape != (x.shape[0],):
        raise ValueError("ctc_decode expects inputs (batch, max_time, classes) and sequence_lengths (batch,); "
                         "received %s and %s" % (x.shape, lengths.shape))
    for name, v in (("beam_width", beam_width), ("top_paths", top_paths)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError("ctc_decode: %s must be a positive integer, received %r" % (name, v))
    if top_paths > beam_width:
        raise ValueError("ctc_decode: top_paths (%d) cannot exceed beam_width (%d)" % (top_paths, beam_width))
    b, t_max, k = x.shape
    blank = k - 1 if mask_index is None else int(mask_index)
    z = x - x.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    lae = np.logaddexp
    decoded = np.full((top_paths, b, t_max), -1, dtype=np.int32)
    scores = np.full((b, top_paths), -np.inf, dtype=np.float32)
    for i in range(b):
        # prefix (labels, repeats merged and blanks removed) -> [log p ending in a label, log p ending in a blank]
        first = np.argsort(-logp[i, 0], kind="stable")[:beam_width]
        beams = {}
        for c in first:
            key = () if c == blank else (int(c),)
            beams[key] = [-np.inf, logp[i, 0, c]] if c == blank else [logp[i, 0, c], -np.inf]
        for t in range(1, int(lengths[i])):
            lp, new = logp[i, t], {}

            def add(prefix, state, value):
                slot = new.setdefault(prefix, [-np.inf, -np.inf])
                slot[state] = lae(slot[state], value)
            for prefix, (emit, gap) in beams.items():
                total = lae(emit, gap)
                add(prefix, 1, total + lp[blank])
                for c in range(k):
                    if c == blank:
                        continue
                    if prefix and prefix[-1] == c:
                        add(prefix, 0, emit + lp[c])  # the same label again without a blank: merged
                        add(prefix + (c,), 0, gap + lp[c])  # after a blank: a new label
                    else:
                        add(prefix + (c,), 0, total + lp[c])
            ranked = sorted(new.items(), key=lambda kv: -lae(kv[1][0], kv[1][1]))
            beams = dict(ranked[:beam_width])
        ranked = sorted(beams.items(), key=lambda kv: -lae(kv[1][0], kv[1][1]))[:top_paths]
        for j, (prefix, (emit, gap)) in enumerate(ranked):
            decoded[j, i, :len(prefix)] = prefix
            scores[i, j] = lae(emit, gap)
    return convert_to_tensor(decoded), convert_to_tensor(scores)
