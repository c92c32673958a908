"""Evaluation: how well features separate known localizations, next to reference features.

* :mod:`._knn`: kNN accuracy with folds by image or field (never by cell), per layer;
* :mod:`._baselines`: reference features (brightness, raw pixels, hand-crafted).
"""

from ._baselines import HANDCRAFTED_NAMES, brightness_features, handcrafted_features, pixel_features
from ._knn import knn_scores, layer_benchmark, layer_features

__all__ = [
    "HANDCRAFTED_NAMES",
    "brightness_features",
    "handcrafted_features",
    "knn_scores",
    "layer_benchmark",
    "layer_features",
    "pixel_features",
]
