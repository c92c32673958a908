"""Probes of what features lean on: the neighbouring cells in a crop.

A crop centred on one cell also shows parts of its neighbours. Gupta, Moses &
Lu (MLCB 2025) found that features of paired cell inpainting, PIFiA and
DeepLoc on yeast shift with those neighbours. :func:`mask_background` keeps
only the central cell (found in a marker channel); :func:`background_probe`
scores features with and without the neighbours, so the difference shows how
much a result owes to them.
"""

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from ._knn import knn_scores, layer_features


def central_cell_mask(plane, *, sigma=1.0, dilate=1):
    """The central cell of one crop, from a marker plane that shows whole cells (cytosol, membrane).

    The plane is smoothed and thresholded (Otsu), holes are filled, and
    touching cells are split by a watershed of the distance to the
    background; the region under the centre (or nearest to it) is the cell,
    grown by ``dilate`` pixels. A plane without contrast gives an all-true
    mask.

    Returns
    -------
    mask : ndarray of bool, shape plane.shape
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    smooth = ndi.gaussian_filter(np.asarray(plane, dtype=np.float32), sigma) if sigma else np.asarray(plane)
    if float(smooth.max()) <= float(smooth.min()):
        return np.ones(plane.shape, dtype=bool)
    foreground = ndi.binary_fill_holes(smooth > threshold_otsu(smooth))
    if not foreground.any():
        return np.ones(plane.shape, dtype=bool)
    distance = ndi.distance_transform_edt(foreground)
    components, _ = ndi.label(foreground)
    peaks = peak_local_max(distance, min_distance=max(2, min(plane.shape) // 8), labels=components,
                           exclude_border=False)
    markers = np.zeros(plane.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    regions = watershed(-distance, markers, mask=foreground) if len(peaks) else components
    center = tuple(size // 2 for size in plane.shape)
    chosen = regions[center]
    if chosen == 0:  # the centre fell in a gap: take the region nearest to it
        rows, cols = np.nonzero(regions)
        nearest = np.argmin((rows - center[0]) ** 2 + (cols - center[1]) ** 2)
        chosen = regions[rows[nearest], cols[nearest]]
    mask = regions == chosen
    return ndi.binary_dilation(mask, iterations=dilate) if dilate else mask


def mask_background(crops, marker_channel, *, sigma=1.0, dilate=1):
    """Crops with everything outside the central cell set to each channel's minimum in that crop.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, h, w, C)
    marker_channel : int
        A channel that shows whole cells (cytosol, membrane), not only nuclei.
    sigma, dilate
        As for :func:`central_cell_mask`.

    Returns
    -------
    masked : ndarray, same shape and dtype as ``crops``
    """
    crops = np.asarray(crops)
    if crops.ndim != 4:
        raise ValueError(f"crops must be (n_cells, h, w, C), got shape {crops.shape}.")
    if not 0 <= marker_channel < crops.shape[-1]:
        raise ValueError(f"marker_channel={marker_channel}, but the crops have {crops.shape[-1]} channels.")
    masked = crops.copy()
    for index, crop in enumerate(crops):
        mask = central_cell_mask(crop[..., marker_channel], sigma=sigma, dilate=dilate)
        floor = crop.reshape(-1, crop.shape[-1]).min(axis=0)
        masked[index][~mask] = floor
    return masked


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
    as_is = layer_features(featurizer, crops, layers)
    masked = layer_features(featurizer, mask_background(crops, marker_channel), layers)
    rows = []
    for layer in layers:
        before = knn_scores(as_is[layer], labels, groups, n_neighbors=n_neighbors, cv=cv)["accuracy"]
        after = knn_scores(masked[layer], labels, groups, n_neighbors=n_neighbors, cv=cv)["accuracy"]
        rows.append({"layer": layer, "accuracy": before, "accuracy_masked": after, "change": after - before})
    return pd.DataFrame(rows)
