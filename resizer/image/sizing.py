"""The one place output sizes and crops are decided, so both backends (and `resizer html`) always agree.

A variant's geometry is a box and a fit. `inside`: the image fits the box, aspect kept (a side left out is
unbounded). `cover`: the image fills the box exactly and the overflow is cropped at the variant's gravity; an
original smaller than the box is cropped to the box's aspect at its own size unless the variant enlarges.
"""

from collections.abc import Mapping
from typing import NamedTuple

FITS = ("inside", "cover")
SMART_GRAVITIES = ("attention", "entropy")  # found by the image library (libvips' smartcrop)
FALLBACKS = ("centre", *SMART_GRAVITIES)  # the gravities placed without a focal point
GRAVITIES = (*FALLBACKS, "focus")
FOCUS_METADATA = "focus"  # the user metadata name of an original's focal point


class Geometry(NamedTuple):
    """A variant's box (`width`, `height`; None: follows the aspect, `inside` only), its fit and, for `cover`,
    where the crop goes: `gravity`, and `fallback` for `focus` when the original has no focal point."""

    width: int | None
    height: int | None
    fit: str = "inside"
    gravity: str = "centre"
    fallback: str = "centre"
    enlarge: bool = False

    @property
    def longest(self) -> int:
        """The box's longer bounded side: what orders variants by size."""
        return max(self.width or 0, self.height or 0)


class Plan(NamedTuple):
    """How to make one output from an upright source of `source` size: resample to `resized`, then (cover) cut
    `size` out of it, where the gravity says."""

    source: tuple[int, int]
    resized: tuple[int, int]
    size: tuple[int, int]  # the output's width and height

    @property
    def crops(self) -> bool:
        return self.resized != self.size


def fit_inside(width: int, height: int, box: int) -> tuple[int, int]:
    """Fit width×height inside a box×box square, keeping the aspect ratio, never enlarging."""
    return plan(width, height, Geometry(box, box)).size


def plan(width: int, height: int, geometry: Geometry) -> Plan:
    """The resize and the crop that give `geometry`'s output from an upright width×height source.

    Inside: the limiting side becomes exactly the box's, the other is rounded to nearest, at least 1 px; never
    enlarged unless asked. Cover: the scale that fills the box (exactly `width`×`height`); when that would
    enlarge and the variant does not, no resize, and the crop is the largest box of the target's aspect."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad source size {width}x{height}")
    box_w, box_h = geometry.width, geometry.height
    source = (width, height)
    if geometry.fit == "cover":
        assert box_w and box_h, "a cover box has both sides (config checks it)"
        scale = max(box_w / width, box_h / height)
        if scale > 1 and not geometry.enlarge:
            aspect = box_w / box_h
            if width / height > aspect:
                return Plan(source, source, (max(1, min(width, round(height * aspect))), height))
            return Plan(source, source, (width, max(1, min(height, round(width / aspect)))))
        resized = (max(box_w, round(width * scale)), max(box_h, round(height * scale)))
        return Plan(source, resized, (box_w, box_h))
    scales = [s for s in (box_w and box_w / width, box_h and box_h / height) if s]
    scale = min(scales)
    if scale >= 1 and not geometry.enlarge:
        return Plan(source, source, source)
    if box_w and scale == box_w / width:
        size = (box_w, max(1, round(height * scale)))
    else:
        size = (max(1, round(width * scale)), box_h or 1)
    return Plan(source, size, size)


def crop_origin(resized: tuple[int, int], size: tuple[int, int], centre: tuple[float, float]) -> tuple[int, int]:
    """Left and top of a `size` window in a `resized` image, centred as near `centre` (fractions of the image:
    (0.5, 0.5) is centre gravity, a focal point otherwise) as the edges allow."""
    left, top = (min(max(0, round(c * full - cut / 2)), full - cut)
                 for c, full, cut in zip(centre, resized, size, strict=True))
    return left, top


def source_window(p: Plan, left: int, top: int) -> tuple[float, float, float, float]:
    """The part of the upright source (left, top, right, bottom in its pixels) an output shows."""
    sx, sy = p.source[0] / p.resized[0], p.source[1] / p.resized[1]
    return left * sx, top * sy, (left + p.size[0]) * sx, (top + p.size[1]) * sy


def focal_point(metadata: Mapping[str, str]) -> tuple[tuple[float, float] | None, str | None]:
    """(the focal point an original's user metadata gives, what is wrong with it): `focus` is `x,y`, fractions of
    the upright image, x first (S3: `x-amz-meta-focus: 0.62,0.31`). Absent: (None, None); bad: (None, why), which
    callers log and otherwise ignore (a bad focal point never fails a request)."""
    value = metadata.get(FOCUS_METADATA)
    if value is None:
        return None, None
    parts = value.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        return None, f"{FOCUS_METADATA} ignored: not two numbers 'x,y': {value[:40]!r}"
    if not (0 <= x <= 1 and 0 <= y <= 1):  # also refuses nan
        return None, f"{FOCUS_METADATA} ignored: not fractions between 0 and 1: {value[:40]!r}"
    return (x, y), None
