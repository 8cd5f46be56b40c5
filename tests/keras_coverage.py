"""Which public names of real Keras 3 gpunet lacks, over the whole public API: every `keras.*` module the installed
Keras exposes (found by walking it, not from a fixed list: applications, datasets, mixed_precision, export, ...),
and the public attributes and methods of a built `Model` and `Layer`. Each missing name says which issue or
decision covers it; a name that none covers is listed as UNASSIGNED and fails tests/test_keras_coverage.py.
`python tests/keras_coverage.py > docs/keras-coverage.md` writes the report the README links; the same test checks
that file is current for the Keras version it names."""
import inspect
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "numpy")

# (module prefixes or None for any, name fragments or None for any, what covers them); the first match wins
WHY = [
    (None, ("ExportArchive",), "decision: ExportArchive assembles a TensorFlow SavedModel (TensorFlow's objects and "
     "signatures); gpunet exports with model.export(format=\"onnx\")"),
    (("tree", "legacy", "utils.legacy"), None,
     "issue 36 (what Keras libraries import: keras.tree, legacy serialization)"),
    (("quantizers",), None,
     "decision: quantization (int8, int4, float8, GPTQ, AWQ) waits until the float kernels are complete; no issue"),
    (None, ("quantiz", "Quantiz", "GPTQ", "AWQ", "Int4", "Int8", "Float8", "get_quantization_layer_structure"),
     "decision: quantization (int8, int4, float8, GPTQ, AWQ) waits until the float kernels are complete; no issue"),
    (None, ("DTypePolicyMap",), "decision: per-layer policy maps serve quantized models; they wait with quantization"),
    (None, ("Jax", "Flax", "Torch", "TFSM", "Orbax", "nnx", "flash_attention", "set_backend"),
     "decision: another framework's integration; gpunet is its own backend"),
    (None, ("stateless", "state_tree", "jit_compile", "make_predict_function", "make_test_function",
            "make_train_function", "rematerialized", "remat", "Remat", "StatelessScope", "SymbolicScope",
            "symbolic_call",
            "compute_output_spec", "Function", "distribute_tensor"),
     "decision: the JAX-style functional API (stateless calls, state trees, jit and remat switches, traced "
     "functions) is not built: gpunet's trainer is stateful and eager"),
    (None, ("fft", "stft", "STFT", "rfft", "irfft", "Spectrogram", "view_as", "polar", "extract_sequences"),
     "decision: signal processing (FFT, STFT, spectrograms) is not planned; no issue"),
    (None, ("rearrange", "jvp", "lu_factor"), "open, no issue yet: keras.ops.rearrange, jvp and lu_factor"),
    (("visualization", "utils.bounding_boxes"), None,
     "decision: bounding-box and segmentation utilities belong to detection support, not planned"),
    (("wrappers",), None,
     "open, no issue yet: keras.wrappers' scikit-learn estimators (scikeras, issue 36, is the usual route)"),
    (("distillation",), None, "open, no issue yet: keras.distillation"),
    (("optimizers.legacy",), None, "decision: Keras 2's legacy optimizers, which Keras 3 itself refuses to run"),
    (None, ("dataset_from_directory", "timeseries_dataset", "FeatureSpace"),
     "open, no issue yet: the tf.data dataset builders and FeatureSpace"),
    (None, ("AugMix", "AutoContrast", "ContrastLimited", "CutMix", "Equalization", "MixUp", "RandAugment",
            "RandomColor", "RandomElastic", "RandomErasing", "RandomGaussianBlur", "RandomGrayscale", "RandomHue",
            "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomSaturation", "RandomSharpness",
            "RandomShear", "Solarization", "MaxNumBoundingBoxes", "Pipeline"),
     "open, no issue yet: the newer image augmentation layers"),
    (None, ("IoU", "AtRecall", "AtPrecision", "AtSensitivity", "AtSpecificity", "Circle", "circle",
            "GeneralizedCrossEntropy", "generalized_cross_entropy"),
     "open, no issue yet: the remaining metrics and losses (IoU family, X-at-Y, Circle, generalized CE)"),
    (None, ("Adafactor", "MultiOptimizer", "OptimizerMap", "Muon", "ScheduleFree"),
     "open, no issue yet: the remaining optimizers"),
    (None, ("GroupQueryAttention", "HashedCrossing", "Discretization", "GroupNormalization", "SpectralNormalization",
            "Wrapper", "OrthogonalRegularizer", "orthogonal_regularizer", "MelSpectrogram"),
     "open, no issue yet: the remaining layers and regularizers"),
    (None, ("RemoteMonitor", "KerasFileEditor", "Config", "device", "name_scope", "audio_dataset"),
     "open, no issue yet: the remaining utilities"),
    (("(Model)", "(Layer)"), None,
     "open, no issue yet: Keras 3's Layer/Model API beyond the training surface (variables and paths, "
     "own-variable saving hooks, metric and variable helpers)"),
]
UNASSIGNED = "UNASSIGNED: no issue or decision covers it"


def reason(module, name):
    for modules, fragments, why in WHY:
        if modules is not None and not any(module == m or module.startswith(m + ".") for m in modules):
            continue
        if fragments is not None and not any(f in name for f in fragments):
            continue
        return why
    return UNASSIGNED


def public_modules():
    """{"ops.image": module, ...}: every public keras.* module, by walking keras's attributes."""
    import keras
    found = {"": keras}

    def walk(mod, path):
        for n in sorted(dir(mod)):
            v = getattr(mod, n, None)
            if n.startswith("_") or not inspect.ismodule(v):
                continue
            if not v.__name__.startswith("keras.") or v.__name__.startswith(("keras.src", "keras._tf_keras")):
                continue
            p = path + "." + n if path else n
            if p not in found:
                found[p] = v
                walk(v, p)
    walk(keras, "")
    return dict(sorted(found.items()))


def _resolve(root, path):
    obj = root
    for part in [p for p in path.split(".") if p]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _instances(lib):
    """A built Model and a built Layer of lib (Keras or gpunet), whose public attributes are compared."""
    inp = lib.Input((3,))
    layer = lib.layers.Dense(2)
    model = lib.Model(inp, layer(inp))
    model.compile(optimizer="sgd", loss="mse")
    return {"(Model)": model, "(Layer)": layer}


def missing():
    """{module path: (number of public names, [missing names])}, classes' attributes under "(Model)"/"(Layer)"."""
    import keras
    import gpunet
    out = {}
    for path, km in public_modules().items():
        names = [n for n in dir(km) if not n.startswith("_") and not inspect.ismodule(getattr(km, n))]
        gm = _resolve(gpunet, path)
        out[path] = (len(names), [n for n in names if gm is None or not hasattr(gm, n)])
    mine, theirs = _instances(gpunet), _instances(keras)
    for key in ("(Model)", "(Layer)"):
        names = [n for n in dir(theirs[key]) if not n.startswith("_")]
        out[key] = (len(names), [n for n in names if not hasattr(mine[key], n)])
    return out


def signature_mismatches():
    """keras.ops functions whose leading parameter names differ in gpunet (configs store them by name)."""
    import keras
    import gpunet
    bad = []
    for n in dir(keras.ops):
        kf, gf = getattr(keras.ops, n), getattr(gpunet.ops, n, None)
        if n.startswith("_") or gf is None or not inspect.isfunction(kf) or not callable(gf):
            continue
        try:
            kp = [p for p in inspect.signature(kf).parameters.values() if p.kind != p.VAR_KEYWORD]
            gp = [p for p in inspect.signature(getattr(gf, "_raw", gf)).parameters.values() if p.kind != p.VAR_KEYWORD]
        except (TypeError, ValueError):
            continue
        kn, gn = [p.name for p in kp], [p.name for p in gp]
        if gn[:len(kn)] != kn and not any(p.kind == p.VAR_POSITIONAL for p in gp):
            bad.append("%s(%s) vs Keras %s(%s)" % (n, ", ".join(gn), n, ", ".join(kn)))
    return bad


def _title(path):
    if path in ("(Model)", "(Layer)"):
        return "a built keras.%s's public attributes and methods" % path.strip("()")
    return "keras%s" % ("." + path if path else " (top level)")


def render():
    import keras
    lines = ["# What gpunet lacks from Keras %s" % keras.__version__, "",
             "Generated by `python tests/keras_coverage.py > docs/keras-coverage.md` from the installed Keras, over "
             "every public `keras.*` module and a built `Model` and `Layer`; `tests/test_keras_coverage.py` fails "
             "when this list is stale or a missing name has no issue or decision.", ""]
    total_k = total_m = 0
    for path, (n, miss) in missing().items():
        total_k += n
        total_m += len(miss)
        lines.append("## %s: %d of %d present" % (_title(path), n - len(miss), n))
        lines.append("")
        groups = {}
        for name in miss:
            groups.setdefault(reason(path, name), []).append(name)
        for why in sorted(groups):
            lines.append("- %s: %s" % (why, ", ".join("`%s`" % x for x in groups[why])))
        if not miss:
            lines.append("- nothing missing")
        lines.append("")
    mism = signature_mismatches()
    lines.append("## keras.ops arguments that differ")
    lines.append("")
    lines.extend("- %s" % m for m in mism) if mism else lines.append("- none")
    lines.append("")
    lines.insert(4, "In all: %d of %d public names present." % (total_k - total_m, total_k))
    lines.insert(5, "")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
