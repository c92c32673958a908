"""Data-parallel training on several devices, through what each Keras backend supports.

* TensorFlow: :class:`tf.distribute.MirroredStrategy` (the model is built and
  compiled inside its scope).
* JAX: :class:`keras.distribution.DataParallel`.
* PyTorch: one device only (Keras has no data-parallel path for it).

``devices=None`` trains on Keras's default device; ``"all"`` on every
visible accelerator or, when there is none, on every logical CPU device
(configure several to try multi-device training on a laptop); an int ``n``
on the first ``n`` of those.
"""

import contextlib
import numbers

import keras


def _available_devices():
    """Names of the devices ``"all"`` would use on this backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return [device.name for device in devices]
    if backend == "jax":
        return keras.distribution.list_devices()
    if backend == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
    return ["cpu"]


def resolve_devices(devices):
    """The device names for a ``devices`` setting (None: the default, single device)."""
    if devices is None:
        return None
    available = _available_devices()
    if isinstance(devices, str) and devices == "all":
        return available
    if isinstance(devices, numbers.Integral) and not isinstance(devices, bool) and devices >= 1:
        if devices > len(available):
            raise ValueError(
                f"devices={devices}, but the {keras.backend.backend()} backend sees only "
                f"{len(available)}: {available}."
            )
        return available[:devices]
    raise ValueError(f"devices must be None, 'all' or a positive int, got {devices!r}.")


def distribution_scope(devices):
    """Contexts in which to build, compile and train the model, and the device count.

    Parameters
    ----------
    devices : None, "all" or int

    Returns
    -------
    scope : callable
        Returns a new context manager on each call (enter it for building
        and again for training).
    n_devices : int
    """
    names = resolve_devices(devices)
    if names is None or len(names) == 1:
        return contextlib.nullcontext, 1
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(names).scope, len(names)
    if backend == "jax":
        return keras.distribution.DataParallel(devices=names).scope, len(names)
    raise ValueError(
        f"Multi-device training needs the TensorFlow or JAX backend; the {backend} backend trains on "
        "one device. Set devices=None, or KERAS_BACKEND=jax."
    )
