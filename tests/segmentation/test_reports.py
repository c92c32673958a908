"""What segmentation found, kept and dropped, and nuclei labelled by any segmenter (``method=``)."""

import json

import numpy as np
import pytest

from skpci import CellSegmenter, CropStore
from skpci.datasets import make_cell_images


@pytest.fixture(scope="module")
def field():
    return make_cell_images(n_images=1, image_size=128, cell_radius=8, random_state=0).images[0]


def test_counts_add_up_and_crops_that_leave_the_field_count_as_border(field):
    padded = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, border="pad").segment(field)
    dropped = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32).segment(field)
    assert padded.n_dropped_border == 0 and padded.n_cells > 5
    assert dropped.n_found == dropped.n_cells + dropped.n_dropped_border + dropped.n_dropped_small
    assert dropped.n_dropped_border > 0 and dropped.n_cells < padded.n_cells


def test_an_empty_bag_says_why(field):
    with pytest.warns(UserWarning, match=r"image 0: \d+ nuclei found, all dropped: \d+ at the border .*crop_size"):
        bags = CellSegmenter(nuclear_channel=1, scale=1, crop_size=120).transform([field])
    assert len(bags[0]) == 0
    big = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10_000).segment(field)
    assert big.n_cells == 0 and big.n_dropped_small > 5
    assert "as smaller than min_nucleus_area" in big.why_empty()


def _known_labels(nuclear):
    """A stand-in for Cellpose: three nuclei with non-consecutive labels, one at the border."""
    labels = np.zeros(nuclear.shape, dtype=np.uint16)
    labels[30:40, 30:40] = 7
    labels[60:70, 80:90] = 250
    labels[0:6, 50:60] = 3
    return labels


def test_a_callable_method_gives_one_crop_per_labelled_nucleus(field):
    padded = CellSegmenter(nuclear_channel=1, scale=1, crop_size=16, method=_known_labels, border="pad")
    result = padded.segment(field)
    assert result.n_cells == 3 and sorted(np.unique(result.labels))[1:] == [3, 7, 250]
    np.testing.assert_allclose(sorted(map(tuple, result.centroids)), [(2.5, 54.5), (34.5, 34.5), (64.5, 84.5)])
    dropped = CellSegmenter(nuclear_channel=1, scale=1, crop_size=16, method=_known_labels).segment(field)
    assert (dropped.n_cells, dropped.n_dropped_border) == (2, 1)
    bags = CellSegmenter(nuclear_channel=1, scale=1, crop_size=16, method=_known_labels, n_jobs=2).transform(
        [field, field])
    assert [len(bag) for bag in bags] == [2, 2]


@pytest.mark.parametrize("method, message", [
    (lambda image: image > 0.5, "label it first"),
    (lambda image: np.zeros((3, 3), dtype=int), r"shape of the nuclear image \(128, 128\)"),
    (lambda image: -np.ones(image.shape, dtype=int), "non-negative"),
])
def test_a_callable_returning_no_label_image_is_refused(field, method, message):
    with pytest.raises(ValueError, match=message):
        CellSegmenter(nuclear_channel=1, scale=1, crop_size=16, method=method).segment(field)


def test_to_store_records_what_each_field_lost(tmp_path, field):
    store = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32).to_store([field, field[:, ::-1]],
                                                                            tmp_path / "store", names=["a", "b"])
    for row in store.images.itertuples():
        counts = row.metadata["segmentation"]
        assert counts["kept"] == row.n_cells
        assert counts["found"] == counts["kept"] + counts["dropped_border"] + counts["dropped_small"]
    json.dumps(list(store.images["metadata"]))  # plain JSON, readable by any tool
    assert len(CropStore(store.path)) == store.images["n_cells"].sum()


def test_a_store_refuses_fields_segmented_with_other_settings(tmp_path, field):
    CellSegmenter(nuclear_channel=1, scale=1, crop_size=32).to_store([field], tmp_path / "store", names=["a"])
    with pytest.raises(ValueError, match=r"made with crop_size=32, scale=1.0; this run asks for crop_size=16, "
                                         r"scale=0\.5"):
        CellSegmenter(nuclear_channel=1, scale=0.5, crop_size=16).to_store([field], tmp_path / "store", names=["b"])
    again = CellSegmenter(nuclear_channel=1, scale=1, crop_size=32).to_store([field, field], tmp_path / "store",
                                                                            names=["a", "b"])
    assert again.n_images == 2 and again.settings["crop_size"] == 32


def test_fields_with_their_own_masks_are_cropped_around_them(tmp_path, field):
    import tifffile

    mask = _known_labels(field[..., 1])
    result = CellSegmenter(nuclear_channel=1, scale=1, crop_size=16, border="pad").segment(field, mask=mask)
    assert result.n_cells == 3
    half = CellSegmenter(nuclear_channel=1, scale=0.5, crop_size=16, border="pad").segment(field, mask=mask)
    assert half.n_cells == 3 and half.labels.shape == field.shape[:2]
    np.testing.assert_allclose(sorted(map(tuple, half.centroids)), sorted(map(tuple, result.centroids)), atol=1.5)
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    bags = CellSegmenter(nuclear_channel=1, scale=1, crop_size=16).transform(
        [field, field], masks=[mask, str(tmp_path / "mask.tif")])
    assert [len(bag) for bag in bags] == [2, 2]
    store = CellSegmenter(nuclear_channel=1, scale=1, crop_size=16).to_store([field], tmp_path / "s", names=["a"],
                                                                            masks=[mask])
    assert len(store) == 2
    huge_ids = np.where(mask > 0, mask.astype(np.uint64) + 2**31, 0)  # e.g. ids from a tracking database
    assert CellSegmenter(nuclear_channel=1, scale=1, crop_size=16, border="pad").segment(
        field, mask=huge_ids).n_cells == 3
    with pytest.raises(ValueError, match="one label image .* per field"):
        CellSegmenter(nuclear_channel=1, scale=1, crop_size=16).transform([field], masks=[mask, mask])
    with pytest.raises(ValueError, match=r"field's size \(128, 128\)"):
        CellSegmenter(nuclear_channel=1, scale=1, crop_size=16).segment(field, mask=mask[:64])


def test_fit_settles_the_sizes_once_and_explicit_ones_still_win(field):
    fields = [field, field[::-1]]
    segmenter = CellSegmenter(nuclear_channel=1).fit(fields)
    assert segmenter.scale_ == 1.0 and segmenter.crop_size_ % 4 == 0 and 5 < segmenter.nucleus_diameter_ < 12
    bags = segmenter.transform([field[:, :100], field])  # one crop size for every field
    assert {bag.shape[1] for bag in bags} == {segmenter.crop_size_}
    assert segmenter.set_params(crop_size=24).transform([field])[0].shape[1] == 24
