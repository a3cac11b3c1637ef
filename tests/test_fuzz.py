"""Fuzzing: the key contract across both handlers, format negotiation, and the decoders on damaged real photos.

Each property runs twice: briefly in the default suite, and with the "fuzz" hypothesis profile (100,000 examples,
registered in conftest.py) in the slow run, which the default run leaves out:

    .venv/bin/pytest -m slow tests/test_fuzz.py

The decoder smoke fuzz damages corpus files (scikit-image's photos without the corpus) with seeded random
mutations and decodes them in-process on both backends: every outcome is a Result or a ResizerError.
"""

import io
import random
import traceback

import cf_events
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from resizer.config import BACKENDS, load_config
from resizer.edge.negotiate import choose_format, fallback_format
from resizer.edge.viewer import ViewerRequest
from resizer.errors import MalformedKey, ResizerError
from resizer.image.formats import FORMATS
from resizer.image.pipeline import transform
from resizer.keys import parse_derived_key, parse_public_path, percent_decode, validate_key

CONFIG = load_config()
VIEWER = ViewerRequest(CONFIG)
SM = CONFIG.variant("sm")
FUZZ = settings.get_profile("fuzz")


def quick_and_slow(strategy_args: tuple, check):
    """The property `check` as a quick default test and a 100k-example slow one."""
    quick = given(*strategy_args)(check)
    slow = pytest.mark.slow(settings(FUZZ)(given(*strategy_args)(check)))
    return quick, slow


# --- keys: what the viewer-request writes is what the origin-response reads -------------------------------

# Path segments as sent on the wire: safe text, escapes of any byte (%2e, %2f, %00, %ff, ...), raw unicode,
# and the pieces that matter to the contract ('.', '..', '-sm', '.png', the derived prefix).
piece = st.one_of(
    st.text(alphabet="abcXYZ019_-.~ ", min_size=1, max_size=6),
    st.binary(min_size=1, max_size=3).map(lambda b: "".join(f"%{x:02X}" for x in b)),
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)),
            min_size=1, max_size=2),
    st.sampled_from([".", "..", "%2e%2E", "-sm", "-md", "-SM", ".png", ".jpg", "%", "%2f", "\\", "_variants"]),
)
segment = st.lists(piece, min_size=1, max_size=5).map("".join)
wire_path = st.lists(segment, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))
long_names = st.integers(900, 1100).map(lambda n: "/" + "a" * n + "-sm.png")


def check_viewer_and_origin_agree_on_keys(path: str) -> None:
    """The viewer answers 400, passes an original through, or rewrites to a derived key that the origin-response
    parses back to the same original; never a 500, never a key S3 would refuse, never traversal."""
    try:
        expected = parse_public_path(path, CONFIG)
    except MalformedKey:
        expected = None
    result = VIEWER(cf_events.viewer_request(path, "image/webp"), None)
    if expected is None:
        assert result["status"] == "400"
        return
    assert "status" not in result
    key = percent_decode(result["uri"])[1:]
    if expected.variant is None:
        assert result["uri"] == path
        assert key == expected.original_key
    else:
        assert len(key.encode()) <= CONFIG.limits.max_key_bytes
        derived = parse_derived_key(CONFIG, key)
        assert (derived.variant, derived.original_key) == (expected.variant, expected.original_key)
        assert derived.format in SM.formats or derived.format == fallback_format(expected.original_key)
    validate_key(expected.original_key, CONFIG)
    assert ".." not in expected.original_key.split("/")
    assert not expected.original_key.startswith(CONFIG.derived_prefix + "/")


test_viewer_and_origin_agree_on_keys, test_viewer_and_origin_agree_on_keys_long = quick_and_slow(
    (st.one_of(wire_path, long_names),), check_viewer_and_origin_agree_on_keys)


# --- negotiation: order, wildcards and refusals never change the choice ----------------------------------------

MEDIA_TYPES = ["image/avif", "image/webp", "image/png", "image/jpeg", "IMAGE/AVIF", "Image/WebP", "image/apng",
               "image/svg+xml", "image/*", "*/*", "text/html", "image/avif+x", "image/webpx", ""]
Q = st.sampled_from([None, "1", "0.8", "0.001", "0", "0.0", "abc", "", "1e-9", "-1", "nan", "inf"])
item = st.tuples(st.sampled_from(MEDIA_TYPES), Q, st.sampled_from(["", " ", "  "]))
key = st.sampled_from(["a.jpg", "a.JPEG", "b.png", "c.gif", "d.webp", "e.avif", "f.tiff", "noext", "g.svg"])


def render(items) -> str:
    return ",".join(f"{pad}{media}{pad}" + ("" if q is None else f";q={q}") for media, q, pad in items)


def named_with_weight(items, media: str) -> bool:
    def weight(q):
        try:
            return float(q) if q is not None else 1.0
        except ValueError:
            return 0.0
    return any(m.lower() == media and weight(q) > 0 for m, q, _ in items)


def check_negotiation(items, original, permutation_seed) -> None:
    chosen = choose_format(render(items), SM, original)
    shuffled = list(items)
    random.Random(permutation_seed).shuffle(shuffled)
    noise = shuffled + [("image/*", "1", ""), ("*/*", None, ""), ("image/jxl", "1", ""), ("image/avif", "0", "")]
    assert choose_format(render(shuffled), SM, original) == chosen
    assert choose_format(render(noise), SM, original) == chosen
    # The model: the first of the variant's formats named with q > 0, else the original's family.
    accepted = [fmt for fmt in SM.formats if named_with_weight(items, FORMATS[fmt].media_type)]
    assert chosen == (accepted[0] if accepted else fallback_format(original))


test_negotiation, test_negotiation_long = quick_and_slow(
    (st.lists(item, max_size=8), key, st.integers(0, 2**32)), check_negotiation)


# --- decoders: damaged real photos -----------------------------------------------------------------------------

def mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded damage: flipped bytes (often in the headers), a cut, an inserted or repeated run."""
    out = bytearray(data)
    kind = rng.choice(["flip", "flip-header", "cut", "insert", "repeat"])
    if kind in ("flip", "flip-header"):
        span = min(len(out), 2048) if kind == "flip-header" else len(out)
        for _ in range(rng.randint(1, 16)):
            out[rng.randrange(span)] = rng.randrange(256)
    elif kind == "cut":
        del out[rng.randrange(1, len(out)):]
    elif kind == "insert":
        at = rng.randrange(len(out))
        out[at:at] = rng.randbytes(rng.randint(1, 64))
    else:
        at = rng.randrange(len(out))
        out[at:at] = out[at:at + rng.randint(1, 4096)]
    return bytes(out)


@pytest.fixture(scope="module")
def fuzz_originals(real_photos) -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in real_photos]


def smoke(backend: str, originals, count: int, seed: int, fast_config) -> None:
    rng, escaped = random.Random(seed), []
    for i in range(count):
        name, data = originals[rng.randrange(len(originals))]
        damaged = mutate(data, rng)
        try:
            result = transform(damaged, fast_config.variant("sm"), "jpeg", backend=backend)
        except ResizerError:
            continue
        except Exception:  # noqa: BLE001 - what this test exists to find
            escaped.append(f"#{i} {name}: {traceback.format_exc(limit=-3)}")
            continue
        assert Image.open(io.BytesIO(result.data)).size == (result.width, result.height)
    assert not escaped, "\n".join(escaped)


@pytest.mark.parametrize("backend", BACKENDS)
def test_damaged_originals_are_results_or_resizer_errors(backend, fuzz_originals, fast_config):
    smoke(backend, fuzz_originals, count=10, seed=1, fast_config=fast_config)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_damaged_originals_are_results_or_resizer_errors_long(backend, fuzz_originals, fast_config):
    smoke(backend, fuzz_originals, count=2000, seed=2, fast_config=fast_config)
