"""`resizer serve`: a local CloudFront + Lambda@Edge, so users develop without AWS.

For each GET/HEAD it does what CloudFront does, with the production handler functions (no second code path):

    viewer-request  ->  cache (keyed by the rewritten URI, honouring Cache-Control max-age)
                    ->  origin (a folder, or an S3 endpoint)  ->  origin-response  ->  cache  ->  viewer

It answers with `X-Cache: Hit from cloudfront` / `Miss from cloudfront`, `Server-Timing` (viewer-request, origin,
origin-response), an ETag (conditional GETs get 304) and Content-Length. A generated 302 goes to the client, which
follows it as a browser does.

The origin is local unless an `OriginModel` says how far it is (`resizer serve --origin-latency 60ms
--origin-bandwidth 40MB/s`): then CloudFront's fetch (Server-Timing `origin`) and the origin-response's GET of
the original and PUT of the variant (inside `origin-response`) each pay a round trip and their bytes' transfer.
With Origin Shield in the bucket's Region (`--origin-shield`, docs/EDGE.md), the fetch, the function and its GET
and PUT all run next to the bucket: the request pays the distance once, between the regional edge cache and the
shield, carrying the answer's bytes (Server-Timing `shield`).
"""

import base64
import hashlib
import re
import threading
import time
import uuid
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..config import Config
from ..errors import OriginalNotFound, ResizerError
from ..keys import percent_decode
from ..store.origin_model import LOCAL, OriginModel, ShapedOrigin
from ..store.origins import Origin
from .events import EventDict, http_headers, lambda_event, request_record, response_record
from .origin import OriginResponse
from .runtime import Handler, elapsed_ms
from .viewer import ViewerRequest

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*(\d+)", re.I)


class Answer:
    """What the distribution sends the viewer."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes = b"",
                 timings: dict[str, float] | None = None, cache: str = "Miss"):
        self.status, self.headers, self.body = status, headers, body
        self.timings = timings if timings is not None else {}
        self.cache = cache


def _ttl(headers: dict[str, str]) -> int:
    """Seconds CloudFront may keep a response: max-age/s-maxage; none for no-store/private/no-cache."""
    value = next((v for k, v in headers.items() if k.lower() == "cache-control"), "")
    if re.search(r"no-store|private|no-cache", value, re.I):
        return 0
    match = _MAX_AGE.search(value)
    return int(match.group(1)) if match else 0


class _Cache:
    """The edge cache: honours max-age, and evicts least recently used entries past a byte budget, as an edge
    location does, so a long-running emulator stays bounded in memory."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self.entries: OrderedDict[str, tuple[float, Answer]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Answer | None:
        with self.lock:
            expires, answer = self.entries.get(key, (0.0, None))
            if answer is None or expires <= time.monotonic():
                return None
            self.entries.move_to_end(key)
            return answer

    def put(self, key: str, answer: Answer, ttl: int) -> None:
        with self.lock:
            if key in self.entries:
                self.bytes -= len(self.entries.pop(key)[1].body)
            self.entries[key] = (time.monotonic() + ttl, answer)
            self.bytes += len(answer.body)
            while self.bytes > self.max_bytes and self.entries:
                self.bytes -= len(self.entries.popitem(last=False)[1][1].body)


class Distribution:
    """The CloudFront side: events, cache and origin fetch around the two handler functions it is given.
    `origin_model` is the distance from the edge to the origin, paid by each fetch."""

    def __init__(self, viewer_request: Handler, origin_response: Handler, origin: Origin,
                 cache_bytes: int = 256 * 2**20, origin_model: OriginModel = LOCAL, origin_shield: bool = False):
        self.viewer_request, self.origin_response, self.origin = viewer_request, origin_response, origin
        self.cache = _Cache(cache_bytes)
        self.origin_model = origin_model
        self.origin_shield = origin_shield  # the origin-facing side runs next to the bucket

    def handle(self, method: str, uri: str, querystring: str, headers: dict[str, str]) -> Answer:
        request_id = uuid.uuid4().hex
        request = request_record(uri, headers, method=method, querystring=querystring)
        t = time.perf_counter()
        result = self.viewer_request(lambda_event("viewer-request", request, request_id=request_id), None)
        timings = {"viewer-request": elapsed_ms(t)}
        if "status" in result:  # the function answered the viewer itself
            return self._generated(result, timings)
        request = result
        key = request["uri"]
        cached = self.cache.get(key)
        if cached:
            return Answer(cached.status, dict(cached.headers), cached.body, timings, "Hit")
        t = time.perf_counter()
        status, origin_headers, body = self._fetch(key)
        if not self.origin_shield:
            self.origin_model.wait(len(body))  # CloudFront's one GET, from the regional edge cache
        timings["origin"] = elapsed_ms(t)
        response = response_record(status, origin_headers)
        t = time.perf_counter()
        result = self.origin_response(lambda_event("origin-response", request, response, request_id=request_id),
                                      None)
        timings["origin-response"] = elapsed_ms(t)
        if result is response:  # passed through (headers maybe added): the origin's body goes on
            answer = Answer(int(result["status"]), http_headers(result["headers"]), body, timings)
        else:
            answer = self._generated(result, timings)
        if self.origin_shield:  # the one long hop: Origin Shield's answer travels to the regional edge cache
            t = time.perf_counter()
            self.origin_model.wait(len(answer.body))
            timings["shield"] = elapsed_ms(t)
        ttl = _ttl(answer.headers)
        if ttl and method == "GET":
            self.cache.put(key, answer, ttl)
        return answer

    def _fetch(self, key_uri: str) -> tuple[int, dict[str, str], bytes]:
        """CloudFront's GET to the origin: S3 answers 404 for a missing key when ListBucket is granted."""
        try:
            body, info = self.origin.get_object(percent_decode(key_uri)[1:])
        except OriginalNotFound:
            return 404, {"Content-Type": "application/xml"}, b""
        except ResizerError as exc:
            return (403 if exc.status == 400 else 502), {}, b""
        headers = {"Content-Type": info.content_type or "application/octet-stream"}
        if info.cache_control:
            headers["Cache-Control"] = info.cache_control
        return 200, headers, body

    def _generated(self, result: EventDict, timings: dict[str, float]) -> Answer:
        raw = result.get("body", "")
        body = base64.b64decode(raw) if result.get("bodyEncoding") == "base64" else raw.encode()
        return Answer(int(result["status"]), http_headers(result.get("headers", {})), body, timings)


class _Handler(BaseHTTPRequestHandler):
    server_version = "resizer-emulator"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, a keep-alive client's delayed ACK
    # holds the body back ~40 ms on every response.
    disable_nagle_algorithm = True
    distribution: Distribution

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        url = urlsplit(self.path)
        headers = {name: value for name, value in self.headers.items()}
        answer = self.distribution.handle(self.command, url.path or "/", url.query, headers)
        out = dict(answer.headers)
        if answer.status == 200 and answer.body:
            out.setdefault("ETag", '"' + hashlib.md5(answer.body, usedforsecurity=False).hexdigest() + '"')
        etag = out.get("ETag")
        status, body = answer.status, answer.body
        if etag and status == 200 and etag in [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]:
            status, body = 304, b""
        self.send_response(status)
        timing = [f"{k};dur={v}" for k, v in answer.timings.items()]
        for name, value in out.items():
            if name.lower() == "server-timing":  # the function's own entries (e.g. choose_quality) join ours
                timing.append(value)
            elif name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Cache", f"{answer.cache} from cloudfront")
        self.send_header("Server-Timing", ", ".join(timing))
        self.end_headers()
        if send_body and status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the handlers already log one JSON line per request
        pass


def make_server(origin: Origin, config: Config, host: str = "127.0.0.1", port: int = 0,
                cache_bytes: int = 256 * 2**20, origin_model: OriginModel = LOCAL,
                origin_shield: bool = False) -> ThreadingHTTPServer:
    """A ready (not yet serving) emulator on loopback with its own handlers; `server.server_address` has the port.
    With a far `origin_model`, CloudFront's fetch and the origin-response's GET and PUT each pay it; with
    `origin_shield` they are near the bucket and each request to the origin pays it once."""
    near = origin_model.is_local or origin_shield
    handler_origin = origin if near else ShapedOrigin(origin, origin_model)
    distribution = Distribution(ViewerRequest(config), OriginResponse(config, handler_origin), origin, cache_bytes,
                                origin_model, origin_shield)
    handler = type("Handler", (_Handler,), {"distribution": distribution})
    return ThreadingHTTPServer((host, port), handler)
