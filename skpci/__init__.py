"""skpci: paired cell inpainting for single-cell microscopy, the scikit-learn way.

Self-supervised feature learning for multi-channel single-cell fluorescence
images (Lu, Kraus, Cooper & Moses, PLOS Comput Biol 2019).

The estimators are imported on first use, so ``import skpci`` (and the
command line's ``--help``) stays fast and does not start the Keras backend.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "CellSegmenter": ".segmentation",
    "CropStore": ".store",
    "InconsistentVersionWarning": "._versions",
    "PairedInpaintingFeaturizer": ".featurizer",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module 'skpci' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
