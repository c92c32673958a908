"""PairBatches: pairs within groups, independent flips, reproducible epochs, what fit reads."""

import time

import keras
import numpy as np
import pytest

from skpci.featurizer.training import PairBatches, fit_input
from skpci.featurizer.training._sources import MemoryCrops, dihedral_view
from skpci.preprocessing import minmax_scale_crops


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


def test_protein_jitter_scales_only_the_source_protein_and_keeps_pairs_and_flips():
    _, plain = _batches(seed=2)
    _, jittered = _batches(seed=2, protein_jitter=0.5)
    factors = []
    for index in range(plain.num_batches):
        (plain_inputs, plain_target), (inputs, target) = plain[index], jittered[index]
        # Markers, target and the pairs and flips they reveal are those of the run without jitter.
        np.testing.assert_array_equal(inputs["x_in"][..., 1:], plain_inputs["x_in"][..., 1:])
        np.testing.assert_array_equal(inputs["y_rfp"], plain_inputs["y_rfp"])
        np.testing.assert_array_equal(target, plain_target)
        protein, plain_protein = inputs["x_in"][..., 0], plain_inputs["x_in"][..., 0]
        per_crop = protein.max(axis=(1, 2)) / plain_protein.max(axis=(1, 2))
        np.testing.assert_allclose(protein, plain_protein * per_crop[:, None, None], rtol=1e-6)
        factors.extend(per_crop)
    assert 0.5 <= min(factors) and max(factors) <= 1.0
    assert np.std(factors) > 0.1  # spread over the range, not a constant
    jittered.set_epoch(0)
    np.testing.assert_array_equal(jittered[0][0]["x_in"], _batches(seed=2, protein_jitter=0.5)[1][0][0]["x_in"])


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
