"""Shared fixtures: small synthetic data made once per run, and the real-data folder."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tifffile  # noqa: E402

from skpci.datasets import make_cell_crops, make_cell_images  # noqa: E402

#: Small and fast: 16 px network input, few epochs. Real sizes live in benchmarks/.
FAST = dict(marker_channels=(1, 2), input_size=16, batch_size=16)


@pytest.fixture(scope="session")
def synthetic_crops():
    """14 fields (2 per localization class), about 200 cells of 32x32x3."""
    return make_cell_crops(n_images=14, image_size=128, cell_radius=8, crop_size=32, random_state=0)


@pytest.fixture(scope="session")
def fitted_featurizer(synthetic_crops):
    from skpci import PairedInpaintingFeaturizer

    return PairedInpaintingFeaturizer(epochs=2, random_state=0, **FAST).fit(synthetic_crops.bags)


@pytest.fixture(scope="session")
def data_dir():
    """The real microscopy folder named by SKPCI_DATA_DIR; skips when absent."""
    location = os.environ.get("SKPCI_DATA_DIR")
    if not location or not Path(location).is_dir():
        pytest.skip("real data not available: set SKPCI_DATA_DIR to ../shared/data")
    return Path(location)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def field_files(tmp_path_factory):
    """Eight synthetic fields written as uint16 TIFF files: (paths, labels)."""
    folder = tmp_path_factory.mktemp("fields")
    data = make_cell_images(n_images=8, image_size=128, cell_radius=8, random_state=3)
    paths = []
    for index, image in enumerate(data.images):
        path = folder / f"field-{index}.tif"
        tifffile.imwrite(path, (image * 20000).astype(np.uint16))
        paths.append(str(path))
    return paths, list(data.labels)
