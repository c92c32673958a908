"""Where training reads crops from: arrays in memory, or a `CropStore` on disk.

Both sources hand out batches of crops that are resized to the network's
input size, hold the network's channels (protein first) and are min-max
scaled per crop and channel. Small data sets are scaled once; otherwise
scaling happens per batch, on the fly, so crops can stay in their native
dtype: a uint8 data set costs one byte per pixel in memory, not the four of
a float32 copy. Only crops that need resizing are prepared ahead, into
float16.

Cells are split into *blocks* of whole pairing groups. Training shuffles the
order of blocks and the cells within each block, so that a source on disk is
read one block at a time, with the next block prefetched by a background
thread. A store whose groups are split (a field appended late, say) is read
in group order: its training cells are numbered group by group, and a block
is read as the few stored runs it spans.
"""

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...preprocessing import check_crops, mask_background, prepare_crop_stacks

#: Number of prepared blocks a store source keeps in memory (current, next, one spare).
_CACHED_BLOCKS = 3
#: Default size of the blocks of whole groups that training streams from a store.
STORE_BLOCK_BYTES = 256 * 2**20


class _Piece:
    """Crops at the input size and, per crop and network channel, the minimum and range that scale them.

    ``scaled=True`` marks crops that are min-max scaled already (no ranges needed).
    """

    def __init__(self, crops, select=None, *, scaled=False):
        self.crops = crops
        self.select = select
        self.low, self.span = (None, None) if scaled else channel_ranges(crops, select)


def channel_ranges(crops, select=None, chunk_size=1024):
    """Per crop and channel, the minimum and the range, which map the crop onto [0, 1].

    Computed once, so that each batch is scaled with one subtraction and one
    division instead of two reductions as well.

    Parameters
    ----------
    crops : ndarray of shape (n, h, w, C)
    select : list of int, optional
        Channels to keep, in order.

    Returns
    -------
    low, span : ndarray of float32, shape (n, n_selected)
        ``span`` is ``max - min``, or 1 for a constant channel (which thus
        becomes all zeros). ``(crop - low) / span`` is then bit for bit
        :func:`~skpci.preprocessing.minmax_scale_crops`.
    """
    n_channels = crops.shape[-1] if select is None else len(select)
    low = np.empty((len(crops), n_channels), dtype=np.float32)
    high = np.empty_like(low)
    for start in range(0, len(crops), chunk_size):
        chunk = crops[start:start + chunk_size]
        chunk = chunk if select is None else chunk[..., select]
        # Channels first and contiguous: the reductions then run over one contiguous row per channel.
        planes = np.ascontiguousarray(np.moveaxis(chunk.reshape(len(chunk), -1, n_channels), -1, 1))
        low[start:start + len(chunk)] = planes.min(axis=-1)
        high[start:start + len(chunk)] = planes.max(axis=-1)
    span = high - low
    span[span == 0] = 1
    return low, span


class _BlockSource:
    """Crops in contiguous pieces, gathered into scaled float32 batches.

    Subclasses set ``codes`` (group code per cell), ``bounds`` (boundaries of
    the blocks that training shuffles), ``size``, ``n_channels``, ``dtype``
    (of the crops as held) and ``_piece_offsets``, and implement ``_piece(index)``, which returns a
    :class:`_Piece`.
    """

    @property
    def n_cells(self):
        return int(self.bounds[-1])

    @property
    def n_blocks(self):
        return len(self.bounds) - 1

    scaled = False

    def _scratch(self, slot, shape, dtype):
        """A reusable array of this thread, so that batches do not page in fresh memory each time.

        (A fresh multi-megabyte array per batch costs more in page faults
        than the copies into it.)
        """
        buffers = self.__dict__.setdefault("_buffers", threading.local()).__dict__
        size = int(np.prod(shape))
        buffer = buffers.get((slot, np.dtype(dtype)))
        if buffer is None or buffer.size < size:
            buffer = buffers[(slot, np.dtype(dtype))] = np.empty(size, dtype)
        return buffer[:size].reshape(shape)

    def _take(self, array, indices, *, axis, slot):
        if not array.flags.c_contiguous:
            # np.take copies a non-contiguous array whole, in C order, before taking: from a
            # channels-major view (what ``np.moveaxis`` returns) every batch copied the whole block.
            return array[(slice(None),) * (axis % array.ndim) + (indices,)]
        shape = list(array.shape)
        shape[axis] = len(indices)
        return np.take(array, indices, axis=axis, out=self._scratch(slot, tuple(shape), array.dtype))

    def prefetch(self, block):
        """Start loading ``block`` in the background, if the source reads from disk."""

    def close(self):
        """Release what the source holds open (threads, files), if anything."""

    def gather(self, cells, transforms=None):
        """Scaled float32 crops of ``cells`` (global indices), in that order, flipped as asked.

        Parameters
        ----------
        cells : ndarray of int
        transforms : ndarray of int, optional
            A :func:`dihedral_view` code per cell (0: as stored).

        Returns
        -------
        batch : ndarray of float32, shape (len(cells), size, size, n_channels)
        """
        cells = np.asarray(cells, dtype=np.int64)
        n = len(cells)
        transforms = np.zeros(n, dtype=np.int64) if transforms is None else np.asarray(transforms)
        shape = (n, self.size, self.size, self.n_channels)
        # Scaled later into a new array, so an unscaled gather can reuse this thread's buffer.
        gathered = np.empty(shape, self.dtype) if self.scaled else self._scratch("gathered", shape, self.dtype)
        pixels = _pixel_view(gathered)
        if not self.scaled:
            low = np.empty((n, self.n_channels), dtype=np.float32)
            span = np.empty_like(low)
        owner = np.searchsorted(self._piece_offsets, cells, side="right") - 1
        for index in np.unique(owner):
            piece = self._piece(index)
            at_piece = np.flatnonzero(owner == index)
            rows = cells[at_piece] - self._piece_offsets[index]
            if not self.scaled:
                low[at_piece], span[at_piece] = piece.low[rows], piece.span[rows]
            # One gather per symmetry, written into the batch through a flipped view.
            for code in np.unique(transforms[at_piece]):
                chosen = transforms[at_piece] == code
                crops = self._take(piece.crops, rows[chosen], axis=0, slot="rows")
                if piece.select is not None:
                    crops = self._take(crops, piece.select, axis=-1, slot="channels")
                crops = np.ascontiguousarray(crops, dtype=self.dtype)
                pixels[at_piece[chosen]] = dihedral_view(_pixel_view(crops), code)
        if self.scaled:
            return gathered
        # Convert and scale channel by channel (each operation then runs over long rows), in the
        # same arithmetic as minmax_scale_crops, so both paths give identical batches.
        batch = np.empty(gathered.shape, dtype=np.float32)
        for channel in range(self.n_channels):
            plane = batch[..., channel]
            np.subtract(gathered[..., channel], low[:, channel, np.newaxis, np.newaxis], out=plane,
                        dtype=np.float32, casting="same_kind")
            plane /= span[:, channel, np.newaxis, np.newaxis]
        return batch


def _pixel_view(crops):
    """``crops`` (contiguous) viewed with one element per pixel, all channels together.

    NumPy copies one 8-byte element much faster than two 4-byte ones at a
    reversed or transposed stride, so flips move whole pixels.
    """
    pixel_bytes = crops.shape[-1] * crops.itemsize
    pixel = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64, 16: np.complex128}.get(
        pixel_bytes, np.dtype(f"V{pixel_bytes}"))
    return crops.view(pixel)


def dihedral_view(crops, code):
    """A view of ``crops`` under one of the 8 symmetries of the square.

    Bit 0 of ``code`` flips left-right, bit 1 flips up-down, bit 2 swaps
    the two spatial axes (with the flips: 90-degree rotations).
    """
    if code & 1:
        crops = crops[:, :, ::-1]
    if code & 2:
        crops = crops[:, ::-1]
    if code & 4:
        crops = crops.transpose(0, 2, 1, 3)
    return crops


class MemoryCrops(_BlockSource):
    """Crops held in memory, as one block.

    Small data sets (a scaled float32 copy of at most ``prescale_bytes``) are
    prepared once, and batches are then only gathered and flipped. Larger
    ones stay in their own dtype, without a copy when they already have the
    input size, and each batch is scaled as it is gathered (crops that need
    resizing are prepared as float16).

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
    mask_channel : int, optional
        Keep only each crop's central cell, found in this network channel
        (see :func:`~skpci.preprocessing.mask_background`).
    n_jobs : int, optional
        Workers for resizing, when needed.
    prescale_bytes : int, default=256 MiB
    """

    def __init__(self, stacks, codes, size, channel_order, *, mask_channel=None, n_jobs=None,
                 prescale_bytes=256 * 2**20):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.size = int(size)
        self.n_channels = len(channel_order)
        prescaled_bytes = sum(len(stack) for stack in stacks) * size * size * len(channel_order) * 4
        self.scaled = prescaled_bytes <= prescale_bytes
        if self.scaled:
            prepared = prepare_crop_stacks(stacks, size, channel_order, mask_channel=mask_channel, n_jobs=n_jobs)
            self._pieces = [_Piece(prepared, scaled=True)]
        elif mask_channel is None and all(stack.shape[1:3] == (size, size) for stack in stacks):
            n_channels_in = stacks[0].shape[-1]
            select = None if list(channel_order) == list(range(n_channels_in)) else list(channel_order)
            self._pieces = [_Piece(stack, select) for stack in stacks if len(stack)]
        else:
            prepared = prepare_crop_stacks(stacks, size, channel_order, mask_channel=mask_channel, n_jobs=n_jobs)
            self._pieces = [_Piece(prepared.astype(np.float16))]
        self._piece_offsets = np.cumsum([0] + [len(p.crops) for p in self._pieces]).astype(np.int64)
        self.dtype = np.result_type(*[p.crops.dtype for p in self._pieces]) if self._pieces else np.float32
        self.bounds = np.array([0, self._piece_offsets[-1]], dtype=np.int64)

    def _piece(self, index):
        return self._pieces[index]


def _run_starts(codes):
    """Where each run of equal codes starts."""
    return np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1])


def group_order(codes):
    """Cell indices that put each pairing group's cells together, or None if they already are.

    Groups keep the order of their first cell, and cells their order within
    a group (a stable sort), so a store with few split groups is read in few
    runs.

    Parameters
    ----------
    codes : ndarray of int, shape (n_cells,)
        Pairing group of each cell, in stored order.

    Returns
    -------
    order : ndarray of int64 or None

    Examples
    --------
    >>> group_order(np.array([0, 0, 1, 1, 2])) is None
    True
    >>> group_order(np.array([5, 7, 5, 9]))
    array([0, 2, 1, 3])
    """
    codes = np.asarray(codes)
    if len(codes) == 0:
        return None
    run_starts = _run_starts(codes)
    if len(np.unique(codes[run_starts])) == len(run_starts):
        return None
    _, first_cell, group_of_cell = np.unique(codes, return_index=True, return_inverse=True)
    rank_of_group = np.argsort(np.argsort(first_cell))
    return np.argsort(rank_of_group[group_of_cell], kind="stable").astype(np.int64)


def group_blocks(codes, cell_bytes, block_bytes):
    """Split cells stored in group order into contiguous blocks of whole groups.

    Parameters
    ----------
    codes : ndarray of int, shape (n_cells,)
        Pairing group of each cell, in stored order.
    cell_bytes : int
        Size of one crop.
    block_bytes : int
        Target size of a block; a group larger than that is a block of its own.

    Returns
    -------
    bounds : ndarray of int64
        Block ``b`` holds cells ``bounds[b]`` to ``bounds[b + 1]``.

    Raises
    ------
    ValueError
        If the cells of a group are not consecutive (see :func:`group_order`).

    Examples
    --------
    >>> group_blocks(np.array([0, 0, 1, 1, 2]), cell_bytes=1, block_bytes=2)
    array([0, 2, 4, 5])
    """
    codes = np.asarray(codes)
    if len(codes) == 0:
        return np.zeros(1, dtype=np.int64)
    run_starts = _run_starts(codes)
    _, runs_per_group = np.unique(codes[run_starts], return_counts=True)
    if (runs_per_group > 1).any():
        raise ValueError(
            f"The pairing groups are not contiguous: {int((runs_per_group > 1).sum())} group(s) are split by "
            "other groups' cells; order the cells with group_order first."
        )
    per_block = max(1, int(block_bytes) // max(1, int(cell_bytes)))
    bounds, current = [0], 0
    for run_start in run_starts[1:]:
        if run_start - current >= per_block:
            bounds.append(int(run_start))
            current = run_start
    bounds.append(len(codes))
    return np.array(bounds, dtype=np.int64)


class StoreCrops(_BlockSource):
    """Crops streamed from a :class:`~skpci.CropStore`, one block of whole groups at a time.

    At most ``_CACHED_BLOCKS`` prepared blocks are held; the next block of the
    epoch's plan is read and prepared by a background thread while the model
    trains on the current one.

    Parameters
    ----------
    store : CropStore
    codes : ndarray of int, shape (len(store),)
        Pairing group of each stored cell, in stored order. Groups need not
        be stored contiguously: training numbers its cells group by group
        (see ``stored_cells``).
    size : int
    channel_order : sequence of int
    block_bytes : int, default=STORE_BLOCK_BYTES
        Size of a block; with the prefetched next one, this bounds the crop
        memory of training.
    mask_channel : int, optional
        Keep only each crop's central cell, found in this network channel.
    n_jobs : int, optional
        Workers for resizing and masking a block.

    Attributes
    ----------
    codes : ndarray of int
        Pairing group of each training cell.
    stored_cells : ndarray of int or None
        Stored index of each training cell: the store's cells, stably sorted
        by the first appearance of their group. None when the groups are
        stored contiguously (training cell ``i`` is stored cell ``i``).
    """

    def __init__(self, store, codes, size, channel_order, *, block_bytes=STORE_BLOCK_BYTES, mask_channel=None,
                 n_jobs=None):
        self.store = store
        self.mask_channel = mask_channel
        self.stored_cells = group_order(codes)
        codes = np.asarray(codes, dtype=np.int64)
        self.codes = codes if self.stored_cells is None else codes[self.stored_cells]
        cell_bytes = int(np.prod(store.crop_shape)) * store.dtype.itemsize
        self.bounds = self._piece_offsets = group_blocks(self.codes, cell_bytes, block_bytes)
        self.size = int(size)
        self.channel_order = list(channel_order)
        self.n_channels = len(channel_order)
        self.n_jobs = n_jobs
        self._resize = store.crop_shape[:2] != (self.size, self.size)
        self.dtype = np.dtype(np.float16) if self._resize else store.dtype
        self._cache = OrderedDict()
        self._pending = {}
        self._lock = threading.Lock()
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skpci-store-reader")
        if np.issubdtype(store.dtype, np.floating):
            self._check_finite()

    def _check_finite(self):
        """Refuse NaN and infinities before training: a store written by another tool (or an older
        skpci) may hold them, and one would poison the weights. Integer stores cannot."""
        for start, stop in zip(self.bounds[:-1], self.bounds[1:]):  # block-sized reads, in stored order
            check_crops(self.store.read(start, stop), name=f"{self.store!r}, cells {start}..{stop - 1}")

    def _read_cells(self, start, stop):
        """The stored crops of training cells ``start`` to ``stop``: one read per stored run they span."""
        if self.stored_cells is None:
            return self.store.read(start, stop)
        stored = self.stored_cells[start:stop]
        run_starts = np.concatenate([[0], np.flatnonzero(np.diff(stored) != 1) + 1, [len(stored)]])
        runs = [self.store.read(int(stored[low]), int(stored[high - 1]) + 1)
                for low, high in zip(run_starts[:-1], run_starts[1:])]
        return runs[0] if len(runs) == 1 else np.concatenate(runs)

    def _read_block(self, index):
        crops = self._read_cells(self.bounds[index], self.bounds[index + 1])
        if not self._resize:
            # Batches gather rows from a contiguous block (indexing the last axis would give a channels-major one).
            identity = self.channel_order == list(range(crops.shape[-1]))
            selected = crops if identity else np.take(crops, self.channel_order, axis=-1)
            if self.mask_channel is not None:
                selected = mask_background(selected, self.mask_channel, n_jobs=self.n_jobs)
            return _Piece(selected)
        prepared = prepare_crop_stacks([crops], self.size, self.channel_order, mask_channel=self.mask_channel,
                                       n_jobs=self.n_jobs)
        return _Piece(prepared.astype(np.float16))

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
