"""The featurizer: crops in, a trained network and per-cell (or per-image) features out.

* :mod:`._estimator`: :class:`PairedInpaintingFeaturizer`, the scikit-learn shell;
* :mod:`._inputs`: one seam for bags, cells with groups and crop stores;
* :mod:`._features`: features block by block, aggregation per image;
* :mod:`.training`: pairs, batches, the epoch loop, checkpoints, devices.
"""

from ._estimator import PairedInpaintingFeaturizer

__all__ = ["PairedInpaintingFeaturizer"]
