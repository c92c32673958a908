"""Feature spaces: what a nearest-neighbour benchmark measures distances in.

Pooled convolution features are non-negative and their units differ in scale
by orders of magnitude, so the space matters as much as the features:

* ``"standardized"``: each feature to zero mean and unit variance; Euclidean
  distance (the paper's kNN);
* ``"cosine"``: standardized, then each row to unit length, so Euclidean
  distance ranks neighbours as cosine distance does;
* ``"whitened"``: standardized, then PCA-whitened to the components that hold
  99% of the variance, so correlated features stop counting many times.
"""

from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

#: The spaces :func:`feature_space` builds, the first the default.
FEATURE_SPACES = ("standardized", "cosine", "whitened")


def feature_space(space="standardized"):
    """An unfitted scikit-learn transformer into ``space`` (one of :data:`FEATURE_SPACES`).

    Parameters
    ----------
    space : {"standardized", "cosine", "whitened"}, default="standardized"

    Returns
    -------
    transformer : sklearn.pipeline.Pipeline
    """
    if space == "standardized":
        return make_pipeline(StandardScaler())
    if space == "cosine":
        return make_pipeline(StandardScaler(), Normalizer())
    if space == "whitened":
        return make_pipeline(StandardScaler(), PCA(n_components=0.99, whiten=True, svd_solver="full"))
    raise ValueError(f"space must be one of {', '.join(map(repr, FEATURE_SPACES))}, got {space!r}.")
