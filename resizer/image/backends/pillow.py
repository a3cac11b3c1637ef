"""Pillow backend: pure in-memory images, JPEG shrink-on-load through `Image.draft`, LANCZOS resampling."""

import io
import struct
import zlib
from functools import lru_cache

from PIL import ExifTags, Image, ImageCms, ImageFile

from ...config import BACKEND_LACKS, BACKEND_LACKS_SMART_CROP, EncoderSettings
from .base import SRGB_PROBE, Backend, SourceInfo
from .pillow_save import PIL_FORMATS, save

# The pipeline checks width×height against the configured Limits from the header before any pixel is decoded,
# so that check is the one guard. Pillow's own guard (a warning above 89 Mpx, an error above 179 Mpx, raised
# inside Image.open) would otherwise fire at thresholds that ignore the config and before our check.
Image.MAX_IMAGE_PIXELS = None
# A truncated original is a 422, never a half-grey image (this is Pillow's default; set so nothing drifts).
ImageFile.LOAD_TRUNCATED_IMAGES = False

TRANSPOSE = {  # EXIF orientation -> the operation that makes it upright (as ImageOps.exif_transpose does)
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
BIT_DEPTH = {"I": 32, "F": 32}  # other modes: 8 (bilevel and palette images decode to 8-bit samples)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Relative colorimetric, as libvips' icc_transform defaults to; identical to perceptual for the matrix/TRC
# RGB profiles (sRGB, Display P3, Adobe RGB) that photos carry.
INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC
WHITE = (255, 255, 255)


class PillowBackend(Backend):
    name = "pillow"
    # What Pillow's plugins raise on malformed data (UnidentifiedImageError is an OSError; the AVIF decoder
    # raises RuntimeError, the TIFF plugin TypeError for missing dimensions -- both found by fuzzing).
    input_errors = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, RuntimeError,
                    TypeError)
    threads: int | None = None  # AVIF encoder threads; None: libavif's default, one per CPU

    def _open(self, data: bytes, fmt: str) -> ImageFile.ImageFile:
        # Only the sniffed format's plugin may read the bytes: no second guess at what the file is.
        return Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]])

    def probe(self, data: bytes, fmt: str) -> SourceInfo:
        im = self._open(data, fmt)
        orientation = _exif(im, fmt).get(ExifTags.Base.Orientation, 1)
        return SourceInfo(
            format=fmt,
            width=im.width,
            height=im.height,
            orientation=orientation if orientation in TRANSPOSE else 1,
            has_icc=bool(im.info.get("icc_profile")),
            # libvips decodes every GIF to RGBA; load() does the same so both backends agree.
            has_alpha=fmt == "gif" or im.has_transparency_data,
            frames=getattr(im, "n_frames", 1),
            mode=im.mode,
            bands=len(im.getbands()),
            bit_depth=_bit_depth(im),
        )

    def load(self, data: bytes, info: SourceInfo, shrink: int) -> Image.Image:
        im = self._open(data, info.format)
        if shrink > 1:
            # draft() picks the largest power-of-two scale keeping at least this size: exactly `shrink`.
            im.draft(None, (im.width // shrink, im.height // shrink))
        im.load()  # decode now, so corrupt data fails in this step
        return im.convert("RGBA") if info.format == "gif" else im

    def orient(self, image: Image.Image, orientation: int) -> Image.Image:
        return image.transpose(TRANSPOSE[orientation]) if orientation in TRANSPOSE else image

    def to_srgb(self, image: Image.Image) -> Image.Image:
        alpha = image.has_transparency_data
        icc = image.info.get("icc_profile")
        if image.mode.startswith("I"):
            # 16/32-bit grey: scale to 8 bits (Pillow's own I;16 -> L conversion clips at 255).
            image = image.convert("I").point(lambda v: v / 256).convert("L")
        if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
            if not (image.mode.startswith("RGB") and is_srgb_profile(icc)):
                image = _icc_to_srgb(image, icc)
        target = "RGBA" if alpha else "RGB"
        if image.mode != target:
            image = image.convert(target)  # palette, grey, CMYK without a profile, LA, ...
        image.info = {}  # nothing of the original's metadata may reach an encoder
        return image

    def materialize(self, image: Image.Image) -> Image.Image:
        return image  # already decoded, in memory

    def size(self, image: Image.Image) -> tuple[int, int]:
        return image.size

    def has_alpha(self, image: Image.Image) -> bool:
        return image.mode == "RGBA"

    def resize(self, image: Image.Image, width: int, height: int) -> Image.Image:
        # LANCZOS (a=3, like libvips' lanczos3); reducing_gap=2.0 first box-reduces by an integer factor
        # while the remaining scale stays >= 2, as libvips resize does with gap=2.0. RGBA is premultiplied.
        return image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)

    def crop(self, image: Image.Image, left: int, top: int, width: int, height: int) -> Image.Image:
        return image.crop((left, top, left + width, top + height))

    def find_crop(self, image: Image.Image, width: int, height: int, interesting: str) -> tuple[int, int]:
        raise ValueError(f"the pillow backend cannot make {BACKEND_LACKS_SMART_CROP[self.name]}")

    def flatten(self, image: Image.Image) -> Image.Image:
        out = Image.new("RGB", image.size, WHITE)
        out.paste(image, mask=image.getchannel("A"))
        return out

    def set_threads(self, threads: int) -> None:
        self.threads = threads

    def encode(self, image: Image.Image, fmt: str, settings: EncoderSettings) -> bytes:
        lacking = [name for name in BACKEND_LACKS[self.name] if getattr(settings, name)]
        if lacking:  # the config refuses these (config.backend_refusal); a direct caller must not get other bytes
            raise ValueError(f"the pillow backend cannot write {', '.join(lacking)}")
        return save(image, fmt, settings, self.threads)


def _exif(im: Image.Image, fmt: str) -> Image.Exif:
    if fmt != "png":
        return im.getexif()
    # PngImageFile.getexif() decodes the whole image to look for an eXIf chunk after the pixels; the header
    # is enough (libvips reads no further either).
    exif = Image.Exif()
    exif.load(im.info.get("exif", b""))
    return exif


def _bit_depth(im: ImageFile.ImageFile) -> int:
    if im.mode.startswith("I;16"):
        return 16
    # Pillow reads 16-bit RGB(A) PNG and TIFF as 8-bit modes; the decoder's raw mode still says ";16".
    args = im.tile[0].args if im.tile else None
    rawmode = args[0] if isinstance(args, tuple) and args else args
    if isinstance(rawmode, str) and ";16" in rawmode:
        return 16
    return BIT_DEPTH.get(im.mode, 8)


@lru_cache(maxsize=64)
def is_srgb_profile(icc: bytes) -> bool:
    """Does converting through this RGB profile leave SRGB_PROBE within one level? (see base.SRGB_PROBE)"""
    probe = Image.frombytes("RGB", (len(SRGB_PROBE) // 3, 1), SRGB_PROBE)
    converted = _icc_to_srgb(probe, icc)
    return converted is not probe and all(
        abs(a - b) <= 1 for a, b in zip(converted.tobytes(), SRGB_PROBE, strict=True))


def _icc_to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """Convert through the embedded profile; a broken profile, or one not matching the pixels, is ignored
    (libvips ignores it too, with a warning) rather than failing the whole image."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, profile, SRGB, renderingIntent=INTENT,
                                              outputMode="RGBA" if image.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError):
        return image
    assert converted is not None  # None only when converting in place (inPlace=True)
    return converted
