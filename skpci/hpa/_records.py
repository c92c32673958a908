"""What one gene's HPA XML says: its immunofluorescence images and their localization annotations.

The Human Protein Atlas serves each gene as ``<site>/<ENSG>.xml``. The parts
read here::

    proteinAtlas/entry
      name                                   the gene name
      identifier[@db="Ensembl"]/@id          the Ensembl id
      cellExpression/verification            the gene's reliability (enhanced ... uncertain)
      cellExpression/data/location           the gene's curated subcellular locations
      antibody[@id]/cellExpression
        subAssay[@type="human"][@subtype]    the human cell-line immunofluorescence (found at any depth)
          data                               one cell line
            cellLine                         its name
            location                         what that antibody shows in it
            .../imageUrl                     the blue_red_green composite of one field

Elements are found by name at any depth below these anchors, so extra
wrappers of a newer schema version do not hide anything; a document
without them yields no images rather than an error.
"""

import re
import xml.etree.ElementTree as ElementTree
from pathlib import PurePosixPath
from urllib.parse import urlsplit

#: Stains of the HPA's immunofluorescence: nucleus, microtubules, protein, endoplasmic reticulum.
HPA_COLORS = ("blue", "red", "green", "yellow")
_IMAGE_NAME = re.compile(
    r"^(?P<stem>(?P<plate>[^_/]+)_(?P<well>[A-Za-z]+\d+)_(?P<field>[^_/]+))_(?P<colors>(?:blue|red|green|yellow)"
    r"(?:_(?:blue|red|green|yellow))*)\.(?P<suffix>jpg|jpeg|png|tif|tiff)$"
)


class GeneRecordError(ValueError):
    """A gene's XML cannot be read (not XML, not the HPA's, or unsafe)."""


def parse_gene_xml(document, *, ensembl_id=None):
    """The images and annotations of one gene's HPA XML.

    Parameters
    ----------
    document : bytes or str
    ensembl_id : str, optional
        The id the document was fetched for, used when it names none.

    Returns
    -------
    gene : dict
        ``ensembl_id``, ``gene``, ``reliability`` and ``gene_locations``
        (a list).
    images : list of dict
        One per field of view of the human cell-line assay: ``antibody``,
        ``cell_line``, ``subtype``, ``cell_line_locations`` (list), ``url``
        (the composite), ``folder``, ``plate``, ``well``, ``field`` and
        ``image_id`` (unique within the HPA).

    Raises
    ------
    GeneRecordError
        If the document is not XML, declares a DTD or entities (never in
        HPA files, and the way to make a small file expand without bound),
        or is not an HPA entry.
    """
    if isinstance(document, str):
        document = document.encode("utf-8")
    head = document[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in document.lower():
        raise GeneRecordError("the document declares a DTD or entities, which HPA gene files never do")
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as error:
        preview = document[:80].decode("utf-8", "replace").strip()
        raise GeneRecordError(f"not XML ({error}); it starts with {preview!r}") from None
    entry = root if _name(root) == "entry" else next(_children(root, "entry"), None)
    if entry is None:
        raise GeneRecordError(f"not an HPA gene record: no <entry> under <{_name(root)}>")
    identifiers = [element.get("id") for element in _children(entry, "identifier")
                   if (element.get("db") or "").lower() == "ensembl" and element.get("id")]
    name = next((element.text.strip() for element in _children(entry, "name") if element.text), None)
    gene = {"ensembl_id": identifiers[0] if identifiers else ensembl_id, "gene": name,
            "reliability": None, "gene_locations": []}
    for expression in _children(entry, "cellExpression"):
        for verification in _children(expression, "verification"):
            if (verification.get("type") or "reliability") == "reliability" and verification.text:
                gene["reliability"] = verification.text.strip()
        for data in _children(expression, "data"):
            gene["gene_locations"] += _locations(data)
    gene["gene_locations"] = _unique(gene["gene_locations"])
    images, seen = [], set()
    antibody_of = {}
    for antibody in _children(entry, "antibody"):
        for element in antibody.iter():
            antibody_of[element] = antibody.get("id")
    for sub_assay in entry.iter():
        if _name(sub_assay) != "subAssay" or (sub_assay.get("type") or "").lower() != "human":
            continue
        for data in _children(sub_assay, "data"):
            cell_line = next((element for element in data.iter() if _name(element) == "cellLine"), None)
            for url_element in data.iter():
                if _name(url_element) != "imageUrl" or not (url_element.text or "").strip():
                    continue
                image = describe_image_url(url_element.text.strip())
                if image is None or image["image_id"] in seen:
                    continue
                seen.add(image["image_id"])
                images.append({
                    "antibody": antibody_of.get(sub_assay),
                    "cell_line": (cell_line.text or "").strip() or None if cell_line is not None else None,
                    "subtype": sub_assay.get("subtype"),
                    "cell_line_locations": _locations(data),
                    **image,
                })
    return gene, images


def describe_image_url(url):
    """Folder, plate, well and field of an HPA immunofluorescence image address; None for other images.

    ``https://images.proteinatlas.org/38585/2146_D7_42_blue_red_green.jpg``
    is field 42 of well D7 on plate 2146, in folder (antibody) 38585.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    path = PurePosixPath(parts.path)
    match = _IMAGE_NAME.match(path.name)
    if match is None:
        return None
    folder = path.parent.name
    return {"url": url, "folder": folder, "plate": match["plate"], "well": match["well"], "field": match["field"],
            "image_id": f"{folder}_{match['stem']}" if folder else match["stem"]}


def channel_url(composite_url, color):
    """The address of one stain's image, next to the composite: ``..._42_blue_red_green.jpg`` -> ``..._42_blue.jpg``."""
    parts = urlsplit(composite_url)
    path = PurePosixPath(parts.path)
    match = _IMAGE_NAME.match(path.name)
    single = path.with_name(f"{match['stem']}_{color}.{match['suffix']}")
    return parts._replace(path=str(single)).geturl()


def _name(element):
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element, name):
    return (child for child in element if _name(child) == name)


def _locations(data):
    return _unique((element.text or "").strip() for element in _children(data, "location"))


def _unique(values):
    return list(dict.fromkeys(value for value in values if value))
