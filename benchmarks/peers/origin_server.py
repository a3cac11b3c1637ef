"""The originals over HTTP from a far bucket, for the peers' far-origin rows: each response waits the model's round
trip before its first byte, then the body goes out paced at the model's bandwidth. The model is the one `resizer
serve --origin-latency/--origin-bandwidth` charges (resizer.store.origin_model), so every engine pays the same distance.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from resizer.image.formats import FORMATS, sniff
from resizer.store.origin_model import OriginModel

CHUNK = 1 << 16  # pacing step: 1.6 ms of body at 40 MB/s


class _ShapedFiles(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as an S3 client keeps its connections
    disable_nagle_algorithm = True
    folder: Path
    model: OriginModel

    def do_GET(self):
        started = time.perf_counter()
        name = unquote(urlsplit(self.path).path).lstrip("/")
        path = self.folder / name
        data = path.read_bytes() if "/" not in name and path.is_file() else None
        self._sleep_until(started + self.model.delay(0))
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        fmt = sniff(data[:4096])
        self.send_response(200)
        self.send_header("Content-Type", FORMATS[fmt].media_type if fmt in FORMATS else "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for offset in range(0, len(data), CHUNK):
            chunk = data[offset:offset + CHUNK]
            self._sleep_until(started + self.model.delay(offset + len(chunk)))  # the chunk's last byte arrives
            self.wfile.write(chunk)

    @staticmethod
    def _sleep_until(moment: float) -> None:
        ahead = moment - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)

    def log_message(self, format, *args):
        pass


@contextmanager
def shaped_origin_server(folder: Path, model: OriginModel) -> Iterator[str]:
    """Serve the files directly in `folder` on a free loopback port, shaped by `model`; yields the base URL."""
    handler = type("ShapedFiles", (_ShapedFiles,), {"folder": folder, "model": model})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
