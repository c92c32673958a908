"""Readers for the folder layouts microscopy data comes in.

Single-cell crop folders, one file per channel::

    <root>/<folder>/<image>_<cell>_<channel>.tif

as in the paired cell inpainting authors' yeast set (``AAC1/AAC1_1_rfp_10_gfp.tif``:
folder = protein, image = ``AAC1_1_rfp``, cell 10, channel ``gfp``) and their
Human Protein Atlas set (``A1CF_762_F2/762_F2_1_10_green.tif``).

Readers return NumPy arrays with channels last, in the order asked for, plus
per-cell metadata, ready for the estimators.
"""

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import delayed
from sklearn.utils import Bunch

from ._files import decode_strings
from ._parallel import workers
from .channels import check_channel_names

_IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def read_image(path):
    """Read one image file into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        TIFF (read with tifffile), PNG or JPEG (read with imageio). An
        OME-TIFF, or an OME-Zarr image folder, is read by its axes as
        ``(height, width, channels)`` (``(height, width)`` for one channel):
        the first time point, and the maximum projection of a z-stack.

    Returns
    -------
    image : ndarray

    Raises
    ------
    OSError
        If the file is missing or cannot be decoded; the message names it.
    """
    from .formats import is_ome_zarr, read_ome_zarr, read_tiff

    path = Path(path)
    if is_ome_zarr(path):
        image, _ = read_ome_zarr(path)
        return image[..., 0] if image.shape[-1] == 1 else image
    if not path.is_file():
        raise FileNotFoundError(f"No such image file: {str(path)!r}.")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            image = read_tiff(path)  # an OME-TIFF by its axes, as (height, width, channels)
            image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image  # one channel: a plane
        else:
            import imageio.v3 as iio

            # Pillow reads PNG and JPEG; naming it avoids probing every other plugin on bad files.
            plugin = "pillow" if path.suffix.lower() in (".png", ".jpg", ".jpeg") else None
            image = iio.imread(path, plugin=plugin)
    except Exception as error:  # decoders raise many types; report them as one.
        raise OSError(f"Cannot read image {str(path)!r}: {error}") from error
    if image.size == 0:
        raise OSError(f"Cannot read image {str(path)!r}: the file holds no pixel data (corrupt or truncated?).")
    return image


def read_cell_crops(root, channels, *, n_jobs=None):
    """Read single-cell crops stored one file per channel in per-folder layout.

    Parameters
    ----------
    root : str or path-like
        Folder holding one sub-folder per strain, protein or well.
    channels : sequence of str
        Channel suffixes to read, in the order wanted in the output
        (e.g. ``("gfp", "rfp")``).
    n_jobs : int, optional
        Parallel readers (joblib).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``cells`` (n_cells, h, w, n_channels) float32; ``cell_table`` a
        DataFrame with ``folder``, ``image`` and ``cell`` per crop;
        ``channel_names``.

    Raises
    ------
    FileNotFoundError
        If ``root`` holds no crop files with these channels.
    ValueError
        If a crop misses a channel, or crops differ in size.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No such folder: {str(root)!r}.")
    channels = check_channel_names(channels, what="channels")
    found = defaultdict(dict)
    for path in sorted(root.glob("*/*")):
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        stem, _, channel = path.stem.rpartition("_")
        if channel in channels:
            found[path.parent.name, stem][channel] = path
    if not found:
        raise FileNotFoundError(
            f"No crops with channels {channels} under {str(root)!r}; expected files like "
            f"<folder>/<image>_<cell>_{channels[0]}.tif."
        )
    for (folder, stem), files in found.items():
        missing = [c for c in channels if c not in files]
        if missing:
            raise ValueError(f"Crop {folder}/{stem} has no file for channel(s) {missing}.")
    keys = sorted(found, key=_natural_key)
    crops = workers(n_jobs=n_jobs)(
        delayed(_read_channels)([found[key][c] for c in channels]) for key in keys
    )
    shapes = {crop.shape for crop in crops}
    if len(shapes) > 1:
        raise ValueError(f"Crops under {str(root)!r} differ in size: {sorted(shapes)}.")
    table = pd.DataFrame(
        [(folder, *_split_image_cell(stem)) for folder, stem in keys],
        columns=["folder", "image", "cell"],
    )
    return Bunch(cells=np.stack(crops), cell_table=table, channel_names=channels)


def list_fields(root, channels, *, channel_pattern=r"_(?P<channel>[^_]+)$", recursive=False):
    """Find whole fields stored one file per channel, without reading them.

    Returns file references that :class:`skpci.CellSegmenter` reads inside
    its workers, so a large collection is never loaded by the caller.

    Parameters
    ----------
    root : str or path-like
    channels : sequence of str
        Channel names in the order wanted, e.g. the Human Protein Atlas
        convention ``("blue", "green", "red", "yellow")``.
    channel_pattern : str, default=r"_(?P<channel>[^_]+)$"
        Regular expression matched against the end of each file's stem; its
        group ``channel`` names the channel and what precedes the match is
        the field id. The default reads ``<id>_<channel>.<ext>``. For
        CellProfiler's ``..._D03f00d0.tif`` use ``r"(?P<channel>d\\d)$"``.
    recursive : bool, default=False
        Search sub-folders too.

    Returns
    -------
    fields : list of tuple of str
        Per field, one path per channel in ``channels`` order.
    field_ids : list of str

    Raises
    ------
    FileNotFoundError
        If no field has all channels.
    ValueError
        If a field lacks some channel.
    """
    import re

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No such folder: {str(root)!r}.")
    try:
        pattern = re.compile(channel_pattern)
    except re.error as error:
        raise ValueError(f"The channel pattern {channel_pattern!r} is not a valid regular expression: "
                         f"{error}.") from None
    if "channel" not in pattern.groupindex:
        raise ValueError(f"The channel pattern {channel_pattern!r} needs a group (?P<channel>...) that captures "
                         "the channel name, e.g. r'_(?P<channel>[^_]+)$'.")
    channels = check_channel_names(channels, what="channels")
    found = defaultdict(dict)
    for path in sorted(root.rglob("*") if recursive else root.glob("*")):
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        match = pattern.search(path.stem)
        if match and match.group("channel") in channels:
            field_id = str(path.parent.relative_to(root) / path.stem[:match.start()])
            found[field_id][match.group("channel")] = str(path)
    if not found:
        raise FileNotFoundError(f"No fields with channels {tuple(channels)} under {str(root)!r}.")
    incomplete = {fid: [c for c in channels if c not in files] for fid, files in found.items()
                  if len(files) < len(channels)}
    if incomplete:
        fid, missing = next(iter(incomplete.items()))
        raise ValueError(f"{len(incomplete)} field(s) lack channels; e.g. {fid!r} has no {missing}.")
    field_ids = sorted(found)
    return [tuple(found[fid][c] for c in channels) for fid in field_ids], field_ids


def read_yeast_crops(root, *, n_jobs=None):
    """Read the authors' yeast toy crops: channels GFP (protein), RFP (cytosol).

    Returns the :func:`read_cell_crops` bunch plus ``labels`` (protein per
    cell), ``groups`` (protein folder: the authors pair cells within a
    strain) and ``fields`` (field of view, for cross-validation folds).
    """
    data = read_cell_crops(root, ("gfp", "rfp"), n_jobs=n_jobs)
    table = data.cell_table
    # Image names look like AAC1_1_rfp: protein, field, the literal "rfp".
    field = table["image"].str.rsplit("_", n=1).str[0]
    data.update(labels=table["folder"].to_numpy(), groups=table["folder"].to_numpy(),
                fields=field.to_numpy())
    return data


def read_human_crops(root, *, n_jobs=None):
    """Read the authors' Human Protein Atlas crops: green (protein), blue, red.

    Channel order is protein first: ``("green", "blue", "red")``; blue is
    nuclei (DAPI), red microtubules. Returns the :func:`read_cell_crops`
    bunch plus ``labels`` (gene per cell, from the folder name) and
    ``groups`` (source image).
    """
    data = read_cell_crops(root, ("green", "blue", "red"), n_jobs=n_jobs)
    table = data.cell_table
    data.update(labels=table["folder"].str.split("_").str[0].to_numpy(),
                groups=(table["folder"] + "/" + table["image"]).to_numpy())
    return data


def bags_by(cells, keys):
    """Split a stack of cells into bags by key, in order of first appearance.

    Parameters
    ----------
    cells : ndarray of shape (n_cells, h, w, C)
    keys : array-like of shape (n_cells,)

    Returns
    -------
    bags : 1-D object ndarray
    bag_keys : ndarray
    """
    codes, bag_keys = pd.factorize(np.asarray(keys))  # in order of first appearance
    order = np.argsort(codes, kind="stable")
    bags = np.empty(len(bag_keys), dtype=object)
    for index, members in enumerate(np.split(order, np.cumsum(np.bincount(codes))[:-1])):
        bags[index] = cells[members]
    return bags, np.asarray(bag_keys)


def read_chong_hdf5(paths):
    """Read the DeepLoc / Chong et al. (2015) labelled yeast crops.

    The files ``Chong_{train,valid,test}_set.hdf5`` hold ``data1`` (one row per
    cell: GFP then RFP, 2 x 64 x 64, flattened channel-first), ``Index1``
    (one-hot labels) and ``Index1_columns`` (class names). As in the paper,
    "Spindle" and "Spindle Pole" are merged into one class.

    Parameters
    ----------
    paths : path-like or sequence of path-like

    Returns
    -------
    data : sklearn.utils.Bunch
        ``cells`` (n, 64, 64, 2) float32 with channels (GFP, RFP); ``labels``;
        ``source`` (file name per cell).
    """
    import re

    import h5py

    if isinstance(paths, (str, Path)):
        paths = [paths]
    cells, labels, sources = [], [], []
    for path in paths:
        try:
            with h5py.File(path, "r") as file:
                data = np.asarray(file["data1"], dtype=np.float32)
                onehot = np.asarray(file["Index1"])
                names = decode_strings(file["Index1_columns"][()])
        except (OSError, KeyError) as error:
            raise OSError(f"{str(path)!r} is not a readable Chong/DeepLoc HDF5 file: {error}") from error
        if data.shape[1] != 2 * 64 * 64 or onehot.shape != (len(data), len(names)):
            raise ValueError(f"{str(path)!r}: expected data1 of shape (n, 8192) and Index1 of shape "
                             f"(n, {len(names)}), got {data.shape} and {onehot.shape}.")
        spindle = next((n for n in names if re.sub(r"[^a-z]", "", n.lower()) == "spindle"), None)
        merged = [spindle if spindle and re.sub(r"[^a-z]", "", n.lower()) == "spindlepole" else n
                  for n in names]
        cells.append(np.moveaxis(data.reshape(-1, 2, 64, 64), 1, -1))
        labels.append(np.asarray(merged, dtype=object)[np.argmax(onehot, axis=1)])
        sources.append(np.full(len(data), Path(path).name, dtype=object))
    return Bunch(cells=np.concatenate(cells), labels=np.concatenate(labels).astype(str),
                 source=np.concatenate(sources).astype(str), channel_names=("gfp", "rfp"))


def _read_channels(paths):
    planes = []
    for path in paths:
        plane = read_image(path)
        if plane.ndim != 2:
            raise ValueError(f"Expected a single-channel image in {str(path)!r}, got shape {plane.shape}.")
        planes.append(plane)
    shapes = {plane.shape for plane in planes}
    if len(shapes) > 1:
        raise ValueError(f"Channels of one crop differ in size: {[str(p) for p in paths]}.")
    return np.stack(planes, axis=-1).astype(np.float32)


def _split_image_cell(stem):
    image, _, cell = stem.rpartition("_")
    return image, cell


def _natural_key(key):
    folder, stem = key
    image, cell = _split_image_cell(stem)
    return folder, image, int(cell) if cell.isdigit() else cell
