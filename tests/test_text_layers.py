"""TextVectorization, StringLookup and IntegerLookup. Keras runs these layers on TensorFlow only (CI has
none), so the expected values below were produced once by Keras 3.15.1 on TensorFlow 2 with the same calls
(bench venv: KERAS_BACKEND=tensorflow), vocabulary ordering ties and tf-idf weights included."""
import numpy as np
import pytest

import gpunet
from gpunet import layers

DOCS = ["The cat sat.", "The dog, the cat!", "a bird"]


def test_text_vectorization_int_mode_as_keras():
    tv = layers.TextVectorization(max_tokens=10, output_sequence_length=6)
    tv.adapt(DOCS)
    assert tv.get_vocabulary() == ["", "[UNK]", "the", "cat", "sat", "dog", "bird", "a"]
    np.testing.assert_array_equal(tv(["the cat flew", "dog"]).numpy(), [[2, 3, 1, 0, 0, 0], [5, 0, 0, 0, 0, 0]])
    assert tv.vocabulary_size() == 8
    cfg = tv.get_config()
    assert cfg["vocabulary_size"] == 8 and cfg["max_tokens"] == 10 and cfg["standardize"] == \
        "lower_and_strip_punctuation"
    again = layers.TextVectorization.from_config(cfg)  # the adapted vocabulary travels in the config
    np.testing.assert_array_equal(again(["the cat"]).numpy(), [[2, 3, 0, 0, 0, 0]])
    ragged = layers.TextVectorization(vocabulary=["x", "y"])  # no output_sequence_length: the longest sample
    np.testing.assert_array_equal(ragged(np.array([["x y x"], ["q"]])).numpy(), [[2, 3, 2], [1, 0, 0]])
    small = layers.TextVectorization(max_tokens=4)
    small.adapt(DOCS)
    assert small.get_vocabulary() == ["", "[UNK]", "the", "cat"]


def test_text_vectorization_tf_idf_ngrams_and_bag_of_words_as_keras():
    tv = layers.TextVectorization(output_mode="tf_idf", ngrams=2)
    tv.adapt(["a b a", "b c"])
    assert tv.get_vocabulary() == ["[UNK]", "b", "a", "c", "b c", "b a", "a b"]
    np.testing.assert_allclose(tv(["a b", "c d"]).numpy(), [[0, 0.51082563, 0.6931472, 0, 0, 0, 0.6931472],
                                                            [1.3255205, 0, 0, 0.6931472, 0, 0, 0]], rtol=1e-6)
    mh = layers.TextVectorization(output_mode="multi_hot", vocabulary=["a", "b"])
    np.testing.assert_array_equal(mh(["a a z", "b"]).numpy(), [[1, 1, 0], [0, 0, 1]])
    ct = layers.TextVectorization(output_mode="count", vocabulary=["a", "b"], pad_to_max_tokens=True, max_tokens=5)
    np.testing.assert_array_equal(ct(["a a z", "b"]).numpy(), [[1, 2, 0, 0, 0], [0, 0, 1, 0, 0]])
    chars = layers.TextVectorization(split="character", standardize=None, vocabulary=list("ab"))
    np.testing.assert_array_equal(chars(["abA"]).numpy(), [[2, 3, 1]])
    custom = layers.TextVectorization(standardize=lambda s: s.upper(), split=lambda s: s.split("-"),
                                      vocabulary=["A", "B"])
    np.testing.assert_array_equal(custom(["a-b-c"]).numpy(), [[2, 3, 1]])


def test_lookups_as_keras():
    sl = layers.StringLookup(vocabulary=["a", "b", "c"])
    np.testing.assert_array_equal(sl(np.array([["a", "z"], ["c", "b"]])).numpy(), [[1, 0], [3, 2]])
    inv = layers.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    np.testing.assert_array_equal(inv(np.array([[1, 3], [0, 2]])), [["a", "c"], ["[UNK]", "b"]])
    il = layers.IntegerLookup()
    il.adapt(np.array([12, 36, 12, 7, 7, 7]))
    assert il.get_vocabulary() == [-1, 7, 12, 36]
    np.testing.assert_array_equal(il(np.array([7, 12, 99])).numpy(), [1, 2, 0])
    oh = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    np.testing.assert_array_equal(oh(["b", "q"]).numpy(), [[0, 0, 1], [1, 0, 0]])
    masked = layers.StringLookup(vocabulary=["a", "b"], mask_token="")
    np.testing.assert_array_equal(masked(["", "b", "x"]).numpy(), [0, 3, 1])
    strict = layers.StringLookup(vocabulary=["a"], num_oov_indices=0)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        strict(["b"])


def test_vocabulary_files_and_assets_round_trip(tmp_path):
    tv = layers.TextVectorization(output_sequence_length=4)
    tv.adapt(DOCS)
    tv.save_assets(str(tmp_path))
    assert (tmp_path / "vocabulary.txt").read_text().splitlines()[1:4] == ["[UNK]", "the", "cat"]
    other = layers.TextVectorization(output_sequence_length=4)
    other.load_assets(str(tmp_path))
    np.testing.assert_array_equal(other(["a cat"]).numpy(), tv(["a cat"]).numpy())
    (tmp_path / "v.txt").write_text("x\ny\n")
    assert layers.StringLookup(vocabulary=str(tmp_path / "v.txt")).get_vocabulary() == ["[UNK]", "x", "y"]


def test_lookup_errors_name_the_argument():
    with pytest.raises(ValueError, match="repeated"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="output_mode"):
        layers.TextVectorization(output_mode="bogus")
    with pytest.raises(ValueError, match="output_sequence_length"):
        layers.TextVectorization(output_mode="multi_hot", output_sequence_length=3)
    with pytest.raises(ValueError, match="max_tokens"):
        layers.StringLookup(max_tokens=1)
    with pytest.raises(ValueError, match="idf_weights"):
        layers.StringLookup(vocabulary=["a"], output_mode="tf_idf")


def test_vectorized_text_trains_an_embedding_model():
    texts = ["good fine great", "bad awful", "great good", "awful terrible bad", "fine good", "terrible bad"] * 20
    labels = np.array([1, 0, 1, 0, 1, 0] * 20)
    tv = layers.TextVectorization(output_sequence_length=4)
    tv.adapt(texts)
    x = tv(texts)
    gpunet.utils.set_random_seed(0)
    model = gpunet.Sequential([gpunet.Input((4,)), layers.Embedding(tv.vocabulary_size(), 8, mask_zero=True),
                               layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    h = model.fit(x, labels, epochs=15, verbose=0).history
    assert h["accuracy"][-1] == 1.0 and h["loss"][-1] < h["loss"][0]


def test_hashing_equals_keras_bit_for_bit():
    """Bins from Keras 3.15.1 on TensorFlow (FarmHash Fingerprint64; SipHash-2-4 with a salt)."""
    H = layers.Hashing
    np.testing.assert_array_equal(H(num_bins=3)([["A"], ["B"], ["C"], ["D"], ["E"]]).numpy(), [[1], [0], [1], [1], [2]])
    np.testing.assert_array_equal(H(num_bins=5, mask_value=0)(np.array([[0, 1, 17], [123456789, 0, -3]])).numpy(),
                                  [[0, 2, 3], [3, 0, 4]])
    np.testing.assert_array_equal(H(num_bins=7, salt=133)(np.array([["apple", "pear"], ["fig", ""]])).numpy(),
                                  [[6, 2], [5, 6]])
    np.testing.assert_array_equal(H(num_bins=7, salt=[1, 2])(np.array([["apple", "pear"]])).numpy(), [[5, 2]])
    words = np.array([["a", "b", "c"], ["d", "d", "e"]])
    np.testing.assert_array_equal(H(num_bins=4, output_mode="multi_hot")(words).numpy(), [[1, 0, 1, 1], [0, 1, 0, 0]])
    np.testing.assert_array_equal(H(num_bins=4, output_mode="count")(words).numpy(), [[1, 0, 1, 1], [0, 3, 0, 0]])
    np.testing.assert_array_equal(H(num_bins=6, mask_value="")(np.array(["", "x", "yy"])).numpy(), [0, 1, 3])
    cfg = H(num_bins=7, salt=133).get_config()
    assert {k: cfg[k] for k in ("num_bins", "salt", "mask_value", "output_mode", "sparse")} == \
        {"num_bins": 7, "salt": [133, 133], "mask_value": None, "output_mode": "int", "sparse": False}
    with pytest.raises(ValueError, match="num_bins"):
        H(num_bins=0)
    with pytest.raises(ValueError, match="salt"):
        H(num_bins=3, salt="x")


def test_the_two_hashes_match_tensorflow_at_every_length():
    """FarmHash64 takes a different code path by length (0-3, 4-7, 8-16, 17-32, 33-64, longer, and the loop's
    tail): tests/hash_reference.json holds TensorFlow's to_hash_bucket_fast and _strong of strings of 136
    lengths (its "generated_by" says how)."""
    import json
    import os
    from gpunet.common.hashing import fingerprint64, siphash24
    with open(os.path.join(os.path.dirname(__file__), "hash_reference.json")) as f:
        ref = json.load(f)
    N = 2 ** 63 - 1
    for n, fast, strong in zip(ref["lengths"], ref["fast"], ref["strong"]):
        s = bytes((i * 7 + 3) % 251 for i in range(n))
        assert fingerprint64(s) % N == fast, n
        assert siphash24(s, 17, 99) % N == strong, n


def test_category_encoding_as_keras():
    """Expected arrays from Keras 3.15.1 (NumPy backend), including the rank-1 input read as one sample."""
    CE = layers.CategoryEncoding
    np.testing.assert_array_equal(CE(4, output_mode="one_hot")(np.array([1, 3, 0])).numpy(),
                                  [[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])
    np.testing.assert_array_equal(CE(4, output_mode="one_hot")(np.array([[1], [3]])).numpy(), [[0, 1, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(CE(4)(np.array([1, 3, 1])).numpy(), [0, 1, 0, 1])
    np.testing.assert_array_equal(CE(4, output_mode="count")(np.array([[1, 1, 3], [0, 2, 2]])).numpy(),
                                  [[0, 2, 0, 1], [1, 0, 2, 0]])
    np.testing.assert_array_equal(CE(4, output_mode="count")(np.array([[1, 1, 3]]), count_weights=np.array(
        [[0.5, 1, 2]])).numpy(), [[0, 1.5, 0, 2]])
    with pytest.raises(ValueError, match="0 <= values < num_tokens"):
        CE(4)(np.array([4]))
    with pytest.raises(ValueError, match="num_tokens must be set"):
        CE()


@pytest.mark.parametrize("use_kernel", [True, False], ids=["C kernel", "Python reference"])
def test_batch_hashes_match_tensorflow_and_the_reference(use_kernel):
    """ops.hashing.hash_bytes (kernels/cpu_hash.c, or the Python reference) on all 136 of TensorFlow's lengths in
    one batch, then the kernel against the reference on random strings of 0-300 bytes and large salts."""
    import json
    import os
    from gpunet.common.hashing import fingerprint64, siphash24
    from gpunet.kernels import cpu
    from gpunet.ops.hashing import hash_bytes
    if use_kernel and cpu.hash_library() is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("kernels/cpu_hash.c did not build in CI")
        pytest.skip("no C compiler: the string-hash kernel is not built")
    with open(os.path.join(os.path.dirname(__file__), "hash_reference.json")) as f:
        ref = json.load(f)
    items = [bytes((i * 7 + 3) % 251 for i in range(n)) for n in ref["lengths"]]
    N = np.uint64(2 ** 63 - 1)
    assert (hash_bytes(items, use_kernel=use_kernel) % N).tolist() == ref["fast"]
    assert (hash_bytes(items, (17, 99), use_kernel=use_kernel) % N).tolist() == ref["strong"]
    rng = np.random.default_rng(0)
    items = [rng.integers(0, 256, size=int(n), dtype=np.uint8).tobytes() for n in rng.integers(0, 301, size=400)]
    items += [b"", b"\x00", "é✓".encode()]
    salt = (2 ** 64 - 5, 2 ** 63 + 11)
    assert hash_bytes(items, use_kernel=use_kernel).tolist() == [fingerprint64(s) for s in items]
    assert hash_bytes(items, salt, use_kernel=use_kernel).tolist() == [siphash24(s, *salt) for s in items]
    assert hash_bytes([], use_kernel=use_kernel).shape == (0,)


def test_hashing_layer_uses_the_kernel_and_equals_the_reference_path(monkeypatch):
    """The layer's bins through the kernel equal the pure-Python path's (GPUNET_CPU_KERNELS=0 forces it)."""
    from gpunet.kernels import cpu
    words = np.array([["apple", "pear", "", "fig" * 40], ["x", "yy", "zzz", "a longer string of text!"]])
    out = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("GPUNET_CPU_KERNELS", flag)
        cpu._reset_for_tests()
        out[flag] = [layers.Hashing(num_bins=97, **kw)(words).numpy() for kw in ({}, {"salt": 7}, {"mask_value": ""})]
    cpu._reset_for_tests()
    for a, b in zip(out["1"], out["0"]):
        np.testing.assert_array_equal(a, b)
