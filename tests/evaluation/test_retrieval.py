"""mAP of same-label retrieval across fields, computed by the real copairs."""

import numpy as np
import pytest

from skpci.evaluation import map_scores

pytest.importorskip("copairs")


def _cells(rng, spread, field_effect=0.0):
    """3 labels x 4 fields x 10 cells; each field shows one label, as a yeast field shows one strain."""
    labels = np.repeat(["ER", "mito", "nucleus"], 40)
    fields = np.repeat(np.arange(12), 10)
    centers = {label: rng.normal(size=16) for label in np.unique(labels)}
    offsets = rng.normal(size=(12, 16)) * field_effect
    features = np.stack([centers[label] for label in labels]) + offsets[fields] + spread * rng.normal(size=(120, 16))
    return features, labels, fields


def test_separated_labels_score_near_one_and_noise_near_chance(rng):
    features, labels, fields = _cells(rng, spread=0.2)
    good = map_scores(features, labels, fields, null_size=200)
    assert good["map"] > 0.95 and good["fraction_significant"] == 1.0
    assert list(good["per_label"]["label"]) == ["ER", "mito", "nucleus"]
    noise = map_scores(rng.normal(size=features.shape), labels, fields, null_size=200)
    assert 0.2 < noise["map"] < 0.5 and noise["fraction_significant"] < 1.0


def test_a_field_s_own_look_does_not_count_as_retrieval(rng):
    features, labels, fields = _cells(rng, spread=0.2, field_effect=3.0)  # fields differ more than labels
    by_field = map_scores(features, labels, fields, null_size=200)["map"]
    clean = map_scores(*_cells(np.random.default_rng(0), spread=0.2), null_size=200)["map"]
    assert by_field < clean - 0.2


def test_labels_seen_in_one_field_only_cannot_be_scored(rng):
    with pytest.raises(ValueError, match="at least two fields"):
        map_scores(rng.normal(size=(20, 4)), np.repeat(["a", "b"], 10), np.repeat([0, 1], 10), null_size=10)
