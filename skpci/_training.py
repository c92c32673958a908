"""Training the inpainting network: pair batches and the epoch loop.

Every random choice of an epoch (the order of source cells, their partners
and the flips) is drawn when the epoch starts from a generator seeded by
``(seed, epoch)``. Batches are then pure functions of their index, which
keeps training reproducible with prefetching threads and lets an epoch be
replayed exactly.
"""

import json
import math
import threading
import time
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from ._files import atomic_file
from ._interrupts import StopRequest
from ._network import SOURCE_INPUT, TARGET_MARKER_INPUT
from ._pairing import pairable_cells, sample_partners


class PairBatches(keras.utils.PyDataset):
    """Batches of (source cell, target markers) -> target protein pairs.

    Parameters
    ----------
    source : MemoryCrops or StoreCrops
        Where the prepared crops come from (protein channels first), with
        the pairing group of every cell.
    n_protein_channels : int
    batch_size : int
    seed : int
    augment : bool, default=True
        Independent random flips of source and target.
    rotations : bool, default=False
        Also transpose (with flips: 90-degree rotations).
    drop_remainder : bool, default=False
        Leave out the last, smaller batch of an epoch (multi-device training
        splits every batch evenly).
    workers : int, default=1
        Threads that prepare batches ahead of the model.
    """

    def __init__(self, source, n_protein_channels, batch_size, seed, *,
                 augment=True, rotations=False, drop_remainder=False, workers=1):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.source = source
        self.codes = source.codes
        self.n_protein_channels = n_protein_channels
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.drop_remainder = drop_remainder
        self.n_transforms = (8 if rotations else 4) if augment else 1
        self.sources = pairable_cells(self.codes)
        if drop_remainder and len(self.sources) < self.batch_size:
            raise ValueError(
                f"Only {len(self.sources)} cells can be paired, fewer than one batch of {self.batch_size}; "
                "lower batch_size."
            )
        self._block_of_source = np.searchsorted(source.bounds, self.sources, side="right") - 1
        self._stopped = False
        self._calls_lock = threading.Lock()
        self._calls_running, self._last_call = 0, time.monotonic()
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """Draw the pairs and flips of ``epoch``: blocks in random order, cells shuffled within each."""
        rng = np.random.default_rng([self.seed, epoch])
        partners = sample_partners(self.codes, rng)
        block_order = rng.permutation(self.source.n_blocks)
        self._order = np.concatenate(
            [rng.permutation(self.sources[self._block_of_source == block]) for block in block_order])
        self._partners = partners[self._order]
        self._source_codes = rng.integers(0, self.n_transforms, len(self._order))
        self._target_codes = rng.integers(0, self.n_transforms, len(self._order))
        self._next_block = np.full(self.source.n_blocks, -1, dtype=np.int64)
        self._next_block[block_order[:-1]] = block_order[1:]

    @property
    def num_batches(self):
        rounding = math.floor if self.drop_remainder else math.ceil
        return rounding(len(self.sources) / self.batch_size)

    def __len__(self):
        return self.num_batches

    def __getitem__(self, index):
        with self._calls_lock:
            self._calls_running += 1
        try:
            # After stop(), a data pipeline still reading ahead gets empty batches and ends at once.
            batch = slice(0, 0) if self._stopped else slice(index * self.batch_size, (index + 1) * self.batch_size)
            cells = self._order[batch]
            if self.source.n_blocks > 1 and len(cells):
                last_block = np.searchsorted(self.source.bounds, cells[-1], side="right") - 1
                self.source.prefetch(self._next_block[last_block])
            source = self.source.gather(cells, self._source_codes[batch])
            target = self.source.gather(self._partners[batch], self._target_codes[batch])
            inputs = {SOURCE_INPUT: source, TARGET_MARKER_INPUT: target[..., self.n_protein_channels:]}
            return inputs, target[..., :self.n_protein_channels]
        finally:
            with self._calls_lock:
                self._calls_running -= 1
                self._last_call = time.monotonic()

    def stop(self, quiet=0.25, timeout=30.0):
        """End an epoch cut short: serve empty batches, and wait until nothing reads ahead.

        A data pipeline left behind by ``fit`` may still be reading ahead in
        a thread that runs this object's Python code; if the interpreter
        exits while such a call is under way, the thread can never finish
        and the exit hangs.

        Parameters
        ----------
        quiet : float, default=0.25
            Seconds without a batch request after which the readers count as idle.
        timeout : float, default=30.0
            Give up waiting after this many seconds.
        """
        self._stopped = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._calls_lock:
                if self._calls_running == 0 and time.monotonic() - self._last_call >= quiet:
                    return
            time.sleep(quiet / 5)


def fit_input(batches):
    """What ``model.fit`` reads: ``batches`` itself, or on TensorFlow a ``tf.data`` map over them.

    On TensorFlow, Keras reads a ``PyDataset`` through
    ``tf.data.Dataset.from_generator``. After Ctrl-C had cut an epoch short,
    destroying that iterator (at the next garbage collection or at exit) was
    seen to deadlock: the destroying thread holds the GIL and waits for the
    generator's reading thread, which needs it. A map over batch indices,
    prefetched, reads the same batches in the same order (in
    ``batches.workers`` threads), and :meth:`PairBatches.stop` leaves it idle.

    Parameters
    ----------
    batches : PairBatches

    Returns
    -------
    PairBatches or tf.data.Dataset
    """
    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf

    size, n_channels = batches.source.size, batches.source.n_channels
    n_protein = batches.n_protein_channels
    shapes = [(None, size, size, n_channels), (None, size, size, n_channels - n_protein),
              (None, size, size, n_protein)]

    def load(index):
        inputs, target = batches[int(index)]
        return inputs[SOURCE_INPUT], inputs[TARGET_MARKER_INPUT], target

    def as_tensors(index):
        arrays = tf.numpy_function(load, [index], [tf.float32] * 3, stateful=True)
        source, markers, target = (tf.ensure_shape(array, shape) for array, shape in zip(arrays, shapes))
        return {SOURCE_INPUT: source, TARGET_MARKER_INPUT: markers}, target

    parallel = {"num_parallel_calls": batches.workers, "deterministic": True} if batches.workers > 1 else {}
    return tf.data.Dataset.range(batches.num_batches).map(as_tensors, **parallel).prefetch(tf.data.AUTOTUNE)


class _BatchProgress(keras.callbacks.Callback):
    """Advances a tqdm bar by one step per training batch."""

    def __init__(self, bar):
        super().__init__()
        self.bar = bar

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.5f}", refresh=False)


class _StopWhenRequested(keras.callbacks.Callback):
    """Ends ``fit`` after the current batch once Ctrl-C was pressed."""

    def __init__(self, request):
        super().__init__()
        self.request = request

    def on_train_batch_end(self, batch, logs=None):
        if self.request.requested:
            self.model.stop_training = True


def compile_for_training(model, learning_rate=1e-4, beta_1=0.5):
    """Compile ``model`` with the paper's optimizer (Adam) and MSE loss."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1),
        loss="mse",
    )
    return model


def train_epochs(model, batches, epochs, *, initial_epoch=0, verbose=0, callbacks=(), on_epoch_end=None):
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
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, loss)`` after each epoch whose loss is
        finite (``epoch`` counts from 0).

    Returns
    -------
    losses : list of float
        Mean training loss of each epoch run.

    Raises
    ------
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
            if on_epoch_end is not None:
                on_epoch_end(epoch, loss)
    return losses


class TrainingInterrupted(Exception):
    """Training stopped by Ctrl-C; carries the state after the last completed epoch."""

    def __init__(self, weights, losses):
        super().__init__(f"interrupted after {len(losses)} completed epoch(s)")
        self.weights = weights
        self.losses = losses


class Checkpoint:
    """The training state after an epoch, in one file that is replaced atomically.

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
    """

    FILE = "checkpoint.npz"

    def __init__(self, directory, fingerprint):
        self.path = Path(directory) / self.FILE
        self.fingerprint = fingerprint

    def read_state(self):
        """The JSON record of the saved checkpoint, or None when there is none."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path) as saved:
                return json.loads(str(saved["state"]))
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"The checkpoint {str(self.path)!r} is unreadable: {error}") from error

    def load(self, model):
        """Restore a compiled ``model`` and its optimizer; return ``(epoch, losses)`` or None."""
        state = self.read_state()
        if state is None:
            return None
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
        return state["epoch"], list(state["losses"])

    def save(self, model, epoch, losses):
        """Write the state after ``epoch`` completed epochs."""
        weights = model.get_weights()
        state = {"fingerprint": self.fingerprint, "epoch": epoch, "losses": list(losses),
                 "n_weights": len(weights)}
        arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
        arrays.update({f"optimizer_{i}": keras.ops.convert_to_numpy(v)
                       for i, v in enumerate(model.optimizer.variables)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.path) as temporary:
            with open(temporary, "wb") as out:
                np.savez(out, state=np.array(json.dumps(state)), **arrays)

