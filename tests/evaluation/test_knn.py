"""kNN localization scores: folds by group, pooled predictions, one row per layer."""

import numpy as np
import pytest
from sklearn.model_selection import LeaveOneGroupOut

from skpci.evaluation import knn_scores, layer_benchmark


def test_knn_scores_separate_informative_from_random_features(rng):
    labels = np.repeat(["a", "b", "c"], 40)
    groups = np.tile(np.arange(10), 12)
    informative = rng.normal(size=(120, 4)) + (labels[:, None] == ["a", "b", "c", "a"]) * 4
    noise = rng.normal(size=(120, 4))
    good = knn_scores(informative, labels, groups)
    bad = knn_scores(noise, labels, groups)
    assert good["accuracy"] > 0.9 and good["n_folds"] == 5
    assert bad["accuracy"] < 0.6
    assert 0 <= good["accuracy_std"] < 0.2


def test_single_class_folds_are_pooled_not_averaged(rng):
    # Each group holds one class, as a yeast field holds one strain.
    labels = np.repeat(["a", "b"], 30)
    groups = np.repeat(np.arange(6), 10)
    features = (labels == "a")[:, None] * 3.0 + rng.normal(size=(60, 2))
    scores = knn_scores(features, labels, groups, cv=LeaveOneGroupOut())
    assert scores["n_folds"] == 6
    assert scores["balanced_accuracy"] > 0.9
    assert np.isnan(scores["balanced_accuracy_std"])


def test_layer_benchmark_has_a_row_per_layer_and_restores_the_layer(fitted_featurizer, synthetic_crops):
    table = layer_benchmark(fitted_featurizer, synthetic_crops.cells, synthetic_crops.cell_labels,
                            synthetic_crops.groups, layers=("conv1_1", "conv3_1"))
    assert list(table["layer"]) == ["conv1_1", "conv3_1"]
    assert (table["accuracy"] > 1 / 7).all()
    assert fitted_featurizer.layer == "conv3_1"


def test_training_shortfalls_name_the_layers_training_did_not_help():
    import pandas as pd

    from skpci.evaluation import describe_shortfalls, training_shortfalls

    table = pd.DataFrame({"features": ["trained"] * 3 + ["untrained"] * 3 + ["brightness"],
                          "layer": ["conv2_1", "conv3_1", "conv4_1"] * 2 + ["-"],
                          "accuracy": [0.70, 0.497, 0.307, 0.60, 0.540, 0.307, 0.9]})
    shortfalls = training_shortfalls(table, "trained", "untrained")
    assert list(shortfalls["layer"]) == ["conv3_1", "conv4_1"]  # a tie counts: nothing was gained
    message = describe_shortfalls(shortfalls)
    assert "conv3_1, conv4_1" in message and "0.497 vs 0.540" in message and "train longer" in message
    assert describe_shortfalls(training_shortfalls(table.iloc[[0, 3]], "trained", "untrained")) is None


def test_small_benchmarks_fold_as_their_classes_allow_or_say_why_not(rng):
    # Six images, three per class, each its own group: five folds cannot be stratified.
    labels = np.array(["a", "b"] * 3)
    features = (labels == "a")[:, None] * 5.0 + rng.normal(size=(6, 3))
    scores = knn_scores(features, labels, np.arange(6), n_neighbors=1)
    assert scores["n_folds"] == 3 and scores["accuracy"] == 1.0
    with pytest.raises(ValueError, match="fewer than n_neighbors=5: lower n_neighbors"):
        knn_scores(features, labels, np.arange(6))
    with pytest.raises(ValueError, match="Every class has a single sample"):
        knn_scores(features[:2], labels[:2], [0, 1], n_neighbors=1)


def test_one_layer_may_be_named_by_a_string(fitted_featurizer, synthetic_crops):
    table = layer_benchmark(fitted_featurizer, synthetic_crops.cells, synthetic_crops.cell_labels,
                            synthetic_crops.groups, layers="conv1_1")
    assert list(table["layer"]) == ["conv1_1"]
