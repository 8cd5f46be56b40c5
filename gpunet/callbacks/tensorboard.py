"""keras.callbacks.TensorBoard: event files TensorBoard reads, in Keras 3's layout and tags.

`log_dir/train` and `log_dir/validation` each get an event file. At every epoch end the train writer gets
`epoch_<metric>` (and `epoch_learning_rate`, and `epoch_steps_per_second` with write_steps_per_second) and the
validation writer the `val_` metrics without their prefix, at step = epoch. With `update_freq="batch"` or N, the
train writer gets `batch_<metric>` (and `batch_steps_per_second`) every N-th batch, at the global batch count;
after each evaluation the validation writer gets `evaluation_<metric>_vs_iterations` at the optimizer's step.
`histogram_freq` writes each weight as `<path>/histogram` (and, with write_images, as `<path>/image`);
`write_graph` writes the model's JSON under the "keras" tag for TensorBoard's graph plugin (Keras's
graph_keras_model summary). `embeddings_freq` saves the weights and a projector config as Keras 3 does.

The writer is tensorboardX (the `tensorboard` extra: `pip install "gpunet[tensorboard]"`): a small, well-kept
writer of TensorBoard's own event format that needs neither TensorFlow nor PyTorch. Under `update_freq="epoch"`
the callback does not listen to batches at all, so it costs the fast paths no per-batch read-back."""
import os
import time
import warnings

import numpy as np

from .base import Callback


def _tensorboardx():
    try:
        import tensorboardX
    except ImportError:
        raise ImportError("keras.callbacks.TensorBoard writes its event files with tensorboardX, which is not "
                          "installed: pip install \"gpunet[tensorboard]\" (or pip install tensorboardX)") from None
    return tensorboardX


class TensorBoard(Callback):
    _rank_zero_only = True  # under DataParallel only process 0 writes (training/parallel.py)

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self._tbx = _tensorboardx()
        self.log_dir = os.fspath(log_dir)
        for name, value in (("histogram_freq", histogram_freq), ("embeddings_freq", embeddings_freq)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError("`%s` must be a non-negative integer (epochs between writes; 0 = never). Received: "
                                 "%s=%r" % (name, name, value))
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, (int, np.integer))
                                       or update_freq < 1):
            raise ValueError("`update_freq` must be 'epoch', 'batch' or a positive integer (batches between writes). "
                             "Received: update_freq=%r" % (update_freq,))
        self.histogram_freq, self.write_graph, self.write_images = int(histogram_freq), write_graph, write_images
        self.write_steps_per_second, self.update_freq = write_steps_per_second, update_freq
        self.embeddings_freq, self.embeddings_metadata = int(embeddings_freq), embeddings_metadata
        self.profile_batch = _check_profile_batch(profile_batch)
        if self.profile_batch != (0, 0):
            warnings.warn("TensorBoard(profile_batch=%r): gpunet has no profiler trace to write (Keras profiles "
                          "only on TensorFlow and JAX); nothing is profiled. Use bench/ or `perf` / Nsight Systems."
                          % (profile_batch,), stacklevel=2)
        self._writers = {}
        self._global_train_batch = 0
        self._batch_start = 0.0
        self._epoch_start = 0.0
        self._epoch_start_step = 0

    # a batch hook costs the training loop a read-back of the metrics every batch: listen only when writing them
    def _overrides(self, hook):
        if hook in ("on_train_batch_begin", "on_train_batch_end"):
            return self.update_freq != "epoch"
        return super()._overrides(hook)

    def set_model(self, model):
        super().set_model(model)
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._close_writers()
        if self.write_graph:
            self._write_model_json()
        if self.embeddings_freq:
            self._configure_embeddings()

    def _writer(self, which):
        if which not in self._writers:
            self._writers[which] = self._tbx.SummaryWriter(self._train_dir if which == "train" else self._val_dir)
        return self._writers[which]

    def _close_writers(self):
        for w in self._writers.values():
            w.close()
        self._writers = {}

    # ---- hooks ----
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()
        self._epoch_start_step = self._step()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if step % self.update_freq:
            return
        w = self._writer("train")
        if self.write_steps_per_second:
            w.add_scalar("batch_steps_per_second", 1.0 / max(time.time() - self._batch_start, 1e-9), step)
        for name, value in (logs or {}).items():
            if _is_scalar(value):
                w.add_scalar("batch_" + name, float(value), step)

    def on_test_end(self, logs=None):
        if self.model is None or getattr(self.model, "optimizer", None) is None:
            return
        w = self._writer("val")
        for name, value in (logs or {}).items():
            if _is_scalar(value):
                w.add_scalar("evaluation_%s_vs_iterations" % name, float(value), self._step())
        w.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        train.update(self._learning_rates())
        if self.write_steps_per_second:
            train["steps_per_second"] = (self._step() - self._epoch_start_step) / max(time.time() - self._epoch_start,
                                                                                     1e-9)
        for which, values in (("train", train), ("val", val)):
            if values:
                w = self._writer(which)
                for name, value in values.items():
                    if _is_scalar(value):
                        w.add_scalar("epoch_" + name, float(value), epoch)
                w.flush()
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self.model.save_weights(os.path.join(self._train_dir, "keras_embedding.ckpt-%d.weights.h5" % epoch))

    # ---- what is written ----
    def _step(self):
        opt = getattr(self.model, "optimizer", None)
        return int(getattr(opt, "_host_step", 0) or 0)  # the host's count: reading `iterations` would sync a GPU

    def _learning_rates(self):
        opt = getattr(self.model, "optimizer", None)
        opt = getattr(opt, "inner_optimizer", opt)
        if opt is None:
            return {}
        if hasattr(opt, "optimizers"):
            return {"learning_rate_" + o.name: float(o.learning_rate) for o in opt.optimizers}
        try:
            return {"learning_rate": float(opt.learning_rate)}
        except (AttributeError, TypeError, ValueError):
            return {}

    def _log_weights(self, epoch):
        from .. import backend
        w = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                value = backend.to_numpy(weight.data if hasattr(weight, "data") else weight).astype(np.float64)
                w.add_histogram(name + "/histogram", value, epoch)
                if self.write_images:
                    image = _weight_image(value, backend.image_data_format())
                    if image is not None:
                        w.add_images(name + "/image", image, epoch, dataformats="NHWC")
        w.flush()

    def _write_model_json(self):
        """Keras's keras_model_summary: the model's JSON as a string tensor under the graph_keras_model plugin."""
        if type(self.model).__name__ not in ("Functional", "Sequential"):
            return
        try:
            text = self.model.to_json()
        except Exception as e:  # as in Keras: a model that cannot be serialized is not an error here
            warnings.warn("Model failed to serialize as JSON. Ignoring... %s" % e)
            return
        from tensorboardX.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
        meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="graph_keras_model", content=b"1"))
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[text.encode()],
                                        tensor_shape=tensor_shape_pb2.TensorShapeProto())
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="keras", metadata=meta, tensor=tensor)])
        w = self._writer("train")
        w._get_file_writer().add_summary(summary, 0)
        w.flush()

    def _configure_embeddings(self):
        """Keras 3's projector config: one entry per Embedding layer, metadata from embeddings_metadata."""
        from ..layers import Embedding
        metadata = self.embeddings_metadata
        remaining = dict(metadata) if isinstance(metadata, dict) else {}
        entries = []
        for layer in self.model.layers:
            if isinstance(layer, Embedding):
                entry = '  tensor_name: "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"\n'
                path = metadata if isinstance(metadata, str) else remaining.pop(layer.name, None)
                if path is not None:
                    entry += '  metadata_path: "%s"\n' % str(path).replace("\\", "\\\\").replace('"', '\\"')
                entries.append("embeddings {\n%s}\n" % entry)
        if remaining:
            raise ValueError("Unrecognized `Embedding` layer names passed to `keras.callbacks.TensorBoard` "
                             "`embeddings_metadata` argument: %s" % (list(remaining),))
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, "projector_config.pbtxt"), "w") as f:
            f.write("".join(entries))


def _is_scalar(value):
    try:
        float(value)
        return np.ndim(value) == 0
    except (TypeError, ValueError):
        return False


def _check_profile_batch(profile_batch):
    """Keras's forms: a non-negative int, "start,stop" or a pair of positive ints; (start, stop)."""
    error = ("profile_batch must be a non-negative integer or 2-tuple of positive integers. A pair of positive "
             "integers signifies a range of batches to profile. Found: %r" % (profile_batch,))
    value = profile_batch
    try:
        if isinstance(value, str):
            value = [int(p) for p in value.split(",")]
            value = value[0] if len(value) == 1 else value
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            start = stop = int(value)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            start, stop = int(value[0]), int(value[1])
        else:
            raise ValueError(error)
    except (TypeError, ValueError):
        raise ValueError(error) from None
    if start < 0 or stop < start:
        raise ValueError(error)
    return start, stop


def _weight_image(w, data_format):
    """Keras's weight-as-image layout (NHWC, one channel), or None where Keras writes no image."""
    w = np.squeeze(w)
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        if data_format == "channels_last":
            w = np.transpose(w, (2, 0, 1))  # each output kernel its own image
        w = w.reshape(w.shape[0], w.shape[1], w.shape[2], 1)
    if w.ndim == 4 and w.shape[-1] in (1, 3, 4):
        return w
    return None
