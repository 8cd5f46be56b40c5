"""KerasHub through gpunet.install_as_keras(): a small BERT encoder classifier (BertBackbone, BertTextClassifier) and
a GPT-2 causal LM built from scratch on token ids; fit, save and load, predict, generate. Run as
`python keras_hub_client.py gpunet|keras OUTDIR`. The gpunet run writes the initial weights to OUTDIR and the Keras
run starts from them (tests/test_keras_clients.py compares the losses)."""
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
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(0)
out = {}


def same_start(model, name):
    path = os.path.join(outdir, name + ".npz")
    if backend == "gpunet" or not os.path.exists(path):  # (a Keras run alone starts from its own weights)
        np.savez(path, *model.get_weights())
    else:
        with np.load(path) as f:
            model.set_weights([f["arr_%d" % i] for i in range(len(f.files))])


tokens = rng.integers(1, 60, size=(64, 12)).astype("int32")
padding = np.ones_like(tokens, dtype=bool)
padding[::3, 9:] = False
tokens[~padding] = 0
labels = (tokens[:, 0] > 30).astype("int32")
x = {"token_ids": tokens, "segment_ids": np.zeros_like(tokens), "padding_mask": padding}

backbone = keras_hub.models.BertBackbone(vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16,
                                         intermediate_dim=32, max_sequence_length=12, dropout=0.0)
classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None, dropout=0.0)
classifier.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(
    from_logits=True), metrics=["sparse_categorical_accuracy"])
same_start(classifier, "bert")
hist = classifier.fit(x, labels, epochs=3, batch_size=16, shuffle=False, verbose=0)
logits = np.asarray(classifier.predict(x, batch_size=16, verbose=0))
path = os.path.join(outdir, "bert-" + backend + ".keras")
classifier.save(path)
loaded = keras.models.load_model(path)
out["bert"] = {"params": int(backbone.count_params()), "loss": [float(v) for v in hist.history["loss"]],
               "predict": logits[:4].tolist(),
               "save_load": float(np.max(np.abs(np.asarray(loaded.predict(x, batch_size=16, verbose=0)) - logits)))}

gpt = keras_hub.models.GPT2Backbone(vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16,
                                    intermediate_dim=32, max_sequence_length=16, dropout=0.0)
lm = keras_hub.models.GPT2CausalLM(backbone=gpt, preprocessor=None)
lm.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
           sampler="greedy")
same_start(lm, "gpt2")
seq = {"token_ids": tokens[:, :11], "padding_mask": padding[:, :11]}
hist = lm.fit(seq, tokens[:, 1:], sample_weight=padding[:, 1:].astype("float32"), epochs=2, batch_size=16,
              shuffle=False, verbose=0)
prompt = {"token_ids": np.concatenate([tokens[:2, :4], np.zeros((2, 12), "int32")], axis=1),
          "padding_mask": np.arange(16)[None, :].repeat(2, 0) < 4}
generated = lm.generate(prompt, stop_token_ids=None)
out["gpt2"] = {"params": int(gpt.count_params()), "loss": [float(v) for v in hist.history["loss"]],
               "generated": np.asarray(generated["token_ids"]).tolist()}
print(json.dumps(out))
