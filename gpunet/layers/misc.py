"""Small Keras layers: Lambda, Identity, ActivityRegularization, GaussianNoise, GaussianDropout,
RepeatVector, Permute, UnitNormalization, LayerNormalization."""
import numpy as np

from .. import constraints, initializers, ops, random as _random, regularizers
from ..common import registry
from .base import Layer
from .core import _ser


class Lambda(Layer):
    """Wraps a function of tensors as a layer. Saved as Keras saves it: a named function by name (found again
    through custom_objects or registration), a Python lambda as marshalled bytecode, which loads only with
    `safe_mode=False` (or after `gpunet.config.enable_unsafe_deserialization()`): bytecode is code."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError("Lambda expects a callable, received %r" % (function,))
        self.function, self._output_shape, self.arguments = function, output_shape, dict(arguments or {})
        self.mask = mask
        self.built = True

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return mask if self.mask is None else self.mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return Layer.compute_output_shape(self, input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return (input_shape[0] if not isinstance(input_shape, list) else input_shape[0][0],) + tuple(self._output_shape)

    def get_config(self):
        cfg = {"function": _function_config(self.function)}
        if self._output_shape is not None:
            cfg["output_shape"] = (_function_config(self._output_shape) if callable(self._output_shape)
                                   else list(self._output_shape))
        if self.mask is not None:
            cfg["mask"] = _function_config(self.mask) if callable(self.mask) else self.mask
        cfg["arguments"] = dict(self.arguments)
        return {**super().get_config(), **cfg}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["function"] = _function_from_config(config["function"], custom_objects, "function")
        if isinstance(config.get("output_shape"), dict):
            config["output_shape"] = _function_from_config(config["output_shape"], custom_objects, "output_shape")
        elif isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        if isinstance(config.get("mask"), dict):
            config["mask"] = _function_from_config(config["mask"], custom_objects, "mask")
        if not isinstance(config.get("arguments") or {}, dict):
            raise ValueError("Lambda's `arguments` must be a dict, received %r" % (config["arguments"],))
        return cls(**config)


def _function_config(fn):
    """Keras's serialisation of a Lambda's function: bytecode for a Python lambda, else its name."""
    import types
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        import base64
        import marshal
        closure = tuple(c.cell_contents for c in fn.__closure__) if fn.__closure__ else None
        return {"class_name": "__lambda__", "config": {"code": base64.encodebytes(marshal.dumps(fn.__code__)).decode(
            "ascii"), "defaults": fn.__defaults__, "closure": closure}}
    return {"module": "builtins", "class_name": "function",
            "config": registry.get_registered_name(fn) or getattr(fn, "__name__", type(fn).__name__),
            "registered_name": "function"}


def _function_from_config(cfg, custom_objects, what):
    """A Lambda's function back from its config: a name through custom_objects, registration or the built-in
    activations and losses; bytecode only outside safe mode (common/registry.py), as Keras's func_load."""
    if not isinstance(cfg, dict):
        raise ValueError("Lambda's %s config must be a dict, received %r" % (what, cfg))
    if cfg.get("class_name") == "__lambda__":
        registry.refuse_lambda_in_safe_mode("Lambda %s" % what)
        return _func_load(cfg.get("config") or {})
    name = cfg.get("config")
    found = registry.get_registered_object(name, custom_objects) if isinstance(name, str) else None
    if found is None and isinstance(name, str):
        found = registry.builtin_functions().get(name)
    if not callable(found):
        raise ValueError("Lambda's %s %r is unknown. %s." % (what, name, registry.CUSTOM_HINT))
    return found


def _func_load(cfg):
    """Keras's python_utils.func_load: a function from marshalled bytecode (trusted files only)."""
    import base64
    import binascii
    import marshal
    import types

    def cell(value):
        return (lambda: value).__closure__[0]
    try:
        code = marshal.loads(base64.decodebytes(str(cfg["code"]).encode("ascii")))
    except (KeyError, ValueError, EOFError, TypeError, binascii.Error, UnicodeEncodeError) as e:
        raise ValueError("the Lambda's bytecode cannot be read (saved by another Python version, or damaged): %s"
                         % e) from None
    if not isinstance(code, types.CodeType):
        raise ValueError("the Lambda's bytecode does not hold a function")
    defaults, closure = cfg.get("defaults"), cfg.get("closure")
    closure = tuple(cell(c) for c in closure) if closure is not None else None
    try:
        return types.FunctionType(code, registry.lambda_globals(), name=code.co_name,
                                  argdefs=tuple(defaults) if defaults is not None else None, closure=closure)
    except (TypeError, ValueError) as e:
        raise ValueError("the Lambda's bytecode does not match its saved closure: %s" % e) from None


class Identity(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class ActivityRegularization(Layer):
    """Adds l1 * sum|x| + l2 * sum x^2 of its input to the loss (divided by the batch size)."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.supports_masking = True
        self.l1, self.l2 = l1, l2
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"l1": self.l1, "l2": self.l2})
        return cfg


class GaussianNoise(Layer):
    supports_masking = True  # Keras: passes a mask on unchanged
    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= stddev <= 1:
            raise ValueError("Invalid value received for argument `stddev`. Expected a float value between 0 and 1. "
                             "Received: stddev=%r" % (stddev,))
        self.stddev, self.seed = stddev, seed
        self.seed_generator = _random.SeedGenerator(seed) if seed is not None else None
        self.built = True

    def call(self, inputs, training=False):
        if training and self.stddev > 0:
            return ops.add(inputs, _random.normal(inputs.shape, stddev=self.stddev, dtype=inputs.dtype,
                                                  seed=self.seed_generator))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies by noise of mean 1 and variance rate / (1 - rate) in training."""
    supports_masking = True  # Keras: passes a mask on unchanged

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                             "Received: rate=%r" % (rate,))
        self.rate, self.seed = rate, seed
        self.seed_generator = _random.SeedGenerator(seed) if seed is not None else None
        self.built = True

    def call(self, inputs, training=False):
        if training and 0 < self.rate < 1:
            std = np.sqrt(self.rate / (1.0 - self.rate))
            return ops.multiply(inputs, _random.normal(inputs.shape, mean=1.0, stddev=std, dtype=inputs.dtype,
                                                       seed=self.seed_generator))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class RepeatVector(Layer):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, (int, np.integer)):
            raise TypeError("Expected an integer value for `n`, got %s." % type(n).__name__)
        self.n = int(n)
        self.input_spec = {"min_ndim": 2}
        self.built = True

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                             "must be consecutive and start from 1. Received dims=%s" % (self.dims,))
        self.built = True

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class UnitNormalization(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return ops.normalize(inputs, axis=self.axis, order=2, epsilon=1e-12)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class LayerNormalization(Layer):
    """(x - mean) / sqrt(var + epsilon) over `axis`, times gamma plus beta (Keras's epsilon 1e-3)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if rms_scaling:
            raise ValueError("LayerNormalization(rms_scaling=True) is deprecated in Keras; use RMSNormalization")
        self.axis = axis if isinstance(axis, int) else list(axis)
        self.epsilon, self.center, self.scale = epsilon, center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        axes = [a % len(input_shape) for a in axes]
        self._axes = tuple(axes)
        shape = tuple(input_shape[a] for a in axes)
        self.gamma = self.add_weight(shape=shape, name="gamma", initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale else None
        self.beta = self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint) \
            if self.center else None
        self._bshape = [1] * len(input_shape)
        for a in axes:
            self._bshape[a] = input_shape[a]
        self.built = True

    def call(self, inputs):
        x = inputs if inputs.dtype.kind == "f" else ops.cast(inputs, self.dtype)
        mean = ops.mean(x, axis=self._axes, keepdims=True)
        var = ops.mean(ops.square(ops.subtract(x, mean)), axis=self._axes, keepdims=True)
        out = ops.multiply(ops.subtract(x, mean), ops.rsqrt(ops.add(var, self.epsilon)))
        if self.gamma is not None:
            out = ops.multiply(out, ops.reshape(self.gamma, self._bshape))
        if self.beta is not None:
            out = ops.add(out, ops.reshape(self.beta, self._bshape))
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": False, "beta_initializer": _ser(self.beta_initializer),
                "gamma_initializer": _ser(self.gamma_initializer), "beta_regularizer": _ser(self.beta_regularizer),
                "gamma_regularizer": _ser(self.gamma_regularizer), "beta_constraint": _ser(self.beta_constraint),
                "gamma_constraint": _ser(self.gamma_constraint)}



class Normalization(Layer):
    """(x - mean) / max(sqrt(variance), epsilon) per position of `axis` (invert=True undoes it); mean
    and variance given, or learned from data with adapt() (arrays, PyDatasets or iterables of batches)."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        self.axis = tuple(axis)
        if (mean is None) != (variance is None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be set. Received: "
                             "mean=%r and variance=%r" % (mean, variance))
        self.input_mean, self.input_variance, self.invert = mean, variance, invert
        self.supports_masking = True

    def build(self, input_shape):
        nd = len(input_shape)
        if any(a < -nd or a >= nd for a in self.axis):
            raise ValueError("All `axis` values must be in the range [-ndim, ndim). Received inputs with ndim=%d, "
                             "while axis=%s" % (nd, self.axis))
        self._keep = tuple(sorted(a % nd for a in self.axis))
        for d in self._keep:
            if input_shape[d] is None:
                raise ValueError("All `axis` values to be kept must have a known shape. Received axis=%s, "
                                 "inputs.shape=%s, with unknown axis at index %d" % (self.axis, input_shape, d))
        self._reduce = tuple(d for d in range(nd) if d not in self._keep)
        self._bshape = [input_shape[d] if d in self._keep else 1 for d in range(nd)]
        shape = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=shape, initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int32", initializer="zeros", trainable=False)
        self.built = True

    def adapt(self, data):
        """Mean and variance over every axis but `axis`, accumulated batch by batch (Chan's update)."""
        from ..common.dataset import is_stream
        from ..common.dataset import PyDataset
        if isinstance(data, PyDataset):
            batches = (data[i] for i in range(data.num_batches))
        elif is_stream(data) or isinstance(data, (list, tuple)) and data and hasattr(data[0], "shape") \
                and not np.isscalar(data[0]):
            batches = iter(data)
        else:
            batches = iter([data])
        n, mean, m2 = 0, None, None
        for b in batches:
            if isinstance(b, tuple):
                b = b[0]
            x = np.asarray(b.numpy() if hasattr(b, "numpy") else b, dtype=np.float64)
            if not self.built:
                self.build((None,) + x.shape[1:] if x.ndim > 1 else x.shape)
            if self.input_mean is not None:
                raise ValueError("Cannot adapt a Normalization layer that was given mean and variance")
            k = int(np.prod([x.shape[d] for d in self._reduce]))
            bm = x.mean(axis=self._reduce)
            bv = x.var(axis=self._reduce)
            if mean is None:
                n, mean, m2 = k, bm, bv * k
            else:
                total = n + k
                delta = bm - mean
                mean = mean + delta * (k / total)
                m2 = m2 + bv * k + delta ** 2 * (n * k / total)
                n = total
        if mean is None:
            raise ValueError("adapt() received an empty iterable (no batches)")
        self.adapt_mean.assign(mean.astype(self.adapt_mean.dtype))
        self.adapt_variance.assign((m2 / n).astype(self.adapt_variance.dtype))
        self.count.assign(np.asarray(n, dtype=self.count.dtype))

    def _stats(self):
        if self.input_mean is not None:
            return (ops.broadcast_to(ops.reshape(ops.convert_to_tensor(np.asarray(self.input_mean, self.dtype)),
                                                 self._mean_shape()), self._bshape),
                    ops.broadcast_to(ops.reshape(ops.convert_to_tensor(np.asarray(self.input_variance, self.dtype)),
                                                 self._mean_shape()), self._bshape))
        return ops.reshape(self.adapt_mean, self._bshape), ops.reshape(self.adapt_variance, self._bshape)

    def _mean_shape(self):
        m = np.asarray(self.input_mean)
        if m.ndim == 0:
            return [1] * len(self._bshape)
        shape = [1] * len(self._bshape)
        for i in range(1, m.ndim + 1):
            shape[self._keep[-i]] = m.shape[-i]
        return shape

    def call(self, inputs):
        x = inputs if inputs.dtype == np.dtype(self.dtype) else ops.cast(inputs, self.dtype)
        mean, var = self._stats()
        from .. import config
        scale = ops.maximum(ops.sqrt(var), config.epsilon())
        if self.invert:
            return ops.add(mean, ops.multiply(x, scale))
        return ops.divide(ops.subtract(x, mean), scale)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"axis": list(self.axis) if len(self.axis) != 1 else self.axis[0], "invert": self.invert,
                    "mean": _as_list(self.input_mean), "variance": _as_list(self.input_variance)})
        return cfg


def _as_list(v):
    return None if v is None else np.asarray(v).tolist()


class RMSNormalization(Layer):
    """x / sqrt(mean(x^2 over axis) + epsilon) * scale (Keras's RMSNormalization, epsilon 1e-6)."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, epsilon

    def build(self, input_shape):
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        self.scale = self.add_weight(name="scale", shape=tuple(input_shape[a] for a in axes), initializer="ones")
        self.built = True

    def call(self, x):
        return ops.rms_normalization(x, scale=self.scale, axis=self.axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class AlphaDropout(Layer):
    """Dropout that keeps SELU's self-normalisation: dropped units go to -alpha*scale, then an affine fix."""
    supports_masking = True  # Keras: passes a mask on unchanged

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                             "Received: rate=%r" % (rate,))
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed
        self.seed_generator = _random.SeedGenerator(seed) if seed is not None else None
        self.built = True

    def call(self, inputs, training=False):
        if not training or not 0 < self.rate < 1:
            return inputs
        alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
        shape = tuple(inputs.shape) if self.noise_shape is None else tuple(
            s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        keep = _random._stream(self.seed_generator).uniform(size=shape) >= self.rate
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        from .. import backend
        keep = backend.to_device(keep.astype(inputs.dtype))
        x = ops.add(ops.multiply(inputs, keep), ops.multiply(alpha_p, ops.subtract(1.0, keep)))
        return ops.add(ops.multiply(x, a), b)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}
