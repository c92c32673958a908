"""Localization benchmarks: how well do features separate known classes?

The standard evaluation of the paper: a k-nearest-neighbour classifier on
standardized features, cross-validated with folds by image or field of view
(never by cell: cells of one field share imaging conditions), per layer.
"""

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._network import FEATURE_LAYERS, layer_width

_SCORES = ("accuracy", "balanced_accuracy")


def knn_scores(features, labels, groups, *, n_neighbors=5, cv=None):
    """Cross-validated kNN accuracy of ``features`` for ``labels``.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,)
        Fold groups (image or field of view); a group is never split.
    n_neighbors : int, default=5
    cv : cross-validation splitter, optional
        Default: ``StratifiedGroupKFold`` with up to 5 folds, so every fold
        sees every class when the groups allow it.

    Returns
    -------
    scores : dict
        ``accuracy``, ``accuracy_std``, ``balanced_accuracy``,
        ``balanced_accuracy_std`` over folds, and ``n_folds``.
    """
    groups = np.asarray(groups)
    if cv is None:
        cv = StratifiedGroupKFold(n_splits=min(5, len(np.unique(groups))))
    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=n_neighbors))
    result = cross_validate(model, np.asarray(features), np.asarray(labels), groups=groups,
                            cv=cv, scoring=list(_SCORES))
    scores = {}
    for name in _SCORES:
        folds = result[f"test_{name}"]
        scores[name] = float(np.mean(folds))
        scores[f"{name}_std"] = float(np.std(folds))
    scores["n_folds"] = len(result["test_accuracy"])
    return scores


def layer_benchmark(featurizer, X, labels, groups, *, layers=FEATURE_LAYERS, name="skpci",
                    n_neighbors=5, cv=None):
    """kNN scores of a fitted featurizer's features, one row per layer.

    Parameters
    ----------
    featurizer : PairedInpaintingFeaturizer
        Already fitted. All layers come from one pass of the encoder; the
        featurizer's ``layer`` is restored afterwards.
    X : ndarray of shape (n_cells, h, w, C), or list of bags
    labels, groups : array-like
        One per row of the features (per cell, or per bag).
    layers : sequence of str, default=all source-encoder layers
    name : str, default="skpci"
        Feature-set name in the table.
    n_neighbors : int, default=5
    cv : cross-validation splitter, optional

    Returns
    -------
    table : pandas.DataFrame
        Columns ``features``, ``layer``, then the scores of :func:`knn_scores`.
    """
    all_layers = _layer_features(featurizer, X, layers)
    return pd.DataFrame([
        {"features": name, "layer": layer,
         **knn_scores(features, labels, groups, n_neighbors=n_neighbors, cv=cv)}
        for layer, features in all_layers.items()
    ])


def _layer_features(featurizer, X, layers):
    """Features of several layers from one pass of the encoder, split by layer."""
    previous = featurizer.layer
    featurizer.set_params(layer=list(layers))
    try:
        features = featurizer.transform(X)
    finally:
        featurizer.set_params(layer=previous)
    bounds = np.cumsum([0] + [layer_width(layer) for layer in layers])
    return {layer: features[:, start:stop] for layer, start, stop in zip(layers, bounds[:-1], bounds[1:])}
