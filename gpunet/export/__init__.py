"""model.export(filepath, format=...): artifacts for inference outside gpunet. ONNX is written here
(export/onnx.py); the other formats Keras names need the framework they belong to, and say so."""

FORMATS = ("tf_saved_model", "onnx", "openvino", "litert", "torch")
_NEEDS = {"tf_saved_model": "TensorFlow (a SavedModel is a TensorFlow graph; Keras writes it only on the TensorFlow "
                            "and JAX backends, through TensorFlow)",
          "openvino": "OpenVINO's model converter", "litert": "TensorFlow Lite's converter (TensorFlow)",
          "torch": "PyTorch's torch.export (a graph of torch operations)"}


def export_model(model, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
    if format == "onnx":
        from .onnx import export_onnx
        opset = kwargs.pop("opset_version", None)
        if kwargs:
            raise ValueError("Unrecognized keyword arguments for format='onnx': %s" % (sorted(kwargs),))
        return export_onnx(model, filepath, verbose=verbose, input_signature=input_signature, opset_version=opset)
    if format in _NEEDS:
        raise NotImplementedError("model.export(format=%r) needs %s, which gpunet does not use. gpunet exports "
                                  "format='onnx' (run it with onnxruntime, or convert it to %s with the ONNX "
                                  "tools)." % (format, _NEEDS[format], format))
    raise ValueError("Unrecognized format=%r. Supported formats are: %s." % (format, ", ".join(map(repr, FORMATS))))
