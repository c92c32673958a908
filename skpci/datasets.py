"""Synthetic multi-channel fluorescence fields with ground truth.

Each field holds many cells of one (simulated) strain: the same protein
localization in every cell, with varied cell size, shape, brightness,
background and shot noise. Channels are, in order, the tagged **protein**,
the **nucleus** stain and a **cytosol** (cell body) stain.

These images drive the demo, the tests and the documentation; they are no
substitute for real microscopy, but their ground truth (localization class,
nucleus and cell masks) is exact.
"""

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import line
from sklearn.utils import Bunch, check_random_state

#: Localization classes the generator can draw.
LOCALIZATIONS = (
    "nucleus",
    "cytoplasm",
    "nucleolus",
    "nuclear_rim",
    "plasma_membrane",
    "vesicles",
    "mitochondria",
)

#: Channel order of the synthetic images.
CHANNELS = ("protein", "nucleus", "cytosol")


def make_cell_images(
    n_images=14,
    *,
    image_size=256,
    cells_per_image=(10, 20),
    cell_radius=16.0,
    localizations=LOCALIZATIONS,
    touching=0.2,
    noise=1.0,
    random_state=None,
):
    """Generate fields of cells whose protein has one localization per field.

    Parameters
    ----------
    n_images : int, default=14
        Number of fields. Classes are assigned in turn, so they are balanced.
    image_size : int, default=256
        Height and width of each field in pixels.
    cells_per_image : (int, int), default=(10, 20)
        Range (inclusive) of cells placed per field; crowded fields may hold
        fewer when no free spot is left.
    cell_radius : float, default=16.0
        Mean cell radius in pixels; nuclei are about half as wide.
    localizations : sequence of str, default=LOCALIZATIONS
        Classes to draw from, a subset of :data:`LOCALIZATIONS`.
    touching : float, default=0.2
        Probability that a cell is placed against an earlier one, so that
        their nuclei touch (a hard case for segmentation).
    noise : float, default=1.0
        Scales shot and read noise; 0 gives noise-free images.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` float32 (n_images, image_size, image_size, 3) in [0, 1];
        ``labels`` localization name per image; ``nuclei`` and ``cells``
        int32 label images (0 is background, cell k owns nucleus k);
        ``channel_names``; ``localizations``.

    Examples
    --------
    >>> data = make_cell_images(n_images=2, image_size=96, cell_radius=8, random_state=0)
    >>> data.images.shape, data.labels.tolist()
    ((2, 96, 96, 3), ['nucleus', 'cytoplasm'])
    """
    unknown = sorted(set(localizations) - set(LOCALIZATIONS))
    if unknown or not localizations:
        raise ValueError(f"Unknown localizations {unknown}; choose from {LOCALIZATIONS}.")
    low, high = cells_per_image
    if not 1 <= low <= high:
        raise ValueError(f"cells_per_image must be (low, high) with 1 <= low <= high, got {cells_per_image}.")
    rng = check_random_state(random_state)
    labels = np.array([localizations[i % len(localizations)] for i in range(n_images)])
    images = np.empty((n_images, image_size, image_size, len(CHANNELS)), dtype=np.float32)
    nuclei = np.empty((n_images, image_size, image_size), dtype=np.int32)
    cells = np.empty_like(nuclei)
    for i, label in enumerate(labels):
        n_cells = rng.randint(low, high + 1)
        images[i], nuclei[i], cells[i] = _make_field(
            label, image_size, n_cells, cell_radius, touching, noise, rng
        )
    return Bunch(
        images=images, labels=labels, nuclei=nuclei, cells=cells,
        channel_names=CHANNELS, localizations=tuple(localizations),
    )


def make_cell_crops(n_images=14, *, crop_size=None, random_state=None, **field_params):
    """Single-cell crops of synthetic fields, one bag per field.

    Crops are centred on the true nucleus centroids (fields are zero-padded
    at the border), so no segmentation is involved.

    Parameters
    ----------
    n_images : int, default=14
    crop_size : int, optional
        Side of the square crops; default ``4 * cell_radius`` (whole cells).
    random_state : int, RandomState instance or None, default=None
    **field_params
        Passed to :func:`make_cell_images` (``image_size``, ``cell_radius``...).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``bags``: 1-D object array, one (n_cells_i, crop_size, crop_size, 3)
        float32 array per field; ``labels``: one per bag; ``cells``: all
        crops stacked; ``groups``: field index per cell; ``cell_labels``;
        plus everything :func:`make_cell_images` returns.

    Examples
    --------
    >>> data = make_cell_crops(n_images=3, image_size=96, cell_radius=8, random_state=0)
    >>> len(data.bags), data.bags[0].shape[1:]
    (3, (32, 32, 3))
    """
    fields = make_cell_images(n_images, random_state=random_state, **field_params)
    if crop_size is None:
        crop_size = int(round(4 * field_params.get("cell_radius", 16.0)))
    bags = np.empty(n_images, dtype=object)
    for i in range(n_images):
        bags[i] = crops_around_nuclei(fields.images[i], fields.nuclei[i], crop_size)
    sizes = np.array([len(bag) for bag in bags])
    fields.update(
        bags=bags,
        cells=np.concatenate(list(bags)),
        groups=np.repeat(np.arange(n_images), sizes),
        cell_labels=np.repeat(fields.labels, sizes),
    )
    return fields


def make_nuclei(n_images=4, *, image_size=512, diameter=60.0, n_nuclei=(8, 12), lobes=(1, 3), touching=0.25,
                noise=0.05, random_state=None):
    """Nuclear-stain images of large, irregular nuclei with exact instance masks.

    Each nucleus is the union of one to three overlapping discs (round,
    kidney-shaped or lobed), with chromatin texture and dim nucleoli, so a
    segmenter tuned for small round nuclei tends to cut it into pieces. A
    share of them touch a neighbour, so splitting is needed too.

    Parameters
    ----------
    n_images : int, default=4
    image_size : int, default=512
    diameter : float, default=60.0
        Typical nucleus diameter in pixels.
    n_nuclei : (int, int), default=(8, 12)
        Range of nuclei per image.
    lobes : (int, int), default=(1, 3)
        Range of discs per nucleus.
    touching : float, default=0.25
        Share of nuclei placed against a neighbour.
    noise : float, default=0.05
        Gaussian noise, relative to the brightest nucleus.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (n_images, image_size, image_size, 1) float32 and
        ``nuclei`` (n_images, image_size, image_size) int32 instance labels.

    Examples
    --------
    >>> data = make_nuclei(n_images=1, image_size=256, random_state=0)
    >>> data.images.shape, int(data.nuclei.max()) >= 8
    ((1, 256, 256, 1), True)
    """
    rng = check_random_state(random_state)
    yy, xx = np.mgrid[:image_size, :image_size]
    images = np.zeros((n_images, image_size, image_size, 1), dtype=np.float32)
    nuclei = np.zeros((n_images, image_size, image_size), dtype=np.int32)
    radius = diameter / 2
    for index in range(n_images):
        centres = []
        for _ in range(int(rng.randint(n_nuclei[0], n_nuclei[1] + 1))):
            for _attempt in range(200):
                if centres and rng.rand() < touching:  # against a neighbour: about one diameter away
                    anchor = centres[rng.randint(len(centres))]
                    angle = rng.uniform(0, 2 * np.pi)
                    centre = anchor + 1.05 * diameter * np.array([np.sin(angle), np.cos(angle)])
                else:
                    centre = rng.uniform(radius * 1.5, image_size - radius * 1.5, size=2)
                if not (radius * 1.2 < centre).all() or not (centre < image_size - radius * 1.2).all():
                    continue
                if all(np.hypot(*(centre - other)) > 1.0 * diameter for other in centres):
                    centres.append(centre)
                    break
        label_image, intensity = nuclei[index], images[index, ..., 0]
        for label, centre in enumerate(centres, start=1):
            n_lobes = int(rng.randint(lobes[0], lobes[1] + 1))
            mask = np.zeros((image_size, image_size), dtype=bool)
            lobe_radius = radius * (0.85 if n_lobes == 1 else 0.7)
            axis = rng.uniform(0, np.pi)
            for lobe in range(n_lobes):
                offset = (lobe - (n_lobes - 1) / 2) * lobe_radius * 0.65
                along = np.array([np.sin(axis), np.cos(axis)]) * offset
                bend = np.array([np.cos(axis), -np.sin(axis)]) * (rng.uniform(-0.25, 0.25) * lobe_radius)
                cy, cx = centre + along + (bend if lobe % 2 else 0)
                r = lobe_radius * rng.uniform(0.9, 1.1)
                mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
            mask &= label_image == 0  # a touching neighbour keeps its pixels
            label_image[mask] = label
            brightness = rng.uniform(0.6, 1.0)
            texture = 0.85 + 0.12 * _smooth_noise(image_size, 2.0, rng)
            intensity[mask] = brightness * texture[mask]
            for _nucleolus in range(int(rng.randint(1, 4))):  # dim spots inside
                spot = np.argwhere(mask)[rng.randint(mask.sum())]
                dim = (yy - spot[0]) ** 2 + (xx - spot[1]) ** 2 <= (radius * 0.15) ** 2
                intensity[dim & mask] *= 0.7
        blurred = ndi.gaussian_filter(intensity, 1.0)
        images[index, ..., 0] = np.clip(blurred + rng.normal(0, noise, blurred.shape), 0, None)
    return Bunch(images=images, nuclei=nuclei)


def crops_around_nuclei(image, nuclei, crop_size):
    """Square crops of ``image`` centred on each labelled nucleus (zero-padded).

    Parameters
    ----------
    image : ndarray of shape (H, W, C)
    nuclei : ndarray of int, shape (H, W)
        Label image; every label from 1 to ``nuclei.max()`` gets a crop.
    crop_size : int

    Returns
    -------
    crops : ndarray of shape (n_nuclei, crop_size, crop_size, C)
    """
    n_nuclei = int(nuclei.max())
    centroids = ndi.center_of_mass(np.ones_like(nuclei), nuclei, np.arange(1, n_nuclei + 1))
    half = crop_size // 2
    padded = np.pad(image, ((crop_size, crop_size), (crop_size, crop_size), (0, 0)))
    crops = np.empty((n_nuclei, crop_size, crop_size, image.shape[-1]), dtype=image.dtype)
    for k, (row, col) in enumerate(centroids):
        top = int(round(row)) - half + crop_size
        left = int(round(col)) - half + crop_size
        crops[k] = padded[top:top + crop_size, left:left + crop_size]
    return crops


def _make_field(label, size, n_cells, radius, touching, noise, rng):
    centers, radii = _place_cells(size, n_cells, radius, touching, rng)
    cell_distance = np.full((size, size), np.inf, dtype=np.float32)
    cells = np.zeros((size, size), dtype=np.int32)
    nucleus_distance = np.full((size, size), np.inf, dtype=np.float32)
    nuclei = np.zeros((size, size), dtype=np.int32)
    for k, (center, r) in enumerate(zip(centers, radii), start=1):
        # Distances are computed only in a window around the cell.
        reach = int(np.ceil(1.25 * 1.4 * r)) + 2
        top, left = (max(int(v) - reach, 0) for v in center)
        bottom, right = (min(int(v) + reach + 1, size) for v in center)
        yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
        window = (slice(top, bottom), slice(left, right))
        d = _ellipse_distance(yy, xx, center, r * rng.uniform(0.8, 1.0), r * rng.uniform(1.0, 1.25),
                              rng.uniform(0, np.pi), rng, wobble=0.12)
        closer = (d < 1) & (d < cell_distance[window])
        cells[window][closer] = k
        cell_distance[window][closer] = d[closer]
        nucleus_center = center + rng.normal(0, 0.15 * r, 2)
        nucleus_radius = r * rng.uniform(0.4, 0.55)
        dn = _ellipse_distance(yy, xx, nucleus_center, nucleus_radius * rng.uniform(0.8, 1.0),
                               nucleus_radius, rng.uniform(0, np.pi), rng, wobble=0.05)
        inside = (dn < 1) & (dn < nucleus_distance[window])
        nuclei[window][inside] = k
        nucleus_distance[window][inside] = dn[inside]
    # A nucleus belongs to its own cell only.
    nuclei[nuclei != cells] = 0
    nucleus_distance[nuclei == 0] = np.inf
    cells, nuclei = _drop_missing_nuclei(cells, nuclei)

    brightness = np.concatenate([[0.0], rng.lognormal(0.0, 0.35, cells.max())]).astype(np.float32)
    cell_gain = brightness[cells]
    texture = np.maximum(1 + 0.3 * _smooth_noise(size, 2.0, rng), 0)
    protein = _protein_pattern(label, cells, nuclei, cell_distance, nucleus_distance, texture, rng)
    protein *= cell_gain * rng.uniform(0.5, 1.0)
    nucleus_stain = (nuclei > 0) * (0.6 + 0.4 * rng.uniform(size=nuclei.max() + 1)[nuclei]) * texture
    cytosol_stain = (cells > 0) * (0.4 + 0.5 * (1 - np.minimum(cell_distance, 1) ** 2)) * (
        1 + 0.2 * _smooth_noise(size, 3.0, rng))
    image = np.stack([protein, nucleus_stain, cytosol_stain], axis=-1).astype(np.float32)
    image = ndi.gaussian_filter(image, sigma=(1.0, 1.0, 0))
    image = _add_noise(image, noise, rng)
    return image, nuclei, cells


def _place_cells(size, n_cells, radius, touching, rng):
    """Rejection-sample cell centres.

    With probability ``touching`` a cell is placed right next to an earlier
    one, close enough for their nuclei to touch (a clump, as after division);
    other cells keep clear of their neighbours.
    """
    centers, radii = [], []
    margin = 0.5 * radius
    for _ in range(50 * n_cells):
        if len(centers) == n_cells:
            break
        r = radius * rng.uniform(0.75, 1.25)
        neighbour = None
        if centers and rng.uniform() < touching:
            neighbour = rng.randint(len(centers))
            angle = rng.uniform(0, 2 * np.pi)
            c = centers[neighbour] + 0.5 * (r + radii[neighbour]) * np.array([np.sin(angle), np.cos(angle)])
            if not (margin <= c).all() or not (c <= size - margin).all():
                continue
        else:
            c = rng.uniform(margin, size - margin, 2)
        if all(k == neighbour or np.hypot(*(c - o)) > 0.85 * (r + ro)
               for k, (o, ro) in enumerate(zip(centers, radii))):
            centers.append(c)
            radii.append(r)
    return np.array(centers), np.array(radii)


def _ellipse_distance(yy, xx, center, ry, rx, angle, rng, wobble):
    """Normalized distance to an ellipse with a wavy outline (1 on the boundary)."""
    dy, dx = yy - center[0], xx - center[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u = (cos * dx + sin * dy) / rx
    v = (-sin * dx + cos * dy) / ry
    theta = np.arctan2(v, u)
    phases = rng.uniform(0, 2 * np.pi, 3)
    amplitudes = rng.uniform(0, wobble, 3)
    outline = 1 + sum(a * np.sin((j + 2) * theta + p) for j, (a, p) in enumerate(zip(amplitudes, phases)))
    return (np.hypot(u, v) / outline).astype(np.float32)


def _drop_missing_nuclei(cells, nuclei):
    """Remove cells whose nucleus vanished and relabel both images 1..n."""
    keep = np.unique(nuclei[nuclei > 0])
    lookup = np.zeros(max(cells.max(), nuclei.max()) + 1, dtype=np.int32)
    lookup[keep] = np.arange(1, len(keep) + 1)
    return lookup[cells], lookup[nuclei]


def _smooth_noise(size, sigma, rng):
    field = ndi.gaussian_filter(rng.normal(size=(size, size)), sigma)
    return (field / (field.std() + 1e-12)).astype(np.float32)


def _protein_pattern(label, cells, nuclei, cell_distance, nucleus_distance, texture, rng):
    size = cells.shape[0]
    in_cell, in_nucleus = cells > 0, nuclei > 0
    cytoplasm = in_cell & ~in_nucleus
    if label == "nucleus":
        return in_nucleus * texture
    if label == "cytoplasm":
        return cytoplasm * texture * 0.8
    if label == "nuclear_rim":
        return in_nucleus * (nucleus_distance > 0.7) * 1.0
    if label == "plasma_membrane":
        return in_cell * (cell_distance > 0.82) * 1.0
    if label == "nucleolus":
        return 0.1 * in_nucleus + _spots(nuclei, (1, 3), 2.0, 10.0, rng)
    if label == "vesicles":
        return 0.05 * cytoplasm + _spots(np.where(cytoplasm, cells, 0), (8, 20), 1.0, 4.0, rng)
    if label == "mitochondria":
        return 0.05 * cytoplasm + _filaments(np.where(cytoplasm, cells, 0), size, rng)
    raise ValueError(f"Unknown localization {label!r}.")


def _spots(regions, count_range, sigma, height, rng):
    """Gaussian spots at random pixels of each labelled region."""
    deltas = np.zeros(regions.shape, dtype=np.float32)
    for label in range(1, regions.max() + 1):
        rows, cols = np.nonzero(regions == label)
        if len(rows) == 0:
            continue
        picks = rng.randint(0, len(rows), rng.randint(count_range[0], count_range[1] + 1))
        np.add.at(deltas, (rows[picks], cols[picks]), rng.uniform(0.6, 1.0, len(picks)))
    spots = ndi.gaussian_filter(deltas, sigma) * height * sigma
    return np.minimum(spots, 1.5)


def _filaments(regions, size, rng):
    """Short random-walk tubules inside each labelled region."""
    drawn = np.zeros(regions.shape, dtype=np.float32)
    for label in range(1, regions.max() + 1):
        rows, cols = np.nonzero(regions == label)
        if len(rows) == 0:
            continue
        for _ in range(rng.randint(4, 9)):
            start = rng.randint(len(rows))
            point = np.array([rows[start], cols[start]], dtype=float)
            heading = rng.uniform(0, 2 * np.pi)
            for _ in range(rng.randint(3, 6)):
                heading += rng.normal(0, 0.5)
                step = point + 3.0 * np.array([np.sin(heading), np.cos(heading)])
                step = np.clip(step, 0, size - 1)
                rr, cc = line(*np.round(point).astype(int), *np.round(step).astype(int))
                drawn[rr, cc] = 1.0
                point = step
    return ndi.gaussian_filter(drawn * (regions > 0), 0.7) * 1.5


def _add_noise(image, noise, rng):
    background = rng.uniform(0.01, 0.05, image.shape[-1]).astype(np.float32)
    image = 0.5 * np.maximum(image, 0) + background
    if noise > 0:
        photons = 300.0 / noise**2
        image = rng.poisson(image * photons) / photons
        image = image + rng.normal(0, 0.01 * noise, image.shape)
    return np.clip(image, 0, 1).astype(np.float32)
