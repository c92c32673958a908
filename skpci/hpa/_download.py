"""Downloading the Human Protein Atlas's cell-line immunofluorescence: resumable, polite, with labels.

For each gene, its record ``<site>/<ENSG>.xml`` is fetched (and kept, under
``xml/``), its human cell-line images are listed, and each field's stains
are fetched as separate images and stored one plane per file: as served
when the HPA serves a single plane, and as a lossless PNG of the stain's
intensity when it serves the stain in its display colour (RGB)::

    DIR/
      manifest.parquet            one row per field: gene, antibody, cell line, plate/well/field,
                                  files, addresses, bytes, checksums, localization annotations
      failures.csv                what could not be fetched this time (absent when nothing failed)
      xml/ENSG00000134057.xml
      images/CCNB1/38585_2146_D7_42_blue.png
      images/CCNB1/38585_2146_D7_42_red.png
      images/CCNB1/38585_2146_D7_42_green.png

so ``list_fields(DIR / "images", ["blue", "red", "green"], recursive=True)``
(or ``skpci segment DIR/images --channels blue,red,green --recursive``)
reads them directly, with the gene as the folder.

Every file is written to a temporary name and renamed, and recorded in
``.journal.jsonl`` once complete; a rerun skips what the journal and the
disk agree on, so a killed download resumes where it stopped and gives the
same files and manifest. All requests go through :mod:`skpci._fetch`
(timeouts, retries with backoff, an overall deadline per file, no redirects
to another scheme).
"""

import hashlib
import io
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from .._fetch import DownloadError, fetch_bytes
from .._files import atomic_file, write_table
from ._genes import read_gene_list, resolve_gene_names
from ._records import HPA_COLORS, GeneRecordError, channel_url, parse_gene_xml

#: The Human Protein Atlas.
HPA_URL = "https://www.proteinatlas.org"
#: The stains the authors' human model reads: nucleus, microtubules, protein.
DEFAULT_CHANNELS = ("blue", "red", "green")
#: The authors' composite: one RGB JPEG per field (red = microtubules, green = protein, blue = nucleus).
COMPOSITE = "blue_red_green"
MANIFEST_FILE = "manifest.parquet"
FAILURES_FILE = "failures.csv"
JOURNAL_FILE = ".journal.jsonl"
#: Larger images are refused before decoding (the HPA's are 2048 x 2048 or 3072 x 3072).
MAX_PIXELS = 10_000 * 10_000


@dataclass
class HPADownload:
    """The result of :func:`download_hpa`.

    Attributes
    ----------
    path : pathlib.Path
        The download folder.
    manifest : pandas.DataFrame
        One row per complete field (also in ``manifest.parquet``).
    failures : pandas.DataFrame
        What could not be fetched: ``ensembl_id``, ``gene``, ``image_id``,
        ``url``, ``reason`` and ``retry`` (whether a rerun may succeed:
        false for genes or files the HPA does not have); also in
        ``failures.csv``. Run the same download again to retry them.
    channels : tuple of str
        The stains fetched per field (``("blue_red_green",)`` for composites).
    """

    path: Path
    manifest: pd.DataFrame
    failures: pd.DataFrame
    channels: tuple = field(default=DEFAULT_CHANNELS)

    def fields(self):
        """The fields as file references for :class:`skpci.CellSegmenter`, with their names.

        Returns
        -------
        fields : list
            Per field, a tuple of per-stain paths in ``channels`` order, or
            the composite's path.
        names : list of str
            ``<gene folder>/<image id>``, as ``list_fields`` names them.
        """
        columns = [f"file_{channel}" for channel in self.channels]
        fields = [tuple(str(self.path / name) for name in row) if len(row) > 1 else str(self.path / row[0])
                  for row in self.manifest[columns].itertuples(index=False)]
        names = [f"{folder}/{image}" for folder, image in zip(self.manifest["folder_name"], self.manifest["image_id"])]
        return fields, names

    def summary(self):
        """A few lines for people: what was downloaded, what failed, and whether a rerun can fix it."""
        genes = self.manifest["ensembl_id"].nunique() if len(self.manifest) else 0
        lines = [f"{len(self.manifest)} fields of {genes} genes in {self.path}"]
        if len(self.failures):
            retry = int(self.failures["retry"].sum())
            lines.append(f"{len(self.failures)} downloads failed (listed in {self.path / FAILURES_FILE}); "
                         + (f"run the same command again to retry the {retry} that may succeed later"
                            if retry else "a rerun will not fix them")
                         + (f"; {len(self.failures) - retry} will not (unknown genes or files)"
                            if retry and retry < len(self.failures) else "") + ":")
            for row in self.failures.head(5).itertuples(index=False):
                who = next((str(value) for value in (row.gene, row.ensembl_id) if not pd.isna(value)), "?")
                where = f" {row.image_id}" if not pd.isna(row.image_id) else ""
                lines.append(f"  {who}{where}: {row.reason}")
            if len(self.failures) > 5:
                lines.append(f"  ... and {len(self.failures) - 5} more")
        return "\n".join(lines)

    @property
    def complete(self):
        """Whether nothing failed that a rerun could still fetch."""
        return not (len(self.failures) and self.failures["retry"].any())


class RateLimit:
    """Spaces request starts at least ``1 / per_second`` seconds apart, across threads."""

    def __init__(self, per_second):
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        time.sleep(start - now)


class NotAnImage(ValueError):
    """The server answered with something that is not the image asked for."""


def download_hpa(genes, directory, *, channels=DEFAULT_CHANNELS, composite=False, cell_lines=None,
                 max_connections=4, requests_per_second=4.0, timeout=30, deadline=300, retries=3, backoff=1.0,
                 base_url=HPA_URL, verify=False, progress=True):
    """Download the Human Protein Atlas immunofluorescence images of some genes, with their annotations.

    Resumable: a rerun into the same folder skips finished files and
    retries what failed. Nothing half-written is ever left under a final
    name.

    Parameters
    ----------
    genes : str, path-like or sequence of str
        A gene list file or its entries: Ensembl ids, gene names (looked up
        with the HPA's search), or the authors' ``proteinlist.txt``; see
        :func:`read_gene_list`.
    directory : str or path-like
        Where to download (created if needed).
    channels : sequence of str, default=("blue", "red", "green")
        Stains to fetch, each as its own image: ``blue`` (nucleus), ``red``
        (microtubules), ``green`` (the protein), ``yellow`` (endoplasmic
        reticulum).
    composite : bool, default=False
        Fetch the authors' RGB composite (``..._blue_red_green.jpg``, one
        file per field) instead of separate stains.
    cell_lines : sequence of str, optional
        Keep only these cell lines (e.g. ``["U-2 OS"]``); default all.
    max_connections : int, default=4
        Requests in flight at once.
    requests_per_second : float, default=4.0
        At most this many requests start per second (0: no limit). Be kind
        to a free public resource.
    timeout : float, default=30
        Seconds any connection or read may wait.
    deadline : float, default=300
        Seconds one file may take, retries included.
    retries : int, default=3
        Further tries after server errors (5xx), dropped connections and
        timeouts, with exponential backoff.
    backoff : float, default=1.0
        Seconds before the first retry of a file, doubled for each further one.
    base_url : str, default="https://www.proteinatlas.org"
        The HPA site (an archived release such as
        ``https://v18.proteinatlas.org`` reproduces the paper's images).
    verify : bool, default=False
        On a rerun, check finished files by their SHA-256 (reading them all)
        instead of by their size; files that differ are fetched again.
    progress : bool, default=True

    Returns
    -------
    HPADownload
        ``manifest`` (one row per complete field), ``failures`` and the
        folder; ``fields()`` feeds :class:`skpci.CellSegmenter`.

    Raises
    ------
    ValueError
        For unknown stains, an empty gene list or limits out of range.
    NotADirectoryError
        If ``directory`` is a file.
    """
    channels = _check_channels(channels, composite)
    cell_lines = [cell_lines] if isinstance(cell_lines, str) else cell_lines
    _check_limits(max_connections=max_connections, requests_per_second=requests_per_second, timeout=timeout,
                  deadline=deadline, retries=retries, backoff=backoff, base_url=base_url)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{str(directory)!r} is a file; give a folder to download into.")
    gene_table = read_gene_list(genes)
    (directory / "xml").mkdir(parents=True, exist_ok=True)
    rate = RateLimit(requests_per_second)
    limits = dict(timeout=timeout, deadline=deadline, retries=retries, backoff=backoff, before=rate)
    failures = []

    unresolved = gene_table.loc[gene_table["ensembl_id"].isna(), "gene"].tolist()
    if unresolved:
        ids, unknown = resolve_gene_names(unresolved, base_url=base_url, **limits)
        gene_table["ensembl_id"] = [ensembl if isinstance(ensembl, str) else ids.get(name)
                                    for ensembl, name in zip(gene_table["ensembl_id"], gene_table["gene"])]
        failures += [_failure(None, name, None, None, reason, retry="could not look up" in reason)
                     for name, reason in unknown.items()]
        gene_table = gene_table.dropna(subset=["ensembl_id"]).drop_duplicates("ensembl_id")

    journal = _Journal(directory, JOURNAL_FILE)
    records, tasks = {}, []
    pool = ThreadPoolExecutor(max_workers=max_connections)
    try:
        jobs = {pool.submit(_gene_record, ensembl, directory, base_url, limits): (ensembl, name)
                for ensembl, name in gene_table.itertuples(index=False)}
        for job in _progress(as_completed(jobs), len(jobs), "gene records", "gene", progress):
            ensembl, name = jobs[job]
            try:
                gene, images = job.result()
            except Exception as error:  # one gene's failure is recorded; the others go on
                failures.append(_failure(ensembl, name, None, f"{base_url.rstrip('/')}/{ensembl}.xml",
                                         _gene_failure(error), retry=_worth_retrying(error)))
                continue
            # The record may name another id (an old id redirected to its gene): the list's id is the key.
            gene.update(ensembl_id=ensembl, gene=gene["gene"] or name)
            records[ensembl] = gene, images

        folders = _GeneFolders(directory).assign(
            [records[ensembl][0] for ensembl in gene_table["ensembl_id"] if ensembl in records])
        wanted = {line.lower() for line in cell_lines} if cell_lines else None
        for ensembl in gene_table["ensembl_id"]:
            if ensembl not in records:
                continue
            gene, images = records[ensembl]
            for image in images:
                if wanted is not None and (image["cell_line"] or "").lower() not in wanted:
                    continue
                for channel in channels:
                    url = image["url"] if composite else channel_url(image["url"], channel)
                    key = f"images/{folders[ensembl]}/{image['image_id']}_{channel}"  # the suffix follows the file
                    tasks.append((gene, image, channel, url, key))
        todo = [task for task in tasks if not journal.finished(task[4], verify=verify)]
        jobs = {pool.submit(_fetch_image, url, directory, key, composite, limits): (gene, image, url, key)
                for gene, image, _, url, key in todo}
        for job in _progress(as_completed(jobs), len(jobs), "images", "file", progress):
            gene, image, url, key = jobs[job]
            try:
                journal.record(key, url, *job.result())
            except Exception as error:  # one file's failure is recorded; the others go on
                journal.forget(key)
                failures.append(_failure(gene["ensembl_id"], gene["gene"], image["image_id"], url,
                                         _file_failure(error), retry=_worth_retrying(error)))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: requests in flight finish or vanish whole
        raise
    pool.shutdown(wait=True)

    manifest = _manifest(tasks, channels, journal)
    failure_table = pd.DataFrame(failures, columns=["ensembl_id", "gene", "image_id", "url", "reason", "retry"])
    write_table(manifest, directory / MANIFEST_FILE)
    if len(failure_table):
        write_table(failure_table, directory / FAILURES_FILE)
    else:
        (directory / FAILURES_FILE).unlink(missing_ok=True)
    return HPADownload(directory, manifest, failure_table, channels)


def _check_limits(*, max_connections, requests_per_second, timeout, deadline, retries, backoff, base_url):
    checks = [
        ("max_connections", max_connections, isinstance(max_connections, int) and max_connections >= 1,
         "an integer of at least 1"),
        ("requests_per_second", requests_per_second, requests_per_second >= 0, "at least 0 (0: no limit)"),
        ("timeout", timeout, timeout > 0, "above 0 seconds"),
        ("deadline", deadline, deadline > 0, "above 0 seconds"),
        ("retries", retries, isinstance(retries, int) and retries >= 0, "an integer of at least 0"),
        ("backoff", backoff, backoff >= 0, "at least 0 seconds"),
    ]
    for name, value, ok, needed in checks:
        if not ok:
            raise ValueError(f"{name} must be {needed}, got {value!r}.")
    if urlsplit(str(base_url)).scheme not in ("http", "https") or not urlsplit(str(base_url)).netloc:
        raise ValueError(f"base_url must be an http:// or https:// address, got {base_url!r}.")


def _check_channels(channels, composite):
    if composite:
        return (COMPOSITE,)
    channels = (channels,) if isinstance(channels, str) else tuple(channels or ())
    unknown = [channel for channel in channels if channel not in HPA_COLORS]
    if unknown or not channels or len(set(channels)) != len(channels):
        raise ValueError(f"channels must be distinct HPA stains among {HPA_COLORS}, got {channels}.")
    return channels


def _gene_record(ensembl, directory, base_url, limits):
    """Parse the gene's XML, from ``xml/`` when an earlier run kept it, else from the site (and keep it)."""
    path = directory / "xml" / f"{ensembl}.xml"
    if path.is_file():
        try:
            return parse_gene_xml(path.read_bytes(), ensembl_id=ensembl)
        except GeneRecordError:
            pass  # fetched again below
    body, content_type = fetch_bytes(f"{base_url.rstrip('/')}/{ensembl}.xml", max_bytes=256 * 2**20, **limits)
    if "html" in content_type.lower() or body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise GeneRecordError(f"the server sent a web page ({content_type or 'HTML'}), not the gene's XML "
                              f"({_preview(body)})")
    record = parse_gene_xml(body, ensembl_id=ensembl)
    with atomic_file(path) as temporary:
        temporary.write_bytes(body)
    return record


def _gene_failure(error):
    if getattr(error, "status", None) == 404:
        return "the HPA has no record of this gene (HTTP 404); check the Ensembl id"
    if isinstance(error, GeneRecordError):
        return f"the gene's record could not be read: {error}"
    return _file_failure(error)


def _file_failure(error):
    text = str(error) if isinstance(error, (DownloadError, NotAnImage)) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())  # one line in failures.csv


def _worth_retrying(error):
    """Whether a rerun may succeed: not for what the server says does not exist."""
    return getattr(error, "status", None) not in (400, 403, 404, 410)


def _preview(body, size=60):
    return repr(body[:size].decode("utf-8", "replace").strip()) + ("..." if len(body) > size else "")


class _GeneFolders:
    """A folder per gene, named after it and kept in ``folders.json``, so reruns never move a gene's files.

    A name already given to another gene (or differing only in case) gets
    the Ensembl id appended; names are made safe for file systems and kept
    short.
    """

    FILE = "folders.json"

    def __init__(self, directory):
        self.path = Path(directory) / self.FILE
        self.folders = {}
        if self.path.is_file():
            try:
                stored = json.loads(self.path.read_text(encoding="utf-8"))
                self.folders = {str(key): str(value) for key, value in stored.items() if _safe_folder(value)}
            except (ValueError, AttributeError):
                pass

    def assign(self, genes):
        taken = {folder.lower() for folder in self.folders.values()}
        for gene in genes:
            ensembl = gene["ensembl_id"]
            if ensembl in self.folders:
                continue
            base = re.sub(r"[^A-Za-z0-9._-]", "-", gene["gene"] or "").strip(".-")[:80] or ensembl
            folder = base if base.lower() not in taken else f"{base}_{ensembl}"
            self.folders[ensembl] = folder
            taken.add(folder.lower())
        with atomic_file(self.path) as temporary:
            temporary.write_text(json.dumps(self.folders, indent=1, sort_keys=True), encoding="utf-8")
        return self.folders


def _safe_folder(name):
    return isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9._-]{1,200}", name) is not None and name.strip(".")


#: Pillow's format names of the images kept as served, and their suffixes.
_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif"}


def _fetch_image(url, directory, key, composite, limits):
    """Fetch one image, check it is one, store it at ``directory / key`` plus a suffix.

    A single-plane image (and the composite) is kept as served. A stain
    served in its display colour (an RGB image lighting one or two planes)
    is reduced to its intensity and kept as a lossless PNG, since skpci
    reads one plane per channel file.

    Returns
    -------
    file : str
        ``key`` with the stored file's suffix.
    served_bytes, sha256, size
        Size of the body served; SHA-256 and size of the stored file.
    """
    body, content_type = fetch_bytes(url, **limits)
    if content_type.split(";")[0].strip().lower().startswith("text/"):
        raise NotAnImage(f"the server sent a {content_type.split(';')[0]} page, not an image ({_preview(body)})")
    image, kind = _decode(body, url)
    if composite:
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise NotAnImage(f"{url} is not a colour composite (shape {image.shape})")
        stored, suffix = body, _FORMATS[kind]
    elif image.ndim == 2:
        stored, suffix = body, _FORMATS[kind]
    elif image.ndim == 3 and image.shape[-1] in (3, 4):
        stored, suffix = _png(image[..., :3].max(axis=-1)), ".png"
    else:
        raise NotAnImage(f"{url} is not one stain's image (shape {image.shape})")
    file = key + suffix
    destination = directory / file
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(destination) as temporary:
        temporary.write_bytes(stored)
    return file, len(body), hashlib.sha256(stored).hexdigest(), len(stored)


def _decode(body, url):
    """The pixels of a JPEG, PNG or TIFF body, and its format; :class:`NotAnImage` for anything else."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(body)) as probe:
            kind, (width, height) = probe.format, probe.size
            frames = getattr(probe, "n_frames", 1)
            if kind not in _FORMATS or frames != 1:
                raise NotAnImage(f"{url} is a {kind or 'unknown'} image{' with several frames' if frames != 1 else ''}"
                                 ", not a single JPEG, PNG or TIFF")
            if width * height > MAX_PIXELS:
                raise NotAnImage(f"{url} claims {width} x {height} pixels, more than an HPA image has")
            if probe.mode == "CMYK":
                return np.asarray(probe.convert("RGB")), kind
            probe.load()
            image = np.asarray(probe)
    except NotAnImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise NotAnImage(f"{url} is not a readable image ({type(error).__name__}; it starts with "
                         f"{_preview(body, 40)})") from None
    if image.dtype == bool or image.dtype.kind not in "ui":
        raise NotAnImage(f"{url} has pixels of type {image.dtype}, not integers")
    return image, kind


def _png(plane):
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.ascontiguousarray(plane), extension=".png")


class _Journal:
    """Finished files, one JSON line each, appended as they complete; a torn last line is ignored.

    Entries are checked as they are read: a file must lie under
    ``images/``, named after its key; anything else is ignored (and
    fetched again).
    """

    def __init__(self, directory, name):
        self.directory = Path(directory)
        self.path = self.directory / name
        self.entries = {}
        self._lock = threading.Lock()
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    if self._valid(entry):
                        self.entries[entry["key"]] = entry
                except (ValueError, TypeError, AttributeError):
                    continue

    @staticmethod
    def _valid(entry):
        key, file = entry.get("key"), entry.get("file")
        return (isinstance(key, str) and isinstance(file, str) and file.startswith(key)
                and file[len(key):] in ("", *_FORMATS.values()) and key.startswith("images/")
                and ".." not in PurePosixPath(file).parts and not PurePosixPath(file).is_absolute()
                and isinstance(entry.get("bytes"), int) and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("served_bytes"), int) and isinstance(entry.get("url"), str))

    def finished(self, key, *, verify=False):
        """Whether ``key``'s file is there as recorded: same size, and same SHA-256 with ``verify``."""
        entry = self.entries.get(key)
        if entry is None:
            return False
        target = self.directory / entry["file"]
        if not target.is_file() or target.stat().st_size != entry["bytes"]:
            return False
        return not verify or hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"]

    def record(self, key, url, file, served_bytes, sha256, size):
        entry = {"key": key, "file": file, "url": url, "served_bytes": served_bytes, "sha256": sha256,
                 "bytes": size}
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as journal:
                journal.write("\n" + json.dumps(entry) + "\n")  # a line torn by a kill stays on its own
            self.entries[key] = entry

    def forget(self, key):
        """Drop ``key``'s entry from this run's view (its file is gone or stale, and could not be fetched)."""
        with self._lock:
            self.entries.pop(key, None)


def _manifest(tasks, channels, journal):
    """One row per field of a gene whose every stain is there as recorded, in gene-list order."""
    fields = {}
    for gene, image, channel, url, key in tasks:
        fields.setdefault((gene["ensembl_id"], image["image_id"]), (gene, image, {}))[2][channel] = key
    rows = []
    for gene, image, files in fields.values():
        if not all(journal.finished(files[channel]) for channel in channels):
            continue
        entries = [journal.entries[files[channel]] for channel in channels]
        row = {
            "ensembl_id": gene["ensembl_id"], "gene": gene["gene"],
            "folder_name": PurePosixPath(files[channels[0]]).parent.name,
            "reliability": gene["reliability"], "gene_locations": ";".join(gene["gene_locations"]),
            "antibody": image["antibody"], "cell_line": image["cell_line"], "subtype": image["subtype"],
            "cell_line_locations": ";".join(image["cell_line_locations"]),
            "image_id": image["image_id"], "plate": image["plate"], "well": image["well"],
            "field": image["field"], "url": image["url"],
        }
        for channel, entry in zip(channels, entries):
            row.update({f"file_{channel}": entry["file"], f"url_{channel}": entry["url"],
                        f"bytes_{channel}": entry["served_bytes"], f"sha256_{channel}": entry["sha256"]})
        rows.append(row)
    return pd.DataFrame(rows, columns=_manifest_columns(channels))


def _manifest_columns(channels):
    per_channel = [f"{kind}_{channel}" for channel in channels for kind in ("file", "url", "bytes", "sha256")]
    return ["ensembl_id", "gene", "folder_name", "reliability", "gene_locations", "antibody", "cell_line", "subtype",
            "cell_line_locations", "image_id", "plate", "well", "field", "url", *per_channel]


def _failure(ensembl, gene, image_id, url, reason, *, retry=True):
    return {"ensembl_id": ensembl, "gene": gene, "image_id": image_id, "url": url, "reason": reason,
            "retry": bool(retry)}


def _progress(iterable, total, description, unit, enabled):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=description, unit=unit, disable=not enabled or total == 0)
