"""Fixtures shared by the command-line tests."""

import pytest


@pytest.fixture(scope="module")
def crop_folder(tmp_path_factory):
    """Synthetic crops written like the authors' sets: <class>/<image>_<cell>_<channel>.tif."""
    import tifffile

    from skpci.datasets import make_cell_crops

    data = make_cell_crops(n_images=8, image_size=112, cell_radius=8, crop_size=32, random_state=0,
                           localizations=("nucleus", "plasma_membrane"))
    root = tmp_path_factory.mktemp("crops")
    for index, (bag, label) in enumerate(zip(data.bags, data.labels)):
        (root / label).mkdir(exist_ok=True)
        for cell, crop in enumerate(bag):
            for channel, name in enumerate(("protein", "nucleus", "cytosol")):
                tifffile.imwrite(root / label / f"field{index}_{cell}_{name}.tif", crop[..., channel])
    return root, sum(len(bag) for bag in data.bags)
