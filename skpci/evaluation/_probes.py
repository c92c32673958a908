"""Probes of what features lean on: the neighbouring cells in a crop.

A crop centred on one cell also shows parts of its neighbours. Gupta, Moses &
Lu (MLCB 2025) found that features of paired cell inpainting, PIFiA and
DeepLoc on yeast shift with those neighbours.
:func:`~skpci.preprocessing.mask_background` keeps only the central cell
(found in a marker channel); :func:`background_probe`
scores features with and without the neighbours, so the difference shows how
much a result owes to them.
"""

import pandas as pd

from ..preprocessing import mask_background
from ._knn import knn_scores, layer_features


def background_probe(featurizer, crops, labels, groups, *, marker_channel, layers=("conv3_1", "conv4_1"),
                     n_neighbors=5, cv=None):
    """kNN accuracy per layer with the neighbouring cells in the crops, and with them masked out.

    Parameters
    ----------
    featurizer : PairedInpaintingFeaturizer
        Fitted.
    crops : ndarray of shape (n_cells, h, w, C)
    labels, groups : array-like of shape (n_cells,)
    marker_channel : int
        The channel of ``crops`` that outlines whole cells (see :func:`mask_background`).
    layers : sequence of str, default=("conv3_1", "conv4_1")
    n_neighbors : int, default=5
    cv : cross-validation splitter, optional

    Returns
    -------
    table : pandas.DataFrame
        Per layer: ``accuracy`` as the crops are, ``accuracy_masked`` with
        only the central cell, and ``change`` (masked minus as is). A large
        change means the features (or the labels) lean on the neighbours.
    """
    # A featurizer that masks by itself would see central cells both times.
    masking = featurizer.get_params()["mask_neighbours"]
    featurizer.set_params(mask_neighbours=False)
    try:
        as_is = layer_features(featurizer, crops, layers)
        masked = layer_features(featurizer, mask_background(crops, marker_channel), layers)
    finally:
        featurizer.set_params(mask_neighbours=masking)
    rows = []
    for layer in layers:
        before = knn_scores(as_is[layer], labels, groups, n_neighbors=n_neighbors, cv=cv)["accuracy"]
        after = knn_scores(masked[layer], labels, groups, n_neighbors=n_neighbors, cv=cv)["accuracy"]
        rows.append({"layer": layer, "accuracy": before, "accuracy_masked": after, "change": after - before})
    return pd.DataFrame(rows)
