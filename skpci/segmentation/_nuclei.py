"""Labelling the nuclei of one nuclear-stain image, at any nucleus size.

The authors' recipe (smooth, threshold, remove small holes and objects,
clear the border) with touching nuclei split by a watershed on the distance
transform. Every size in it follows the nucleus diameter, given or estimated
from the image (as Cellpose estimates cell size), so the same defaults work
on 15 px yeast-like nuclei and on 60 px lobed HPA nuclei: a footprint scaled
to the diameter keeps one large or kidney-shaped nucleus whole and still
separates small touching ones. (Two alternatives were measured and left out:
h-maxima of the distance transform and an intensity-valley merge test cost
8–15 points of recall on ``nuclei_gt`` and gained little on large nuclei; see
docs/benchmarks.md.)
"""

import numpy as np
from scipy import ndimage as ndi
from skimage import feature, filters, measure, morphology, segmentation

#: Threshold methods by name (scikit-image functions of one image).
THRESHOLDS = {
    "otsu": filters.threshold_otsu,
    "li": filters.threshold_li,
    "triangle": filters.threshold_triangle,
    "yen": filters.threshold_yen,
    "isodata": filters.threshold_isodata,
    "mean": filters.threshold_mean,
}

#: Diameter (pixels) assumed when an image shows no object to measure.
FALLBACK_DIAMETER = 20.0


#: Fewest float32 levels across an image's range that its values may keep before the offset is removed.
MIN_FLOAT32_LEVELS = 2**16


def offset_free(image):
    """``image`` as float32, with its minimum subtracted first (in float64) if float32 would lose it.

    Thresholds and smoothing do not depend on a constant offset, but float32
    does: a uint32 or float64 image at, say, 2**31 + a few thousand keeps only
    a handful of float32 levels, too few for a 256-bin histogram. Images
    whose range float32 resolves finely (every 8- and 16-bit image) are only
    cast, so their segmentation does not change.

    Returns
    -------
    image : ndarray of float32
    offset : float
        What was subtracted (0.0 if nothing): an absolute intensity ``t`` of
        the input is ``t - offset`` in the result.

    Examples
    --------
    >>> offset_free(np.array([2**31 + 1, 2**31 + 2], dtype=np.uint32))
    (array([0., 1.], dtype=float32), 2147483649.0)
    >>> offset_free(np.array([100, 300], dtype=np.uint16))
    (array([100., 300.], dtype=float32), 0.0)
    """
    image = np.asarray(image)
    if not float32_loses_offset(image):
        return image.astype(np.float32), 0.0
    offset = float(np.min(image))
    return (image.astype(np.float64) - offset).astype(np.float32), offset


def float32_loses_offset(image):
    """Whether float32 keeps fewer than ``MIN_FLOAT32_LEVELS`` levels across a non-constant ``image``'s range."""
    if image.size == 0:
        return False
    low, high = float(np.min(image)), float(np.max(image))
    return 0 < high - low < MIN_FLOAT32_LEVELS * np.spacing(np.float32(max(abs(low), abs(high))))


def estimate_nucleus_diameter(nuclear):
    """Typical nucleus diameter of one nuclear-stain image, in pixels.

    The median equivalent diameter of Otsu objects that do not touch the
    border, preferring convex ones (solidity > 0.9: single nuclei, not
    clumps). Large images are measured binned to about 512 px, and at a finer
    binning when nuclei come out smaller than 10 binned pixels.

    Parameters
    ----------
    nuclear : ndarray of shape (H, W)

    Returns
    -------
    diameter : float or None
        None when the image shows no object.

    Examples
    --------
    >>> from skpci.datasets import make_cell_images
    >>> field = make_cell_images(n_images=1, image_size=128, cell_radius=8, random_state=0).images[0]
    >>> 5 < estimate_nucleus_diameter(field[..., 1]) < 10  # nuclei of 16 px cells
    True
    """
    nuclear, _ = offset_free(nuclear)
    step = max(1, int(np.ceil(max(nuclear.shape) / 512)))
    while True:
        diameter = _binned_diameter(nuclear, step)
        if diameter is None or step == 1 or diameter / step >= 10:
            return diameter
        step //= 2


def _binned_diameter(nuclear, step):
    """:func:`estimate_nucleus_diameter` on the image binned ``step`` x ``step``, in full-size pixels."""
    if step > 1:
        height, width = nuclear.shape[0] // step * step, nuclear.shape[1] // step * step
        nuclear = nuclear[:height, :width].reshape(height // step, step, width // step, step).mean(axis=(1, 3))
    smoothed = filters.gaussian(nuclear, sigma=1.0, preserve_range=True)
    if np.ptp(smoothed) == 0:
        return None
    mask = morphology.remove_small_objects(smoothed > filters.threshold_otsu(smoothed), max_size=15)
    height, width = mask.shape
    regions = measure.regionprops(measure.label(mask))
    inner = [r for r in regions if r.bbox[0] > 0 and r.bbox[1] > 0 and r.bbox[2] < height and r.bbox[3] < width]
    chosen = [r for r in inner if r.solidity > 0.9] or inner or regions
    if not chosen:
        return None
    return float(np.median([r.equivalent_diameter_area for r in chosen])) * step


def size_settings(diameter):
    """The sizes of the recipe for nuclei of ``diameter`` pixels.

    Returns
    -------
    settings : dict
        ``sigma`` (smoothing, d/20, at least 0.5), ``min_nucleus_area``
        (a disc of a third of the diameter), ``min_distance`` (between two
        nucleus centres when splitting, d/5).
    """
    return {"sigma": max(0.5, diameter / 20),
            "min_nucleus_area": max(4, int(np.pi * (diameter / 6) ** 2)),
            "min_distance": max(1, int(round(diameter / 5)))}


def segment_nuclei(nuclear, *, sigma=None, threshold="otsu", min_nucleus_area=None, split_touching=True,
                   min_distance=None, clear_border=True, nucleus_diameter=None, return_counts=False):
    """Label the nuclei of one nuclear-stain image.

    Parameters
    ----------
    nuclear : ndarray of shape (H, W)
        Any real dtype; a large constant offset (uint32 at 2**31, say) is
        removed before the float32 smoothing and threshold.
    sigma : float, optional
        Gaussian smoothing before thresholding, in pixels. Default: from
        the nucleus diameter (:func:`size_settings`).
    threshold : str or float, default="otsu"
        A method of :data:`THRESHOLDS`, or an absolute intensity.
    min_nucleus_area : int, optional
        Objects and holes smaller than this (pixels) are removed / filled.
        Default: from the nucleus diameter.
    split_touching : bool, default=True
        Separate touching nuclei by a watershed on the distance transform.
    min_distance : int, optional
        Smallest distance (pixels) between two nucleus centres when
        splitting. Default: from the nucleus diameter.
    clear_border : bool, default=True
        Drop nuclei that touch the image border.
    nucleus_diameter : float, optional
        Typical nucleus diameter in pixels of this image; estimated
        (:func:`estimate_nucleus_diameter`) when a size above is left out.
    return_counts : bool, default=False
        Also return what was dropped.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
    counts : dict
        Only with ``return_counts``: ``dropped_small`` (objects under
        ``min_nucleus_area``) and ``dropped_border`` (objects touching the
        border), counted before splitting, and ``diameter`` (the nucleus
        diameter the sizes followed, or None when all were given).
    """
    counts = {"dropped_small": 0, "dropped_border": 0, "diameter": None}
    if sigma is None or min_nucleus_area is None or min_distance is None:
        diameter = nucleus_diameter or estimate_nucleus_diameter(nuclear) or FALLBACK_DIAMETER
        derived = size_settings(diameter)
        sigma = derived["sigma"] if sigma is None else sigma
        min_nucleus_area = derived["min_nucleus_area"] if min_nucleus_area is None else min_nucleus_area
        min_distance = derived["min_distance"] if min_distance is None else min_distance
        counts["diameter"] = float(diameter)
    nuclear, offset = offset_free(nuclear)
    smoothed = filters.gaussian(nuclear, sigma=sigma, preserve_range=True) if sigma > 0 else nuclear
    if np.ptp(smoothed) == 0:
        empty = np.zeros(nuclear.shape, dtype=np.int32)
        return (empty, counts) if return_counts else empty
    level = THRESHOLDS[threshold](smoothed) if isinstance(threshold, str) else float(threshold) - offset
    mask = smoothed > level
    if min_nucleus_area > 1:
        mask = morphology.remove_small_holes(mask, max_size=min_nucleus_area - 1)
        before = ndi.label(mask)[1]
        mask = morphology.remove_small_objects(mask, max_size=min_nucleus_area - 1)
        counts["dropped_small"] = int(before - ndi.label(mask)[1])
    if clear_border:
        before = ndi.label(mask)[1]
        mask = segmentation.clear_border(mask)
        counts["dropped_border"] = int(before - ndi.label(mask)[1])
    labels = measure.label(mask)
    if split_touching and labels.max():
        distance = filters.gaussian(ndi.distance_transform_edt(mask), sigma=max(1.0, min_distance / 4),
                                    preserve_range=True)
        peaks = feature.peak_local_max(distance, min_distance=int(min_distance), labels=labels,
                                       exclude_border=False)
        markers = np.zeros_like(labels)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        labels = segmentation.watershed(-distance, markers, mask=mask)
        if min_nucleus_area > 1 and labels.max() > 1:
            labels = morphology.remove_small_objects(labels, max_size=min_nucleus_area - 1)
        labels, _, _ = segmentation.relabel_sequential(labels)
    labels = labels.astype(np.int32)
    return (labels, counts) if return_counts else labels
