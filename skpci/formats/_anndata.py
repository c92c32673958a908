"""Features as AnnData, the scverse container: ``X`` the features, ``obs`` the cells, ``var`` the features' layers."""

import json
import re

import numpy as np
import pandas as pd

from .._files import atomic_file
from .._optional import require

#: A feature name: layer, the pooling where a layer has two (``"meanmax"``), and unit.
_FEATURE_NAME = re.compile(r"(?P<layer>.+?)_(?:(?P<pooling>max|mean)_)?(?P<unit>\d+)")


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
        feature names with their ``layer``, ``unit`` and ``pooling``; ``uns["skpci"]``
        records the layers, pooling, rows and where each layer's columns
        are (``layer_columns``: ``[start, stop)``). Select one layer with
        ``adata[:, adata.var["layer"] == "conv4_1"]``.
    """
    anndata = require("anndata", "anndata")
    from .. import __version__

    features = np.asarray(features, dtype=np.float32)
    feature_names = [str(name) for name in feature_names]
    parts = [_FEATURE_NAME.fullmatch(name) for name in feature_names]
    if not all(parts):
        raise ValueError(f"Feature names must look like conv4_1_17 or conv4_1_mean_17; got {feature_names[0]!r}.")
    layer_of = np.array([part["layer"] for part in parts], dtype=object)
    unit = np.array([int(part["unit"]) for part in parts], dtype=np.int64)
    var = pd.DataFrame({"layer": pd.Categorical(layer_of, categories=list(layers)), "unit": unit,
                        "pooling": pd.Categorical([part["pooling"] or pooling for part in parts])},
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
