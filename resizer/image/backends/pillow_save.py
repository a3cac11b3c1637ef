"""Pillow's encoders with the config's settings: the Pillow backend's `encode`, and the libvips backend's for the
formats where Pillow's build of the same codec is faster (see VipsBackend.encode).

Kept apart from backends/pillow.py so the libvips backend pays only for `PIL.Image` (~20 ms of import), not for
ImageCms and the decoders' plumbing (~70 ms).
"""

import io
from importlib import import_module
from typing import Any

from PIL import Image

from ...config import EncoderSettings

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF", "gif": "GIF", "tiff": "TIFF"}
JPEG_SUBSAMPLING: dict[str | None, int] = {"4:2:0": 2, "4:4:4": 0}  # None (unset): Pillow's default
# The writer's plugin, imported before Image.save: for a format its preinit() does not load (WebP, AVIF), save()
# would otherwise import every plugin Pillow has, ~60 ms of a cold start.
PLUGINS = {"jpeg": "JpegImagePlugin", "png": "PngImagePlugin", "webp": "WebPImagePlugin", "avif": "AvifImagePlugin"}


def save(image: Image.Image, fmt: str, settings: EncoderSettings, threads: int | None = None) -> bytes:
    """`image` (RGB or RGBA, empty `info`) written as `fmt` with no metadata (docs/ENCODERS.md). `threads`: the
    AVIF encoder's (Pillow's only threaded one); None = one per CPU."""
    s = settings
    by_format: dict[str, dict[str, Any]] = {
        "jpeg": {"quality": s.quality, "subsampling": JPEG_SUBSAMPLING.get(s.subsampling),
                 "progressive": s.progressive, "optimize": True},
        "png": {"compress_level": s.effort},
        "webp": {"quality": s.quality, "method": s.effort},
        # libvips' effort e means aom cpu-used 9-e; Pillow takes that speed directly.
        "avif": {"quality": s.quality, "speed": None if s.effort is None else 9 - s.effort,
                 "subsampling": s.subsampling, "max_threads": threads},
    }
    params = by_format[fmt]
    import_module(f"PIL.{PLUGINS[fmt]}")
    out = io.BytesIO()
    # No exif=/icc_profile= arguments and an empty image.info: the output carries no metadata.
    image.save(out, PIL_FORMATS[fmt], **{k: v for k, v in params.items() if v is not None})
    return out.getvalue()
