"""CellProfiler LoadData tables as field lists: ``FileName_<channel>`` / ``PathName_<channel>`` columns.

A LoadData CSV names every image's per-channel files and carries its
``Metadata_*`` columns (plate, well, site, treatment...). skpci reads it as
the list of fields for :class:`skpci.CellSegmenter`, ``to_store`` and
``skpci segment``, keeps the metadata with each stored image, and so hands
it on to feature tables (``style="pycytominer"``).
"""

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

_NAME_KEYS = ("Metadata_Plate", "Metadata_Well", "Metadata_Site", "Metadata_Field", "Metadata_FOV")


@dataclass
class LoadDataFields:
    """Fields read from a LoadData table.

    Attributes
    ----------
    fields : list of tuple of str
        Per image, one path per channel in ``channel_names`` order.
    names : list of str
        Per image, a unique name: plate/well/site where the table has them,
        else the first channel's file name.
    channel_names : tuple of str
    metadata : list of dict
        Per image, its ``Metadata_*`` values.
    """

    fields: list
    names: list
    channel_names: tuple
    metadata: list


def is_loaddata(table):
    """Whether ``table`` is a DataFrame with CellProfiler ``FileName_<channel>`` columns."""
    return isinstance(table, pd.DataFrame) and any(str(column).startswith("FileName_") for column in table.columns)


def loaddata_fields(table, channels=None, *, root=None):
    """Read a CellProfiler LoadData table (a CSV file or a DataFrame) as a list of fields.

    Parameters
    ----------
    table : str, path-like or pandas.DataFrame
    channels : sequence of str, optional
        Channels to read, in this order (the ``<channel>`` of
        ``FileName_<channel>``). Default: every channel, in column order.
    root : str or path-like, optional
        Where relative ``PathName_`` folders (or file names without a
        ``PathName_`` column) are found. Default: the CSV's folder, or the
        working directory for a DataFrame.

    Returns
    -------
    LoadDataFields

    Raises
    ------
    ValueError
        If the table has no ``FileName_`` columns, lacks a requested
        channel, or has an empty file name.
    """
    if not isinstance(table, pd.DataFrame):
        path = Path(table)
        if not path.is_file():
            raise FileNotFoundError(f"No such LoadData file: {str(path)!r}.")
        root = path.parent if root is None else root
        table = pd.read_csv(path)
    root = Path.cwd() if root is None else Path(root)
    available = [str(column)[len("FileName_"):] for column in table.columns if str(column).startswith("FileName_")]
    if not available:
        raise ValueError("This table has no FileName_<channel> columns, so it is not a CellProfiler LoadData table; "
                         f"its columns are {list(table.columns)[:8]}.")
    channels = tuple(available) if channels is None else tuple(channels)
    missing = [channel for channel in channels if channel not in available]
    if missing:
        raise ValueError(f"The LoadData table has no FileName_ column for channel(s) {missing}; its channels are "
                         f"{available}.")
    table = table.reset_index(drop=True)
    fields = []
    for row in range(len(table)):
        paths = []
        for channel in channels:
            name = table.at[row, f"FileName_{channel}"]
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"LoadData row {row}: FileName_{channel} is empty.")
            folder = table.at[row, f"PathName_{channel}"] if f"PathName_{channel}" in table.columns else ""
            folder = Path(folder) if isinstance(folder, str) and folder.strip() else Path()
            paths.append(str((folder if folder.is_absolute() else root / folder) / name))
        fields.append(tuple(paths))
    metadata_columns = [column for column in table.columns if str(column).startswith("Metadata_")]
    metadata = [{column: _plain(table.at[row, column]) for column in metadata_columns} for row in range(len(table))]
    return LoadDataFields(fields, _names(table, fields), channels, metadata)


def _names(table, fields):
    keys = [key for key in _NAME_KEYS if key in table.columns]
    if keys:
        names = ["/".join(str(_plain(table.at[row, key])) for key in keys) for row in range(len(table))]
    else:
        names = [Path(paths[0]).stem for paths in fields]
    if len(set(names)) < len(names):
        names = [f"{name}#{row}" for row, name in enumerate(names)]
    return names


def _plain(value):
    """A JSON-friendly scalar: NaN becomes None, NumPy numbers Python numbers."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
