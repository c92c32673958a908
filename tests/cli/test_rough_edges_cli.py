"""Rough edges of the commands (issue #19), run in this process: singular epochs, progress, untrained baseline."""

import importlib.util

import numpy as np

from skpci import PairedInpaintingFeaturizer
from skpci.cli._commands import UNTRAINED, _untrained, benchmark_command, features_command, fit_command
from skpci.datasets import make_cell_crops

from ..conftest import assert_same_features

CHANNELS = ("protein", "nucleus", "cytosol")


def test_fit_command_reports_one_epoch_in_the_singular(crop_folder, tmp_path):
    root, _ = crop_folder
    said = []
    fit_command(root, tmp_path / "model", channels=list(CHANNELS), protein=["protein"], markers=["nucleus", "cytosol"],
                group_by="image", input_size=16, epochs=1, batch_size=16, verbose=0, echo=said.append)
    summary = next(line for line in said if line.startswith("loss "))
    assert summary.endswith("over 1 epoch")


def test_features_command_shows_progress_over_cells(crop_folder, tmp_path, capsys):
    root, n_cells = crop_folder
    features_command(root, "synthetic-32", tmp_path / "cells.csv", verbose=1, echo=lambda line: None)
    progress = capsys.readouterr().err
    assert "features" in progress and f"{n_cells}/{n_cells}" in progress and "cell/s" in progress
    features_command(root, "synthetic-32", tmp_path / "cells.csv", overwrite=True, verbose=0, echo=lambda line: None)
    assert "features" not in capsys.readouterr().err


def test_benchmark_has_a_row_of_the_untrained_network_for_every_layer(crop_folder):
    root, _ = crop_folder
    said = []
    table = benchmark_command(root, "synthetic-32", layers=["conv1_1", "conv3_1"], echo=said.append)
    assert list(table["features"]) == ["synthetic-32"] * 2 + [UNTRAINED] * 2 + ["hand-crafted", "brightness"]
    trained, untrained = table.iloc[:2], table.iloc[2:4]
    assert list(untrained["layer"]) == list(trained["layer"]) == ["conv1_1", "conv3_1"]
    assert untrained["accuracy"].between(0, 1).all()
    assert any(line.startswith(f"{UNTRAINED}: ") and "random weights" in line for line in said)
    again = benchmark_command(root, "synthetic-32", layers=["conv1_1", "conv3_1"], echo=lambda line: None)
    assert list(again["accuracy"]) == list(table["accuracy"])  # the random weights are seeded
    if importlib.util.find_spec("copairs") is not None:  # every row also scores retrieval (mAP)
        assert table["map"].between(0, 1).all() and any(line.startswith("map: mean average precision")
                                                        for line in said)


def test_untrained_twin_has_seeded_random_weights_and_leaves_the_model_alone():
    cells = make_cell_crops(n_images=2, image_size=96, cell_radius=8, crop_size=32, random_state=0).cells
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(cells)
    before = featurizer.transform(cells)
    twin, again = _untrained(featurizer, cells), _untrained(featurizer, cells)
    assert twin.architecture_ == featurizer.architecture_ and twin.layer == featurizer.layer
    assert_same_features(twin.transform(cells), again.transform(cells))
    assert not np.allclose(twin.transform(cells), before)
    np.testing.assert_array_equal(featurizer.transform(cells), before)


def test_benchmark_of_a_masking_model_masks_the_baselines_too(crop_folder, tmp_path):
    from skpci.evaluation import benchmark_scores, handcrafted_features
    from skpci.io import read_cell_crops
    from skpci.preprocessing import mask_background

    root, _ = crop_folder
    fit_command(root, tmp_path / "model", channels=list(CHANNELS), protein=["protein"], markers=["nucleus", "cytosol"],
                group_by="image", input_size=16, epochs=1, batch_size=16, verbose=0, echo=lambda line: None,
                recipe={"mask_neighbours": True, "mask_marker": "cytosol"})
    said = []
    table = benchmark_command(root, tmp_path / "model", layers=["conv1_1"], echo=said.append)
    assert any("so do the baselines" in line for line in said)
    data = read_cell_crops(root, CHANNELS)
    labels, groups = data.cell_table["folder"].to_numpy(), (data.cell_table["folder"] + "/" + data.cell_table["image"])
    masked = benchmark_scores(handcrafted_features(mask_background(data.cells, 2), (0,)), labels, groups.to_numpy())
    whole = benchmark_scores(handcrafted_features(data.cells, (0,)), labels, groups.to_numpy())
    row = table.set_index("features").loc["hand-crafted"]
    assert row["accuracy"] == masked["accuracy"] and masked["accuracy"] != whole["accuracy"]
