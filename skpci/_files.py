"""Writing files (and tables) so that they appear complete or not at all; reading HDF5 strings.

Temporary files and folders are made beside their target and named after it,
the host and the writing process (``.model.host-1234.x8f2.part``). A write
that was killed leaves them behind; the next write to the same target
removes those whose process is gone, and puts back a folder that a killed
overwrite had moved aside but not yet replaced.
"""

import contextlib
import errno
import itertools
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _owner_tag():
    """``host-pid`` of this process, as temporary names carry it."""
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', socket.gethostname())}-{os.getpid()}"


def _process_is_gone(tag):
    """Whether the process named by a temporary's ``host-pid`` tag has ended (False when unsure)."""
    host, _, pid = tag.rpartition("-")
    if host != _owner_tag().rpartition("-")[0] or not pid.isdigit():
        return False  # another machine's process (a shared file system), or not our naming
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _stale_temporaries(path, kind):
    """Temporaries of ``path`` (``kind``: "part", "staging" or "old") left by processes that have ended."""
    patterns = {"part": r"\.{name}\.(?P<tag>.+-\d+)\.[^.]+\.part",
                "staging": r"\.{name}\.(?P<tag>.+-\d+)\.staging\.[^.]+",
                "old": r"\.{name}\.(?P<tag>.+-\d+)\.old\.[^.]+"}
    pattern = re.compile(patterns[kind].format(name=re.escape(path.name)) + "$")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return [path.parent / name for name in names
            if (match := pattern.match(name)) and _process_is_gone(match.group("tag"))]


def remove_stale_temporaries(path):
    """Clean up after killed writes to ``path``: restore a folder moved aside, remove partial files.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    restored : bool
        True when ``path`` was missing and the copy a killed overwrite had moved aside was put back.
    """
    restored = False
    for retired in _stale_temporaries(path, "old"):
        if not path.exists() and (retired / path.name).exists():
            os.replace(retired / path.name, path)
            restored = True
        shutil.rmtree(retired, ignore_errors=True)
    for leftover in _stale_temporaries(path, "staging"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in _stale_temporaries(path, "part"):
        with contextlib.suppress(OSError):
            leftover.unlink()
    return restored


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
    remove_stale_temporaries(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.{_owner_tag()}.", suffix=".part", dir=path.parent)
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
    if path.parent.is_dir():
        remove_stale_temporaries(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_owner_tag()}.staging.", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_current_umask())
        if path.exists():
            # Between these two renames a kill leaves path missing; the next write (or load) puts it back.
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_owner_tag()}.old.", dir=path.parent))
            os.replace(path, retired / path.name)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


_IN_MEMORY_FILES = itertools.count()


@contextlib.contextmanager
def hdf5_written_in_memory(path):
    """Yield a writable ``h5py.File`` held in memory; on success its bytes are written to ``path``.

    The HDF5 library does not recover from a failed write: after a full disk
    it raised again while closing and then crashed the interpreter
    (segmentation fault). Built in memory and written with plain file I/O, a
    full disk is an ordinary :class:`OSError` and nothing is left half-open.
    Use inside :func:`atomic_file`.
    """
    import h5py

    name = f"skpci-in-memory-{os.getpid()}-{next(_IN_MEMORY_FILES)}.h5"
    handle = h5py.File(name, "w", driver="core", backing_store=False)
    try:
        yield handle
        handle.flush()
        image = handle.id.get_file_image()
    finally:
        handle.close()
    try:
        with open(path, "wb") as out:
            out.write(image)
    except OSError as error:
        raise no_space_message(error, path, len(image)) from error


def no_space_message(error, path, n_bytes=None):
    """``error`` with what to do when it says the disk is full (else ``error`` itself)."""
    if getattr(error, "errno", None) not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return error
    needed = f" {n_bytes / 2**20:.1f} MiB" if n_bytes else ""
    return OSError(error.errno, f"No space left to write{needed} in {str(Path(path).parent)!r} "
                                f"({os.strerror(error.errno)}). Nothing was half-written: free some space (or "
                                "choose another folder) and run it again.")


def check_free_space(folder, n_bytes, what):
    """Raise a clear :class:`OSError` if ``folder``'s file system has less than ``n_bytes`` free."""
    free = shutil.disk_usage(folder).free
    if free < n_bytes:
        raise OSError(errno.ENOSPC, f"Not enough space to write {what} in {str(folder)!r}: it needs about "
                                    f"{n_bytes / 2**20:.1f} MiB and {free / 2**20:.1f} MiB are free. Free some "
                                    "space or choose another folder.")


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
