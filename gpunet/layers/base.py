"""The Layer base class: weights, build-on-first-call, input checks, config."""
import functools
import inspect
import weakref

import numpy as np

from .. import backend, dtype_policies, initializers, ops, regularizers, constraints
from ..ops.symbolic import (KerasTensor, Operation, dummy_value, flatten_symbolic, is_symbolic,  # noqa: F401
                            make_outputs, map_structure, probe_outputs)
from ..ops.tape import Tensor, Variable
from ..common.naming import to_snake_case, uniquify
from . import autocast, symbolic_masks
from .call_support import (InputSpec, _as_tensor, _call_params, _list_mask, _mask_of, _mask_params,  # noqa: F401
                           _restore_metrics, _snapshot_metrics, _warn_mask_dropped)
from .saving_support import _auto_config, _charge_weight, _user_init, auto_get_config

_build_scope = []  # layers whose build() is running, outermost first: weight paths nest as Keras's name scopes
_call_context = []  # the `training` value of each Layer.__call__ in progress, outermost first
_pending_losses = weakref.WeakSet()  # layers holding add_loss() terms: clearing costs nothing when empty


def has_pending_losses():
    return bool(_pending_losses)


def _shallow_symbolic(args, kwargs):
    """is_symbolic for call arguments, without recursion in the common cases (the hot path)."""
    for group in (args, kwargs.values()) if kwargs else (args,):
        for a in group:
            t = type(a)
            if t is KerasTensor:
                return True
            if (t is list or t is tuple or t is dict) and is_symbolic(a):
                return True
    return False


class call_context:
    """One layer call: `training` left as None takes the enclosing call's value (Keras passes it down
    to nested layers), and the outermost call clears the add_loss() terms of the previous pass."""
    __slots__ = ("layer", "training")

    def __init__(self, layer, training):
        self.layer, self.training = layer, training

    def __enter__(self):
        if self.training is None and _call_context:
            self.training = _call_context[-1]
        if not _call_context and _pending_losses:
            self.layer._clear_losses()
        _call_context.append(self.training)
        return self.training

    def __exit__(self, *exc):
        _call_context.pop()
        return False

_KNOWN_KWARGS = {"input_shape", "input_dim", "batch_input_shape", "batch_size", "dtype", "name",
                 "trainable", "activity_regularizer", "autocast", "weights"}


def _positional_index(fn, arg):
    """Where `arg` sits among call()'s positional parameters after self (layer(x, True) passes training)."""
    try:
        params = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    for i, p in enumerate(params):
        if p.name == arg:
            return i if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) else None
    return None


def _accepts(fn, arg):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return arg in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


class Layer(Operation):
    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj._auto_config = _auto_config(cls, args, kwargs) if _user_init(cls, Layer) else None
        return obj

    def __init__(self, **kwargs):
        unknown = set(kwargs) - _KNOWN_KWARGS
        if unknown:
            raise TypeError("Unrecognized keyword arguments passed to %s: %s"
                            % (type(self).__name__, {k: kwargs[k] for k in sorted(unknown)}))
        name = kwargs.get("name")
        self.name = name if name else uniquify(to_snake_case(type(self).__name__))
        self._trainable = kwargs.get("trainable", True)
        self.dtype_policy = kwargs.get("dtype")  # a name, a DTypePolicy, a file's config, or None (the global one)
        self.built = False
        self.input_spec = None  # {"min_ndim": int, "axes": {axis: size}} once built
        self._own_weights = []
        self._created_trainable = set()
        self._regularized = []  # (variable, regularizer)
        self.activity_regularizer = regularizers.get(kwargs.get("activity_regularizer"))
        self._activity_losses = []
        self._losses = []  # add_loss() during the current call
        self._build_shape = None
        shape = kwargs.get("batch_input_shape")
        if kwargs.get("input_shape") is not None:
            shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
        elif kwargs.get("input_dim") is not None:
            shape = (kwargs.get("batch_size"), kwargs["input_dim"])
        self._batch_input_shape = None if shape is None else tuple(shape)
        if not hasattr(type(self), "supports_masking"):
            # Keras: a layer that overrides compute_mask supports masking; others say so in __init__
            self.supports_masking = type(self).compute_mask is not Layer.compute_mask
        cls = type(self)
        if "_call_takes_training" not in cls.__dict__:
            cls._call_takes_training = _accepts(cls.call, "training")
            cls._training_pos = _positional_index(cls.call, "training")
            cls._call_mask_args = _mask_params(cls.call)
            cls._call_params = _call_params(cls.call) if cls._call_mask_args else ()

    # ---- dtypes (keras.dtype_policies): variables in variable_dtype (`dtype`), calls in compute_dtype ----
    @property
    def dtype_policy(self):
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value):
        policy = dtype_policies.get(value)
        if isinstance(policy, dtype_policies.DTypePolicyMap) and len(policy):
            raise ValueError("Layer %r: gpunet cannot honour a DTypePolicyMap with entries (%s): its layers have no "
                             "nested paths to look them up by. Pass the policy itself, or a map with only a default."
                             % (self.__dict__.get("name"), sorted(policy)))
        self._dtype_policy = policy
        self.dtype = policy.variable_dtype
        self._compute_dtype = policy.compute_dtype
        self._mixed = policy.is_mixed and policy.compute_dtype in ("float16", "bfloat16")

    @property
    def compute_dtype(self):
        return self._compute_dtype

    @property
    def variable_dtype(self):
        return self.dtype

    @property
    def input_dtype(self):
        return self._compute_dtype

    @property
    def quantization_mode(self):
        return self._dtype_policy.quantization_mode  # always None: gpunet has no quantized layers

    # ---- weights ----
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, name=None, **_):
        dtype = dtype or self.dtype
        if initializer is None:
            initializer = "glorot_uniform" if "float" in str(dtype) else "zeros"
        init = initializers.get(initializer)
        shape = () if shape is None else tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError("layer %r: a weight's shape must not be negative, received %s" % (self.name, shape))
        _charge_weight(self, shape)
        v = Variable(init, shape=shape, dtype=dtype, trainable=trainable, name=name or "variable")
        v.autocast = bool(autocast)  # read in the compute dtype inside a mixed-precision call (autocast.py)
        v.path = "%s/%s" % (_scope_path(self), v.name)
        v._constraint = constraints.get(constraint)
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((v, reg))
        self._own_weights.append(v)
        if trainable:
            self._created_trainable.add(id(v))
            v.trainable = self._trainable
        return v

    def _saved_layers(self):
        """The layers a saved file lists under this one's `layers/` (a model's own list, in order), or None: then
        its sublayers are found by attribute, as Keras's saving walks them."""
        return None

    def _sublayers(self):
        out = []
        untracked = self.__dict__.get("_untracked_attrs", ())  # set by layers/tracking.py
        for key, value in self.__dict__.items():
            if key in untracked:
                continue
            if isinstance(value, Layer):
                out.append(value)
            elif isinstance(value, (list, tuple)):
                out.extend(v for v in value if isinstance(v, Layer))
            elif isinstance(value, dict):  # Keras tracks a dict of layers ({feature: embedding}) too
                out.extend(v for v in value.values() if isinstance(v, Layer))
        return out

    def _flatten_layers(self, include_self=True, recursive=True):
        """This layer (include_self) and its sublayers, each once, in Keras's order (libraries call it: KerasHub's
        Backbone lists its layers this way)."""
        import collections
        out, seen = ([self] if include_self else []), set()
        queue = collections.deque(self._sublayers())
        while queue:
            layer = queue.popleft()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            if recursive:
                queue.extendleft(layer._sublayers())
        return out

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value
        for v in self._own_weights:
            if id(v) in self._created_trainable:
                v.trainable = bool(value)

    @property
    def weights(self):
        own = [v for v in self._own_weights if v.trainable] + [v for v in self._own_weights if not v.trainable]
        for layer in self._sublayers():
            own.extend(w for w in layer.weights if all(w is not o for o in own))
        return own

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable or not self.trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [np.array(backend.to_numpy(w.data)) for w in self.weights]

    def set_weights(self, weights):
        own = self.weights
        if len(weights) != len(own):
            raise ValueError('Layer "%s" expects %d weight arrays, but received %d'
                             % (self.name, len(own), len(weights)))
        for w, value in zip(own, weights):
            if tuple(np.shape(value)) != tuple(w.shape):
                raise ValueError('Layer "%s" weight %s has shape %s, but the value given has shape %s'
                                 % (self.name, w.path, tuple(w.shape), tuple(np.shape(value))))
        for w, value in zip(own, weights):  # checked first: nothing is half-applied
            w.assign(value)

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    @property
    def losses(self):
        """add_loss() terms of the last call, activity and weight regularization, sublayers' too."""
        out = list(self._losses) + [reg(v) for v, reg in self._regularized] + list(self._activity_losses)
        for layer in self._sublayers():
            out.extend(layer.losses)
        return out

    def add_loss(self, loss):
        """Adds a scalar (or a tensor, summed) to the training loss; called inside call() (Keras).
        Cleared at the start of each outermost call, so it holds the last forward pass's terms."""
        for t in (loss if isinstance(loss, (list, tuple)) else [loss]):
            if not isinstance(t, Tensor) and not hasattr(t, "dtype"):
                raise ValueError("`add_loss()` can only be called from inside `build()` or `call()`, on a tensor "
                                 "input. Received invalid value: %r" % (t,))
            self._losses.append(t if isinstance(t, Tensor) else Tensor(backend.get_xp().asarray(t)))
        _pending_losses.add(self)

    def _clear_losses(self):
        if self._losses:
            self._losses = []
            _pending_losses.discard(self)
        for layer in self._sublayers():
            layer._clear_losses()

    @property
    def metrics(self):
        """Metric objects held as attributes of this layer and of its sublayers (Keras tracks them)."""
        from ..metrics import Metric
        out = []
        for value in self.__dict__.values():
            items = value if isinstance(value, (list, tuple)) else [value]
            out.extend(m for m in items if isinstance(m, Metric) and all(m is not o for o in out))
        for layer in self._sublayers():
            # a nested model's own loss tracker and compiled metrics are not the outer model's (Keras skips a
            # Trainer's metrics): only those its layers hold
            sub = layer._layer_metrics() if hasattr(layer, "_layer_metrics") else layer.metrics
            out.extend(m for m in sub if all(m is not o for o in out))
        return out

    def compute_mask(self, inputs, previous_mask=None):
        """Keras: the mask passed on to the next layer; by default the incoming one, unchanged."""
        return previous_mask

    # ---- build and call ----
    def __init_subclass__(cls, **kwargs):
        """A subclass's own build() marks the layer built, as Keras's does: a user who calls
        layer.build(shape) and then set_weights() must not see the weights rebuilt at the first call."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("build")
        if own is None or getattr(own, "_marks_built", False):
            return

        @functools.wraps(own)
        def build(self, *args, **kw):
            _build_scope.append(self)
            try:
                out = own(self, *args, **kw)
            finally:
                _build_scope.pop()
            self.built = True
            if self._build_shape is None and args:
                shape = args[0]
                self._build_shape = [tuple(s) for s in shape] if isinstance(shape, list) else (
                    tuple(shape) if isinstance(shape, (list, tuple)) else shape)
            return out
        build._marks_built = True
        cls.build = build

    def build(self, input_shape):
        self.built = True

    def _maybe_build(self, input_shape):
        if not self.built:
            if isinstance(input_shape, list):  # several inputs (merge layers): a list of shapes
                shape = [tuple(s) for s in input_shape]
            elif isinstance(input_shape, dict):
                shape = {k: tuple(s) for k, s in input_shape.items()}
            else:
                shape = tuple(input_shape)
            self._build_shape = shape
            self.build(shape)
            self.built = True

    def _check_input(self, x):
        if x.dtype.kind not in "biuf" and x.dtype.name != "bfloat16":
            raise TypeError('Layer "%s" expects numeric input, but received dtype %s' % (self.name, x.dtype))
        if self.input_spec:
            self._check_input_shape(x.shape)

    def _check_input_shape(self, shape):
        """The input spec against a shape: a built layer handed an input of another size (a loaded config whose
        Input disagrees with the layers' build configs) is refused here, as Keras refuses it at load."""
        spec = self.input_spec
        if not spec:
            return
        if len(shape) < spec.get("min_ndim", 0):
            raise ValueError('Input 0 of layer "%s" is incompatible with the layer: expected min_ndim=%d, '
                             'found ndim=%d. Full shape received: %s'
                             % (self.name, spec["min_ndim"], len(shape), (None,) + tuple(shape[1:])))
        for axis, size in spec.get("axes", {}).items():
            if shape[axis] is not None and shape[axis] != size:
                raise ValueError('Input 0 of layer "%s" is incompatible with the layer: expected axis %d of '
                                 'input shape to have value %d, but received input with shape %s'
                                 % (self.name, axis, size, (None,) + tuple(shape[1:])))

    def _to_tensor(self, x):
        if isinstance(x, Tensor):
            t = x
        else:
            arr = x if hasattr(x, "dtype") else np.asarray(x)
            if arr.dtype.kind not in "biuf" and arr.dtype.name != "bfloat16":
                raise TypeError('Layer "%s" expects numeric input, but received dtype %s' % (self.name, arr.dtype))
            t = Tensor(backend.get_xp().asarray(arr))
        if (t.dtype.kind == "f" or t.dtype.name == "bfloat16") and t.dtype != self._compute_dtype:
            t = ops.cast(t, self._compute_dtype)  # Keras autocasts floating inputs to the compute dtype
        return t

    def __call__(self, *args, **kwargs):
        if not args:
            if "inputs" not in kwargs:
                raise TypeError('Layer "%s" was called without inputs' % self.name)
            args = (kwargs.pop("inputs"),)
        if _shallow_symbolic(args, kwargs):
            if kwargs.get("training", 0) is None:
                del kwargs["training"]  # decided when the model runs, not recorded in the graph
            return self._symbolic_call(args, kwargs)
        inputs, rest = args[0], args[1:]
        if isinstance(inputs, (list, tuple)):
            x = [self._to_tensor(i) for i in inputs]
            if not self.built:
                self._maybe_build([(None,) + tuple(i.shape[1:]) for i in x])
        elif isinstance(inputs, dict):  # a layer whose call takes a dict ({"inputs": ..., "targets": ...})
            x = {k: self._to_tensor(v) for k, v in inputs.items()}
            if not self.built:
                self._maybe_build({k: (None,) + tuple(v.shape[1:]) for k, v in x.items()})
        else:
            x = self._to_tensor(inputs)
            if not self.built:  # a stateful RNN's batch is its state's: Keras builds it from the array's
                self._maybe_build((x.shape[0] if getattr(self, "stateful", False) else None,) + tuple(x.shape[1:]))
            self._check_input(x)
        training = kwargs.pop("training", None)
        tpos = self._training_pos
        by_position = tpos is not None and len(args) > tpos  # layer(x, True): training given positionally
        if by_position:
            training = args[tpos]
        if rest:
            rest = tuple(_as_tensor(a) for a in rest)
        if kwargs:
            kwargs = {k: _as_tensor(v) for k, v in kwargs.items()}
        prev_mask = _mask_of(x)
        if kwargs.get("mask") is not None:
            prev_mask = kwargs["mask"]  # Keras: an explicit mask is the one passed on
        elif self._call_mask_args and (prev_mask is not None or rest or kwargs):
            self._fill_masks(x, rest, kwargs)
        # call_context inlined: this is every layer call of the general training path
        if not _call_context:
            if _pending_losses:
                self._clear_losses()
        elif training is None:
            training = _call_context[-1]
        if by_position:
            rest = rest[:tpos - 1] + (training,) + rest[tpos:]
        elif self._call_takes_training:
            kwargs["training"] = training
        _call_context.append(training)
        swapped = autocast.enter(self, self._compute_dtype) if self._mixed else None
        try:
            out = self.call(x, *rest, **kwargs)
        finally:
            _call_context.pop()
            autocast.leave(swapped)
        if self._mixed:  # NumPy computes bfloat16 products in float32: the output is the compute dtype's, as Keras
            out = autocast.outputs_in(out, self._compute_dtype)
        if self.activity_regularizer is not None and training:
            self._activity_losses = [ops.divide(self.activity_regularizer(out), out.shape[0])]
        if self.supports_masking:
            if prev_mask is not None or self._produces_mask():
                self._set_mask_metadata(x, out, prev_mask)
        elif prev_mask is not None:
            _warn_mask_dropped(self)
        return out

    # ---- masks (Keras: a boolean (batch, time) tensor riding on the output as `_keras_mask`) ----
    def _produces_mask(self):
        """Whether compute_mask can make a mask from no incoming one (Embedding(mask_zero=True), Masking);
        layers that only pass masks on say False. Sequential's direct-call path is taken only when none does."""
        return False

    def _fill_masks(self, x, rest, kwargs):
        """Keras fills a call's `mask` argument from the first input's mask, and `<name>_mask` from the
        mask of the tensor passed as `<name>` (MultiHeadAttention's query_mask, value_mask, key_mask)."""
        names = self._call_mask_args
        if "mask" in names and kwargs.get("mask") is None:
            m = _mask_of(x)
            if m is not None:
                kwargs["mask"] = m
        params = self._call_params
        bound = dict(zip(params, (x,) + tuple(rest)))
        bound.update(kwargs)
        for name in names:
            if name == "mask" or kwargs.get(name) is not None:
                continue
            t = bound.get(name[:-5])
            m = getattr(t, "_keras_mask", None)
            if m is not None and not (name in params and params.index(name) < 1 + len(rest)):
                kwargs[name] = m

    def _set_mask_metadata(self, inputs, outputs, prev_mask):
        flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        if all(getattr(o, "_keras_mask", None) is not None for o in flat):
            return
        masks = self.compute_mask(inputs, prev_mask)
        if masks is None:
            return
        for o, m in zip(flat, masks if isinstance(masks, (list, tuple)) else [masks]):
            if isinstance(o, Tensor) and o._keras_mask is None and m is not None:
                o._keras_mask = m if isinstance(m, Tensor) else Tensor(m)

    def call(self, inputs, *args, **kwargs):
        return inputs

    def _symbolic_call(self, args, kwargs):
        inputs = args[0]
        if isinstance(inputs, dict):
            shapes = {k: tuple(v.shape) for k, v in inputs.items()}
        else:
            shapes = [tuple(i.shape) for i in inputs] if isinstance(inputs, (list, tuple)) else tuple(inputs.shape)
        self._maybe_build(shapes)
        if isinstance(inputs, dict) and type(self).compute_output_shape is Layer.compute_output_shape:
            out_shape = self._dummy_output_shape(args, kwargs)
        elif len(args) == 1 and not is_symbolic(kwargs) and not kwargs:
            out_shape = self.compute_output_shape(shapes)
        elif type(self).compute_output_shape is not Layer.compute_output_shape:
            out_shape = self.compute_output_shape(shapes)  # the layer knows its shape from the first input
        else:
            out_shape = self._dummy_output_shape(args, kwargs)
        keys = list(out_shape) if isinstance(out_shape, dict) else None
        if keys is not None:
            specs = [(tuple(out_shape[k]), self._compute_dtype) for k in keys]
        elif isinstance(out_shape, list) and out_shape and isinstance(out_shape[0], (tuple, list)):
            specs = [(tuple(s), self._compute_dtype) for s in out_shape]
        else:
            specs = (tuple(out_shape), self._compute_dtype)
        outs = make_outputs(self, args, kwargs, specs)
        symbolic_masks.attach(self, args, kwargs, outs)
        if keys is not None:
            for k, o in zip(keys, outs):
                o._output_key = k  # Functional replays the call and picks this entry of its dict
            return dict(zip(keys, outs))
        return outs

    def compute_output_shape(self, input_shape):
        """Default: run the layer on zeros (batch 1) and read the shape off the result."""
        xp = backend.get_xp()
        multi = isinstance(input_shape, list)
        shapes = input_shape if multi else [input_shape]
        dummies = [KerasTensor(s, self.dtype) for s in shapes]
        return self._dummy_output_shape((dummies if multi else dummies[0],), {}, xp)

    def _dummy_output_shape(self, args, kwargs, xp=None):
        """The output shape(s) of call() on zeros standing in for the symbolic inputs. What the call
        does to state (add_loss, a metric's update_state) is undone: it saw no real data."""
        xp = xp or backend.get_xp()
        saved = _snapshot_metrics(self)

        def run(dummies):
            a, k = dummies
            if self._call_takes_training:
                k.setdefault("training", False)
            _call_context.append(False)
            try:
                return self.call(a[0], *a[1:], **k)
            finally:
                _call_context.pop()
        with ops.stop_recording():
            out, shapes = probe_outputs(run, (list(args), dict(kwargs)), xp)
        _restore_metrics(saved)
        self._clear_losses()
        shapes = [(None,) + tuple(s[1:]) for s in shapes]
        if isinstance(out, dict):  # a call that returns a dict of tensors (KerasHub's backbones)
            return dict(zip(out, shapes))
        return shapes if isinstance(out, (list, tuple)) else shapes[0]

    # ---- config ----
    def get_config(self):
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policies.serialize(self._dtype_policy)}
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        if type(self).get_config is Layer.get_config and _user_init(type(self), Layer):
            cfg = auto_get_config(self, cfg)
        return cfg

    @classmethod
    def from_config(cls, config):
        try:
            return cls(**config)
        except TypeError as e:
            raise TypeError("Error when deserializing class %r using config=%r: %s. Its config must hold exactly "
                            "what %s.__init__ takes: implement get_config() (and from_config() if __init__ needs "
                            "objects rebuilt from it)." % (cls.__name__, config, e, cls.__name__)) from None

    def get_build_config(self):
        return None if self._build_shape is None else {"input_shape": self._build_shape}

    def build_from_config(self, cfg):
        if cfg and cfg.get("input_shape") is not None:
            self._maybe_build(tuple(cfg["input_shape"]) if not isinstance(cfg["input_shape"][0], (list, tuple))
                              else [tuple(s) for s in cfg["input_shape"]])

    def __repr__(self):
        return "<%s name=%s, built=%s>" % (type(self).__name__, self.name, self.built)


def _scope_path(layer):
    """Keras's variable path: the names of the layers being built around this one ("sequential/lstm/lstm_cell"),
    or the layer's own name outside any build."""
    for i in range(len(_build_scope) - 1, -1, -1):
        if _build_scope[i] is layer:
            return "/".join(l.name for l in _build_scope[:i + 1])
    return layer.name
