"""Each example runs in fast mode, so none of them rots."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_network_drawing_has_a_box_per_convolution():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    load("plot_network")
    boxes = [p for p in plt.gcf().axes[0].patches if type(p).__name__ == "Rectangle"]
    assert len(boxes) == 14  # 5 source, 3 target-marker, 5 decoder convolutions and y_gfp


def test_quickstart_pipeline_beats_chance():
    scores = load("quickstart").main(n_images=14)
    assert np.mean(scores) > 2 / 7


def test_grid_search_over_layers_trains_nothing():
    search = load("grid_search_layers").main(n_images=14)
    assert search.best_params_["featurizer__layer"] in {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"}
    assert search.best_estimator_.named_steps["featurizer"].history_ == {"loss": []}
    assert search.best_score_ > 1 / 7


def test_hpa_pipeline_reads_per_channel_files_into_profiles():
    profiles = load("hpa_pipeline").main()
    assert profiles.shape == (6, 385)
    assert list(profiles.index) == [f"field{i:02d}" for i in range(6)]
    assert np.isfinite(profiles.iloc[:, 1:].to_numpy()).all()


@pytest.mark.realdata
def test_yeast_benchmark_fast_mode_is_well_above_chance(data_dir, tmp_path):
    table = load("yeast_benchmark").main(data_dir, fast=True, output=tmp_path / "yeast.csv")
    assert (tmp_path / "yeast.csv").is_file()
    ours = table[table["features"] == "paired inpainting"]
    identity = ours[ours["task"].str.startswith("protein identity")]["balanced_accuracy"].max()
    mito = ours[ours["task"].str.startswith("mitochondrion")]["balanced_accuracy"].max()
    assert identity > 0.3  # chance 0.2; one epoch on a third of the cells
    assert mito > 0.7  # chance 0.5
    assert set(table["features"]) >= {"untrained network", "brightness (mean, max of raw GFP)"}


def test_anndata_example_clusters_cells_by_localization():
    pytest.importorskip("scanpy")
    pytest.importorskip("igraph")
    cells = load("anndata_umap").main(n_images=14)
    assert cells.obsm["X_umap"].shape == (cells.n_obs, 2) and cells.obs["leiden"].nunique() >= 2
    assert set(cells.var["layer"]) == {"conv4_1"}


def test_loaddata_example_profiles_sites_of_one_well_alike():
    pytest.importorskip("pycytominer")
    selected, similarity = load("loaddata_profiles").main()
    wells = selected["Metadata_Well"].to_numpy()
    same = wells[:, None] == wells[None, :]
    off_diagonal = ~np.eye(len(wells), dtype=bool)
    assert similarity[same & off_diagonal].mean() > similarity[~same].mean()
