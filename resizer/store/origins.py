"""Where originals are read and derived objects are written: a pair of local folders, or an S3 bucket.

Every origin keeps one contract (`Origin`; tests/test_origin_contract.py runs the same suite against each):

    get(key, max_bytes)      the bytes; OriginalNotFound (404), TooLarge (413) before reading, OriginTimeout
                             (504), OriginFailure (502)
    head(key)                ObjectInfo (size, ETag, type, cache-control, stored metadata) or None
    get_object(key, max_bytes)  get and head in one request: (bytes, ObjectInfo); get's errors
    put_if_absent(...)       create-only write with metadata; False when the key exists
    delete_many(keys)        batched delete; keys that do not exist are no error
    list(prefix, after)      ObjectInfo of every key starting with `prefix`, in S3's order (UTF-8 bytes),
                             streamed page by page: memory does not grow with the number of keys

Every method refuses a key that is not plain (`keys.check_plain_key`: MalformedKey, 400). Writes and deletes
refuse keys outside `<derived_prefix>/` (OriginFailure): nothing a user stored is ever changed. Keys whose first
segment after the prefix starts with '.' are reserved for the origins' own bookkeeping and refused everywhere.
"""

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..errors import MalformedKey, OriginalNotFound, OriginFailure, OriginTimeout, TooLarge
from ..image.formats import FORMATS, sniff
from ..keys import check_plain_key

if TYPE_CHECKING:  # obstore itself is imported where a store is built or called
    from obstore.store import S3Config

# Bounded so that a miss (GET original + PUT variant, each at most ATTEMPTS x (CONNECT + READ)) ends inside
# the 30 s origin-response budget, image work included.
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
ATTEMPTS = 2
# A GET, body included, ends within this: the read timeout bounds each socket read, not a slow steady stream, and
# obstore resumes a broken body with a range request (a retry the attempt count does not see).
GET_BUDGET_S = ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S)
BODY_CHUNK = 1 << 18
LIST_PAGE = 1000  # S3's own page size for ListObjectsV2 and DeleteObjects
LOCAL_METADATA_DIR = ".resizer-meta"  # a LocalOrigin's sidecar metadata, inside the derived folder
# An original's user metadata in a folder (what S3 keeps as `x-amz-meta-NAME`): `photo.jpg.meta.json` beside
# `photo.jpg`, a JSON object of strings, e.g. {"focus": "0.62,0.31"}. Never listed as an original.
ORIGINAL_METADATA_SUFFIX = ".meta.json"


class ObjectInfo(NamedTuple):
    key: str
    size: int
    etag: str  # opaque: changes whenever the object does
    content_type: str | None = None  # None from a listing (S3 lists no headers)
    cache_control: str | None = None
    metadata: Mapping[str, str] = {}  # what put_if_absent stored with it (never in a listing)


class Origin(Protocol):
    """The storage contract the handlers, the emulator, `purge` and `warm` rely on (module docstring)."""

    derived_prefix: str

    def get(self, key: str, max_bytes: int | None = None) -> bytes: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def get_object(self, key: str, max_bytes: int | None = None) -> tuple[bytes, ObjectInfo]: ...

    def put_if_absent(self, key: str, data: bytes, content_type: str, cache_control: str,
                      metadata: Mapping[str, str] | None = None) -> bool: ...

    def delete_many(self, keys: Iterable[str]) -> int: ...

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]: ...


def check_derived_key(derived_prefix: str, key: str) -> None:
    """Refuse a write or delete outside the derived prefix, or into its reserved bookkeeping segments."""
    check_plain_key(key)
    head, _, rest = key.partition("/")
    if head != derived_prefix or not rest:
        raise OriginFailure(f"refusing to change a key outside the derived prefix: {key!r}")
    _check_not_reserved(derived_prefix, key)


def _check_not_reserved(derived_prefix: str, key: str) -> None:
    parts = key.split("/", 2)
    if len(parts) > 1 and parts[0] == derived_prefix and parts[1].startswith("."):
        raise MalformedKey(f"reserved key: {key!r}")


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """S3 user metadata travels as `x-amz-meta-NAME` headers: lower-case names, printable ASCII values."""
    checked = {}
    for name, value in (metadata or {}).items():
        if not name or name != name.lower() or not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
            raise ValueError(f"metadata name must be lower-case ASCII letters, digits or '-': {name!r}")
        if not (value.isascii() and value.isprintable()):
            raise ValueError(f"metadata value must be printable ASCII: {name}={value!r}")
        checked[name] = value
    return checked


def _check_size(key: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise TooLarge(f"{key}: {size} bytes > {max_bytes}")


def _batches(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class LocalOrigin:
    """Originals in one folder, derived objects in another: derived key `<prefix>/rest` is `derived_dir/rest`.

    Used by the emulator, tests, `purge` and `warm` on folders. Content-Type comes from sniffing the file; what a
    bucket keeps as object headers (Cache-Control, metadata) is a JSON sidecar under `derived_dir/.resizer-meta/`.
    """

    def __init__(self, originals_dir: str | Path, derived_dir: str | Path, derived_prefix: str = "_variants"):
        self.originals_dir = Path(originals_dir).resolve()
        self.derived_dir = Path(derived_dir).resolve()
        self.derived_prefix = derived_prefix
        self.prefix = derived_prefix + "/"
        if self.derived_dir == self.originals_dir or self.derived_dir.is_relative_to(self.originals_dir):
            raise ValueError("the derived folder must not be inside the originals folder")

    def _path(self, key: str) -> Path:
        check_plain_key(key)
        _check_not_reserved(self.derived_prefix, key)
        root, rest = (self.derived_dir, key[len(self.prefix):]) if key.startswith(self.prefix) else (
            self.originals_dir, key)
        path = (root / rest).resolve()
        if not rest or path == root or not path.is_relative_to(root):  # a symlink leading out
            raise OriginalNotFound(f"key outside the origin: {key!r}")
        return path

    def _sidecar(self, key: str) -> Path:
        return self.derived_dir / LOCAL_METADATA_DIR / (key[len(self.prefix):] + ".json")

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        """The object's bytes; TooLarge (before reading) when it has more than `max_bytes`."""
        path = self._path(key)
        try:
            _check_size(key, path.stat().st_size, max_bytes)
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise OriginalNotFound(key) from None
        except OSError as exc:
            raise OriginFailure(f"{key}: {exc}") from None

    def get_object(self, key: str, max_bytes: int | None = None) -> tuple[bytes, ObjectInfo]:
        data = self.get(key, max_bytes)
        info = self.head(key)
        if info is None:  # deleted between the two: as if the GET had come second
            raise OriginalNotFound(key)
        return data, info

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
            if not path.is_file():
                return None
            with path.open("rb") as f:
                fmt = sniff(f.read(4096))
        except (FileNotFoundError, NotADirectoryError):
            return None
        stored: dict[str, Any] = {}
        if key.startswith(self.prefix):
            try:
                stored = json.loads(self._sidecar(key).read_text(encoding="utf-8"))
            except FileNotFoundError:
                pass
        else:
            stored = {"metadata": original_metadata(path)}
        media_type = stored.get("content_type") or (FORMATS[fmt].media_type if fmt in FORMATS else None)
        return ObjectInfo(key, stat.st_size, _local_etag(stat), media_type, stored.get("cache_control"),
                          stored.get("metadata", {}))

    def put_if_absent(self, key: str, data: bytes, content_type: str, cache_control: str,
                      metadata: Mapping[str, str] | None = None) -> bool:
        """Create-only write (hard link of a finished temp file): False when the key already exists. The sidecar
        is written only by the writer that created the object, so a loser never overwrites the winner's."""
        import tempfile  # here, not at the top: the Lambda handler imports this module and never needs it

        check_derived_key(self.derived_prefix, key)
        checked = _check_metadata(metadata)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        sidecar = self._sidecar(key)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(json.dumps({"content_type": content_type, "cache_control": cache_control,
                                       "metadata": checked}), encoding="utf-8")
        return True

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete each key (and its sidecar); returns how many existed."""
        deleted = 0
        for key in keys:
            check_derived_key(self.derived_prefix, key)
            path = self._path(key)
            if path.is_file():
                path.unlink()
                deleted += 1
            self._sidecar(key).unlink(missing_ok=True)
        return deleted

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Keys starting with `prefix`, after `start_after`, in S3's order, one directory in memory at a time.

        A directory's entries sort by name, a sub-directory's as `name/`: then a depth-first walk yields full
        keys in byte order, because every key under `name/` shares that prefix and no sibling's key does. The
        originals folder's own `<prefix>/` (shadowed by the derived keys) and the sidecars are not listed."""
        import heapq

        after = start_after or ""
        walks = [self._walk(self.originals_dir, "", prefix, after, skip=self.prefix)]
        if prefix.startswith(self.prefix) or self.prefix.startswith(prefix):
            walks.append(self._walk(self.derived_dir, self.prefix, prefix, after,
                                    skip=self.prefix + LOCAL_METADATA_DIR + "/"))
        yield from heapq.merge(*walks, key=lambda info: info.key.encode("utf-8"))

    def _walk(self, folder: Path, base: str, prefix: str, after: str, skip: str) -> Iterator[ObjectInfo]:
        try:
            entries = [(e.name + "/" if e.is_dir(follow_symlinks=False) else e.name, e) for e in os.scandir(folder)
                       if not e.name.startswith(".tmp-")]
        except (FileNotFoundError, NotADirectoryError):
            return
        entries.sort(key=lambda item: item[0].encode("utf-8"))
        for name, entry in entries:
            key = base + name
            if key.endswith("/"):
                inside = key.startswith(prefix) or prefix.startswith(key)
                # skip a folder whose every key sorts before `after`
                if inside and key != skip and (after < key or after.startswith(key)):
                    yield from self._walk(Path(entry.path), key, prefix, after, skip)
            elif key.startswith(prefix) and key > after and not key.endswith(ORIGINAL_METADATA_SUFFIX):
                stat = entry.stat()
                yield ObjectInfo(key, stat.st_size, _local_etag(stat))


def original_metadata(path: Path) -> dict[str, str]:
    """The user metadata kept beside an original file (ORIGINAL_METADATA_SUFFIX); {} when there is none, and
    when it is not a JSON object of strings (logged: bad metadata never fails a request)."""
    import logging  # here: the Lambda (S3 only) never reads a sidecar, and logging costs its cold start 10 ms

    sidecar = path.with_name(path.name + ORIGINAL_METADATA_SUFFIX)
    try:
        stored = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logging.getLogger(__name__).warning("%s ignored: %s", sidecar, exc)
        return {}
    if not isinstance(stored, dict) or not all(isinstance(v, str) for v in stored.values()):
        logging.getLogger(__name__).warning("%s ignored: not a JSON object of strings", sidecar)
        return {}
    return {str(k).lower(): v for k, v in stored.items()}


def _local_etag(stat: os.stat_result) -> str:
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


class S3Origin:
    """One bucket through obstore (Rust's object_store: signing, retries and timeouts in the extension module).

    Credentials, and the endpoint when `endpoint_url` is None, come from the environment (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN as Lambda sets them; AWS_ENDPOINT_URL_S3 for tests and emulators).
    The client is built here, once: the handler keeps one S3Origin per container.
    """

    def __init__(self, bucket: str, region: str, derived_prefix: str = "_variants", endpoint_url: str | None = None):
        from datetime import timedelta

        from obstore.store import S3Store

        if not bucket:
            raise ValueError("no bucket configured (resizer build --bucket NAME bakes it into the config)")
        self.bucket = bucket
        self.derived_prefix = derived_prefix
        attempt = timedelta(seconds=CONNECT_TIMEOUT_S + READ_TIMEOUT_S)
        endpoint: S3Config = {} if endpoint_url is None else {"aws_endpoint_url_s3": endpoint_url}  # beats the variable
        self.store = S3Store(
            bucket, region=region, config=endpoint,  # `config`, not `**endpoint`: S3Config has a `bucket` key too
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

    def _call(self, operation: str, key: str, *args: Any, **kwargs: Any) -> Any:
        import obstore

        check_plain_key(key)
        _check_not_reserved(self.derived_prefix, key)
        try:
            return getattr(obstore, operation)(self.store, key, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated, or re-raised as-is when not obstore's
            raise _translate(exc, f"S3 {operation} {key}", key) from None

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        """The object's bytes within GET_BUDGET_S; TooLarge from Content-Length, before the body is read."""
        return self.get_object(key, max_bytes)[0]

    def get_object(self, key: str, max_bytes: int | None = None) -> tuple[bytes, ObjectInfo]:
        """`get`, with the response's headers as `head` reads them (one request)."""
        deadline = time.monotonic() + GET_BUDGET_S
        response = self._call("get", key)
        info = _info(key, response)
        _check_size(key, response.meta["size"], max_bytes)  # the body is dropped unread
        try:
            chunks, size = [], 0
            for chunk in response.stream(min_chunk_size=BODY_CHUNK):
                size += len(chunk)
                _check_size(key, size, max_bytes)  # a length the header did not announce
                if time.monotonic() > deadline:
                    raise OriginTimeout(f"S3 get {key}: body not read within {GET_BUDGET_S} s")
                chunks.append(chunk)
            return b"".join(chunks), info
        except (TooLarge, OriginTimeout):
            raise
        except Exception as exc:  # noqa: BLE001 - see _call
            raise _translate(exc, f"S3 get {key} (body)", key) from None

    def head(self, key: str) -> ObjectInfo | None:
        """A HEAD request (obstore's own `head` returns no Content-Type, Cache-Control or metadata)."""
        try:
            r = self._call("get", key, options={"head": True})
        except OriginalNotFound:
            return None
        return _info(key, r)

    def put_if_absent(self, key: str, data: bytes, content_type: str, cache_control: str,
                      metadata: Mapping[str, str] | None = None) -> bool:
        """PutObject with If-None-Match: * — False when another writer created the key first (412/409)."""
        check_derived_key(self.derived_prefix, key)
        attributes = {**_check_metadata(metadata), "Content-Type": content_type, "Cache-Control": cache_control}
        try:
            self._call("put", key, data, mode="create", use_multipart=False, attributes=attributes)
            return True
        except _Exists:
            return False

    def delete_many(self, keys: Iterable[str]) -> int:
        """DeleteObjects, LIST_PAGE keys a request; returns how many keys were asked for (S3 does not say which
        existed)."""
        import obstore

        count = 0
        for batch in _batches(keys, LIST_PAGE):
            for key in batch:
                check_derived_key(self.derived_prefix, key)
            try:
                obstore.delete(self.store, batch)
            except Exception as exc:  # noqa: BLE001 - see _call
                raise _translate(exc, f"S3 delete of {len(batch)} keys", batch[0]) from None
            count += len(batch)
        return count

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Keys starting with `prefix`, after `start_after`, in S3's (byte) order, LIST_PAGE keys a request.

        object_store lists whole path segments: ask for the prefix's folder, keep the keys that match, stop at
        the first key past them."""
        import obstore

        folder = prefix.rpartition("/")[0] or None
        after = start_after or ""
        try:  # object_store drops a trailing '/' from the offset: compare again here
            for page in obstore.list(self.store, prefix=folder, offset=start_after, chunk_size=LIST_PAGE):
                for item in page:
                    key = item["path"]
                    if key <= after:
                        continue
                    if key.startswith(prefix):
                        yield ObjectInfo(key, item["size"], item["e_tag"] or "")
                    elif key > prefix:
                        return
        except Exception as exc:  # noqa: BLE001 - see _call
            raise _translate(exc, f"S3 list {prefix!r}", prefix) from None


def _info(key: str, response: Any) -> ObjectInfo:
    """ObjectInfo from an obstore GET (or HEAD) response's meta and attributes."""
    attributes = response.attributes
    metadata = {name: value for name, value in attributes.items() if name not in _HEADER_ATTRIBUTES}
    return ObjectInfo(key, response.meta["size"], response.meta["e_tag"] or "", attributes.get("Content-Type"),
                      attributes.get("Cache-Control"), metadata)


# What obstore reports among an object's attributes that is a header, not user metadata.
_HEADER_ATTRIBUTES = frozenset({"Content-Type", "Cache-Control", "Content-Disposition", "Content-Encoding",
                                "Content-Language", "Storage-Class"})


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
