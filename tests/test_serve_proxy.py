"""TLS through a reverse proxy: the documented nginx configuration (docs/nginx-pixsift.conf) run
for real in front of ``pixsift serve``, and X-Forwarded-* believed only from trusted proxies."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from servers import free_port, running_server
from waiting import wait_until

from pixsift.search.library import Library
from pixsift.web.app import create_app

DOCUMENTED_CONFIG = Path(__file__).parent.parent / "docs" / "nginx-pixsift.conf"
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(path)), None
)
OPENSSL = shutil.which("openssl")


def _require_tools() -> None:
    missing = [name for name, path in (("nginx", NGINX), ("openssl", OPENSSL)) if path is None]
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install nginx openssl)")
    assert not missing, f"{missing} must be installed in CI (.ci/run installs them)"


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, valid for a day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            str(OPENSSL), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """pixsift serve behind nginx with the documented configuration: (https port, http port,
    certificate)."""
    _require_tools()
    cert, key = _certificate(tmp_path)
    # Behind a proxy is on a network: without accounts, only with --insecure-no-accounts.
    arguments = ("--trusted-proxies", "1", "--trusted-hosts", "localhost", "--insecure-no-accounts")
    with running_server(tmp_path / "library", *arguments) as server:
        # nginx's ports are picked just before it binds them, not before the server's start-up:
        # the connections that wait for the server take local ports from the same range and
        # could take one of them meanwhile. Two probes may also give the same port.
        https_port = free_port()
        http_port = next(port for port in iter(free_port, None) if port != https_port)
        site = (
            DOCUMENTED_CONFIG.read_text()
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
            .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
            .replace("photos.example.org", "localhost")
            .replace("/etc/ssl/certs/localhost.pem", str(cert))
            .replace("/etc/ssl/private/localhost.key", str(key))
            .replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
        )
        (tmp_path / "site.conf").write_text(site)
        temp = tmp_path / "nginx-temp"
        temp.mkdir()
        paths = " ".join(
            f"{kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )  # fmt: skip
        (tmp_path / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\npid {tmp_path / 'nginx.pid'};\n"
            "error_log stderr warn;\nevents { worker_connections 64; }\n"
            f"http {{\n access_log off;\n {paths}\n include {tmp_path / 'site.conf'};\n}}\n"
        )
        nginx = subprocess.Popen(
            [str(NGINX), "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(https_port, nginx)
            yield https_port, http_port, cert
        finally:
            nginx.terminate()
            nginx.communicate(timeout=30)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until nginx listens on ``port``, as long as its start makes progress (not a fixed 30 s)."""
    import socket

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
            return False

    try:
        wait_until(listening, process, f"nginx listening on {port}")
    except AssertionError as error:
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0].decode(errors="replace")) from error
        raise


def _get(
    url: str, context: ssl.SSLContext | None = None, **headers: str
) -> tuple[int, dict, bytes]:
    try:
        with urlopen(Request(url, headers=headers), timeout=30, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_https_through_nginx_reaches_pixsift(nginx_in_front: tuple[int, int, Path]) -> None:
    https_port, http_port, cert = nginx_in_front
    context = ssl.create_default_context(cafile=str(cert))
    base = f"https://localhost:{https_port}"
    status, headers, body = _get(f"{base}/api/health", context)
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert "max-age" in headers["Strict-Transport-Security"]
    # What a client claims in X-Forwarded-* is replaced by nginx, so it changes nothing.
    status, _headers, body = _get(
        f"{base}/api/stats", context, **{"X-Forwarded-Host": "evil.example"}
    )
    assert status == 200 and "image_count" in json.loads(body)
    # A name pixsift does not answer to, sent through the proxy, is still refused.
    status, headers, body = _get(f"{base}/api/stats", context, Host="evil.example")
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
    # Plain HTTP is sent to HTTPS.
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    try:
        plain.request("GET", "/api/health", headers={"Host": "localhost"})
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.getheader("Location") == "https://localhost/api/health"
    finally:
        plain.close()


@pytest.mark.parametrize("proxies", [0, 1])
def test_forwarded_headers_are_believed_only_from_trusted_proxies(
    library: Library, proxies: int
) -> None:
    app = create_app({"LIBRARY": library, "TRUSTED_PROXIES": proxies})

    @app.get("/echo")
    def echo() -> dict[str, str]:
        from flask import request

        return {"scheme": request.scheme, "remote": request.remote_addr or "", "host": request.host}

    forwarded = {
        # A client's own claim first, then the value the proxy appended.
        "X-Forwarded-For": "6.6.6.6, 203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "localhost",
    }
    answer = app.test_client().get(
        "/echo", headers=forwarded, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    if proxies:
        assert answer.json == {"scheme": "https", "remote": "203.0.113.7", "host": "localhost"}
    else:
        assert answer.json == {"scheme": "http", "remote": "127.0.0.1", "host": "localhost"}
