"""origin-response: on a miss for a derived key, make the variant, store it in S3 and answer with it.

    original key, 2xx             -> pass through + X-Content-Type-Options: nosniff; unless the origin's
                                     Content-Type is a raster image type we decode, served as an attachment
                                     (application/octet-stream, CSP sandbox): no stored HTML/SVG runs here
    original key, other statuses  -> pass through
    derived key, 2xx/304          -> pass through + Vary: Accept (a hit)
    derived key, 403/404          -> a miss: GET original, transform, PUT create-only, answer (or 302 when the
                                     generated response would pass CloudFront's 1 MB limit)
    ... of another settings id    -> (a deploy in progress: the viewer-request function of another config
                                     rewrote it) answered with this function's bytes, not stored, no-store;
                                     a variant this config lacks -> 503, no-store
    ... whose quality is searched -> (config.QualitySearch: too slow for a viewer) answered at the fixed quality,
                                     not stored, cached an hour (PROVISIONAL); `resizer warm` stores the
                                     searched bytes. Too big to answer: searched here, stored, 302
    derived key, other statuses   -> pass through (S3 trouble stays visible as itself)
    intermediate key, any status  -> 400, like any malformed derived key: an intermediate is never served

A miss of a variant an intermediate covers reads the intermediate and HEADs the original at once (one round
trip); from a current intermediate it makes the variant from it, else from the original, storing a new
intermediate beside the variant when the original is large enough (resizer/store/intermediate.py).

No exception escapes (CloudFront would answer its own 502 page): ResizerError -> its status, anything else
-> 500; always a short text body and a short cache lifetime.
"""

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from ..config import Config, load_baked
from ..errors import MalformedKey, OriginalNotFound, ResizerError, SettingsSkew
from ..image import pipeline
from ..image.backends import get_backend
from ..image.formats import FORMATS
from ..image.sizing import focal_point
from ..keys import intermediate_key, is_intermediate_key, percent_decode, public_path, split_derived_key, validate_key
from ..store import intermediate
from ..store.origins import ObjectInfo, Origin, S3Origin
from . import runtime
from .events import (
    ERROR_CACHE_CONTROL,
    MAX_ORIGIN_GENERATED_BYTES,
    CloudFrontEvent,
    CloudFrontResponse,
    EventDict,
    generated_response,
    response_size,
    text_response,
)

IMMUTABLE = "public, max-age=31536000, immutable"
NO_STORE = "no-store"
# A variant whose quality is searched offline (config.QualitySearch), answered at its fixed quality until
# `resizer warm` stores the searched bytes: cached an hour, so viewers get those within the hour after a warm.
PROVISIONAL = "public, max-age=3600"
MISS_STATUSES = (403, 404)  # 403: the bucket policy lacks s3:ListBucket, S3's way of saying "no such key"
# Originals served inline: the raster types we decode (none can carry script). SVG, HTML, XML, a missing or
# generic type (application/octet-stream) are downloaded instead, so the image domain hosts no stored XSS.
INLINE_TYPES = frozenset(f.media_type for f in FORMATS.values())
ATTACHMENT = {"Content-Type": "application/octet-stream", "Content-Disposition": "attachment",
              "Content-Security-Policy": "default-src 'none'; sandbox"}


class OriginResponse:
    """The origin-response function for one config and one origin: `OriginResponse(config, origin)(event, ctx)`.

    Building it loads the image library; `image_threads` (None: the library's default) sizes libvips' thread
    pool, which is process-wide by nature (one pool per process, whatever the number of handlers)."""

    def __init__(self, config: Config, origin: Origin, image_threads: int | None = None):
        self.config, self.origin = config, origin
        self.backend = get_backend(config.backend)
        if image_threads:
            self.backend.set_threads(image_threads)

    def __call__(self, event: EventDict, context: Any = None) -> EventDict:
        started = time.perf_counter()
        cf = CloudFrontEvent(event)
        response = cf.response
        if response is None:
            raise ValueError("not an origin-response event (no response)")
        record: dict[str, Any] = {"requestId": cf.request_id, "event": "origin-response", "uri": cf.request.uri,
                                  "originStatus": response.status}
        timings: dict[str, Any] = {}
        try:
            result = self._answer(cf.request.uri, response, timings, record)
        except ResizerError as exc:
            skew = isinstance(exc, SettingsSkew)  # a deploy on its way: not worth a minute in the cache
            result = text_response(exc.status, exc.reason, NO_STORE if skew else ERROR_CACHE_CONTROL)
            record.update(outcome="error", error=type(exc).__name__, detail=str(exc)[:300])
        except Exception as exc:  # noqa: BLE001 - see module docstring
            result = text_response(500, "Internal error")
            record.update(outcome="error", error=type(exc).__name__, detail=str(exc)[:300])
        record["status"] = int(result["status"])
        timings["total_ms"] = runtime.elapsed_ms(started)
        record["timings"] = timings
        runtime.log(record)
        return result

    def _answer(self, uri: str, response: CloudFrontResponse, timings: dict[str, Any],
                record: dict[str, Any]) -> EventDict:
        if not uri.startswith(f"/{self.config.derived_prefix}/"):
            record["outcome"] = "original"
            if response.status < 300:
                _serve_original_safely(response, record)
            return response.raw
        if is_intermediate_key(self.config.derived_prefix, unquote(uri)[1:]):
            raise MalformedKey("not a derived key")
        if response.status in MISS_STATUSES:
            return self._make_variant(percent_decode(uri)[1:], timings, record)
        if response.status < 300 or response.status == 304:
            response.headers.set("Vary", "Accept")
        record["outcome"] = "hit" if response.status < 400 else "origin-error"
        return response.raw

    def _make_variant(self, key: str, timings: dict[str, Any], record: dict[str, Any]) -> EventDict:
        config = self.config
        derived = split_derived_key(config.derived_prefix, key)
        if derived is None:
            raise MalformedKey("not a derived key")
        validate_key(key, config)
        if derived.variant not in config.variants:
            raise SettingsSkew(f"variant {derived.variant!r} is not in this function's config")
        own_id = config.settings_id(derived.variant, derived.format)
        variant = config.variant(derived.variant)
        ikey = intermediate_key(config, derived.original_key) if intermediate.covers(config.intermediate, variant) \
            else None
        store_intermediate: Callable[[], bool] | None = None
        t = time.perf_counter()
        if ikey is not None and derived.settings_id == own_id and len(ikey.encode()) <= config.limits.max_key_bytes:
            data, fit_size, store_intermediate, metadata = self._source(derived.original_key, ikey, timings, record)
        else:
            data, info = self.origin.get_object(derived.original_key, max_bytes=config.limits.max_source_bytes)
            fit_size, metadata = None, info.metadata
        timings["get_ms"] = runtime.elapsed_ms(t)
        focus, problem = focal_point(metadata)  # the original's own, read with it: no extra request
        if problem:
            record["warning"] = problem
        result = pipeline.transform(data, variant, derived.format, backend=self.backend, limits=config.limits,
                                    fit_size=fit_size, focus=focus)
        timings["transform"] = result.timings
        record.update(bytes=len(result.data), width=result.width, height=result.height)
        if result.quality is not None:
            record["quality"] = result.quality  # chosen for this image by its per-image rule
        if derived.settings_id != own_id:
            # Not the settings this id names: never stored, never cached under it (the next request, once this
            # edge runs the matching version, makes the real one).
            record.update(stored=False, settingsId=derived.settings_id, madeWith=own_id)
            return self._answer_with(result, NO_STORE, record, "skew") or text_response(
                503, SettingsSkew.reason, NO_STORE)
        if result.provisional:
            if store_intermediate:
                record["intermediateStored"] = store_intermediate()
                store_intermediate = None
            answer = self._answer_with(result, PROVISIONAL, record, "provisional")
            if answer:
                record["stored"] = False
                return answer
            # too big to answer: search here (slow, rare), store, and redirect as below
            result = pipeline.transform(data, variant, derived.format, backend=self.backend, limits=config.limits,
                                        fit_size=fit_size, search=True, focus=focus)
            timings["search"] = result.timings
            record.update(bytes=len(result.data), quality=result.quality)
        t = time.perf_counter()
        puts: list[Callable[[], bool]] = [
            lambda: self.origin.put_if_absent(key, result.data, result.media_type, IMMUTABLE)]
        stored = _together(puts + ([store_intermediate] if store_intermediate else []))
        record["stored"] = stored[0]
        if store_intermediate:
            record["intermediateStored"] = stored[1]
        timings["put_ms"] = runtime.elapsed_ms(t)
        answer = self._answer_with(result, IMMUTABLE, record, "generated")
        if answer:
            return answer
        # Too big to generate: the object is stored now, so send the viewer back through the cache to fetch it.
        record["outcome"] = "redirect"
        location = public_path(derived.variant, derived.original_key)
        return generated_response(302, b"", {"Location": location, "Cache-Control": NO_STORE})

    def _source(self, original_key: str, ikey: str, timings: dict[str, Any], record: dict[str, Any]
                ) -> tuple[bytes, tuple[int, int] | None, Callable[[], bool] | None, Mapping[str, str]]:
        """What to make a covered variant from: (bytes, the original's upright size when they are its
        intermediate, a write of a new intermediate to run beside the variant's PUT, if one was made, the
        original's metadata: its HEAD, made beside the intermediate's GET, carries its current focal point)."""
        config, inter = self.config, self.config.intermediate
        assert inter is not None
        max_bytes = config.limits.max_source_bytes

        def read_intermediate() -> tuple[bytes, ObjectInfo] | None:
            try:
                return self.origin.get_object(ikey, max_bytes=max_bytes)
            except ResizerError:  # absent (the first miss) or unreadable: the original will do
                return None

        got, head = _together([read_intermediate, lambda: self.origin.head(original_key)])
        if head is None:
            raise OriginalNotFound(original_key)
        if got is not None:
            fit_size = intermediate.current_size(got[1], head)
            if fit_size is not None:
                record["source"] = "intermediate"
                return got[0], fit_size, None, head.metadata
        data = self.origin.get(original_key, max_bytes=max_bytes)
        t = time.perf_counter()
        made = intermediate.make(data, inter, head.etag, backend=self.backend, limits=config.limits)
        timings["intermediate_ms"] = runtime.elapsed_ms(t)
        if made is None:
            record["source"] = "original"
            return data, None, None, head.metadata
        record["source"] = "original, new intermediate" if got is None else "original, intermediate replaced"
        stale = got is not None

        def store() -> bool:
            if stale:  # create-only writes cannot replace: delete first (a racing writer's copy is as current)
                self.origin.delete_many([ikey])
            return self.origin.put_if_absent(ikey, made.data, intermediate.MEDIA_TYPE, intermediate.CACHE_CONTROL,
                                             made.metadata)

        return made.data, made.fit_size, store, head.metadata

    @staticmethod
    def _answer_with(result: pipeline.Result, cache_control: str, record: dict[str, Any],
                     outcome: str) -> EventDict | None:
        """The variant as a generated response, or None when it would pass CloudFront's 1 MB limit."""
        if 4 * math.ceil(len(result.data) / 3) >= MAX_ORIGIN_GENERATED_BYTES:
            return None
        headers = {"Content-Type": result.media_type, "Cache-Control": cache_control, "Vary": "Accept"}
        if result.quality is not None:  # what the per-image rule chose, and what choosing cost (resizer serve shows it)
            choosing = round(result.timings.get("choose_quality", 0.0), 2)
            headers["Server-Timing"] = f'choose_quality;dur={choosing};desc="q{result.quality}"'
        answer = generated_response(200, result.data, headers)
        if response_size(answer) > MAX_ORIGIN_GENERATED_BYTES:
            return None
        record["outcome"] = outcome
        return answer


def lambda_handler(load_config: Callable[[], Config] = load_baked) -> runtime.Handler:
    """The zip's handler, built at init (Lambda's init phase, not the first request, pays for the config, the S3
    client and loading the image library): the baked config (`load_config`: tests pass another), its bucket,
    threads for the function's vCPUs."""

    def build() -> OriginResponse:
        config = load_config()
        memory_mb = runtime.lambda_memory_mb()
        return OriginResponse(config, S3Origin(config.bucket, config.region, config.derived_prefix),
                              image_threads=runtime.vcpu_share(memory_mb) if memory_mb else None)

    return runtime.Deferred(build, "origin-response")


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call's result, the calls run at once (one thread each but the first): origin requests wait on the
    network with the GIL released, so n of them take one round trip. The first exception is raised."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(1, len(calls))]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def _serve_original_safely(response: CloudFrontResponse, record: dict[str, Any]) -> None:
    response.headers.set("X-Content-Type-Options", "nosniff")
    media_type = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type not in INLINE_TYPES:
        for name, value in ATTACHMENT.items():
            response.headers.set(name, value)
        record.update(outcome="attachment", originType=media_type)
