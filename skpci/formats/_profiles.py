"""Profiles in the layout of image-based profiling: ``Metadata_`` columns, then compartment-prefixed features.

pycytominer (``aggregate``, ``normalize``, ``feature_select``) finds features
by their CellProfiler compartment prefix and metadata by ``Metadata_``. A
crop is centred on one cell, so skpci's features are named as measurements
of the ``Cells`` compartment: ``Cells_skpci_conv4_1_17`` is unit 17 of
``conv4_1``, and the layer stays readable in every name.
"""

import pandas as pd

#: The CellProfiler compartment skpci's features are filed under.
COMPARTMENT = "Cells"
#: What follows the compartment in every feature name.
FEATURE_PREFIX = f"{COMPARTMENT}_skpci_"


def pycytominer_table(features, records, *, feature_names):
    """One table of ``Metadata_*`` columns followed by ``Cells_skpci_<layer>_<unit>`` features.

    Parameters
    ----------
    features : ndarray of shape (n_rows, n_features)
    records : pandas.DataFrame
        One row per cell (or image); each column becomes ``Metadata_<name>``
        unless it already starts with ``Metadata_``.
    feature_names : sequence of str

    Returns
    -------
    pandas.DataFrame
    """
    metadata = records.reset_index(drop=True).rename(
        columns=lambda name: name if str(name).startswith("Metadata_") else f"Metadata_{name}")
    metadata = metadata.loc[:, ~metadata.columns.duplicated()]
    columns = pd.DataFrame(features, columns=[FEATURE_PREFIX + str(name) for name in feature_names])
    return pd.concat([metadata, columns], axis=1)


def profile_feature_columns(table):
    """The feature columns of a table written with ``style="pycytominer"`` (for pycytominer's ``features=``)."""
    return [column for column in table.columns if str(column).startswith(FEATURE_PREFIX)]
