"""segment_nuclei: labelling nuclei, splitting touching ones."""

import numpy as np
from skimage import measure

from skpci.segmentation import segment_nuclei


def test_splitting_separates_two_touching_discs():
    rr, cc = np.ogrid[:60, :80]
    two = ((rr - 30) ** 2 + (cc - 28) ** 2 < 144) | ((rr - 30) ** 2 + (cc - 50) ** 2 < 144)
    assert measure.label(two).max() == 1
    assert segment_nuclei(two.astype(float), split_touching=False).max() == 1
    assert segment_nuclei(two.astype(float), split_touching=True).max() == 2
