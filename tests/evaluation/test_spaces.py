import numpy as np
import pytest

from skpci.evaluation import FEATURE_SPACES, feature_space, knn_scores, map_scores


def _directions_with_brightness(rng, n_per_class=40, n_features=12):
    """Labels set the direction of a row; a per-row brightness factor spans two orders of magnitude."""
    centres = 1 + 0.3 * rng.random((3, n_features))  # close directions: brightness dominates distances
    labels = np.repeat(np.arange(3), n_per_class)
    brightness = 10 ** rng.uniform(-1, 1, len(labels))
    features = (centres[labels] + 0.03 * rng.standard_normal((len(labels), n_features))) * brightness[:, None]
    fields = np.tile(np.arange(8), len(labels) // 8)
    return features, labels, fields


def test_cosine_space_ignores_the_length_of_a_row_and_standardizing_does_not(rng):
    features, labels, fields = _directions_with_brightness(rng)
    standardized = knn_scores(features, labels, fields)["accuracy"]
    cosine = knn_scores(features, labels, fields, space="cosine")["accuracy"]
    assert cosine > 0.9
    assert cosine > standardized + 0.2


def test_whitened_space_keeps_the_components_that_hold_the_variance(rng):
    features = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 30))  # rank 6 in 30 columns
    whitened = feature_space("whitened").fit_transform(features)
    assert whitened.shape[1] <= 6
    np.testing.assert_allclose(np.cov(whitened, rowvar=False), np.eye(whitened.shape[1]), atol=0.05)


def test_retrieval_scores_in_the_chosen_space(rng):
    features, labels, fields = _directions_with_brightness(rng)
    scores = {space: map_scores(features, labels, fields, space=space, null_size=10)["map"]
              for space in (*FEATURE_SPACES, None)}
    # copairs' cosine on the rows as they are ignores their length; centring them first brings it back.
    assert scores[None] > 0.9
    assert scores["standardized"] < scores[None] - 0.2


def test_an_unknown_space_names_the_choices():
    with pytest.raises(ValueError, match="'standardized', 'cosine', 'whitened'.*'euclid'"):
        feature_space("euclid")
