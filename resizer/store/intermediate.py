"""Intermediates: a cheaper source than a large original for the later misses of its variants.

The first miss of a variant of an original whose longer side is at least `min_ratio` x the intermediate's box
(config `[intermediate]`) also stores a copy of the original that fits that box — upright, sRGB, JPEG 4:4:4 at
`quality`, no metadata — at `keys.intermediate_key` (`<prefix>/~source/<intermediate settings id>/<original>`),
recording the original's ETag and upright size as origin metadata (`source-etag`, `source-size`). Every miss of
a variant whose box fits in the intermediate's (any format) reads the intermediate together with a HEAD of the
original, one round trip, and makes the variant from it when its `source-etag` is the original's current ETag:
a 1200 px JPEG instead of a 12 MP one. Otherwise (absent, stale, unreadable) the variant is made from the
original and the intermediate written again. Variants made from an intermediate are sized from the recorded
size (`pipeline.transform(fit_size=...)`), so they have the dimensions of those made from the original; their
pixels differ from them by less than the quality bar (docs/PERFORMANCE.md, "Intermediates").

The first miss makes its own variant from the intermediate's bytes as well, so a variant's bytes do not depend on
which miss made it. Originals with alpha get no intermediate (JPEG has none).
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from ..config import EncoderSettings, Intermediate, Limits, Variant
from ..image import pipeline
from ..image.backends import Backend
from .origins import ObjectInfo

SOURCE_ETAG = "source-etag"  # origin metadata: the ETag of the original it was made from
SOURCE_SIZE = "source-size"  # origin metadata: the original's upright size, `WxH`
MEDIA_TYPE = "image/jpeg"
CACHE_CONTROL = "no-store"  # never served; stated anyway, should the object ever reach a cache


class Made(NamedTuple):
    data: bytes
    fit_size: tuple[int, int]  # the original's upright size
    metadata: Mapping[str, str]


def as_variant(intermediate: Intermediate) -> Variant:
    """The intermediate as the pipeline makes it: a JPEG variant of its box, 4:4:4, baseline."""
    settings = EncoderSettings(quality=intermediate.quality, subsampling="4:4:4", progressive=False)
    return Variant("source", intermediate.size, ("jpeg",), MappingProxyType({"jpeg": settings}))


def covers(intermediate: Intermediate | None, variant: Variant) -> bool:
    """Whether misses of `variant` read the intermediate (its box fits inside the intermediate's)."""
    return intermediate is not None and variant.size <= intermediate.size


def eligible(intermediate: Intermediate, info: pipeline.SourceInfo) -> bool:
    """An original large enough to be worth one (and without alpha)."""
    return not info.has_alpha and max(info.oriented_size) >= intermediate.min_ratio * intermediate.size


def make(data: bytes, intermediate: Intermediate, etag: str, *, backend: Backend, limits: Limits) -> Made | None:
    """The intermediate of the original `data` (whose ETag is `etag`), or None when it gets none."""
    info = pipeline.inspect(data, backend=backend)
    if not eligible(intermediate, info):
        return None
    result = pipeline.transform(data, as_variant(intermediate), "jpeg", backend=backend, limits=limits)
    width, height = info.oriented_size
    return Made(result.data, (width, height), {SOURCE_ETAG: _ascii(etag), SOURCE_SIZE: f"{width}x{height}"})


def current_size(info: ObjectInfo, original: ObjectInfo) -> tuple[int, int] | None:
    """The original's upright size recorded by an intermediate made from the original as it is now; None when
    the original has changed since (or the metadata does not parse)."""
    if not original.etag or info.metadata.get(SOURCE_ETAG) != _ascii(original.etag):
        return None
    width, x, height = info.metadata.get(SOURCE_SIZE, "").partition("x")
    if not (x and width.isdigit() and height.isdigit()):
        return None
    return int(width), int(height)


def _ascii(etag: str) -> str:
    """An ETag as S3 metadata can hold it (printable ASCII; S3's own are)."""
    return etag if etag.isascii() and etag.isprintable() else ascii(etag)[1:-1]
