"""An HTTPS-intercepting forward proxy, so a real `rostersync` subprocess reaches in-process WSGI fakes.

`extra_transports` only reaches sessions built in the test's own process. A subprocess (the real CLI, a
Dagster run worker) can only be redirected the way a corporate network redirects it: HTTPS_PROXY plus a
private CA in REQUESTS_CA_BUNDLE. So this proxy answers `CONNECT host:443`, terminates TLS with a trustme
certificate for that host, and serves the tunnelled HTTP/1.1 requests with the WSGI app registered for the
host; plain-HTTP proxy requests (absolute URIs) are served the same way. Passing through it also proves that
a client honours those two variables. A host it does not know gets 502, as a proxy that cannot connect.

    with FakeInternet({"acme.talentlms.com": app}) as net:
        subprocess.run([...], env={**os.environ, **net.env})
        assert net.requests["acme.talentlms.com"] == 3
"""

from __future__ import annotations

import io
import shutil
import socket
import ssl
import sys
import tempfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import trustme

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "content-length"}


class FakeInternet:
    """A threaded proxy on 127.0.0.1 (random port) routing host names to WSGI apps; a context manager."""

    def __init__(self, apps: dict[str, object]):
        self.apps = {host.lower(): app for host, app in apps.items()}
        self.requests: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []  # (host, method, path?query) in arrival order
        self._ca = trustme.CA()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def __enter__(self) -> FakeInternet:
        self._dir = Path(tempfile.mkdtemp(prefix="fake-internet-"))
        self.ca_path = self._dir / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-internet", daemon=True)
        self._thread.start()
        proxy = f"http://127.0.0.1:{self._server.server_port}"
        # Both spellings: urllib (and so requests) lets a lower-case variable from the parent win.
        self.env = {
            "HTTPS_PROXY": proxy,
            "HTTP_PROXY": proxy,
            "NO_PROXY": "",
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }
        self.env |= {"https_proxy": proxy, "http_proxy": proxy, "no_proxy": ""}
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:  # idle keep-alive tunnels: wake their threads so they end
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def context_for(self, host: str) -> ssl.SSLContext:
        with self._lock:
            if host not in self._contexts:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self._ca.issue_cert(host).configure_cert(context)
                self._contexts[host] = context
            return self._contexts[host]

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            (self._connections.add if is_open else self._connections.discard)(connection)


def _handler_for(net: FakeInternet) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        internet = net

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    internet: FakeInternet
    protocol_version = "HTTP/1.1"  # keep-alive inside the tunnel
    timeout = 30  # an idle connection is dropped rather than holding a thread forever
    tunnel_host: str | None = None

    def setup(self) -> None:
        super().setup()
        self.internet.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.internet.track(self.connection, False)
            if self.tunnel_host is not None:  # the server only closes the raw socket, which TLS detached
                self.connection.close()

    def log_message(self, *_args) -> None:  # quiet: tests read `internet.log` instead
        pass

    def do_CONNECT(self) -> None:
        host = self.path.rsplit(":", 1)[0].lower()
        if host not in self.internet.apps:
            self.send_error(502, f"fake internet has no host {host}")
            self.close_connection = True
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.internet.context_for(host).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True  # the client refused our certificate: nothing more to say
            return
        self.internet.track(self.connection, False)
        self.connection = self.request = tls
        self.internet.track(tls, True)
        self.rfile = tls.makefile("rb")
        self.wfile = tls.makefile("wb")
        self.tunnel_host = host
        self.close_connection = False

    def _serve(self) -> None:
        if self.tunnel_host is not None:
            host, path, scheme = self.tunnel_host, self.path, "https"
        else:  # a plain-HTTP proxy request carries the absolute URI
            parts = urlsplit(self.path)
            host, scheme = (parts.hostname or "").lower(), parts.scheme or "http"
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        app = self.internet.apps.get(host)
        if app is None:
            self.send_error(502, f"fake internet has no host {host}")
            return
        with self.internet._lock:
            self.internet.requests[host] += 1
            self.internet.log.append((host, self.command, path))
        try:
            status, headers, body = _call_wsgi(app, self._environ(host, path, scheme, self._body()))
        except Exception as error:  # a broken fake answers 500 and says why, as a crashed server would
            status, headers, body = "500 Internal Server Error", [], f"fake crashed: {error!r}".encode()
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        no_body = self.command == "HEAD" or int(code) in (204, 304) or 100 <= int(code) < 200
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _environ(self, host: str, path: str, scheme: str, body: bytes) -> dict:
        path_info, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "SERVER_NAME": host,
            "SERVER_PORT": "443" if scheme == "https" else "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ


def _call_wsgi(app, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the app and buffer its whole answer, so the proxy can always send a Content-Length."""
    started: dict = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=list(headers))
        return lambda data: chunks.append(data)

    chunks: list[bytes] = []
    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started["status"], started["headers"], b"".join(chunks)
