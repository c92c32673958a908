"""Stacks of crops laid end to end, addressed by a global cell index.

Bags in memory and the shards of a :class:`~skpci.CropStore` are both such
stacks; one helper finds which part of which stack a range of cells covers.
"""

import numpy as np


def stack_offsets(lengths):
    """Global index of the first cell of each stack, and the total: ``[0, n_0, n_0 + n_1, ...]``."""
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


def ranges_in_stacks(offsets, start, stop):
    """The pieces of stacks that hold cells ``start`` to ``stop`` (exclusive).

    Parameters
    ----------
    offsets : ndarray of int
        From :func:`stack_offsets`.
    start, stop : int

    Yields
    ------
    index, low, high : int
        Cells ``low`` to ``high`` of stack ``index``, in global order.

    Examples
    --------
    >>> list(ranges_in_stacks(stack_offsets([3, 0, 4]), 2, 5))
    [(0, 2, 3), (2, 0, 2)]
    """
    first = max(int(np.searchsorted(offsets, start, side="right")) - 1, 0)
    for index in range(first, len(offsets) - 1):
        low, high = int(offsets[index]), int(offsets[index + 1])
        if low >= stop:
            break
        if high > start and high > low:
            yield index, max(start, low) - low, min(stop, high) - low
