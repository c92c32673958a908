"""Compiled training networks, reused from one fit to the next in a process.

On TensorFlow every newly compiled and trained Keras model kept about
130 MiB after it was gone (the traced training step and what it holds stay
in TensorFlow's runtime, ``clear_session`` or not): a grid search of 50 fits
grew by 7 GB. Building a network costs nothing lasting; compiling and
training a new one does. So the compiled network of an architecture is kept
when a fit ends, and the next fit of the same architecture and optimizer
settings takes it, with its weights set to that fit's initial weights and
its optimizer put back to the state it had before its first step. Training
from it is identical to training a new network (the tests compare them).

A network is lent to one fit at a time: a fit that finds it in use (threads
fitting at once) builds its own, which is kept afterwards only if there is
room. At most ``MAX_IDLE`` networks wait, the least recently used dropped first.
"""

import contextlib
import threading
from collections import OrderedDict

import keras
import numpy as np

from ...network import build_with_weights
from ._loop import compile_for_training

#: Compiled networks kept between fits (each holds its weights and Adam's two moments).
MAX_IDLE = 2

_idle = OrderedDict()
_lock = threading.Lock()


@contextlib.contextmanager
def training_network(architecture, initial_weights, *, dtype=None, learning_rate=1e-4, beta_1=0.5, reuse=True):
    """A compiled network with ``initial_weights`` and a fresh optimizer, for one fit.

    Parameters
    ----------
    architecture : Architecture
    initial_weights : list of ndarray
    dtype : str, optional
        Keras dtype policy of the hidden layers (``"mixed_bfloat16"``).
    learning_rate, beta_1 : float
        Adam's settings.
    reuse : bool, default=True
        Take and give back a kept network; False builds a new one and keeps
        nothing (inside a multi-device scope, whose variables are mirrored).

    Yields
    ------
    model : keras.Model
    """
    key = (architecture, dtype, float(learning_rate), float(beta_1), keras.backend.backend())
    kept = None
    if reuse:
        with _lock:
            kept = _idle.pop(key, None)
    if kept is None:
        model = compile_for_training(build_with_weights(architecture, initial_weights, dtype=dtype),
                                     learning_rate, beta_1)
        model.optimizer.build(model.trainable_variables)
        fresh = [keras.ops.convert_to_numpy(variable) for variable in model.optimizer.variables]
    else:
        model, fresh = kept
        model.set_weights(initial_weights)
        for variable, value in zip(model.optimizer.variables, fresh):
            variable.assign(value)
        model.stop_training = False
    try:
        yield model
    finally:
        if reuse:
            with _lock:
                if key not in _idle:
                    _idle[key] = (model, fresh)
                    while len(_idle) > MAX_IDLE:
                        _idle.popitem(last=False)


def forget_training_networks():
    """Drop the kept networks (their memory goes back once nothing else holds them)."""
    with _lock:
        _idle.clear()


def optimizer_state(model):
    """The optimizer's variables as arrays (for tests: a reused network starts from a fresh optimizer)."""
    return [np.array(keras.ops.convert_to_numpy(variable)) for variable in model.optimizer.variables]
