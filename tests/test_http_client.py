"""The HTTP client under ingest.fetch: kept-alive connections, servers that close them, request targets and
Host headers as sent, and HTTPS with the certificate checked against the host name while the socket goes
to the checked address. Real servers on 127.0.0.1 (plain and TLS, certificates made by openssl here)."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.errors import PermanentFetchError, TransientFetchError
from ingest import fetch
from ingest.fetch import Fetcher
from ingest.settings import HttpSettings


class Server:
    """HTTP/1.1 on 127.0.0.1, recording (client port, request line, headers); `close_after` answers and then
    drops the connection without saying so (no "Connection: close"), as servers do with idle connections."""

    def __init__(self, tls: ssl.SSLContext | None = None, close_after: bool = False):
        self.seen: list[tuple[int, str, dict[str, str]]] = []
        self.hung_up = threading.Event()  # set when a connection ends (the client closed it)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.seen.append((self.client_address[1], self.requestline, dict(self.headers)))
                if self.path.startswith("/early"):  # informational answers first, as CDNs send them
                    for status in (103, 102):
                        self.send_response_only(status)
                        self.send_header("Link", "</style.css>; rel=preload")
                        self.end_headers()
                body = b"hello " + self.path.encode()
                if self.path.startswith("/chunked"):  # the body in three chunks, as most servers send pages
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (body[:3], body[3:], b""):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Twice", "a")
                self.send_header("X-Twice", "b")
                self.end_headers()
                self.wfile.write(body)
                if close_after:
                    self.wfile.flush()
                    self.close_connection = True

            def finish(self):
                super().finish()
                outer.hung_up.set()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def ports(self) -> list[int]:
        return [port for port, _, _ in self.seen]


def fetcher(ssl_context: ssl.SSLContext | None = None) -> Fetcher:
    return Fetcher(HttpSettings(retries=0, allow_networks=("127.0.0.1/32",)), ssl_context=ssl_context)


def test_requests_to_one_origin_share_a_kept_alive_connection():
    with Server() as server, fetcher() as f:
        bodies = [f.get(f"http://127.0.0.1:{server.port}/n/{i}").content for i in range(5)]
    assert bodies == [f"hello /n/{i}".encode() for i in range(5)]
    assert len(set(server.ports())) == 1


def test_a_connection_the_server_dropped_is_replaced_and_no_request_fails():
    """Each connection carries one answer, then the server closes it without a word: the next request
    finds it closed (or closing) and goes on a new connection."""
    with Server(close_after=True) as server, fetcher() as f:
        bodies = [f.get(f"http://127.0.0.1:{server.port}/n/{i}").content for i in range(5)]
    assert bodies == [f"hello /n/{i}".encode() for i in range(5)]
    assert len(set(server.ports())) == 5 and len(server.seen) == 5  # each request sent once


def test_a_new_origin_keeps_its_connection_when_the_pool_is_full_the_oldest_one_is_closed(monkeypatch):
    """MAX_IDLE origins leave a kept connection each; then another origin is asked several times: it gets
    one connection, kept alive (the pool closed its new connection each time, keeping the others'). With a
    pool of 3 (each server takes ~0.5 s to stop)."""
    monkeypatch.setattr(fetch, "MAX_IDLE", 3)
    with ExitStack() as stack, fetcher() as f:
        servers = [stack.enter_context(Server()) for _ in range(fetch.MAX_IDLE + 1)]
        for server in servers[:fetch.MAX_IDLE]:
            f.get(f"http://127.0.0.1:{server.port}/first")
        for i in range(3):
            f.get(f"http://127.0.0.1:{servers[-1].port}/n/{i}")
        assert len(set(servers[-1].ports())) == 1
        assert servers[0].hung_up.wait(10)  # the oldest kept connection made room, closed by us


def test_a_kept_connection_too_old_to_be_reused_is_closed_when_another_origin_releases_one(monkeypatch):
    """A host that is not asked again (it went away, its source was retired) must not keep a connection
    of ours open (in CLOSE_WAIT once it hangs up) until its origin is asked again, which may be never."""
    monkeypatch.setattr(fetch, "IDLE_EXPIRY", 0.05)
    with Server() as gone, Server() as other, fetcher() as f:
        f.get(f"http://127.0.0.1:{gone.port}/once")
        time.sleep(0.1)  # past IDLE_EXPIRY: that connection will not be reused
        f.get(f"http://127.0.0.1:{other.port}/later")
        assert gone.hung_up.wait(10)


def test_the_request_as_sent_target_encoded_host_with_port_headers_joined():
    with Server() as server, fetcher() as f:
        response = f.get(f"http://127.0.0.1:{server.port}/a b/ä%2F?q=x y&r=é#fragment",
                         {"If-None-Match": '"v1"'}, accept="text/html")
    _, line, headers = server.seen[0]
    assert line == "GET /a%20b/%C3%A4%2F?q=x%20y&r=%C3%A9 HTTP/1.1"
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert headers["Accept"] == "text/html" and headers["If-None-Match"] == '"v1"'
    assert headers["Accept-Encoding"] == "gzip, deflate" and headers["User-Agent"].startswith("presswire/")
    assert response.headers["x-twice"] == "a, b" and response.headers["content-type"] == "text/plain"


def test_a_chunked_body_is_read_whole_and_its_connection_kept():
    with Server() as server, fetcher() as f:
        bodies = [f.get(f"http://127.0.0.1:{server.port}/chunked/{i}").content for i in range(3)]
    assert bodies == [f"hello /chunked/{i}".encode() for i in range(3)]
    assert len(set(server.ports())) == 1


def test_informational_answers_before_the_response_are_skipped():
    with Server() as server, fetcher() as f:
        responses = [f.get(f"http://127.0.0.1:{server.port}/early/{i}") for i in range(2)]
    assert [(r.status, r.content) for r in responses] == [(200, b"hello /early/0"), (200, b"hello /early/1")]
    assert "link" not in responses[0].headers and len(set(server.ports())) == 1


def test_a_header_value_with_a_line_break_is_refused_not_sent():
    with Server() as server, fetcher() as f, pytest.raises(PermanentFetchError, match="invalid request"):
        f.get(f"http://127.0.0.1:{server.port}/x", {"If-None-Match": '"v1"\r\nX-Injected: 1'})
    assert server.seen == []


# --- HTTPS ----------------------------------------------------------------------------------------

def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A test CA, and two server certificates it signed: for localhost (not for its address: a client that
    checked the certificate against the address it connected to would fail), and for another name."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=presswire test CA",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    for name, san in (("good", "DNS:localhost"), ("other", "DNS:other.example")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"),
                 "-out", str(d / f"{name}.csr"))
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
                 "-CAcreateserial", "-days", "2", "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"))
    return d


def _server_tls(pki: Path, name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / f"{name}.pem", pki / f"{name}.key")
    return context


def _trusting(pki: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


def test_https_checks_the_certificate_against_the_host_name_and_keeps_the_connection(pki):
    """localhost is resolved and checked like any host; the handshake names localhost (SNI) and the
    certificate must be for it."""
    with Server(tls=_server_tls(pki, "good")) as server, fetcher(ssl_context=_trusting(pki)) as f:
        bodies = [f.get(f"https://localhost:{server.port}/s/{i}").content for i in range(3)]
    assert bodies == [f"hello /s/{i}".encode() for i in range(3)]
    assert len(set(server.ports())) == 1 and server.seen[0][2]["Host"] == f"localhost:{server.port}"


def test_https_refuses_a_certificate_for_another_name(pki):
    with Server(tls=_server_tls(pki, "other")) as server, fetcher(ssl_context=_trusting(pki)) as f, \
            pytest.raises(TransientFetchError, match="connection failed: .*(Hostname mismatch|CERTIFICATE_VERIFY)"):
        f.get(f"https://localhost:{server.port}/x")
    assert server.seen == []


def test_https_refuses_a_certificate_from_an_unknown_authority_by_default(pki):
    """The default trust is certifi's CA bundle, which does not hold the test CA."""
    with Server(tls=_server_tls(pki, "good")) as server, fetcher() as f, \
            pytest.raises(TransientFetchError, match="certificate verify failed"):
        f.get(f"https://localhost:{server.port}/x")
    assert server.seen == []


def test_https_to_a_refused_address_never_connects(pki):
    with Server(tls=_server_tls(pki, "good")) as server, \
            Fetcher(HttpSettings(retries=0), ssl_context=_trusting(pki)) as f, \
            pytest.raises(PermanentFetchError, match="not a public address"):
        f.get(f"https://localhost:{server.port}/x")
    assert server.seen == []
