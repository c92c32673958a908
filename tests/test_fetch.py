"""The one download path (skpci._fetch) against a loopback server that misbehaves in every documented way."""

import http.server
import threading
import time

import pytest

from skpci._fetch import DownloadError, VerificationError, download, sha256_of

BODY = bytes(range(256)) * 64  # 16 KiB


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """Routes: /file, /flaky (500 twice), /missing (404), /truncated, /truncated-once, /drip,
    /to-ftp, /to-file, /to-https-downgrade, /to-other-host, /html."""

    requests = []
    port = None

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        count = type(self).requests.count(self.path)
        route = self.path.split("?")[0]
        if route == "/file" or (route == "/flaky" and count > 2) or (route == "/truncated-once" and count > 1):
            self.send(200, BODY)
        elif route == "/flaky":
            self.send(500, b"busy")
        elif route in ("/truncated", "/truncated-once"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.close_connection = True
        elif route == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            for byte in BODY[:40]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.1)
            self.close_connection = True
        elif route.startswith("/to-"):
            target = {"/to-ftp": "ftp://127.0.0.1/file", "/to-file": "file:///etc/passwd",
                      "/to-other-host": f"http://localhost:{type(self).port}/file"}[route]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/html":
            self.send(200, b"<html><body>Service temporarily unavailable</body></html>")
        else:
            self.send(404, b"not here")

    def send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Misbehaving.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    Misbehaving.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Misbehaving.requests
    httpd.shutdown()
    httpd.server_close()


def quick(url, destination, **options):
    return download(url, destination, progress=False, backoff=0.01, timeout=5, **options)


def nothing_left(folder):
    return not folder.exists() or [p.name for p in folder.iterdir()] == []


def test_a_download_is_kept_with_its_digest_and_reused(server, tmp_path):
    url, requests = server
    path = quick(f"{url}/file", tmp_path / "cache" / "file.bin")
    assert path.read_bytes() == BODY
    assert (tmp_path / "cache" / "file.bin.sha256").read_text().strip() == sha256_of(path)
    assert quick(f"{url}/file", path) == path and requests == ["/file"]


def test_a_changed_cached_file_is_refused_with_what_to_delete(server, tmp_path):
    url, _ = server
    path = quick(f"{url}/file", tmp_path / "file.bin")
    path.write_bytes(b"damaged")
    with pytest.raises(VerificationError, match=r"Delete it .*file\.bin\.sha256"):
        quick(f"{url}/file", path)
    with pytest.raises(VerificationError, match="pinned"):
        quick(f"{url}/file", path, sha256=sha256_of(tmp_path / "file.bin.sha256"))


def test_a_pinned_digest_that_does_not_match_keeps_nothing(server, tmp_path):
    url, _ = server
    with pytest.raises(VerificationError, match="checksum"):
        quick(f"{url}/file", tmp_path / "cache" / "file.bin", sha256="0" * 64)
    assert nothing_left(tmp_path / "cache")


def test_server_errors_are_retried_and_missing_files_are_not(server, tmp_path):
    url, requests = server
    assert quick(f"{url}/flaky", tmp_path / "flaky.bin").read_bytes() == BODY
    assert requests.count("/flaky") == 3
    with pytest.raises(DownloadError, match="HTTP 404"):
        quick(f"{url}/missing", tmp_path / "missing.bin")
    assert requests.count("/missing") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flaky.bin", "flaky.bin.sha256"]


def test_a_truncated_body_is_retried_and_never_kept(server, tmp_path):
    url, requests = server
    assert quick(f"{url}/truncated-once", tmp_path / "once.bin").read_bytes() == BODY
    with pytest.raises(DownloadError, match="IncompleteRead"):
        quick(f"{url}/truncated", tmp_path / "cache" / "truncated.bin", retries=2)
    assert requests.count("/truncated") == 3
    assert nothing_left(tmp_path / "cache")


def test_a_stalling_server_is_abandoned_at_the_deadline(server, tmp_path):
    url, _ = server
    started = time.monotonic()
    with pytest.raises(DownloadError, match="within 1 s"):
        quick(f"{url}/drip", tmp_path / "cache" / "drip.bin", deadline=1)
    assert time.monotonic() - started < 3
    assert nothing_left(tmp_path / "cache")


@pytest.mark.parametrize("route, scheme", [("/to-ftp", "ftp"), ("/to-file", "file")])
def test_redirects_to_other_schemes_are_refused(server, tmp_path, route, scheme):
    url, _ = server
    with pytest.raises(DownloadError, match=f"refused a redirect from http:// to {scheme}://"):
        quick(f"{url}{route}", tmp_path / "cache" / "x.bin")
    assert nothing_left(tmp_path / "cache")


def test_a_redirect_to_another_host_is_followed(server, tmp_path):
    url, requests = server
    assert quick(f"{url}/to-other-host", tmp_path / "x.bin").read_bytes() == BODY
    assert requests == ["/to-other-host", "/file"]


def test_an_error_page_instead_of_the_file_is_not_kept(server, tmp_path):
    from skpci import pretrained

    url, _ = server
    with pytest.raises(pretrained.PretrainedModelError, match="not usable"):
        pretrained.fetch(f"{url}/html", tmp_path / "cache" / "model.h5", progress=False)
    assert nothing_left(tmp_path / "cache")


def test_only_web_addresses_are_fetched(tmp_path):
    with pytest.raises(DownloadError, match="Only http"):
        quick("file:///etc/passwd", tmp_path / "x")
