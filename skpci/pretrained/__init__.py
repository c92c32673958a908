"""Pretrained models: saving, finding, fetching and loading network weights.

A *model directory*, written by
:meth:`~skpci.PairedInpaintingFeaturizer.save_pretrained`, holds the
network's weights (``model.weights.h5``) and a model card
(``model_card.json``: architecture, channel roles, normalization, how it was
trained, and versions).

``weights=`` (and :meth:`~skpci.PairedInpaintingFeaturizer.from_pretrained`) accept

* a name from :data:`REGISTRY`: models bundled with skpci, and the three
  Keras 2 files the paper's authors published, fetched on first use into
  the user cache (``SKPCI_CACHE_DIR``, default ``~/.cache/skpci``);
* a path to a model directory, a Keras 3 ``.weights.h5`` file, or a
  legacy Keras 2 ``.h5`` file written by ``model.save``.

Modules: ``_registry`` (the names, as data), ``_directory`` (model
directories and cards), ``_download`` (fetching, verified), ``_keras2``
(importing the authors' files), ``_loading`` (resolving a name or path and
loading it into a network).
"""

from ._directory import (
    CARD_FILE,
    CARD_FORMAT,
    CARD_VERSION,
    WEIGHTS_FILE,
    make_card,
    read_card,
    save_model_directory,
    sha256_of,
)
from ._download import cache_dir, fetch
from ._errors import PretrainedModelError
from ._keras2 import ALL_CONVS, AUTHORS_BN_ORDER, ENCODER_CONVS, legacy_architecture, load_legacy_h5
from ._loading import ResolvedWeights, describe, load_pretrained, load_weights_into, resolve
from ._registry import REGISTRY, BundledModel, PublishedModel, bundled_model_path

__all__ = [
    "ALL_CONVS",
    "AUTHORS_BN_ORDER",
    "CARD_FILE",
    "CARD_FORMAT",
    "CARD_VERSION",
    "ENCODER_CONVS",
    "REGISTRY",
    "WEIGHTS_FILE",
    "BundledModel",
    "PretrainedModelError",
    "PublishedModel",
    "ResolvedWeights",
    "bundled_model_path",
    "cache_dir",
    "describe",
    "fetch",
    "legacy_architecture",
    "load_pretrained",
    "load_legacy_h5",
    "load_weights_into",
    "make_card",
    "read_card",
    "resolve",
    "save_model_directory",
    "sha256_of",
]
