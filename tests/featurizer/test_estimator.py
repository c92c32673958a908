"""PairedInpaintingFeaturizer: training, features, pickling, parameters, errors."""

import json
import pickle
import random
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skpci import PairedInpaintingFeaturizer
from skpci.network import build_inpainting_model

from ..conftest import FAST, assert_different_features, assert_same_features, assert_same_losses, assert_same_training


def test_a_few_hundred_training_steps_lower_the_inpainting_loss_clearly(synthetic_crops):
    params = dict(FAST, batch_size=8, random_state=0)
    steps_per_epoch = int(np.ceil(len(synthetic_crops.cells) / 8))
    epochs = int(np.ceil(300 / steps_per_epoch))
    untrained = PairedInpaintingFeaturizer(epochs=0, **params).fit(synthetic_crops.bags)
    trained = PairedInpaintingFeaturizer(epochs=epochs, **params).fit(synthetic_crops.bags)
    n_steps = epochs * steps_per_epoch
    before = -untrained.score(synthetic_crops.bags)
    after = -trained.score(synthetic_crops.bags)
    losses = trained.history_["loss"]
    print(f"{n_steps} steps; held-pair MSE {before:.4f} -> {after:.4f}; epoch losses {losses}")
    assert after < 0.65 * before
    assert losses[-1] < 0.65 * losses[0]


def test_pipeline_with_knn_beats_chance_by_a_wide_margin():
    from skpci.datasets import make_cell_crops

    data = make_cell_crops(n_images=24, image_size=112, cell_radius=8, crop_size=32, random_state=3,
                           localizations=("nucleus", "plasma_membrane", "vesicles", "nucleolus"))
    pipeline = Pipeline([
        ("featurizer", PairedInpaintingFeaturizer(epochs=1, random_state=0, **FAST)),
        ("knn", KNeighborsClassifier(n_neighbors=3)),
    ])
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)  # one bag per image
    accuracy = cross_val_score(pipeline, data.bags, data.labels, cv=cv).mean()
    print(f"pipeline accuracy {accuracy:.3f}, chance 0.25")
    assert accuracy >= 0.6


def test_conv3_features_survive_pickle_and_joblib_round_trips(fitted_featurizer, synthetic_crops, tmp_path):
    features = fitted_featurizer.transform(synthetic_crops.cells)
    restored = pickle.loads(pickle.dumps(fitted_featurizer))
    np.testing.assert_array_equal(restored.transform(synthetic_crops.cells), features)
    joblib.dump(fitted_featurizer, tmp_path / "featurizer.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "featurizer.joblib").transform(synthetic_crops.cells),
                                  features)
    assert restored.history_ == fitted_featurizer.history_


def test_two_fits_with_the_same_random_state_give_identical_features(fitted_featurizer, synthetic_crops):
    again = clone(fitted_featurizer).fit(synthetic_crops.bags)
    cells, features = synthetic_crops.cells, fitted_featurizer.transform(synthetic_crops.cells)
    assert_same_training(again.transform(cells), features)
    assert_same_losses(again.history_["loss"], fitted_featurizer.history_["loss"], rtol=0)
    other = clone(fitted_featurizer).set_params(random_state=1).fit(synthetic_crops.bags)
    assert_different_features(other.transform(cells), features)


def test_fit_pickle_and_save_leave_global_random_state_alone(synthetic_crops, tmp_path):
    np.random.seed(123)
    random.seed(123)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    fitted = PairedInpaintingFeaturizer(epochs=1, random_state=0, memory=str(tmp_path / "cache"),
                                        **FAST).fit(synthetic_crops.bags[:3])
    pickle.loads(pickle.dumps(fitted)).transform(synthetic_crops.cells[:2])
    fitted.save_pretrained(tmp_path / "model")
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert np.array_equal(after[1], numpy_state[1]) and after[2] == numpy_state[2]


def test_bags_give_one_row_per_bag_equal_to_the_mean_of_its_cells(fitted_featurizer, synthetic_crops):
    per_bag = fitted_featurizer.transform(synthetic_crops.bags)
    per_cell = fitted_featurizer.transform(synthetic_crops.cells)
    assert per_bag.shape == (len(synthetic_crops.bags), 384)
    assert per_cell.shape == (len(synthetic_crops.cells), 384)
    first = synthetic_crops.groups == 0
    np.testing.assert_allclose(per_bag[0], per_cell[first].mean(axis=0), rtol=1e-5)
    median = clone(fitted_featurizer).set_params(aggregate="median")
    median.__dict__.update({k: v for k, v in fitted_featurizer.__dict__.items() if k.endswith("_")})
    np.testing.assert_allclose(median.transform(synthetic_crops.bags)[0],
                               np.median(per_cell[first], axis=0), rtol=1e-5)


def test_cells_form_trains_with_groups_and_equals_bags_form(synthetic_crops):
    params = dict(epochs=1, random_state=0, **FAST)
    from_bags = PairedInpaintingFeaturizer(**params).fit(synthetic_crops.bags)
    from_cells = PairedInpaintingFeaturizer(**params).fit(synthetic_crops.cells, groups=synthetic_crops.groups)
    cells = synthetic_crops.cells[:20]
    assert_same_training(from_bags.transform(cells), from_cells.transform(cells))


def test_cells_without_groups_is_an_error_that_says_groups_are_needed(synthetic_crops):
    with pytest.raises(ValueError, match="needs groups"):
        PairedInpaintingFeaturizer(epochs=1, **FAST).fit(synthetic_crops.cells)


def test_cells_without_groups_are_fine_when_nothing_is_trained(synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(epochs=0, **FAST).fit(synthetic_crops.cells)
    assert featurizer.transform(synthetic_crops.cells[:2]).shape == (2, 384)


def test_groups_with_bags_is_an_error(synthetic_crops):
    with pytest.raises(ValueError, match="with bags, the cells of one bag form a group"):
        PairedInpaintingFeaturizer(epochs=1, **FAST).fit(synthetic_crops.bags, groups=[0, 1])


def test_crops_of_another_size_than_fitted_are_refused(fitted_featurizer, synthetic_crops, tmp_path):
    # Another crop size shows cells at another magnification once resized to input_size.
    big = np.repeat(np.repeat(synthetic_crops.cells[:4], 2, axis=1), 2, axis=2)
    with pytest.raises(ValueError, match="crops are 64x64 px, but the featurizer was fitted on 32x32 px"):
        fitted_featurizer.transform(big)
    with pytest.raises(ValueError, match="crops are 64x64 px"):
        fitted_featurizer.write_features(big, tmp_path / "features.csv")
    assert not (tmp_path / "features.csv").exists()


def test_crops_larger_than_input_size_are_resized(synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), input_size=16, epochs=0, random_state=0)
    features = featurizer.fit(synthetic_crops.cells[:4]).transform(synthetic_crops.cells[:4])
    assert features.shape == (4, 384) and np.isfinite(features).all()


def test_bags_of_different_crop_sizes_are_refused(synthetic_crops):
    bags = [synthetic_crops.bags[0], synthetic_crops.bags[1][:, 4:28, 4:28]]
    featurizer = PairedInpaintingFeaturizer(marker_channels=(1, 2), input_size=16, epochs=1)
    with pytest.raises(ValueError, match=r"different sizes \[\(24, 24\), \(32, 32\)\]"):
        featurizer.fit(bags)


def test_empty_bag_gives_a_nan_row_and_a_warning(fitted_featurizer, synthetic_crops):
    empty = np.zeros((0, 32, 32, 3), dtype=np.float32)
    with pytest.warns(UserWarning, match="hold no cells"):
        features = fitted_featurizer.transform([synthetic_crops.bags[0], empty])
    assert np.isfinite(features[0]).all() and np.isnan(features[1]).all()


def test_feature_names_and_pandas_output(fitted_featurizer, synthetic_crops):
    names = fitted_featurizer.get_feature_names_out()
    assert names[0] == "conv3_1_0" and names[-1] == "conv3_1_383" and len(names) == 384
    two = clone(fitted_featurizer).set_params(layer=["conv1_1", "conv4_1"])
    two.__dict__.update({k: v for k, v in fitted_featurizer.__dict__.items() if k.endswith("_")})
    assert list(two.get_feature_names_out()[[0, 96]]) == ["conv1_1_0", "conv4_1_0"]
    frame = clone(fitted_featurizer).set_output(transform="pandas").fit(synthetic_crops.bags[:2]) \
        .transform(synthetic_crops.bags[:3])
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == (3, 384) and frame.columns[5] == "conv3_1_5"


def test_meanmax_pooling_gives_each_layer_its_max_then_its_mean_features(fitted_featurizer, synthetic_crops):
    cells = synthetic_crops.cells[:5]
    layers = ["conv2_1", "conv4_1"]
    pooled = {}
    for pooling in ("max", "mean", "meanmax"):
        fitted_featurizer.set_params(layer=layers, pooling=pooling)
        try:
            pooled[pooling] = (fitted_featurizer.transform(cells), fitted_featurizer.get_feature_names_out())
        finally:
            fitted_featurizer.set_params(layer="conv3_1", pooling="max")
    both, names = pooled["meanmax"]
    assert both.shape == (5, 2 * (256 + 384)) and len(names) == both.shape[1]
    conv2_max, conv2_mean = both[:, :256], both[:, 256:512]
    np.testing.assert_allclose(conv2_max, pooled["max"][0][:, :256], rtol=1e-5)
    np.testing.assert_allclose(conv2_mean, pooled["mean"][0][:, :256], rtol=1e-5)
    np.testing.assert_allclose(both[:, 512 + 384:], pooled["mean"][0][:, 256:], rtol=1e-5)
    assert not np.allclose(conv2_max, conv2_mean)
    assert list(names[[0, 256, 512, 896]]) == ["conv2_1_max_0", "conv2_1_mean_0", "conv4_1_max_0", "conv4_1_mean_0"]


def test_mask_neighbours_trains_and_featurizes_the_central_cell_outlined_by_the_first_marker(synthetic_crops,
                                                                                               tmp_path):
    from skpci.preprocessing import mask_background

    bags = synthetic_crops.bags[:4]
    # The first marker (cytosol, channel 2) outlines the cell; FAST lists the nucleus first.
    params = dict(FAST, marker_channels=(2, 1), epochs=1, random_state=3)
    masked_bags = [mask_background(bag, marker_channel=2) for bag in bags]
    masking = PairedInpaintingFeaturizer(mask_neighbours=True, **params).fit(bags)
    premasked = PairedInpaintingFeaturizer(**params).fit(masked_bags)
    assert_same_losses(masking.history_["loss"], premasked.history_["loss"])
    cells = synthetic_crops.cells[:6]
    assert_same_training(masking.transform(cells), premasked.transform(mask_background(cells, 2)),
                               rtol=1e-4, atol=1e-5)
    assert_different_features(masking.transform(cells), premasked.transform(cells))
    assert_same_training(masking.inpaint(cells, cells[::-1]),
                               premasked.inpaint(mask_background(cells, 2), mask_background(cells[::-1], 2)),
                               rtol=1e-4, atol=1e-5)
    # The saved model remembers it saw central cells only, and gives them the same features after loading.
    masking.save_pretrained(tmp_path / "masked")
    loaded = PairedInpaintingFeaturizer.from_pretrained(tmp_path / "masked")
    assert loaded.mask_neighbours is True
    np.testing.assert_allclose(loaded.fit(cells).transform(cells), masking.transform(cells), rtol=1e-5, atol=1e-6)
    overridden = PairedInpaintingFeaturizer.from_pretrained(tmp_path / "masked", mask_neighbours=False)
    assert overridden.mask_neighbours is False
    with pytest.warns(UserWarning, match="trained on only central cells.*gives it whole crops") as caught:
        overridden.fit(cells)
    assert caught[0].filename == __file__
    # The probe compares masked and whole crops even for a featurizer that masks by itself.
    from skpci.evaluation import background_probe, knn_scores

    labels = np.arange(len(cells)) % 2
    probe = background_probe(masking, cells, labels, np.arange(len(cells)) % 3, marker_channel=2,
                             layers=["conv3_1"], n_neighbors=1)
    assert masking.mask_neighbours is True and probe["change"].abs().iloc[0] >= 0
    with pytest.warns(UserWarning, match="trained on only central cells"):
        whole = PairedInpaintingFeaturizer.from_pretrained(tmp_path / "masked", mask_neighbours=False).fit(cells[:1])
    np.testing.assert_allclose(
        probe["accuracy"].iloc[0],
        knn_scores(whole.transform(cells), labels, np.arange(len(cells)) % 3, n_neighbors=1)["accuracy"])


def test_mask_marker_outlines_the_central_cell_in_another_marker(synthetic_crops, tmp_path):
    from skpci import CropStore
    from skpci.preprocessing import mask_background

    bags, cells = synthetic_crops.bags[:4], synthetic_crops.cells[:6]
    names = ["protein", "nucleus", "cytosol"]
    # Nucleus first, as in the Human Protein Atlas: the cytosol (channel 2) must outline the cell.
    params = dict(FAST, epochs=1, random_state=3, channel_names=names)
    by_name = PairedInpaintingFeaturizer(mask_neighbours=True, mask_marker="cytosol", **params).fit(bags)
    premasked = PairedInpaintingFeaturizer(**params).fit([mask_background(bag, 2) for bag in bags])
    assert_same_losses(by_name.history_["loss"], premasked.history_["loss"])
    assert_same_training(by_name.transform(cells), premasked.transform(mask_background(cells, 2)),
                               rtol=1e-4, atol=1e-5)
    assert_same_training(by_name.inpaint(cells, cells[::-1]),
                               premasked.inpaint(mask_background(cells, 2), mask_background(cells[::-1], 2)),
                               rtol=1e-4, atol=1e-5)
    by_index = PairedInpaintingFeaturizer(mask_neighbours=True, mask_marker=2, **params).fit(bags)
    assert_same_training(by_index.transform(cells), by_name.transform(cells), rtol=1e-5, atol=1e-6)
    first_marker = PairedInpaintingFeaturizer(mask_neighbours=True, **params).fit(bags)
    assert_different_features(first_marker.transform(cells), by_name.transform(cells))

    by_name.save_pretrained(tmp_path / "model")
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["training"]["mask_neighbours"] is True and card["training"]["mask_marker"] == 2
    loaded = PairedInpaintingFeaturizer.from_pretrained(tmp_path / "model")
    assert (loaded.mask_neighbours, loaded.mask_marker) == (True, 2)
    assert_same_features(loaded.fit(cells).transform(cells), by_name.transform(cells), rtol=1e-5, atol=1e-6)
    with pytest.warns(UserWarning, match="outlined by marker 'cytosol', but this featurizer gives it only "
                                         "central cells, outlined by marker 'nucleus'"):
        PairedInpaintingFeaturizer.from_pretrained(tmp_path / "model", mask_marker=None).fit(cells)
    # A card may name the marker; the card records what training saw, whatever the featurizer says now.
    card["training"]["mask_marker"] = "cytosol"
    (tmp_path / "model" / "model_card.json").write_text(json.dumps(card))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        named = PairedInpaintingFeaturizer.from_pretrained(tmp_path / "model").fit(cells)
    assert_same_features(named.transform(cells), by_name.transform(cells), rtol=1e-5, atol=1e-6)
    by_name.set_params(mask_marker=None).save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "model_card.json").read_text())["training"]["mask_marker"] == 2
    with pytest.raises(ValueError, match="mask_marker must be a channel index"):
        by_name.set_params(mask_marker=True).inpaint(cells, cells)
    by_name.set_params(mask_marker="cytosol")
    unnamed = dict(params, channel_names=None)
    refit = PairedInpaintingFeaturizer(mask_neighbours=True, mask_marker="cytosol", **params).fit(bags)
    with pytest.raises(ValueError, match="the channels have no names"):
        refit.set_params(**unnamed).fit(bags)  # the names of the first fit are not used

    store = CropStore.create(tmp_path / "cells", channel_names=names)
    store.append(bags, names=["a", "b", "c", "d"], groups=["a", "b", "c", "d"])
    written = by_name.write_features(store)
    assert written.name == "features-conv3_1-central-cell-cytosol.h5"
    assert first_marker.write_features(store).name == "features-conv3_1-central-cell.h5"

    not_a_marker = r"mask_marker=0 is not one of the marker channels \(1 \('nucleus'\), 2 \('cytosol'\)\)"
    for marker, message in ((0, not_a_marker),
                            ("dapi", r"mask_marker='dapi' names a channel, but the channels are \['protein'")):
        with pytest.raises(ValueError, match=message):
            PairedInpaintingFeaturizer(mask_neighbours=True, mask_marker=marker, **params).fit(bags)


def test_layer_can_change_after_fit_without_retraining(fitted_featurizer, synthetic_crops):
    model = fitted_featurizer.model_
    fitted_featurizer.set_params(layer="conv5_1")
    try:
        assert fitted_featurizer.transform(synthetic_crops.cells[:3]).shape == (3, 256)
        assert fitted_featurizer.model_ is model
    finally:
        fitted_featurizer.set_params(layer="conv3_1")


def test_unknown_layer_lists_the_valid_ones(fitted_featurizer, synthetic_crops):
    bad = clone(fitted_featurizer).set_params(layer="conv7_1")
    with pytest.raises(ValueError, match="conv1_1, conv2_1, conv3_1, conv4_1, conv5_1"):
        bad.fit(synthetic_crops.bags)


def test_transform_before_fit_raises_not_fitted(synthetic_crops):
    with pytest.raises(NotFittedError):
        PairedInpaintingFeaturizer().transform(synthetic_crops.cells)


def test_wrong_number_of_channels_for_a_fitted_model_is_named(fitted_featurizer, synthetic_crops):
    with pytest.raises(ValueError, match=r"expected 3 channels \(3 unnamed channels\), got 2"):
        fitted_featurizer.transform(synthetic_crops.cells[..., :2])


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(input_size=30), "multiple of 4"),
        (dict(epochs=-1), "epochs must be an integer >= 0"),
        (dict(pooling="sum"), "pooling must be one of"),
        (dict(learning_rate=0), "learning_rate must be a positive"),
        (dict(protein_channels=(1,)), "both protein and marker"),
    ],
)
def test_bad_parameters_are_rejected_in_fit(params, message, synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(**{**FAST, **params})
    with pytest.raises(ValueError, match=message):
        featurizer.fit(synthetic_crops.bags)


def test_epochs_zero_builds_an_untrained_network(synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(epochs=0, random_state=0, **FAST).fit(synthetic_crops.bags)
    reference = build_inpainting_model(1, 2, 16)
    assert featurizer.model_.count_params() == reference.count_params()
    assert featurizer.history_ == {"loss": []}


def test_inpaint_predicts_target_protein_and_trained_model_does_better(fitted_featurizer, synthetic_crops):
    cells = synthetic_crops.cells[synthetic_crops.groups == 0]
    predicted = fitted_featurizer.inpaint(cells[:-1], cells[1:])
    assert predicted.shape == (len(cells) - 1, 16, 16, 1)
    with pytest.raises(ValueError, match="pair up"):
        fitted_featurizer.inpaint(cells[:3], cells[:2])


def test_score_is_negative_mse_and_repeatable(fitted_featurizer, synthetic_crops):
    first = fitted_featurizer.score(synthetic_crops.bags)
    assert first < 0
    assert fitted_featurizer.score(synthetic_crops.bags) == first


def test_weights_file_starts_a_fit_from_those_weights(fitted_featurizer, synthetic_crops, tmp_path):
    path = tmp_path / "model.weights.h5"
    fitted_featurizer.model_.save_weights(path)
    loaded = PairedInpaintingFeaturizer(epochs=0, weights=str(path), **FAST).fit(synthetic_crops.bags[:2])
    np.testing.assert_array_equal(loaded.transform(synthetic_crops.cells[:8]),
                                  fitted_featurizer.transform(synthetic_crops.cells[:8]))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="Could not load weights"):
        PairedInpaintingFeaturizer(epochs=0, weights=str(path), **FAST).fit(synthetic_crops.bags[:2])


def test_single_cell_bags_are_skipped_with_a_warning(synthetic_crops):
    bags = [synthetic_crops.bags[0], synthetic_crops.bags[1][:1]]
    with pytest.warns(UserWarning, match="1 of 2 groups hold a single cell"):
        PairedInpaintingFeaturizer(epochs=1, **FAST).fit(bags)
    with pytest.raises(ValueError, match="No cell can be paired"):
        PairedInpaintingFeaturizer(epochs=1, **FAST).fit([bags[1], bags[1]])


def test_min_group_size_leaves_out_small_images_and_reports_them(synthetic_crops):
    bags = [synthetic_crops.bags[0], synthetic_crops.bags[1][:3], synthetic_crops.bags[2][:4]]
    assert len(bags[0]) >= 5
    with pytest.warns(UserWarning, match=r"2 of 3 groups hold fewer than min_group_size=5 cells \(7 cells\)"):
        featurizer = PairedInpaintingFeaturizer(epochs=1, min_group_size=5, **FAST).fit(bags)
    assert (featurizer.n_groups_left_out_, featurizer.n_cells_left_out_) == (2, 7)
    assert featurizer.n_cells_fit_ == len(bags[0]) + 7
    default = PairedInpaintingFeaturizer(epochs=1, **FAST).fit(bags)
    assert (default.n_groups_left_out_, default.n_cells_left_out_) == (0, 0)
    with pytest.raises(ValueError, match="min_group_size"):
        PairedInpaintingFeaturizer(epochs=1, min_group_size=1, **FAST).fit(bags)


def test_mixed_crop_sizes_in_one_bag_are_rejected(synthetic_crops):
    bag = [synthetic_crops.cells[0], synthetic_crops.cells[1][:20, :20]]
    with pytest.raises(ValueError, match="bag 0: crops of different shapes"):
        PairedInpaintingFeaturizer(epochs=1, **FAST).fit([bag])


def test_grid_search_over_layers_with_memory_trains_once_per_split(synthetic_crops, tmp_path):
    from sklearn.model_selection import GridSearchCV

    pipeline = Pipeline([
        ("featurizer", PairedInpaintingFeaturizer(epochs=1, random_state=0, memory=str(tmp_path), **FAST)),
        ("knn", KNeighborsClassifier(n_neighbors=1)),
    ])
    search = GridSearchCV(pipeline, {"featurizer__layer": ["conv1_1", "conv2_1", "conv3_1"]},
                          cv=StratifiedKFold(2))
    search.fit(synthetic_crops.bags, synthetic_crops.labels)
    cached = [p for p in tmp_path.rglob("output.pkl")]
    # 2 folds + the refit on all data: 3 trainings instead of 3 layers x 2 folds + 1 = 7.
    assert len(cached) == 3
    best = search.best_estimator_.named_steps["featurizer"]
    assert len(best.history_["loss"]) == 1


def test_channel_index_out_of_range_names_the_valid_indices(synthetic_crops):
    featurizer = PairedInpaintingFeaturizer(protein_channels=(0,), marker_channels=(1, 3), input_size=16, epochs=0)
    with pytest.raises(ValueError, match="names channel 3, but the crops have 3 channels .valid indices: 0..2"):
        featurizer.fit(synthetic_crops.bags)


def test_negative_and_constant_crops_give_finite_features(fitted_featurizer, synthetic_crops):
    cells = synthetic_crops.cells[:4].copy()
    cells[0] -= 5.0  # negative intensities (e.g. after background subtraction)
    cells[1] = 0.25  # a constant crop
    features = fitted_featurizer.transform(cells)
    assert np.isfinite(features).all()
    # A shift changes nothing after min-max scaling.
    assert_same_features(features[0], fitted_featurizer.transform(synthetic_crops.cells[:1])[0], rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # about 95 s on the 2-core machine: bfloat16 arithmetic is emulated on this CPU
def test_bfloat16_training_tracks_float32_and_leaves_a_float32_model(synthetic_crops):
    params = dict(epochs=2, random_state=0, **FAST)
    mixed = PairedInpaintingFeaturizer(precision="bfloat16", **params).fit(synthetic_crops.bags)
    full = PairedInpaintingFeaturizer(**params).fit(synthetic_crops.bags)
    assert all(w.dtype == np.float32 for w in mixed.model_.get_weights())
    assert mixed.model_.get_layer("conv3_1").compute_dtype == "float32"
    np.testing.assert_allclose(mixed.history_["loss"], full.history_["loss"], rtol=0.1)
    assert mixed.history_["loss"] != full.history_["loss"]  # bfloat16 arithmetic did run
    with pytest.raises(ValueError, match="precision must be one of"):
        PairedInpaintingFeaturizer(precision="float16", **params).fit(synthetic_crops.bags)


def test_memory_takes_a_pathlib_folder(synthetic_crops, tmp_path):
    params = dict(epochs=1, random_state=0, **FAST)
    first = PairedInpaintingFeaturizer(memory=tmp_path, **params).fit(synthetic_crops.bags)
    again = PairedInpaintingFeaturizer(memory=tmp_path, **params).fit(synthetic_crops.bags)
    assert len(list(tmp_path.rglob("output.pkl"))) == 1
    assert again.history_ == first.history_


def test_changing_input_size_after_fit_does_not_change_what_transform_feeds_the_network(fitted_featurizer,
                                                                                      synthetic_crops):
    expected = fitted_featurizer.transform(synthetic_crops.cells[:3])
    fitted_featurizer.set_params(input_size=32)
    try:
        np.testing.assert_array_equal(fitted_featurizer.transform(synthetic_crops.cells[:3]), expected)
    finally:
        fitted_featurizer.set_params(input_size=16)
