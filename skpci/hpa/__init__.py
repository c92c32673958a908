"""The Human Protein Atlas download step: from a gene list to fields of view with localization labels.

:func:`download_hpa` fetches each gene's record and its cell-line
immunofluorescence images, resumably, and writes a manifest (Parquet) of
every field with the HPA's localization annotations, ready for
:class:`skpci.CellSegmenter` and for a localization benchmark with folds by
gene. ``skpci download-hpa`` runs it from the command line.
"""

from ._download import (
    COMPOSITE,
    DEFAULT_CHANNELS,
    HPA_URL,
    MANIFEST_FILE,
    HPADownload,
    NotAnImage,
    download_hpa,
)
from ._genes import read_gene_list, resolve_gene_names
from ._labels import location_labels
from ._records import HPA_COLORS, GeneRecordError, channel_url, describe_image_url, parse_gene_xml

__all__ = [
    "COMPOSITE",
    "DEFAULT_CHANNELS",
    "HPA_COLORS",
    "HPA_URL",
    "MANIFEST_FILE",
    "GeneRecordError",
    "HPADownload",
    "NotAnImage",
    "channel_url",
    "describe_image_url",
    "download_hpa",
    "location_labels",
    "parse_gene_xml",
    "read_gene_list",
    "resolve_gene_names",
]
