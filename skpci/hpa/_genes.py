"""Gene lists as users have them: the authors' two-column file, one id or name per line, or a Python list."""

import json
import re
import urllib.parse
from pathlib import Path

import pandas as pd

from .._fetch import fetch_bytes

#: An Ensembl human gene id, with an optional version suffix (dropped).
ENSEMBL_ID = re.compile(r"^(ENSG[0-9]{11})(?:\.[0-9]+)?$")


def read_gene_list(genes):
    """Read the genes to download.

    Parameters
    ----------
    genes : str, path-like or sequence of str
        A text file, or the entries themselves. Each entry is an Ensembl gene
        id (``ENSG00000134057``), a gene name (``CCNB1``), or both on one
        line separated by a tab, comma or spaces, as in the authors'
        ``proteinlist.txt`` (``ENSG...<tab>name``, with a header line).
        Blank lines and ``#`` comments are ignored.

    Returns
    -------
    genes : pandas.DataFrame
        Columns ``ensembl_id`` and ``gene`` (either may be missing, not
        both), one row per distinct gene, in the order given.

    Raises
    ------
    FileNotFoundError
        If ``genes`` names a file that does not exist.
    ValueError
        If there is no gene, or a line has more than two entries.
    """
    if isinstance(genes, (str, Path)):
        path = Path(genes)
        if not path.is_file():
            raise FileNotFoundError(f"No such gene list: {str(path)!r}. Give a text file with one Ensembl id or "
                                    "gene name per line (or 'ENSG...<tab>name').")
        lines, source = _decode_text(path.read_bytes()).splitlines(), str(path)
    else:
        lines, source = [str(entry) for entry in genes], "the gene list"
    entries = []
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        separator = r"\t" if "\t" in line else r"[\s,]+"  # tab-separated columns may hold spaces ("Gene name")
        parts = [part.strip() for part in re.split(separator, line) if part.strip()]
        if len(parts) > 2:
            shown = line if len(line) <= 80 else line[:80] + "..."
            raise ValueError(f"{source}, line {number}: expected an Ensembl id, a gene name, or both, "
                             f"got {len(parts)} entries: {shown!r}.")
        ids = [ENSEMBL_ID.match(part.upper()) for part in parts]
        entries.append((number, parts, next((match.group(1) for match in ids if match), None),
                        [part for part, match in zip(parts, ids) if not match]))
    # The first line is a header (the authors' "Gene<tab>Gene name") when it names no gene id but the rest do.
    if len(entries) > 1 and len(entries[0][1]) == 2 and entries[0][2] is None and entries[1][2] is not None:
        entries = entries[1:]
    rows = []
    for number, parts, ensembl, names in entries:
        if len(parts) == 2 and ensembl is None:
            raise ValueError(f"{source}, line {number}: two entries and neither is an Ensembl id "
                             f"({' '.join(parts)!r}); give one gene per line, or 'ENSG...<tab>name'.")
        rows.append({"ensembl_id": ensembl, "gene": names[0] if names else None})
    table = pd.DataFrame(rows, columns=["ensembl_id", "gene"])
    if table.empty:
        raise ValueError(f"{source} holds no genes.")
    key = table["ensembl_id"].fillna(table["gene"].str.upper())
    return table[~key.duplicated()].reset_index(drop=True)


def _decode_text(raw):
    """Text of a gene list saved by any editor: UTF-8 (with or without a byte-order mark) or UTF-16."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig", errors="replace")


def resolve_gene_names(names, *, base_url, before=None, timeout=30, deadline=120, retries=3, backoff=1.0):
    """Look up the Ensembl ids of gene names with the HPA's search API.

    Parameters
    ----------
    names : sequence of str
    base_url : str
        The HPA site, e.g. ``https://www.proteinatlas.org``.
    before : callable, optional
        Called before each request (rate limit).
    timeout, deadline, retries, backoff
        As for :func:`skpci._fetch.fetch_bytes`.

    Returns
    -------
    ids : dict
        Name -> Ensembl id, for the names the HPA knows (matched exactly,
        ignoring case).
    failures : dict
        Name -> why it could not be resolved.
    """
    ids, failures = {}, {}
    for name in names:
        query = urllib.parse.urlencode({"search": name, "format": "json", "columns": "g,eg", "compress": "no"})
        url = f"{base_url.rstrip('/')}/api/search_download.php?{query}"
        try:
            body, _ = fetch_bytes(url, timeout=timeout, deadline=deadline, retries=retries, backoff=backoff,
                                  before=before, max_bytes=16 * 2**20)
            hits = json.loads(body)
        except (ConnectionError, ValueError) as error:
            failures[name] = f"could not look up the gene name ({error})"
            continue
        if not isinstance(hits, list):
            failures[name] = f"the HPA's search gave an unexpected answer ({str(hits)[:60]!r})"
            continue
        matches = {str(hit.get("Ensembl")) for hit in hits if isinstance(hit, dict)
                   and str(hit.get("Gene", "")).upper() == name.upper() and hit.get("Ensembl")}
        if len(matches) == 1:
            ids[name] = matches.pop()
        else:
            failures[name] = ("the HPA knows no gene of that name; give its Ensembl id" if not matches else
                              f"the name matches several genes ({', '.join(sorted(matches))}); give the Ensembl id")
    return ids, failures
