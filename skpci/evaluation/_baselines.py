"""Reference features to compare learned features against.

Each baseline is a plain function from a ``(n_cells, h, w, C)`` crop stack to
a ``(n_cells, n_features)`` table, so it runs on exactly the cells and folds
the learned features see.
"""

import numpy as np

from ..preprocessing import minmax_scale_crops, resize_crops


def brightness_features(crops, protein_channels=(0,)):
    """Mean and maximum raw intensity of each protein channel, per cell.

    No localization information at all: a benchmark score reached by this
    baseline measures expression level, not localization.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, h, w, C)
    protein_channels : sequence of int, default=(0,)

    Returns
    -------
    features : ndarray of float32, shape (n_cells, 2 * len(protein_channels))

    Examples
    --------
    >>> import numpy as np
    >>> crops = np.zeros((1, 8, 8, 2)); crops[0, 0, 0, 0] = 4.0
    >>> brightness_features(crops)
    array([[0.0625, 4.    ]], dtype=float32)
    """
    protein = np.asarray(crops, dtype=np.float32)[..., list(protein_channels)]
    return np.concatenate(
        [protein.mean(axis=(1, 2)), protein.max(axis=(1, 2))], axis=1
    ).astype(np.float32)


def pixel_features(crops, protein_channels=(0,), size=16):
    """Raw pixels of the protein channel(s), per-crop min-max scaled and downsampled.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, h, w, C)
    protein_channels : sequence of int, default=(0,)
    size : int, default=16
        Side of the downsampled crop.

    Returns
    -------
    features : ndarray of float32, shape (n_cells, size * size * len(protein_channels))
    """
    protein = np.asarray(crops, dtype=np.float32)[..., list(protein_channels)]
    scaled = minmax_scale_crops(resize_crops(protein, size))
    return scaled.reshape(len(scaled), -1)


#: Names of the columns :func:`handcrafted_features` returns, per protein channel.
HANDCRAFTED_NAMES = (
    [f"intensity_{name}" for name in ("mean", "std", "skew", "kurtosis", "p10", "p50", "p90")]
    + [f"haralick_{name}" for name in ("contrast", "dissimilarity", "homogeneity", "energy", "correlation")]
    + [f"lbp_{k}" for k in range(10)]
    + [f"radial_{k}" for k in range(5)]
    + ["objects_area_fraction", "objects_count", "objects_mean_area", "objects_eccentricity",
       "objects_solidity"]
)


def handcrafted_features(crops, protein_channels=(0,), *, n_jobs=None):
    """Classic per-cell features of the protein channel, as CellProfiler-style pipelines measure.

    Each crop's protein channel is min-max scaled first (the same per-crop
    normalization the network sees), then described by intensity statistics,
    Haralick texture, a local-binary-pattern histogram, a radial profile from
    the crop centre (where the nucleus is) and properties of its bright objects
    (Otsu threshold). See :data:`HANDCRAFTED_NAMES`.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, h, w, C)
    protein_channels : sequence of int, default=(0,)
    n_jobs : int, optional
        joblib workers.

    Returns
    -------
    features : ndarray of float32, shape (n_cells, 32 * len(protein_channels))
    """
    from joblib import delayed

    from .._parallel import workers

    protein = minmax_scale_crops(np.asarray(crops, dtype=np.float32)[..., list(protein_channels)])
    rows = workers(n_jobs=n_jobs)(
        delayed(_describe_cell)(protein[start:start + 256]) for start in range(0, len(protein), 256)
    )
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 32), dtype=np.float32)


def _describe_cell(block):
    return np.array([
        np.concatenate([_describe_plane(crop[..., c]) for c in range(crop.shape[-1])]) for crop in block
    ]).reshape(len(block), -1)


def _describe_plane(plane):
    from scipy import stats
    from skimage.feature import graycomatrix, graycoprops, local_binary_pattern
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    values = plane.ravel()
    intensity = [values.mean(), values.std(), stats.skew(values), stats.kurtosis(values),
                 *np.percentile(values, [10, 50, 90])]
    levels = np.clip((plane * 31).round(), 0, 31).astype(np.uint8)
    matrix = graycomatrix(levels, distances=[1, 2], angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4],
                          levels=32, symmetric=True, normed=True)
    haralick = [graycoprops(matrix, prop).mean() for prop in
                ("contrast", "dissimilarity", "homogeneity", "energy", "correlation")]
    lbp = local_binary_pattern(levels, P=8, R=1, method="uniform")
    lbp_histogram = np.bincount(lbp.astype(int).ravel(), minlength=10)[:10] / lbp.size
    rows, cols = np.indices(plane.shape)
    radius = np.hypot(rows - (plane.shape[0] - 1) / 2, cols - (plane.shape[1] - 1) / 2)
    ring = np.minimum((radius / (radius.max() + 1e-9) * 5).astype(int), 4)
    radial = np.bincount(ring.ravel(), weights=values, minlength=5) / np.maximum(np.bincount(ring.ravel()), 1)
    radial = radial / (radial.sum() + 1e-9)
    objects = [0.0, 0.0, 0.0, 0.0, 0.0]
    if np.ptp(plane) > 0:
        mask = plane > threshold_otsu(plane)
        regions = regionprops(label(mask))
        if regions:
            largest = max(regions, key=lambda r: r.area)
            objects = [mask.mean(), len(regions), np.mean([r.area for r in regions]) / plane.size,
                       largest.eccentricity, largest.solidity]
    features = np.array(intensity + haralick + list(lbp_histogram) + list(radial) + objects, dtype=np.float64)
    return np.nan_to_num(features)
