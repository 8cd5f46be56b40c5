"""Keras libraries on gpunet through `gpunet.install_as_keras()`: each script in tests/clients/ runs one library's
stages (build, fit, search or cross-validate, save/load or pickle, predict) unchanged but for that call, in a fresh
process, and prints its numbers. Where Keras 3 with JAX is installed the same script runs on it too, as the
referee: weights start from one point where the script can give them (keras-rs), otherwise the numbers are held
to what any correct run reaches on these easy problems."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")


def _have(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _run(script, backend, outdir):
    root = os.path.dirname(os.path.dirname(HERE))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, os.path.join(HERE, script), backend, str(outdir)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, "%s on %s failed:\n%s" % (script, backend, proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _referee():
    return _have("keras", "jax") and os.environ.get("GPUNET_SKIP_KERAS_REFEREE") != "1"


@pytest.mark.skipif(not _have("keras_tuner"), reason="keras-tuner is not installed (pip install -e '.[test]')")
def test_keras_tuner(tmp_path):
    g = _run("keras_tuner_client.py", "gpunet", tmp_path / "g")
    assert g["build"]["space"] == ["learning_rate", "units"]
    assert g["search"]["direction"] == "max"  # objective="val_accuracy": keras.metrics.deserialize("accuracy")
    assert len(g["search"]["trials"]) == 3 and all(s is not None for s in g["search"]["val_accuracy"])
    assert g["reload"]["trials"] == 3  # the trials came back from the search directory (legacy serialization)
    assert g["reload"]["best"] == g["search"]["trials"][max(range(3), key=lambda i: g["search"]["val_accuracy"][i])]
    assert g["save_load"]["max_abs_diff"] == 0.0
    assert g["predict"]["shape"] == [40, 2] and g["predict"]["row_sums"] < 1e-5
    assert g["fit"]["val_accuracy"] >= 0.85
    again = _run("keras_tuner_client.py", "gpunet", tmp_path / "g2")
    assert again == g, "keras.utils.set_random_seed and the oracle's seed must repeat the whole search"
    if _referee():
        k = _run("keras_tuner_client.py", "keras", tmp_path / "k")
        assert g["search"]["trials"] == k["search"]["trials"]  # the oracle's seeded draws do not depend on Keras
        assert g["build"] == k["build"] and g["search"]["direction"] == k["search"]["direction"]
        assert abs(g["fit"]["val_accuracy"] - k["fit"]["val_accuracy"]) <= 0.1
        assert g["predict"]["shape"] == k["predict"]["shape"]


@pytest.mark.skipif(not _have("scikeras", "sklearn"), reason="scikeras is not installed (pip install -e '.[test]')")
def test_scikeras(tmp_path):
    g = _run("scikeras_client.py", "gpunet", tmp_path)
    assert g["fit"]["classes"] == [0, 1] and len(g["fit"]["loss"]) == 20
    assert g["fit"]["loss"][-1] < 0.1 and g["predict"]["accuracy"] >= 0.97
    assert g["predict"]["proba_shape"] == [300, 2] and g["predict"]["proba_row_sums"] < 1e-5
    assert g["reproducible"]["max_abs_diff"] == 0.0  # random_state: Keras's seeding rules through scikeras
    assert g["pickle"] == {"max_abs_diff": 0.0, "deepcopy_max_abs_diff": 0.0}  # save_model/load_model on BytesIO
    assert len(g["cross_validate"]["scores"]) == 3 and min(g["cross_validate"]["scores"]) >= 0.9
    assert g["search"]["n_candidates"] == 4 and g["search"]["best_score"] >= 0.9
    assert g["regress"]["r2"] > 0.999
    if _referee():
        k = _run("scikeras_client.py", "keras", tmp_path)
        assert k["reproducible"]["max_abs_diff"] == 0.0 and k["pickle"] == g["pickle"]
        for stage, key in (("predict", "accuracy"), ("search", "best_score"), ("regress", "r2")):
            assert abs(g[stage][key] - k[stage][key]) <= 0.05, (stage, g[stage], k[stage])
        assert abs(sum(g["cross_validate"]["scores"]) - sum(k["cross_validate"]["scores"])) / 3 <= 0.05


@pytest.mark.skipif(not _have("keras_rs"), reason="keras-rs is not installed (pip install -e '.[test]')")
def test_keras_rs(tmp_path):
    g = _run("keras_rs_client.py", "gpunet", tmp_path)
    for model in ("dcn", "dlrm"):
        assert g[model]["save_load"] == 0.0
    assert g["dcn"]["loss"][-1] < g["dcn"]["loss"][0]
    assert sorted(g["ranking"]) == ["loss", "mean", "mean_1"]  # two keras_rs metrics named "mean", as in Keras
    assert g["distributed_embedding"] == {"shape": [8, 4], "weights": 1, "lookup_matches": True}
    if _referee():  # the Keras run starts from the weights the gpunet run wrote
        k = _run("keras_rs_client.py", "keras", tmp_path)
        for model in ("dcn", "dlrm"):
            assert g[model]["loss"] == pytest.approx(k[model]["loss"], rel=2e-4, abs=1e-6), model
        assert g["dcn"]["predict"] == pytest.approx(k["dcn"]["predict"], rel=1e-3, abs=1e-4)
        assert sorted(g["ranking"]) == sorted(k["ranking"])
        for name in g["ranking"]:
            assert g["ranking"][name] == pytest.approx(k["ranking"][name], rel=2e-4, abs=1e-6), name
        assert g["retrieval"]["top"] == k["retrieval"]["top"]
        for key in ("scores", "hard_negative_logits"):
            np.testing.assert_allclose(g["retrieval"][key], k["retrieval"][key], atol=1e-4)
        assert g["distributed_embedding"] == k["distributed_embedding"]


@pytest.mark.skipif(not _have("keras_hub"), reason="KerasHub is not installed (pip install -e '.[clients]')")
def test_keras_hub(tmp_path):
    g = _run("keras_hub_client.py", "gpunet", tmp_path)
    assert g["bert"]["params"] == 6000 and g["gpt2"]["params"] == 5760
    assert g["bert"]["save_load"] == 0.0
    assert g["bert"]["loss"][-1] < g["bert"]["loss"][0] and g["gpt2"]["loss"][-1] < g["gpt2"]["loss"][0]
    assert [len(row) for row in g["gpt2"]["generated"]] == [16, 16]
    if _referee():  # from the weights the gpunet run wrote: the same training and the same greedy generation
        k = _run("keras_hub_client.py", "keras", tmp_path)
        for model in ("bert", "gpt2"):
            assert g[model]["params"] == k[model]["params"]
            assert g[model]["loss"] == pytest.approx(k[model]["loss"], rel=2e-5, abs=1e-6), model
        np.testing.assert_allclose(g["bert"]["predict"], k["bert"]["predict"], atol=1e-5)
        assert g["gpt2"]["generated"] == k["gpt2"]["generated"]


@pytest.mark.skipif(not _have("autokeras"), reason="AutoKeras is not installed (pip install -e '.[clients]')")
def test_autokeras(tmp_path):
    g = _run("autokeras_client.py", "gpunet", tmp_path / "g")
    assert g["structured"]["trials"] == 2 and g["structured"]["save_load"] == 0.0
    assert g["structured"]["accuracy"] >= 0.7
    assert g["structured"]["evaluate"][1] == pytest.approx(g["structured"]["accuracy"])
    assert [t["image_block_1/block_type"] for t in g["image"]["trials"]] == ["vanilla", "resnet"]
    assert g["image"]["trials"][1]["image_block_1/res_net_block_1/version"] == "resnet50"
    assert g["image"]["predict_shape"] == [32, 1] and g["image"]["best_params"] in g["image"]["params"]
    if _referee():
        k = _run("autokeras_client.py", "keras", tmp_path / "k")
        # the oracle's first trials are fixed; its later ones draw from NumPy's global generator, which Keras's
        # JAX and NumPy backends also use to shuffle fit's data (its TensorFlow backend and gpunet do not)
        assert g["structured"]["hyperparameters"][0] == k["structured"]["hyperparameters"][0]
        assert g["image"]["trials"] == k["image"]["trials"]
        assert g["image"]["params"] == k["image"]["params"]  # the same vanilla CNN and ResNet50, weight for weight
        assert abs(g["structured"]["accuracy"] - k["structured"]["accuracy"]) <= 0.15
