"""An adversarial battery: bad inputs to the Python API and the ``skpci`` command line.

Every case feeds one bad input and asserts the acceptable outcome: a clear error whose message
names the problem (on the command line: exit code 1 and one ``skpci: error:`` line), or a correct
result where the input is in fact legitimate. The 33 cases this battery first found misbehaving
(internal errors, silent results, a CLI that replaced its input store) now pass like the rest.
"""

import re
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import tifffile
from sklearn.exceptions import NotFittedError

from skpci import CellSegmenter, CropStore, PairedInpaintingFeaturizer
from skpci.cli import main
from skpci.datasets import make_cell_crops, make_cell_images
from skpci.evaluation import knn_scores
from skpci.pretrained import PretrainedModelError

FAST = {"marker_channels": (1, 2), "input_size": 16, "batch_size": 16, "random_state": 0, "epochs": 0}
NAMES = ["protein", "nucleus", "cytosol"]
ERRORS = (ValueError, TypeError)


def case(case_id, *values):
    return pytest.param(*values, id=case_id)


def featurizer(**params):
    return PairedInpaintingFeaturizer(**{**FAST, **params})


def segmenter(**params):
    return CellSegmenter(**{"nuclear_channel": 1, "scale": 1, "crop_size": 32, **params})


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """Synthetic crops, stores, fitted featurizers and model directories, shared by the module."""
    root = tmp_path_factory.mktemp("battery")
    data = make_cell_crops(n_images=4, image_size=96, cell_radius=8, crop_size=32, random_state=0)
    bags = list(data.bags)
    labels = ["nucleus", "cytoplasm", "nucleus", "cytoplasm"]
    crops = root / "crops"
    for index, (bag, label) in enumerate(zip(bags, labels)):
        (crops / label).mkdir(parents=True, exist_ok=True)
        for cell, crop in enumerate(bag):
            for channel, name in enumerate(NAMES):
                tifffile.imwrite(crops / label / f"img{index}_{cell}_{name}.tif", crop[..., channel])
    fields = root / "fields"
    fields.mkdir()
    images = make_cell_images(n_images=2, image_size=96, cell_radius=8, random_state=0).images
    for index, image in enumerate(images):
        for channel, name in enumerate(NAMES):
            tifffile.imwrite(fields / f"f{index}_{name}.tif", (image[..., channel] * 30000).astype(np.uint16))
    named = featurizer(channel_names=NAMES).fit(bags)
    unnamed = featurizer().fit(bags)
    return SimpleNamespace(
        bags=bags, cells=data.cells, groups=data.groups, field=images[0], crops=crops, fields=fields,
        fitted=unnamed, named=named,
        store=CropStore.from_bags(root / "db", bags, channel_names=NAMES, labels=labels),
        store_abc=CropStore.from_bags(root / "db_abc", bags, channel_names=["a", "b", "c"]),
        empty_store=CropStore.create(root / "db_empty", channel_names=NAMES),
        model=named.save_pretrained(root / "model"),
        unnamed_model=unnamed.save_pretrained(root / "umodel"),
    )


def _with_nan(cells, value=np.nan):
    cells = cells.copy()
    cells[1, 2, 3, 0] = value
    return cells


def _with_value(values, index, value):
    values = values.astype(object)
    values[index] = value
    return values


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------ PairedInpaintingFeaturizer.fit

def _cells(c):
    return c.cells


def fit_case(case_id, params, match, x=_cells, groups=None):
    return case(case_id, params, x, groups, match)


FIT_CASES = [
    fit_case("protein-name-twice",
             {"protein_channels": ("a", "a"), "marker_channels": "b", "channel_names": ["a", "b", "c"]},
             "lists a channel twice"),
    fit_case("protein-also-marker", {"protein_channels": 1}, r"Channels \[1\] are listed as both protein"),
    fit_case("no-marker-channels", {"marker_channels": ()}, "at least one channel"),
    fit_case("role-by-name-unnamed-arrays", {"protein_channels": "protein", "marker_channels": "nucleus"},
             "the channels have no names"),
    fit_case("role-unknown-name",
             {"protein_channels": "gfp", "marker_channels": "nucleus", "channel_names": NAMES},
             "'gfp', which is not among"),
    fit_case("role-negative-index", {"protein_channels": -1}, r"valid indices: 0\.\.2"),
    fit_case("role-huge-index", {"protein_channels": 10**20}, r"channel 10{20}.*0\.\.2"),
    fit_case("role-bool", {"protein_channels": True}, "protein_channels must be .*got True"),
    fit_case("role-float", {"protein_channels": 0.0}, "protein_channels must be .*got 0.0"),
    fit_case("channel-names-repeated", {"channel_names": ["a", "a", "b"]}, r"repeats \['a'\]"),
    fit_case("channel-names-too-few", {"channel_names": ["a", "b"]}, "2 names .* for 3 channels"),
    fit_case("channel-names-a-string", {"channel_names": "abc"}, "channel_names must be a list"),
    fit_case("channel-names-blank", {"channel_names": ["a", "", "b"]}, "non-empty strings"),
    fit_case("channel-names-ints", {"channel_names": [0, 1, 2]}, "channel_names must be a list"),
    fit_case("channel-names-a-set", {"channel_names": set(NAMES)}, "channel_names must be"),
    fit_case("channel-map-unknown-data-channel", {"channel_names": NAMES, "channel_map": {0: "x"}},
             "channel_map maps to 'x'"),
    fit_case("channel-map-unknown-model-channel", {"channel_names": NAMES, "channel_map": {"gfp": "protein"}},
             "'gfp', which is not a model channel"),
    fit_case("channel-map-a-list", {"channel_map": [(0, 1)]}, "channel_map must be a dict"),
    fit_case("channel-map-index-out-of-range", {"channel_map": {0: 7}}, "maps to channel 7, but X has 3"),
    fit_case("channel-map-name-for-unnamed-data", {"channel_map": {0: "protein"}},
             "maps to 'protein', but X's channels are 3 unnamed"),
    fit_case("channel-map-float", {"channel_map": {0: 1.0}}, "channel_map must be"),
    fit_case("complex-crops", {}, "complex pixel values", x=lambda c: c.cells.astype(np.complex64)),
    fit_case("timedelta-crops", {}, "real numeric pixels .*timedelta", x=lambda c: c.cells.astype("m8[s]")),
    fit_case("string-crops", {}, "real numeric pixels", x=lambda c: c.cells.astype(str)),
    fit_case("object-crops", {}, "object array of shape", x=lambda c: c.cells.astype(object)),
    fit_case("nan-crops", {}, "NaN or infinite", x=lambda c: _with_nan(c.cells)),
    fit_case("inf-crops", {}, "NaN or infinite", x=lambda c: _with_nan(c.cells, np.inf)),
    fit_case("channels-first-crops", {}, "channels-first", x=lambda c: np.moveaxis(c.cells, -1, 1)),
    fit_case("channels-first-many-channels", {}, "looks like channels-first",
             x=lambda c: np.moveaxis(np.tile(c.cells, 3)[..., :8], -1, 1)),
    fit_case("0-d-array", {}, r"got an array of shape \(\)", x=lambda c: np.array(1.0)),
    fit_case("1-d-array", {}, r"got an array of shape \(10,\)", x=lambda c: np.zeros(10)),
    fit_case("one-crop-3-d", {}, r"np\.newaxis", x=lambda c: c.cells[0]),
    fit_case("6-d-array", {}, r"shape \(1, 1, 61, 32, 32, 3\)", x=lambda c: c.cells[None, None]),
    fit_case("no-bags", {}, "holds no images", x=lambda c: []),
    fit_case("empty-list-bags", {}, "Every bag in X is empty", x=lambda c: [[], []]),
    fit_case("empty-array-bags", {}, "empty|no cells", x=lambda c: [c.cells[:0], c.cells[:0]]),
    fit_case("bags-of-two-crop-sizes", {}, "different sizes",
             x=lambda c: [c.bags[0], c.bags[1][:, :24, :24]]),
    fit_case("bags-of-two-channel-counts", {}, r"different numbers of channels: \[2, 3\]",
             x=lambda c: [c.bags[0], c.bags[1][..., :2]]),
    fit_case("crops-of-two-sizes-in-a-bag", {}, "crops of different shapes in one bag",
             x=lambda c: [[c.cells[0], c.cells[1][:24, :24]]]),
    fit_case("none-in-bags", {}, "bag 1: expected real numeric pixels", x=lambda c: [c.bags[0], None]),
    fit_case("a-path-string", {}, "got str", x=lambda c: "cells.npy"),
    fit_case("groups-too-short", {"epochs": 1}, "60 ids for 61 cells", groups=lambda c: c.groups[:-1]),
    fit_case("groups-with-nan", {"epochs": 1}, r"15 cell\(s\) have no group id",
             groups=lambda c: np.where(c.groups == 1, np.nan, c.groups)),
    fit_case("groups-with-none", {"epochs": 1}, r"no group id .* cells \[3\]",
             groups=lambda c: _with_value(c.groups, 3, None)),
    fit_case("groups-2-d", {"epochs": 1}, r"1-D|one-dimensional|2-D|\(61, 1\)",
             groups=lambda c: c.groups[:, None]),
    fit_case("groups-a-string", {"epochs": 1}, "scalar", groups=lambda c: "abc"),
    fit_case("groups-all-singletons", {"epochs": 1}, "No cell can be paired",
             groups=lambda c: np.arange(len(c.cells))),
    fit_case("groups-with-bags", {"epochs": 1}, "groups is for a stack of cells", x=lambda c: c.bags,
             groups=lambda c: [0, 1, 2, 3]),
    fit_case("cells-without-groups", {"epochs": 1}, "needs groups"),
    fit_case("store-with-groups", {}, "groups is not used with a CropStore", x=lambda c: c.store,
             groups=lambda c: np.zeros(len(c.store))),
    fit_case("store-with-other-channel-names", {"channel_names": ["a", "b", "c"]},
             "names its channels .* but channel_names says", x=lambda c: c.store),
    fit_case("store-role-unknown-name", {"protein_channels": "gfp", "marker_channels": "nucleus"},
             "'gfp', which is not among", x=lambda c: c.store),
    fit_case("empty-store", {}, "holds no cells", x=lambda c: c.empty_store),
    fit_case("weights-an-int", {"weights": 123}, "weights must be a path"),
    fit_case("input-size-30", {"input_size": 30}, "input_size must be a multiple of 4"),
    fit_case("epochs-1.5", {"epochs": 1.5}, "epochs must be an integer"),
    fit_case("random-state-generator", {"random_state": np.random.default_rng(0)}, "no numpy Generator"),
    fit_case("devices-gpu", {"epochs": 1, "devices": "gpu"}, "devices must be"),
    fit_case("layer-unknown", {"layer": "conv9_1"}, "layer must be one of"),
]


@pytest.mark.parametrize("params, make_x, make_groups, match", FIT_CASES)
def test_fit_refuses(ctx, params, make_x, make_groups, match):
    groups = None if make_groups is None else make_groups(ctx)
    with pytest.raises(ERRORS, match=match):
        featurizer(**params).fit(make_x(ctx), groups=groups)


# ------------------------------------------------- transform, inpaint, score, write_features, save

METHOD_CASES = [
    case("transform-other-crop-size", lambda c, tmp: c.fitted.transform(c.cells[:, :24, :24]),
         "fitted on 32x32 px crops"),
    case("transform-two-channels", lambda c, tmp: c.fitted.transform(c.cells[..., :2]),
         r"expected 3 channels .* got 2"),
    case("transform-other-channel-names",
         lambda c, tmp: featurizer(channel_names=NAMES).fit(c.bags)
         .set_params(channel_names=["a", "b", "c"]).transform(c.cells),
         "X has no channel 'protein'"),
    case("transform-nan", lambda c, tmp: c.fitted.transform(_with_nan(c.cells)), "NaN or infinite"),
    case("transform-unfitted", lambda c, tmp: featurizer().transform(c.cells), "not fitted"),
    case("transform-layer-twice",
         lambda c, tmp: featurizer(layer=["conv3_1", "conv3_1"]).fit(c.bags).transform(c.cells),
         "layer.*(twice|more than once|repeat|duplicate)"),
    case("transform-pooling-sum", lambda c, tmp: featurizer(pooling="sum").fit(c.bags).transform(c.cells),
         "pooling must be one of"),
    case("score-batch-size-zero", lambda c, tmp: featurizer().fit(c.bags).set_params(batch_size=0).score(c.bags),
         "batch_size must be"),
    case("inpaint-batch-size-zero",
         lambda c, tmp: featurizer().fit(c.bags).set_params(batch_size=0).inpaint(c.cells[:3], c.cells[:3]),
         "batch_size must be"),
    case("inpaint-unequal-counts", lambda c, tmp: c.fitted.inpaint(c.cells[:3], c.cells[:4]),
         "must pair up: got 3 and 4 cells"),
    case("inpaint-target-two-channels", lambda c, tmp: c.fitted.inpaint(c.cells[:3], c.cells[:3, ..., :2]),
         "target_cells: expected 3 channels"),
    case("inpaint-source-nan", lambda c, tmp: c.fitted.inpaint(_with_nan(c.cells[:2]), c.cells[:2]),
         "source_cells: contains NaN"),
    case("score-cells-without-groups", lambda c, tmp: c.fitted.score(c.cells), "needs groups"),
    case("score-singleton-groups", lambda c, tmp: c.fitted.score(c.cells, groups=np.arange(len(c.cells))),
         "No cell can be paired"),
    case("write-features-txt", lambda c, tmp: c.fitted.write_features(c.cells, tmp / "f.txt"),
         r"\.parquet or \.csv \(tables\), \.h5ad \(AnnData\) or \.h5 \(HDF5\); got 'f\.txt'"),
    case("write-features-per-field",
         lambda c, tmp: c.fitted.write_features(c.cells, tmp / "f.csv", per="field"),
         "per must be 'cell' or 'image'"),
    case("write-features-per-image-no-groups",
         lambda c, tmp: c.fitted.write_features(c.cells, tmp / "f.csv", per="image"), "need groups"),
    case("write-features-arrays-no-path", lambda c, tmp: c.fitted.write_features(c.cells), "Give a path"),
    case("write-features-groups-with-nan",
         lambda c, tmp: c.fitted.write_features(c.cells, tmp / "f.csv",
                                                groups=_with_value(c.groups, 0, np.nan)),
         "no group id"),
    case("write-features-store-with-groups",
         lambda c, tmp: c.fitted.write_features(c.store, tmp / "f.csv", groups=np.zeros(len(c.store))),
         "groups is not used with a CropStore"),
    case("save-dtype-int8", lambda c, tmp: c.fitted.save_pretrained(tmp / "m", dtype="int8"),
         "dtype must be 'float32' or 'float16'"),
    case("save-one-channel-name", lambda c, tmp: c.fitted.save_pretrained(tmp / "m", channel_names=["a"]),
         "1 names .* for 3 channels"),
    case("save-channel-names-a-string",
         lambda c, tmp: c.fitted.save_pretrained(tmp / "m", channel_names="abc"), "got the string 'abc'"),
    case("save-unfitted", lambda c, tmp: featurizer().save_pretrained(tmp / "m"), "not fitted"),
]


@pytest.mark.parametrize("call, match", METHOD_CASES)
def test_fitted_methods_refuse(ctx, tmp_path, call, match):
    with pytest.raises((*ERRORS, NotFittedError), match=match):
        call(ctx, tmp_path)
    assert not list(tmp_path.iterdir())


def test_write_features_refuses_to_replace_a_file(ctx, tmp_path):
    (tmp_path / "f.csv").write_text("keep")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        ctx.fitted.write_features(ctx.cells, tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_text() == "keep"


def test_save_pretrained_refuses_to_replace_a_model(ctx, tmp_path):
    ctx.fitted.save_pretrained(tmp_path / "m")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        ctx.fitted.save_pretrained(tmp_path / "m")


def test_write_features_per_image_with_mixed_group_ids(ctx, tmp_path):
    groups = np.array(["a"] * 30 + [1] * (len(ctx.cells) - 30), dtype=object)
    path = ctx.fitted.write_features(ctx.cells, tmp_path / "f.csv", groups=groups, per="image")
    assert len(pd.read_csv(path)) == 2


# ------------------------------------------------------------------------------ pretrained models

PRETRAINED_CASES = [
    case("unknown-name", lambda tmp: "no-such-model", "Unknown pretrained model 'no-such-model'"),
    case("a-text-file", lambda tmp: _write(tmp / "x.txt", "hello"), "not a weights file"),
    case("a-fake-h5", lambda tmp: _write(tmp / "x.h5", "hello"), "Cannot open .* as HDF5"),
    case("an-empty-folder", lambda tmp: tmp, "has no model_card.json"),
    case("card-not-json", lambda tmp: _write(tmp / "m" / "model_card.json", "{bad").parent,
         "Cannot read the model card"),
    case("card-a-json-list", lambda tmp: _write(tmp / "m" / "model_card.json", "[]").parent,
         "model card|model_card"),
]


@pytest.mark.parametrize("make_source, match", PRETRAINED_CASES)
def test_from_pretrained_refuses(tmp_path, make_source, match):
    with pytest.raises(PretrainedModelError, match=match):
        PairedInpaintingFeaturizer.from_pretrained(make_source(tmp_path))


@pytest.mark.parametrize("params, match", [
    case("data-named-otherwise", {"channel_names": ["a", "b", "c"]}, "X has no channel 'protein'"),
    case("roles-of-other-counts", {"marker_channels": (1,)}, r"has 1 protein \+ 2 marker"),
])
def test_pretrained_model_refuses_mismatched_use(ctx, params, match):
    with pytest.raises(ValueError, match=match):
        PairedInpaintingFeaturizer.from_pretrained(ctx.model, **params).fit(ctx.bags)


def test_pretrained_model_at_another_input_size_warns(ctx):
    with pytest.warns(UserWarning, match="trained on 16 px crops; this featurizer resizes to 32 px"):
        fitted = PairedInpaintingFeaturizer.from_pretrained(ctx.model, input_size=32).fit(ctx.bags)
    assert fitted.transform(ctx.bags).shape == (4, 384)


# -------------------------------------------------------------------------------- checkpoint_dir

@pytest.fixture(scope="module")
def checkpoint(ctx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoint") / "run"
    featurizer(epochs=2, checkpoint_dir=folder).fit(ctx.bags)
    return folder


@pytest.mark.parametrize("params, make_x, match", [
    case("fewer-epochs", {"epochs": 1}, lambda c: c.bags, "holds 2 completed epochs .* than the 1 requested"),
    case("other-seed", {"epochs": 2, "random_state": 1}, lambda c: c.bags, "different training run"),
    case("other-data", {"epochs": 2}, lambda c: c.bags[:3], "different training run"),
    case("other-learning-rate", {"epochs": 3, "learning_rate": 1e-3}, lambda c: c.bags,
         "different training run"),
])
def test_reused_checkpoint_is_refused(ctx, checkpoint, params, make_x, match):
    with pytest.raises(ValueError, match=match):
        featurizer(checkpoint_dir=checkpoint, **params).fit(make_x(ctx))


def test_checkpoint_dir_that_is_a_file_is_refused(ctx, tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        featurizer(epochs=1, checkpoint_dir=tmp_path / "run").fit(ctx.bags)


# -------------------------------------------------------------------------------------- CropStore

def _new_store(ctx, tmp):
    CropStore.create(tmp / "new", channel_names=NAMES)


def _append(tmp, bags, **records):
    return CropStore(tmp / "new").append(bags, **records)


STORE_CASES = [
    case("create-repeated-names", None,
         lambda c, tmp: CropStore.create(tmp / "s", channel_names=["a", "a", "b"]),
         ValueError, r"repeats \['a'\]"),
    case("create-names-a-string", None, lambda c, tmp: CropStore.create(tmp / "s", channel_names="abc"),
         ValueError, "got the string 'abc'"),
    case("create-in-a-full-folder", lambda c, tmp: _write(tmp / "s" / "notes.txt", "x"),
         lambda c, tmp: CropStore.create(tmp / "s"), FileExistsError, "exists and is not a crop store"),
    case("create-twice", _new_store, lambda c, tmp: CropStore.create(tmp / "new"), FileExistsError,
         "pass exist_ok=True"),
    case("create-other-channel-order", _new_store,
         lambda c, tmp: CropStore.create(tmp / "new", channel_names=NAMES[::-1], exist_ok=True),
         ValueError, "one store keeps one channel order"),
    case("append-two-channels", _new_store, lambda c, tmp: _append(tmp, [c.bags[0][..., :2]], names=["a"]),
         ValueError, "the store has 3 channels .* the crops have 2"),
    case("append-names-a-string", _new_store, lambda c, tmp: _append(tmp, [c.bags[0]], names="a"),
         ValueError, "names must be a sequence"),
    case("append-names-too-few", _new_store, lambda c, tmp: _append(tmp, c.bags[:2], names=["a"]),
         ValueError, "1 for 2 images"),
    case("append-names-missing", _new_store, lambda c, tmp: _append(tmp, c.bags[:1], names=None),
         ValueError, "names must hold one name per image"),
    case("append-name-repeated", _new_store, lambda c, tmp: _append(tmp, c.bags[:2], names=["a", "a"]),
         ValueError, "must be unique"),
    case("append-name-blank", _new_store, lambda c, tmp: _append(tmp, c.bags[:1], names=[" "]),
         ValueError, "names must not be empty"),
    case("append-label-none", _new_store,
         lambda c, tmp: _append(tmp, c.bags[:2], names=["a", "b"], labels=["x", None]),
         ValueError, r"labels has no value .* images \[1\]"),
    case("append-group-nan", _new_store,
         lambda c, tmp: _append(tmp, c.bags[:2], names=["a", "b"], groups=["x", float("nan")]),
         ValueError, "groups has no value"),
    case("append-two-dtypes", _new_store,
         lambda c, tmp: _append(tmp, [c.bags[0], c.bags[1].astype(float)], names=["a", "b"]),
         ValueError, "share one shape and dtype"),
    case("append-two-crop-sizes", _new_store,
         lambda c, tmp: _append(tmp, [c.bags[0], c.bags[1][:, :24, :24]], names=["a", "b"]),
         ValueError, "share one shape and dtype"),
    case("append-nan", _new_store, lambda c, tmp: _append(tmp, [_with_nan(c.bags[0])], names=["a"]),
         ValueError, "bag 0: contains NaN"),
    case("append-one-crop-as-a-bag", _new_store, lambda c, tmp: _append(tmp, [c.bags[0][0]], names=["a"]),
         ValueError, "np.newaxis"),
    case("append-no-bags", _new_store, lambda c, tmp: _append(tmp, [], names=[]),
         ValueError, "Nothing to append"),
    case("append-centroid-count", _new_store,
         lambda c, tmp: _append(tmp, c.bags[:1], names=["a"], centroids=[np.zeros((3, 2))]),
         ValueError, r"one \(n_cells, 2\) array of \(row, col\) per image"),
    case("append-centroids-3-columns", _new_store,
         lambda c, tmp: _append(tmp, c.bags[:1], names=["a"], centroids=[np.zeros((len(c.bags[0]), 3))]),
         ValueError, "centroid"),
    case("append-metadata-not-json", _new_store,
         lambda c, tmp: _append(tmp, c.bags[:1], names=["a"], metadata=[{"x": {1, 2}}]),
         ValueError, "metadata of image 0 cannot be stored: .*not JSON serializable"),
    case("append-metadata-not-dicts", _new_store,
         lambda c, tmp: _append(tmp, c.bags[:1], names=["a"], metadata=["hello"]), ValueError, "metadata"),
    case("from-bags-h5-exists", lambda c, tmp: _write(tmp / "s.h5", "x"),
         lambda c, tmp: CropStore.from_bags(tmp / "s.h5", c.bags[:1]), FileExistsError, "exists"),
    case("from-bags-h5-nan", None, lambda c, tmp: CropStore.from_bags(tmp / "s.h5", [_with_nan(c.bags[0])]),
         ValueError, "contains NaN"),
    case("from-bags-folder-nan", None,
         lambda c, tmp: CropStore.from_bags(tmp / "s", [_with_nan(c.bags[0])]), ValueError, "contains NaN"),
    case("from-bags-folder-names-too-few", None,
         lambda c, tmp: CropStore.from_bags(tmp / "s", c.bags[:2], names=["a"]), ValueError, "1 for 2 images"),
    case("from-bags-folder-two-channel-names", None,
         lambda c, tmp: CropStore.from_bags(tmp / "s", c.bags[:1], channel_names=["a", "b"]),
         ValueError, "the store has 2 channels"),
]


@pytest.mark.parametrize("setup, call, error, match", STORE_CASES)
def test_store_writes_refuse_and_leave_nothing(ctx, tmp_path, setup, call, error, match):
    if setup is not None:
        setup(ctx, tmp_path)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(error, match=match):
        call(ctx, tmp_path)
    assert sorted(tmp_path.rglob("*")) == before


def _refuse(call, *args, errors=ERRORS, match="start|stop|integer"):
    with pytest.raises(errors, match=match):
        call(*args)


def _read_last(store, *args):
    try:
        crops = store.read(*args)
    except ERRORS as error:
        assert re.search("start|negative", str(error)), str(error)
    else:
        np.testing.assert_array_equal(crops, store.read(len(store) - 1))


STORE_READ_CASES = [
    case("read-negative-start", lambda s: _read_last(s, -1)),
    case("read-string-start", lambda s: _refuse(s.read, "a")),
    case("read-float-bounds", lambda s: _refuse(s.read, 1.5, 3.5)),
    case("read-image-out-of-range",
         lambda s: _refuse(s.read_image, 10**6, errors=(ValueError, IndexError), match=r"store|\d+ images")),
]


@pytest.mark.parametrize("check", STORE_READ_CASES)
def test_store_reads_of_bad_bounds(ctx, check):
    check(ctx.store)


def test_reading_past_the_end_gives_no_cells_as_a_slice_does(ctx):
    assert ctx.store.read(10**12).shape == (0, 32, 32, 3)


OPEN_CASES = [
    case("missing-path", lambda tmp: tmp / "missing", FileNotFoundError, "No crop store at"),
    case("folder-without-manifest", lambda tmp: tmp, ValueError, "has no store.json"),
    case("a-text-file", lambda tmp: _write(tmp / "x.txt", "x"), ValueError,
         "Cannot read the crop store shard"),
    case("manifest-not-json", lambda tmp: _write(tmp / "store.json", "{bad").parent, ValueError, "store.json"),
    case("manifest-a-json-list", lambda tmp: _write(tmp / "store.json", "[1, 2]").parent, ValueError,
         "store.json"),
]


@pytest.mark.parametrize("make_path, error, match", OPEN_CASES)
def test_opening_a_bad_store_is_refused(tmp_path, make_path, error, match):
    with pytest.raises(error, match=match):
        CropStore(make_path(tmp_path))


# ---------------------------------------------------------------------------------- CellSegmenter

def _row_of_nan(field):
    field = field.copy()
    field[5] = np.nan
    return field


SEGMENT_CASES = [
    case("field-2-d", lambda f: segmenter().segment(f[..., 1]),
         "nuclear_channel=1, but the image has 1 channel"),
    case("nuclear-channel-out-of-range", lambda f: segmenter(nuclear_channel=5).segment(f),
         "nuclear_channel=5, but the image has 3"),
    case("nuclear-channel-a-name", lambda f: segmenter(nuclear_channel="blue").segment(f),
         "nuclear_channel must be an integer"),
    case("field-nan", lambda f: segmenter().segment(_row_of_nan(f)), "NaN or infinite"),
    case("field-beyond-float32", lambda f: segmenter().segment(f.astype(np.float64) * 1e300 + 1e300),
         "beyond float32's range"),
    case("field-complex", lambda f: segmenter().segment(f.astype(np.complex64)), "complex pixel values"),
    case("field-timedelta", lambda f: segmenter().segment(f.astype("m8[s]")), "real numeric pixels"),
    case("field-channels-first", lambda f: segmenter().segment(np.moveaxis(f, -1, 0)), "channels-first"),
    case("field-4-d", lambda f: segmenter().segment(f[None]), r"\(height, width, channels\), got \(1, "),
    case("field-empty", lambda f: segmenter().segment(f[:0, :0]), "empty|no pixels"),
    case("crop-larger-than-field", lambda f: segmenter(crop_size=200).segment(f), "crop_size=200 is larger"),
    case("scale-zero", lambda f: segmenter(scale=0).segment(f), r"scale must be a number in \(0, 1\]"),
    case("threshold-unknown", lambda f: segmenter(threshold="otsuu").segment(f), "threshold must be one of"),
    case("transform-one-field", lambda f: segmenter().transform(f), r"Pass \[image\] for a single field"),
    case("transform-a-string", lambda f: segmenter().transform("fields/"), "sequence of fields"),
    case("transform-nan-in-second-field", lambda f: segmenter().transform([f, _row_of_nan(f)]),
         "image 1: contains NaN"),
]


@pytest.mark.parametrize("call, match", SEGMENT_CASES)
def test_segmenter_refuses(ctx, call, match):
    with pytest.raises(ERRORS, match=match):
        call(ctx.field)


TO_STORE_CASES = [
    case("arrays-without-names", {}, "pass names="),
    case("repeated-names", {"names": ["a", "a"]}, "must be unique"),
    case("names-too-few", {"names": ["a"]}, "1 for 2 fields"),
    case("group-none", {"names": ["a", "b"], "groups": ["g", None]}, r"groups has no value .* fields \[1\]"),
    case("labels-a-string", {"names": ["a", "b"], "labels": "nucleus"}, "labels must be a sequence"),
    case("images-per-shard-zero", {"names": ["a", "b"], "images_per_shard": 0}, "images_per_shard must be"),
    case("repeated-channel-names", {"names": ["a", "b"], "channel_names": ["x", "x", "y"]},
         r"repeats \['x'\]"),
    case("two-channel-names", {"names": ["a", "b"], "channel_names": ["x", "y"]}, "2 channels"),
]


@pytest.mark.parametrize("params, match", TO_STORE_CASES)
def test_to_store_refuses_before_writing(ctx, tmp_path, params, match):
    with pytest.raises(ValueError, match=match):
        segmenter().to_store([ctx.field, ctx.field], tmp_path / "s", **params)
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------------- knn_scores

def _knn_inputs():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 5)), np.repeat(["a", "b"], 20), np.tile(np.arange(8), 5)


KNN_CASES = [
    case("single-class", lambda x, y, g: (x, np.repeat("a", 40), g), "at least two classes"),
    case("classes-in-one-group-each", lambda x, y, g: (x, y, np.repeat([0, 1], 20)),
         "training part has no sample"),
    case("no-samples", lambda x, y, g: (x[:0], y[:0], g[:0]), "at least two"),
    case("labels-too-few", lambda x, y, g: (x, y[:30], g), "one entry per sample"),
    case("nan-features", lambda x, y, g: (np.where(x > 2, np.nan, x), y, g), "NaN"),
    case("complex-features", lambda x, y, g: (x.astype(complex), y, g), "Complex data not supported"),
    case("1-d-features", lambda x, y, g: (x[:, 0], y, g), "must be 2-D"),
    case("nan-labels", lambda x, y, g: (x, np.where(np.arange(40) % 7, (y == "a") * 1.0, np.nan), g), "NaN"),
    case("none-label", lambda x, y, g: (x, _with_value(y, 3, None), g), "label"),
    case("labels-2-d", lambda x, y, g: (x, y[:, None], g), "label"),
    case("none-group", lambda x, y, g: (x, y, _with_value(g, 5, None)), "group"),
    case("nan-group", lambda x, y, g: (x, y, np.where(np.arange(40) == 5, np.nan, g)), "group"),
    case("one-group", lambda x, y, g: (x, y, np.zeros(40)), "group"),
]


@pytest.mark.parametrize("make, match", KNN_CASES)
def test_knn_scores_refuse(make, match):
    with pytest.raises(ERRORS, match=match):
        knn_scores(*make(*_knn_inputs()))


def test_knn_scores_encode_labels_of_mixed_types():
    x, _, groups = _knn_inputs()
    scores = knn_scores(x, np.array(["a"] * 20 + [1] * 20, dtype=object), groups)
    assert 0 <= scores["accuracy"] <= 1


def test_knn_scores_refuse_more_neighbours_than_samples():
    with pytest.raises(ValueError, match="fewer than n_neighbors=100: lower n_neighbors"):
        knn_scores(*_knn_inputs(), n_neighbors=100)


# ------------------------------------------------------------------------ legitimate odd inputs

def test_bool_crops_are_pixels(ctx):
    cells = ctx.cells > 0.3
    features = featurizer().fit(cells).transform(cells)
    assert features.shape == (len(cells), 384) and np.isfinite(features).all()


def test_float16_crops_give_the_float32_features(ctx):
    features = ctx.fitted.transform(ctx.cells.astype(np.float16))
    np.testing.assert_allclose(features, ctx.fitted.transform(ctx.cells), atol=1e-2)


def test_a_5_d_array_is_equal_sized_bags(ctx):
    bags = [ctx.cells[:3], ctx.cells[3:6]]
    np.testing.assert_allclose(ctx.fitted.transform(np.stack(bags)), ctx.fitted.transform(bags))


def test_named_channels_in_another_order_give_the_same_features(ctx):
    reordered = ctx.named.set_params(channel_names=["cytosol", "protein", "nucleus"])
    try:
        moved = reordered.transform(ctx.cells[..., [2, 0, 1]])
    finally:
        ctx.named.set_params(channel_names=NAMES)
    np.testing.assert_allclose(moved, ctx.named.transform(ctx.cells), atol=1e-5)


def test_channel_map_may_feed_one_data_channel_to_two_inputs(ctx):
    cells = ctx.cells[..., :2]
    model = PairedInpaintingFeaturizer.from_pretrained(ctx.model, channel_names=["protein", "nucleus"],
                                                       channel_map={"cytosol": "nucleus"})
    assert model.fit(cells).transform(cells).shape == (len(cells), 384)


def test_an_empty_stack_gives_no_rows_and_an_empty_bag_a_nan_row(ctx):
    assert ctx.fitted.transform(ctx.cells[:0]).shape == (0, 384)
    with pytest.warns(UserWarning):
        rows = ctx.fitted.transform([ctx.bags[0], ctx.bags[0][:0]])
    assert np.isfinite(rows[0]).all() and np.isnan(rows[1]).all()


def test_padding_keeps_crops_larger_than_the_field(ctx):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crops = segmenter(crop_size=128, border="pad").segment(ctx.field).crops
    assert crops.shape[1:] == (128, 128, 3) and len(crops) > 0


def test_no_fields_give_no_bags():
    assert len(segmenter().transform([])) == 0


# ------------------------------------------------------------------------------- command line

def _run(capsys, args, ctx, tmp_path):
    paths = {"crops": ctx.crops, "fields": ctx.fields, "store": ctx.store.path, "out": tmp_path,
             "store_abc": ctx.store_abc.path, "model": ctx.model, "umodel": ctx.unnamed_model}
    rc = main([arg.format(**paths) for arg in args])
    return rc, capsys.readouterr().err.strip()


def _assert_one_line_error(rc, err, match):
    assert rc == 1, err
    assert err.startswith("skpci: error: ") and "\n" not in err and "Traceback" not in err, err
    assert re.search(match, err), err


SEG = ["segment", "{fields}", "--scale", "1", "--crop-size", "32", "--quiet", "-o", "{out}/s"]
SEG3 = SEG + ["--channels", "protein,nucleus,cytosol", "--nuclear", "nucleus"]
FIT = ["fit", "--input-size", "16", "--epochs", "0", "--batch-size", "16", "--quiet", "-o", "{out}/m"]
FOLDER_FIT = FIT + ["{crops}", "--channels", "protein,nucleus,cytosol"]
FEATURES = ["features", "--quiet", "--model", "{model}"]
BENCHMARK = ["benchmark", "{crops}", "--model", "{model}"]

CLI_CASES = [
    case("segment-nuclear-not-a-channel", SEG + ["--channels", "protein,nucleus", "--nuclear", "dapi"],
         "--nuclear 'dapi' is not among the channels"),
    case("segment-missing-folder",
         ["segment", "{out}/nope", "-o", "{out}/s", "--channels", "a,b", "--nuclear", "a"], "No such folder"),
    case("segment-scale-zero", SEG3 + ["--scale", "0"], r"scale must be a number in \(0, 1\]"),
    case("segment-jobs-zero", SEG3 + ["--jobs", "0"], "n_jobs must be a nonzero integer"),
    case("segment-unknown-channels", SEG + ["--channels", "x,y,z", "--nuclear", "x"],
         "No fields with channels"),
    case("segment-only-commas", SEG + ["--channels", ",", "--nuclear", "x"], "needs --channels"),
    case("segment-into-store-of-other-order",
         ["segment", "{fields}", "--quiet", "-o", "{store}", "--channels", "nucleus,protein,cytosol",
          "--nuclear", "nucleus"], "one store keeps one channel order"),
    case("segment-repeated-channels", SEG + ["--channels", "protein,protein,nucleus", "--nuclear", "nucleus"],
         "repeat|twice|duplicate|more than once"),
    case("segment-invalid-pattern", SEG3 + ["--pattern", "["], "pattern"),
    case("segment-pattern-without-channel-group", SEG3 + ["--pattern", "_(.*)$"], "channel"),
    case("fit-unknown-protein", FOLDER_FIT + ["--protein", "gfp", "--markers", "nucleus"],
         "'gfp', which is not among"),
    case("fit-protein-also-marker", FOLDER_FIT + ["--protein", "nucleus", "--markers", "nucleus"],
         "both protein and marker"),
    case("fit-no-markers", FOLDER_FIT + ["--protein", "protein", "--markers", ","], "at least one channel"),
    case("fit-empty-protein", FOLDER_FIT + ["--protein", "", "--markers", "nucleus"], "protein"),
    case("fit-input-size-30",
         FOLDER_FIT + ["--protein", "protein", "--markers", "nucleus", "--input-size", "30"],
         "input_size must be a multiple of 4"),
    case("fit-negative-epochs",
         FOLDER_FIT + ["--protein", "protein", "--markers", "nucleus", "--epochs", "-1"],
         "epochs must be an integer >= 0"),
    case("fit-folder-without-channels", FIT + ["{crops}", "--protein", "protein", "--markers", "nucleus"],
         "needs --channels"),
    case("fit-channels-not-in-folder",
         FIT + ["{crops}", "--channels", "gfp,rfp", "--protein", "gfp", "--markers", "rfp"],
         r"No crops with channels \('gfp', 'rfp'\)"),
    case("fit-repeated-channels",
         FIT + ["{crops}", "--channels", "protein,protein,nucleus", "--protein", "protein", "--markers",
                "nucleus"], r"repeats \['protein'\]"),
    case("fit-devices-gpu",
         FOLDER_FIT + ["--protein", "protein", "--markers", "nucleus", "--epochs", "1", "--devices", "gpu"],
         "devices must be"),
    case("fit-store-garbage-channels",
         FIT + ["{store}", "--channels", "x,y", "--protein", "protein", "--markers", "nucleus"],
         r"it has no \['x', 'y'\]"),
    case("fit-store-unknown-protein", FIT + ["{store}", "--protein", "gfp", "--markers", "nucleus"],
         "'gfp', which is not among"),
    case("fit-unknown-start",
         FOLDER_FIT + ["--protein", "protein", "--markers", "nucleus,cytosol", "--from-pretrained", "nope"],
         "Unknown pretrained model"),
    case("features-unknown-layer", FEATURES + ["{crops}", "-o", "{out}/f.csv", "--layer", "conv9_1"],
         "layer must be one of"),
    case("features-empty-layer", FEATURES + ["{crops}", "-o", "{out}/f.csv", "--layer", ""],
         "layer must be one of"),
    case("features-layer-twice", FEATURES + ["{crops}", "-o", "{out}/f.csv", "--layer", "conv3_1,conv3_1"],
         "layer.*(twice|more than once|repeat|duplicate)"),
    case("features-txt-output", FEATURES + ["{crops}", "-o", "{out}/f.txt"],
         r"must end in \.csv, \.parquet \(tables\) or \.h5ad"),
    case("features-missing-model", ["features", "{crops}", "--model", "{out}/none", "-o", "{out}/f.csv"],
         "Unknown pretrained model"),
    case("features-store-per-folder", FEATURES + ["{store}", "-o", "{out}/f.csv", "--per", "folder"],
         "A store gives features per cell or per image"),
    case("features-store-garbage-channels",
         FEATURES + ["{store}", "-o", "{out}/f.csv", "--channels", "x,y,z"], r"it has no \['x', 'y', 'z'\]"),
    case("features-store-some-model-channels",
         FEATURES + ["{store}", "-o", "{out}/f.csv", "--channels", "protein,x,y"],
         "names some of the model's channels"),
    case("features-store-named-otherwise", FEATURES + ["{store_abc}", "-o", "{out}/f.csv"],
         "X has no channel 'protein'"),
    case("features-folder-two-channels",
         ["features", "--quiet", "{crops}", "--model", "{umodel}", "-o", "{out}/f.csv", "--channels",
          "protein,nucleus"], "one channel per model channel"),
    case("features-unnamed-model-no-channels",
         ["features", "--quiet", "{crops}", "--model", "{umodel}", "-o", "{out}/f.csv"],
         "does not record its channel names"),
    case("features-folder-into-store", FEATURES + ["{crops}", "-o", "store"],
         r"must end in \.csv, \.parquet \(tables\) or \.h5ad"),
    case("features-jobs-zero", FEATURES + ["{crops}", "-o", "{out}/f.csv", "--jobs", "0"], "n_jobs"),
    case("benchmark-labels-per-image", BENCHMARK + ["--labels", "image"], "training part has no sample"),
    case("benchmark-folds-by-folder", BENCHMARK + ["--folds", "folder"], "training part has no sample"),
    case("benchmark-missing-model", ["benchmark", "{crops}", "--model", "nope"], "Unknown pretrained model"),
    case("benchmark-channels-not-in-folder", BENCHMARK + ["--channels", "a,b"],
         r"No crops with channels \('a', 'b'\)"),
]


@pytest.mark.parametrize("args, match", CLI_CASES)
def test_cli_refuses_with_one_line(ctx, tmp_path, capsys, args, match):
    rc, err = _run(capsys, args, ctx, tmp_path)
    _assert_one_line_error(rc, err, match)
    assert not list(tmp_path.iterdir())


def test_cli_benchmark_refuses_a_single_class(ctx, tmp_path, capsys):
    (tmp_path / "one" / "nucleus").mkdir(parents=True)
    for path in (ctx.crops / "nucleus").iterdir():
        (tmp_path / "one" / "nucleus" / path.name).write_bytes(path.read_bytes())
    rc, err = _run(capsys, ["benchmark", "{out}/one", "--model", "{model}"], ctx, tmp_path)
    _assert_one_line_error(rc, err, r"at least two classes; the labels hold 1 \(nucleus\)")


def test_cli_fit_refuses_fewer_epochs_than_its_checkpoint(ctx, tmp_path, capsys):
    args = ["fit", "{crops}", "--channels", "protein,nucleus,cytosol", "--protein", "protein", "--markers",
            "nucleus,cytosol", "--input-size", "16", "--batch-size", "16", "--quiet", "--group-by", "image",
            "--checkpoint-dir", "{out}/run"]
    assert _run(capsys, args + ["-o", "{out}/m2", "--epochs", "2"], ctx, tmp_path)[0] == 0
    rc, err = _run(capsys, args + ["-o", "{out}/m1", "--epochs", "1"], ctx, tmp_path)
    _assert_one_line_error(rc, err, "holds 2 completed epochs of this run, more than the 1 requested")
    assert not (tmp_path / "m1").exists()


def test_cli_fit_never_overwrites_its_input_store(ctx, tmp_path, capsys):
    store = CropStore.from_bags(tmp_path / "db", ctx.bags[:2], channel_names=NAMES)
    args = FIT[:-2] + ["{out}/db", "-o", "{out}/db", "--protein", "protein", "--markers", "nucleus"]
    rc, err = _run(capsys, args, ctx, tmp_path)
    assert len(CropStore(store.path)) == len(store)
    _assert_one_line_error(rc, err, "not a model")


def test_cli_benchmark_on_a_store(ctx, tmp_path, capsys):
    rc, err = _run(capsys, ["benchmark", "{store}", "--model", "{model}"], ctx, tmp_path)
    if rc != 0:
        _assert_one_line_error(rc, err, "crop store|CropStore|stores? (is|are) not")
