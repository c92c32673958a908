"""Fetching published weights: verified, cached, offline errors."""

import functools
import http.server
import re
import shutil
import subprocess
import threading

import pytest

from skpci import pretrained
from skpci._fetch import git_blob_of
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


def test_a_git_blob_pin_accepts_the_published_file_and_refuses_another(file_server, tmp_path):
    served, url, _ = file_server
    write_keras2_file(served / "model_weights.h5", random_model(seed=5))
    if shutil.which("git") is None:
        pytest.skip("compares with git hash-object")
    published = subprocess.run(["git", "hash-object", str(served / "model_weights.h5")], capture_output=True,
                               text=True, check=True).stdout.strip()
    assert git_blob_of(served / "model_weights.h5") == published
    kept = pretrained.fetch(f"{url}/model_weights.h5", tmp_path / "a" / "model.h5", git_blob=published,
                            progress=False)
    assert git_blob_of(kept) == published
    refused = tmp_path / "b" / "model.h5"
    with pytest.raises(PretrainedModelError, match="not the published file: its git blob id"):
        pretrained.fetch(f"{url}/model_weights.h5", refused, git_blob="0" * 40, progress=False)
    assert not refused.exists() and list(refused.parent.iterdir()) == []


def test_a_cached_file_without_a_recorded_digest_is_checked_against_its_pin(tmp_path):
    cached = tmp_path / "model.h5"
    cached.write_bytes(b"not the authors' weights")
    with pytest.raises(PretrainedModelError, match="cached file .* git blob id .* delete it"):
        pretrained.fetch("http://127.0.0.1:9/none.h5", cached, git_blob="0" * 40, progress=False)
    assert not (tmp_path / "model.h5.sha256").exists()


def test_every_published_model_is_pinned_to_a_fixed_commit():
    published = {name: entry for name, entry in pretrained.REGISTRY.items()
                 if isinstance(entry, pretrained.PublishedModel)}
    assert len(published) == 3
    for name, entry in published.items():
        assert entry.sha256 or re.fullmatch(r"[0-9a-f]{40}", entry.git_blob or ""), name
        assert "/master/" not in entry.url and re.search(r"/[0-9a-f]{40}/", entry.url), entry.url
