"""Features as AnnData, the scverse container: ``X`` the features, ``obs`` the cells, ``var`` the features' layers."""

import json

import numpy as np
import pandas as pd

from .._files import atomic_file
from .._optional import require


def to_anndata(features, records, *, feature_names, layers, pooling="max", per="cell"):
    """Build an :class:`anndata.AnnData` from features and their records.

    Parameters
    ----------
    features : ndarray of shape (n_rows, n_features)
    records : pandas.DataFrame
        One row per feature row (cell or image): where it comes from.
    feature_names : sequence of str
        One per feature column, such as ``conv4_1_17``.
    layers : sequence of str
        The layers, in the order their blocks appear.
    pooling : str, default="max"
    per : {"cell", "image"}, default="cell"

    Returns
    -------
    anndata.AnnData
        ``obs`` holds the records (nested values as JSON text), ``var`` the
        feature names with their ``layer`` and ``unit``; ``uns["skpci"]``
        records the layers, pooling, rows and where each layer's columns
        are (``layer_columns``: ``[start, stop)``). Select one layer with
        ``adata[:, adata.var["layer"] == "conv4_1"]``.
    """
    anndata = require("anndata", "anndata")
    from .. import __version__

    features = np.asarray(features, dtype=np.float32)
    feature_names = [str(name) for name in feature_names]
    layer_of = np.array([name.rsplit("_", 1)[0] for name in feature_names], dtype=object)
    unit = np.array([int(name.rsplit("_", 1)[1]) for name in feature_names], dtype=np.int64)
    var = pd.DataFrame({"layer": pd.Categorical(layer_of, categories=list(layers)), "unit": unit},
                       index=pd.Index(feature_names, name="feature"))
    columns = {}
    for layer in layers:
        where = np.flatnonzero(layer_of == layer)
        columns[layer] = [int(where[0]), int(where[-1]) + 1]
    obs = _obs(records, per)
    uns = {"skpci": {"layers": list(layers), "pooling": pooling, "per": per, "layer_columns": columns,
                     "skpci_version": __version__}}
    return anndata.AnnData(X=features, obs=obs, var=var, uns=uns)


def write_h5ad(adata, path):
    """Write ``adata`` to ``path`` atomically (temporary file, then rename)."""
    with atomic_file(path) as temporary:
        adata.write_h5ad(temporary)
    return path


def _obs(records, per):
    obs = records.reset_index(drop=True).copy()
    for column in obs.columns:
        values = obs[column]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype) or str(values.dtype) == "str":
            if any(isinstance(value, (dict, list, tuple)) for value in values):
                obs[column] = [json.dumps(value) for value in values]
            else:
                obs[column] = ["" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
                               for value in values]
    prefix = "cell" if per == "cell" else "image"
    obs.index = pd.Index([f"{prefix}-{row}" for row in range(len(obs))], name=f"{prefix}_id")
    return obs
