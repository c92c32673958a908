"""Training sources: blocks of whole groups, symmetries, batches scaled on the fly."""

import numpy as np
import pytest

from skpci import CropStore
from skpci.featurizer.training import STORE_BLOCK_BYTES, StoreCrops, encode_groups
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


def test_blocks_hold_whole_groups_and_split_groups_are_refused(tmp_path):
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
    with pytest.raises(ValueError, match="not contiguous"):
        _store_blocks(split)


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
