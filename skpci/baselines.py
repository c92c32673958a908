"""Reference features to compare learned features against.

Each baseline is a plain function from a ``(n_cells, h, w, C)`` crop stack to
a ``(n_cells, n_features)`` table, so it runs on exactly the cells and folds
the learned features see.
"""

import numpy as np


def brightness_features(crops, protein_channels=(0,)):
    """Mean and maximum raw intensity of each protein channel, per cell.

    No localization information at all: a benchmark score reached by this
    baseline measures expression level, not localization.

    Parameters
    ----------
    crops : ndarray of shape (n_cells, h, w, C)
    protein_channels : sequence of int, default=(0,)

    Returns
    -------
    features : ndarray of float32, shape (n_cells, 2 * len(protein_channels))

    Examples
    --------
    >>> import numpy as np
    >>> crops = np.zeros((1, 8, 8, 2)); crops[0, 0, 0, 0] = 4.0
    >>> brightness_features(crops)
    array([[0.0625, 4.    ]], dtype=float32)
    """
    protein = np.asarray(crops, dtype=np.float32)[..., list(protein_channels)]
    return np.concatenate(
        [protein.mean(axis=(1, 2)), protein.max(axis=(1, 2))], axis=1
    ).astype(np.float32)
