"""From crops to network input: validation, resizing, channel roles, neighbour masking and min-max scaling.

Every function here is pure NumPy and module-level, so joblib can run it in
worker processes (or on a dask/ray cluster) without shipping any Keras state.
"""

import numpy as np
from joblib import delayed
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.transform import resize

from ._parallel import call_keeping_warnings, rewarn, workers

#: Crops smaller than this (in either spatial dimension) are rejected.
MIN_CROP_SIZE = 8


def check_crops(crops, *, name="crops", n_channels=None):
    """Validate one stack of single-cell crops and return it as an array.

    Parameters
    ----------
    crops : array-like of shape (n_cells, height, width, n_channels)
        Channels-last crops of any real dtype.
    name : str, default="crops"
        How to call the stack in error messages (e.g. ``"bag 3"``).
    n_channels : int, optional
        Required number of channels.

    Returns
    -------
    crops : ndarray of shape (n_cells, height, width, n_channels)

    Raises
    ------
    ValueError
        If the stack is not 4-D (or looks channels-first: more channels
        than pixels on a side), is too small, has the wrong number of
        channels, is not real-valued or holds NaN or infinite values.
    """
    crops = np.asarray(crops)
    check_pixel_dtype(crops.dtype, name)
    if crops.ndim != 4:
        hint = ""
        if crops.ndim == 3:
            hint = " A single-channel stack needs an explicit channel axis: use crops[..., np.newaxis]."
            if crops.shape[-1] < min(crops.shape[:2]):
                hint = (" It looks like a single crop (height, width, channels): a list holds bags, each a stack "
                        "of crops; stack single crops with np.stack(crops), or make one a bag with "
                        "crop[np.newaxis]." + hint)
        raise ValueError(
            f"{name}: expected crops of shape (n_cells, height, width, channels), "
            f"got an array of shape {crops.shape}.{hint}"
        )
    height, width = crops.shape[1:3]
    if crops.shape[-1] > min(height, width):
        raise ValueError(
            f"{name}: {crops.shape[-1]} channels in {height}x{width} px crops (array of shape {crops.shape}) "
            "looks like channels-first data; crops are channels-last: (n_cells, height, width, channels). "
            "Use np.moveaxis(crops, 1, -1)."
        )
    if crops.shape[0] and min(height, width) < MIN_CROP_SIZE:
        raise ValueError(
            f"{name}: crops of {height}x{width} pixels are too small; "
            f"they must be at least {MIN_CROP_SIZE}x{MIN_CROP_SIZE}."
        )
    if n_channels is not None and crops.shape[-1] != n_channels:
        raise ValueError(
            f"{name}: expected {n_channels} channels, got {crops.shape[-1]} "
            f"(array of shape {crops.shape})."
        )
    check_pixel_values(crops, name)
    return crops


def check_pixel_values(pixels, name="image"):
    """Refuse NaN, infinite values and values that float32, the network's type, cannot hold.

    Raises
    ------
    ValueError
        Naming the problem and how to rescale.
    """
    if not np.issubdtype(pixels.dtype, np.floating) or not pixels.size:
        return
    low, high = pixels.min(), pixels.max()  # NaN propagates through both
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name}: contains NaN or infinite pixel values.")
    if max(-low, high) > np.finfo(np.float32).max:
        raise ValueError(f"{name}: pixel values reach {max(-low, high):.3g}, beyond float32's range (3.4e38), in "
                         "which crops are scaled; rescale the images first (e.g. divide by their maximum).")


def check_pixel_dtype(dtype, name="image"):
    """Refuse pixel types that are not real numbers (complex, time, text, objects).

    Raises
    ------
    ValueError
        Naming the dtype, and for complex data how to take its magnitude.
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"{name}: complex pixel values ({dtype}) are not supported; pass np.abs(image) "
                         "or its real part.")
    if dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numeric pixels (bool, integer or float), got dtype {dtype}.")


def minmax_scale_crops(crops):
    """Scale each channel of each crop to [0, 1] by its own minimum and maximum.

    This is the paper's normalization: it removes expression level, so the
    network learns localization. A constant channel becomes all zeros.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, height, width, n_channels)

    Returns
    -------
    scaled : ndarray of float32, same shape

    Examples
    --------
    >>> import numpy as np
    >>> crops = np.array([[[[2.0], [4.0]], [[6.0], [6.0]]]])
    >>> minmax_scale_crops(crops)[0, ..., 0]
    array([[0. , 0.5],
           [1. , 1. ]], dtype=float32)
    """
    scaled = np.asarray(crops, dtype=np.float32).copy()
    low = scaled.min(axis=(1, 2), keepdims=True)
    span = scaled.max(axis=(1, 2), keepdims=True) - low
    scaled -= low
    np.divide(scaled, span, out=scaled, where=span > 0)
    return scaled


def resize_crops(crops, size):
    """Resize a stack of crops to ``size`` x ``size`` pixels.

    Bilinear interpolation with anti-aliasing when shrinking; a stack that
    already has the right size is returned unchanged.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, height, width, n_channels)
    size : int

    Returns
    -------
    resized : ndarray of shape (n_cells, size, size, n_channels)
    """
    n_cells, height, width, n_channels = crops.shape
    if (height, width) == (size, size):
        return crops
    shrinking = height > size or width > size
    return resize(
        np.asarray(crops, dtype=np.float32),
        (n_cells, size, size, n_channels),
        order=1,
        mode="reflect",
        anti_aliasing=shrinking,
        preserve_range=True,
    ).astype(np.float32, copy=False)


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


def mask_background(crops, marker_channel, *, sigma=1.0, dilate=1, n_jobs=None, chunk_size=256):
    """Crops with everything outside the central cell set to each channel's minimum in that crop.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, h, w, C)
    marker_channel : int
        A channel that shows whole cells (cytosol, membrane), not only nuclei.
    sigma, dilate
        As for :func:`central_cell_mask`.
    n_jobs : int, optional
        Joblib workers for masking chunks of ``chunk_size`` crops; ``None``
        means 1 unless a ``joblib.parallel_config`` says otherwise. The
        result does not depend on ``n_jobs``.
    chunk_size : int, default=256
        Crops per joblib task.

    Returns
    -------
    masked : ndarray, same shape and dtype as ``crops``
    """
    crops = np.asarray(crops)
    if crops.ndim != 4:
        raise ValueError(f"crops must be (n_cells, h, w, C), got shape {crops.shape}.")
    if not 0 <= marker_channel < crops.shape[-1]:
        raise ValueError(f"marker_channel={marker_channel}, but the crops have {crops.shape[-1]} channels.")
    if n_jobs == 1 or len(crops) <= chunk_size:
        return _mask_chunk(crops, marker_channel, sigma, dilate)
    chunks = [crops[start:start + chunk_size] for start in range(0, len(crops), chunk_size)]
    results = workers(n_jobs=n_jobs)(delayed(call_keeping_warnings)(_mask_chunk, chunk, marker_channel, sigma, dilate)
                                     for chunk in chunks)
    rewarn([message for _, caught in results for message in caught])
    return np.concatenate([masked for masked, _ in results])


def _mask_chunk(crops, marker_channel, sigma, dilate):
    masked = crops.copy()
    for index, crop in enumerate(crops):
        mask = central_cell_mask(crop[..., marker_channel], sigma=sigma, dilate=dilate)
        floor = crop.reshape(-1, crop.shape[-1]).min(axis=0)
        masked[index][~mask] = floor
    return masked


def prepare_crops(crops, size, channel_order, mask_channel=None):
    """Resize, select and reorder channels, and min-max scale one crop stack.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, height, width, n_channels)
    size : int
        Output height and width.
    channel_order : sequence of int
        Input channels to keep, in the order the network expects them
        (protein channels first, then markers).
    mask_channel : int, optional
        Keep only the central cell, found in this channel of the *selected*
        crops (see :func:`mask_background`), before resizing.

    Returns
    -------
    prepared : ndarray of float32, shape (n_cells, size, size, len(channel_order))
    """
    selected = np.asarray(crops)[..., list(channel_order)]
    if mask_channel is not None:
        selected = mask_background(selected, mask_channel, n_jobs=1)  # callers parallelize over chunks
    return minmax_scale_crops(resize_crops(selected, size))


def prepare_crop_stacks(stacks, size, channel_order, *, mask_channel=None, n_jobs=None, chunk_size=2048):
    """Prepare several crop stacks in parallel and concatenate them.

    Work is split into chunks of at most ``chunk_size`` crops; each chunk is
    one joblib task, so the user's ``joblib.parallel_config`` (threads,
    processes, dask, ray) decides where it runs. The result does not depend
    on ``n_jobs``.

    Parameters
    ----------
    stacks : sequence of ndarray
        Crop stacks of shape (n_i, h_i, w_i, n_channels), sizes may differ.
    size : int
    channel_order : sequence of int
    mask_channel : int, optional
        See :func:`prepare_crops`.
    n_jobs : int, optional
        Number of joblib workers; ``None`` means 1 unless a
        ``joblib.parallel_config`` says otherwise.
    chunk_size : int, default=2048

    Returns
    -------
    prepared : ndarray of float32, shape (sum n_i, size, size, len(channel_order))
    """
    chunks = [
        stack[start:start + chunk_size]
        for stack in stacks
        for start in range(0, len(stack), chunk_size)
    ]
    if len(chunks) <= 1:
        results = [call_keeping_warnings(prepare_crops, chunk, size, channel_order, mask_channel)
                   for chunk in chunks]
    else:
        # Only loky gets a parent watchdog; the user's joblib.parallel_config (dask, ray...) applies.
        results = workers(n_jobs=n_jobs)(
            delayed(call_keeping_warnings)(prepare_crops, chunk, size, channel_order, mask_channel)
            for chunk in chunks
        )
    prepared = [crops for crops, _ in results]
    rewarn([message for _, caught in results for message in caught])
    if not prepared:
        return np.zeros((0, size, size, len(channel_order)), dtype=np.float32)
    return np.concatenate(prepared)
