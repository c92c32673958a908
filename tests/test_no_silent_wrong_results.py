"""Inputs that once gave a wrong answer with exit code 0 now give the right one, or a clear error.

One test per case; channel matching itself is tested in test_channels.py and
tests/cli/test_channels_cli.py.
"""

import numpy as np
import pytest

from skpci import CellSegmenter, CropStore, PairedInpaintingFeaturizer
from skpci.evaluation import knn_scores
from skpci.featurizer.training import encode_groups

from .conftest import FAST


def _nan_bags(synthetic_crops):
    bags = [bag.astype(np.float32) for bag in synthetic_crops.bags[:3]]
    bags[1][2, 5, 5, 0] = np.nan
    return bags


def test_nan_crops_never_enter_a_store(tmp_path, synthetic_crops):
    bags = _nan_bags(synthetic_crops)
    with pytest.raises(ValueError, match="bag 1: contains NaN"):
        CropStore.from_bags(tmp_path / "new", bags)
    with pytest.raises(ValueError, match="bag 1: contains NaN"):
        CropStore.from_bags(tmp_path / "new.h5", bags)
    assert not (tmp_path / "new.h5").exists()
    store = CropStore.from_bags(tmp_path / "store", bags[:1])
    with pytest.raises(ValueError, match="bag 0: contains NaN"):
        store.append(bags[1:], names=["b", "c"])
    assert len(store.refresh()) == len(bags[0])


def test_nan_written_into_a_store_by_another_tool_stops_fit_and_transform(tmp_path, synthetic_crops):
    import h5py

    store = CropStore.from_bags(tmp_path / "store", [bag.astype(np.float32) for bag in synthetic_crops.bags[:3]])
    store.close()
    shard = next(store.path.glob("*.h5"))
    with h5py.File(shard, "a") as file:
        file["crops"][7, 3, 3, 1] = np.nan
    store = CropStore(store.path)
    featurizer = PairedInpaintingFeaturizer(epochs=1, **FAST)
    with pytest.raises(ValueError, match=r"cells 0\.\.\d+: contains NaN"):
        featurizer.fit(store)
    with pytest.raises(ValueError, match="contains NaN"):
        featurizer.set_params(epochs=0).fit(store).transform(store)


@pytest.mark.parametrize("bad, message", [
    (lambda bag: bag.astype(np.complex64), "complex"),
    (lambda bag: bag.astype("m8[s]"), "real numeric"),
    (lambda bag: np.moveaxis(bag, -1, 1)[:, :, :8].repeat(3, axis=1), "channels-first"),
    (lambda bag: bag[:, :4, :4], "too small"),
])
def test_store_writes_check_what_fit_checks(tmp_path, synthetic_crops, bad, message):
    with pytest.raises(ValueError, match=message):
        CropStore.from_bags(tmp_path / "store", [bad(synthetic_crops.bags[0])])


def test_a_checkpoint_of_more_epochs_is_refused_and_fewer_continue(tmp_path, synthetic_crops):
    bags = synthetic_crops.bags[:4]
    params = dict(FAST, random_state=0, checkpoint_dir=tmp_path / "checkpoints")
    PairedInpaintingFeaturizer(epochs=2, **params).fit(bags)
    with pytest.raises(ValueError, match="holds 2 completed epochs of this run, more than the 1 requested"):
        PairedInpaintingFeaturizer(epochs=1, **params).fit(bags)
    continued = PairedInpaintingFeaturizer(epochs=3, **params).fit(bags)
    assert continued.resumed_from_epoch_ == 2 and len(continued.history_["loss"]) == 3
    straight = PairedInpaintingFeaturizer(epochs=3, **FAST, random_state=0).fit(bags)
    np.testing.assert_allclose(continued.history_["loss"], straight.history_["loss"], rtol=1e-5)
    for mine, theirs in zip(continued.model_.get_weights(), straight.model_.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)


def test_missing_group_ids_are_an_error_that_names_the_cells():
    with pytest.raises(ValueError, match=r"2 cell\(s\) have no group id .* cells \[1, 3\]"):
        encode_groups(np.array(["a", np.nan, "a", np.nan], dtype=object), 4)
    with pytest.raises(ValueError, match=r"cells \[2\]"):
        encode_groups(["a", "b", None], 3)
    with pytest.raises(ValueError, match="no group id"):
        encode_groups([1.0, float("nan")], 2)


def test_group_ids_of_mixed_types_are_encoded_not_compared():
    codes = encode_groups(np.array(["a", 1, "a", (2, 3), 1], dtype=object), 5)
    assert codes[0] == codes[2] and codes[1] == codes[4]
    assert len(set(codes)) == 3


def test_channels_first_crops_and_fields_are_refused(synthetic_crops):
    cells = synthetic_crops.cells[:4]
    channels_first = np.moveaxis(np.concatenate([cells] * 3, axis=-1), -1, 1)[:, :8]  # (4, 8, 32, 32)
    with pytest.raises(ValueError, match=r"32 channels in 8x32 px crops .* channels-first"):
        PairedInpaintingFeaturizer(**FAST, epochs=0).fit(channels_first)
    field = np.zeros((3, 256, 256), dtype=np.uint16)
    with pytest.raises(ValueError, match=r"shape \(3, 256, 256\).*channels-first"):
        CellSegmenter(border="pad").segment(field)
    with pytest.raises(ValueError, match="channels-first"):
        CellSegmenter(border="pad").transform([field])


@pytest.mark.parametrize("field, message", [
    (np.zeros((64, 64, 2), dtype=np.complex64), "complex"),
    (np.zeros((64, 64, 2), dtype="m8[s]"), "real numeric"),
    (np.zeros((64, 64, 2), dtype="U3"), "real numeric"),
])
def test_fields_that_are_not_real_valued_are_refused(field, message):
    with pytest.raises(ValueError, match=message):
        CellSegmenter(scale=1).segment(field)


@pytest.mark.parametrize("records, message", [
    ({"labels": ["a", float("nan")]}, r"labels has no value .* fields \[1\]"),
    ({"labels": [None, "b"]}, r"labels has no value .* fields \[0\]"),
    ({"groups": ["g", None]}, "groups has no value"),
    ({"names": ["only one"]}, "names must hold one entry per field: 1 for 2 fields"),
    ({"names": "ab"}, "names must be a sequence"),
])
def test_to_store_refuses_missing_records_before_segmenting(tmp_path, field_files, records, message):
    paths, _ = field_files
    with pytest.raises(ValueError, match=message):
        CellSegmenter(scale=1, crop_size=32).to_store(paths[:2], tmp_path / "store", **records)
    assert not any(tmp_path.glob("store/*.h5"))


def test_save_pretrained_checks_channel_names_and_round_trips_exactly(tmp_path, fitted_featurizer, synthetic_crops):
    with pytest.raises(ValueError, match="1 names"):
        fitted_featurizer.save_pretrained(tmp_path / "bad", channel_names=["a"])
    assert not (tmp_path / "bad").exists()
    path = fitted_featurizer.save_pretrained(tmp_path / "model")
    loaded = PairedInpaintingFeaturizer.from_pretrained(path, **FAST).fit(synthetic_crops.bags)
    np.testing.assert_array_equal(loaded.transform(synthetic_crops.bags),
                                  fitted_featurizer.transform(synthetic_crops.bags))
    half = fitted_featurizer.save_pretrained(tmp_path / "half", dtype="float16")
    assert (half / "model.weights.h5").stat().st_size < (path / "model.weights.h5").stat().st_size * 0.6


def test_benchmarks_without_meaning_are_refused(rng):
    features = rng.random((40, 3))
    images = np.repeat(np.arange(8), 5)
    with pytest.raises(ValueError, match="at least two classes"):
        knn_scores(features, np.zeros(40), images)
    with pytest.raises(ValueError, match="8 of 8 classes .* training part has no sample of them"):
        knn_scores(features, images, images)  # every image its own class, folds by image
    scores = knn_scores(features, images % 2, images)
    assert 0 <= scores["accuracy"] <= 1
