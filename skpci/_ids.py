"""Ids of any hashable type (image names, groups, labels) as integer codes.

Training pairs cells by group id and benchmarks fold and score by group and
label id; both need the same care: one id per item, no missing id (NaN or
None would silently become one group or class), and ids of mixed types
encoded rather than compared.
"""

import numpy as np
import pandas as pd


def encode_ids(values, n_items, *, name, expected, missing_as, item):
    """Integer codes ``0 .. k-1`` of ``values`` (in sorted id order where ids sort), and the ids.

    Parameters
    ----------
    values : array-like of shape (n_items,)
    n_items : int
        Expected length.
    name : str
        The argument's name, for messages (``"groups"``).
    expected : str
        What each item needs, for messages (``"one id per cell"``).
    missing_as : str
        What a missing value lacks, for messages (``"group id"``).
    item : str
        What the values describe, singular (``"cell"``).

    Returns
    -------
    codes : ndarray of int64, shape (n_items,)
    ids : ndarray of object
        ``ids[code]`` is the original id.

    Raises
    ------
    ValueError
        If ``values`` is not 1-D of length ``n_items``, or an id is NaN or None.
    """
    values = np.asarray(values)
    if values.ndim > 1:
        raise ValueError(f"{name} must be 1-D, {expected}; got an array of shape {values.shape}.")
    if values.ndim != 1 or len(values) != n_items:
        raise ValueError(f"{name} must hold {expected}: got {len(values) if values.ndim else 'a scalar'} ids for "
                         f"{n_items} {item}s.")
    missing = np.flatnonzero(pd.isna(values))
    if len(missing):
        raise ValueError(
            f"{name}: {len(missing)} {item}(s) have no {missing_as} (NaN or None), e.g. {item}s "
            f"{missing[:5].tolist()}; give every {item} one, or leave those {item}s out."
        )
    try:
        codes, ids = pd.factorize(values, sort=True)  # sorted, as scikit-learn orders classes
    except TypeError:  # ids of mixed types (str and int...) cannot be sorted, only told apart
        codes, ids = pd.factorize(values.astype(object))
    return codes.astype(np.int64), np.asarray(ids, dtype=object)
