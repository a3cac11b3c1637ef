"""The transform pipeline: bytes of an original in, an encoded variant out, as a list of named steps.

Read it top to bottom like imgproxy's processing.go. Source steps run once per original over a `Source`:

    sniff         real format from the bytes; unknown or refused (svg, heic, bmp, ...) -> UnsupportedType 415
    check_bytes   size of the original -> TooLarge 413
    probe         the header only: size, orientation, frames, ...
    check_pixels  width×height × frames considered (the first max_frames) -> TooLarge 413, before any decode
    load          first frame only, JPEG shrink-on-load to no less than twice the largest box needed
    auto_orient   EXIF orientation applied
    to_srgb       8-bit sRGB (ICC profiles, CMYK, 16-bit, grey, palette), alpha kept
    keep_decoded  (render_each, when several outputs read one decode) the decode computed into memory

Variant steps run once per (variant, format) over an `Output`:

    resize        to exactly the variant's sizing.plan for the upright source size -- the same on both backends;
                  in a batch, from the previous (next larger) variant's pixels rather than the decode: see
                  render_variants
    crop          (fit = "cover") the plan's output size cut from the resized pixels at the variant's gravity:
                  centre, the original's focal point (`focus`, else the variant's fallback), or where libvips'
                  smartcrop finds attention or entropy (on the resized pixels, computed once for it)
    render        the resized pixels computed into memory (a no-op for Pillow): libvips finishes decoding and
                  frees the decoder's buffers before the encoder allocates its own, so their peaks do not add up
    choose_format AVIF under 16 px on a side becomes PNG (alpha) or JPEG, as imgproxy does
    flatten       alpha composited on white when the written format has none (JPEG)
    choose_quality only with a per-image rule (config.PerImageQuality): encode at the probe quality, score it
                  against these pixels (quality_probe.fast_score), encode once more at the quality the rule
                  predicts when it differs (verified by a second score when lower); its encode is the output.
                  With a quality search (config.QualitySearch): bisect its ladder, scoring each encode, when
                  the caller searches (warm, variants); else mark the output provisional (the edge)
    encode        the variant's encoder settings, no metadata (skipped when choose_quality encoded)

Any library error on the way is bad input: CorruptImage (422). Nothing but ResizerError leaves for bad bytes.
Timings are per step; libvips is lazy, so its decoding and resampling are paid where pixels are first needed
(a rotating auto_orient, or render): compare backends on totals, not step by step.
"""

import math
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any, NamedTuple

from ..config import Limits, PerImageQuality, QualitySearch, Variant
from ..errors import CorruptImage, ResizerError, TooLarge, UnsupportedType
from .backends import Backend, SourceInfo, get_backend
from .formats import AVIF_MIN_SIDE, AVIF_SMALL_FALLBACK, FORMATS, OUTPUT_FORMATS
from .formats import sniff as sniff_format
from .sizing import SMART_GRAVITIES, Plan, crop_origin, source_window

__all__ = ["Result", "SourceInfo", "inspect", "render_each", "render_variants", "transform"]

DEFAULT_LIMITS = Limits()


class Result(NamedTuple):
    data: bytes
    format: str  # the format written (differs from the requested one only for the small-AVIF fallback)
    media_type: str
    width: int
    height: int
    # step name -> milliseconds; the source steps' entries are shared by every variant of a batch
    timings: dict[str, float]
    quality: int | None = None  # the quality a per-image rule chose (None: the configured one)
    provisional: bool = False  # the fixed quality standing in for a search not run (not to be stored)
    # the part of the upright original the output shows (left, top, right, bottom, in its pixels)
    window: tuple[float, float, float, float] | None = None


class Source:
    """Context of the source steps: one original, decoded once. (A plain class: `dataclasses` would pull
    `inspect` and `ast` into the Lambda's cold start.)"""

    __slots__ = ("data", "backend", "limits", "variants", "format", "info", "image", "timings", "fit_size",
                 "search", "focus")

    def __init__(self, data: bytes, backend: Backend, limits: Limits, variants: Sequence[Variant],
                 fit_size: tuple[int, int] | None = None, search: bool = False,
                 focus: tuple[float, float] | None = None):
        self.data, self.backend, self.limits = data, backend, limits
        self.search = search  # run quality searches (offline callers), else answer them provisionally
        # the upright size outputs are sized from (None: this source's): an intermediate's original's
        self.fit_size = fit_size
        self.variants = variants  # those wanted from this decode (the largest sets the JPEG shrink-on-load)
        self.focus = focus  # the original's focal point (x, y fractions of the upright image), if it has one
        self.format = ""
        self.info: SourceInfo | None = None
        self.image: Any = None
        self.timings: dict[str, float] = {}

    @property
    def probed(self) -> SourceInfo:
        """`info`, which the probe step reads before any step that needs it."""
        assert self.info is not None, "the probe step runs first"
        return self.info

    def plan(self, variant: Variant) -> Plan:
        """How `variant` is made from this source: sized from the original's upright size."""
        return variant.plan(*(self.fit_size or self.probed.oriented_size))


class Output:
    """Context of the variant steps: one (variant, format) cut from a decoded Source."""

    __slots__ = ("source", "variant", "format", "image", "rendered", "width", "height", "data", "timings",
                 "quality", "provisional", "plan", "window")

    def __init__(self, source: Source, variant: Variant, fmt: str, image: Any):
        self.source, self.variant, self.image = source, variant, image
        self.format = fmt  # requested, then the one actually written
        self.rendered: Any = None  # the resized pixels, before flatten: what a smaller variant resizes from
        self.width = self.height = 0
        self.data = b""
        self.timings: dict[str, float] = {}
        self.quality: int | None = None  # chosen per image (choose_quality)
        self.provisional = False
        self.plan: Plan | None = None  # set by resize
        self.window: tuple[float, float, float, float] | None = None  # set by crop


# --- source steps -------------------------------------------------------------------------------------------

def sniff(src: Source) -> None:
    name = sniff_format(src.data)
    if name not in FORMATS:
        raise UnsupportedType(f"source format {name or 'unknown'}")
    src.format = name


def check_bytes(src: Source) -> None:
    if len(src.data) > src.limits.max_source_bytes:
        raise TooLarge(f"{len(src.data)} bytes > {src.limits.max_source_bytes}")


def probe(src: Source) -> None:
    src.info = src.backend.probe(src.data, src.format)


def check_pixels(src: Source) -> None:
    info, limits = src.probed, src.limits
    pixels = info.width * info.height * min(info.frames, limits.max_frames)
    if pixels > limits.max_source_pixels:
        raise TooLarge(f"{info.width}x{info.height}, {pixels} pixels > {limits.max_source_pixels}")


def load(src: Source) -> None:
    src.image = src.backend.load(src.data, src.probed, shrink_on_load(src.probed, src.variants))


def auto_orient(src: Source) -> None:
    src.image = src.backend.orient(src.image, src.probed.orientation)


def to_srgb(src: Source) -> None:
    src.image = src.backend.to_srgb(src.image)


HEADER_STEPS = (sniff, check_bytes, probe, check_pixels)
DECODE_STEPS = (load, auto_orient, to_srgb)
SOURCE_STEPS = HEADER_STEPS + DECODE_STEPS


def keep_decoded(src: Source) -> None:
    """The decode computed into memory, for several outputs to read (a sequential libvips load reads once)."""
    src.image = src.backend.materialize(src.image)


# --- variant steps ------------------------------------------------------------------------------------------

def resize(out: Output) -> None:
    backend = out.source.backend
    out.plan = plan = out.source.plan(out.variant)
    out.width, out.height = plan.size
    # Sizes come from the source's header, never from the (shrunk-on-load) image: both backends agree.
    if backend.size(out.image) != plan.resized:
        out.image = backend.resize(out.image, *plan.resized)


def crop(out: Output) -> None:
    backend, plan, geometry = out.source.backend, out.plan, out.variant.shape()
    assert plan is not None, "resize runs first"
    left = top = 0
    if plan.crops:
        gravity = geometry.gravity
        if gravity == "focus" and out.source.focus is None:
            gravity = geometry.fallback
        if gravity in SMART_GRAVITIES:
            out.image = backend.materialize(out.image)  # the search reads every pixel; the cut reads them again
            left, top = backend.find_crop(out.image, out.width, out.height, gravity)
        else:
            centre = out.source.focus if gravity == "focus" and out.source.focus else (0.5, 0.5)
            left, top = crop_origin(plan.resized, plan.size, centre)
        out.image = backend.crop(out.image, left, top, out.width, out.height)
    out.window = source_window(plan, left, top)


def choose_format(out: Output) -> None:
    if out.format == "avif" and min(out.width, out.height) < AVIF_MIN_SIDE:
        with_alpha, without_alpha = AVIF_SMALL_FALLBACK
        out.format = with_alpha if out.source.backend.has_alpha(out.image) else without_alpha


def flatten(out: Output) -> None:
    backend = out.source.backend
    if not FORMATS[out.format].has_alpha and backend.has_alpha(out.image):
        out.image = backend.flatten(out.image)


def render(out: Output) -> None:
    out.image = out.rendered = out.source.backend.materialize(out.image)


def choose_quality(out: Output) -> None:
    settings = out.variant.encoder(out.format)
    if settings.search is not None and not out.source.search:
        out.provisional = True  # encoded at the fixed quality by `encode`
        return
    if settings.per_image is None and settings.search is None:
        return
    from .quality_probe import fast_score  # here: only a per-image rule needs the score

    backend = out.source.backend

    def encoded_at(quality: int) -> bytes:
        return backend.encode(out.image, out.format, settings._replace(quality=quality, per_image=None, search=None))

    def score(data: bytes) -> float:
        return fast_score(backend, out.image, data)

    if settings.search is not None:
        out.quality, out.data = _search(settings.search, encoded_at, score)
    elif settings.per_image is not None:
        out.quality, out.data = _probe_verify(settings.per_image, encoded_at, score)


def _probe_verify(rule: PerImageQuality, encoded_at: Callable[[int], bytes],
                  score: Callable[[bytes], float]) -> tuple[int, bytes]:
    """(quality, bytes): encode at the probe, read the quality off the rule's map, and serve a lower one only
    if it scores at least the threshold (a higher one unverified)."""
    data = encoded_at(rule.probe)
    quality = rule.predicted(score(data))
    if quality < rule.probe:
        lower = encoded_at(quality)
        if score(lower) >= rule.threshold:
            return quality, lower
        return rule.probe, data  # the prediction fell short: the probe is served
    if quality > rule.probe:
        return quality, encoded_at(quality)  # the image needs more than the probe: served unverified
    return quality, data


def _search(search: QualitySearch, encoded_at: Callable[[int], bytes],
            score: Callable[[bytes], float]) -> tuple[int, bytes]:
    """(quality, bytes): the lowest ladder quality whose encode scores >= threshold, by bisection assuming the
    score rises with quality; the top of the ladder is served unscored (resizer_bench.perimage._bisect)."""
    qualities = search.qualities()
    encoded: dict[int, bytes] = {}
    low, high = 0, len(qualities) - 1
    while low < high:
        mid = (low + high) // 2
        encoded[mid] = encoded_at(qualities[mid])
        if score(encoded[mid]) >= search.threshold:
            high = mid
        else:
            low = mid + 1
    return qualities[high], encoded[high] if high in encoded else encoded_at(qualities[high])


def encode(out: Output) -> None:
    if out.quality is None:
        out.data = out.source.backend.encode(out.image, out.format, out.variant.encoder(out.format))


VARIANT_STEPS = (resize, crop, render, choose_format, flatten, choose_quality, encode)


def shrink_on_load(info: SourceInfo, variants: Sequence[Variant]) -> int:
    """JPEG DCT-domain shrink factor (1, 2, 4, 8) that still leaves every variant's resize at least a factor
    of 2 to do (libvips thumbnail's rule; block shrinking alone would alias). Other formats decode at full size."""
    if info.format != "jpeg":
        return 1
    width, height = info.oriented_size
    factor = min(min(width / w, height / h) for w, h in (v.plan(width, height).resized for v in variants))
    return next((s for s in (8, 4, 2) if factor >= 2 * s), 1)


# --- running ------------------------------------------------------------------------------------------------

def _run(steps: Sequence[Callable[[Any], None]], ctx: Source | Output, backend: Backend) -> None:
    for step in steps:
        start = perf_counter()
        try:
            step(ctx)
        except ResizerError:
            raise
        except backend.input_errors as exc:
            raise CorruptImage(f"{step.__name__}: {exc}") from exc
        ctx.timings[step.__name__] = (perf_counter() - start) * 1000


def _backend(backend: str | Backend) -> Backend:
    return get_backend(backend) if isinstance(backend, str) else backend


def render_variants(data: bytes, requests: Sequence[tuple[Variant, str]], *, backend: str | Backend = "vips",
                    limits: Limits = DEFAULT_LIMITS, search: bool = False,
                    focus: tuple[float, float] | None = None) -> list[Result]:
    """Every (variant, format) of `requests` from one decode, loaded at the size the largest variant needs.

    Variants are made largest first, each resized from the one before it (a cascade: xl from the decode, lg from
    xl, md from lg, ...): the smaller resizes then read a 1200 px image instead of the decode, half the resize
    time, and each step is a full Lanczos pass instead of an integer box shrink plus Lanczos, which scored higher
    against the single-Lanczos reference (18 corpus JPEGs at q80, SSIMULACRA2 lg 74.3 vs 74.2, md 74.9 vs 74.6,
    sm 75.2 vs 74.5; docs/PERFORMANCE.md, "Batch"). Only `inside` variants cascade (one aspect, so a larger
    output covers a smaller one); `cover` crops are each made from a decode, as render_each makes them, and
    `focus` is the original's focal point. Results come back in request order."""
    _check_formats(requests)
    cascaded = [i for i, (v, _) in enumerate(requests) if v.shape().fit == "inside"]
    cropped = [i for i in range(len(requests)) if i not in cascaded]
    results: dict[int, Result] = {}  # request index -> its result
    if cropped:
        made = render_each(data, [requests[i] for i in cropped], backend=backend, limits=limits, search=search,
                           focus=focus)
        results.update(zip(cropped, made, strict=True))
    if not cascaded:
        return [results[i] for i in range(len(requests))]
    be = _backend(backend)
    src = Source(data, be, limits, [requests[i][0] for i in cascaded], search=search, focus=focus)
    _run(SOURCE_STEPS, src, be)
    # The decode is read once, by the largest variant's resize (streamed, for libvips); from here the cascade
    # owns it, so rendering that variant frees it. Largest output first (sizes of one aspect: area orders them).
    pixels, src.image = src.image, None
    for i in sorted(cascaded, key=lambda i: -math.prod(src.plan(requests[i][0]).size)):
        variant, fmt = requests[i]
        # The output's image alone holds what it is made from, so rendering it can free that.
        out, pixels = Output(src, variant, fmt, pixels), None
        _run(VARIANT_STEPS, out, be)
        pixels = out.rendered
        results[i] = _result(src, out)
    return [results[i] for i in range(len(requests))]


def render_each(data: bytes, requests: Sequence[tuple[Variant, str]], *, backend: str | Backend = "vips",
                limits: Limits = DEFAULT_LIMITS, fit_size: tuple[int, int] | None = None,
                search: bool = False, focus: tuple[float, float] | None = None) -> list[Result]:
    """Every (variant, format) of `requests` with exactly the bytes `transform` makes for it alone, which is
    what the edge stores on a miss: `resizer warm` must store those bytes under the same keys.

    render_variants' cascade cannot: each variant is resized from the next larger one and the JPEG decode is
    shrunk for the largest box, so 60 of 112 outputs (10 corpus and sample photos x 4 variants x webp/jpeg)
    differed from the single-variant bytes. Here each output is resized from the decode, as in `transform`;
    the decode is shared by the requests whose box gives the same JPEG shrink-on-load factor (one decode for
    other formats, at most one per factor 1, 2, 4, 8 for JPEG), kept in memory when more than one reads it.
    Measured: 0 of 520 outputs differ from `transform`'s (33 corpus JPEGs x 4 variants x webp/jpeg on vips;
    the 8 sample photos x 4 variants x 4 formats on each backend), at 24 s for the corpus against 15 s
    cascaded and 37 s one `transform` per output. Results come back in request order; each one's timings hold
    the shared source steps, as a miss would. `fit_size`: outputs are sized as from an original of that upright
    size (`data` is its intermediate: resizer/store/intermediate.py), so they match those made from the original.
    `search`: run the encoders' quality searches (config.QualitySearch), as offline callers do; without it such
    outputs come back provisional, at the fixed quality. `focus`: the original's focal point (x, y fractions of
    its upright image), for `gravity = "focus"` crops."""
    _check_formats(requests)
    be = _backend(backend)
    header = Source(data, be, limits, ())
    _run(HEADER_STEPS, header, be)
    by_shrink: dict[int, list[int]] = {}
    for i, (variant, _) in enumerate(requests):
        by_shrink.setdefault(shrink_on_load(header.probed, [variant]), []).append(i)
    results: dict[int, Result] = {}  # request index -> its result
    for indices in by_shrink.values():
        src = Source(data, be, limits, [requests[i][0] for i in indices], fit_size=fit_size, search=search,
                     focus=focus)
        src.format, src.info, src.timings = header.format, header.probed, dict(header.timings)
        _run(DECODE_STEPS + ((keep_decoded,) if len(indices) > 1 else ()), src, be)
        pixels, src.image = src.image, None
        for position, i in enumerate(indices):
            variant, fmt = requests[i]
            out = Output(src, variant, fmt, pixels)
            if position == len(indices) - 1:
                pixels = None  # the last output alone holds the decode, so rendering it frees it
            _run(VARIANT_STEPS, out, be)
            results[i] = _result(src, out)
    return [results[i] for i in range(len(requests))]


def _result(src: Source, out: Output) -> Result:
    """An output as the caller gets it; its timings hold the source steps it shares with the batch."""
    return Result(out.data, out.format, FORMATS[out.format].media_type, out.width, out.height,
                  {**src.timings, **out.timings}, out.quality, out.provisional, out.window)


def _check_formats(requests: Sequence[tuple[Variant, str]]) -> None:
    for _, fmt in requests:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"{fmt!r} is not an output format ({', '.join(OUTPUT_FORMATS)})")


def transform(data: bytes, variant: Variant, fmt: str, *, backend: str | Backend = "vips",
              limits: Limits = DEFAULT_LIMITS, fit_size: tuple[int, int] | None = None,
              search: bool = False, focus: tuple[float, float] | None = None) -> Result:
    """One variant of an original in format `fmt` (an OUTPUT_FORMATS name): what the edge makes on a miss
    (`fit_size`, `search`, `focus`: see render_each)."""
    return render_each(data, [(variant, fmt)], backend=backend, limits=limits, fit_size=fit_size,
                       search=search, focus=focus)[0]


def inspect(data: bytes, *, backend: str | Backend = "vips") -> SourceInfo:
    """What the header of an original says (`resizer info`); no limits apply and no pixels are decoded."""
    be = _backend(backend)
    src = Source(data, be, DEFAULT_LIMITS, ())
    _run((sniff, probe), src, be)
    return src.probed
