"""Fetching published weight files once into the user cache, verified (through :mod:`skpci._fetch`)."""

import os
from pathlib import Path

from .._fetch import DownloadError, VerificationError, download
from ._errors import PretrainedModelError
from ._keras2 import open_h5


def cache_dir():
    """Where fetched weights are kept: ``$SKPCI_CACHE_DIR`` or ``~/.cache/skpci``."""
    return Path(os.environ.get("SKPCI_CACHE_DIR", Path.home() / ".cache" / "skpci"))


def fetch(url, destination, *, sha256=None, git_blob=None, progress=True, timeout=30, deadline=1800):
    """Download ``url`` to ``destination`` once, verifying it; later calls use the cache.

    The file is written to a temporary name and renamed when complete and
    verified, so an interrupted download never leaves a partial file. Server
    errors and dropped connections are retried; see :func:`skpci._fetch.download`.

    Parameters
    ----------
    url : str
    destination : path-like
    sha256 : str, optional
        Expected digest. Without one, the file must open as HDF5, and the
        digest of the first download is recorded and checked on later uses.
    git_blob : str, optional
        Expected git blob id, for a file served from a repository at a fixed
        commit (see :func:`skpci._fetch.git_blob_of`).
    progress : bool, default=True
    timeout : float, default=30
        Seconds any one connection or read may wait.
    deadline : float, default=1800
        Seconds the whole download may take.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ConnectionError
        When the file cannot be downloaded (offline?).
    PretrainedModelError
        When the downloaded or cached file fails verification.
    """
    try:
        return download(url, destination, sha256=sha256, git_blob=git_blob, verify=lambda path: open_h5(path).close(),
                        timeout=timeout, deadline=deadline, progress=progress)
    except VerificationError as error:
        raise PretrainedModelError(str(error)) from error
    except DownloadError as error:
        raise DownloadError(f"{error} Or download the file yourself and give its path instead of the name "
                            "(weights= or from_pretrained in Python; --model or --from-pretrained on the command "
                            "line).") from error
