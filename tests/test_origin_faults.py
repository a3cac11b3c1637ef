"""S3 misbehaving under the origin-response handler: errors, denials, timeouts, refused connections.

A small loopback HTTP server speaks just enough of S3's wire protocol (the S3 client is not patched) and fails in the
way each test asks. Every fault must end as a short 502/504 (404/413 where S3 says so) well inside Lambda@Edge's
30 s origin-response budget: the elapsed time is measured, as a correctness bound, never as a benchmark.
"""

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cf_events
import pytest
from cf_events import assert_settable_headers, log_lines
from conftest import save

from resizer.config import load_config
from resizer.edge.events import Headers
from resizer.edge.origin import OriginResponse
from resizer.keys import derived_key
from resizer.store.origins import GET_BUDGET_S, READ_TIMEOUT_S, S3Origin

BUDGET_S = 30  # Lambda@Edge's origin-response timeout
KEY = "images/photo.jpg"
DERIVED = derived_key(load_config(), "sm", "webp", KEY)
S3_ERROR = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>'
ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
          403: ("AccessDenied", "Access Denied"), 404: ("NoSuchKey", "The specified key does not exist.")}


class FakeS3(ThreadingHTTPServer):
    """`get` says how a GET of an original is answered, `put` how a PUT of a variant is; a derived key is absent.

    A GET with a Range header (how obstore resumes a broken body) gets that range, as from S3.
    Behaviours: "ok", an S3 error status (500, 403, 404), "sleep" (no answer until released), "stall" (headers and
    half the body, then nothing), "drip" (the body slowly, 8 kB every 0.2 s), "huge" (a Content-Length of 1 GB,
    then nothing).
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, original: bytes):
        super().__init__(("127.0.0.1", 0), _S3Handler)
        self.original, self.get, self.put = original, "ok", "ok"
        self.release = threading.Event()  # set at teardown: sleeping handlers return
        self.requests: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _S3Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeS3

    def log_message(self, format, *args):
        pass

    def do_HEAD(self):
        self.server.requests.append(f"HEAD {self.path}")
        self._error(404, body=False)

    def do_GET(self):
        self.server.requests.append(f"GET {self.path}")
        if "/_variants/" in self.path:
            return self._error(404)
        self._behave(self.server.get, self.server.original)

    def do_PUT(self):
        self.server.requests.append(f"PUT {self.path}")
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._behave(self.server.put, b"")

    def _behave(self, behaviour, body: bytes) -> None:
        if behaviour in ERRORS:
            return self._error(behaviour)
        if behaviour == "sleep":
            self.server.release.wait(60)
            return
        length = 1 << 30 if behaviour == "huge" else len(body)
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if wanted and behaviour != "huge":  # obstore resumes a broken body with a range request, as S3 allows
            first, last = int(wanted[1]), int(wanted[2] or len(body) - 1)
            total, body = len(body), body[first:last + 1]
            length = len(body)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{first + length - 1}/{total}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", '"0123"')
        self.end_headers()
        if behaviour == "stall":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.server.release.wait(60)
        elif behaviour == "drip":
            for i in range(0, len(body), 8192):
                if self.server.release.wait(0.2):
                    return
                self.wfile.write(body[i:i + 8192])
                self.wfile.flush()
        elif behaviour == "huge":
            self.server.release.wait(60)
        else:
            self.wfile.write(body)

    def _error(self, status: int, body: bool = True) -> None:
        payload = S3_ERROR.format(*ERRORS[status]).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)


@pytest.fixture(scope="module")
def original(photo) -> bytes:
    return save(photo, "JPEG", quality=90)


@pytest.fixture
def fake_s3(original):
    server = FakeS3(original)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return port


@pytest.fixture
def handler_on(config, s3_env):
    """`handler_on(endpoint)` runs a miss for DERIVED through an origin-response handler over S3 at `endpoint`:
    (result, elapsed seconds)."""
    baked = config.with_bucket("originals")

    def run(endpoint: str):
        handler = OriginResponse(baked, S3Origin(baked.bucket, baked.region, baked.derived_prefix, endpoint))
        started = time.monotonic()
        result = handler(cf_events.origin_response("/" + DERIVED, 404, baked.bucket), None)
        return result, time.monotonic() - started

    return run


def assert_short_error(result: dict, status: int, elapsed: float) -> None:
    assert result["status"] == str(status)
    assert elapsed < BUDGET_S
    headers = Headers(result["headers"])
    assert headers.get("cache-control") == "max-age=60"
    assert result["bodyEncoding"] == "text" and len(result["body"]) < 100
    assert "Traceback" not in result["body"] and "127.0.0.1" not in result["body"]
    assert_settable_headers(result)


@pytest.mark.parametrize(("get", "put", "status", "error"), [
    (500, "ok", 502, "OriginFailure"),  # retried once, then given up
    (403, "ok", 502, "OriginFailure"),  # the role may list the bucket: 403 means denied, not missing
    (404, "ok", 404, "OriginalNotFound"),
    ("sleep", "ok", 504, "OriginTimeout"),  # no answer within the read timeout, twice
    ("stall", "ok", 504, "OriginTimeout"),  # the body stops half-way, twice
    ("huge", "ok", 413, "TooLarge"),  # refused from Content-Length: the body is never read
    ("ok", 500, 502, "OriginFailure"),
    ("ok", "sleep", 504, "OriginTimeout"),
])
def test_s3_faults_become_short_errors_within_the_budget(fake_s3, handler_on, get, put, status, error, capsys):
    fake_s3.get, fake_s3.put = get, put
    result, elapsed = handler_on(fake_s3.endpoint)
    assert_short_error(result, status, elapsed)
    line = log_lines(capsys)[0]
    assert (line["status"], line["error"]) == (status, error)
    assert line["detail"]  # the detail goes to the log, not to the viewer
    gets = [r for r in fake_s3.requests if r.startswith("GET")]
    # one retry, no more (a stalled body is resumed once with a range request)
    assert len(gets) == (2 if get in (500, "sleep", "stall") else 1)
    assert any(r.startswith("PUT") for r in fake_s3.requests) is (get == "ok")


def test_a_slow_steady_body_ends_at_the_get_budget(fake_s3, handler_on, original, monkeypatch, capsys):
    """Each read arrives within the read timeout, the whole body would not: the GET's own deadline ends it.
    The budget is shortened here to keep the test quick (the real one: GET_BUDGET_S)."""
    assert GET_BUDGET_S < BUDGET_S / 2  # room for the PUT's own timeouts
    monkeypatch.setattr("resizer.store.origins.GET_BUDGET_S", 1)
    monkeypatch.setattr("resizer.store.origins.BODY_CHUNK", 8192)
    fake_s3.original = original * 8  # 8 kB every 0.2 s: several seconds
    fake_s3.get = "drip"
    result, elapsed = handler_on(fake_s3.endpoint)
    assert_short_error(result, 504, elapsed)
    assert elapsed < READ_TIMEOUT_S
    assert log_lines(capsys)[0]["error"] == "OriginTimeout"


def test_refused_connection_is_a_502(closed_port, handler_on, capsys):
    result, elapsed = handler_on(f"http://127.0.0.1:{closed_port}")
    assert_short_error(result, 502, elapsed)
    assert log_lines(capsys)[0]["error"] == "OriginFailure"


# --- the same faults through the emulator (an S3 origin on the fake endpoint) -------------------------------

@pytest.mark.parametrize(("get", "status"), [(500, 502), (403, 502), ("sleep", 504)])
def test_emulator_answers_s3_faults(fake_s3, serve, config, s3_env, get, status):
    fake_s3.get = get
    request = serve(S3Origin("originals", config.region, endpoint_url=fake_s3.endpoint))
    started = time.monotonic()
    answer, headers, body = request("/images/photo-sm.jpg", Accept="image/webp")
    assert (answer, time.monotonic() - started < BUDGET_S) == (status, True)
    assert headers["cache-control"] == "max-age=60" and len(body) < 100


def test_emulator_with_s3_refusing_connections(closed_port, serve, config, s3_env):
    """CloudFront's own fetch fails first: its 502 passes through the origin-response untouched."""
    request = serve(S3Origin("originals", config.region, endpoint_url=f"http://127.0.0.1:{closed_port}"))
    started = time.monotonic()
    assert request("/images/photo-sm.jpg", Accept="image/webp")[0] == 502
    assert time.monotonic() - started < BUDGET_S

