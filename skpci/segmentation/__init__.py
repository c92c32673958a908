"""Segmentation: whole fields in, single-cell crops out.

* :func:`segment_nuclei` labels the nuclei of one nuclear-stain image;
* :func:`segment_field` loads a field, downsamples it, labels its nuclei and
  cuts a square crop around each (:class:`Segmentation` holds the result);
* :class:`~skpci.CellSegmenter` (documented under ``skpci``) is the
  scikit-learn shell that maps them over many fields (joblib workers) and
  writes a :class:`~skpci.CropStore`.
"""

from ._estimator import CellSegmenter  # noqa: F401 (documented under skpci, so not in __all__)
from ._fields import BORDERS, Segmentation, crop_field, crop_field_for_store, load_field, segment_field
from ._nuclei import THRESHOLDS, segment_nuclei

__all__ = [
    "BORDERS",
    "THRESHOLDS",
    "Segmentation",
    "crop_field",
    "crop_field_for_store",
    "load_field",
    "segment_field",
    "segment_nuclei",
]
