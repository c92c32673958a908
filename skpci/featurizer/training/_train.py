"""One training run, from initial weights to trained weights: a pure function joblib.Memory can cache."""

import contextlib
from dataclasses import dataclass, replace

import joblib

from ._batches import PairBatches
from ._checkpoint import Checkpoint
from ._devices import distribution_scope
from ._loop import EpochRecord, TrainingInterrupted, train_epochs
from ._reuse import training_network
from ._sources import STORE_BLOCK_BYTES

#: Training precision -> Keras dtype policy of the hidden layers.
PRECISIONS = {"float32": None, "bfloat16": "mixed_bfloat16"}


@dataclass(frozen=True)
class TrainingSettings:
    """Everything besides data, seed and initial weights that shapes the trained weights.

    Values are stored as plain Python numbers, so ``64`` and ``np.int64(64)``
    give the same cache key and checkpoint. ``block_bytes`` is None where the
    data is in memory (it then changes nothing).
    """

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-4
    beta_1: float = 0.5
    rotations: bool = False
    protein_jitter: float = 0.0
    mask_channel: int | None = None
    min_group_size: int = 2
    precision: str = "float32"
    block_bytes: int = STORE_BLOCK_BYTES

    def __post_init__(self):
        for name, kind in (("epochs", int), ("batch_size", int), ("learning_rate", float), ("beta_1", float),
                           ("rotations", bool), ("protein_jitter", float), ("min_group_size", int), ("precision", str)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        for name in ("block_bytes", "mask_channel"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))


def train_weights(crops, channel_order, initial_weights, architecture, settings, *, seed, data_key=None,
                  devices=None, n_jobs=None, verbose=0, checkpoint_dir=None):
    """Train a network from ``initial_weights`` on pairs of cells of the same group.

    Parameters
    ----------
    crops : CropInput
        Where the cells come from (see :mod:`skpci.featurizer._inputs`);
        only its ``training_crops`` is used.
    channel_order : tuple of int
        The network's input channels, protein first.
    initial_weights : list of ndarray
    architecture : Architecture
    settings : TrainingSettings
    seed : int
        Seeds pairing and flips of every epoch.
    data_key : str, optional
        A digest of ``crops`` and their groups (``crops.fingerprint()``).
        ``joblib.Memory`` caches on it instead of hashing ``crops``, and a
        checkpoint records it.
    devices : None, "all" or int
    n_jobs : int, optional
    verbose : int, default=0
    checkpoint_dir : str or path-like, optional
        Save the state after every epoch there, and resume a saved state of
        the same run.

    Returns
    -------
    weights : list of ndarray
    losses : list of float
        Loss of every epoch, those of a resumed checkpoint included.
    initial_epoch : int
        Epochs taken from the checkpoint (0 without one).
    n_devices : int

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, with the weights and losses of the last completed epoch.
    """
    block_bytes = STORE_BLOCK_BYTES if settings.block_bytes is None else settings.block_bytes
    source = crops.training_crops(architecture.input_size, channel_order, block_bytes=block_bytes,
                                  mask_channel=settings.mask_channel, n_jobs=n_jobs)
    try:
        scope, n_devices = distribution_scope(devices)
        batches = PairBatches(source, architecture.n_protein_channels, settings.batch_size, seed,
                              rotations=settings.rotations, protein_jitter=settings.protein_jitter,
                              drop_remainder=n_devices > 1,
                              min_group_size=settings.min_group_size)
        with contextlib.ExitStack() as lent:
            with scope():
                # A network compiled by an earlier fit is reused (see _reuse); one device only.
                model = lent.enter_context(training_network(
                    architecture, initial_weights, dtype=PRECISIONS[settings.precision],
                    learning_rate=settings.learning_rate, beta_1=settings.beta_1, reuse=n_devices == 1))
                record, initial_epoch = EpochRecord(initial_weights), 0
                if checkpoint_dir is not None:
                    # Not the epochs: a run may be resumed with more of them.
                    fingerprint = joblib.hash((data_key, channel_order, initial_weights, architecture, seed,
                                               replace(settings, epochs=0), n_devices))
                    # A run asked for more epochs continues where the checkpoint ended; asked for fewer, refuses.
                    record = Checkpoint(checkpoint_dir, fingerprint, initial_weights, settings.epochs)
                    initial_epoch = record.restore(model)
                    if initial_epoch > settings.epochs:
                        raise ValueError(
                            f"{str(checkpoint_dir)!r} holds {initial_epoch} completed "
                            f"epoch{'' if initial_epoch == 1 else 's'} of this run, more "
                            f"than the {settings.epochs} requested, and training cannot go back. Ask for epochs >= "
                            f"{initial_epoch} to use it, or give another checkpoint_dir (or empty this one) to "
                            f"train {settings.epochs} epochs."
                        )
            try:
                with scope():
                    train_epochs(model, batches, settings.epochs, verbose=verbose, callbacks=[record],
                                 initial_epoch=min(initial_epoch, settings.epochs))
            except KeyboardInterrupt:
                raise TrainingInterrupted(record.weights, list(record.losses)) from None
            except FloatingPointError as error:
                if checkpoint_dir is not None:
                    raise FloatingPointError(
                        f"{error} The last good state (epoch {len(record.losses)}) is kept in "
                        f"{str(checkpoint_dir)!r}."
                    ) from error
                raise
            weights = model.get_weights()
    finally:
        source.close()
    return weights, record.losses, initial_epoch, n_devices
