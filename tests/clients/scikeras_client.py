"""scikeras through gpunet.install_as_keras(): a KerasClassifier and a KerasRegressor are fitted, scored,
cross-validated and grid-searched by scikit-learn, pickled, deep-copied and cloned, and refitted with the same
random_state. Run as `python scikeras_client.py gpunet|keras OUTDIR`: prints one JSON line of every stage's
numbers (tests/test_keras_clients.py holds gpunet's against Keras's)."""
import copy
import json
import os
import pickle
import sys

backend = sys.argv[1]
if backend == "gpunet":
    import gpunet
    gpunet.install_as_keras()
else:
    os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scikeras.wrappers import KerasClassifier, KerasRegressor  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(300, 6)).astype("float32")
y = (x[:, 0] - x[:, 1] + 0.3 * x[:, 2] > 0).astype("int64")
t = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.5, -1.0]) + 0.3).astype("float32")


def classifier(hidden=8, meta=None, compile_kwargs=None):
    model = keras.Sequential([keras.Input((meta["n_features_in_"],)),
                              keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(meta["n_classes_"], activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=compile_kwargs["optimizer"])
    return model


def regressor(meta=None):
    return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])


out = {}
clf = KerasClassifier(model=classifier, hidden=8, optimizer="adam", optimizer__learning_rate=0.05, epochs=20,
                      batch_size=32, random_state=0, verbose=0)
clf.fit(x, y)
out["fit"] = {"loss": [float(v) for v in clf.history_["loss"]], "classes": clf.classes_.tolist()}
proba = clf.predict_proba(x)
out["predict"] = {"accuracy": float(clf.score(x, y)), "proba_shape": list(proba.shape),
                  "proba_row_sums": float(np.max(np.abs(proba.sum(axis=1) - 1)))}

# the same random_state gives the same model (Keras's seeding rules, through scikeras)
again = clone(clf).fit(x, y)
out["reproducible"] = {"max_abs_diff": float(np.max(np.abs(again.predict_proba(x) - proba)))}

# pickling and deep-copying go through keras.saving on a BytesIO
restored = pickle.loads(pickle.dumps(clf))
copied = copy.deepcopy(clf)
out["pickle"] = {"max_abs_diff": float(np.max(np.abs(restored.predict_proba(x) - proba))),
                 "deepcopy_max_abs_diff": float(np.max(np.abs(copied.predict_proba(x) - proba)))}

cv = cross_val_score(KerasClassifier(model=classifier, optimizer="adam", optimizer__learning_rate=0.05, epochs=10,
                                     random_state=0, verbose=0), x, y, cv=3)
out["cross_validate"] = {"scores": [float(s) for s in cv]}

grid = GridSearchCV(KerasClassifier(model=classifier, hidden=8, optimizer="adam", epochs=10, random_state=0, verbose=0),
                    {"hidden": [4, 16], "optimizer__learning_rate": [0.01, 0.05]}, cv=2)
grid.fit(x, y)
out["search"] = {"best_score": float(grid.best_score_), "n_candidates": len(grid.cv_results_["params"])}

reg = KerasRegressor(model=regressor, loss="mse", optimizer="sgd", optimizer__learning_rate=0.05, epochs=30,
                     batch_size=30, random_state=0, verbose=0)
reg.fit(x, t)
out["regress"] = {"r2": float(reg.score(x, t)), "final_loss": float(reg.history_["loss"][-1])}
print(json.dumps(out))
