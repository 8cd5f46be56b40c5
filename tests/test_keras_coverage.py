"""The coverage report: which public names of real Keras 3 gpunet lacks (docs/keras-coverage.md, linked
from the README), and the names the Keras guides and keras.io examples use, which must all exist."""
import os

import pytest

import gpunet
from keras_ref import keras

HERE = os.path.dirname(__file__)
REPORT = os.path.join(HERE, "..", "docs", "keras-coverage.md")

# names the issue lists from real programs (guides, keras.io recipes): none may be missing
GUIDE_NAMES = {
    "ops": ["split", "stack", "tensordot", "tile", "concatenate", "shape", "exp", "square", "mean", "sum", "cast",
            "argmax", "reshape", "multiply", "add", "expand_dims", "ones", "zeros", "softmax", "sigmoid", "where",
            "convert_to_numpy", "convert_to_tensor", "logsumexp", "norm", "top_k", "one_hot", "einsum", "arange"],
    "layers": ["Softmax", "ReLU", "LeakyReLU", "ELU", "PReLU", "Rescaling", "Resizing", "RandomFlip", "RandomRotation",
               "RandomZoom", "RandomTranslation", "RandomContrast", "Layer", "Dense", "Dropout", "Input", "InputLayer",
               "Flatten", "Reshape", "Activation", "Concatenate", "Add", "Lambda", "LayerNormalization", "Identity"],
    "metrics": ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "MeanAbsolutePercentageError",
                "Metric", "Mean", "MeanAbsoluteError", "SparseCategoricalAccuracy", "BinaryAccuracy", "AUC",
                "Precision", "Recall"],
    "losses": ["Loss", "MeanSquaredError", "SparseCategoricalCrossentropy", "BinaryCrossentropy", "mean_squared_error",
               "binary_crossentropy"],
    "callbacks": ["Callback", "History", "LambdaCallback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
                  "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "ProgbarLogger", "SwapEMAWeights"],
    "utils": ["PyDataset", "pad_sequences", "img_to_array", "to_categorical", "set_random_seed", "Progbar",
              "register_keras_serializable"],
    "random": ["normal", "uniform", "dropout", "SeedGenerator", "randint", "shuffle", "truncated_normal"],
    "models": ["clone_model", "load_model", "Model", "Sequential"],
    "config": ["disable_traceback_filtering", "floatx", "set_floatx", "epsilon"],
}


@pytest.mark.parametrize("module", sorted(GUIDE_NAMES))
def test_names_used_by_guides_exist(module):
    missing = [n for n in GUIDE_NAMES[module] if not hasattr(getattr(gpunet, module), n)]
    assert not missing, "gpunet.%s lacks %s" % (module, missing)


def test_coverage_report_is_current(capsys):
    """Regenerate with: python tests/keras_coverage.py > docs/keras-coverage.md"""
    k = keras()
    import keras_coverage
    text = keras_coverage.render()
    with capsys.disabled():
        n_missing = sum(len(m) for _, m in keras_coverage.missing().values())
        print("\ngpunet lacks %d public Keras %s names (docs/keras-coverage.md)" % (n_missing, k.__version__))
    with open(REPORT) as f:
        committed = f.read()
    if committed.splitlines()[0] != text.splitlines()[0]:
        pytest.skip("docs/keras-coverage.md was made with another Keras than the installed %s" % k.__version__)
    assert committed == text, "docs/keras-coverage.md is stale: python tests/keras_coverage.py > docs/keras-coverage.md"
    assert "## keras.ops arguments that differ\n\n- none" in text  # configs store op arguments by name
    assert keras_coverage.UNASSIGNED not in text, "a missing name with no issue or decision: add it to WHY"


def test_the_report_walks_the_whole_public_api():
    keras()
    import keras_coverage
    found = keras_coverage.missing()
    for path in ("applications", "mixed_precision", "export", "dtype_policies", "quantizers", "tree", "visualization",
                 "preprocessing", "wrappers", "distillation", "datasets.cifar10", "datasets.imdb", "ops.image",
                 "(Model)", "(Layer)"):
        assert path in found, path
    assert keras_coverage.reason("tree", "flatten").startswith("issue 36")
    assert keras_coverage.reason("layers", "NoSuchThing") == keras_coverage.UNASSIGNED
