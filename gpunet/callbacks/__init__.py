"""Keras callbacks (`keras.callbacks`): the base class, the list that drives them, and Keras's
built-in callbacks."""
from .base import _HOOKS, Callback, CallbackList, History, ProgbarLogger, pythonify_logs  # noqa: F401
from .checkpoints import BackupAndRestore, ModelCheckpoint, SwapEMAWeights  # noqa: F401
from .loggers import CSVLogger, LambdaCallback, TerminateOnNaN  # noqa: F401
from .monitor import EarlyStopping, LearningRateScheduler, MonitorCallback, ReduceLROnPlateau  # noqa: F401
from .tensorboard import TensorBoard  # noqa: F401
