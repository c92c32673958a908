"""The epoch loop: Keras's ``fit``, one epoch at a time, with the pairs redrawn before each.

What happens at the end of an epoch (recording the loss and the weights,
writing a checkpoint, showing progress, stopping on Ctrl-C) lives in Keras
callbacks, not in the loop.
"""

import math

import keras
import numpy as np
from tqdm.auto import tqdm

from ...network import predict
from ._batches import fit_input
from ._interrupts import StopRequest


class TrainingInterrupted(Exception):
    """Training stopped by Ctrl-C; carries the state after the last completed epoch."""

    def __init__(self, weights, losses):
        super().__init__(f"interrupted after {len(losses)} completed epoch{'' if len(losses) == 1 else 's'}")
        self.weights = weights
        self.losses = losses


def compile_for_training(model, learning_rate=1e-4, beta_1=0.5):
    """Compile ``model`` with the paper's optimizer (Adam) and MSE loss."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1),
        loss="mse",
    )
    return model


def epoch_completed(model, logs):
    """Whether the epoch that just ended ran every batch and has a finite loss.

    Keras calls ``on_epoch_end`` also for an epoch cut short by
    ``stop_training`` (Ctrl-C); such an epoch is not completed.
    """
    loss = (logs or {}).get("loss")
    return not model.stop_training and loss is not None and math.isfinite(float(loss))


class EpochRecord(keras.callbacks.Callback):
    """The loss of every completed epoch and the weights after the last one.

    Parameters
    ----------
    weights : list of ndarray
        The weights before training, until an epoch completes.
    """

    def __init__(self, weights):
        super().__init__()
        self.losses = []
        self.weights = weights

    def on_epoch_end(self, epoch, logs=None):
        if epoch_completed(self.model, logs):
            self.losses.append(float(logs["loss"]))
            self.weights = self.model.get_weights()
            self.completed(epoch)

    def completed(self, epoch):
        """Called after epoch ``epoch`` (counted from 0) was recorded."""


class _BatchProgress(keras.callbacks.Callback):
    """Advances a tqdm bar by one step per training batch, showing the running loss of the epoch.

    The loss is set before the step, whose update redraws the bar: set after
    it, the bar would show the loss of the batch before, which at the start of
    an epoch is the last epoch's.
    """

    def __init__(self, bar):
        super().__init__()
        self.bar = bar

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.5f}", refresh=False)
        self.bar.update(1)


class _StopWhenRequested(keras.callbacks.Callback):
    """Ends ``fit`` after the current batch once Ctrl-C was pressed."""

    def __init__(self, request):
        super().__init__()
        self.request = request

    def on_train_batch_end(self, batch, logs=None):
        if self.request.requested:
            self.model.stop_training = True


def train_epochs(model, batches, epochs, *, initial_epoch=0, verbose=0, callbacks=()):
    """Train a compiled ``model`` on ``batches`` for ``epochs`` epochs.

    Each epoch redraws its pairs with :meth:`PairBatches.set_epoch`.

    Parameters
    ----------
    model : keras.Model
        Compiled, e.g. with :func:`compile_for_training`.
    batches : PairBatches
    epochs : int
        Index of the last epoch, exclusive (as in ``keras.Model.fit``).
    initial_epoch : int, default=0
    verbose : int, default=0
        ``> 0`` shows a progress bar over all batches.
    callbacks : sequence of keras.callbacks.Callback
        Such as :class:`EpochRecord` and :class:`~skpci.featurizer.training.Checkpoint`.

    Returns
    -------
    losses : list of float
        Mean training loss of each epoch run.

    Raises
    ------
    KeyboardInterrupt
        After Ctrl-C, once the current batch has finished.
    FloatingPointError
        When an epoch ends with a NaN or infinite loss.
    """
    losses = []
    total = (epochs - initial_epoch) * batches.num_batches
    stop = StopRequest("Ctrl-C: stopping after the current batch and keeping the last completed epoch "
                       "(press Ctrl-C again to stop at once).")
    data = fit_input(batches)
    with stop, tqdm(total=total, disable=not verbose, desc="training", unit="batch") as bar:
        progress = [_BatchProgress(bar)] if verbose else []
        for epoch in range(initial_epoch, epochs):
            if stop.requested:
                raise KeyboardInterrupt
            batches.set_epoch(epoch)
            bar.set_postfix_str("", refresh=False)  # the last epoch's loss is not this one's
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            history = model.fit(
                data, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                verbose=0, callbacks=[*progress, _StopWhenRequested(stop), *callbacks],
            )
            if stop.requested:
                batches.stop()
                raise KeyboardInterrupt
            loss = float(history.history["loss"][-1])
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"Training diverged: the loss of epoch {epoch + 1} is {loss}. "
                    "Try a lower learning_rate, or check the crops for extreme values."
                )
            losses.append(loss)
    return losses


def inpainting_error(model, batches):
    """Mean squared error of ``model``'s predicted protein over every pair of ``batches``.

    Parameters
    ----------
    model : keras.Model
    batches : PairBatches

    Returns
    -------
    mse : float
    """
    squared_error, count = 0.0, 0
    for index in range(batches.num_batches):
        inputs, truth = batches[index]
        predicted = predict(model, inputs, batches.batch_size)
        squared_error += float(np.sum((predicted - truth) ** 2))
        count += truth.size
    return squared_error / count
