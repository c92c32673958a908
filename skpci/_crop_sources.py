"""Where training reads crops from: arrays in memory, or a `CropStore` on disk.

Both sources hand out batches of crops that are resized to the network's
input size, hold the network's channels (protein first) and are min-max
scaled per crop and channel. Scaling happens per batch, on the fly, so crops
can stay in their native dtype: a uint8 data set costs one byte per pixel in
memory, not the four of a float32 copy. Only crops that need resizing are
prepared ahead, into float16.

Cells are split into *blocks* of whole pairing groups. Training shuffles the
order of blocks and the cells within each block, so that a source on disk is
read one contiguous block at a time, with the next block prefetched by a
background thread.
"""

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._preprocessing import minmax_scale_crops, prepare_crop_stacks

#: Number of prepared blocks a store source keeps in memory (current, next, one spare).
_CACHED_BLOCKS = 3


class _BlockSource:
    """Crops in contiguous pieces, gathered into scaled float32 batches.

    Subclasses set ``codes`` (group code per cell), ``bounds`` (boundaries of
    the blocks that training shuffles), ``size``, ``n_channels`` and
    ``_piece_offsets``, and implement ``_piece(index)``: the crops of one
    piece at ``size``, with the channels of ``_select`` still to pick (None
    when they are picked already).
    """

    _select = None

    @property
    def n_cells(self):
        return int(self.bounds[-1])

    @property
    def n_blocks(self):
        return len(self.bounds) - 1

    def prefetch(self, block):
        """Start loading ``block`` in the background, if the source reads from disk."""

    def gather(self, cells):
        """Scaled float32 crops of ``cells`` (global indices), in that order.

        Parameters
        ----------
        cells : ndarray of int

        Returns
        -------
        batch : ndarray of float32, shape (len(cells), size, size, n_channels)
        """
        cells = np.asarray(cells, dtype=np.int64)
        batch = np.empty((len(cells), self.size, self.size, self.n_channels), dtype=np.float32)
        owner = np.searchsorted(self._piece_offsets, cells, side="right") - 1
        for index in np.unique(owner):
            rows = owner == index
            crops = self._piece(index)[cells[rows] - self._piece_offsets[index]]
            batch[rows] = crops if self._select is None else crops[..., self._select]
        return minmax_scale_crops(batch)


class MemoryCrops(_BlockSource):
    """Crops held in memory: one block, no copy when they already have the input size.

    Parameters
    ----------
    stacks : list of ndarray
        Crop stacks ``(n_i, h, w, C)``, in any numeric dtype.
    codes : ndarray of int, shape (sum n_i,)
        Pairing group of each cell.
    size : int
        Network input size.
    channel_order : sequence of int
        The network's channels, protein first.
    n_jobs : int, optional
        Workers for resizing, when needed.
    """

    def __init__(self, stacks, codes, size, channel_order, *, n_jobs=None):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.size = int(size)
        self.n_channels = len(channel_order)
        if all(stack.shape[1:3] == (size, size) for stack in stacks):
            self._stacks = [stack for stack in stacks if len(stack)]
            self._select = list(channel_order)
        else:
            prepared = prepare_crop_stacks(stacks, size, channel_order, n_jobs=n_jobs)
            self._stacks = [prepared.astype(np.float16)]
        self._piece_offsets = np.cumsum([0] + [len(s) for s in self._stacks]).astype(np.int64)
        self.bounds = np.array([0, self._piece_offsets[-1]], dtype=np.int64)

    def _piece(self, index):
        return self._stacks[index]


class StoreCrops(_BlockSource):
    """Crops streamed from a :class:`~skpci.CropStore`, one block of whole groups at a time.

    At most ``_CACHED_BLOCKS`` prepared blocks are held; the next block of the
    epoch's plan is read and prepared by a background thread while the model
    trains on the current one.

    Parameters
    ----------
    store : CropStore
    size : int
    channel_order : sequence of int
    n_jobs : int, optional
        Workers for resizing a block.
    """

    def __init__(self, store, size, channel_order, *, n_jobs=None):
        self.store = store
        self.codes = store.group_codes()
        self.bounds = self._piece_offsets = store.blocks()
        self.size = int(size)
        self.channel_order = list(channel_order)
        self.n_channels = len(channel_order)
        self.n_jobs = n_jobs
        self._cache = OrderedDict()
        self._pending = {}
        self._lock = threading.Lock()
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skpci-store-reader")

    def _read_block(self, index):
        crops = self.store.read(self.bounds[index], self.bounds[index + 1])
        if crops.shape[1:3] == (self.size, self.size):
            return crops[..., self.channel_order]
        return prepare_crop_stacks([crops], self.size, self.channel_order, n_jobs=self.n_jobs).astype(np.float16)

    def prefetch(self, index):
        if not 0 <= index < self.n_blocks:
            return
        with self._lock:
            if index not in self._cache and index not in self._pending:
                self._pending[index] = self._reader.submit(self._read_block, index)

    def _piece(self, index):
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            future = self._pending.pop(index, None)
        crops = future.result() if future is not None else self._read_block(index)
        with self._lock:
            self._cache[index] = crops
            while len(self._cache) > _CACHED_BLOCKS:
                self._cache.popitem(last=False)
        return crops

    def close(self):
        """Stop the reader thread and drop cached blocks."""
        self._reader.shutdown(wait=True, cancel_futures=True)
        self._cache.clear()
        self._pending.clear()
