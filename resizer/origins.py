"""Where originals are read and derived objects are written: a pair of local folders, or an S3 bucket.

Both have the same surface: `get`, `head`, `put_if_absent`, `delete`, `list`. Failures are ResizerErrors:
OriginalNotFound (404), OriginTimeout (504), OriginFailure (502).
"""

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import OriginalNotFound, OriginFailure, OriginTimeout, TooLarge
from .formats import FORMATS, sniff

# Bounded so that a miss (GET original + PUT variant, each at most ATTEMPTS x (CONNECT + READ)) ends inside
# the 30 s origin-response budget, image work included.
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
ATTEMPTS = 2
# A GET, body included, ends within this: the read timeout bounds each socket read, not a slow steady stream, and
# obstore resumes a broken body with a range request (a retry the attempt count does not see).
GET_BUDGET_S = ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S)
BODY_CHUNK = 1 << 18


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None
    cache_control: str | None


class LocalOrigin:
    """Originals in one folder, derived objects in another: derived key `<prefix>/rest` is `derived_dir/rest`.

    Used by the emulator, tests and `resizer purge --origin`. Content-Type comes from sniffing the file and
    Cache-Control is not stored: folders have no object headers.
    """

    def __init__(self, originals_dir: str | Path, derived_dir: str | Path, derived_prefix: str = "_variants"):
        self.originals_dir = Path(originals_dir).resolve()
        self.derived_dir = Path(derived_dir).resolve()
        self.prefix = derived_prefix + "/"
        if self.derived_dir == self.originals_dir or self.derived_dir.is_relative_to(self.originals_dir):
            raise ValueError("the derived folder must not be inside the originals folder")

    def _path(self, key: str) -> Path:
        if any(segment in ("", ".", "..") for segment in key.split("/")) or "\\" in key:
            raise OriginalNotFound(f"not a plain key: {key!r}")
        root, rest = (self.derived_dir, key[len(self.prefix):]) if key.startswith(self.prefix) else (
            self.originals_dir, key)
        path = (root / rest).resolve()
        if not rest or path == root or not path.is_relative_to(root):
            raise OriginalNotFound(f"key outside the origin: {key!r}")
        return path

    def _key(self, path: Path) -> str:
        if path.is_relative_to(self.derived_dir):
            return self.prefix + path.relative_to(self.derived_dir).as_posix()
        return path.relative_to(self.originals_dir).as_posix()

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        """The object's bytes; TooLarge (before reading) when it has more than `max_bytes`."""
        try:
            path = self._path(key)
            _check_size(key, path.stat().st_size, max_bytes)
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise OriginalNotFound(key) from None
        except OSError as exc:
            raise OriginFailure(f"{key}: {exc}") from None

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        with path.open("rb") as f:
            fmt = sniff(f.read(4096))
        media_type = FORMATS[fmt].media_type if fmt in FORMATS else None
        return ObjectInfo(key, path.stat().st_size, media_type, None)

    def put_if_absent(self, key: str, data: bytes, content_type: str, cache_control: str) -> bool:
        """Create-only write (hard link of a finished temp file): False when the key already exists."""
        import tempfile  # here, not at the top: the Lambda handler imports this module and never needs it

        if not key.startswith(self.prefix):
            raise OriginFailure(f"refusing to write outside the derived prefix: {key!r}")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix`, sorted."""
        keys = []
        for root in (self.originals_dir, self.derived_dir):
            if root.is_dir():
                keys += (self._key(p) for p in root.rglob("*")
                         if p.is_file() and not p.name.startswith(".tmp-"))
        yield from sorted(k for k in keys if k.startswith(prefix))


class S3Origin:
    """One bucket through obstore (Rust's object_store: signing, retries and timeouts in the extension module).

    Credentials, and the endpoint when `endpoint_url` is None, come from the environment (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN as Lambda sets them; AWS_ENDPOINT_URL_S3 for tests and emulators).
    The client is built here, once: the handler keeps one S3Origin per container.
    """

    def __init__(self, bucket: str, region: str, endpoint_url: str | None = None):
        from datetime import timedelta

        from obstore.store import S3Store

        if not bucket:
            raise ValueError("no bucket configured (resizer build --bucket NAME bakes it into the config)")
        self.bucket = bucket
        attempt = timedelta(seconds=CONNECT_TIMEOUT_S + READ_TIMEOUT_S)
        endpoint = {} if endpoint_url is None else {"aws_endpoint_url_s3": endpoint_url}  # beats the variable
        self.store = S3Store(
            bucket, region=region, **endpoint,
            client_options={
                "connect_timeout": timedelta(seconds=CONNECT_TIMEOUT_S),
                "read_timeout": timedelta(seconds=READ_TIMEOUT_S),  # each read, like botocore's
                "timeout": attempt,  # a whole attempt, body included: a drip feed ends too
                # plain http only when an endpoint override says so (moto, emulators); AWS's own is https
                "allow_http": (endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3", "")).startswith("http://"),
            },
            # a retry starts only within the first attempt's window: at most ATTEMPTS x attempt per call
            retry_config={"max_retries": ATTEMPTS - 1, "retry_timeout": attempt, "backoff": {
                "init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=1)}},
        )

    def _call(self, operation: str, key: str, *args, **kwargs):
        import obstore

        try:
            return getattr(obstore, operation)(self.store, key, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated, or re-raised as-is when not obstore's
            raise _translate(exc, f"S3 {operation} {key}", key) from None

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        """The object's bytes within GET_BUDGET_S; TooLarge from Content-Length, before the body is read."""
        deadline = time.monotonic() + GET_BUDGET_S
        response = self._call("get", key)
        _check_size(key, response.meta["size"], max_bytes)  # the body is dropped unread
        try:
            chunks, size = [], 0
            for chunk in response.stream(min_chunk_size=BODY_CHUNK):
                size += len(chunk)
                _check_size(key, size, max_bytes)  # a length the header did not announce
                if time.monotonic() > deadline:
                    raise OriginTimeout(f"S3 get {key}: body not read within {GET_BUDGET_S} s")
                chunks.append(chunk)
            return b"".join(chunks)
        except (TooLarge, OriginTimeout):
            raise
        except Exception as exc:  # noqa: BLE001 - see _call
            raise _translate(exc, f"S3 get {key} (body)", key) from None

    def head(self, key: str) -> ObjectInfo | None:
        """A HEAD request (obstore's own `head` returns no Content-Type or Cache-Control)."""
        try:
            r = self._call("get", key, options={"head": True})
        except OriginalNotFound:
            return None
        return ObjectInfo(key, r.meta["size"], r.attributes.get("Content-Type"), r.attributes.get("Cache-Control"))

    def put_if_absent(self, key: str, data: bytes, content_type: str, cache_control: str) -> bool:
        """PutObject with If-None-Match: * — False when another writer created the key first (412/409)."""
        try:
            self._call("put", key, data, mode="create", use_multipart=False,
                       attributes={"Content-Type": content_type, "Cache-Control": cache_control})
            return True
        except _Exists:
            return False

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix`, in S3's (lexicographic) order.

        object_store lists whole path segments: ask for the prefix's folder, keep the keys that match."""
        import obstore

        try:
            for batch in obstore.list(self.store, prefix=prefix.rpartition("/")[0] or None):
                yield from (item["path"] for item in batch if item["path"].startswith(prefix))
        except Exception as exc:  # noqa: BLE001 - see _call
            raise _translate(exc, f"S3 list {prefix!r}", prefix) from None


def _check_size(key: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise TooLarge(f"{key}: {size} bytes > {max_bytes}")


class _Exists(Exception):
    """Internal signal: a create-only write found the key taken."""


def _translate(exc: Exception, what: str, key: str) -> Exception:
    """obstore's exceptions -> ours: no such key -> OriginalNotFound, timeouts -> OriginTimeout, else 502.

    obstore has no timeout class: a timeout is a GenericError whose text (object_store's error, Debug-printed)
    carries reqwest's `kind: Timeout`. A missing bucket is a 404 too, told apart by S3's error code in the body.
    Anything that is not obstore's comes back unchanged (a bug, which the handler answers with a 500).
    """
    from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError

    text = str(exc)
    if isinstance(exc, FileNotFoundError):
        if "<Code>NoSuchBucket</Code>" in text:  # a broken deployment, not a missing original
            return OriginFailure(f"{what}: NoSuchBucket")
        return OriginalNotFound(key)
    if isinstance(exc, (AlreadyExistsError, PreconditionError)):
        return _Exists()
    if isinstance(exc, BaseError):
        if "kind: Timeout" in text or "TimedOut" in text:
            return OriginTimeout(f"{what}: timed out")
        return OriginFailure(f"{what}: {type(exc).__name__}: {text.partition(chr(10))[0][:200]}")
    return exc
