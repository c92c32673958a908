"""Segmentation: whole fields in, single-cell crops out.

* :func:`segment_nuclei` labels the nuclei of one nuclear-stain image, with
  sizes that follow the nucleus diameter (:func:`estimate_nucleus_diameter`,
  :func:`size_settings`);
* :func:`resolve_sizes` settles ``scale="auto"`` and ``crop_size="auto"``
  for a set of fields;
* :func:`segment_field` loads a field, downsamples it, labels its nuclei and
  cuts a square crop around each (:class:`Segmentation` holds the result);
* :class:`~skpci.CellSegmenter` (documented under ``skpci``) is the
  scikit-learn shell that maps them over many fields (joblib workers) and
  writes a :class:`~skpci.CropStore`.
"""

from ._estimator import CellSegmenter  # noqa: F401 (documented under skpci, so not in __all__)
from ._fields import (
    BORDERS,
    CROP_PER_DIAMETER,
    METHODS,
    TARGET_DIAMETER,
    Segmentation,
    crop_field,
    crop_field_for_store,
    load_field,
    resolve_sizes,
    segment_field,
)
from ._nuclei import THRESHOLDS, estimate_nucleus_diameter, segment_nuclei, size_settings

__all__ = [
    "BORDERS",
    "CROP_PER_DIAMETER",
    "METHODS",
    "TARGET_DIAMETER",
    "THRESHOLDS",
    "Segmentation",
    "crop_field",
    "crop_field_for_store",
    "estimate_nucleus_diameter",
    "load_field",
    "resolve_sizes",
    "segment_field",
    "segment_nuclei",
    "size_settings",
]
