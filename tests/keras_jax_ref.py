"""Real Keras 3 on JAX, in a subprocess, as the referee for training: Keras's NumPy backend predicts, loads and
saves but cannot fit. `keras_fit` builds a model from source text in a fresh process with
KERAS_BACKEND=jax, sets the given initial weights, fits on the given data and returns the history (and
the predictions after training), so a test can hold gpunet's loss curve against Keras's from the same
starting point. `same_program` runs one program (`build(keras)`, then `run(keras, model, data)`: any inputs,
outputs and results) with gpunet here and with Keras on JAX from gpunet's initial weights."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_RUNNER = textwrap.dedent('''
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np
    import keras
    from keras import layers, ops  # noqa: F401  (the build source may use them)
    d = np.load(sys.argv[1], allow_pickle=False)
    ns = {"keras": keras, "layers": layers, "ops": ops, "np": np}
    exec(open(sys.argv[2]).read(), ns)
    model = ns["build"](keras)
    n = int(d["n_weights"])
    model.set_weights([d["w%d" % i] for i in range(n)])
    kwargs = json.loads(str(d["fit_kwargs"]))
    h = model.fit(d["x"], d["y"], verbose=0, **kwargs)
    np.save(sys.argv[3], model.predict(d["x"], verbose=0))
    print(json.dumps({k: [float(v) for v in vs] for k, vs in h.history.items()}))
''')


def keras_fit(tmp_path, build_source, weights, x, y, **fit_kwargs):
    """(history, predictions) of Keras-on-JAX fitting `build(keras)` from `weights` on (x, y)."""
    import importlib.util
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None:
        pytest.skip("Keras-on-JAX referee needs keras and jax (pip install -e '.[test]')")
    data, src, pred, runner = (tmp_path / n for n in ("ref.npz", "build.py", "pred.npy", "runner.py"))
    np.savez(data, x=x, y=y, n_weights=len(weights), fit_kwargs=json.dumps(fit_kwargs),
             **{"w%d" % i: w for i, w in enumerate(weights)})
    src.write_text(textwrap.dedent(build_source))
    runner.write_text(_RUNNER)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run([sys.executable, str(runner), str(data), str(src), str(pred)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert p.returncode == 0, "Keras-on-JAX referee failed:\n" + p.stderr[-4000:]
    return json.loads(p.stdout.strip().splitlines()[-1]), np.load(pred)


_PROGRAM_RUNNER = textwrap.dedent('''
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np
    import keras
    d = dict(np.load(sys.argv[1], allow_pickle=False))
    ns = {}
    exec(open(sys.argv[2]).read(), ns)
    model = ns["build"](keras)
    n = int(d.pop("n_weights"))
    model.set_weights([d.pop("w%d" % i) for i in range(n)])
    out = ns["run"](keras, model, d)
    print(json.dumps(out, default=lambda o: np.asarray(o, dtype=np.float64).tolist()))
''')


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "shape") or isinstance(v, (float, np.floating, int, np.integer)):
        return np.asarray(v, dtype=np.float64).tolist()
    return v


def same_program(tmp_path, source, data):
    import gpunet
    """Runs `build(keras)` and `run(keras, model, data)` from `source` with gpunet here and with Keras on JAX in a
    subprocess, Keras's model starting from gpunet's initial weights; returns (gpunet's result, Keras's)."""
    import importlib.util
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None:
        pytest.skip("the Keras-on-JAX referee needs keras and jax (pip install -e '.[test]')")
    ns = {}
    exec(textwrap.dedent(source), ns)
    model = ns["build"](gpunet)
    weights = model.get_weights()
    mine = _jsonable(ns["run"](gpunet, model, {k: v.copy() for k, v in data.items()}))
    npz, src, runner = (tmp_path / n for n in ("ref.npz", "prog.py", "runner.py"))
    np.savez(npz, n_weights=len(weights), **{"w%d" % i: w for i, w in enumerate(weights)}, **data)
    src.write_text(textwrap.dedent(source))
    runner.write_text(_PROGRAM_RUNNER)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run([sys.executable, str(runner), str(npz), str(src)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, "Keras-on-JAX referee failed:\n" + p.stderr[-4000:]
    return mine, json.loads(p.stdout.strip().splitlines()[-1])


def assert_same(mine, theirs, rtol=1e-4, atol=1e-5):
    if isinstance(theirs, dict):
        assert sorted(mine) == sorted(theirs), (sorted(mine), sorted(theirs))
        for k in theirs:
            assert_same(mine[k], theirs[k], rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64),
                                   rtol=rtol, atol=atol)
