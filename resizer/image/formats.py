"""Image formats: media types, file extensions, and sniffing the real format from the first bytes.

Pure Python (no image library) so that the viewer-request function can use it.
"""

from typing import NamedTuple


class Format(NamedTuple):
    name: str
    media_type: str
    extension: str
    has_alpha: bool
    output: bool  # can the pipeline encode it?
    lossy: bool = False  # has a quality setting (what the workbench sweeps)


FORMATS = {
    f.name: f
    for f in (
        Format("jpeg", "image/jpeg", "jpg", has_alpha=False, output=True, lossy=True),
        Format("png", "image/png", "png", has_alpha=True, output=True),
        Format("webp", "image/webp", "webp", has_alpha=True, output=True, lossy=True),
        Format("avif", "image/avif", "avif", has_alpha=True, output=True, lossy=True),
        Format("gif", "image/gif", "gif", has_alpha=True, output=False),
        Format("tiff", "image/tiff", "tif", has_alpha=True, output=False),
    )
}
OUTPUT_FORMATS = tuple(name for name, f in FORMATS.items() if f.output)
LOSSY_FORMATS = tuple(name for name, f in FORMATS.items() if f.lossy)
# AVIF needs at least this many pixels on a side; a smaller output is written as PNG when it has alpha, else as
# JPEG (as imgproxy does). So an AVIF request can yield any of these formats' bytes.
AVIF_MIN_SIDE = 16
AVIF_SMALL_FALLBACK = ("png", "jpeg")  # (with alpha, without)


def formats_written_for(fmt: str) -> tuple[str, ...]:
    """Every format whose encoder settings can shape the bytes of a request for `fmt`."""
    return (fmt, *AVIF_SMALL_FALLBACK) if fmt == "avif" else (fmt,)


# Formats we recognise only to refuse them by name (415), never decode.
REFUSED = ("svg", "heic", "bmp", "ico", "pdf", "jxl")

EXTENSIONS = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "webp": "webp", "avif": "avif",
    "gif": "gif", "tif": "tiff", "tiff": "tiff",
}


def format_from_extension(key: str) -> str | None:
    """The format a key's extension claims (lower-cased), or None. Used only where no bytes exist yet."""
    _, dot, ext = key.rpartition(".")
    return EXTENSIONS.get(ext.lower()) if dot else None


def sniff(data: bytes) -> str | None:
    """The real format from magic bytes: a FORMATS name, a REFUSED name, or None when unrecognised."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), 32), 4)}
        if brands & {b"avif", b"avis"}:
            return "avif"
        if brands & {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}:
            return "heic"
        return None
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith(b"\x00\x00\x01\x00"):
        return "ico"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL "):
        return "jxl"
    text = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<?xml") or text.startswith(b"<svg") or text.startswith(b"<!doctype svg"):
        if b"<svg" in data[:4096].lower():
            return "svg"
    return None
