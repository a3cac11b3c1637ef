"""The public-URL <-> S3-key contract. Pure Python: the viewer-request function ships it without any image library.

    /images/test-sm.png  ->  original key `images/test.png`, variant `sm`
    derived key          =   `<derived_prefix>/<variant>/<format>/<settings id>/<original key>`
                             e.g. `_variants/sm/webp/3f9a2c1b7e/images/test.png`

The settings id (config.settings_ids) names exactly what made the bytes: change a setting and the variant gets a
new key, so a tuned config reaches images already stored, while CloudFront and browsers keep their copies of the
old bytes under the old key. Public URLs never carry it.

A public path splits at its last `-` only when the suffix is a configured variant name (case-sensitive); otherwise it
names an original. So an original whose own name ends in a variant suffix (`x-sm.png`) is shadowed by the `sm`
variant of `x.png` and cannot be requested as-is: rename such files (README, "URL contract"). The suffix goes
before the extension, which is what follows the file name's last dot unless that dot leads the name
(`os.path.splitext`: `.profile` has none, so its `sm` variant is `.profile-sm`).
Derived keys all start with the derived prefix, which no public path may start with, so a derived key never equals
an original key; `<prefix>/<variant>/<format>/<id>/` lists one (variant, format, settings) of every image.

    intermediate key     =   `<derived_prefix>/~source/<intermediate settings id>/<original key>`

An intermediate (resizer/store/intermediate.py) is a source for misses, never an answer: `~` is no variant-name
character, so its key parses neither as a public path nor as a derived key (`split_derived_key` -> None), and the
origin-response function answers a request for it 400.
"""

import posixpath
import re
from typing import NamedTuple
from urllib.parse import quote, unquote

from .config import SETTINGS_ID_CHARS, VARIANT_NAME, Config
from .errors import MalformedKey
from .image.formats import OUTPUT_FORMATS

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class PublicRequest(NamedTuple):
    """What a public path asks for: an original key, and the variant of it (None = the original itself)."""

    original_key: str
    variant: str | None


class DerivedKey(NamedTuple):
    variant: str
    format: str
    settings_id: str
    original_key: str


def percent_decode(path: str) -> str:
    """Decode %XX escapes exactly once, as UTF-8; a stray `%` or invalid UTF-8 is malformed."""
    if _STRAY_PERCENT.search(path):
        raise MalformedKey("stray '%' in path")
    try:
        return unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise MalformedKey("path is not valid UTF-8 after percent-decoding") from None


S3_MAX_KEY_BYTES = 1024


def check_plain_key(key: str, max_bytes: int = S3_MAX_KEY_BYTES) -> None:
    """Raise MalformedKey unless `key` is a clean S3 key: no traversal, empty segments, backslashes or controls.

    The one rule every origin applies to every key it is given, so a folder and a bucket refuse the same keys."""
    if not key:
        raise MalformedKey("empty key")
    if _CONTROL.search(key):
        raise MalformedKey("control character in key")
    if "\\" in key:
        raise MalformedKey("backslash in key")
    for segment in key.split("/"):
        if segment == "":
            raise MalformedKey("empty path segment")
        if segment in (".", ".."):
            raise MalformedKey(f"'{segment}' path segment")
    if len(key.encode("utf-8")) > max_bytes:
        raise MalformedKey(f"key longer than {max_bytes} bytes")


def validate_key(key: str, config: Config) -> None:
    """`check_plain_key` within the config's key-length limit."""
    check_plain_key(key, config.limits.max_key_bytes)


def longest_derived_prefix(config: Config) -> int:
    """Bytes the longest `<prefix>/<variant>/<format>/<id>/` adds to an original key."""
    return (len(config.derived_prefix) + max(map(len, config.variants)) + max(map(len, OUTPUT_FORMATS))
            + SETTINGS_ID_CHARS + 4)


def parse_public_path(path: str, config: Config) -> PublicRequest:
    """Parse a viewer's URI (percent-encoded, leading `/`) into the original key and the variant asked for."""
    if not path.startswith("/"):
        raise MalformedKey("path must start with '/'")
    key = percent_decode(path)[1:]
    validate_key(key, config)
    if key.split("/", 1)[0] == config.derived_prefix:
        raise MalformedKey("derived objects are not addressable directly")
    root, extension = posixpath.splitext(key)
    base, dash, suffix = root.rpartition("-")
    if not (dash and base and not base.endswith("/") and suffix in config.variants):
        return PublicRequest(key, None)
    original = base + extension
    if original.split("/", 1)[0] == config.derived_prefix:  # `/_variants-sm`: a variant of `_variants`
        raise MalformedKey("derived objects are not addressable directly")
    budget = config.limits.max_key_bytes - longest_derived_prefix(config)
    if len(original.encode("utf-8")) > budget:
        raise MalformedKey(f"original key longer than {budget} bytes leaves no room for derived keys")
    return PublicRequest(original, suffix)


def derived_key(config: Config, variant: str, fmt: str, original_key: str) -> str:
    """The one builder of derived keys: where `variant` of `original_key` in `fmt` is stored under `config`."""
    return f"{config.derived_prefix}/{variant}/{fmt}/{config.settings_id(variant, fmt)}/{original_key}"


INTERMEDIATE_SEGMENT = "~source"


def intermediate_key(config: Config, original_key: str) -> str:
    """Where the intermediate of `original_key` is stored under `config` (which must have intermediates on)."""
    return f"{config.derived_prefix}/{INTERMEDIATE_SEGMENT}/{config.intermediate_id}/{original_key}"


def split_intermediate_key(derived_prefix: str, key: str) -> tuple[str, str] | None:
    """(settings id, original key) of a key shaped like an intermediate key; None for any other key."""
    parts = key.split("/", 3)
    if len(parts) != 4 or parts[0] != derived_prefix or parts[1] != INTERMEDIATE_SEGMENT:
        return None
    if not _SETTINGS_ID.match(parts[2]) or not _is_original_key(derived_prefix, parts[3]):
        return None
    return parts[2], parts[3]


def is_intermediate_key(derived_prefix: str, key: str) -> bool:
    """Anything under `<prefix>/~source/`, well-formed or not: never answered, never made into a variant."""
    parts = key.split("/", 2)
    return len(parts) > 1 and parts[0] == derived_prefix and parts[1] == INTERMEDIATE_SEGMENT


_SETTINGS_ID = re.compile(rf"^[0-9a-f]{{{SETTINGS_ID_CHARS}}}$")


def split_derived_key(derived_prefix: str, key: str) -> DerivedKey | None:
    """The parts of anything shaped like a derived key under `derived_prefix`, whichever config made it (stale
    clean-up reads keys of variants since removed); None for a key of another shape."""
    parts = key.split("/", 4)
    if len(parts) != 5 or parts[0] != derived_prefix:
        return None
    _, variant, fmt, settings_id, original = parts
    if not VARIANT_NAME.match(variant) or fmt not in OUTPUT_FORMATS or not _SETTINGS_ID.match(settings_id):
        return None
    if not _is_original_key(derived_prefix, original):
        return None
    return DerivedKey(variant, fmt, settings_id, original)


def _is_original_key(derived_prefix: str, key: str) -> bool:
    """Whether the tail of a derived or intermediate key can name an original: a plain key, not itself under the
    derived prefix (no derived key of a derived key)."""
    try:
        check_plain_key(key)
    except MalformedKey:
        return False
    return key.split("/", 1)[0] != derived_prefix


def parse_derived_key(config: Config, key: str) -> DerivedKey:
    """Exact inverse of `derived_key` for a variant of `config` (any settings id: the caller compares it with
    its own); MalformedKey for anything that is not one."""
    derived = split_derived_key(config.derived_prefix, key)
    if derived is None:
        raise MalformedKey("not a derived key")
    if derived.variant not in config.variants:
        raise MalformedKey(f"unknown variant {derived.variant!r}")
    validate_key(key, config)
    return derived


def is_derived_key(config: Config, key: str) -> bool:
    return key.startswith(config.derived_prefix + "/")


def public_path(variant: str, original_key: str) -> str:
    """The public URL path (percent-encoded) a viewer uses for a variant: the inverse of `parse_public_path`."""
    root, extension = posixpath.splitext(original_key)
    return "/" + quote(f"{root}-{variant}{extension}", safe="/-._~")
