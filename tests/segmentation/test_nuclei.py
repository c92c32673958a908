"""segment_nuclei: labelling nuclei, splitting touching ones."""

import numpy as np
import pytest
from skimage import measure

from skpci.segmentation import segment_nuclei


def test_splitting_separates_two_touching_discs():
    rr, cc = np.ogrid[:60, :80]
    two = ((rr - 30) ** 2 + (cc - 28) ** 2 < 144) | ((rr - 30) ** 2 + (cc - 50) ** 2 < 144)
    assert measure.label(two).max() == 1
    assert segment_nuclei(two.astype(float), split_touching=False).max() == 1
    assert segment_nuclei(two.astype(float), split_touching=True).max() == 2


def test_the_nucleus_diameter_is_estimated_at_any_size():
    from skpci.datasets import make_cell_images, make_nuclei
    from skpci.segmentation import estimate_nucleus_diameter

    large = make_nuclei(n_images=1, diameter=60, random_state=0).images[0, ..., 0]
    small = make_cell_images(n_images=1, image_size=128, cell_radius=8, random_state=0).images[0, ..., 1]
    assert 45 < estimate_nucleus_diameter(large) < 75
    assert 5 < estimate_nucleus_diameter(small) < 10  # nuclei are about half the cell
    assert estimate_nucleus_diameter(np.zeros((32, 32))) is None
    # Large images are measured at a lower resolution, in the same units
    upsampled = np.kron(large, np.ones((3, 3), dtype=np.float32))
    assert estimate_nucleus_diameter(upsampled) == pytest.approx(3 * estimate_nucleus_diameter(large), rel=0.15)


def test_sizes_follow_the_diameter():
    from skpci.segmentation import size_settings

    assert size_settings(15) == {"sigma": 0.75, "min_nucleus_area": 19, "min_distance": 3}
    assert size_settings(60) == {"sigma": 3.0, "min_nucleus_area": 314, "min_distance": 12}


def test_large_irregular_nuclei_stay_whole_and_touching_ones_are_split():
    from skpci.datasets import make_nuclei

    data = make_nuclei(n_images=3, diameter=60, random_state=1)
    whole = merged = truth = 0
    for image, nuclei in zip(data.images, data.nuclei):
        labels = segment_nuclei(image[..., 0], clear_border=False)
        areas = np.bincount(nuclei.ravel())
        for label in range(1, nuclei.max() + 1):
            pieces, sizes = np.unique(labels[nuclei == label], return_counts=True)
            truth += 1
            whole += ((pieces > 0) & (sizes > 0.1 * areas[label])).sum() == 1
        for label in range(1, labels.max() + 1):  # an object holding most of two nuclei merged them
            owners, sizes = np.unique(nuclei[labels == label], return_counts=True)
            merged += ((owners > 0) & (sizes > 0.5 * areas[owners])).sum() > 1
    assert truth > 25 and whole >= 0.9 * truth and merged <= 1
