"""Fetching published weights: verified, cached, offline errors."""

import functools
import http.server
import json
import threading

import h5py
import numpy as np
import pytest

from skpci import pretrained
from skpci.network import Architecture, build_inpainting_model
from skpci.pretrained import AUTHORS_BN_ORDER, ENCODER_CONVS, PretrainedModelError


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
        Architecture(n_protein_channels=1, n_marker_channels=1, input_size=16), sha256=digest))
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
