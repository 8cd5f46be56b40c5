"""Where users extend Keras: the patterns of the Keras guides ("Customizing what happens in fit()",
"Writing a training loop from scratch", "Making new layers and models via subclassing", "Training &
evaluation with the built-in methods") and keras.io recipes (trainer pattern, endpoint layer, VAE),
written as there with `import gpunet as keras`. TensorFlow's tf.GradientTape is keras.GradientTape."""
import numpy as np
import pytest

import gpunet as keras
from gpunet import layers, ops
from keras_ref import keras as real_keras

R = np.random.default_rng(3)
X = R.random((256, 8)).astype("float32")
Y = (X @ R.standard_normal((8, 1)) * 0.5).astype("float32")
YC = R.integers(0, 3, 256)


def dense_model(cls=keras.Model, out=1, activation=None):
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(8,))
    h = layers.Dense(16, activation="relu")(inputs)
    outputs = layers.Dense(out, activation=activation)(h)
    return cls(inputs, outputs)


class GuideTrainStep(keras.Model):
    """The guide's first custom train_step: it reproduces what fit() does by default."""

    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_custom_train_step_on_a_functional_subclass_equals_default_fit():
    out = []
    for cls in (GuideTrainStep, keras.Model):
        model = dense_model(cls)
        assert model.trainable_weights, "MyModel(inputs, outputs) must build the functional graph"
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        h = model.fit(X, Y, epochs=3, batch_size=32, verbose=0, shuffle=False)
        out.append((model.get_weights(), h.history))
    m = dense_model(GuideTrainStep)
    assert isinstance(m, GuideTrainStep) and type(m).train_step is GuideTrainStep.train_step
    for a, b in zip(out[0][0], out[1][0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert sorted(out[0][1]) == ["loss", "mae"]
    np.testing.assert_allclose(out[0][1]["mae"], out[1][1]["mae"], rtol=1e-5)


def test_train_step_is_called_and_can_log_anything():
    calls = []

    class Counting(keras.Model):
        def train_step(self, data):
            calls.append(len(data[0]))
            return {"seen": float(len(calls)), "custom": ops.mean(data[1])}
    m = dense_model(Counting)
    m.compile(optimizer="sgd")  # no loss: the custom step needs none
    h = m.fit(X, Y, epochs=2, batch_size=100, verbose=0)
    assert calls == [100, 100, 56] * 2
    assert h.history["seen"] == [3.0, 6.0]  # the last batch's logs, as Keras reports a custom step's logs


def test_lower_level_guide_own_metrics_no_compiled_loss():
    loss_tracker = keras.metrics.Mean(name="loss")
    mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with keras.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = keras.losses.mean_squared_error(y, y_pred)
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            loss_tracker.update_state(loss)
            mae_metric.update_state(y, y_pred)
            return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

        @property
        def metrics(self):
            return [loss_tracker, mae_metric]  # reset at each epoch start by fit()

    model = dense_model(CustomModel)
    model.compile(optimizer="adam")
    h = model.fit(X, Y, epochs=5, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0] * 0.75
    # the epoch value is the mean over that epoch only: the trackers were reset
    assert mae_metric.count == 256


def test_sample_weight_and_custom_test_step():
    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y, sample_weight = data
            with keras.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    model = dense_model(CustomModel)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    sw = R.random((256, 1)).astype("float32")
    model.fit(X, Y, sample_weight=sw, epochs=2, verbose=0)
    loss, mae = model.evaluate(X, Y, verbose=0)
    pred = model.predict(X, verbose=0)
    np.testing.assert_allclose(mae, np.abs(pred - Y).mean(), rtol=1e-5)
    assert loss == pytest.approx(float(((pred - Y) ** 2).mean()), rel=1e-3)


def test_compute_loss_override_and_predict_step_override():
    class CustomModel(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return ops.mean(ops.abs(ops.subtract(y_pred, y)))  # MAE, whatever compile() said

        def predict_step(self, data):
            return ops.multiply(self(data, training=False), 10.0)

    model = dense_model(CustomModel)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, epochs=1, verbose=0)
    plain = keras.Model(model.inputs, model.outputs)
    np.testing.assert_allclose(model.predict(X[:5], verbose=0), 10 * plain.predict(X[:5], verbose=0), rtol=1e-6)
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(float(np.abs(plain.predict(X, verbose=0) - Y).mean()),
                                                            rel=1e-4)


def test_gan_style_compile_override_and_fit_without_targets():
    """The GAN example's shape: compile() with its own arguments, train_step on x alone."""
    latent = 4

    class GAN(keras.Model):
        def __init__(self, discriminator, generator):
            super().__init__()
            self.discriminator, self.generator = discriminator, generator
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def train_step(self, real):
            batch = ops.shape(real)[0]
            z = keras.random.normal(shape=(batch, latent), seed=self.seed_generator)
            fake = self.generator(z)
            combined = ops.concatenate([fake, real], axis=0)
            labels = ops.concatenate([ops.ones((batch, 1)), ops.zeros((batch, 1))], axis=0)
            with keras.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(combined))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            z = keras.random.normal(shape=(batch, latent), seed=self.seed_generator)
            with keras.GradientTape() as tape:
                g_loss = self.loss_fn(ops.zeros((batch, 1)), self.discriminator(self.generator(z)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    disc = keras.Sequential([keras.Input((8,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
    gen = keras.Sequential([keras.Input((latent,)), layers.Dense(8)])
    gan = GAN(disc, gen)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3),
                keras.losses.BinaryCrossentropy(from_logits=True))
    d0, g0 = disc.get_weights(), gen.get_weights()
    h = gan.fit(X, epochs=2, batch_size=64, verbose=0)
    assert sorted(h.history) == ["d_loss", "g_loss"] and len(h.history["d_loss"]) == 2
    assert not np.allclose(d0[0], disc.get_weights()[0]) and not np.allclose(g0[0], gen.get_weights()[0])
    assert len(gan.trainable_weights) == len(disc.trainable_weights) + len(gen.trainable_weights)


class Sampling(layers.Layer):
    """The VAE example's reparameterisation layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def test_vae_example_with_dense_encoder():
    latent_dim = 2
    encoder_inputs = keras.Input(shape=(8,))
    x = layers.Dense(16, activation="relu")(encoder_inputs)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = keras.Input(shape=(latent_dim,))
    decoder = keras.Model(latent_inputs, layers.Dense(8, activation="sigmoid")(layers.Dense(16, activation="relu")(
        latent_inputs)), name="decoder")

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

        def train_step(self, data):
            with keras.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = self.decoder(z)
                reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(
                    ops.expand_dims(data, -1), ops.expand_dims(reconstruction, -1)), axis=1))
                kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
                total_loss = reconstruction_loss + kl_loss
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {"loss": self.total_loss_tracker.result(),
                    "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                    "kl_loss": self.kl_loss_tracker.result()}

    assert [tuple(o.shape) for o in encoder.outputs] == [(None, 2)] * 3
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    data = (X > 0.5).astype("float32")
    h = vae.fit(data, epochs=8, batch_size=32, verbose=0)
    assert sorted(h.history) == ["kl_loss", "loss", "reconstruction_loss"]
    assert h.history["loss"][-1] < h.history["loss"][0]
    a = encoder.predict(data[:4], verbose=0)
    assert isinstance(a, list) and len(a) == 3 and a[2].shape == (4, 2)


class LogisticEndpoint(layers.Layer):
    """The endpoint layer pattern: the layer computes the loss (add_loss) and a metric itself."""

    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = keras.metrics.BinaryAccuracy()

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            loss = self.loss_fn(targets, logits, sample_weight)
            self.add_loss(loss)
            self.accuracy_fn.update_state(targets, ops.sigmoid(logits), sample_weight)
        return ops.sigmoid(logits)


def test_endpoint_layer_add_loss_layer_metric_and_dict_inputs_without_y():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((8,), name="inputs")
    targets = keras.Input((1,), name="targets")
    sample_weight = keras.Input((1,), name="sample_weight")
    logits = layers.Dense(1)(inputs)
    preds = LogisticEndpoint()(logits, targets, sample_weight)
    model = keras.Model([inputs, targets, sample_weight], preds)
    model.compile(keras.optimizers.Adam(5e-2))
    t = (X.sum(1, keepdims=True) > 4).astype("float32")
    data = {"inputs": X, "targets": t, "sample_weight": np.ones((256, 1), "float32")}
    h = model.fit(data, epochs=30, batch_size=32, verbose=0)
    assert sorted(h.history) == ["binary_accuracy", "loss"]
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.history["binary_accuracy"][-1] > 0.8
    # the loss of an epoch is the mean of the add_loss terms of its batches
    p = model.predict(data, verbose=0)
    np.testing.assert_allclose(model.evaluate(data, verbose=0, return_dict=True)["loss"],
                               -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)), rtol=1e-3)


def test_trainer_pattern():
    model = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu"), layers.Dense(3)])

    class MyTrainer(keras.Model):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy()

        @property
        def metrics(self):
            return [self.accuracy_metric]

        def train_step(self, data):
            x, y = data
            with keras.GradientTape() as tape:
                y_pred = self.model(x, training=True)
                loss = self.loss_fn(y, y_pred)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))
            for metric in self.metrics:
                metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            y_pred = self.model(x, training=False)
            for metric in self.metrics:
                metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def call(self, x):
            return self.model(x)

    trainer = MyTrainer(model)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    h = trainer.fit(X, YC, epochs=3, verbose=0)
    assert list(h.history) == ["sparse_categorical_accuracy"]
    acc = trainer.evaluate(X, YC, verbose=0)
    assert acc == pytest.approx(float((model.predict(X, verbose=0).argmax(1) == YC).mean()), rel=1e-6)
    assert trainer.trainable_weights and len(trainer.trainable_weights) == len(model.trainable_weights)


class CategoricalTruePositives(keras.metrics.Metric):
    """The guide's custom metric: state made with add_variable after super().__init__()."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        self.true_positives.assign(0.0)


def test_guide_custom_metric_in_compile():
    model = dense_model(out=3, activation="softmax")
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=[CategoricalTruePositives()])
    h = model.fit(X, YC.reshape(-1, 1), batch_size=64, epochs=2, verbose=0)
    assert "categorical_true_positives" in h.history
    counts = h.history["categorical_true_positives"]
    assert all(0 <= c <= 256 and float(c).is_integer() for c in counts)
    m = CategoricalTruePositives()
    m.update_state(np.array([[0], [2], [1]]), np.eye(3)[[0, 1, 1]])
    assert float(m.result().numpy()) == 2.0
    m.reset_state()
    assert float(m.result().numpy()) == 0.0


def test_the_keras_loop_with_default_steps_equals_the_array_loop():
    """A PyDataset or a generator sends fit() through the model's train_step; on the same batches
    it must train exactly as the array loop does (no fused softmax head here: linear output + mse)."""
    class Batches(keras.utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return int(np.ceil(len(self.x) / self.batch_size))

        def __getitem__(self, idx):
            lo = idx * self.batch_size
            return self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]

    def gen():
        for lo in range(0, 256, 32):
            yield X[lo:lo + 32], Y[lo:lo + 32]
    runs = {}
    for kind in ("arrays", "pydataset", "generator"):
        model = dense_model()
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        if kind == "arrays":
            h = model.fit(X, Y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        elif kind == "pydataset":
            h = model.fit(Batches(X, Y, 32), epochs=1, shuffle=False, verbose=0)
        else:
            h = model.fit(gen(), epochs=1, verbose=0)
        runs[kind] = (model.get_weights(), h.history)
    for kind in ("pydataset", "generator"):
        for a, b in zip(runs[kind][0], runs["arrays"][0]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        for k in ("loss", "mae"):
            np.testing.assert_allclose(runs[kind][1][k], runs["arrays"][1][k], rtol=1e-5)


def test_pydataset_epochs_shuffle_callbacks_and_evaluate_predict():
    seen = []

    class DS(keras.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.epochs_ended = 0

        def __len__(self):
            return 4

        def __getitem__(self, idx):
            seen.append(idx)
            return X[idx * 64:(idx + 1) * 64], YC[idx * 64:(idx + 1) * 64]

        def on_epoch_end(self):
            self.epochs_ended += 1
    ds = DS(workers=2)
    model = dense_model(out=3, activation="softmax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(ds, epochs=3, verbose=0, validation_data=DS())
    assert ds.epochs_ended == 3 and sorted(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert sorted(seen[:4]) == [0, 1, 2, 3] and seen[:4] != [0, 1, 2, 3] or seen[4:8] != [0, 1, 2, 3]  # shuffled
    loss, acc = model.evaluate(DS(), verbose=0)
    loss2, acc2 = model.evaluate(X, YC, verbose=0)
    assert loss == pytest.approx(loss2, rel=1e-5) and acc == pytest.approx(acc2)
    np.testing.assert_allclose(model.predict(DS(), verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_generator_runs_out_and_steps_per_epoch():
    def gen(n):
        for i in range(n):
            yield X[i * 32:(i + 1) * 32], Y[i * 32:(i + 1) * 32]
    model = dense_model()
    model.compile(optimizer="sgd", loss="mse")
    h = model.fit(gen(8), epochs=1, verbose=0)
    assert len(h.history["loss"]) == 1
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(gen(5), steps_per_epoch=2, epochs=4, verbose=0)
    assert len(h.history["loss"]) == 3  # 2 + 2 + 1 batches, then nothing left


def test_layer_called_with_several_positional_tensors_eager_and_symbolic():
    class Scale(layers.Layer):
        def call(self, x, scale, shift=None):
            out = ops.multiply(x, scale)
            return out if shift is None else ops.add(out, shift)
    s = Scale()
    a, b = np.ones((2, 3), "float32"), np.full((2, 3), 2.0, "float32")
    np.testing.assert_allclose(s(a, b).numpy(), 2.0)
    np.testing.assert_allclose(s(a, b, shift=b).numpy(), 4.0)
    i1, i2 = keras.Input((3,)), keras.Input((3,))
    m = keras.Model([i1, i2], Scale()(i1, i2, shift=i2))
    np.testing.assert_allclose(m.predict([a, b], verbose=0), 4.0)
    m2 = keras.Model.from_config(m.get_config(), custom_objects={"Scale": Scale})
    np.testing.assert_allclose(m2.predict([a, b], verbose=0), 4.0)


def test_training_flag_reaches_nested_layers_of_a_subclassed_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(4, kernel_initializer="ones")
            self.drop = layers.Dropout(0.5)

        def call(self, x):  # no `training` argument: Keras still passes fit's training=True down
            return self.drop(self.dense(x))
    net = Net()
    x = np.ones((64, 4), "float32")
    assert np.all(net(x).numpy() == 4.0)
    out = net(x, training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 8.0} and (out == 0).any()


def test_add_loss_is_per_forward_pass_and_sums_into_the_loss():
    class ActivityL1(layers.Layer):
        def call(self, x):
            self.add_loss(ops.multiply(0.01, ops.sum(ops.abs(x))))
            return x
    inputs = keras.Input((8,))
    out = layers.Dense(1)(ActivityL1()(layers.Dense(4)(inputs)))
    model = keras.Model(inputs, out)
    model.compile(optimizer="sgd", loss="mse")
    loss = model.evaluate(X, Y, batch_size=256, verbose=0)  # no call before: the plan sees no loss yet
    model(X[:10])
    model(X[:10])
    assert len(model.losses) == 1  # cleared at each outermost call, not accumulated
    h = model.layers[1](X).numpy()
    pred = model.predict(X, verbose=0)
    assert loss == pytest.approx(float(((pred - Y) ** 2).mean() + 0.01 * np.abs(h).sum()), rel=1e-4)


def test_model_level_metrics_include_layer_metrics():
    inputs = keras.Input((8,), name="inputs")
    targets = keras.Input((1,), name="targets")
    preds = LogisticEndpoint(name="end")(layers.Dense(1)(inputs), targets)
    model = keras.Model([inputs, targets], preds)
    model.compile(optimizer="adam")
    assert [m.name for m in model.metrics] == ["loss", "binary_accuracy"]


def test_keras_runs_the_same_custom_layer_and_metric_code():
    """The custom layer and metric above are written against keras.ops; real Keras runs them unchanged
    (inference: its NumPy backend does not train) and gets the same numbers."""
    k = real_keras()

    class KScale(k.layers.Layer):
        def call(self, x, scale):
            return k.ops.multiply(x, scale)

    class GScale(layers.Layer):
        def call(self, x, scale):
            return ops.multiply(x, scale)
    a, b = R.random((2, 3)).astype("float32"), R.random((2, 3)).astype("float32")
    np.testing.assert_allclose(GScale()(a, b).numpy(), np.asarray(KScale()(a, b)), rtol=1e-6)
    ours, theirs = CategoricalTruePositives(), k.metrics.Metric  # theirs: the guide's class built on Keras
    del theirs
    y, p = np.array([[0], [2], [1], [1]]), R.random((4, 3))
    ours.update_state(y, p)
    assert float(ours.result().numpy()) == float((p.argmax(1) == y[:, 0]).sum())


def test_compute_metrics_override_and_functional_residual_with_plus_equals():
    class CustomMetrics(keras.Model):
        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            logs = super().compute_metrics(x, y, y_pred, sample_weight)
            logs["max_error"] = float(np.abs(np.asarray(y_pred) - np.asarray(y)).max())
            return logs

    inputs = keras.Input((8,))
    h = layers.Dense(8)(inputs)
    h += inputs  # a residual connection written with an augmented assignment on symbolic tensors
    outputs = layers.Dense(1)(h)
    m = CustomMetrics(inputs, outputs)
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    hist = m.fit(X, Y, epochs=1, batch_size=256, verbose=0)
    assert sorted(hist.history) == ["loss", "mae", "max_error"]
    W1, b1, W2, b2 = m.get_weights()
    want = ((X @ W1 + b1) + X) @ W2 + b2
    np.testing.assert_allclose(m.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    # the `+=` is an operation of the graph, not a layer: Keras 3's model.layers lists Layers only
    assert [type(l).__name__ for l in m._functional_layers].count("FunctionOp") == 1
    assert [type(l).__name__ for l in m.layers] == ["InputLayer", "Dense", "Dense"]


def test_compute_mask_default_and_override():
    class NonZero(layers.Layer):
        def call(self, x):
            return x

        def compute_mask(self, inputs, previous_mask=None):
            return ops.not_equal(inputs, 0)
    x = np.array([[1.0, 0.0, 2.0]], "float32")
    np.testing.assert_array_equal(NonZero().compute_mask(x).numpy(), [[True, False, True]])
    mask = np.array([[True, False, True]])
    assert layers.Dense(2).compute_mask(x, mask) is mask  # Keras's default passes the incoming mask on
    assert layers.Dense(2).compute_mask(x) is None


def test_keras_random_seeding_semantics_as_keras():
    """An int seed repeats its draw, a SeedGenerator moves on, and the same generator seed replays the
    sequence; the same rules hold in real Keras (its draws themselves differ: another generator)."""
    k = real_keras()
    for mod in (keras.random, k.random):
        same = np.allclose(np.asarray(mod.normal((5,), seed=1)), np.asarray(mod.normal((5,), seed=1)))
        g = mod.SeedGenerator(4)
        moves = not np.allclose(np.asarray(mod.normal((5,), seed=g)), np.asarray(mod.normal((5,), seed=g)))
        assert same and moves
        assert str(np.asarray(mod.uniform((2,), seed=1)).dtype) == "float32"
        assert str(np.asarray(mod.randint((2,), 0, 5, seed=1)).dtype) == "int32"
    g1, g2 = keras.random.SeedGenerator(9), keras.random.SeedGenerator(9)
    np.testing.assert_array_equal(keras.random.uniform((4,), seed=g1).numpy(), keras.random.uniform((4,), seed=g2).numpy())
    big = keras.random.normal((20000,), mean=2.0, stddev=3.0, seed=0).numpy()
    assert abs(big.mean() - 2.0) < 0.1 and abs(big.std() - 3.0) < 0.1
    t = keras.random.truncated_normal((20000,), stddev=2.0, seed=0).numpy()
    assert np.abs(t).max() <= 4.0
    u = keras.random.uniform((20000,), minval=-1, maxval=3, seed=0).numpy()
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1) < 0.05
    d = keras.random.dropout(np.ones((100, 100), "float32"), 0.25, seed=1).numpy()
    assert set(np.unique(d)) == {0.0, np.float32(1 / 0.75)} and abs((d == 0).mean() - 0.25) < 0.02
    s = keras.random.shuffle(np.arange(10), seed=3).numpy()
    assert sorted(s) == list(range(10)) and list(s) != list(range(10))
    c = keras.random.categorical(np.log([[0.1, 0.9]]), 2000, seed=0).numpy()
    assert abs(c.mean() - 0.9) < 0.03


def test_optimizer_with_ema_and_accumulation_saves_and_loads_in_keras(tmp_path):
    """The moving averages and accumulators are optimizer variables in the .keras file, in Keras's order:
    Keras loads gpunet's file, and gpunet loads it back with the same state."""
    k = real_keras()
    model = dense_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2, use_ema=True, gradient_accumulation_steps=2), loss="mse")
    model.fit(X, Y, epochs=1, batch_size=64, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    theirs = k.models.load_model(path)
    assert theirs.optimizer.use_ema and theirs.optimizer.gradient_accumulation_steps == 2
    ours_vars = [np.asarray(v) for v in model.optimizer.variables]
    their_vars = [np.asarray(v) for v in theirs.optimizer.variables]
    assert len(ours_vars) == len(their_vars)
    for a, b in zip(ours_vars, their_vars):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    back = keras.models.load_model(path)
    for a, b in zip(back.optimizer.variables, model.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(theirs.predict(X[:5], verbose=0)), model.predict(X[:5], verbose=0), rtol=1e-5)


def test_training_passed_positionally_and_model_init_arguments_checked():
    class Noisy(layers.Layer):
        def call(self, x, training=None):
            return ops.add(x, 1.0) if training else x
    x = np.zeros((2, 3), "float32")
    assert float(Noisy()(x, True).numpy().sum()) == 6.0
    assert float(Noisy()(x, False).numpy().sum()) == 0.0

    class Outer(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Noisy()

        def call(self, x, training=None):
            return self.inner(x)  # training=None: the outer value reaches it
    assert float(Outer()(x, True).numpy().sum()) == 6.0
    with pytest.raises(TypeError, match="Unrecognized keyword arguments.*nmae"):
        Outer(nmae="typo")
    with pytest.raises(TypeError, match="positional"):
        keras.Model("just one")


def test_a_short_last_batch_updates_the_same_compiled_metrics():
    """The per-batch loop resolved compiled metrics per batch *shape*: a shorter last batch got fresh metric
    objects, so the epoch's accuracy was the last batch's alone."""
    model = dense_model(out=3, activation="softmax")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    n = 150

    def batches():
        for lo in range(0, n, 64):  # 64, 64, 22
            yield X[lo:min(n, lo + 64)], YC[lo:min(n, lo + 64)]
    streamed = model.evaluate(batches(), verbose=0, return_dict=True)
    arrays = model.evaluate(X[:n], YC[:n], batch_size=64, verbose=0, return_dict=True)
    expected = float((model.predict(X[:n], verbose=0).argmax(1) == YC[:n]).mean())
    assert streamed["accuracy"] == pytest.approx(expected) and arrays["accuracy"] == pytest.approx(expected)
    assert streamed["loss"] == pytest.approx(arrays["loss"], rel=1e-6)


def test_a_per_class_metric_object_in_compile_logs_an_array_and_shows_its_mean(capsys):
    """compile(metrics=[keras.metrics.F1Score()]) (average=None: one value per class) on the array loop: the
    logs hold the array, as Keras's do; the progress bar shows its mean."""
    model = dense_model(out=3, activation="softmax")
    f1 = keras.metrics.F1Score()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[f1])
    h = model.fit(X, np.eye(3, dtype="float32")[YC], batch_size=64, epochs=1, verbose=2)
    values = h.history["f1_score"][0]
    assert values.shape == (3,)
    np.testing.assert_allclose(values, f1.result())
    assert "f1_score: %.4f" % values.mean() in capsys.readouterr().out
