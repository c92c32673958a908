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
        ``url`` and ``reason`` (also in ``failures.csv``). Run the same
        download again to retry them.
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
        """A few lines for people: what was downloaded, what failed and how to retry it."""
        genes = self.manifest["ensembl_id"].nunique() if len(self.manifest) else 0
        lines = [f"{len(self.manifest)} fields of {genes} genes in {self.path}"]
        if len(self.failures):
            lines.append(f"{len(self.failures)} downloads failed (listed in {self.path / FAILURES_FILE}); "
                         "run the same command again to retry them:")
            for row in self.failures.head(5).itertuples(index=False):
                who = next((str(value) for value in (row.gene, row.ensembl_id) if not pd.isna(value)), "?")
                where = f" {row.image_id}" if not pd.isna(row.image_id) else ""
                lines.append(f"  {who}{where}: {row.reason}")
            if len(self.failures) > 5:
                lines.append(f"  ... and {len(self.failures) - 5} more")
        return "\n".join(lines)


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
                 base_url=HPA_URL, progress=True):
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
    progress : bool, default=True

    Returns
    -------
    HPADownload
        ``manifest`` (one row per complete field), ``failures`` and the
        folder; ``fields()`` feeds :class:`skpci.CellSegmenter`.

    Raises
    ------
    ValueError
        For unknown stains or an empty gene list.
    """
    channels = _check_channels(channels, composite)
    directory = Path(directory)
    (directory / "xml").mkdir(parents=True, exist_ok=True)
    gene_table = read_gene_list(genes)
    rate = RateLimit(requests_per_second)
    limits = dict(timeout=timeout, deadline=deadline, retries=retries, backoff=backoff, before=rate)
    failures = []

    unresolved = gene_table.loc[gene_table["ensembl_id"].isna(), "gene"].tolist()
    if unresolved:
        ids, unknown = resolve_gene_names(unresolved, base_url=base_url, **limits)
        gene_table["ensembl_id"] = [ensembl if isinstance(ensembl, str) else ids.get(name)
                                    for ensembl, name in zip(gene_table["ensembl_id"], gene_table["gene"])]
        failures += [_failure(None, name, None, None, reason) for name, reason in unknown.items()]
        gene_table = gene_table.dropna(subset=["ensembl_id"]).drop_duplicates("ensembl_id")

    journal = _Journal(directory / JOURNAL_FILE)
    records = {}
    with ThreadPoolExecutor(max_workers=max_connections) as pool:
        jobs = {pool.submit(_gene_record, ensembl, directory, base_url, limits): (ensembl, name)
                for ensembl, name in gene_table.itertuples(index=False)}
        for job in _progress(as_completed(jobs), len(jobs), "gene records", "gene", progress):
            ensembl, name = jobs[job]
            try:
                gene, images = job.result()
                gene["gene"] = gene["gene"] or name
                records[ensembl] = gene, images
            except (DownloadError, GeneRecordError) as error:
                failures.append(_failure(ensembl, name, None, f"{base_url.rstrip('/')}/{ensembl}.xml",
                                         _gene_failure(error)))

        folders = _gene_folders([records[ensembl][0] for ensembl in gene_table["ensembl_id"] if ensembl in records])
        wanted = {line.lower() for line in cell_lines} if cell_lines else None
        tasks = []
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
        todo = [task for task in tasks if not journal.finished(directory, task[4])]
        jobs = {pool.submit(_fetch_image, url, directory, key, composite, limits): (gene, image, url, key)
                for gene, image, _, url, key in todo}
        try:
            for job in _progress(as_completed(jobs), len(jobs), "images", "file", progress):
                gene, image, url, key = jobs[job]
                try:
                    journal.record(key, url, *job.result())
                except (DownloadError, NotAnImage) as error:
                    failures.append(_failure(gene["ensembl_id"], gene["gene"], image["image_id"], url, str(error)))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: files in flight finish or vanish whole
            raise

    manifest = _manifest(tasks, folders, channels, journal)
    failure_table = pd.DataFrame(failures, columns=["ensembl_id", "gene", "image_id", "url", "reason"])
    write_table(manifest, directory / MANIFEST_FILE)
    if len(failure_table):
        write_table(failure_table, directory / FAILURES_FILE)
    else:
        (directory / FAILURES_FILE).unlink(missing_ok=True)
    return HPADownload(directory, manifest, failure_table, channels)


def _check_channels(channels, composite):
    if composite:
        return (COMPOSITE,)
    channels = (channels,) if isinstance(channels, str) else tuple(channels)
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
    body, _ = fetch_bytes(f"{base_url.rstrip('/')}/{ensembl}.xml", max_bytes=256 * 2**20, **limits)
    record = parse_gene_xml(body, ensembl_id=ensembl)
    with atomic_file(path) as temporary:
        temporary.write_bytes(body)
    return record


def _gene_failure(error):
    if getattr(error, "status", None) == 404:
        return "the HPA has no record of this gene (HTTP 404); check the Ensembl id"
    if isinstance(error, GeneRecordError):
        return f"the gene's record is not an HPA XML document: {error}"
    return str(error)


def _gene_folders(genes):
    """A folder name per gene: its name, made safe for file systems; names shared by two genes get the id."""
    folders, taken = {}, set()
    for gene in genes:
        name = re.sub(r"[^A-Za-z0-9._-]", "-", gene["gene"] or gene["ensembl_id"]).strip(".") or gene["ensembl_id"]
        if name.lower() in taken:
            name = f"{name}_{gene['ensembl_id']}"
        taken.add(name.lower())
        folders[gene["ensembl_id"]] = name
    return folders


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
        preview = body[:60].decode("utf-8", "replace").strip()
        raise NotAnImage(f"the server sent a {content_type.split(';')[0]} page, not an image ({preview!r}...)")
    image = _decode(body, url)
    served_suffix = PurePosixPath(urlsplit(url).path).suffix.lower() or ".jpg"
    if composite:
        if image.ndim != 3 or image.shape[-1] < 3:
            raise NotAnImage(f"{url} is not a colour composite (shape {image.shape})")
        stored, suffix = body, served_suffix
    elif image.ndim == 2:
        stored, suffix = body, served_suffix
    else:
        stored, suffix = _png(image[..., :3].max(axis=-1)), ".png"
    file = key + suffix
    destination = directory / file
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(destination) as temporary:
        temporary.write_bytes(stored)
    return file, len(body), hashlib.sha256(stored).hexdigest(), len(stored)


def _decode(body, url):
    import imageio.v3 as iio
    from PIL import Image

    try:
        with Image.open(io.BytesIO(body)) as probe:
            width, height = probe.size
        if width * height > MAX_PIXELS:
            raise NotAnImage(f"{url} claims {width} x {height} pixels, more than an HPA image has")
        return np.asarray(iio.imread(body))
    except NotAnImage:
        raise
    except Exception as error:  # Pillow raises many types for bytes that are not an image
        preview = body[:40].decode("utf-8", "replace").strip()
        raise NotAnImage(f"{url} is not a readable image ({type(error).__name__}; it starts with {preview!r})") \
            from None


def _png(plane):
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.ascontiguousarray(plane), extension=".png")


class _Journal:
    """Finished files, one JSON line each, appended as they complete; a torn last line is ignored."""

    def __init__(self, path):
        self.path = path
        self.entries = {}
        self._lock = threading.Lock()
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue

    def finished(self, directory, key):
        entry = self.entries.get(key)
        if entry is None:
            return False
        target = directory / entry["file"]
        return target.is_file() and target.stat().st_size == entry["bytes"]

    def record(self, key, url, file, served_bytes, sha256, size):
        entry = {"key": key, "file": file, "url": url, "served_bytes": served_bytes, "sha256": sha256,
                 "bytes": size}
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as journal:
                journal.write("\n" + json.dumps(entry) + "\n")  # a line torn by a kill stays on its own
            self.entries[key] = entry


def _manifest(tasks, folders, channels, journal):
    """One row per field whose every stain is finished, in gene-list order."""
    fields = {}
    for gene, image, channel, url, key in tasks:
        fields.setdefault(image["image_id"], (gene, image, {}))[2][channel] = key
    rows = []
    for gene, image, files in fields.values():
        entries = [journal.entries.get(files[channel]) for channel in channels]
        if any(entry is None for entry in entries):
            continue
        row = {
            "ensembl_id": gene["ensembl_id"], "gene": gene["gene"], "folder_name": folders[gene["ensembl_id"]],
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


def _failure(ensembl, gene, image_id, url, reason):
    return {"ensembl_id": ensembl, "gene": gene, "image_id": image_id, "url": url, "reason": reason}


def _progress(iterable, total, description, unit, enabled):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=description, unit=unit, disable=not enabled or total == 0)
