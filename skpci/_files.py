"""Writing files (and tables) so that they appear complete or not at all; reading HDF5 strings."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path, *, publish=None):
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    On any error the temporary file is removed and ``path`` is untouched. The
    file gets the permissions a plain ``open(path, "w")`` would give it.

    Parameters
    ----------
    path : str or path-like
    publish : callable, optional
        Called with the finished temporary path instead of renaming it to
        ``path`` (for example to pick a free name atomically).
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_current_umask())
        if publish is None:
            os.replace(temporary, path)
        else:
            publish(Path(temporary))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_directory(path, *, overwrite=False):
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_current_umask())
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, retired / path.name)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def check_table_suffix(path):
    """The lower-case suffix of a table path, which must be ``.csv`` or ``.parquet``."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"Output {str(path)!r} must end in .csv or .parquet.")
    return suffix


def write_table(table, path):
    """Write a DataFrame atomically as CSV (``.csv``) or Parquet (``.parquet``)."""
    path = Path(path)
    suffix = check_table_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as temporary:
        if suffix == ".csv":
            table.to_csv(temporary, index=False)
        else:
            try:
                table.to_parquet(temporary, index=False)
            except ImportError as error:
                raise ValueError("Writing Parquet needs pyarrow: pip install pyarrow, or write .csv.") from error


def decode_strings(values):
    """HDF5 string values (bytes or str, any shape) as a list of str."""
    import numpy as np

    return [value.decode() if isinstance(value, bytes) else str(value) for value in np.ravel(values)]
