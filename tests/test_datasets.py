import numpy as np
import pytest
from skimage.measure import regionprops

from skpci.datasets import LOCALIZATIONS, crops_around_nuclei, make_cell_crops, make_cell_images


def test_fields_hold_many_cells_with_consistent_ground_truth():
    data = make_cell_images(n_images=7, image_size=160, cell_radius=10, random_state=0)
    assert data.images.shape == (7, 160, 160, 3) and data.images.dtype == np.float32
    assert list(data.labels) == list(LOCALIZATIONS)
    assert 0 <= data.images.min() and data.images.max() <= 1
    for nuclei, cells in zip(data.nuclei, data.cells):
        n = nuclei.max()
        assert n >= 5
        assert set(np.unique(nuclei)) == set(range(n + 1))
        # Every nucleus lies inside the cell of the same label.
        assert (cells[nuclei > 0] == nuclei[nuclei > 0]).all()


def test_some_nuclei_touch():
    data = make_cell_images(n_images=14, image_size=160, cell_radius=10, random_state=0)
    touching = 0
    for nuclei in data.nuclei:
        horizontal = (nuclei[:, 1:] != nuclei[:, :-1]) & (nuclei[:, 1:] > 0) & (nuclei[:, :-1] > 0)
        vertical = (nuclei[1:] != nuclei[:-1]) & (nuclei[1:] > 0) & (nuclei[:-1] > 0)
        touching += horizontal.any() or vertical.any()
    assert touching >= 1


def test_protein_pattern_follows_the_class():
    data = make_cell_images(n_images=7, image_size=160, cell_radius=10, noise=0, random_state=1)
    protein = data.images[..., 0]
    ratio = {}
    for label, image, nuclei, cells in zip(data.labels, protein, data.nuclei, data.cells):
        background = image[cells == 0].mean()
        nuclear = image[nuclei > 0].mean() - background
        cytoplasmic = image[(cells > 0) & (nuclei == 0)].mean() - background
        ratio[label] = nuclear / max(cytoplasmic, 1e-6)
    assert ratio["nucleus"] > 3 and ratio["nucleolus"] > 1
    assert ratio["cytoplasm"] < 0.7 and ratio["plasma_membrane"] < 0.5


def test_same_seed_same_images_and_different_seed_differs():
    a = make_cell_images(n_images=2, image_size=96, cell_radius=8, random_state=5)
    b = make_cell_images(n_images=2, image_size=96, cell_radius=8, random_state=5)
    c = make_cell_images(n_images=2, image_size=96, cell_radius=8, random_state=6)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_crops_are_centred_on_every_nucleus_including_the_last():
    data = make_cell_crops(n_images=3, image_size=128, cell_radius=8, crop_size=32, random_state=0)
    for bag, nuclei in zip(data.bags, data.nuclei):
        assert len(bag) == nuclei.max()
    assert data.cells.shape[1:] == (32, 32, 3)
    assert len(data.groups) == len(data.cells) == len(data.cell_labels)


def test_crop_around_a_known_nucleus_is_centred():
    image = np.zeros((40, 40, 1), dtype=np.float32)
    nuclei = np.zeros((40, 40), dtype=np.int32)
    nuclei[20:23, 5:8] = 1
    image[21, 6] = 1.0
    crop = crops_around_nuclei(image, nuclei, 10)
    assert crop.shape == (1, 10, 10, 1)
    (props,) = regionprops((crop[0, ..., 0] > 0).astype(int))
    assert props.centroid == (5.0, 5.0)


def test_unknown_localization_is_rejected():
    with pytest.raises(ValueError, match="Unknown localizations"):
        make_cell_images(n_images=1, localizations=("golgi",))
