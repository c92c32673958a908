"""Training sources: blocks of whole groups, symmetries, batches scaled on the fly."""

import numpy as np
import pytest

from skpci import CropStore
from skpci.featurizer.training import STORE_BLOCK_BYTES, StoreCrops, encode_groups, group_blocks
from skpci.featurizer.training._sources import MemoryCrops, dihedral_view
from skpci.preprocessing import minmax_scale_crops


def _bags(n_images=6, size=16, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4000, (int(n), size, size, 3)).astype(dtype)
            for n in rng.integers(3, 9, n_images)]


def _store_blocks(store, block_bytes=STORE_BLOCK_BYTES):
    """The blocks training reads from ``store``."""
    codes = encode_groups(store.cells["group"].to_numpy(), len(store))
    return StoreCrops(store, codes, 16, [0, 1, 2], block_bytes=block_bytes).bounds


def test_blocks_hold_whole_groups_and_split_groups_are_read_in_group_order(tmp_path):
    bags = _bags(8, size=16)
    store = CropStore.create(tmp_path / "s")
    store.append(bags, names=[f"i{i}" for i in range(8)], groups=list("aabbccdd"))
    bounds = _store_blocks(store, block_bytes=3 * 16 * 16 * 3 * 2 * 4)
    assert bounds[0] == 0 and bounds[-1] == len(store) and len(bounds) > 2
    groups = store.cells["group"].to_numpy()
    for low, high in zip(bounds[:-1], bounds[1:]):
        inside = set(groups[low:high])
        assert not inside & set(groups[:low]) and not inside & set(groups[high:])
    split = CropStore.create(tmp_path / "split")
    split.append(bags[:3], names=["p", "q", "r"], groups=["a", "b", "a"])
    codes = encode_groups(split.cells["group"].to_numpy(), len(split))
    with pytest.raises(ValueError, match="not contiguous"):
        group_blocks(codes, cell_bytes=1, block_bytes=10)  # the raw stored order cannot be cut into blocks
    source = StoreCrops(split, codes, 16, [0, 1, 2], block_bytes=1)  # one group per block
    per_image = np.cumsum([0] + [len(bag) for bag in bags[:3]])
    expected = np.concatenate([np.arange(per_image[i], per_image[i + 1]) for i in (0, 2, 1)])
    np.testing.assert_array_equal(source.stored_cells, expected)
    assert source.n_blocks == 2 and source.bounds[1] == len(bags[0]) + len(bags[2])
    np.testing.assert_array_equal(source._read_block(0).crops, split.read()[expected[:source.bounds[1]]])


def test_dihedral_codes_give_the_eight_symmetries():
    square = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    results = {dihedral_view(square, code).tobytes() for code in range(8)}
    assert len(results) == 8
    flipped = dihedral_view(square, 1)
    np.testing.assert_array_equal(flipped[0, :, :, 0], square[0, :, ::-1, 0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_batches_scaled_on_the_fly_equal_prescaled_ones(dtype):
    rng = np.random.default_rng(3)
    crops = (rng.random((30, 8, 8, 3)) * 200).astype(dtype)
    crops[4, ..., 1] = 7  # a constant channel becomes zeros
    codes = np.repeat(np.arange(6), 5)
    prescaled = MemoryCrops([crops[:12], crops[12:]], codes, 8, [2, 0])
    on_the_fly = MemoryCrops([crops[:12], crops[12:]], codes, 8, [2, 0], prescale_bytes=0)
    assert prescaled.scaled and not on_the_fly.scaled
    cells, flips = rng.integers(0, 30, 20), rng.integers(0, 8, 20)
    scaled = minmax_scale_crops(crops[cells][..., [2, 0]])
    expected = np.stack([dihedral_view(crop[np.newaxis], flip)[0] for crop, flip in zip(scaled, flips)])
    np.testing.assert_array_equal(prescaled.gather(cells, flips), expected)
    np.testing.assert_array_equal(on_the_fly.gather(cells, flips), expected)
    assert on_the_fly.dtype == dtype  # crops stay in their own dtype


def _cells_with_neighbours(n=12, size=16, seed=4):
    """Crops whose channel 1 shows a bright central blob and a neighbour in a corner."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    centre = (rows - size / 2) ** 2 + (cols - size / 2) ** 2 < (size / 4) ** 2
    corner = (rows - 2) ** 2 + (cols - 2) ** 2 < 4
    crops = rng.integers(0, 50, (n, size, size, 3)).astype(np.uint16)
    crops[:, centre, 1] += 1000
    crops[:, corner, 1] += 1000
    crops[:, corner, 0] += 3000  # the neighbour's protein is what masking must remove
    return crops, corner


def test_every_training_source_masks_the_neighbours_alike(tmp_path):
    from skpci.preprocessing import mask_background

    crops, corner = _cells_with_neighbours()
    codes = np.repeat(np.arange(3), 4)
    order = [0, 2, 1]  # the outlining marker is network channel 2
    expected = minmax_scale_crops(mask_background(crops[..., order], 2).astype(np.float32))
    assert expected[:, corner, 0].max() == 0 and expected[..., 0].max() > 0
    cells, identity = np.arange(12), np.zeros(12, dtype=int)
    store = CropStore.create(tmp_path / "cells")
    store.append([crops[:4], crops[4:8], crops[8:]], names=["a", "b", "c"], groups=["a", "b", "c"])
    sources = {
        "memory, prescaled": MemoryCrops([crops], codes, 16, order, mask_channel=2),
        "memory, per batch": MemoryCrops([crops], codes, 16, order, mask_channel=2, prescale_bytes=0),
        "store": StoreCrops(store, codes, 16, order, mask_channel=2),
        "store, two workers": StoreCrops(store, codes, 16, order, mask_channel=2, n_jobs=2),
    }
    for name, source in sources.items():
        np.testing.assert_allclose(source.gather(cells, identity), expected, atol=1e-3, err_msg=name)
    resized = StoreCrops(store, codes, 8, order, mask_channel=2).gather(cells, identity)
    assert resized.shape == (12, 8, 8, 3) and resized[:, 0, 0, 0].max() == 0


def test_channels_major_blocks_and_crops_gather_the_same_batches(tmp_path):
    """``crops[..., order]`` returns a channels-major array, and so does ``np.moveaxis`` of a user's stack.

    ``np.take`` copies such an array whole before taking rows, so every batch
    copied the whole block (a GPU fed from a store reached 8% of its speed):
    blocks read from a store are now contiguous, and a strided stack in
    memory is indexed instead.
    """
    rng = np.random.default_rng(5)
    crops = rng.integers(0, 4000, (24, 16, 16, 3)).astype(np.uint16)
    codes = np.repeat([0, 1], 12)
    order = [2, 0]
    store = CropStore.create(tmp_path / "s")
    store.append([crops[:12], crops[12:]], names=["a", "b"], groups=["a", "b"])
    from_store = StoreCrops(store, codes, 16, order)
    assert from_store._piece(0).crops.flags.c_contiguous
    channels_major = np.moveaxis(np.ascontiguousarray(np.moveaxis(crops, -1, 0)), 0, -1)
    assert not channels_major.flags.c_contiguous
    from_memory = MemoryCrops([channels_major], codes, 16, order, prescale_bytes=0)
    cells, flips = rng.integers(0, 24, 40), rng.integers(0, 8, 40)
    scaled = minmax_scale_crops(crops[cells][..., order])
    expected = np.stack([dihedral_view(crop[np.newaxis], flip)[0] for crop, flip in zip(scaled, flips)])
    np.testing.assert_array_equal(from_store.gather(cells, flips), expected)
    np.testing.assert_array_equal(from_memory.gather(cells, flips), expected)
    from_store.close()
