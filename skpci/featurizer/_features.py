"""From a fitted network to features: per cell, block by block, and per image, aggregated."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._files import write_table
from .._parallel import user_stacklevel
from ..network import FEATURE_LAYERS, layer_width, predict
from ..preprocessing import prepare_crop_stacks
from ..store import write_feature_file

#: How single-cell features of an image are combined into its profile.
AGGREGATES = {"mean": np.mean, "median": np.median}
POOLINGS = ("max", "mean", "meanmax")
#: Crops prepared and featurized at a time: bounds the memory of ``transform``.
TRANSFORM_BLOCK = 2048
#: Crops per joblib task when preparing a block (several tasks per block keep n_jobs workers busy).
PREPARE_CHUNK = 512
#: About how many cells ``cell_features`` predicts between two updates of its progress bar.
PROGRESS_CELLS = 512


def feature_layers(layer):
    """The ``layer`` parameter (a name or a list of names) as a tuple of names."""
    return (layer,) if isinstance(layer, str) else tuple(layer)


def valid_layers(layer):
    """Whether ``layer`` names one or more source-encoder convolutions."""
    layers = feature_layers(layer)
    return (bool(layers) and len(set(layers)) == len(layers)
            and all(isinstance(name, str) and name in FEATURE_LAYERS for name in layers))


def feature_names(layers, pooling="max"):
    """Column names of the features of ``layers``: ``conv4_1_17``, or with ``"meanmax"`` ``conv4_1_max_17``, ...

    With ``pooling="meanmax"`` each layer has its max-pooled units, then its
    mean-pooled ones (``conv4_1_mean_17``), in the order the extractor gives them.
    """
    kinds = ("max_", "mean_") if pooling == "meanmax" else ("",)
    return np.asarray([f"{name}_{kind}{i}" for name in layers for kind in kinds for i in range(layer_width(name))],
                      dtype=object)


def cell_features(extractor, data, channel_order, input_size, *, batch_size, mask_channel=None, n_jobs=None,
                  verbose=0):
    """Features of every cell of ``data``, prepared and predicted ``TRANSFORM_BLOCK`` cells at a time.

    Parameters
    ----------
    extractor : keras.Model
        From :func:`~skpci.network.build_feature_extractor`.
    data : CropInput
    channel_order : sequence of int
        The network's input channels, protein first.
    input_size : int
    batch_size : int
    mask_channel : int, optional
        Keep only each crop's central cell, found in this network channel.
    n_jobs : int, optional
    verbose : int, default=0

    Returns
    -------
    features : ndarray of float32, shape (data.n_cells, n_features)
    """
    features = np.zeros((data.n_cells, extractor.output.shape[-1]), dtype=np.float32)
    # Predicted a slice of whole batches at a time, so the bar moves every few hundred cells.
    step = batch_size * max(1, PROGRESS_CELLS // batch_size)
    with tqdm(total=data.n_cells, disable=not verbose, desc="features", unit="cell") as bar:
        start = 0
        for block in data.blocks(TRANSFORM_BLOCK):
            crops = prepare_crop_stacks(block, input_size, channel_order, mask_channel=mask_channel, n_jobs=n_jobs,
                                        chunk_size=PREPARE_CHUNK)
            for offset in range(0, len(crops), step):
                part = crops[offset:offset + step]
                features[start:start + len(part)] = predict(extractor, part, batch_size)
                start += len(part)
                bar.update(len(part))
    return features


def aggregate(cell_features, image_of_cell, n_images, how="mean"):
    """Combine the features of each image's cells into one row (NaN, and a warning, for an empty image).

    Parameters
    ----------
    cell_features : ndarray of shape (n_cells, n_features)
    image_of_cell : ndarray of int, shape (n_cells,)
    n_images : int
    how : {"mean", "median"}, default="mean"

    Returns
    -------
    rows : ndarray of float32, shape (n_images, n_features)

    Examples
    --------
    >>> aggregate(np.array([[1.0], [3.0], [5.0]]), np.array([0, 0, 2]), 3)
    array([[ 2.],
           [nan],
           [ 5.]], dtype=float32)
    """
    combine = AGGREGATES[how]
    order = np.argsort(image_of_cell, kind="stable")
    sizes = np.bincount(image_of_cell, minlength=n_images)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    rows = np.full((n_images, cell_features.shape[1]), np.nan, dtype=np.float32)
    for image, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        if stop > start:
            rows[image] = combine(cell_features[order[start:stop]], axis=0)
    empty = np.flatnonzero(sizes == 0)
    if len(empty):
        warnings.warn(
            f"{len(empty)} bag(s) hold no cells (first: bag {empty[0]}); their feature rows "
            "are NaN. Drop them, or impute, before a classifier.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return rows


#: Suffixes :func:`write_features` writes, and what.
FEATURE_FILE_SUFFIXES = {".parquet": "table", ".csv": "table", ".h5ad": "AnnData", ".h5": "HDF5", ".hdf5": "HDF5"}
#: Column layouts of feature tables: skpci's own, or pycytominer's (``Metadata_*``, ``Cells_skpci_*``).
TABLE_STYLES = ("skpci", "pycytominer")


def write_features(path, features, records, *, layers, pooling, per, style="skpci", **attributes):
    """Write features with their records: a table (``.parquet``, ``.csv``), AnnData (``.h5ad``) or HDF5 (``.h5``).

    Parameters
    ----------
    path : pathlib.Path
    features : ndarray of shape (n_rows, n_features)
    records : pandas.DataFrame
        One row per feature row: where it comes from (tables and AnnData).
    layers : tuple of str
    pooling : str
    per : {"cell", "image"}
    style : {"skpci", "pycytominer"}, default="skpci"
        Column names of a table: the records as they are and features
        named ``conv4_1_17``; or ``Metadata_*`` records and
        ``Cells_skpci_conv4_1_17`` features, which pycytominer reads as is.
    **attributes
        Recorded in an HDF5 file (e.g. ``store_fingerprint``).

    Returns
    -------
    path : pathlib.Path
    """
    from ..formats import pycytominer_table, to_anndata, write_h5ad

    suffix = Path(path).suffix.lower()
    names = list(feature_names(layers, pooling))
    if suffix in (".h5", ".hdf5"):
        return write_feature_file(path, features, overwrite=True, layers="+".join(layers), pooling=pooling,
                                  per=per, **attributes)
    if suffix == ".h5ad":
        return Path(write_h5ad(to_anndata(features, records, feature_names=names, layers=layers, pooling=pooling,
                                          per=per), path))
    if style == "pycytominer":
        table = pycytominer_table(features, records, feature_names=names)
    else:
        table = pd.concat([records.reset_index(drop=True), pd.DataFrame(features, columns=names)], axis=1)
    write_table(table, path)
    return Path(path)
