"""Format negotiation from the viewer's `Accept` header. Pure Python (runs in the viewer-request function).

A format counts as accepted only when the header names its media type explicitly with q > 0: `image/*` and `*/*`
are sent by browsers that cannot decode AVIF or WebP, so they prove nothing. Among accepted formats the variant's
configured order decides. Otherwise the fallback keeps the original's family (chosen from the key's extension,
since the viewer-request function never sees the bytes):

    .jpg/.jpeg -> jpeg    .png -> png    .gif -> png (keeps transparency)
    .webp, .avif, .tif/.tiff, anything else -> jpeg (decodes everywhere; alpha is flattened on white)
"""

from typing import TYPE_CHECKING

from ..image.formats import FORMATS, format_from_extension

if TYPE_CHECKING:  # for annotations only: a variant is all this module sees of the config
    from ..config import Variant

FALLBACK: dict[str | None, str] = {"jpeg": "jpeg", "png": "png", "gif": "png"}  # None: an unknown extension


def accepted_media_types(accept: str | None) -> set[str]:
    """Media types named explicitly with q > 0 (lower-cased); wildcards are ignored on purpose."""
    accepted: set[str] = set()
    for item in (accept or "").split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        media_type = media_type.lower()
        if not media_type or "*" in media_type:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0  # an unreadable weight is no promise of support
        if q > 0:
            accepted.add(media_type)
    return accepted


def fallback_format(original_key: str) -> str:
    return FALLBACK.get(format_from_extension(original_key), "jpeg")


def choose_format(accept: str | None, variant: "Variant", original_key: str) -> str:
    """The output format for `variant` of `original_key` given the viewer's Accept header."""
    accepted = accepted_media_types(accept)
    for fmt in variant.formats:
        if FORMATS[fmt].media_type in accepted:
            return fmt
    return fallback_format(original_key)


def servable_formats(variant: "Variant", original_key: str) -> tuple[str, ...]:
    """Every format `choose_format` can pick for `variant` of `original_key`, whatever the Accept header."""
    return tuple(dict.fromkeys((*variant.formats, fallback_format(original_key))))
