"""BatchNormalization, as Keras 3 has it: batch statistics in training, the moving ones otherwise;
moving = moving·momentum + batch·(1 − momentum) after each training call; `trainable=False` makes
the layer run in inference mode (frozen statistics), as Keras 3 does for fine-tuning."""
from .. import constraints, initializers, ops, regularizers
from ..ops import batchnorm as norm
from .base import Layer
from .core import _ser


class BatchNormalization(Layer):
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if renorm:
            raise NotImplementedError('BatchNormalization "%s": renorm=True is not supported by gpunet' % self.name)
        if synchronized:
            raise ValueError('BatchNormalization "%s": synchronized=True needs the TensorFlow backend in Keras; '
                             "gpunet does not support it" % self.name)
        if not isinstance(axis, int):
            raise TypeError('BatchNormalization "%s": `axis` must be an integer, received axis=%r' % (self.name, axis))
        if not epsilon > 0:
            raise ValueError('BatchNormalization "%s": `epsilon` must be positive, received epsilon=%r'
                             % (self.name, epsilon))
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.renorm, self.renorm_clipping, self.renorm_momentum = False, renorm_clipping, renorm_momentum
        self.synchronized = False
        self.supports_masking = True
        self.gamma = self.beta = None

    def build(self, input_shape):
        nd = len(input_shape)
        if not -nd <= self.axis < nd:
            raise ValueError('BatchNormalization "%s": axis=%d is out of range for inputs of shape %s'
                             % (self.name, self.axis, tuple(input_shape)))
        n = input_shape[self.axis]
        if n is None:
            raise ValueError('BatchNormalization "%s": axis %d of the input shape %s must be known'
                             % (self.name, self.axis, tuple(input_shape)))
        if self.scale:
            self.gamma = self.add_weight(shape=(n,), name="gamma", initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight(shape=(n,), name="beta", initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)
        self.moving_mean = self.add_weight(shape=(n,), name="moving_mean", initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=(n,), name="moving_variance",
                                               initializer=self.moving_variance_initializer, trainable=False)
        self.input_spec = {"ndim": nd, "axes": {self.axis: n}}

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            if mask is not None:
                return self._masked_train(inputs, mask)
            y, mean, var = norm.batch_norm_train(inputs, self.gamma, self.beta, self.axis, self.epsilon)
            self._update_moving(mean, var)
            return y
        return norm.batch_norm_apply(inputs, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                                     self.axis, self.epsilon)

    def _update_moving(self, mean, var):
        # in place, with no tape: Keras assigns these outside the gradient as well
        m = self.momentum
        for v, batch in ((self.moving_mean, mean), (self.moving_variance, var)):
            v.data *= m
            v.data += (batch * (1.0 - m)).astype(v.data.dtype, copy=False)

    def _masked_train(self, inputs, mask):
        """Statistics over the unmasked steps only (Keras's weighted moments)."""
        nd = len(inputs.shape)
        if len(mask.shape) != nd - 1:
            raise ValueError('BatchNormalization "%s": the mask must have one dimension less than the inputs; '
                             "received mask shape %s and inputs shape %s"
                             % (self.name, tuple(mask.shape), tuple(inputs.shape)))
        from .. import config
        axis = self.axis % nd
        red = tuple(a for a in range(nd) if a != axis)
        w = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        total = ops.add(ops.sum(w, axis=red, keepdims=True), config.epsilon())
        mean = ops.divide(ops.sum(ops.multiply(inputs, w), axis=red, keepdims=True), total)
        var = ops.divide(ops.sum(ops.multiply(ops.square(ops.subtract(inputs, mean)), w), axis=red, keepdims=True),
                         total)
        mean, var = ops.reshape(mean, (-1,)), ops.reshape(var, (-1,))
        self._update_moving(ops.stop_gradient(mean).data, ops.stop_gradient(var).data)
        return ops.batch_normalization(inputs, mean, var, axis, self.beta, self.gamma, self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon, "center": self.center,
            "scale": self.scale, "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": _ser(self.beta_regularizer), "gamma_regularizer": _ser(self.gamma_regularizer),
            "beta_constraint": _ser(self.beta_constraint), "gamma_constraint": _ser(self.gamma_constraint),
            "synchronized": False, "renorm": False, "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum})
        return cfg

    @classmethod
    def from_config(cls, config):
        from .convolutional import _from_config
        return _from_config(cls, config)
