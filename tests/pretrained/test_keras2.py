"""Importing the authors' Keras 2 weight files."""


import h5py
import numpy as np
import pytest

from skpci import PairedInpaintingFeaturizer, pretrained
from skpci.network import build_inpainting_model, predict
from skpci.pretrained import PretrainedModelError

from .keras2_files import random_model, write_keras2_file


@pytest.mark.parametrize("with_graph", [True, False], ids=["graph in file", "creation order"])
def test_keras2_file_with_unnamed_batchnorm_reproduces_its_outputs(tmp_path, with_graph):
    source = random_model(seed=7)
    path = tmp_path / "model_weights.h5"
    write_keras2_file(path, source, with_graph=with_graph)
    assert pretrained.legacy_architecture(path, 16).to_dict() == {
        "n_protein_channels": 1, "n_marker_channels": 1, "input_size": 16}
    target = build_inpainting_model(1, 1, 16, seed=99)
    pretrained.load_legacy_h5(target, path)
    rng = np.random.default_rng(0)
    inputs = {"x_in": rng.random((4, 16, 16, 2), dtype=np.float32),
              "y_rfp": rng.random((4, 16, 16, 1), dtype=np.float32)}
    np.testing.assert_allclose(predict(target, inputs, 8), predict(source, inputs, 8), rtol=1e-5, atol=1e-6)


def test_keras2_file_loads_through_from_pretrained(tmp_path):
    source = random_model(seed=3, n_marker=2)
    path = tmp_path / "human.h5"
    write_keras2_file(path, source)
    x = np.random.default_rng(1).random((3, 16, 16, 3), dtype=np.float32)
    featurizer = PairedInpaintingFeaturizer.from_pretrained(path, input_size=16).fit(x)
    assert featurizer.marker_channels == (1, 2)
    from skpci.network import build_feature_extractor
    from skpci.preprocessing import minmax_scale_crops

    expected = predict(build_feature_extractor(source, ["conv3_1"]), minmax_scale_crops(x), 8)
    np.testing.assert_allclose(featurizer.transform(x), expected, rtol=1e-5, atol=1e-6)


def test_keras2_file_for_other_channels_names_the_layer(tmp_path):
    path = tmp_path / "yeast.h5"
    write_keras2_file(path, random_model(seed=1, n_marker=1))
    with pytest.raises(PretrainedModelError, match="conv1_1 .* shapes"):
        pretrained.load_legacy_h5(build_inpainting_model(1, 2, 16), path)
    with h5py.File(path, "a") as file:
        del file["model_weights/conv7_1"]
    with pytest.raises(PretrainedModelError, match="conv7_1"):
        pretrained.load_legacy_h5(build_inpainting_model(1, 1, 16), path)
