"""The two input forms the featurizer accepts: bags of crops, or one stack of cells.

* **Bags**: a list (or 1-D object array) with one ``(n_cells_i, h, w, C)``
  stack per image; cells are paired within their bag and features are
  aggregated per bag. A 5-D numeric array ``(n_images, n_cells, h, w, C)`` is
  read as equal-sized bags.
* **Cells**: one ``(n_cells, h, w, C)`` array; pairing groups come from the
  ``groups`` argument and features are returned per cell.
"""

from dataclasses import dataclass

import numpy as np

from ._preprocessing import check_crops


@dataclass(frozen=True)
class CropInput:
    """Crop stacks in a common form.

    Attributes
    ----------
    stacks : list of ndarray
        One validated ``(n_i, h_i, w_i, C)`` array per bag, or a single
        array holding every cell.
    is_bags : bool
        Whether the input was a collection of bags.
    """

    stacks: list
    is_bags: bool

    @property
    def n_cells(self):
        return sum(len(stack) for stack in self.stacks)

    @property
    def bag_sizes(self):
        return np.array([len(stack) for stack in self.stacks], dtype=np.int64)

    def bag_codes(self):
        """Index of the bag of each cell, in concatenated order."""
        return np.repeat(np.arange(len(self.stacks)), self.bag_sizes)


def parse_crop_input(X, *, n_channels=None):
    """Validate ``X`` and bring it into the :class:`CropInput` form.

    Parameters
    ----------
    X : list of array-like, 1-D object ndarray, or ndarray of 4 or 5 dimensions
        Bags or cells (see the module docstring).
    n_channels : int, optional
        Required number of channels in every crop.

    Returns
    -------
    CropInput
    """
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 5:
            return CropInput([check_crops(bag, name=f"bag {i}", n_channels=n_channels)
                              for i, bag in enumerate(X)], is_bags=True)
        return CropInput([check_crops(X, name="X", n_channels=n_channels)], is_bags=False)
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(
            f"A collection of bags must be 1-D (one entry per image), got an object array "
            f"of shape {X.shape}."
        )
    if not isinstance(X, (list, tuple, np.ndarray)):
        raise TypeError(
            "X must be a stack of cells (an array of shape (n_cells, height, width, channels)) "
            f"or a list of such stacks, one per image; got {type(X).__name__}."
        )
    if len(X) == 0:
        raise ValueError("X holds no images (an empty collection of bags).")
    stacks = []
    for i, bag in enumerate(X):
        if isinstance(bag, (list, tuple)) and len(bag):
            shapes = {np.shape(crop) for crop in bag}
            if len(shapes) > 1:
                raise ValueError(
                    f"bag {i}: crops of different shapes in one bag {sorted(shapes)}; "
                    "crops of one image must share one size (resize or re-crop them)."
                )
        bag = np.asarray(bag)
        if bag.size == 0 and bag.ndim != 4:
            stacks.append(None)
            continue
        stacks.append(check_crops(bag, name=f"bag {i}", n_channels=n_channels))
    reference = next((s for s in stacks if s is not None), None)
    if reference is None:
        raise ValueError("Every bag in X is empty: there are no cells.")
    empty = np.zeros((0,) + reference.shape[1:], dtype=reference.dtype)
    stacks = [empty if s is None else s for s in stacks]
    channels = {s.shape[-1] for s in stacks}
    if len(channels) > 1:
        raise ValueError(f"Bags have different numbers of channels: {sorted(channels)}.")
    return CropInput(stacks, is_bags=True)
