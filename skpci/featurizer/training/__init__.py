"""Training the paired cell inpainting network.

The pieces, in the order data flows through them:

* :mod:`._sources`: where crops come from (memory, or a store in blocks of
  whole groups), gathered into scaled, flipped float32 batches;
* :mod:`._pairing`: a partner from the same group for every cell;
* :mod:`._batches`: :class:`PairBatches`, an epoch's pairs as Keras batches;
* :mod:`._loop`: the epoch loop, with end-of-epoch work as callbacks
  (:class:`EpochRecord`, :class:`Checkpoint`) and Ctrl-C
  (:mod:`._interrupts`) stopping after the current batch;
* :mod:`._devices`: data-parallel training on several devices;
* :mod:`._reuse`: the compiled network kept for the next fit (no leak per refit);
* :func:`train_weights`: one whole run, a pure function.
"""

from ._batches import PairBatches, fit_input
from ._checkpoint import Checkpoint
from ._devices import distribution_scope, resolve_devices
from ._loop import EpochRecord, TrainingInterrupted, compile_for_training, inpainting_error, train_epochs
from ._pairing import encode_groups, pairable_cells, sample_partners
from ._sources import STORE_BLOCK_BYTES, MemoryCrops, StoreCrops, group_blocks, group_order
from ._train import PRECISIONS, TrainingSettings, train_weights

__all__ = [
    "PRECISIONS",
    "STORE_BLOCK_BYTES",
    "Checkpoint",
    "EpochRecord",
    "MemoryCrops",
    "PairBatches",
    "StoreCrops",
    "TrainingInterrupted",
    "TrainingSettings",
    "compile_for_training",
    "distribution_scope",
    "encode_groups",
    "fit_input",
    "group_blocks",
    "group_order",
    "inpainting_error",
    "pairable_cells",
    "resolve_devices",
    "sample_partners",
    "train_epochs",
    "train_weights",
]
