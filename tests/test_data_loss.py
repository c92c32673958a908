"""Writes that would destroy data, or fail late, are refused up front."""

import numpy as np
import pytest

from skpci import CropStore, PairedInpaintingFeaturizer

from .conftest import FAST


def test_save_pretrained_overwrites_only_a_model_directory(tmp_path, fitted_featurizer):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.csv").write_text("keep me")
    (tmp_path / "file.txt").write_text("keep me too")
    for target in ("results", "file.txt"):
        with pytest.raises(FileExistsError, match="not a model directory"):
            fitted_featurizer.save_pretrained(tmp_path / target, overwrite=True)
    assert (tmp_path / "results" / "table.csv").read_text() == "keep me"
    assert (tmp_path / "file.txt").read_text() == "keep me too"
    model = fitted_featurizer.save_pretrained(tmp_path / "model")
    assert fitted_featurizer.save_pretrained(model, overwrite=True) == model


def test_a_checkpoint_dir_that_cannot_be_made_fails_before_training(tmp_path, synthetic_crops):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="cannot be written"):
        PairedInpaintingFeaturizer(epochs=1, checkpoint_dir=tmp_path / "notes.txt" / "run", **FAST).fit(
            synthetic_crops.bags)


def test_a_checkpoint_dir_that_is_a_file_fails_before_training(tmp_path, synthetic_crops, monkeypatch):
    (tmp_path / "run").write_text("")
    trained = []
    monkeypatch.setattr("skpci.featurizer._estimator.train_weights", lambda *a, **k: trained.append(1))
    with pytest.raises(ValueError, match="is a file, not a folder"):
        PairedInpaintingFeaturizer(epochs=1, checkpoint_dir=tmp_path / "run", **FAST).fit(synthetic_crops.bags)
    assert not trained


def test_a_killed_single_file_from_bags_does_not_block_the_retry(tmp_path, synthetic_crops):
    staging = CropStore.create(tmp_path / "crops.h5.staging")  # what a kill mid-write leaves
    (staging.path / ".shard-000000.h5.abc.part").write_bytes(b"half a shard")
    store = CropStore.from_bags(tmp_path / "crops.h5", synthetic_crops.bags[:2])
    assert len(store) == sum(map(len, synthetic_crops.bags[:2]))
    assert not (tmp_path / "crops.h5.staging").exists()
    foreign = CropStore.create(tmp_path / "other.h5.staging")
    (foreign.path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="did not write"):
        CropStore.from_bags(tmp_path / "other.h5", synthetic_crops.bags[:1])
    assert (foreign.path / "notes.txt").exists()
    np.testing.assert_array_equal(store.read(0, 3), synthetic_crops.bags[0][:3])
