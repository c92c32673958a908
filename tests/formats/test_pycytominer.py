"""Profiles that pycytominer's aggregate, normalize and feature_select read without any argument about columns."""

import numpy as np
import pandas as pd
import pytest

from skpci import CellSegmenter, PairedInpaintingFeaturizer
from skpci.datasets import make_cell_images
from skpci.formats import profile_feature_columns

pycytominer = pytest.importorskip("pycytominer")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data = make_cell_images(n_images=8, image_size=128, cell_radius=8, random_state=1)
    return CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10).to_store(
        list(data.images), tmp_path_factory.mktemp("profiles") / "store", names=[f"f{i}" for i in range(8)],
        labels=list(data.labels), channel_names=["protein", "nucleus", "cytosol"],
        metadata=[{"Metadata_Plate": "P1", "Metadata_Well": f"B{i // 2}"} for i in range(8)])


def test_per_cell_profiles_run_through_pycytominer_unchanged(store, tmp_path):
    featurizer = PairedInpaintingFeaturizer(protein_channels=("protein",), marker_channels=("nucleus", "cytosol"),
                                            input_size=16, epochs=0, layer=["conv3_1", "conv4_1"],
                                            random_state=0).fit(store)
    path = featurizer.write_features(store, tmp_path / "cells.parquet", style="pycytominer")
    cells = pd.read_parquet(path)
    features = profile_feature_columns(cells)
    assert len(features) == 768 and features[0] == "Cells_skpci_conv3_1_0" and features[-1] == "Cells_skpci_conv4_1_383"
    metadata = [column for column in cells.columns if column not in features]
    assert all(column.startswith("Metadata_") for column in metadata)
    assert {"Metadata_Plate", "Metadata_Well", "Metadata_label", "Metadata_name"} <= set(metadata)
    assert pycytominer.cyto_utils.infer_cp_features(cells) == features

    wells = pycytominer.aggregate(cells)  # default strata: Metadata_Plate, Metadata_Well
    assert len(wells) == 4
    manual = cells[cells["Metadata_Well"] == "B0"][features].median()
    np.testing.assert_allclose(wells.set_index("Metadata_Well").loc["B0", features].to_numpy(dtype=float),
                               manual.to_numpy(), rtol=1e-5)
    normalized = pycytominer.normalize(cells, samples="all")
    np.testing.assert_allclose(normalized[features].mean().abs().max(), 0, atol=1e-4)
    selected = pycytominer.feature_select(normalized, operation=["variance_threshold", "correlation_threshold"])
    kept = profile_feature_columns(selected)
    assert 0 < len(kept) < len(features) and set(kept) <= set(features)


def test_per_image_profiles_and_the_skpci_style_differ_only_in_names(store, tmp_path):
    featurizer = PairedInpaintingFeaturizer(protein_channels=("protein",), marker_channels=("nucleus", "cytosol"),
                                            input_size=16, epochs=0, random_state=0).fit(store)
    ours = pd.read_csv(featurizer.write_features(store, tmp_path / "images.csv", per="image"))
    theirs = pd.read_csv(featurizer.write_features(store, tmp_path / "images-cp.csv", per="image",
                                                   style="pycytominer"))
    assert len(theirs) == store.n_images and "Metadata_n_cells" in theirs.columns
    np.testing.assert_allclose(theirs[profile_feature_columns(theirs)].to_numpy(),
                               ours[[f"conv3_1_{unit}" for unit in range(384)]].to_numpy())
    with pytest.raises(ValueError, match="style must be one of"):
        featurizer.write_features(store, tmp_path / "x.csv", style="cellprofiler")
