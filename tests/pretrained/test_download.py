"""Fetching published weights: verified, cached, offline errors."""

import functools
import http.server
import threading

import pytest

from skpci import pretrained
from skpci.network import Architecture, build_inpainting_model
from skpci.pretrained import PretrainedModelError

from .keras2_files import random_model, write_keras2_file


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
    write_keras2_file(served / "model_weights.h5", random_model(seed=5))
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
