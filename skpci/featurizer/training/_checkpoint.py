"""Resumable training: the state after each epoch, written by a Keras callback."""

import json
from pathlib import Path

import keras
import numpy as np

from ..._files import atomic_file, no_space_message
from ._loop import EpochRecord


class Checkpoint(EpochRecord):
    """Record each completed epoch and write the training state to one file, replaced atomically.

    ``checkpoint.npz`` holds the model's weights (BatchNorm statistics
    included), the optimizer's variables (step count and Adam moments) and a
    JSON record of the epoch, the losses and a fingerprint of the run. Because
    each epoch's pairs and flips derive from ``(seed, epoch)``, resuming from
    it ends in the same state as an uninterrupted run.

    Parameters
    ----------
    directory : str or path-like
    fingerprint : str
        Identifies the run (data, architecture, training parameters, seed);
        a checkpoint of another run is refused.
    weights : list of ndarray, optional
        The weights before training (see :class:`EpochRecord`).
    epochs : int, optional
        Epochs the run asks for, recorded with each state. The fingerprint
        leaves them out, so a run may continue with more epochs.
    """

    FILE = "checkpoint.npz"

    def __init__(self, directory, fingerprint, weights=None, epochs=None):
        super().__init__(weights)
        self.path = Path(directory) / self.FILE
        self.fingerprint = fingerprint
        self.epochs = epochs

    def read_state(self):
        """The JSON record of the saved checkpoint, or None when there is none."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path) as saved:
                return json.loads(str(saved["state"]))
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"The checkpoint {str(self.path)!r} is unreadable: {error}") from error

    def restore(self, model):
        """Restore a compiled ``model`` and its optimizer; return the epochs restored (0 if none)."""
        state = self.read_state()
        if state is None:
            return 0
        if state["fingerprint"] != self.fingerprint:
            raise ValueError(
                f"{str(self.path.parent)!r} holds a checkpoint of a different training run (other "
                "data, channels, parameters or random_state). Use another checkpoint_dir, or "
                "delete the checkpoint to start over."
            )
        with np.load(self.path) as saved:
            model.set_weights([saved[f"weight_{i}"] for i in range(state["n_weights"])])
            optimizer = model.optimizer
            optimizer.build(model.trainable_variables)
            for i, variable in enumerate(optimizer.variables):
                variable.assign(saved[f"optimizer_{i}"])
        self.losses = list(state["losses"])
        self.weights = model.get_weights()
        return state["epoch"]

    def completed(self, epoch):
        self.save(self.model, epoch + 1, self.losses)

    def save(self, model, epoch, losses):
        """Write the state after ``epoch`` completed epochs."""
        weights = model.get_weights()
        state = {"fingerprint": self.fingerprint, "epoch": epoch, "epochs_requested": self.epochs,
                 "losses": list(losses), "n_weights": len(weights)}
        arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
        arrays.update({f"optimizer_{i}": keras.ops.convert_to_numpy(v)
                       for i, v in enumerate(model.optimizer.variables)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_file(self.path) as temporary:
                with open(temporary, "wb") as out:
                    np.savez(out, state=np.array(json.dumps(state)), **arrays)
        except OSError as error:
            raise no_space_message(error, self.path) from error
