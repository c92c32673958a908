"""Features as AnnData, loaded by the real anndata and clustered by the real scanpy."""

import numpy as np
import pandas as pd
import pytest

from skpci import CellSegmenter, PairedInpaintingFeaturizer
from skpci.cli import main
from skpci.datasets import make_cell_images

anndata = pytest.importorskip("anndata")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data = make_cell_images(n_images=6, image_size=128, cell_radius=8, random_state=0)
    return CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10).to_store(
        list(data.images), tmp_path_factory.mktemp("anndata") / "store", names=[f"f{i}" for i in range(6)],
        labels=list(data.labels), channel_names=["protein", "nucleus", "cytosol"],
        metadata=[{"Plate": "P1", "Well": f"A{i % 3}", "treated": bool(i % 2)} for i in range(6)])


@pytest.fixture(scope="module")
def featurizer(store):
    return PairedInpaintingFeaturizer(protein_channels=("protein",), marker_channels=("nucleus", "cytosol"),
                                      input_size=16, epochs=0, layer=["conv3_1", "conv4_1"],
                                      random_state=0).fit(store)


def test_the_anndata_holds_features_records_and_each_layers_block(featurizer, store):
    adata = featurizer.to_anndata(store)
    assert adata.shape == (len(store), 384 + 384) and adata.X.dtype == np.float32
    np.testing.assert_allclose(adata.X, featurizer.transform(store), rtol=1e-6)
    assert list(adata.obs["label"]) == list(store.images["label"].to_numpy()[store.cells["image"]])
    assert set(adata.obs.columns) >= {"image", "group", "label", "centroid_row", "centroid_col", "source", "name",
                                      "Plate", "Well", "treated"}
    conv4 = adata[:, adata.var["layer"] == "conv4_1"]
    assert conv4.shape[1] == 384 and conv4.var_names[0] == "conv4_1_0" and conv4.var["unit"].iloc[-1] == 383
    start, stop = adata.uns["skpci"]["layer_columns"]["conv4_1"]
    np.testing.assert_array_equal(adata.X[:, start:stop], conv4.X)
    assert adata.uns["skpci"]["pooling"] == "max" and adata.uns["skpci"]["per"] == "cell"
    assert set(adata.var["pooling"]) == {"max"}


def test_meanmax_features_keep_their_layer_unit_and_pooling_in_var(featurizer, store):
    featurizer.set_params(pooling="meanmax")
    try:
        adata = featurizer.to_anndata(store)
    finally:
        featurizer.set_params(pooling="max")
    assert adata.shape[1] == 2 * (384 + 384)
    mean_conv4 = adata[:, (adata.var["layer"] == "conv4_1") & (adata.var["pooling"] == "mean")]
    assert mean_conv4.shape[1] == 384 and mean_conv4.var_names[0] == "conv4_1_mean_0"
    assert list(mean_conv4.var["unit"]) == list(range(384))
    start, stop = adata.uns["skpci"]["layer_columns"]["conv4_1"]
    assert (start, stop) == (768, 1536)


def test_an_h5ad_file_loads_and_scanpy_clusters_it(featurizer, store, tmp_path):
    sc = pytest.importorskip("scanpy")
    pytest.importorskip("igraph")
    path = featurizer.write_features(store, tmp_path / "cells.h5ad")
    adata = anndata.read_h5ad(path)
    assert adata.n_obs == len(store) and list(adata.var["layer"].cat.categories) == ["conv3_1", "conv4_1"]
    sc.pp.neighbors(adata, use_rep="X", n_neighbors=5, random_state=0)
    sc.tl.umap(adata, random_state=0)
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0)
    assert adata.obsm["X_umap"].shape == (len(store), 2) and np.isfinite(adata.obsm["X_umap"]).all()
    assert adata.obs["leiden"].nunique() >= 2
    per_image = featurizer.to_anndata(store, per="image")
    assert per_image.n_obs == store.n_images and list(per_image.obs["name"]) == list(store.images["name"])


def test_bags_in_memory_and_the_command_line_write_h5ad(featurizer, store, tmp_path):
    bags = [store.read_image(index) for index in range(3)]
    adata = featurizer.to_anndata(bags, per="image")
    assert adata.n_obs == 3 and list(adata.obs["n_cells"]) == [len(bag) for bag in bags]
    model = tmp_path / "model"
    featurizer.save_pretrained(model)
    out = tmp_path / "cli.h5ad"
    assert main(["features", str(store.path), "--model", str(model), "-o", str(out), "--layer", "conv4_1",
                 "--quiet"]) == 0
    loaded = anndata.read_h5ad(out)
    assert loaded.shape == (len(store), 384) and pd.Series(loaded.obs["Well"]).str.startswith("A").all()


def test_a_stack_of_cells_without_groups_gives_one_observation_per_cell(featurizer, store, tmp_path):
    cells = store.read(0, 8)
    adata = featurizer.to_anndata(cells)
    assert adata.n_obs == 8 and list(adata.obs.columns) == []
    np.testing.assert_allclose(adata.X, featurizer.transform(cells), rtol=1e-6)
    loaded = anndata.read_h5ad(featurizer.write_features(cells, tmp_path / "stack.h5ad"))
    assert loaded.n_obs == 8
