"""Fetching published weight files once into the user cache, verified."""

import os
import urllib.error
import urllib.request
from pathlib import Path

from .._files import atomic_file
from ._directory import sha256_of
from ._errors import PretrainedModelError
from ._keras2 import open_h5


def cache_dir():
    """Where fetched weights are kept: ``$SKPCI_CACHE_DIR`` or ``~/.cache/skpci``."""
    return Path(os.environ.get("SKPCI_CACHE_DIR", Path.home() / ".cache" / "skpci"))



def fetch(url, destination, *, sha256=None, progress=True, timeout=30):
    """Download ``url`` to ``destination`` once, verifying it; later calls use the cache.

    The file is written to a temporary name and renamed when complete and
    verified, so an interrupted download never leaves a partial file.

    Parameters
    ----------
    url : str
    destination : path-like
    sha256 : str, optional
        Expected digest. Without one, the file must at least open as HDF5.
    progress : bool, default=True
    timeout : float, default=30
        Seconds to wait for the server.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ConnectionError
        When the server cannot be reached (offline?).
    PretrainedModelError
        When the downloaded file fails verification.
    """
    from tqdm.auto import tqdm

    destination = Path(destination)
    if destination.is_file() and (sha256 is None or sha256_of(destination) == sha256):
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(destination) as partial:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, disable=not progress,
                          desc=f"fetching {destination.name}") as bar:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(
                f"Could not download {url} ({error}). Check the network connection (offline?), "
                f"or download the file yourself and pass its path as weights=."
            ) from error
        if sha256 is not None and sha256_of(partial) != sha256:
            raise PretrainedModelError(f"The file downloaded from {url} fails its checksum; not kept.")
        if sha256 is None:
            open_h5(partial).close()
    return destination
