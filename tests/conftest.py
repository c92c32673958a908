"""Shared fixtures: small synthetic data made once per run, and the real-data folder."""

import functools
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tifffile  # noqa: E402

from skpci.datasets import make_cell_crops, make_cell_images  # noqa: E402

#: Small and fast: 16 px network input, few epochs. Real sizes live in benchmarks/.
FAST = dict(marker_channels=(1, 2), input_size=16, batch_size=16)


@functools.cache
def on_accelerator():
    """Whether Keras computes on a GPU rather than the CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _relative_difference(actual, desired):
    return float(np.linalg.norm(np.asarray(actual) - desired) / np.linalg.norm(desired))


def assert_same_features(actual, desired, *, rtol=0.0, atol=0.0):
    """Features of the same weights by two routes: equal up to ``rtol``/``atol`` (bit for bit by default) on a CPU.

    A GPU computes float32 convolutions in TensorFloat-32 by default and
    picks kernels per shape, so the same weights give features that agree
    closely but not bit for bit: on an H200, 1.4e-4 to 3.0e-4 apart relative
    to the features' norm (256 yeast cells, every layer), a saved and loaded
    model 9.2e-5 apart at most. There they must agree to 1e-3 of the norm.
    """
    _assert_agree(actual, desired, on_gpu=1e-3, rtol=rtol, atol=atol)


def assert_same_training(actual, desired, *, rtol=0.0, atol=0.0):
    """Features of two trainings with the same seed and data: as :func:`assert_same_features` on a CPU.

    On a GPU the differences of every step (TensorFloat-32, sums in no fixed
    order) add up over training: on an H200, two 2-epoch fits with one seed
    gave features up to 9.5e-3 apart (largest about 0.17). There they must
    agree to 10% of the norm; two seeds differ by about 60%.
    """
    _assert_agree(actual, desired, on_gpu=0.1, rtol=rtol, atol=atol)


def _assert_agree(actual, desired, *, on_gpu, rtol, atol):
    """``rtol``/``atol`` on a CPU; on a GPU, a difference of at most ``on_gpu`` of the norm."""
    if on_accelerator():
        assert _relative_difference(actual, desired) <= on_gpu
    else:
        np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def assert_different_features(actual, desired):
    """Features that differ by more than 10% of their norm: more than two trainings that should agree may."""
    assert _relative_difference(actual, desired) > 0.1


def assert_same_losses(actual, desired, *, rtol=1e-5):
    """Training losses equal to ``rtol`` on a CPU; to 1e-3 on a GPU (losses of one seed were 4e-5 apart on an H200)."""
    np.testing.assert_allclose(actual, desired, rtol=max(rtol, 1e-3) if on_accelerator() else rtol)


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
