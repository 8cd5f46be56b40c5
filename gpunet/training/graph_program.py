"""A model's forward and backward as one static launch list over its layer graph: the layers of the GPU step
programs (gpu_step.py). Any chain or Functional graph (one input, one output: branches, residual `Add`s) whose
every node has a rule in program_layers.py becomes a program; anything else raises Unsupported with the reason,
and fit runs the tape.

Build, once per fit:
  1. plan(): the nodes in run order, each a layer of a supported exact class with its input tensors; an
     Activation right after a linear Dense or Conv (its only consumer) folds into that layer's epilogue; the
     softmax head is left to the loss.
  2. forward(): each node's rule allocates its output and appends its launches, keeping what its backward reads.
  3. backward(g): the nodes in reverse; each rule appends its launches (weight gradients straight into the
     optimizer's flat gradient buffer) and returns its inputs' gradients. A tensor read by several nodes sums
     their gradients (add2, then add_into).

Buffers come from the program's Arena through free lists (liveness): a gradient buffer returns to its list once
the node that reads it has its launches, and a later gradient of the same size takes it; in a forward-only
program (evaluate, predict) so does an activation after its last reader. Launches run in list order on one
stream, so a reused buffer is rewritten only after every launch that reads its old value. `nbytes` is the
program's device memory (README: "The captured GPU step")."""
import numpy as np

from ..kernels.launch import ACT_CODES
from ..layers.core import Activation, Dense
from . import program_attention, program_layers as rules, program_recurrent, program_spatial
from .program_layers import Unsupported

RULES = {**rules.RULES, **program_spatial.RULES, **program_recurrent.RULES, **program_attention.RULES}


class Node:
    __slots__ = ("layer", "rule", "inputs", "output", "shape", "act", "state", "mask", "in_masks", "kwargs")

    def __init__(self, layer, rule, inputs, output, shape, kwargs=None):
        self.layer, self.rule, self.inputs, self.output, self.shape = layer, rule, inputs, output, shape
        self.kwargs = kwargs or {}  # constant call arguments a rule takes (MultiHeadAttention's use_causal_mask)
        self.act = None  # a folded Activation (Dense, Conv): the fused epilogue's name
        self.state = None
        self.mask = None  # the Embedding(mask_zero=True) node whose mask reaches this node's input
        self.in_masks = []  # per input: that node or None


def _graph(model):
    """[(layer, [input ids], output id, output shape, constant call kwargs)], the input id and the output id."""
    functional = getattr(model, "_program_graph", None)
    if functional is None:
        chain = getattr(model, "_program_chain", lambda: None)()
        if chain is None:
            raise Unsupported("the model is neither a built Sequential nor a Functional model")
        return [(layer, [i], i + 1, shape, {}) for i, (layer, shape) in enumerate(chain)], 0, len(chain)
    from ..layers.base import Layer
    nodes, x, y = functional()
    if nodes is None:
        raise Unsupported("the model overrides call() or has several inputs or outputs")
    out = []
    for op, parents, (args, kwargs), outs in nodes:
        name = getattr(op, "name", type(op).__name__)
        if not isinstance(op, Layer):
            raise Unsupported("the graph calls an op (%s) outside a layer" % name)
        ins = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        # every tensor comes in positionally; the keyword arguments are constants (no tensor among them)
        if len(outs) != 1 or [id(p) for p in ins] != [id(p) for p in parents]:
            raise Unsupported('layer "%s" is called with tensors besides its inputs, or returns several' % name)
        # training=None is the call's own mode; a constant one (Dropout(...)(x, training=True)) is an option the
        # rules do not take: it stays among the keyword arguments, and plan() refuses it
        kw = {k: v for k, v in kwargs.items() if not (k == "training" and v is None)}
        out.append((op, [id(p) for p in parents], id(outs[0]), tuple(outs[0].shape), kw))
    return out, id(x), id(y)


def plan(model, training, head):
    """The nodes of `model` in run order, or Unsupported(reason). head: "softmax" (the model ends in a softmax the
    loss takes the logits before), "logits" (every layer runs, the output is the logits) or None (predict)."""
    graph, x_id, y_id = _graph(model)
    seen, nodes, producer, readers, masks = set(), [], {}, {}, {}
    for layer, ins, out, shape, kwargs in graph:
        if id(layer) in seen:
            raise Unsupported('layer "%s" is called more than once (a shared layer)' % layer.name)
        seen.add(id(layer))
        if getattr(layer, "_mixed", False):
            raise Unsupported('layer "%s" runs under a mixed-precision policy' % layer.name)
        if layer.activity_regularizer is not None:
            raise Unsupported('layer "%s" has an activity regularizer' % layer.name)
        rule = RULES.get(type(layer))
        if rule is None:
            raise Unsupported('no program rule for layer "%s" (%s)' % (layer.name, type(layer).__name__))
        if None in shape[1:]:
            raise Unsupported('layer "%s" has an output shape %s the program cannot fix' % (layer.name, shape))
        if set(kwargs) - rule.call_kwargs:
            raise Unsupported('layer "%s" is called with %s' % (layer.name, ", ".join(sorted(kwargs))))
        node = Node(layer, rule, ins, out, shape, kwargs)
        node.in_masks = [masks.get(t) for t in ins]
        sources = {id(m): m for m in node.in_masks if m is not None}
        if len(sources) > 1:
            raise Unsupported('the masks of %s meet at layer "%s"' % (" and ".join(
                '"%s"' % m.layer.name for m in sources.values()), layer.name))
        node.mask = next(iter(sources.values()), None)
        if node.mask is not None and rule.mask_mode not in ("pass", "consume"):
            raise Unsupported('the mask of "%s" reaches layer "%s", which cannot take it in a program'
                              % (node.mask.layer.name, layer.name))
        rule.check(node, training)
        masks[out] = rule.output_mask(node, node.mask)
        producer[out] = node
        for t in ins:
            readers.setdefault(t, []).append(node)
        nodes.append(node)
    if not nodes or nodes[-1].output != y_id:
        raise Unsupported("the model's output is not its last layer's")
    if masks.get(y_id) is not None:
        raise Unsupported("the model's output carries a mask (the loss would weight by it)")
    if head == "softmax":  # the loss takes the logits: the softmax is left to it
        last = nodes[-1]
        if type(last.layer) is Activation:
            nodes.pop()
            y_id = last.inputs[0]
            if y_id == x_id or type(producer[y_id].layer) is not Dense or producer[y_id].act != "linear":
                raise Unsupported("the softmax head does not follow a linear Dense")
        elif type(last.layer) is not Dense:
            raise Unsupported("the model does not end in a Dense or Activation softmax")
        else:
            last.act = "linear"
    nodes = _fold_activations(nodes, producer, readers, y_id)
    for node in nodes:
        if node.act is not None and node.act not in ACT_CODES:
            raise Unsupported('layer "%s" has an activation the kernels lack (%s)'
                              % (node.layer.name, getattr(node.layer.activation, "__name__", node.layer.activation)))
    return nodes, x_id, y_id


def _fold_activations(nodes, producer, readers, y_id):
    """An Activation whose input a linear Dense or Conv alone reads runs in that layer's epilogue."""
    out = []
    for node in nodes:
        src = producer.get(node.inputs[0]) if len(node.inputs) == 1 else None
        if (type(node.layer) in rules.ACTIVATION_LAYERS and src is not None and src.rule.fuses_activation
                and src.act == "linear" and len(readers[src.output]) == 1 and src.output != y_id):
            src.act = node.act
            src.output, src.shape = node.output, node.shape
            continue
        out.append(node)
    return out


class Buffers:
    """The program's allocations: each buffer a flat Arena array of one size, handed out as views; released
    buffers go back to a free list per (elements, dtype)."""

    def __init__(self, arena):
        self.arena, self.free, self.flat, self.refs = arena, {}, {}, {}

    def get(self, shape, dtype=np.float32):
        shape = tuple(int(s) for s in shape)
        key = (int(np.prod(shape)), np.dtype(dtype).str)
        pool = self.free.get(key)
        flat = pool.pop() if pool else self.arena.empty(max(1, key[0]), dtype)
        view = flat[:key[0]].reshape(shape)
        self.flat[id(view)] = (flat, view)
        self.refs[id(flat)] = 0
        return view

    def base(self, view):
        entry = self.flat.get(id(view))
        return None if entry is None else entry[0]

    def alias(self, view, shape):
        """A view of another shape of the same buffer (Flatten, Reshape): the same flat buffer."""
        v = view.reshape(tuple(int(s) for s in shape))
        flat = self.base(view)
        if flat is not None:
            self.flat[id(v)] = (flat, v)
        return v

    def ref(self, view, k=1):
        flat = self.base(view)
        if flat is not None:
            self.refs[id(flat)] += k
            if self.refs[id(flat)] == 0:
                self.free.setdefault((flat.size, flat.dtype.str), []).append(flat)
        return flat

    def held(self, shape, dtype=np.float32, into=None):
        """A buffer a rule keeps for itself while it appends launches (a temporary): release() returns it."""
        view = self.get(shape, dtype)
        self.ref(view)
        if into is not None:
            into.append(view)
        return view

    def release(self, views):
        for view in views:
            self.ref(view, -1)

    def exclusive(self, view):
        """Whether one tensor alone holds this buffer (its reader may overwrite it)."""
        flat = self.base(view)
        return flat is not None and self.refs[id(flat)] == 1


class Program:
    """The node program of one model for one static batch (see the module docstring)."""

    def __init__(self, model, arena, batch, training, ctl, head):
        self.nodes, self.x_id, self.y_id = plan(model, training, head)
        self.arena, self.batch, self.training, self.ctl = arena, batch, training, ctl
        self.buffers = Buffers(arena)
        self.launches, self.dropout_calls = [], 0
        self.data, self.ids_int = None, False  # the resident inputs (Embedding checks their ids once)
        self.n_dropout = sum(1 for n in self.nodes if n.rule.draws(n, training))
        self.head = None
        self._scratch = {}

    def scratch(self, shape, dtype=np.float32):
        """A GEMM's temporaries (split-K partials, bias-sum chunks, cuBLASLt's workspace): written and read within
        the launches of one product, so every product of one size shares one buffer (the launches run in order).
        Without this, an LSTM's split-K partials would take a buffer per timestep."""
        key = (int(np.prod(shape)), np.dtype(dtype).str)
        flat = self._scratch.get(key)
        if flat is None:
            flat = self._scratch[key] = self.arena.empty(max(1, key[0]), dtype)
        return flat[:key[0]].reshape(shape)

    def data_range(self):
        """(min, max) of the resident inputs as ids: one host read at build, never in a step."""
        if not hasattr(self, "_range"):
            d = self.data.view(np.int32) if self.ids_int else self.data
            self._range = (int(d.min()), int(d.max())) if d.size else (0, 0)
        return self._range

    def value_shape(self, shape):
        return (self.batch,) + tuple(shape[1:])

    def forward(self, x, fuse_head=None):
        """Appends the forward launches from the input buffer x; returns the output (logits) buffer. fuse_head:
        a function (x, W, b, Y, Z, act) -> bool that takes the last Dense's forward over (the fused head)."""
        B = self.buffers
        values = {self.x_id: x}
        last_read = {}
        for i, node in enumerate(self.nodes):
            for t in node.inputs:
                last_read[t] = i
                if t == self.x_id and self.ids_int and not isinstance(node.rule, program_recurrent._Embedding):
                    raise Unsupported('layer "%s" reads integer inputs' % node.layer.name)
        keep = self.training  # the backward reads the activations: a training program frees none
        if not keep:
            B.ref(x)  # the input buffer is the gather's: never released to a list (held by an extra reference)
        for i, node in enumerate(self.nodes):
            ins = [values[t] for t in node.inputs]
            head = fuse_head if (fuse_head is not None and node.output == self.y_id) else None
            y = node.rule.forward(self, node, ins, head)
            values[node.output] = y
            if not keep:
                B.ref(y)
                for t in set(node.inputs):
                    if last_read[t] == i and t != self.y_id:
                        B.ref(values[t], -1)
        self.values = values
        return values[self.y_id]

    def backward(self, g):
        """Appends the backward launches from the output's gradient g (a buffer of the program)."""
        B = self.buffers
        need = self._needs_grad()
        grads = {self.y_id: g}
        B.ref(g)
        for node in reversed(self.nodes):
            gy = grads.pop(node.output, None)
            if gy is None:
                continue
            wants = [need.get(t, False) for t in node.inputs]
            gins = node.rule.backward(self, node, gy, wants)
            for t, gi, w in zip(node.inputs, gins, wants):
                if w and gi is not None:
                    self._contribute(grads, t, gi)
            B.ref(gy, -1)

    def _contribute(self, grads, t, gi):
        B = self.buffers
        cur = grads.get(t)
        B.ref(gi)
        if cur is None:
            grads[t] = gi
        elif B.exclusive(cur) and B.base(cur) is not B.base(gi):
            self.launches.append(rules.graph.add_into_launch(cur, gi))
            B.ref(gi, -1)
        else:
            s = B.get(cur.shape)
            B.ref(s)
            self.launches.append(rules.graph.add2_launch(cur, gi, s))
            B.ref(cur, -1)
            B.ref(gi, -1)
            grads[t] = s

    def _needs_grad(self):
        """Tensors whose gradient some trainable weight upstream needs (none for the input, or below frozen
        layers only)."""
        need = {self.x_id: False}
        for node in self.nodes:
            need[node.output] = any(need.get(t, False) for t in node.inputs) or node.rule.trains(node)
        return need

    @property
    def nbytes(self):
        return sum(int(a.nbytes) for a in self.arena.buffers)
