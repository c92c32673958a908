"""Evaluation: how well features separate known localizations, next to reference features.

* :mod:`._knn`: kNN accuracy with folds by image or field (never by cell), per layer;
* :mod:`._spaces`: the feature spaces distances are measured in;
* :mod:`._retrieval`: mean average precision of same-label retrieval across fields (copairs);
* :mod:`._probes`: how much features lean on the neighbouring cells in a crop;
* :mod:`._baselines`: reference features (brightness, raw pixels, hand-crafted).
"""

from ..preprocessing import central_cell_mask, mask_background
from ._baselines import HANDCRAFTED_NAMES, brightness_features, handcrafted_features, pixel_features
from ._knn import (
    benchmark_scores,
    describe_shortfalls,
    knn_scores,
    layer_benchmark,
    layer_features,
    training_shortfalls,
)
from ._probes import background_probe
from ._retrieval import map_scores
from ._spaces import FEATURE_SPACES, feature_space

__all__ = [
    "FEATURE_SPACES",
    "HANDCRAFTED_NAMES",
    "background_probe",
    "benchmark_scores",
    "brightness_features",
    "describe_shortfalls",
    "central_cell_mask",
    "feature_space",
    "handcrafted_features",
    "knn_scores",
    "layer_benchmark",
    "layer_features",
    "map_scores",
    "mask_background",
    "pixel_features",
    "training_shortfalls",
]
