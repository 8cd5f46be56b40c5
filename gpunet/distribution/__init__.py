"""`keras.distribution` for gpunet: data-parallel training over several processes, one per device.

    import gpunet as keras
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=64)          # mpirun -n 2 python train.py

Keras (on JAX) drives every local device from one process; gpunet runs one process per device (a GPU,
or a CPU process under MPI) and the devices of `list_devices()` are the job's processes: "gpu:<rank>"
on the GPU backend, "cpu:<rank>" on the CPU. Gradients are summed with one all-reduce per step over
the optimizer's flat gradient buffer: NCCL between GPUs, MPI between CPU processes (comm.py).
README "Several processes and GPUs" says how to launch; docs/distributed.md what a step costs."""
import collections.abc
import contextlib
import math
import re
import warnings

import numpy as np

from .. import backend
from .comm import DistributedError, detect  # noqa: F401

DEFAULT_BATCH_DIM_NAME = "batch"

_world = None   # World, once initialize() ran (explicitly or on first use)
_comm = None    # its communicator, made when a distribution first needs it
_distribution = None


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Keras's multi-process start-up. Reads, in this order, the arguments, KERAS_DISTRIBUTION_JOB_ADDRESSES /
    _NUM_PROCESSES / _PROCESS_ID, an MPI launcher's variables (mpirun, srun) and torchrun's (WORLD_SIZE,
    RANK, MASTER_ADDR, MASTER_PORT), and connects the processes: MPI on the CPU, NCCL on GPUs (its id
    handed out over MPI, or over TCP at the coordinator address when no MPI launcher started the job).
    Called on first use when a script does not call it; calling it again is an error."""
    global _world, _comm
    if _world is not None:
        if job_addresses is None and num_processes is None and process_id is None and _world.size == 1:
            return _world  # the environment's single process, found by an earlier call: nothing to redo
        raise DistributedError("initialize() was already called (or a distribution already used the world "
                               "described by the environment): call it once, before any other distribution call")
    world = detect(job_addresses, num_processes, process_id)
    _world = world
    if world.size > 1:
        _comm = _connect(world)
    return world


def _connect(world):
    from . import comm as comm_mod
    c = comm_mod.connect(world, backend.kernels())
    comm_mod.install_abort_hook(c, world.rank)
    return c


def world():
    if _world is None:
        initialize()
    return _world


def communicator():
    """The job's communicator (comm.LocalComm in a world of one)."""
    global _comm
    w = world()
    if _comm is None:
        from .comm import LocalComm
        _comm = LocalComm() if w.size == 1 else _connect(w)
    return _comm


def process_id():
    """This process's rank in the job (0 in a single process): `if process_id() == 0:` guards output."""
    return world().rank


def num_processes():
    return world().size


def _backend_device_type():
    return "gpu" if backend.kernels() == "cuda" else "cpu"


def list_devices(device_type=None):
    """The job's devices, one per process: ["gpu:0", "gpu:1", ...] on GPUs, ["cpu:0", ...] on the CPU. A type
    other than the backend's gives [] (a process drives one device: its GPU, or its CPU without one)."""
    if device_type is not None:
        if not isinstance(device_type, str) or device_type.lower() not in ("cpu", "gpu", "tpu"):
            raise ValueError("device_type must be 'cpu', 'gpu' or 'tpu', received %r" % (device_type,))
        device_type = device_type.lower()
    kind = _backend_device_type()
    if device_type is not None and device_type != kind:
        return []
    return ["%s:%d" % (kind, r) for r in range(world().size)]


def get_device_count(device_type=None):
    return len(list_devices(device_type))


_DEVICE = re.compile(r"^(cpu|gpu|tpu):(\d+)$", re.IGNORECASE)


def _device_name(d):
    m = _DEVICE.match(str(d).strip())
    if not m:
        raise ValueError("devices are named 'gpu:<i>' or 'cpu:<i>' (keras.distribution.list_devices()), "
                         "received %r" % (d,))
    return "%s:%d" % (m.group(1).lower(), int(m.group(2)))


class DeviceMesh:
    """A grid of devices with named axes (Keras's DeviceMesh). Data parallel uses its first axis."""

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError("Shape and axis_names cannot be empty. Received: shape=%s, axis_names=%s"
                             % (shape, axis_names))
        if len(shape) != len(axis_names):
            raise ValueError("Shape and axis_names should have same size. Received: shape=%s, axis_names=%s"
                             % (shape, axis_names))
        if devices is None:
            devices = list_devices()
        devices = np.array([_device_name(d) for d in np.asarray(devices).reshape(-1)], dtype=object)
        if math.prod(shape) != devices.size:
            raise ValueError("Shape does not match the number of devices. Received: shape=%s; devices.shape=%s"
                             % (tuple(shape), devices.shape))
        self._shape, self._axis_names = tuple(shape), list(axis_names)
        self._devices = devices.reshape(shape)

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    def __repr__(self):
        return "<DeviceMesh shape=%s, axis_names=%s>" % (self.shape, self.axis_names)


class TensorLayout:
    """How a tensor is laid out on a mesh: one mesh axis name (or None: replicated) per tensor axis."""

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(axes)
        self._device_mesh = device_mesh
        if device_mesh is not None:
            self._validate_axes()

    @property
    def axes(self):
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError("Cannot override device mesh value. Existing value is %s" % self._device_mesh)
        self._device_mesh = device_mesh
        self._validate_axes()

    def _validate_axes(self):
        valid = set(self._device_mesh.axis_names)
        bad = [a for a in self._axes if a is not None and a not in valid]
        if bad:
            raise ValueError("Invalid axis names for Layout. Valid axis names: %s, Got %s" % (sorted(valid), bad))

    def __repr__(self):
        return "<TensorLayout axes=%s, device_mesh=%s>" % (self.axes, self.device_mesh)


class Distribution:
    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self._auto_shard_dataset = auto_shard_dataset
        w = world()
        self._num_processes, self._process_id = w.size, w.rank

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._batch_dim_name

    @property
    def num_processes(self):
        return self._num_processes

    @property
    def auto_shard_dataset(self):
        return self._auto_shard_dataset

    @auto_shard_dataset.setter
    def auto_shard_dataset(self, value):
        self._auto_shard_dataset = value

    @contextlib.contextmanager
    def scope(self):
        original = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(original)


class DataParallel(Distribution):
    """Data parallelism: each process holds the whole model and takes batch_size / processes rows of every
    batch; one all-reduce per step sums the gradients. `devices` (or the mesh's) must be the job's devices
    (list_devices()), one per process."""

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh is not None:
            if not isinstance(device_mesh, DeviceMesh):
                raise ValueError("Expect `mesh` to be an instance of `DeviceMesh`. Received: mesh=%r (of type %s)"
                                 % (device_mesh, type(device_mesh)))
            if device_mesh.devices.ndim != 1:
                warnings.warn("Expect the input mesh to be 1D, but received mesh.devices.ndim=%d. The first axis "
                              "will be used for data-parallel sharding." % device_mesh.devices.ndim, stacklevel=2)
            super().__init__(device_mesh, device_mesh.axis_names[0], auto_shard_dataset)
        else:
            devices = list_devices() if devices is None or len(devices) == 0 else list(devices)
            mesh = DeviceMesh((len(devices),), [DEFAULT_BATCH_DIM_NAME], devices)
            super().__init__(mesh, DEFAULT_BATCH_DIM_NAME, auto_shard_dataset)
        if not auto_shard_dataset:
            raise ValueError("DataParallel(auto_shard_dataset=False) is not supported: gpunet's fit gives each process "
                             "its rows of every batch from the same arrays (pass the whole dataset on every process)")
        self._check_devices()

    def _check_devices(self):
        named = sorted(set(self._device_mesh.devices.reshape(-1).tolist()))
        mine = list_devices()
        if named != sorted(mine):
            raise ValueError("DataParallel over %s, but this job's devices are %s: gpunet runs one process per device, "
                             "so the mesh must name each process's device once. Start one process per device "
                             "(mpirun -n %d python script.py) or pass devices=keras.distribution.list_devices()"
                             % (named, mine, len(named)))

    @property
    def num_model_replicas(self):
        return int(self._device_mesh.devices.size)

    def get_data_layout(self, data_shape):
        spec = [None] * len(data_shape)
        spec[0] = self.batch_dim_name
        return TensorLayout(spec, self.device_mesh)

    def get_variable_layout(self, variable):
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return None

    def __repr__(self):
        return "<DataParallel device_mesh=%s>" % (self.device_mesh,)


class ModelParallel(Distribution):
    """Sharding variables across devices is not built in gpunet (docs/distributed.md says what it would need);
    constructing one says so rather than training something else."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("gpunet does not implement ModelParallel (variables sharded across devices); use "
                                  "DataParallel, where each process holds the whole model. docs/distributed.md "
                                  "describes what model parallelism would need")


class LayoutMap(collections.abc.MutableMapping):
    """Keras's variable-path -> TensorLayout map (regex keys), for ModelParallel configurations."""

    def __init__(self, device_mesh):
        self._layout_map = collections.OrderedDict()
        self._device_mesh = device_mesh

    def __getitem__(self, key):
        if key in self._layout_map:
            return self._layout_map[key]
        matches = [k for k in self._layout_map if re.search(k, key)]
        if len(matches) > 1:
            raise ValueError("Path '%s' matches multiple layout specification keys: %s. Please make sure each "
                             "tensor/variable path only matches at most one layout specification key in the "
                             "LayoutMap." % (key, matches))
        return self._layout_map[matches[0]] if matches else None

    def __setitem__(self, key, layout):
        if key in self._layout_map:
            raise ValueError("%s already exist in the LayoutMap with value %s. Please make sure to not use "
                             "duplicated keys." % (key, self._layout_map[key]))
        if isinstance(layout, tuple):
            layout = TensorLayout(axes=layout, device_mesh=None)
        if not isinstance(layout, TensorLayout):
            raise ValueError("%s should be a TensorLayout type, got %s" % (layout, type(layout)))
        if layout.device_mesh is None:
            layout.device_mesh = self._device_mesh
        self._layout_map[key] = layout

    def __delitem__(self, key):
        return self._layout_map.pop(key)

    def __len__(self):
        return len(self._layout_map)

    def __iter__(self):
        return iter(self._layout_map)

    @property
    def device_mesh(self):
        return self._device_mesh


def distribution():
    """The distribution set with set_distribution (None: each process trains on its own)."""
    return _distribution


def set_distribution(value):
    global _distribution
    if value is not None and not isinstance(value, Distribution):
        raise ValueError("set_distribution expects a keras.distribution.Distribution (DataParallel) or None, "
                         "received %r" % (value,))
    _distribution = value


def data_parallel_comm():
    """The communicator fit/evaluate/predict shard over: None unless a DataParallel distribution is set in a
    job of more than one process."""
    d = _distribution
    if d is None:
        if not _warned:
            _warn_unset()
        return None
    if not isinstance(d, DataParallel) or world().size == 1:
        return None
    return communicator()


_warned = []


def _warn_unset():
    """Once per process: started as one of several processes (mpirun, torchrun) with no distribution set."""
    _warned.append(True)
    try:
        w = _world or detect()
    except DistributedError:
        return
    if w.size > 1:
        warnings.warn("gpunet: this is process %d of %d, but no distribution is set: each process trains on its "
                      "own. keras.distribution.set_distribution(keras.distribution.DataParallel()) shares the "
                      "work" % (w.rank, w.size), RuntimeWarning, stacklevel=4)


def _reset_for_tests():
    global _world, _comm, _distribution
    _world = _comm = _distribution = None
    del _warned[:]
