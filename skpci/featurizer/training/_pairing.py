"""Pairing cells of the same image (or group) for the inpainting pretext task.

All sampling is vectorized over the whole data set and driven by a NumPy
``Generator`` passed in by the caller, so it is fast, reproducible and never
touches global random state.
"""

import warnings

import numpy as np

from ..._ids import encode_ids


def encode_groups(groups, n_cells):
    """Turn arbitrary group ids into integer codes ``0 .. n_groups - 1``.

    Parameters
    ----------
    groups : array-like of shape (n_cells,)
        One hashable id per cell (see :func:`skpci._ids.encode_ids`).
    n_cells : int
        Expected length.

    Returns
    -------
    codes : ndarray of int64, shape (n_cells,)
    """
    codes, _ = encode_ids(groups, n_cells, name="groups", expected="one id per cell", missing_as="group id",
                          item="cell")
    return codes


def pairable_cells(codes, min_group_size=2):
    """Indices of the cells whose group holds at least ``min_group_size`` cells.

    Warns when some groups are left out (with how many groups and cells),
    and raises when no cell is left at all.

    Parameters
    ----------
    codes : ndarray of int, shape (n_cells,)
        Group codes from :func:`encode_groups`.
    min_group_size : int, default=2
        Groups with fewer cells are left out: a single cell has no partner,
        and the authors left out HPA images of fewer than 5 cells.

    Returns
    -------
    indices : ndarray of int64
    """
    sizes = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    present = sizes > 0
    small = present & (sizes < min_group_size)
    pairable = np.flatnonzero(sizes[codes] >= max(2, min_group_size))
    if len(pairable) == 0:
        if min_group_size <= 2:
            raise ValueError(
                f"No cell can be paired: each of the {int(present.sum())} groups (images) holds fewer "
                "than two cells, but paired cell inpainting needs two cells of the same group. "
                "Check that groups (or bags) put cells of one image together."
            )
        raise ValueError(
            f"No cell can be paired: each of the {int(present.sum())} groups (images) holds fewer than "
            f"min_group_size={min_group_size} cells (the largest holds {int(sizes.max(initial=0))}). "
            "Lower min_group_size."
        )
    if small.any():
        if min_group_size <= 2:
            what = "hold a single cell and cannot be paired"
        else:
            what = f"hold fewer than min_group_size={min_group_size} cells ({int(sizes[small].sum())} cells)"
        warnings.warn(
            f"{int(small.sum())} of {int(present.sum())} groups {what}; their cells are left out of the pairs.",
            UserWarning,
            stacklevel=3,
        )
    return pairable


def sample_partners(codes, rng):
    """Draw, for every cell, a different cell of the same group, uniformly.

    Parameters
    ----------
    codes : ndarray of int, shape (n_cells,)
        Group codes; every group must hold at least two cells for its cells
        to get a partner. Cells of single-cell groups get ``-1``.
    rng : numpy.random.Generator

    Returns
    -------
    partners : ndarray of int64, shape (n_cells,)
        ``partners[i] != i`` and ``codes[partners[i]] == codes[i]``.

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.array([0, 0, 1, 1, 1])
    >>> partners = sample_partners(codes, np.random.default_rng(0))
    >>> bool(np.all(partners != np.arange(5))), bool(np.all(codes[partners] == codes))
    (True, True)
    """
    codes = np.asarray(codes)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # Rank of each cell inside its group (in sorted order).
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - starts[codes[order]]
    group_size = sizes[codes]
    pairable = group_size >= 2
    # Draw among the other size - 1 cells, then skip over the cell itself.
    offset = np.zeros(len(codes), dtype=np.int64)
    offset[pairable] = rng.integers(0, group_size[pairable] - 1)
    offset += offset >= rank
    partners = np.full(len(codes), -1, dtype=np.int64)
    partners[pairable] = order[starts[codes[pairable]] + offset[pairable]]
    return partners
