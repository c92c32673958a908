import time

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skpci._crop_sources import MemoryCrops, dihedral_view
from skpci._pairing import encode_groups, pairable_cells, sample_partners
from skpci._preprocessing import minmax_scale_crops
from skpci._training import PairBatches, fit_input


@given(st.lists(st.integers(0, 6), min_size=2, max_size=200), st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_partner_is_another_cell_of_the_same_group(groups, seed):
    codes = encode_groups(groups, len(groups))
    partners = sample_partners(codes, np.random.default_rng(seed))
    sizes = np.bincount(codes)
    pairable = sizes[codes] >= 2
    assert (partners[~pairable] == -1).all()
    assert (partners[pairable] != np.flatnonzero(pairable)).all()
    assert (codes[partners[pairable]] == codes[pairable]).all()


def test_partners_are_uniform_over_the_other_cells():
    codes = np.zeros(4, dtype=np.int64)
    rng = np.random.default_rng(0)
    counts = np.zeros((4, 4))
    for _ in range(3000):
        counts[np.arange(4), sample_partners(codes, rng)] += 1
    assert np.all(np.diag(counts) == 0)
    off_diagonal = counts[~np.eye(4, dtype=bool)] / 3000
    np.testing.assert_allclose(off_diagonal, 1 / 3, atol=0.04)


def test_single_cell_groups_are_skipped_with_a_warning():
    codes = np.array([0, 0, 1, 2, 2])
    with pytest.warns(UserWarning, match="2 of 3 groups|1 of 3 groups"):
        pairable = pairable_cells(codes)
    assert list(pairable) == [0, 1, 3, 4]


def test_no_pairable_group_is_an_error_that_explains_pairing():
    with pytest.raises(ValueError, match="No cell can be paired"):
        pairable_cells(np.array([0, 1, 2]))


def test_groups_of_wrong_length_are_rejected():
    with pytest.raises(ValueError, match="one id per cell: got 3 ids for 4 cells"):
        encode_groups(["a", "b", "a"], 4)


def test_dihedral_codes_give_the_eight_symmetries():
    square = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    results = {dihedral_view(square, code).tobytes() for code in range(8)}
    assert len(results) == 8
    flipped = dihedral_view(square, 1)
    np.testing.assert_array_equal(flipped[0, :, :, 0], square[0, :, ::-1, 0])


def _batches(n_cells=40, seed=0, **kwargs):
    rng = np.random.default_rng(1)
    # Already min-max scaled, so the batches' on-the-fly scaling leaves them exactly as they are.
    crops = minmax_scale_crops(rng.random((n_cells, 8, 8, 3)))
    codes = np.repeat(np.arange(n_cells // 4), 4)
    source = MemoryCrops([crops], codes, 8, [0, 1, 2])
    return crops, PairBatches(source, n_protein_channels=1, batch_size=16, seed=seed, **kwargs)


def _find(crops, image):
    """Index and symmetry code of the crop that ``image`` is a transform of."""
    for index, crop in enumerate(crops):
        for code in range(8):
            if np.array_equal(dihedral_view(crop[np.newaxis], code)[0], image):
                return index, code
    raise AssertionError("not a transformed crop")


def test_batches_pair_different_cells_of_a_group_and_keep_target_channels_together():
    crops, batches = _batches()
    codes = np.repeat(np.arange(10), 4)
    assert batches.num_batches == 3
    seen_sources, source_codes, target_codes = [], [], []
    for index in range(batches.num_batches):
        inputs, target_protein = batches[index]
        target = np.concatenate([target_protein, inputs["y_rfp"]], axis=-1)
        assert inputs["x_in"].shape[1:] == (8, 8, 3) and inputs["y_rfp"].shape[1:] == (8, 8, 2)
        for source_image, target_image in zip(inputs["x_in"], target):
            source, source_code = _find(crops, source_image)
            partner, target_code = _find(crops, target_image)
            assert partner != source and codes[partner] == codes[source]
            seen_sources.append(source)
            source_codes.append(source_code)
            target_codes.append(target_code)
    assert sorted(seen_sources) == list(range(40))  # every cell is a source once per epoch
    # Flips of source and target are drawn independently.
    assert np.mean(np.array(source_codes) != np.array(target_codes)) > 0.4


def test_epochs_are_reproducible_and_differ_from_each_other():
    _, first = _batches(seed=5)
    _, second = _batches(seed=5)
    first.set_epoch(3)
    second.set_epoch(3)
    np.testing.assert_array_equal(first[1][0]["x_in"], second[1][0]["x_in"])
    second.set_epoch(4)
    assert not np.array_equal(first[1][0]["x_in"], second[1][0]["x_in"])


def test_no_augmentation_returns_crops_untouched():
    crops, batches = _batches(augment=False)
    inputs, _ = batches[0]
    for image in inputs["x_in"]:
        assert any(np.array_equal(image, crop) for crop in crops)


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


@pytest.mark.parametrize("workers", [1, 3])
def test_what_fit_reads_equals_the_batches_in_order(workers):
    _, batches = _batches(seed=2, workers=workers)
    batches.set_epoch(1)
    data = fit_input(batches)
    if keras.backend.backend() != "tensorflow":
        assert data is batches  # Keras reads the PyDataset in the main thread
        return
    read = list(data)
    assert len(read) == batches.num_batches
    for index, (inputs, target) in enumerate(read):
        expected_inputs, expected_target = batches[index]
        for name in ("x_in", "y_rfp"):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(inputs[name]), expected_inputs[name])
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(target), expected_target)


def test_stopped_batches_are_empty_and_stop_returns_once_nothing_reads():
    _, batches = _batches()
    inputs, target = batches[0]
    started = time.monotonic()
    batches.stop(quiet=0.1)
    assert time.monotonic() - started < 5
    stopped_inputs, stopped_target = batches[1]
    assert stopped_inputs["x_in"].shape == (0, *inputs["x_in"].shape[1:])
    assert stopped_inputs["y_rfp"].shape == (0, *inputs["y_rfp"].shape[1:])
    assert stopped_target.shape == (0, *target.shape[1:]) and stopped_target.dtype == target.dtype
