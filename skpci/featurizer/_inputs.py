"""One seam for every form of input: bags, cells with groups, or a crop store.

* **Bags**: a list (or 1-D object array) with one ``(n_cells_i, h, w, C)``
  stack per image; cells pair within their bag and ``transform`` returns one
  row per bag. A 5-D numeric array ``(n_images, n_cells, h, w, C)`` is read
  as equal-sized bags.
* **Cells**: one ``(n_cells, h, w, C)`` array, with ``groups`` (one image or
  group id per cell) when cells must be paired; one row per cell.
* **Store**: a :class:`~skpci.CropStore`, which records every cell's group;
  read from disk block by block; one row per cell.

:func:`as_crop_input` turns any of them into a :class:`CropInput`, which the
estimator asks for what it needs (cells in blocks, pairing groups, a
training source, per-cell and per-image records) without knowing the form.
"""

import joblib
import numpy as np
import pandas as pd

from .._arrays import ranges_in_stacks, stack_offsets
from ..channels import check_channel_names
from ..preprocessing import check_crops
from ..store import CropStore
from .training import STORE_BLOCK_BYTES, MemoryCrops, StoreCrops, encode_groups


class CropInput:
    """Cells of one input, whatever its form.

    Attributes
    ----------
    n_cells : int
    n_channels : int
    channel_names : tuple of str or None
        The channels' names, where the input has them.
    crop_shape : tuple of int
        ``(height, width)`` of the crops.
    per_bag : bool
        Whether ``transform`` returns one row per bag (else one per cell).
    streamed : bool
        Whether training reads the cells from disk in blocks (``block_bytes`` matters).
    """

    per_bag = False
    streamed = False

    def blocks(self, block_size):
        """The cells in order, ``block_size`` at a time, each block a list of crop stacks."""
        raise NotImplementedError

    def stacks(self):
        """Every cell, as a list of crop stacks (in memory)."""
        return [piece for block in self.blocks(max(self.n_cells, 1)) for piece in block]

    def group_codes(self):
        """Pairing group of every cell, as integer codes."""
        raise NotImplementedError

    def training_crops(self, size, channel_order, *, block_bytes=STORE_BLOCK_BYTES, mask_channel=None, n_jobs=None):
        """Where training gathers batches from: a :class:`MemoryCrops` or :class:`StoreCrops`."""
        raise NotImplementedError

    def fingerprint(self):
        """A digest of the cells and their groups (the key of ``memory=`` and of checkpoints)."""
        raise NotImplementedError

    def cell_records(self):
        """One row per cell: where it comes from."""
        raise NotImplementedError

    def image_records(self):
        """One row per image (bag, group or stored image), with ``n_cells``."""
        raise NotImplementedError

    def image_of_cell(self):
        """Row of :meth:`image_records` of every cell."""
        raise NotImplementedError

    def feature_path(self, layers, pooling="max", central_cell=False):
        """Where features go when no path is given."""
        raise ValueError("Give a path for the features: only a CropStore folder keeps them itself.")

    def feature_file_attributes(self):
        """What an HDF5 feature file records about its input."""
        return {}


class MemoryInput(CropInput):
    """Bags, or one stack of cells with optional groups, in memory.

    Parameters
    ----------
    stacks : list of ndarray
        Validated crop stacks: one per bag, or one holding every cell.
    per_bag : bool
    groups : array-like, optional
        With a stack of cells, the group of every cell.
    """

    def __init__(self, stacks, *, per_bag, groups=None, channel_names=None):
        self._stacks = stacks
        self.per_bag = per_bag
        self.n_cells = sum(len(stack) for stack in stacks)
        self.n_channels = stacks[0].shape[-1]
        self.crop_shape = tuple(stacks[0].shape[1:3])
        self.channel_names = check_channel_names(channel_names, self.n_channels)
        self.bag_sizes = np.array([len(stack) for stack in stacks], dtype=np.int64)
        self.groups = None if groups is None else np.asarray(groups)
        if self.groups is not None:
            self._codes = encode_groups(self.groups, self.n_cells)

    def blocks(self, block_size):
        offsets = stack_offsets(self.bag_sizes)
        for start in range(0, self.n_cells, block_size):
            yield [self._stacks[index][low:high]
                   for index, low, high in ranges_in_stacks(offsets, start, start + block_size)]

    def stacks(self):
        return list(self._stacks)

    def group_codes(self):
        if self.per_bag:
            return np.repeat(np.arange(len(self._stacks)), self.bag_sizes)
        if self.groups is None:
            raise ValueError(
                "Fitting on a stack of cells needs groups: one image (or group) id per cell, "
                "so that each cell is paired with another cell of its image. Call "
                "fit(X, groups=image_ids), or pass a list of per-image bags instead."
            )
        return self._codes

    def training_crops(self, size, channel_order, *, block_bytes=STORE_BLOCK_BYTES, mask_channel=None, n_jobs=None):
        return MemoryCrops(self._stacks, self.group_codes(), size, channel_order, mask_channel=mask_channel,
                           n_jobs=n_jobs)

    def fingerprint(self):
        return joblib.hash((self._stacks, self.group_codes()))

    def image_of_cell(self):
        if self.per_bag:
            return np.repeat(np.arange(len(self._stacks)), self.bag_sizes)
        if self.groups is None:
            raise ValueError("Features per image of a stack of cells need groups: pass groups=image_ids.")
        return self._codes

    def cell_records(self):
        if self.per_bag:
            return pd.DataFrame({"image": self.image_of_cell()})
        return pd.DataFrame(index=pd.RangeIndex(self.n_cells)) if self.groups is None \
            else pd.DataFrame({"group": self.groups})

    def image_records(self):
        if self.per_bag:
            return pd.DataFrame({"image": np.arange(len(self._stacks)), "n_cells": self.bag_sizes})
        codes = self.image_of_cell()
        _, first = np.unique(codes, return_index=True)  # ids may mix types, so they are never sorted
        return pd.DataFrame({"group": self.groups[first], "n_cells": np.bincount(codes)})


class StoreInput(CropInput):
    """A :class:`~skpci.CropStore`, read block by block."""

    streamed = True

    def __init__(self, store, channel_names=None):
        self.store = store
        self.n_cells = len(store)
        self.n_channels = store.crop_shape[-1]
        self.crop_shape = tuple(store.crop_shape[:2])
        self.channel_names = check_channel_names(store.channel_names, self.n_channels,
                                                 what=f"{store!r}'s channel names")
        channel_names = check_channel_names(channel_names, self.n_channels)
        if self.channel_names is None:
            self.channel_names = channel_names
        elif channel_names is not None and channel_names != self.channel_names:
            raise ValueError(
                f"{store!r} names its channels {list(self.channel_names)}, but channel_names says "
                f"{list(channel_names)}. channel_names describes arrays; leave it unset for a store, or map "
                "channels with channel_map."
            )

    def blocks(self, block_size):
        for start in range(0, self.n_cells, block_size):
            stop = min(start + block_size, self.n_cells)
            yield [check_crops(self.store.read(start, stop), name=f"{self.store!r}, cells {start}..{stop - 1}")]

    def group_codes(self):
        return encode_groups(self.store.cells["group"].to_numpy(dtype=str), self.n_cells)

    def training_crops(self, size, channel_order, *, block_bytes=STORE_BLOCK_BYTES, mask_channel=None, n_jobs=None):
        return StoreCrops(self.store, self.group_codes(), size, channel_order, block_bytes=block_bytes,
                          mask_channel=mask_channel, n_jobs=n_jobs)

    def fingerprint(self):
        return self.store.fingerprint()

    def image_of_cell(self):
        return self.store.cells["image"].to_numpy()

    def cell_records(self):
        records = self.store.cells[["image", "source", "group", "centroid_row", "centroid_col"]].copy()
        images = self.image_records().drop(columns=["group", "n_cells"])
        records = records.reset_index(drop=True)
        of_cell = records["image"].to_numpy()
        for column in images.columns:
            records[column] = images[column].to_numpy()[of_cell]
        return records

    def image_records(self):
        records = self.store.images[["name", "group", "label", "n_cells"]].reset_index(drop=True)
        return records.join(scalar_metadata(self.store.images["metadata"], taken=set(records.columns)))

    def feature_path(self, layers, pooling="max", central_cell=False):
        return self.store.feature_path(layers, pooling, central_cell)

    def feature_file_attributes(self):
        return {"store_fingerprint": self.store.fingerprint()}


def scalar_metadata(metadata, taken=()):
    """Columns for the top-level scalar entries of per-image metadata dicts (such as plate and well).

    Nested entries (segmentation counts...) are left out; a key that is
    already a column name gets a ``metadata_`` prefix.
    """
    rows = [{key: value for key, value in (entry or {}).items()
             if isinstance(value, (str, int, float, bool)) or value is None} for entry in metadata]
    table = pd.DataFrame(rows, index=range(len(rows)))
    return table.rename(columns=lambda key: f"metadata_{key}" if key in taken else key)


def as_crop_input(X, groups=None, *, channel_names=None, n_channels=None, name="X"):
    """Validate ``X`` (bags, cells or a store) and bring it into the :class:`CropInput` form.

    Parameters
    ----------
    X : list of array-like, 1-D object ndarray, ndarray of 4 or 5 dimensions, or CropStore
    groups : array-like of shape (n_cells,), optional
        Only with a stack of cells.
    channel_names : sequence of str, optional
        Names of the channels of arrays; a store names its own (and must
        agree where both are given).
    n_channels : int, optional
        Required number of channels in every crop.
    name : str, default="X"
        How to call the input in error messages.

    Returns
    -------
    CropInput
    """
    if isinstance(X, CropStore):
        if groups is not None:
            raise ValueError("groups is not used with a CropStore: the store records each cell's group.")
        if len(X) == 0:
            raise ValueError(f"{X!r} holds no cells.")
        if n_channels is not None and X.crop_shape[-1] != n_channels:
            raise ValueError(
                f"{X!r}: expected {n_channels} channels, got {X.crop_shape[-1]} "
                f"(crops of shape {X.crop_shape})."
            )
        return StoreInput(X, channel_names)
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim != 5:
        return MemoryInput([check_crops(X, name=name, n_channels=n_channels)], per_bag=False, groups=groups,
                           channel_names=channel_names)
    if groups is not None:
        raise ValueError(
            "groups is for a stack of cells; with bags, the cells of one bag form a "
            "group. Pass either bags without groups, or one array of cells with groups."
        )
    return MemoryInput(_check_bags(X, n_channels), per_bag=True, channel_names=channel_names)


def _check_bags(X, n_channels):
    if isinstance(X, np.ndarray) and X.dtype != object:  # 5-D: equal-sized bags
        return [check_crops(bag, name=f"bag {i}", n_channels=n_channels) for i, bag in enumerate(X)]
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(
            f"A collection of bags must be 1-D (one entry per image), got an object array "
            f"of shape {X.shape}."
        )
    if not isinstance(X, (list, tuple, np.ndarray)):
        raise TypeError(
            "X must be a stack of cells (an array of shape (n_cells, height, width, channels)), "
            f"a list of such stacks (one per image) or a CropStore; got {type(X).__name__}."
        )
    if len(X) == 0:
        raise ValueError("X holds no images (an empty collection of bags).")
    stacks = []
    for i, bag in enumerate(X):
        if isinstance(bag, (list, tuple)) and len(bag):
            shapes = {np.shape(crop) for crop in bag}
            if len(shapes) > 1:
                raise ValueError(
                    f"bag {i}: crops of different shapes in one bag {sorted(shapes)}; "
                    "crops of one image must share one size (resize or re-crop them)."
                )
        bag = np.asarray(bag)
        if bag.size == 0 and bag.ndim != 4:
            stacks.append(None)
            continue
        stacks.append(check_crops(bag, name=f"bag {i}", n_channels=n_channels))
    reference = next((s for s in stacks if s is not None), None)
    if reference is None or all(len(s) == 0 for s in stacks if s is not None):
        raise ValueError("Every bag in X is empty: there are no cells.")
    empty = np.zeros((0,) + reference.shape[1:], dtype=reference.dtype)
    stacks = [empty if s is None else s for s in stacks]
    channels = {s.shape[-1] for s in stacks}
    if len(channels) > 1:
        raise ValueError(f"Bags have different numbers of channels: {sorted(channels)}.")
    sizes = {s.shape[1:3] for s in stacks}
    if len(sizes) > 1:
        raise ValueError(
            f"Bags hold crops of different sizes {sorted(sizes)}: crops cut at different sizes show cells "
            "at different magnifications once resized. Crop every image at one size."
        )
    return stacks
