"""origin-response: on a miss for a derived key, make the variant, store it in S3 and answer with it.

    original key, 2xx             -> pass through + X-Content-Type-Options: nosniff; unless the origin's
                                     Content-Type is a raster image type we decode, served as an attachment
                                     (application/octet-stream, CSP sandbox): no stored HTML/SVG runs here
    original key, other statuses  -> pass through
    derived key, 2xx/304          -> pass through + Vary: Accept (a hit)
    derived key, 403/404          -> a miss: GET original, transform, PUT create-only, answer (or 302 when the
                                     generated response would pass CloudFront's 1 MB limit)
    derived key, other statuses   -> pass through (S3 trouble stays visible as itself)

No exception escapes (CloudFront would answer its own 502 page): ResizerError -> its status, anything else
-> 500; always a short text body and a short cache lifetime.
"""

import functools
import math
import time

from .. import pipeline
from ..backends import get_backend
from ..errors import ResizerError
from ..formats import FORMATS
from ..keys import parse_derived_key, percent_decode, public_path
from ..origins import S3Origin
from . import runtime
from .events import (
    MAX_ORIGIN_GENERATED_BYTES,
    CloudFrontEvent,
    generated_response,
    response_size,
    text_response,
)

IMMUTABLE = "public, max-age=31536000, immutable"
MISS_STATUSES = (403, 404)  # 403: the bucket policy lacks s3:ListBucket, S3's way of saying "no such key"
# Originals served inline: the raster types we decode (none can carry script). SVG, HTML, XML, a missing or
# generic type (application/octet-stream) are downloaded instead, so the image domain hosts no stored XSS.
INLINE_TYPES = frozenset(f.media_type for f in FORMATS.values())
ATTACHMENT = {"Content-Type": "application/octet-stream", "Content-Disposition": "attachment",
              "Content-Security-Policy": "default-src 'none'; sandbox"}


@functools.cache
def s3_origin(bucket: str, region: str) -> S3Origin:
    """One client per container (construction costs more than a small request)."""
    return S3Origin(bucket, region)


_installed_origin: list = []


def install_origin(origin) -> None:
    """Use `origin` (a LocalOrigin or an S3Origin on another endpoint) instead of the config's bucket: the emulator."""
    _installed_origin[:] = [origin]


def current_origin(config):
    return _installed_origin[-1] if _installed_origin else s3_origin(config.bucket, config.region)


def warm() -> None:
    """Do the per-container work (config, S3 client, image library) during init, not in the first request.

    Called by the zip's entry module. A failure here is left for the first request to meet and answer.
    """
    try:
        config = runtime.packaged_config()
        current_origin(config)
        size_threads(config.backend, runtime.lambda_memory_mb())
    except Exception:  # noqa: BLE001, S110 - see docstring
        pass


@functools.cache
def size_threads(backend: str, memory_mb: int | None) -> None:
    """Load the backend and, inside Lambda, give it as many threads as the function has vCPUs (once per container
    and memory setting). Outside Lambda (`resizer serve`) the library's own default stands."""
    image_library = get_backend(backend)
    if memory_mb:
        image_library.set_threads(runtime.vcpu_share(memory_mb))


def origin_response(event: dict, context=None) -> dict:
    started = time.perf_counter()
    cf = CloudFrontEvent(event)
    response = cf.response
    record = {"requestId": cf.request_id, "event": "origin-response", "uri": cf.request.uri,
              "originStatus": response.status}
    timings: dict = {}
    try:
        config = runtime.packaged_config()
        if not cf.request.uri.startswith(f"/{config.derived_prefix}/"):
            record["outcome"] = "original"
            if response.status < 300:
                _serve_original_safely(response, record)
            result = response.raw
        elif response.status in MISS_STATUSES:
            size_threads(config.backend, runtime.lambda_memory_mb(context))
            result = _make_variant(config, percent_decode(cf.request.uri)[1:], timings, record)
        else:
            if response.status < 300 or response.status == 304:
                response.headers.set("Vary", "Accept")
            result, record["outcome"] = response.raw, "hit" if response.status < 400 else "origin-error"
    except ResizerError as exc:
        result = text_response(exc.status, exc.reason)
        record.update(outcome="error", error=type(exc).__name__, detail=str(exc)[:300])
    except Exception as exc:  # noqa: BLE001 - see module docstring
        result = text_response(500, "Internal error")
        record.update(outcome="error", error=type(exc).__name__, detail=str(exc)[:300])
    record["status"] = int(result["status"])
    timings["total_ms"] = _ms(started)
    record["timings"] = timings
    runtime.log(record)
    return result


def _serve_original_safely(response, record: dict) -> None:
    response.headers.set("X-Content-Type-Options", "nosniff")
    media_type = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type not in INLINE_TYPES:
        for name, value in ATTACHMENT.items():
            response.headers.set(name, value)
        record.update(outcome="attachment", originType=media_type)


def _make_variant(config, key: str, timings: dict, record: dict) -> dict:
    derived = parse_derived_key(config, key)
    origin = current_origin(config)
    t = time.perf_counter()
    data = origin.get(derived.original_key, max_bytes=config.limits.max_source_bytes)
    timings["get_ms"] = _ms(t)
    result = pipeline.transform(data, config.variant(derived.variant), derived.format,
                                backend=config.backend, limits=config.limits)
    timings["transform"] = result.timings
    t = time.perf_counter()
    record["stored"] = origin.put_if_absent(key, result.data, result.media_type, IMMUTABLE)
    timings["put_ms"] = _ms(t)
    record.update(bytes=len(result.data), width=result.width, height=result.height)
    if 4 * math.ceil(len(result.data) / 3) < MAX_ORIGIN_GENERATED_BYTES:
        answer = generated_response(200, result.data, {
            "Content-Type": result.media_type, "Cache-Control": IMMUTABLE, "Vary": "Accept",
        })
        if response_size(answer) <= MAX_ORIGIN_GENERATED_BYTES:
            record["outcome"] = "generated"
            return answer
    # Too big to generate: the object is stored now, so send the viewer back through the cache to fetch it.
    record["outcome"] = "redirect"
    location = public_path(config, derived)
    return generated_response(302, b"", {"Location": location, "Cache-Control": "no-store"})


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
