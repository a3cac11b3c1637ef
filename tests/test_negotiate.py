"""Format negotiation: explicit support only, the variant's order, and the original's family as fallback."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resizer.config import load_config, parse_config
from resizer.edge.negotiate import accepted_media_types, choose_format

SM = load_config().variant("sm")
WEBP_FIRST = parse_config("[variants.sm]\nsize = 100\nformats = ['webp', 'avif']").variant("sm")
JPEG_ONLY = parse_config("[variants.sm]\nsize = 100\nformats = []").variant("sm")

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI_OLD = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
IE11 = "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"


@pytest.mark.parametrize(
    ("accept", "variant", "key", "expected"),
    [
        (CHROME, SM, "a.jpg", "avif"),
        (CHROME, WEBP_FIRST, "a.jpg", "webp"),
        (SAFARI_OLD, SM, "a.jpg", "webp"),
        (IE11, SM, "a.jpg", "jpeg"),
        (IE11, SM, "a.PNG", "png"),
        ("*/*", SM, "a.jpeg", "jpeg"),
        ("image/*", SM, "a.png", "png"),
        (None, SM, "a.jpg", "jpeg"),
        ("", SM, "a.png", "png"),
        ("image/avif;q=0, image/webp", SM, "a.jpg", "webp"),
        ("image/avif;q=0.0,image/webp;q=0", SM, "a.jpg", "jpeg"),
        ("image/avif;q=0.001", SM, "a.jpg", "avif"),
        ("image/avif;q=abc", SM, "a.jpg", "jpeg"),
        ("IMAGE/AVIF", SM, "a.jpg", "avif"),
        ("image/avif ; q=1 , image/webp", SM, "a.jpg", "avif"),
        (CHROME, JPEG_ONLY, "a.jpg", "jpeg"),  # fallback allowed whatever the list says
        (CHROME, JPEG_ONLY, "a.png", "png"),
        (None, SM, "a.gif", "png"),
        (None, SM, "a.webp", "jpeg"),
        (None, SM, "a.avif", "jpeg"),
        (None, SM, "a.tiff", "jpeg"),
        (None, SM, "no-extension", "jpeg"),
    ],
)
def test_negotiation_table(accept, variant, key, expected):
    assert choose_format(accept, variant, key) == expected


def test_wildcards_never_count():
    assert accepted_media_types("image/*,*/*;q=0.8") == set()


@given(st.text(max_size=200))
def test_any_header_gives_an_allowed_format(accept):
    assert choose_format(accept, SM, "a.jpg") in {"avif", "webp", "jpeg"}
