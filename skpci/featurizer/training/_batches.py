"""Batches of pairs for the pretext task: (source cell, target markers) -> target protein.

Every random choice of an epoch (the order of source cells, their partners
and the flips) is drawn when the epoch starts from a generator seeded by
``(seed, epoch)``. Batches are then pure functions of their index, which
keeps training reproducible with prefetching threads and lets an epoch be
replayed exactly.
"""

import math
import threading
import time

import keras
import numpy as np

from ...network import SOURCE_INPUT, TARGET_MARKER_INPUT
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
    protein_jitter : float, default=0.0
        Multiply the protein channels of each source crop by a factor drawn
        uniformly from ``[1 - protein_jitter, 1]`` (after min-max scaling),
        so the network cannot predict the target from the source's brightness.
    drop_remainder : bool, default=False
        Leave out the last, smaller batch of an epoch (multi-device training
        splits every batch evenly).
    workers : int, default=1
        Threads that prepare batches ahead of the model.
    min_group_size : int, default=2
        Cells of groups with fewer cells are left out (see
        :func:`~skpci.featurizer.training.pairable_cells`).
    """

    def __init__(self, source, n_protein_channels, batch_size, seed, *,
                 augment=True, rotations=False, protein_jitter=0.0, drop_remainder=False, workers=1,
                 min_group_size=2):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.source = source
        self.codes = source.codes
        self.n_protein_channels = n_protein_channels
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.drop_remainder = drop_remainder
        self.n_transforms = (8 if rotations else 4) if augment else 1
        self.protein_jitter = float(protein_jitter) if augment else 0.0
        self.sources = pairable_cells(self.codes, min_group_size)
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
        # Drawn last and only when asked for, so runs without jitter keep their pairs and flips.
        self._protein_scales = (rng.uniform(1 - self.protein_jitter, 1, (len(self._order), self.n_protein_channels))
                                .astype(np.float32) if self.protein_jitter else None)
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
            if self._protein_scales is not None:
                source[..., :self.n_protein_channels] *= self._protein_scales[batch][:, None, None, :]
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
