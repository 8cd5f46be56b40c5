"""Real Keras programs on sequences, run unchanged through `import gpunet as keras` (sizes cut down so CI can
afford them): the keras.io addition RNN, the bidirectional-LSTM text classifier, and a small transformer
encoder. Each learns; where the program has no dropout, gpunet's loss curve is held against real Keras on
JAX fitting the same model from the same initial weights on the same batches (tests/keras_jax_ref.py);
the transformer is saved by gpunet and loaded by real Keras, which predicts the same."""
import numpy as np
import pytest

import gpunet
import keras_ref  # noqa: F401  (KERAS_BACKEND=numpy before Keras is imported)
from keras_jax_ref import keras_fit


# ---- keras.io/examples/nlp/addition_rnn (TRAINING_SIZE 50000 -> 3000, epochs 30 -> 3) ----

def addition_rnn(keras, training_size=3000, epochs=3, shuffle=True, seed=1337):
    layers = keras.layers

    class CharacterTable:
        """Given a set of characters:
        + Encode them to a one-hot integer representation
        + Decode the one-hot or integer representation to their character output
        + Decode a vector of probabilities to their character output
        """

        def __init__(self, chars):
            self.chars = sorted(set(chars))
            self.char_indices = dict((c, i) for i, c in enumerate(self.chars))
            self.indices_char = dict((i, c) for i, c in enumerate(self.chars))

        def encode(self, C, num_rows):
            x = np.zeros((num_rows, len(self.chars)))
            for i, c in enumerate(C):
                x[i, self.char_indices[c]] = 1
            return x

        def decode(self, x, calc_argmax=True):
            if calc_argmax:
                x = x.argmax(axis=-1)
            return "".join(self.indices_char[x] for x in x)

    TRAINING_SIZE = training_size
    DIGITS = 3
    REVERSE = True
    MAXLEN = DIGITS + 1 + DIGITS
    chars = "0123456789+ "
    ctable = CharacterTable(chars)
    questions, expected, seen = [], [], set()
    rng = np.random.default_rng(seed)
    while len(questions) < TRAINING_SIZE:
        f = lambda: int("".join(rng.choice(list("0123456789")) for i in range(rng.integers(1, DIGITS + 1))))  # noqa: E731
        a, b = f(), f()
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        q = "{}+{}".format(a, b)
        query = q + " " * (MAXLEN - len(q))
        ans = str(a + b)
        ans += " " * (DIGITS + 1 - len(ans))
        if REVERSE:
            query = query[::-1]
        questions.append(query)
        expected.append(ans)
    x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
    y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
    for i, sentence in enumerate(questions):
        x[i] = ctable.encode(sentence, MAXLEN)
    for i, sentence in enumerate(expected):
        y[i] = ctable.encode(sentence, DIGITS + 1)
    split_at = len(x) - len(x) // 10
    (x_train, x_val) = x[:split_at], x[split_at:]
    (y_train, y_val) = y[:split_at], y[split_at:]

    num_layers = 1
    model = keras.Sequential()
    model.add(layers.Input((MAXLEN, len(chars))))
    model.add(layers.LSTM(128))
    model.add(layers.RepeatVector(DIGITS + 1))
    for _ in range(num_layers):
        model.add(layers.LSTM(128, return_sequences=True))
    model.add(layers.Dense(len(chars), activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
                        shuffle=shuffle, verbose=0)
    preds = np.argmax(model.predict(x_val[:10], verbose=0), axis=-1)
    guesses = [ctable.decode(p, calc_argmax=False) for p in preds]
    return model, history.history, (x_train, y_train), guesses


def test_addition_rnn_example_learns():
    gpunet.utils.set_random_seed(0)
    model, hist, _, guesses = addition_rnn(gpunet, training_size=2000)
    assert hist["loss"][0] > hist["loss"][1] > hist["loss"][2] and hist["loss"][-1] < 0.9 * hist["loss"][0], hist
    assert hist["val_accuracy"][-1] > hist["val_accuracy"][0] and hist["val_accuracy"][-1] > 0.35, hist
    assert len(guesses) == 10 and all(len(g) == 4 for g in guesses)


ADDITION_BUILD = '''
def build(keras):
    layers = keras.layers
    model = keras.Sequential([layers.Input((7, 12)), layers.LSTM(128), layers.RepeatVector(4),
                              layers.LSTM(128, return_sequences=True), layers.Dense(12, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
'''


def test_addition_rnn_trains_as_keras_on_jax(tmp_path):
    gpunet.utils.set_random_seed(0)
    model, _, (x, y), _ = addition_rnn(gpunet, training_size=640, epochs=0)
    w0 = model.get_weights()
    h = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    ref, ref_pred = keras_fit(tmp_path, ADDITION_BUILD, w0, x.astype("float32"), y.astype("float32"), batch_size=32,
                              epochs=3, shuffle=False)
    np.testing.assert_allclose(h["loss"], ref["loss"], rtol=2e-3)
    np.testing.assert_allclose(h["accuracy"], ref["accuracy"], atol=5e-3)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref_pred, atol=2e-3)


# ---- keras.io/examples/nlp/bidirectional_lstm_imdb (20000 words -> 300, 64 units -> 16, data generated) ----

def review_data(n=600, vocab=300, seed=3):
    """Variable-length 'reviews': a review is positive when it holds more of the words 10-29 than of 30-49."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        length = int(rng.integers(5, 40))
        words = rng.integers(50, vocab, length)
        k = int(rng.integers(1, 5))
        label = int(rng.integers(0, 2))
        pos = rng.choice(length, k, replace=False)
        words[pos] = rng.integers(10, 30, k) if label else rng.integers(30, 50, k)
        xs.append(list(words))
        ys.append(label)
    return xs, np.array(ys)


def bidirectional_classifier(keras, x_train, y_train, x_val, y_val, epochs=4, shuffle=True, fit=True, mask_zero=False):
    layers = keras.layers
    max_features = 300  # Only consider the top 300 words
    maxlen = 40  # Only consider the first 40 words of each review
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(max_features, 32, mask_zero=mask_zero)(inputs)
    x = layers.Bidirectional(layers.LSTM(16, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(16))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
                     shuffle=shuffle, verbose=0).history if fit else None
    return model, hist, x_train


def test_bidirectional_lstm_classifier_example_learns():
    xs, ys = review_data()
    gpunet.utils.set_random_seed(0)
    _, hist, _ = bidirectional_classifier(gpunet, xs[:500], ys[:500], xs[500:], ys[500:])
    assert hist["loss"][-1] < 0.75 * hist["loss"][0], hist["loss"]
    assert hist["val_accuracy"][-1] > 0.75, hist["val_accuracy"]


BIDI_BUILD = '''
def build(keras):
    layers = keras.layers
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(300, 32, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(16, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(16))(x)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model
'''


def test_masked_bidirectional_classifier_trains_as_keras_on_jax(tmp_path):
    """With mask_zero=True the padding is masked: both directions skip it, in gpunet as in Keras."""
    xs, ys = review_data(n=256)
    gpunet.utils.set_random_seed(0)
    model, _, x = bidirectional_classifier(gpunet, xs, ys, xs[:8], ys[:8], fit=False, mask_zero=True)
    w0 = model.get_weights()
    h = model.fit(x, ys, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    ref, ref_pred = keras_fit(tmp_path, BIDI_BUILD, w0, x.astype("int32"), ys.astype("float32"), batch_size=32,
                              epochs=3, shuffle=False)
    np.testing.assert_allclose(h["loss"], ref["loss"], rtol=2e-3)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref_pred, atol=2e-3)


# ---- a small transformer encoder: Embedding + MultiHeadAttention + LayerNormalization + Dense ----

def transformer(keras, vocab=60, maxlen=12, embed_dim=16, num_heads=2, ff_dim=32):
    layers = keras.layers
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    x = layers.Embedding(vocab, embed_dim, mask_zero=True)(inputs)
    attn = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim, dropout=0.1)(x, x)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, layers.Dropout(0.1)(attn)]))
    ffn = layers.Dense(embed_dim)(layers.Dense(ff_dim, activation="relu")(x))
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, layers.Dropout(0.1)(ffn)]))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(20, activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_transformer_encoder_trains_saves_and_loads_in_keras(tmp_path):
    keras = pytest.importorskip("keras")
    xs, ys = review_data(n=480, vocab=60, seed=5)
    x = gpunet.utils.pad_sequences([[w % 60 for w in s] for s in xs], maxlen=12, padding="post")
    gpunet.utils.set_random_seed(0)
    model = transformer(gpunet)
    hist = model.fit(x[:400], ys[:400], batch_size=32, epochs=8, validation_data=(x[400:], ys[400:]),
                     verbose=0).history
    assert hist["loss"][-1] < 0.8 * hist["loss"][0], hist["loss"]
    assert hist["accuracy"][-1] > 0.7, hist["accuracy"]
    model.save(tmp_path / "t.keras")
    k = keras.saving.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(k.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-5)
    back = gpunet.saving.load_model(tmp_path / "t.keras")  # and back, optimizer state included
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    k.save(tmp_path / "k.keras")
    again = gpunet.saving.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-5)
