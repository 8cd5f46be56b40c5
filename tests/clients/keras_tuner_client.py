"""keras-tuner through gpunet.install_as_keras(): build a hypermodel, search, reload the search from its directory,
train the best model, save and load it, predict. Run as `python keras_tuner_client.py gpunet|keras OUTDIR`: it
prints one JSON line of every stage's numbers (tests/test_keras_clients.py holds gpunet's against Keras's)."""
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
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(240, 8)).astype("float32")
y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] > 0).astype("int32")
x_val, y_val = x[200:], y[200:]
x, y = x[:200], y[:200]


def build(hp):
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(hp.Int("units", 4, 16, step=4), activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [1e-2, 3e-2])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


out = {}
keras.utils.set_random_seed(1)
tuner = keras_tuner.RandomSearch(build, objective="val_accuracy", max_trials=3, seed=7,
                                 directory=outdir, project_name="search", overwrite=True)
out["build"] = {"space": sorted(p.name for p in tuner.oracle.hyperparameters.space)}
tuner.search(x, y, epochs=8, batch_size=32, validation_data=(x_val, y_val), verbose=0)
trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
out["search"] = {"trials": [dict(t.hyperparameters.values) for t in trials],
                 "val_accuracy": [t.score for t in trials],
                 "direction": tuner.oracle.objective.direction}

# a second tuner reads the finished search back from its directory (trials, scores, the oracle's state)
again = keras_tuner.RandomSearch(build, objective="val_accuracy", max_trials=3, seed=7,
                                 directory=outdir, project_name="search", overwrite=False)
again.reload()
best_hp = again.get_best_hyperparameters(1)[0]
out["reload"] = {"trials": len(again.oracle.trials), "best": dict(best_hp.values)}

best = tuner.get_best_models(1)[0]
loss, acc = best.evaluate(x_val, y_val, verbose=0)
out["fit"] = {"val_loss": float(loss), "val_accuracy": float(acc)}

path = os.path.join(outdir, "best.keras")
best.save(path)
loaded = keras.models.load_model(path)
p0, p1 = best.predict(x_val, verbose=0), loaded.predict(x_val, verbose=0)
out["save_load"] = {"max_abs_diff": float(np.max(np.abs(p0 - p1)))}
out["predict"] = {"shape": list(p1.shape), "row_sums": float(np.max(np.abs(p1.sum(axis=1) - 1))),
                  "accuracy": float(np.mean(p1.argmax(axis=1) == y_val))}
print(json.dumps(out))
