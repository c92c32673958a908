"""Downloading one file over HTTP(S): whole or not at all, verified, retried, within a deadline.

The one fetching path of skpci (published weights today). What it promises:

* **atomic**: the body goes to a temporary file beside the destination,
  renamed into place only when complete and verified;
* **complete**: a body shorter than its ``Content-Length`` is a dropped
  connection, not a file;
* **retried**: server errors (5xx), dropped connections and timeouts are
  retried with exponential backoff; other HTTP errors (404...) are not;
* **bounded**: each read waits at most ``timeout`` seconds, and the whole
  download (retries included) at most ``deadline`` seconds, so a server
  that sends one byte a second cannot hold it forever;
* **no scheme changes**: a redirect may move to another host (release files
  live on content servers) but not to another scheme, except from http to
  https;
* **verified**: against a pinned SHA-256, or the git blob id of a file
  served from a git repository at a fixed commit, when there is one; the
  SHA-256 of the first verified download is recorded beside the file
  (``<file>.sha256``) and checked on every later use (with no pin, this is
  "trust on first use").
"""

import hashlib
import http.client
import io
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ._files import atomic_file

#: HTTP statuses worth another try.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 1 << 20


class DownloadError(ConnectionError):
    """A download failed for good (after its retries); the message says what to try.

    ``status`` is the server's last HTTP status, when it answered with one.
    """

    def __init__(self, message, *, status=None):
        super().__init__(message)
        self.status = status


class VerificationError(ValueError):
    """A downloaded or cached file is not the file expected."""


def sha256_of(path, chunk=_CHUNK):
    """SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_of(path, chunk=_CHUNK):
    """The git blob id (SHA-1 of ``"blob <size>\\0"`` and the content) of the file at ``path``.

    What ``git hash-object`` prints: a published repository's tree names
    each file's content by it, so a file served from a fixed commit can be
    checked without the file itself.
    """
    digest = hashlib.sha1(f"blob {Path(path).stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to other hosts, but never to another scheme (other than http -> https)."""

    def http_error_302(self, request, fp, code, message, headers):
        new_url = headers.get("Location") or headers.get("URI") or ""
        old = urllib.parse.urlsplit(request.full_url).scheme
        new = urllib.parse.urlsplit(urllib.parse.urljoin(request.full_url, new_url)).scheme
        if new != old and (old, new) != ("http", "https"):
            raise urllib.error.HTTPError(
                request.full_url, code, f"refused a redirect from {old}:// to {new}:// ({new_url})", headers, fp)
        return super().http_error_302(request, fp, code, message, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_SameSchemeRedirects)


def _stream(url, out, *, timeout, deadline, bar=None, max_bytes=None):
    """One attempt: copy the body of ``url`` into the binary file ``out``; return the response's Content-Type.

    Raises on a body shorter than its Content-Length, on a body over
    ``max_bytes``, and when ``deadline`` (a ``time.monotonic()`` value) passes.
    """
    with _OPENER.open(url, timeout=timeout) as response:
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        if max_bytes is not None and expected is not None and expected > max_bytes:
            raise TooLarge(f"{url} is {expected} bytes, over the {max_bytes} expected at most")
        if bar is not None:
            bar.reset(total=expected)
        received = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("the download did not finish before its deadline")
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            received += len(chunk)
            if max_bytes is not None and received > max_bytes:
                raise TooLarge(f"{url} sent more than the {max_bytes} bytes expected at most")
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise http.client.IncompleteRead(b"", expected - received)
        return response.headers.get("Content-Type", "")


class TooLarge(DownloadError):
    """A body larger than the caller allows (not retried)."""


def with_retries(url, attempt, *, deadline, retries=3, backoff=1.0, before=None):
    """Call ``attempt(give_up)`` until it succeeds, retrying what another try may fix.

    Server errors (:data:`RETRY_STATUSES`), dropped connections and timeouts
    are retried with exponential backoff; anything else fails at once.

    Parameters
    ----------
    url : str
        For messages.
    attempt : callable
        Called with the ``time.monotonic()`` deadline; returns the result.
    deadline : float
        Seconds for all tries together.
    retries : int, default=3
    backoff : float, default=1.0
        Seconds before the first retry, doubled for each further one.
    before : callable, optional
        Called before each try (e.g. to keep a polite request rate).

    Raises
    ------
    DownloadError
        With ``status`` set to the last HTTP status, if there was one.
    """
    give_up = time.monotonic() + deadline
    for number in range(retries + 1):
        asked = 0.0
        try:
            if before is not None:
                before()
            return attempt(give_up)
        except TooLarge:
            raise
        except urllib.error.HTTPError as error:
            asked = _retry_after(error)
            if error.code not in RETRY_STATUSES or number == retries:
                raise DownloadError(
                    f"Could not download {url}: the server answered HTTP {error.code} ({error.reason}). "
                    "If the address has moved, report it; a later try may succeed for a busy server.",
                    status=error.code,
                ) from error
            failure = error
        except TimeoutError as error:
            if time.monotonic() > give_up or number == retries:
                raise DownloadError(_failure(url, f"no complete file within {deadline:g} s "
                                                  f"({error or 'timed out'})")) from error
            failure = error
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            # No server at that address (offline, or a wrong host): another try will not help.
            unreachable = isinstance(getattr(error, "reason", error), (socket.gaierror, ConnectionRefusedError))
            if unreachable or number == retries:
                raise DownloadError(_failure(url, _reason(error))) from error
            failure = error
        pause = max(backoff * 2**number, asked)  # a server's Retry-After is honoured
        if time.monotonic() + pause > give_up:
            raise DownloadError(_failure(url, f"out of time after {number + 1} tries ({_reason(failure)})"),
                                status=getattr(failure, "code", None))
        time.sleep(pause)


def _retry_after(error):
    """Seconds a 429 or 503 answer asks to wait (``Retry-After``), at most 120; 0 when it does not say."""
    value = (error.headers or {}).get("Retry-After", "") if error.code in (429, 503) else ""
    try:
        return min(max(float(value), 0.0), 120.0)
    except ValueError:
        return 0.0


def fetch_bytes(url, *, timeout=30, deadline=120, retries=3, backoff=1.0, max_bytes=64 * 2**20, before=None):
    """The body of ``url`` in memory, complete, with the same retries and limits as :func:`download`.

    For small documents (gene records, single images) that are checked and
    converted before anything is written.

    Parameters
    ----------
    url : str
    timeout, deadline, retries, backoff
        As for :func:`download`.
    max_bytes : int, default=64 MiB
        Larger bodies are refused (not retried).
    before : callable, optional
        Called before each try.

    Returns
    -------
    body : bytes
    content_type : str
    """
    _check_scheme(url)
    url = ascii_url(url)

    def attempt(give_up):
        buffer = io.BytesIO()
        content_type = _stream(url, buffer, timeout=timeout, deadline=give_up, max_bytes=max_bytes)
        return buffer.getvalue(), content_type

    return with_retries(url, attempt, deadline=deadline, retries=retries, backoff=backoff, before=before)


def _check_scheme(url):
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"Only http:// and https:// addresses are fetched, not {url!r}.")


def ascii_url(url):
    """``url`` with characters outside ASCII percent-encoded (as browsers send them); ASCII is left as it is."""
    if url.isascii():
        return url
    return urllib.parse.quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def download(url, destination, *, sha256=None, git_blob=None, verify=None, timeout=30, deadline=600, retries=3,
             backoff=1.0, progress=True, description=None):
    """Download ``url`` to ``destination`` (atomically), verified, unless a verified copy is there.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` address.
    destination : path-like
    sha256 : str, optional
        The expected digest. Without one, the digest of the first verified
        download is recorded in ``<destination>.sha256`` and required later.
    git_blob : str, optional
        The expected git blob id (see :func:`git_blob_of`), for files
        served from a git repository at a fixed commit.
    verify : callable, optional
        Called with the path of a complete download (before it is kept);
        raises to reject it, e.g. when it is not the expected file type.
    timeout : float, default=30
        Seconds any one connection or read may wait.
    deadline : float, default=600
        Seconds the whole download may take, retries included.
    retries : int, default=3
        Further attempts after a server error, a dropped connection or a timeout.
    backoff : float, default=1.0
        Seconds before the first retry, doubled for each further one.
    progress : bool, default=True
    description : str, optional
        Label of the progress bar (default: the file name).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    DownloadError
        When the file could not be downloaded (offline, not found, refused
        redirect, out of time or retries).
    VerificationError
        When the downloaded file, or the cached one, is not the expected file.
    """
    destination = Path(destination)
    _check_scheme(url)
    if destination.is_file():
        check_cached(destination, sha256, git_blob=git_blob)
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit="B", unit_scale=True, desc=description or f"fetching {destination.name}")
    try:
        with atomic_file(destination) as partial:

            def attempt(give_up):
                with open(partial, "wb") as out:
                    _stream(url, out, timeout=timeout, deadline=give_up, bar=bar)

            with_retries(url, attempt, deadline=deadline, retries=retries, backoff=backoff)
            digest = sha256_of(partial)
            if sha256 is not None and digest != sha256:
                raise VerificationError(
                    f"The file downloaded from {url} fails its checksum (SHA-256 {digest}, expected {sha256}); "
                    "it was not kept. The server may serve another version: report it, or download the file "
                    "yourself."
                )
            _check_git_blob(partial, git_blob, f"The file downloaded from {url}", "it was not kept")
            if verify is not None:
                try:
                    verify(partial)
                except Exception as error:
                    raise VerificationError(f"The file downloaded from {url} is not usable ({error}); "
                                            "it was not kept.") from error
            if sha256 is None:
                _record_digest(destination, digest)
    finally:
        if bar is not None:
            bar.close()
    return destination


def check_cached(path, sha256=None, *, git_blob=None):
    """Check a cached download against its pinned or recorded digest.

    Raises
    ------
    VerificationError
        With the path to delete so that the next use downloads it again.
    """
    path = Path(path)
    recorded = _digest_file(path)
    expected = sha256 or (recorded.read_text().strip() if recorded.is_file() else None)
    if expected is None:
        # Cached before digests were recorded: check the pin if there is one, then keep its digest.
        _check_git_blob(path, git_blob, f"The cached file {str(path)!r}", "delete it to download it again")
        _record_digest(path, sha256_of(path))
        return
    if sha256_of(path) != expected:
        raise VerificationError(
            f"The cached file {str(path)!r} is damaged or was changed: its SHA-256 is not the "
            f"{'pinned' if sha256 else 'recorded'} {expected}. Delete it (and {recorded.name}, if present) "
            "to download it again."
        )


def _check_git_blob(path, git_blob, what, then):
    if git_blob is not None and (found := git_blob_of(path)) != git_blob:
        raise VerificationError(f"{what} is not the published file: its git blob id is {found}, expected "
                                f"{git_blob}; {then}. The server may serve another version: report it.")


def _digest_file(path):
    return path.with_name(path.name + ".sha256")


def _record_digest(path, digest):
    with atomic_file(_digest_file(path)) as temporary:
        temporary.write_text(digest + "\n")


def _reason(error):
    reason = getattr(error, "reason", None) or error
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def _failure(url, reason):
    return f"Could not download {url} ({reason}). Check the network connection (offline?) and try again."
