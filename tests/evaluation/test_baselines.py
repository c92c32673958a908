"""Reference features: what each baseline measures and what it ignores."""

import numpy as np

from skpci.evaluation import brightness_features


def test_brightness_ignores_where_the_protein_is():
    crop = np.zeros((2, 8, 8, 1))
    crop[0, 1, 1] = 1.0
    crop[1, 6, 5] = 1.0
    features = brightness_features(crop)
    np.testing.assert_array_equal(features[0], features[1])
