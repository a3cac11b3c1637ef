"""libvips backend (pyvips): lazy, sequential, threaded pipelines; pixels are computed only when needed
(materialize, or a rotation).

Every loader reads with access="sequential" (streams top to bottom, low memory) and fail_on="truncated":
libvips would otherwise render a truncated file with its missing part grey, where Pillow (with
LOAD_TRUNCATED_IMAGES off) fails; with this both backends answer 422.
"""

from collections.abc import Callable
from functools import lru_cache

import pyvips
from PIL import Image

from ...config import EncoderSettings
from ...errors import CorruptImage
from . import pillow_save
from .base import SRGB_PROBE, Backend, SourceInfo

LOADERS = {  # the sniffed format picks the loader: libvips does not get to guess again
    "jpeg": pyvips.Image.jpegload_buffer,
    "png": pyvips.Image.pngload_buffer,
    "webp": pyvips.Image.webpload_buffer,
    "gif": pyvips.Image.gifload_buffer,
    "tiff": pyvips.Image.tiffload_buffer,
    "avif": pyvips.Image.heifload_buffer,
}
# libvips' operation cache reuses results of identical calls: every request here is a new image, so it would
# only hold memory (as imgproxy, we turn it off; RSS then stays flat in a long-running process).
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)

LOAD_OPTIONS = {"access": "sequential", "fail_on": "truncated"}
BIT_DEPTH = {"uchar": 8, "char": 8, "ushort": 16, "short": 16, "uint": 32, "int": 32, "float": 32,
             "double": 64}
# lanczos3 and gap 2.0 (libvips' defaults, set here on purpose): an integer box shrink while the remaining
# scale stays >= 2, then lanczos3 -- the same recipe as Pillow's LANCZOS with reducing_gap=2.0.
KERNEL, GAP = "lanczos3", 2.0
INTENT = "relative"  # libvips' default, set on purpose: see the Pillow backend
SUBSAMPLE: dict[str | None, str] = {"4:2:0": "on", "4:4:4": "off"}  # None (unset): libvips' default
# Formats written by Pillow's build of the same codec: with the same settings it gives byte-identical files,
# measured 25-45 % faster for JPEG and 20-25 % for WebP than pyvips-binary's (docs/PERFORMANCE.md, "Encoders").
# libvips stays faster for PNG (2x) and on par for AVIF, so those stay here.
# Except where a setting only libvips' build has is on (mozjpeg's optimisations, sharp YUV): then libvips writes.
PILLOW_ENCODED = {"jpeg", "webp"}
# libimagequant's effort (libvips' default 7): measured on a 700 px photo, 1 took 196 ms against 1446 ms for a file
# 1.5 % bigger; 4 was bigger still. A miss can't wait 1.4 s for a fallback PNG.
QUANTISE_EFFORT = 1
LIBVIPS_ONLY = {"jpeg": "mozjpeg", "webp": "sharp_yuv"}
# What sharp's `mozjpeg: true` sets: trellis quantisation, overshoot deringing, progressive scans split by
# spectrum (progressive files only) and the quantisation table mozjpeg's cjpeg defaults to (3, ImageMagick's).
MOZJPEG = {"trellis_quant": True, "overshoot_deringing": True, "optimize_scans": True, "quant_table": 3}
PIL_MODES = {3: "RGB", 4: "RGBA"}
WHITE = [255, 255, 255]


class VipsBackend(Backend):
    name = "vips"
    # Decoding is lazy, so a corrupt source can fail in any later step, encode included.
    input_errors = (pyvips.Error,)

    def probe(self, data: bytes, fmt: str) -> SourceInfo:
        im = LOADERS[fmt](data, **LOAD_OPTIONS)  # reads the header only
        orientation = im.get("orientation") if im.get_typeof("orientation") else 1
        return SourceInfo(
            format=fmt,
            width=im.width,
            height=im.height,
            orientation=orientation if 1 <= orientation <= 8 else 1,
            has_icc=bool(im.get_typeof("icc-profile-data")),
            has_alpha=bool(im.hasalpha()),
            frames=im.get("n-pages") if im.get_typeof("n-pages") else 1,
            mode=im.interpretation,
            bands=im.bands,
            bit_depth=BIT_DEPTH[im.format],
        )

    def load(self, data: bytes, info: SourceInfo, shrink: int) -> pyvips.Image:
        # Loaders read the first page/frame by default.
        options = {"shrink": shrink} if shrink > 1 else {}
        return LOADERS[info.format](data, **LOAD_OPTIONS, **options)

    def orient(self, image: pyvips.Image, orientation: int) -> pyvips.Image:
        if orientation == 1:
            return image
        # Rotating reads the source out of order, which a sequential load cannot serve: decode to memory.
        return image.copy_memory().autorot()

    def to_srgb(self, image: pyvips.Image) -> pyvips.Image:
        profile = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
        if profile and not (image.interpretation == "srgb" and is_srgb_profile(profile)):
            # A profile that does not fit the pixels is ignored by libvips, with a warning.
            image = image.icc_transform("srgb", embedded=True, intent=INTENT)
        elif image.interpretation == "cmyk" and image.format == "uchar":
            # No profile: the plain formula Pillow uses, (255-C)(255-K)/255, rather than colourspace() through
            # libvips' built-in print profile, so an untagged CMYK file looks the same on both backends.
            ink = 255 - image
            rgb = (ink[:3] * ink[3] / 255).rint().cast("uchar")
            image = (rgb.bandjoin(image[4:]) if image.bands > 4 else rgb).copy(interpretation="srgb")
        if image.interpretation != "srgb":
            image = image.colourspace("srgb")  # grey, 16-bit (and 16-bit CMYK through libvips' own profile)
        if image.bands not in PIL_MODES:
            # e.g. a damaged header claiming 259 samples per pixel (found by fuzzing): no encoder takes it
            raise CorruptImage(f"{image.bands} bands after conversion to sRGB")
        return image.cast("uchar") if image.format != "uchar" else image

    def materialize(self, image: pyvips.Image) -> pyvips.Image:
        return image.copy_memory()

    def size(self, image: pyvips.Image) -> tuple[int, int]:
        return image.width, image.height

    def has_alpha(self, image: pyvips.Image) -> bool:
        return bool(image.hasalpha())

    def resize(self, image: pyvips.Image, width: int, height: int) -> pyvips.Image:
        hscale, vscale = width / image.width, height / image.height
        if not image.hasalpha():
            return image.resize(hscale, vscale=vscale, kernel=KERNEL, gap=GAP)
        # Premultiply so transparent pixels' colours do not bleed into the edges (Pillow does the same).
        out = image.premultiply().resize(hscale, vscale=vscale, kernel=KERNEL, gap=GAP).unpremultiply()
        return out.rint().cast("uchar")

    def crop(self, image: pyvips.Image, left: int, top: int, width: int, height: int) -> pyvips.Image:
        return image.crop(left, top, width, height)

    def find_crop(self, image: pyvips.Image, width: int, height: int, interesting: str) -> tuple[int, int]:
        # smartcrop's result is a view of the input whose offsets say where it was cut
        found = image.smartcrop(width, height, interesting=interesting, premultiplied=False)
        return -found.xoffset, -found.yoffset

    def flatten(self, image: pyvips.Image) -> pyvips.Image:
        return image.flatten(background=WHITE)

    def set_threads(self, threads: int) -> None:
        # libvips' pool computes pixels and sizes libheif's AV1 encoder threads.
        pyvips.concurrency_set(threads)

    def encode(self, image: pyvips.Image, fmt: str, settings: EncoderSettings) -> bytes:
        if fmt in PILLOW_ENCODED and not getattr(settings, LIBVIPS_ONLY[fmt]):
            # Computes the (small, resized) output into memory: the decode still streams through it.
            mode = PIL_MODES[image.bands]
            pil = Image.frombuffer(mode, (image.width, image.height), image.write_to_memory(), "raw", mode, 0, 1)
            return pillow_save.save(pil, fmt, settings)
        s = settings
        subsample = SUBSAMPLE.get(s.subsampling)
        save: Callable[..., bytes]
        params: dict[str, object]
        if fmt == "jpeg":  # mozjpeg on
            save, params = image.jpegsave_buffer, {"Q": s.quality, "subsample_mode": subsample,
                                                   "interlace": s.progressive, "optimize_coding": True, **MOZJPEG}
        elif fmt == "webp":  # sharp YUV on
            save, params = image.webpsave_buffer, {"Q": s.quality, "effort": s.effort, "smart_subsample": True}
        elif fmt == "png" and s.palette:
            # libimagequant's quality and dither; bit depth from the colour count (2 -> 1 bit, ..., 256 -> 8)
            save, params = image.pngsave_buffer, {
                "compression": s.effort, "palette": True, "Q": s.quality, "dither": s.dither,
                "effort": QUANTISE_EFFORT,
                "bitdepth": None if s.colours is None else (s.colours - 1).bit_length()}
        elif fmt == "png":
            # filter="all" = adaptive filtering, as libpng/Pillow do; libvips' default (none) is ~20% bigger.
            save, params = image.pngsave_buffer, {"compression": s.effort, "filter": "all"}
        else:  # avif
            save, params = image.heifsave_buffer, {"compression": "av1", "bitdepth": 8, "Q": s.quality,
                                                   "effort": s.effort, "subsample_mode": subsample}
        return save(keep="none", **{k: v for k, v in params.items() if v is not None})


@lru_cache(maxsize=64)
def is_srgb_profile(icc: bytes) -> bool:
    """Does converting through this RGB profile leave SRGB_PROBE within one level? (see base.SRGB_PROBE)

    A profile libvips cannot read (garbage bytes, say) passes: icc_transform ignores it, so the probe comes back
    unchanged, as the image would. Only a transform that raises pyvips.Error counts as not sRGB (False): to_srgb
    then converts the image through the profile itself.
    """
    probe = pyvips.Image.new_from_memory(SRGB_PROBE, len(SRGB_PROBE) // 3, 1, 3, "uchar").copy(
        interpretation="srgb")
    probe.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    try:
        converted = probe.icc_transform("srgb", embedded=True, intent=INTENT)
        within: bool = (converted - probe).abs().max() <= 1
        return within
    except pyvips.Error:
        return False
