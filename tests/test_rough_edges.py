"""Rough edges a new user hits (issue #19): retracing warnings, warnings from workers, progress, messages."""

import logging
import warnings

import keras
import numpy as np
import pytest
from tqdm.auto import tqdm

from skpci import CellSegmenter, PairedInpaintingFeaturizer, preprocessing
from skpci.datasets import make_cell_crops
from skpci.featurizer import _features
from skpci.featurizer.training import _loop
from skpci.network import Architecture, build_feature_extractor, build_inpainting_model, predict

from .conftest import FAST


@pytest.fixture(scope="module")
def crops():
    return make_cell_crops(n_images=4, image_size=96, cell_radius=8, crop_size=32, random_state=0)


def _recording_bar(records):
    class RecordingBar(tqdm):
        """A tqdm bar that records what each redraw would show."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "mininterval": 0})
            records.append(self)
            self.shown, self.shows = [], not self.disable  # closing disables a bar

        def update(self, n=1):
            if not self.disable:
                self.shown.append((self.desc, self.postfix, n))
            return super().update(n)

    return RecordingBar


# 1. Retracing: every compiled predict step sees one batch shape.

@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="tf.function tracing is TensorFlow's")
def test_predict_traces_each_model_once_so_tensorflow_never_warns_of_retracing(caplog):
    architecture = Architecture(n_protein_channels=1, n_marker_channels=2, input_size=16)
    crops = np.random.default_rng(0).random((45, 16, 16, 3), dtype=np.float32)
    with caplog.at_level(logging.WARNING):
        for seed in range(4):  # a new model per fold, as in cross_val_score: this pattern made TensorFlow warn
            extractor = build_feature_extractor(build_inpainting_model(architecture, seed=seed), ["conv1_1"])
            predict(extractor, crops[:17], batch_size=8)
        for seed in range(3):
            extractor = build_feature_extractor(build_inpainting_model(architecture, seed=seed), ["conv1_1"])
            for n in (45, 17, 41, 3):  # compiled with a remainder; direct calls only
                features = predict(extractor, crops[:n], batch_size=8)
                np.testing.assert_allclose(features, keras.ops.convert_to_numpy(extractor(crops[:n])),
                                           rtol=1e-5, atol=1e-6)
            assert extractor.predict_function.experimental_get_tracing_count() == 1
    assert not [record for record in caplog.records if "retracing" in record.getMessage()]


# 2. Warnings raised in joblib workers point at the user's line.

@pytest.mark.parametrize("n_jobs", [None, 2])
def test_segmentation_warnings_point_at_the_line_that_called_transform(n_jobs):
    blank = np.zeros((64, 64, 2), dtype=np.float32)
    segmenter = CellSegmenter(nuclear_channel=0, scale=1, crop_size=16, n_jobs=n_jobs)
    with pytest.warns(UserWarning, match="bag of crops is empty") as caught:
        bags = segmenter.transform([blank, blank])
    assert len(bags) == 2 and len(caught) == 2
    assert {record.filename for record in caught} == {__file__}


def test_segmentation_warnings_can_be_silenced_by_the_users_filters():
    blank = np.zeros((64, 64, 2), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*bag of crops is empty")
        CellSegmenter(nuclear_channel=0, scale=1, crop_size=16).transform([blank])


@pytest.mark.parametrize("n_stacks", [1, 2])
def test_preparation_warnings_point_at_the_line_that_prepared_the_crops(monkeypatch, n_stacks):
    original = preprocessing.resize_crops

    def warning_resize(crops, size):
        warnings.warn("odd crops", RuntimeWarning, stacklevel=2)
        return original(crops, size)

    monkeypatch.setattr(preprocessing, "resize_crops", warning_resize)
    stacks = [np.random.default_rng(0).random((3, 16, 16, 2))] * n_stacks
    with pytest.warns(RuntimeWarning, match="odd crops") as caught:
        prepared = preprocessing.prepare_crop_stacks(stacks, 8, (0, 1), chunk_size=2)
    assert prepared.shape == (3 * n_stacks, 8, 8, 2)
    assert caught and {record.filename for record in caught} == {__file__}


def test_empty_bag_warning_points_at_the_line_that_called_transform(crops):
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(crops.bags)
    empty = crops.bags[0][:0]
    with pytest.warns(UserWarning, match="hold no cells") as caught:
        featurizer.transform([crops.bags[0], empty])
    assert [record.filename for record in caught] == [__file__]


# 3. Features show progress over cells.

def test_features_show_a_progress_bar_over_cells(crops, monkeypatch):
    bars = []
    monkeypatch.setattr(_features, "tqdm", _recording_bar(bars))
    monkeypatch.setattr(_features, "PROGRESS_CELLS", 32)
    featurizer = PairedInpaintingFeaturizer.from_pretrained("synthetic-32", batch_size=16, verbose=1)
    features = featurizer.fit(crops.cells).transform(crops.cells)
    (bar,) = bars
    assert bar.shows and bar.unit == "cell" and bar.total == len(crops.cells) == bar.n
    assert len(bar.shown) == -(-len(crops.cells) // 32) > 1
    quiet = featurizer.set_params(verbose=0).transform(crops.cells)
    assert not bars[-1].shows
    np.testing.assert_array_equal(quiet, features)


# 4. The fit progress bar shows the running loss of the current epoch.

def test_fit_progress_shows_the_running_loss_of_the_epoch_being_trained(crops, monkeypatch):
    bars, losses = [], []
    monkeypatch.setattr(_loop, "tqdm", _recording_bar(bars))

    class LossSpy(_loop._BatchProgress):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(float(logs["loss"]))  # the running mean of this epoch's batches
            super().on_train_batch_end(batch, logs)

    monkeypatch.setattr(_loop, "_BatchProgress", LossSpy)
    PairedInpaintingFeaturizer(epochs=2, random_state=0, verbose=1, **FAST).fit(crops.bags)
    (bar,) = bars
    assert len(bar.shown) == len(losses) > 2
    assert [postfix for _, postfix, _ in bar.shown] == [f"loss={loss:.5f}" for loss in losses]
    epochs = [description for description, _, _ in bar.shown]
    assert epochs[0].startswith("epoch 1/2") and epochs[-1].startswith("epoch 2/2")


def test_interrupted_training_counts_one_epoch_in_the_singular():
    assert str(_loop.TrainingInterrupted([], [0.1])) == "interrupted after 1 completed epoch"
    assert str(_loop.TrainingInterrupted([], [0.1, 0.2])) == "interrupted after 2 completed epochs"
