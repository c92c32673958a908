"""Channels are matched by name wherever both sides have names, by an explicit map, or by position."""

import numpy as np
import pytest

from skpci import CropStore, PairedInpaintingFeaturizer
from skpci.channels import check_channel_names, check_channel_roles, match_channels

MODEL = dict(model_names=("gfp", "rfp"), n_model=2)


@pytest.mark.parametrize(
    "protein, marker, message",
    [
        ((0,), (0, 1), "both protein and marker"),
        ((0,), (5,), "names channel 5, but the crops have 2 channels"),
        ((), (1,), "at least one channel"),
        ((0,), (1, 1), "twice"),
        ((0.5,), (1,), "channel indices"),
        (("gfp",), (1,), "channels have no names"),
    ],
)
def test_bad_channel_roles_get_a_clear_error(protein, marker, message):
    with pytest.raises(ValueError, match=message):
        check_channel_roles(protein, marker, n_channels=2)


def test_roles_take_single_ints_and_names():
    assert check_channel_roles(2, [0, 1], n_channels=3) == ((2,), (0, 1))
    assert check_channel_roles("F", ("D", "R"), 3, names=("D", "F", "R")) == ((1,), (0, 2))
    with pytest.raises(ValueError, match=r"'G', which is not among \['D', 'F', 'R'\]"):
        check_channel_roles("G", "D", 3, names=("D", "F", "R"))


@pytest.mark.parametrize(
    "names, message",
    [
        ("gfp", "a list of names"),
        (["gfp", "gfp"], "repeats"),
        (["gfp", ""], "non-empty strings"),
        (["gfp", 3], "non-empty strings"),
        (["a"], "1 names"),
    ],
)
def test_bad_channel_names_are_refused(names, message):
    with pytest.raises(ValueError, match=message):
        check_channel_names(names, 2)


def test_names_match_in_any_order_and_position_needs_equal_counts():
    assert match_channels((0, 1), **MODEL, data_names=("rfp", "gfp"), n_data=2) == (1, 0)
    assert match_channels((1,), **MODEL, data_names=("x", "rfp", "gfp"), n_data=3) == (1,)
    assert match_channels((0, 1), **MODEL, data_names=None, n_data=2) == (0, 1)
    assert match_channels((0, 1), model_names=None, n_model=2, data_names=("a", "b"), n_data=2) == (0, 1)
    with pytest.raises(ValueError, match=r"expected 2 channels .* got 3 .*unnamed"):
        match_channels((0, 1), **MODEL, data_names=None, n_data=3)


def test_a_missing_name_lists_both_sides_and_the_way_out():
    with pytest.raises(ValueError, match=r"no channel 'gfp'.*\['gfp', 'rfp'\].*\['D', 'F', 'R'\].*channel_map"):
        match_channels((0, 1), **MODEL, data_names=("D", "F", "R"), n_data=3)


def test_channel_map_by_name_or_index_and_one_marker_for_two_inputs():
    assert match_channels((0, 1), **MODEL, data_names=("D", "F", "R"), n_data=3,
                          channel_map={"gfp": "F", "rfp": "R"}) == (1, 2)
    assert match_channels((0, 1, 2), model_names=None, n_model=3, data_names=None, n_data=2,
                          channel_map={0: 1, 1: 0, 2: 0}) == (1, 0, 0)
    for channel_map, message in [({"cfp": "F"}, "'cfp', which is not a model channel"),
                                 ({"gfp": "G"}, r"maps to 'G', but X's channels are \['D', 'F', 'R'\]"),
                                 ({5: "F"}, "model channel 5"), ({"gfp": 7}, "maps to channel 7"),
                                 ({"gfp": 1.5}, "neither"), (["gfp"], "must be a dict")]:
        with pytest.raises(ValueError, match=message):
            match_channels((0, 1), **MODEL, data_names=("D", "F", "R"), n_data=3, channel_map=channel_map)


# ------------------------------------------------------------ featurizer

def _reordered(stores_root, bags, order, names):
    return CropStore.from_bags(stores_root / "-".join(names), [bag[..., list(order)] for bag in bags],
                               channel_names=list(names))


@pytest.fixture(scope="module")
def stores(tmp_path_factory, synthetic_crops):
    """The same crops under the bundled model's names, in its order and reversed, and under other names."""
    root, bags = tmp_path_factory.mktemp("stores"), synthetic_crops.bags[:4]
    return {
        "model order": _reordered(root, bags, (0, 1, 2), ("protein", "nucleus", "cytosol")),
        "reversed": _reordered(root, bags, (2, 1, 0), ("cytosol", "nucleus", "protein")),
        "other names": _reordered(root, bags, (1, 0, 2), ("D", "F", "R")),
    }


@pytest.fixture(scope="module")
def bundled(stores):
    return PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(stores["model order"])


def test_stores_in_any_channel_order_give_the_same_features(bundled, stores):
    expected = bundled.transform(stores["model order"])
    np.testing.assert_allclose(bundled.transform(stores["reversed"]), expected, rtol=1e-5, atol=1e-6)
    refit = PairedInpaintingFeaturizer.from_pretrained("synthetic-32").fit(stores["reversed"])
    np.testing.assert_allclose(refit.transform(stores["reversed"]), expected, rtol=1e-5, atol=1e-6)
    assert refit.channel_names_ == ("protein", "nucleus", "cytosol")


def test_a_store_with_other_names_is_refused_until_mapped(bundled, stores):
    with pytest.raises(ValueError, match=r"no channel 'protein'.*\['D', 'F', 'R'\]"):
        bundled.transform(stores["other names"])
    mapped = clone_with(bundled, channel_map={"protein": "F", "nucleus": "D", "cytosol": "R"})
    np.testing.assert_allclose(mapped.transform(stores["other names"]), bundled.transform(stores["model order"]),
                               rtol=1e-5, atol=1e-6)


def test_one_data_channel_may_feed_two_model_inputs(bundled, stores):
    shared = clone_with(bundled, channel_map={"cytosol": "nucleus"})
    features = shared.transform(stores["model order"])
    assert np.isfinite(features).all()
    assert not np.allclose(features, bundled.transform(stores["model order"]))


def test_a_channel_never_feeds_both_the_protein_and_a_marker(bundled, stores):
    # The network would predict the marker from itself: a trivial pretext task.
    with pytest.raises(ValueError, match=r"channel\(s\) \['nucleus'\] would feed both a protein and a marker"):
        clone_with(bundled, channel_map={"protein": "nucleus"}).transform(stores["model order"])
    with pytest.raises(ValueError, match=r"\[1\] would feed both a protein and a marker"):
        PairedInpaintingFeaturizer(marker_channels=(1, 2), input_size=16, epochs=0,
                                   channel_map={0: 1}).fit(np.zeros((4, 16, 16, 3)), groups=[0, 0, 1, 1])


def test_arrays_named_with_channel_names_match_by_name(bundled, synthetic_crops):
    cells = synthetic_crops.cells[:20]
    named = clone_with(bundled, channel_names=["cytosol", "protein", "nucleus"])
    np.testing.assert_allclose(named.transform(cells[..., [2, 0, 1]]), bundled.transform(cells),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="3 names"):
        clone_with(bundled, channel_names=["a", "b", "c"]).fit(cells[..., :2])


def test_roles_by_name_train_on_a_store(stores):
    featurizer = PairedInpaintingFeaturizer(protein_channels="F", marker_channels=("D", "R"), input_size=16,
                                            epochs=1, batch_size=16, random_state=0).fit(stores["other names"])
    assert (featurizer.protein_channels_, featurizer.marker_channels_) == ((1,), (0, 2))
    assert featurizer.channel_names_ == ("D", "F", "R")


def clone_with(fitted, **params):
    """A fitted featurizer's copy with other transform parameters."""
    import copy

    twin = copy.copy(fitted)
    twin.__dict__["_extractors"] = {}
    return twin.set_params(**params)
