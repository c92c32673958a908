import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skpci import PairedInpaintingFeaturizer, pretrained
from skpci._network import build_inpainting_model, predict
from skpci.pretrained import AUTHORS_BN_ORDER, ENCODER_CONVS, PretrainedModelError

from .conftest import FAST


@pytest.fixture(scope="module")
def saved_model(fitted_featurizer, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    fitted_featurizer.save_pretrained(path, training_data="synthetic test crops", dtype="float32")
    return path


def test_save_then_load_gives_identical_features(fitted_featurizer, saved_model, synthetic_crops):
    loaded = PairedInpaintingFeaturizer.from_pretrained(saved_model).fit(synthetic_crops.bags[:2])
    np.testing.assert_array_equal(loaded.transform(synthetic_crops.cells),
                                  fitted_featurizer.transform(synthetic_crops.cells))
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
    small = fitted_featurizer.save_pretrained(tmp_path / "f16")
    full = fitted_featurizer.save_pretrained(tmp_path / "f32", dtype="float32")
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


# ----------------------------------------------------------- Keras 2 files


def write_keras2_file(path, model, *, with_graph=True, layer_order=None):
    """Write ``model``'s weights in the layout of Keras 2.1 ``model.save``.

    BatchNormalization layers get the authors' unnamed names
    (``batch_normalization_<k>`` in creation order), and layer_names lists
    them in topological order, where conv3_1's BN precedes rfpconv2_1's.
    """
    bn_name = {conv: f"batch_normalization_{k}" for k, conv in enumerate(AUTHORS_BN_ORDER, start=1)}
    layers = {}
    for conv in ENCODER_CONVS:
        layers[conv] = model.get_layer(conv).get_weights()
        layers[bn_name[conv]] = model.get_layer(f"{conv}_bn").get_weights()
    for conv in ("conv6_1", "conv7_1", "conv8_1", "conv9_1", "conv10_1", "y_gfp"):
        layers[conv] = model.get_layer(conv).get_weights()
    order = layer_order or ["conv1_1", bn_name["conv1_1"], "rfpconv1_1", "conv2_1", bn_name["rfpconv1_1"],
                            bn_name["conv2_1"], "rfpconv2_1", "conv3_1", bn_name["conv3_1"],
                            bn_name["rfpconv2_1"], "conv4_1", "rfpconv3_1", bn_name["conv4_1"],
                            bn_name["rfpconv3_1"], "conv5_1", bn_name["conv5_1"], "conv6_1", "conv7_1",
                            "conv8_1", "conv9_1", "conv10_1", "y_gfp"]
    suffixes = {2: ["kernel:0", "bias:0"], 4: ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"]}
    with h5py.File(path, "w") as file:
        file.attrs["keras_version"] = b"2.1.6"
        group = file.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode() for name in ["x_in", "y_rfp", *order]]
        for name in ["x_in", "y_rfp"]:
            group.create_group(name).attrs["weight_names"] = []
        for name in order:
            layer_group = group.create_group(name).create_group(name)
            names = [f"{name}/{suffix}" for suffix in suffixes[len(layers[name])]]
            group[name].attrs["weight_names"] = [n.encode() for n in names]
            for weight_name, value in zip(names, layers[name]):
                layer_group.create_dataset(weight_name.split("/", 1)[1], data=value)
        if with_graph:
            config = {"class_name": "Model", "config": {"layers": [
                {"class_name": "BatchNormalization", "config": {"name": bn_name[conv]},
                 "inbound_nodes": [[[conv, 0, 0, {}]]]} for conv in ENCODER_CONVS]}}
            file.attrs["model_config"] = json.dumps(config).encode()


def _random_model(seed, n_marker=1):
    model = build_inpainting_model(1, n_marker, 16, seed=seed)
    rng = np.random.default_rng(seed)
    for conv in ENCODER_CONVS:  # distinct, non-trivial BN statistics for every layer
        layer = model.get_layer(f"{conv}_bn")
        layer.set_weights([rng.uniform(0.5, 2, w.shape).astype("float32") for w in layer.get_weights()])
    return model


@pytest.mark.parametrize("with_graph", [True, False], ids=["graph in file", "creation order"])
def test_keras2_file_with_unnamed_batchnorm_reproduces_its_outputs(tmp_path, with_graph):
    source = _random_model(seed=7)
    path = tmp_path / "model_weights.h5"
    write_keras2_file(path, source, with_graph=with_graph)
    assert pretrained.legacy_architecture(path, 16) == {
        "n_protein_channels": 1, "n_marker_channels": 1, "input_size": 16}
    target = build_inpainting_model(1, 1, 16, seed=99)
    pretrained.load_legacy_h5(target, path)
    rng = np.random.default_rng(0)
    inputs = {"x_in": rng.random((4, 16, 16, 2), dtype=np.float32),
              "y_rfp": rng.random((4, 16, 16, 1), dtype=np.float32)}
    np.testing.assert_allclose(predict(target, inputs, 8), predict(source, inputs, 8), rtol=1e-5, atol=1e-6)


def test_keras2_file_loads_through_from_pretrained(tmp_path, synthetic_crops):
    source = _random_model(seed=3, n_marker=2)
    path = tmp_path / "human.h5"
    write_keras2_file(path, source)
    featurizer = PairedInpaintingFeaturizer.from_pretrained(path, input_size=16).fit(synthetic_crops.bags[:2])
    assert featurizer.marker_channels == (1, 2)
    x = np.random.default_rng(1).random((3, 16, 16, 3), dtype=np.float32)
    from skpci._network import build_feature_extractor
    from skpci._preprocessing import minmax_scale_crops

    expected = predict(build_feature_extractor(source, ["conv3_1"]), minmax_scale_crops(x), 8)
    np.testing.assert_allclose(featurizer.transform(x), expected, rtol=1e-5, atol=1e-6)


def test_keras2_file_for_other_channels_names_the_layer(tmp_path):
    path = tmp_path / "yeast.h5"
    write_keras2_file(path, _random_model(seed=1, n_marker=1))
    with pytest.raises(PretrainedModelError, match="conv1_1 .* shapes"):
        pretrained.load_legacy_h5(build_inpainting_model(1, 2, 16), path)
    with h5py.File(path, "a") as file:
        del file["model_weights/conv7_1"]
    with pytest.raises(PretrainedModelError, match="conv7_1"):
        pretrained.load_legacy_h5(build_inpainting_model(1, 1, 16), path)


# ----------------------------------------------------------------- fetching


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    _CountingHandler.requests = []
    handler = functools.partial(_CountingHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}", _CountingHandler.requests
    server.shutdown()
    server.server_close()


def test_registry_fetches_verifies_and_caches_published_files(file_server, tmp_path, monkeypatch):
    served, url, requests = file_server
    write_keras2_file(served / "model_weights.h5", _random_model(seed=5))
    digest = pretrained.sha256_of(served / "model_weights.h5")
    monkeypatch.setenv("SKPCI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(pretrained.REGISTRY, "test-yeast", pretrained.PublishedModel(
        f"{url}/model_weights.h5", "test-yeast.h5", "test",
        {"n_protein_channels": 1, "n_marker_channels": 1, "input_size": 16}, sha256=digest))
    first = pretrained.resolve("test-yeast", progress=False)
    assert first.path == tmp_path / "cache" / "test-yeast.h5" and first.kind == "legacy"
    again = pretrained.resolve("test-yeast", progress=False)
    assert again.path == first.path
    assert requests == ["/model_weights.h5"]  # the second call used the cache
    model = build_inpainting_model(1, 1, 16)
    pretrained.load_weights_into(model, again)


def test_a_download_with_the_wrong_checksum_is_not_kept(file_server, tmp_path):
    served, url, _ = file_server
    (served / "model_weights.h5").write_bytes(b"tampered")
    destination = tmp_path / "cache" / "model.h5"
    with pytest.raises(PretrainedModelError, match="checksum"):
        pretrained.fetch(f"{url}/model_weights.h5", destination, sha256="0" * 64, progress=False)
    assert not destination.exists() and list(destination.parent.iterdir()) == []


def test_offline_fetch_gives_a_clear_error(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match="offline"):
        pretrained.fetch(f"http://127.0.0.1:{port}/model.h5", tmp_path / "model.h5", progress=False, timeout=5)
    assert not (tmp_path / "model.h5").exists()


# ------------------------------------------------------------ bundled model


def test_bundled_model_card_matches_the_demo_layout():
    info = pretrained.describe("synthetic-32")
    assert info["architecture"] == {"n_protein_channels": 1, "n_marker_channels": 2, "input_size": 32}
    assert info["marker_channels"] == (1, 2)


@pytest.mark.slow
def test_bundled_model_loads_after_a_regular_install_outside_the_source_tree(tmp_path):
    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(root)],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    assert (target / "skpci" / "_models" / "synthetic-32" / "model_card.json").is_file()
    script = ("import skpci, numpy as np; from skpci import PairedInpaintingFeaturizer as F;"
              "f = F.from_pretrained('synthetic-32').fit(np.random.rand(4, 32, 32, 3), groups=[0, 0, 1, 1]);"
              "print(skpci.__file__); print(f.transform(np.random.rand(2, 32, 32, 3)).shape)")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin",
                                           "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    installed_from, shape = run.stdout.strip().splitlines()[-2:]
    assert installed_from.startswith(str(target))
    assert shape == "(2, 384)"
