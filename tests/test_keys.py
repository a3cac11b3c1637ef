"""The public-URL <-> key contract: table-driven cases and hypothesis properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resizer.config import load_config
from resizer.errors import MalformedKey
from resizer.image.formats import OUTPUT_FORMATS
from resizer.keys import (
    DerivedKey,
    PublicRequest,
    derived_key,
    longest_derived_prefix,
    parse_derived_key,
    parse_public_path,
    public_path,
)

CONFIG = load_config()


@pytest.mark.parametrize(
    ("path", "original", "variant"),
    [
        ("/images/test-sm.png", "images/test.png", "sm"),
        ("/images/test.png", "images/test.png", None),
        ("/my-photo.png", "my-photo.png", None),
        ("/my-photo-sm.png", "my-photo.png", "sm"),
        ("/a/b/c-xl.jpeg", "a/b/c.jpeg", "xl"),
        ("/photo-SM.png", "photo-SM.png", None),  # variant names are case-sensitive
        ("/photo-xs.png", "photo-xs.png", None),  # not a configured variant
        ("/photo-md-lg.png", "photo-md.png", "lg"),  # split at the last '-' only
        ("/-sm.png", "-sm.png", None),  # nothing before the suffix: an original
        ("/noext-md", "noext", "md"),
        ("/dir.v2/file-md.tar.png", "dir.v2/file-md.tar.png", None),  # stem is 'file-md.tar'
        ("/dir.v2/file.tar-md.png", "dir.v2/file.tar.png", "md"),
        ("/images/caf%C3%A9-md.jpg", "images/café.jpg", "md"),
        ("/images/a%20b-sm.jpg", "images/a b.jpg", "sm"),
        ("/images/100%2525-sm.jpg", "images/100%25.jpg", "sm"),  # decoded exactly once
        ("/x-sm.png", "x.png", "sm"),  # an original named x-sm.png is shadowed (documented)
        ("/a/.profile-sm", "a/.profile", "sm"),  # a leading dot starts no extension (os.path.splitext)
        ("/.0-lg", ".0", "lg"),  # found by hypothesis: `.0` once became `-lg.0`, which parsed as an original
        ("/a/-lg.0", "a/-lg.0", None),
    ],
)
def test_public_paths(path, original, variant):
    assert parse_public_path(path, CONFIG) == PublicRequest(original, variant)


@pytest.mark.parametrize(
    "path",
    [
        "images/test-sm.png",  # no leading slash
        "/",
        "/images/../secret-sm.png",
        "/images/./test-sm.png",
        "/images//test-sm.png",
        "/images/test-sm.png/",
        "/images\\test-sm.png",
        "/images/%2e%2e/secret-sm.png",  # traversal that appears after decoding
        "/images/%2E%2E/secret.png",
        "/images%2f..%2fsecret.png",
        "/images/%5ctest.png",
        "/images/te%00st-sm.png",
        "/images/te\x07st.png",
        "/images/te%7fst.png",
        "/images/te%c2%85st.png",  # C1 control (NEL)
        "/images/%zz.png",
        "/images/50%.png",
        "/images/%ff%fe.png",  # not UTF-8
        "/_variants/sm/webp/images/test.png",  # derived objects are not public
        "/_variants",
        "/_variants-sm",  # the sm variant of an original named like the derived prefix (found by fuzzing)
        "/" + "a" * 1025 + ".png",
        "/" + "a" * (1024 - 20) + "-sm.png",  # original fits S3 but leaves no room for a derived key
    ],
)
def test_malformed_public_paths(path):
    with pytest.raises(MalformedKey):
        parse_public_path(path, CONFIG)


def test_longest_original_that_still_fits():
    budget = CONFIG.limits.max_key_bytes - longest_derived_prefix(CONFIG)
    name = "a" * (budget - 4) + ".png"
    request = parse_public_path(f"/{name[:-4]}-sm.png", CONFIG)
    longest = derived_key(CONFIG, max(CONFIG.variants, key=len), max(OUTPUT_FORMATS, key=len), request.original_key)
    assert len(longest.encode()) == CONFIG.limits.max_key_bytes
    with pytest.raises(MalformedKey):
        parse_public_path(f"/a{name[:-4]}-sm.png", CONFIG)


def test_derived_key_layout_lists_by_prefix():
    keys = [derived_key(CONFIG, v, f, o) for v in CONFIG.variants for f in OUTPUT_FORMATS for o in ("a.png", "b/c.jpg")]
    sm_webp = CONFIG.settings_id("sm", "webp")
    assert len(sm_webp) == 10 and int(sm_webp, 16) >= 0
    assert derived_key(CONFIG, "sm", "webp", "images/test.png") == f"_variants/sm/webp/{sm_webp}/images/test.png"
    assert {k for k in keys if k.startswith("_variants/sm/")} == {
        f"_variants/sm/{f}/{CONFIG.settings_id('sm', f)}/{o}" for f in OUTPUT_FORMATS for o in ("a.png", "b/c.jpg")
    }


@pytest.mark.parametrize(
    "key",
    [
        "images/test.png",
        "_variants/sm/webp",
        "_variants/sm/webp/a.png",  # the layout before settings ids
        "_variants/xs/webp/0123456789/a.png",
        "_variants/sm/gif/0123456789/a.png",
        "_variants/sm/webp/012345678/a.png",
        "_variants/sm/webp/012345678G/a.png",
        "_variants/sm/webp/0123456789/../a.png",
        "_variants/sm/webp/0123456789/_variants/sm/webp/0123456789/a.png",
        "other/sm/webp/0123456789/a.png",
    ],
)
def test_malformed_derived_keys(key):
    with pytest.raises(MalformedKey):
        parse_derived_key(CONFIG, key)


# Segments of printable text, including '-', '.', '%', unicode and variant-looking suffixes.
segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\\x85"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))
suffix = st.sampled_from(["", "-sm", "-md", "-xx", "-SM", "-"])
extension = st.sampled_from(["", ".png", ".jpg", ".tar.gz", "."])


@st.composite
def original_keys(draw):
    parts = draw(st.lists(segment, min_size=1, max_size=4))
    parts[-1] = parts[-1] + draw(suffix) + draw(extension)
    key = "/".join(parts)
    if key.split("/", 1)[0] == CONFIG.derived_prefix or key.split("/")[-1] in (".", ".."):
        key = "x" + key
    return key


@given(original_keys(), st.sampled_from(sorted(CONFIG.variants)), st.sampled_from(OUTPUT_FORMATS))
def test_derived_key_round_trips_and_never_equals_an_original(key, variant, fmt):
    derived = derived_key(CONFIG, variant, fmt, key)
    assert parse_derived_key(CONFIG, derived) == DerivedKey(variant, fmt, CONFIG.settings_id(variant, fmt), key)
    assert derived != key
    with pytest.raises(MalformedKey):  # a derived key is never accepted as a public original
        parse_public_path("/" + derived, CONFIG)


@given(original_keys(), st.sampled_from(sorted(CONFIG.variants)))
def test_public_path_is_the_inverse_of_the_parse(key, variant):
    path = public_path(variant, key)
    assert parse_public_path(path, CONFIG) == PublicRequest(key, variant)


@given(st.text(max_size=60))
def test_parse_public_path_never_fails_other_than_malformed(text):
    try:
        request = parse_public_path("/" + text, CONFIG)
    except MalformedKey:
        return
    assert not request.original_key.startswith(CONFIG.derived_prefix + "/")
    assert ".." not in request.original_key.split("/")
