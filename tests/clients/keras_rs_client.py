"""keras-rs through gpunet.install_as_keras(): a DCN ranking model (FeatureCross), a DLRM-style interaction model
(DotInteraction, EmbedReduce), a listwise ranker with keras-rs's pairwise loss and ranking metrics, brute-force
retrieval, and a DistributedEmbedding; fit, save and load, predict. Run as
`python keras_rs_client.py gpunet|keras OUTDIR`. The gpunet run writes each model's initial weights to OUTDIR and
the Keras run starts from them, so the two train the same numbers (tests/test_keras_clients.py)."""
import json
import os
import sys

backend, outdir = sys.argv[1], sys.argv[2]
if backend == "gpunet":
    import gpunet
    gpunet.install_as_keras()
else:
    os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import keras_rs  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(0)
out = {}


def same_start(model, name):
    """gpunet writes the initial weights; Keras loads them: both runs start from one point."""
    path = os.path.join(outdir, name + ".npz")
    if backend == "gpunet":
        np.savez(path, *model.get_weights())
    else:
        with np.load(path) as f:
            model.set_weights([f["arr_%d" % i] for i in range(len(f.files))])


def roundtrip(model, name, x):
    path = os.path.join(outdir, name + "-" + backend + ".keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    return float(np.max(np.abs(np.asarray(model.predict(x, verbose=0)) - np.asarray(loaded.predict(x, verbose=0)))))


# DCN: two cross layers over dense features
x = rng.normal(size=(256, 12)).astype("float32")
t = (x[:, :1] * x[:, 1:2] + 0.5 * x[:, 2:3]).astype("float32")
inp = keras.Input((12,))
h = keras_rs.layers.FeatureCross(projection_dim=6)(inp, inp)
h = keras_rs.layers.FeatureCross()(inp, h)
dcn = keras.Model(inp, keras.layers.Dense(1)(h))
dcn.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
same_start(dcn, "dcn")
hist = dcn.fit(x, t, epochs=4, batch_size=32, shuffle=False, verbose=0)
out["dcn"] = {"loss": [float(v) for v in hist.history["loss"]], "save_load": roundtrip(dcn, "dcn", x),
              "predict": np.asarray(dcn.predict(x[:5], verbose=0)).ravel().tolist()}

# DLRM-style: embeddings of categorical ids, reduced bags, pairwise dot products
ids = rng.integers(0, 50, size=(256, 3)).astype("int32")
bags = rng.integers(0, 30, size=(256, 4)).astype("int32")
label = ((ids[:, 0] % 2) ^ (bags[:, 0] % 2)).astype("float32")[:, None]
i_in, b_in = keras.Input((3,), dtype="int32"), keras.Input((4,), dtype="int32")
emb = keras.layers.Embedding(50, 8)
feats = [emb(i_in[:, k]) for k in range(3)] + [keras_rs.layers.EmbedReduce(30, 8, combiner="mean")(b_in)]
z = keras_rs.layers.DotInteraction(self_interaction=False, skip_gather=False)(feats)
dlrm = keras.Model([i_in, b_in], keras.layers.Dense(1, activation="sigmoid")(z))
dlrm.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
same_start(dlrm, "dlrm")
hist = dlrm.fit([ids, bags], label, epochs=3, batch_size=64, shuffle=False, verbose=0)
out["dlrm"] = {"loss": [float(v) for v in hist.history["loss"]], "save_load": roundtrip(dlrm, "dlrm", [ids, bags])}

# listwise ranking: score each of 5 items of a list, pairwise logistic loss, NDCG and MRR
items = rng.normal(size=(128, 5, 6)).astype("float32")
relevance = np.clip(np.round(items[..., 0] + items[..., 1]), 0, 3).astype("float32")
r_in = keras.Input((5, 6))
ranker = keras.Model(r_in, keras.layers.Reshape((5,))(keras.layers.Dense(1)(keras.layers.Dense(8, "relu")(r_in))))
ranker.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras_rs.losses.PairwiseLogisticLoss(),
               metrics=[keras_rs.metrics.NDCG(k=3), keras_rs.metrics.MeanReciprocalRank()])
same_start(ranker, "ranker")
hist = ranker.fit(items, relevance, epochs=3, batch_size=32, shuffle=False, verbose=0)
out["ranking"] = {k: [float(v) for v in vs] for k, vs in hist.history.items()}

# retrieval: the top 3 candidates of each query by dot product, and hard negatives
candidates = rng.normal(size=(40, 8)).astype("float32")
queries = rng.normal(size=(6, 8)).astype("float32")
retrieval = keras_rs.layers.BruteForceRetrieval(candidate_embeddings=candidates, k=3, return_scores=True)
scores, top = retrieval(queries)
logits = queries @ candidates.T
neg_logits, neg_labels = keras_rs.layers.HardNegativeMining(num_hard_negatives=2)(
    logits, np.eye(6, 40, dtype="float32"))
out["retrieval"] = {"top": np.asarray(top).tolist(), "scores": np.asarray(scores).round(5).tolist(),
                    "hard_negative_logits": np.asarray(neg_logits).round(5).tolist()}

# DistributedEmbedding on one device: tables and feature configs, looked up by feature name
table = keras_rs.layers.TableConfig(name="t", vocabulary_size=20, embedding_dim=4)
features = {"a": keras_rs.layers.FeatureConfig(name="a", table=table, input_shape=(8,), output_shape=(8, 4))}
dist = keras_rs.layers.DistributedEmbedding(features)
looked = dist({"a": np.arange(8, dtype="int32") % 20})
weights = dist.get_weights()
out["distributed_embedding"] = {"shape": list(np.asarray(looked["a"]).shape), "weights": len(weights),
                                "lookup_matches": bool(np.allclose(np.asarray(looked["a"]),
                                                                   weights[0][np.arange(8) % 20]))}
print(json.dumps(out))
