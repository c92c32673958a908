"""Model directories: save_pretrained, from_pretrained, model cards, corrupt and partial files."""

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skpci import PairedInpaintingFeaturizer
from skpci.pretrained import PretrainedModelError

from ..conftest import FAST, assert_same_features


@pytest.fixture(scope="module")
def saved_model(fitted_featurizer, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    fitted_featurizer.save_pretrained(path, training_data="synthetic test crops", dtype="float32")
    return path


def test_save_then_load_gives_identical_features(fitted_featurizer, saved_model, synthetic_crops):
    loaded = PairedInpaintingFeaturizer.from_pretrained(saved_model).fit(synthetic_crops.bags[:2])
    assert_same_features(loaded.transform(synthetic_crops.cells), fitted_featurizer.transform(synthetic_crops.cells))
    assert loaded.history_ == {"loss": []}
    assert loaded.pretrained_card_["training"]["data"] == "synthetic test crops"


def test_model_card_describes_architecture_channels_training_and_versions(saved_model, fitted_featurizer):
    card = json.loads((saved_model / "model_card.json").read_text())
    assert card["architecture"] == {"n_protein_channels": 1, "n_marker_channels": 2, "input_size": 16}
    assert card["channels"]["protein_channels"] == [0] and card["channels"]["marker_channels"] == [1, 2]
    assert card["training"]["epochs"] == 2
    assert card["training"]["final_loss"] == pytest.approx(fitted_featurizer.history_["loss"][-1])
    assert {"skpci", "keras", "backend"} <= set(card["versions"])
    assert "min-max" in card["normalization"]
    assert sorted(p.name for p in saved_model.iterdir()) == ["model.weights.h5", "model_card.json"]
    assert saved_model.stat().st_mode & 0o055 == 0o055  # readable by others, like any folder


def test_float16_storage_halves_the_file_and_keeps_features_close(fitted_featurizer, synthetic_crops, tmp_path):
    small = fitted_featurizer.save_pretrained(tmp_path / "f16", dtype="float16")
    full = fitted_featurizer.save_pretrained(tmp_path / "f32")
    assert (small / "model.weights.h5").stat().st_size < 0.6 * (full / "model.weights.h5").stat().st_size
    loaded = PairedInpaintingFeaturizer.from_pretrained(small).fit(synthetic_crops.bags[:2])
    assert loaded.model_.get_layer("conv1_1").kernel.dtype == "float32"
    np.testing.assert_allclose(loaded.transform(synthetic_crops.cells),
                               fitted_featurizer.transform(synthetic_crops.cells), rtol=2e-2, atol=2e-3)


def test_from_pretrained_keeps_the_model_through_clone_and_params_override(saved_model):
    featurizer = PairedInpaintingFeaturizer.from_pretrained(saved_model, layer="conv4_1")
    assert featurizer.weights == str(saved_model)
    assert (featurizer.epochs, featurizer.input_size, featurizer.layer) == (0, 16, "conv4_1")
    assert featurizer.marker_channels == (1, 2)
    assert clone(featurizer).get_params() == featurizer.get_params()


def test_grid_search_over_layer_on_a_pretrained_featurizer_trains_nothing(saved_model, fitted_featurizer,
                                                                         synthetic_crops):
    pipeline = Pipeline([("featurizer", PairedInpaintingFeaturizer.from_pretrained(saved_model)),
                         ("knn", KNeighborsClassifier(n_neighbors=1))])
    search = GridSearchCV(pipeline, {"featurizer__layer": ["conv2_1", "conv3_1"]},
                          cv=StratifiedKFold(2), refit=True)
    search.fit(synthetic_crops.bags, synthetic_crops.labels)
    best = search.best_estimator_.named_steps["featurizer"]
    assert best.history_ == {"loss": []}
    for ours, theirs in zip(best.model_.get_weights(), fitted_featurizer.model_.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_fine_tuning_trains_from_the_pretrained_weights(saved_model, synthetic_crops):
    tuned = PairedInpaintingFeaturizer.from_pretrained(saved_model, epochs=1, random_state=0)
    tuned.fit(synthetic_crops.bags)
    assert len(tuned.history_["loss"]) == 1
    assert tuned.pretrained_card_ is not None


def test_mismatched_channels_name_both_architectures(saved_model, synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(marker_channels=(1,), input_size=16, epochs=0,
                                            weights=str(saved_model))
    with pytest.raises(ValueError, match="1 protein \\+ 2 marker.*1 protein \\+ 1 marker"):
        featurizer.fit(synthetic_crops.bags[:2])


def test_truncated_or_corrupted_weights_get_a_clear_error(saved_model, synthetic_crops, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(saved_model, broken)
    weights = broken / "model.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    featurizer = PairedInpaintingFeaturizer.from_pretrained(broken)
    with pytest.raises(PretrainedModelError, match="checksum"):
        featurizer.fit(synthetic_crops.bags[:2])
    bare = tmp_path / "bare.weights.h5"
    bare.write_bytes(data[:5000])
    with pytest.raises(PretrainedModelError, match="Could not load weights"):
        PairedInpaintingFeaturizer(epochs=0, weights=str(bare), **FAST).fit(synthetic_crops.bags[:2])


def test_a_folder_that_is_not_a_model_is_rejected(tmp_path):
    with pytest.raises(PretrainedModelError, match="not a model directory"):
        PairedInpaintingFeaturizer.from_pretrained(tmp_path)
    with pytest.raises(PretrainedModelError, match="Unknown pretrained model 'no-such-model'"):
        PairedInpaintingFeaturizer.from_pretrained("no-such-model")


def test_saving_is_atomic_when_writing_fails(fitted_featurizer, tmp_path, monkeypatch):
    import keras

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save_weights", fail)
    with pytest.raises(OSError, match="disk full"):
        fitted_featurizer.save_pretrained(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_saving_refuses_to_overwrite_unless_asked(fitted_featurizer, saved_model):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fitted_featurizer.save_pretrained(saved_model)
