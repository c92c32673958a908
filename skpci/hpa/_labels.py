"""Localization labels for fields of an HPA download, for benchmarks with folds by gene."""

import numpy as np
import pandas as pd


def location_labels(manifest, names=None, *, column="gene_locations"):
    """The HPA localization of each field, looked up by the field's name.

    Parameters
    ----------
    manifest : pandas.DataFrame or path-like
        :attr:`HPADownload.manifest`, or its ``manifest.parquet``.
    names : sequence of str, optional
        Field names as :func:`skpci.io.list_fields`, ``skpci segment`` and
        :meth:`HPADownload.fields` give them (``<gene folder>/<image id>``),
        e.g. a crop store's ``images["name"]``. Default: every field of the
        manifest, in its order.
    column : {"gene_locations", "cell_line_locations"}, default="gene_locations"
        The gene's curated locations, or what its antibody showed in that
        field's cell line.

    Returns
    -------
    labels : pandas.DataFrame
        One row per name: ``ensembl_id`` and ``gene`` (use the gene as the
        fold group, so that no gene is in both training and test),
        ``locations`` (all, ``;``-separated) and ``location``: the single
        location, or missing for proteins annotated with several (a
        benchmark usually keeps single-location proteins only).

    Raises
    ------
    KeyError
        If a name is not a field of the manifest.
    """
    if not isinstance(manifest, pd.DataFrame):
        manifest = pd.read_parquet(manifest)
    keys = manifest["folder_name"] + "/" + manifest["image_id"]
    table = pd.DataFrame({"ensembl_id": manifest["ensembl_id"].to_numpy(), "gene": manifest["gene"].to_numpy(),
                          "locations": manifest[column].fillna("").to_numpy()}, index=keys.to_numpy())
    if names is not None:
        names = [str(name) for name in names]
        missing = [name for name in names if name not in table.index]
        if missing:
            raise KeyError(f"{len(missing)} field names are not in the manifest, e.g. {missing[0]!r}; names look "
                           f"like {table.index[0]!r} (<gene folder>/<image id>)." if len(table) else
                           "The manifest holds no fields.")
        table = table.loc[names]
    single = table["locations"].str.len().gt(0) & ~table["locations"].str.contains(";", regex=False)
    table["location"] = np.where(single, table["locations"], None)
    return table.reset_index(names="name")
