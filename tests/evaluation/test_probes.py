"""The background probe: features with and without the neighbouring cells of a crop."""

import numpy as np
import pytest

from skpci.evaluation import background_probe, central_cell_mask, mask_background


def _crop_with_a_neighbour():
    yy, xx = np.mgrid[:32, :32]
    centre = (yy - 16) ** 2 + (xx - 16) ** 2 < 36
    neighbour = (yy - 4) ** 2 + (xx - 28) ** 2 < 16
    crop = np.zeros((32, 32, 2), np.float32)
    crop[..., 0] = np.where(centre, 5.0, 0) + np.where(neighbour, 9.0, 0)  # protein
    crop[..., 1] = np.where(centre | neighbour, 1.0, 0.1)  # a cytosol marker outlines both cells
    return crop, centre, neighbour


def test_only_the_central_cell_is_kept():
    crop, centre, neighbour = _crop_with_a_neighbour()
    mask = central_cell_mask(crop[..., 1], dilate=0)
    assert mask[centre].all() and not mask[neighbour].any()
    masked = mask_background(crop[np.newaxis], marker_channel=1, dilate=0)[0]
    assert masked[..., 0][neighbour].max() == 0 and masked[..., 0][centre].min() == 5
    np.testing.assert_allclose(masked[..., 1][neighbour], 0.1)  # set to the channel's minimum


def test_masking_in_parallel_chunks_gives_the_serial_result():
    crop, _, _ = _crop_with_a_neighbour()
    rng = np.random.default_rng(0)
    crops = crop[np.newaxis] * rng.uniform(0.5, 2.0, (10, 1, 1, 2)).astype(np.float32)
    crops = np.stack([np.rot90(c, k) for k, c in zip(range(10), crops)])  # the neighbour moves around
    serial = mask_background(crops, 1, n_jobs=1)
    np.testing.assert_array_equal(mask_background(crops, 1, n_jobs=2, chunk_size=3), serial)
    assert (serial != crops).any()


def test_a_flat_marker_keeps_everything_and_bad_channels_are_refused():
    assert central_cell_mask(np.ones((8, 8))).all()
    with pytest.raises(ValueError, match="marker_channel=2, but the crops have 2 channels"):
        mask_background(np.zeros((1, 8, 8, 2)), marker_channel=2)


def test_the_probe_reports_accuracy_with_and_without_neighbours(fitted_featurizer, synthetic_crops):
    table = background_probe(fitted_featurizer, synthetic_crops.cells, synthetic_crops.cell_labels,
                             synthetic_crops.groups, marker_channel=2, layers=("conv2_1", "conv3_1"))
    assert list(table["layer"]) == ["conv2_1", "conv3_1"]
    assert table[["accuracy", "accuracy_masked"]].apply(lambda column: column.between(0, 1)).all().all()
    np.testing.assert_allclose(table["change"], table["accuracy_masked"] - table["accuracy"])
