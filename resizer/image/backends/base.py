"""The one narrow interface both image backends (libvips, Pillow) implement.

The pipeline makes every decision (output size, shrink-on-load factor, when to flatten, which format to
write); a backend only does the pixel work its library's way. Images are opaque to the pipeline: whatever
object the backend's library uses (`pyvips.Image`, `PIL.Image.Image`).
"""

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

from ...config import EncoderSettings

Image = Any  # the backend library's image type; the pipeline never looks inside

# RGB colours (a 6×6×6 cube and a grey ramp) that an embedded profile must map to within one level for the
# backends to call it sRGB and skip converting through it: most web photos carry such a profile (often a compact
# copy like "c2"), and the conversion costs as much CPU as the decode. Real wide-gamut profiles move these
# colours by 100 levels and more.
SRGB_PROBE = bytes(v for r in range(0, 256, 51) for g in range(0, 256, 51) for b in range(0, 256, 51)
                   for v in (r, g, b)) + bytes(v for grey in range(0, 256, 5) for v in (grey, grey, grey))


class SourceInfo(NamedTuple):
    """What an original's header says, read without decoding pixels (`resizer info`, the limits check)."""

    format: str  # the sniffed format, a formats.FORMATS name
    width: int  # as stored, before EXIF orientation
    height: int
    orientation: int  # EXIF orientation 1-8; 1 when absent or invalid
    has_icc: bool
    has_alpha: bool  # the decoded image will carry an alpha channel
    frames: int
    mode: str  # the backend's own word: Pillow mode ("RGB", "I;16", "P") or libvips interpretation ("srgb")
    bands: int  # as the backend's library counts them (a palette is 1 band to Pillow, 3 or 4 to libvips)
    bit_depth: int  # bits per decoded sample: 8, 16 or 32 (palette and bilevel images count as 8)

    @property
    def oriented_size(self) -> tuple[int, int]:
        """Width and height once upright: orientations 5-8 swap the axes."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


class Backend(ABC):
    """Pixel operations over one image library. Methods return a new image and leave their input usable."""

    name: str
    # Exception types the library raises for bad input bytes; the pipeline turns them into CorruptImage (422).
    input_errors: tuple[type[BaseException], ...]

    @abstractmethod
    def probe(self, data: bytes, fmt: str) -> SourceInfo:
        """Read the header of `data` (already sniffed as `fmt`) without decoding pixels."""

    @abstractmethod
    def load(self, data: bytes, info: SourceInfo, shrink: int) -> Image:
        """The first frame, with JPEG shrink-on-load by `shrink` (1, 2, 4 or 8; always 1 for other formats).

        Each side becomes side / shrink rounded up (Pillow, as libjpeg scales) or down (libvips drops the
        ragged edge): the pipeline takes output sizes from the header, never from the loaded image.
        """

    @abstractmethod
    def orient(self, image: Image, orientation: int) -> Image:
        """Apply EXIF orientation `orientation` so the image is upright."""

    @abstractmethod
    def to_srgb(self, image: Image) -> Image:
        """8-bit sRGB, 3 bands or 4 with alpha: ICC profiles applied, CMYK/grey/palette/16-bit converted."""

    @abstractmethod
    def materialize(self, image: Image) -> Image:
        """The image computed into memory: safe to read more than once (the next variant of a batch resizes from
        it), and nothing upstream (the decoder) is needed any longer."""

    @abstractmethod
    def size(self, image: Image) -> tuple[int, int]: ...

    @abstractmethod
    def has_alpha(self, image: Image) -> bool: ...

    @abstractmethod
    def resize(self, image: Image, width: int, height: int) -> Image:
        """Resample to exactly width×height (alpha premultiplied while resampling)."""

    @abstractmethod
    def crop(self, image: Image, left: int, top: int, width: int, height: int) -> Image:
        """The width×height window at (left, top)."""

    @abstractmethod
    def find_crop(self, image: Image, width: int, height: int, interesting: str) -> tuple[int, int]:
        """(left, top) of the width×height window the library's smart crop picks (`interesting`: "attention" or
        "entropy", sizing.SMART_GRAVITIES); a backend without one raises ValueError (the config refuses it)."""

    @abstractmethod
    def flatten(self, image: Image) -> Image:
        """Composite an image with alpha onto white, dropping the alpha channel."""

    @abstractmethod
    def set_threads(self, threads: int) -> None:
        """Threads the library may use for one image from now on (process-wide, as libvips' pool is)."""

    @abstractmethod
    def encode(self, image: Image, fmt: str, settings: EncoderSettings) -> bytes:
        """Write `fmt` (an OUTPUT_FORMATS name) with no metadata: no EXIF, XMP, or ICC (pixels are sRGB)."""
