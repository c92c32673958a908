"""skpci: paired cell inpainting for single-cell microscopy, the scikit-learn way.

Self-supervised feature learning for multi-channel single-cell fluorescence
images (Lu, Kraus, Cooper & Moses, PLOS Comput Biol 2019).
"""

from ._featurizer import PairedInpaintingFeaturizer

__version__ = "0.1.0"

__all__ = ["PairedInpaintingFeaturizer", "__version__"]
