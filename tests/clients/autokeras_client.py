"""AutoKeras through gpunet.install_as_keras(): a structured-data classifier and an image classifier searched by
AutoKeras's tuner, the best model exported, saved and loaded, and predictions. Run as
`python autokeras_client.py gpunet|keras OUTDIR`: prints one JSON line of every stage's numbers
(tests/test_keras_clients.py holds gpunet's against Keras's)."""
import json
import os
import sys

backend, outdir = sys.argv[1], sys.argv[2]
if backend == "gpunet":
    import gpunet
    gpunet.install_as_keras()
else:
    os.environ["KERAS_BACKEND"] = "jax"

import autokeras as ak  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

# AutoKeras 3.0.0 passes NumPy integers as layer sizes (Dense(units)), which Keras 3.15 refuses: the one-line
# fix, applied on both sides, keeps the data's shapes as Python ints
ak.utils.data_utils.dataset_shape = lambda d: keras.tree.map_structure(lambda a: np.array(a.shape, object), d)
keras.utils.set_random_seed(3)
rng = np.random.default_rng(0)
out = {}

x = rng.normal(size=(200, 6)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int32")
clf = ak.StructuredDataClassifier(max_trials=2, overwrite=True, directory=outdir, project_name="table", seed=5)
clf.fit(x, y, epochs=4, validation_split=0.2, verbose=0)
model = clf.export_model()
pred = np.asarray(clf.predict(x, verbose=0)).ravel()
path = os.path.join(outdir, "table-" + backend + ".keras")
model.save(path)
loaded = keras.models.load_model(path, custom_objects=ak.CUSTOM_OBJECTS)
p0, p1 = np.asarray(model.predict(x, verbose=0)), np.asarray(loaded.predict(x, verbose=0))
trials = sorted(clf.tuner.oracle.trials.values(), key=lambda t: t.trial_id)
out["structured"] = {"trials": len(trials), "hyperparameters": [dict(t.hyperparameters.values) for t in trials],
                     "accuracy": float(np.mean(pred.astype(int) == y)),
                     "evaluate": [float(v) for v in clf.evaluate(x, y, verbose=0)],
                     "save_load": float(np.max(np.abs(p0 - p1)))}

# the second of ImageClassifier's initial trials is a ResNet50 (keras.applications) trained from scratch
images = rng.random(size=(32, 32, 32, 3)).astype("float32")
labels = (images[:, :16].mean(axis=(1, 2, 3)) > images[:, 16:].mean(axis=(1, 2, 3))).astype("int32")
img = ak.ImageClassifier(max_trials=2, overwrite=True, directory=outdir, project_name="images", seed=5)
img.fit(images, labels, epochs=1, batch_size=16, validation_split=0.25, verbose=0)
trials = sorted(img.tuner.oracle.trials.values(), key=lambda t: t.trial_id)
best = img.export_model()
params = []
for t in trials:  # each trial's model, rebuilt in a fresh session as AutoKeras builds it
    keras.backend.clear_session()
    params.append(int(img.tuner.hypermodel.build(t.hyperparameters.copy()).count_params()))
out["image"] = {"trials": [dict(t.hyperparameters.values) for t in trials], "params": params,
                "best_params": int(best.count_params()),
                "predict_shape": list(np.asarray(img.predict(images, verbose=0)).shape)}
print(json.dumps(out))
