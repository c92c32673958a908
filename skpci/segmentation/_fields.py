"""From a whole field to single-cell crops: load, downsample, find nuclei, crop.

The authors' Human Protein Atlas recipe, as plain functions: downsample,
label the nuclei (:func:`~skpci.segmentation.segment_nuclei`) and cut square
crops around their centroids; every nucleus, the last one included, gets a
crop.

Functions here are pure and module-level so joblib (or a dask/ray backend)
can run them in workers; :class:`skpci.CellSegmenter` is a thin estimator
shell over :func:`segment_field`.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage import measure, segmentation, transform

from ..io import read_image
from ..preprocessing import check_pixel_dtype, check_pixel_values
from ._nuclei import FALLBACK_DIAMETER, estimate_nucleus_diameter, float32_loses_offset, segment_nuclei

#: Largest integer magnitude up to which float32 holds every integer.
FLOAT32_EXACT_INTEGERS = 2**24

BORDERS = ("drop", "pad")
#: Built-in ways to label nuclei; ``method`` may also be a callable.
METHODS = ("watershed", "otsu")
#: Nucleus diameter (scaled pixels) that ``scale="auto"`` aims at: the authors' HPA crops at scale 0.25.
TARGET_DIAMETER = 36.0
#: Crop side per nucleus diameter for ``crop_size="auto"`` (128 px crops around 36 px nuclei).
CROP_PER_DIAMETER = 3.5


def resolve_sizes(fields, *, nuclear_channel=0, nucleus_diameter=None, scale="auto", crop_size="auto", sample=8,
                  need_diameter=False):
    """Settle the sizes left to the data: the nucleus diameter, ``scale="auto"``, ``crop_size="auto"``.

    Parameters
    ----------
    fields : sequence of fields
        Arrays or file references; up to ``sample`` of them, spread over the
        sequence, are read to estimate the nucleus diameter.
    nuclear_channel : int, default=0
    nucleus_diameter : float, optional
        Known diameter in input pixels (then nothing is read).
    scale : float or "auto", default="auto"
    crop_size : int or "auto", default="auto"
    sample : int, default=8
    need_diameter : bool, default=False
        Estimate the diameter even when scale and crop size are given
        (other sizes follow it), once for all fields.

    Returns
    -------
    nucleus_diameter : float or None
        In input pixels; None when not needed or when no field shows nuclei.
    scale : float
    crop_size : int
    """
    diameter = nucleus_diameter
    if diameter is None and (need_diameter or "auto" in (scale, crop_size)) and len(fields):
        picks = np.unique(np.linspace(0, len(fields) - 1, min(sample, len(fields))).round().astype(int))
        estimates = []
        for index in picks:
            try:
                image = load_field(fields[index], name=f"image {index}")
            except (ValueError, OSError):
                continue  # a field that cannot be read is reported when it is segmented
            if not 0 <= nuclear_channel < image.shape[-1]:
                raise ValueError(f"image {index}: nuclear_channel={nuclear_channel}, but the image has "
                                 f"{image.shape[-1]} channel(s).")
            nuclear = image[..., nuclear_channel]
            if nuclear.dtype.kind == "f" and not np.isfinite(nuclear).all():
                continue  # reported when it is segmented
            estimates.append(estimate_nucleus_diameter(nuclear))
        estimates = [value for value in estimates if value]
        diameter = float(np.median(estimates)) if estimates else None
    if scale == "auto":
        scale = 1.0 if diameter is None else round(min(1.0, TARGET_DIAMETER / diameter), 4)
    if crop_size == "auto":
        scaled = (diameter or FALLBACK_DIAMETER) * scale
        crop_size = max(16, 4 * int(round(CROP_PER_DIAMETER * scaled / 4)))
    return (None if diameter is None else round(float(diameter), 2)), float(scale), int(crop_size)


@dataclass
class Segmentation:
    """What segmenting one field found.

    Attributes
    ----------
    labels : ndarray of int32, shape (H, W)
        Nucleus labels at the input image's resolution (0 = background).
    centroids : ndarray of float, shape (n_cells, 2)
        (row, column) of each cropped nucleus, in input-image pixels.
    boxes : ndarray of int, shape (n_cells, 4)
        Crop windows (top, left, bottom, right), in input-image pixels; they
        may reach outside the image with ``border="pad"``.
    crops : ndarray of float32, shape (n_cells, crop_size, crop_size, C)
        Crops of the downsampled field, every channel (float64 for an
        integer field with values beyond 2**24, which float32 cannot hold
        exactly).
    source_dtype : numpy.dtype
        Pixel type of the input field.
    n_dropped_small : int
        Objects left out as smaller than ``min_nucleus_area``.
    n_dropped_border : int
        Nuclei left out because they touch the border or their crop would
        leave the field (``border="drop"``).
    """

    labels: np.ndarray
    centroids: np.ndarray
    boxes: np.ndarray
    crops: np.ndarray
    source_dtype: np.dtype = np.dtype(np.float32)
    n_dropped_small: int = 0
    n_dropped_border: int = 0

    @property
    def n_cells(self):
        """Nuclei kept: one crop each."""
        return len(self.crops)

    @property
    def n_found(self):
        """Every object the segmentation found, kept or dropped."""
        return self.n_cells + self.n_dropped_small + self.n_dropped_border

    def counts(self):
        """``{"found", "kept", "dropped_border", "dropped_small"}``, for reports."""
        return {"found": self.n_found, "kept": self.n_cells, "dropped_border": self.n_dropped_border,
                "dropped_small": self.n_dropped_small}

    def why_empty(self):
        """Why no crop was kept, in words (None when some were)."""
        if self.n_cells:
            return None
        if not self.n_found:
            return "no nuclei found (is the nuclear channel right?)"
        reasons = []
        if self.n_dropped_border:
            reasons.append(f"{self.n_dropped_border} at the border (crops would leave the field: use a "
                           "smaller crop_size, a larger scale, or border='pad')")
        if self.n_dropped_small:
            reasons.append(f"{self.n_dropped_small} as smaller than min_nucleus_area")
        return f"{self.n_found} nuclei found, all dropped: " + "; ".join(reasons)


def load_field(field, *, name="image"):
    """Turn an image or a file reference into a ``(H, W, C)`` array.

    Parameters
    ----------
    field : ndarray, str, path-like, or tuple of those
        An array ``(H, W)`` or ``(H, W, C)``; a path to one (multi-channel)
        image file; or a tuple of paths, one single-channel file per channel.
    name : str
        How to call the image in error messages.

    Returns
    -------
    image : ndarray of shape (H, W, C)
    """
    if isinstance(field, (str, Path)):
        image = read_image(field)
        if image.ndim == 3 and image.shape[0] <= 8 < min(image.shape[1:]):
            image = np.moveaxis(image, 0, -1)  # channels-first TIFF
        name = f"{name} ({field})"
    elif isinstance(field, (tuple, list)) and field and all(isinstance(p, (str, Path)) for p in field):
        planes = [read_image(path) for path in field]
        for path, plane in zip(field, planes):
            if plane.ndim != 2:
                raise ValueError(f"{name}: channel file {str(path)!r} is not single-channel "
                                 f"(shape {plane.shape}).")
        if len({plane.shape for plane in planes}) > 1:
            raise ValueError(f"{name}: channel files differ in size: {[str(p) for p in field]}.")
        image = np.stack(planes, axis=-1)
    else:
        image = np.asarray(field)
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.ndim != 3:
        raise ValueError(f"{name}: expected an image of shape (height, width, channels), got {image.shape}.")
    check_pixel_dtype(image.dtype, name)
    if 0 in image.shape:
        raise ValueError(f"{name}: the image is empty (shape {image.shape}).")
    if image.shape[-1] > min(image.shape[:2]):
        raise ValueError(
            f"{name}: an image of shape {image.shape} would have {image.shape[-1]} channels of "
            f"{image.shape[0]}x{image.shape[1]} px, which looks channels-first; fields are channels-last "
            "(height, width, channels). Use np.moveaxis(image, 0, -1)."
        )
    return image


def segment_field(field, *, nuclear_channel=0, scale=0.25, sigma=None, threshold="otsu",
                  min_nucleus_area=None, crop_size=128, method="watershed", min_distance=None,
                  border="drop", nucleus_diameter=None, mask=None, name="image"):
    """Segment one field's nuclei and crop a square around each.

    Sizes (``sigma``, ``min_nucleus_area``, ``crop_size``, ``min_distance``)
    are in pixels of the downsampled image, as in the authors' recipe.

    Parameters
    ----------
    field : ndarray of shape (H, W, C), path, or tuple of per-channel paths
    nuclear_channel : int, default=0
    scale : float, default=0.25
        Downsampling factor applied first (the authors use 0.25 for HPA).
    sigma, threshold, min_nucleus_area, min_distance
        See :func:`segment_nuclei`.
    method : {"watershed", "otsu"} or callable, default="watershed"
        ``"watershed"`` splits touching nuclei, ``"otsu"`` does not; a
        callable maps the scaled nuclear image to a label image.
    nucleus_diameter : float, optional
        In pixels of the input field; sizes left as None follow it (else
        they follow the diameter estimated on this field).
    mask : ndarray of shape (H, W), path, or None
        The field's own nucleus label image (0 = background), e.g. exported
        by CellProfiler; used instead of ``method``. Downsampled with
        ``scale`` by nearest neighbour.
    crop_size : int, default=128
    border : {"drop", "pad"}, default="drop"
        ``"drop"`` leaves out nuclei touching the border and crops that
        would leave the image (the authors' choice); ``"pad"`` keeps every
        nucleus and pads crops with zeros.
    name : str
        How to call the image in error messages.

    Returns
    -------
    Segmentation
    """
    image = load_field(field, name=name)
    if not 0 <= nuclear_channel < image.shape[-1]:
        raise ValueError(f"{name}: nuclear_channel={nuclear_channel}, but the image has "
                         f"{image.shape[-1]} channel(s).")
    check_pixel_values(image, name)
    # float64 only where float32 would lose digits: integers beyond 2**24 (which the crops keep), or a
    # float nuclear channel far from zero (segment_nuclei removes its offset; float crops stay float32).
    exact = image.dtype.kind in "iu" and image.dtype.itemsize > 2 and image.size and (
        max(abs(int(image.min())), abs(int(image.max()))) > FLOAT32_EXACT_INTEGERS)
    far = image.dtype.kind == "f" and float32_loses_offset(image[..., nuclear_channel])
    work_dtype = np.float64 if exact or far else np.float32
    work = image.astype(work_dtype)
    if scale != 1:
        work = transform.rescale(work, scale, channel_axis=-1, order=1, anti_aliasing=scale < 1,
                                 preserve_range=True).astype(work_dtype)
    height, width = work.shape[:2]
    if border == "drop" and crop_size > min(height, width):
        raise ValueError(f"{name}: crop_size={crop_size} is larger than the image "
                         f"({height}x{width} pixels after scaling by {scale}); use a smaller crop_size or "
                         "scale, or border='pad'.")
    if mask is not None:
        given = _check_mask(mask, image.shape[:2], name)
        if scale != 1:
            given = transform.resize(given, (height, width), order=0, preserve_range=True,
                                     anti_aliasing=False).astype(given.dtype)
        nuclei, counts = _labels_from(lambda _: given, work[..., nuclear_channel], name,
                                      clear_border=border == "drop")
    elif callable(method):
        nuclei, counts = _labels_from(method, work[..., nuclear_channel], name, clear_border=border == "drop")
    else:
        nuclei, counts = segment_nuclei(work[..., nuclear_channel], sigma=sigma, threshold=threshold,
                                        min_nucleus_area=min_nucleus_area, split_touching=method == "watershed",
                                        min_distance=min_distance, clear_border=border == "drop",
                                        nucleus_diameter=None if nucleus_diameter is None else nucleus_diameter * scale,
                                        return_counts=True)
    regions = measure.regionprops(nuclei)  # every label, the last one included
    centroids = np.array([r.centroid for r in regions], dtype=float).reshape(-1, 2)
    tops = np.round(centroids).astype(int) - crop_size // 2
    if border == "drop":
        inside = ((tops >= 0) & (tops + crop_size <= [height, width])).all(axis=1)
        counts["dropped_border"] += int((~inside).sum())
        regions = [r for r, keep in zip(regions, inside) if keep]
        centroids, tops = centroids[inside], tops[inside]
    crops = _cut_crops(work, tops, crop_size)
    if image.dtype.kind == "f":
        crops = crops.astype(np.float32, copy=False)
    labels = nuclei if scale == 1 else transform.resize(
        nuclei, image.shape[:2], order=0, preserve_range=True, anti_aliasing=False).astype(np.int32)
    boxes = np.concatenate([tops, tops + crop_size], axis=1) / scale
    return Segmentation(
        labels=labels,
        centroids=centroids / scale,
        boxes=np.round(boxes).astype(int).reshape(-1, 4),
        crops=crops,
        source_dtype=image.dtype,
        n_dropped_small=counts["dropped_small"],
        n_dropped_border=counts["dropped_border"],
    )


def _check_mask(mask, shape, name):
    """A field's own label image, read if it is a path, with the field's height and width."""
    source = mask
    if isinstance(mask, (str, Path)):
        mask = read_image(mask)
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.shape != tuple(shape) or mask.dtype.kind not in "iu" or (mask.size and mask.min() < 0):
        where = f" ({source})" if isinstance(source, (str, Path)) else ""
        raise ValueError(f"{name}: its mask{where} must be a label image of non-negative integers of the "
                         f"field's size {tuple(shape)}; got {mask.dtype} {mask.shape}.")
    return mask


def _labels_from(method, nuclear, name, *, clear_border):
    """A user segmenter's label image, checked; nuclei touching the border are cleared when asked."""
    labels = np.asarray(method(nuclear))
    if labels.shape != nuclear.shape or labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        hint = " (a mask? label it first, e.g. with skimage.measure.label)" if labels.dtype == bool else ""
        raise ValueError(
            f"{name}: method {getattr(method, '__name__', method)!r} must return a label image of non-negative "
            f"integers with the shape of the nuclear image {nuclear.shape}; got {labels.dtype} "
            f"{labels.shape}{hint}."
        )
    if labels.size and labels.max() > np.iinfo(np.int32).max:  # ids beyond int32 would wrap and merge
        labels = segmentation.relabel_sequential(labels)[0]
    labels = labels.astype(np.int32)
    counts = {"dropped_small": 0, "dropped_border": 0}
    if clear_border:
        before = len(np.unique(labels[labels > 0]))
        labels = segmentation.clear_border(labels)
        counts["dropped_border"] = before - len(np.unique(labels[labels > 0]))
    return labels, counts


def crop_field(field, index=0, **params):
    """Crops of one field, warning when none are found (a joblib worker).

    Parameters
    ----------
    field : ndarray, path, or tuple of paths
    index : int
        Position of the field in its collection, for messages.
    **params
        Passed to :func:`segment_field`.

    Returns
    -------
    crops : ndarray of float32, shape (n_cells, crop_size, crop_size, C)
    """
    name = f"image {index}"
    result = segment_field(field, name=name, **params)
    if result.n_cells == 0:
        warnings.warn(f"{name}: {result.why_empty()}; its bag of crops is empty.", UserWarning, stacklevel=2)
    return result.crops.astype(np.float32, copy=False)  # float64 only for integers beyond 2**24


def crop_field_for_store(field, index=0, **params):
    """Crops of one field in the field's own pixel type, and their centroids (a joblib worker).

    Integer fields give integer crops (rounded after downsampling), so a
    store keeps uint8 or uint16 data at its native size.

    Parameters
    ----------
    field : ndarray, path, or tuple of paths
    index : int
    **params
        Passed to :func:`segment_field`.

    Returns
    -------
    crops : ndarray of shape (n_cells, crop_size, crop_size, C)
    centroids : ndarray of float32, shape (n_cells, 2)
    counts : dict
        :meth:`Segmentation.counts`: nuclei found, kept and dropped.
    """
    result = segment_field(field, name=f"image {index}", **params)
    crops = result.crops
    if np.issubdtype(result.source_dtype, np.integer):
        limits = np.iinfo(result.source_dtype)
        crops = np.clip(np.rint(crops), limits.min, limits.max).astype(result.source_dtype)
    return crops, result.centroids.astype(np.float32), result.counts()


def try_crop_field_for_store(field, index=0, **params):
    """:func:`crop_field_for_store`, with a failure returned instead of raised (a joblib worker).

    Returns
    -------
    result : tuple or None
        What :func:`crop_field_for_store` returns; None when the field failed.
    error : Exception or None
        Why the field could not be read or segmented (a truncated file, say).
    """
    try:
        return crop_field_for_store(field, index, **params), None
    except Exception as error:  # noqa: BLE001 (any failure of one field is reported with that field)
        return None, error


def _cut_crops(image, tops, crop_size):
    """Square windows at ``tops`` (row, col), in the image's dtype; parts outside the image are zero."""
    height, width, channels = image.shape
    crops = np.zeros((len(tops), crop_size, crop_size, channels), dtype=image.dtype)
    for crop, (top, left) in zip(crops, tops):
        r0, c0 = max(top, 0), max(left, 0)
        r1, c1 = min(top + crop_size, height), min(left + crop_size, width)
        if r1 > r0 and c1 > c0:
            crop[r0 - top:r1 - top, c0 - left:c1 - left] = image[r0:r1, c0:c1]
    return crops
