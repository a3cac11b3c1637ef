"""Variant geometry: boxes given by width and/or height, `cover` crops and where they go (centre, focal points,
libvips' smart crops), on both backends, with EXIF orientation applied first; and no change for `size = N`."""

import hashlib
import io

import pytest
from conftest import decode, marked, red_pixels, save
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from resizer.config import BACKENDS, parse_config
from resizer.errors import ConfigError
from resizer.image.backends import get_backend
from resizer.image.formats import formats_written_for
from resizer.image.pipeline import inspect, render_each, render_variants, shrink_on_load, transform
from resizer.image.sizing import Geometry, crop_origin, focal_point, plan

BACKEND_NAMES = pytest.mark.parametrize("backend", BACKENDS)

CROPS = """
[variants.square]
width = 300
height = 300
fit = "cover"
formats = ["webp"]

[variants.card]
width = 400
height = 225
fit = "cover"
gravity = "focus"
formats = ["webp"]

[variants.tall]
width = 200
height = 400
fit = "cover"
gravity = "focus"
fallback = "centre"
formats = ["webp"]

[variants.wide]
width = 500
formats = ["webp"]
"""


def old_fit_inside(width: int, height: int, box: int) -> tuple[int, int]:
    """The size rule `size = N` variants have always had (before geometry), written out as the reference."""
    if max(width, height) <= box:
        return width, height
    if width >= height:
        return box, max(1, round(height * box / width))
    return max(1, round(width * box / height)), box


@given(width=st.integers(1, 5000), height=st.integers(1, 5000), box=st.integers(1, 2000))
def test_a_square_inside_box_sizes_as_before(width, height, box):
    assert plan(width, height, Geometry(box, box)).size == old_fit_inside(width, height, box)


@given(width=st.integers(1, 5000), height=st.integers(1, 5000), box_w=st.integers(1, 2000),
       box_h=st.integers(1, 2000), enlarge=st.booleans())
def test_cover_fills_the_box_or_keeps_its_aspect_without_enlarging(width, height, box_w, box_h, enlarge):
    p = plan(width, height, Geometry(box_w, box_h, "cover", enlarge=enlarge))
    out_w, out_h = p.size
    assert p.resized[0] >= out_w and p.resized[1] >= out_h  # the crop fits in what was resized
    if enlarge or (width >= box_w and height >= box_h):
        assert p.size == (box_w, box_h)
        assert p.resized[0] == box_w or p.resized[1] == box_h  # one side exactly, the other overflows
    else:  # smaller than the box: cut to its aspect at the original's own scale
        assert p.resized == (width, height) and out_w <= width and out_h <= height
        assert out_w == width or out_h == height
        aspect = box_w / box_h  # the other side is the nearest whole pixel to the aspect (at least 1 px)
        assert (abs(out_w - out_h * aspect) <= 0.5 + 1e-9 or abs(out_h - out_w / aspect) <= 0.5 + 1e-9
                or min(out_w, out_h) == 1)


def test_one_side_alone_bounds_only_that_side():
    assert plan(4000, 1000, Geometry(500, None)).size == (500, 125)
    assert plan(1000, 4000, Geometry(500, None)).size == (500, 2000)
    assert plan(1000, 4000, Geometry(None, 300)).size == (75, 300)
    assert plan(400, 100, Geometry(500, None)).size == (400, 100)  # never enlarged
    assert plan(400, 100, Geometry(800, None, enlarge=True)).size == (800, 200)


def test_crop_origin_centres_on_the_point_and_stays_inside():
    assert crop_origin((800, 400), (400, 400), (0.5, 0.5)) == (200, 0)
    assert crop_origin((800, 400), (400, 400), (0.9, 0.1)) == (400, 0)  # clamped at the right edge
    assert crop_origin((800, 400), (400, 400), (0.0, 1.0)) == (0, 0)
    assert crop_origin((400, 1000), (400, 300), (0.5, 0.2)) == (0, 50)


@pytest.mark.parametrize(("value", "point", "problem"), [
    ("0.62,0.31", (0.62, 0.31), None), (" 1 , 0 ", (1.0, 0.0), None),
    ("0.5", None, "two numbers"), ("a,b", None, "two numbers"), ("0.1,0.2,0.3", None, "two numbers"),
    ("1.5,0.2", None, "between 0 and 1"), ("nan,0.5", None, "between 0 and 1"), ("-0.1,0.5", None, "between 0 and 1"),
])
def test_focal_points_parse_or_say_why_not(value, point, problem):
    got, why = focal_point({"focus": value})
    assert got == point
    assert (why is None) if problem is None else (problem in why)
    assert focal_point({}) == (None, None)


# --- config ---------------------------------------------------------------------------------------------------

def test_geometry_is_part_of_the_settings_id_and_square_inside_boxes_keep_theirs():
    def ids(spec: str) -> dict:
        config = parse_config(f"[variants.v]\n{spec}\nformats = [\"webp\"]\n")
        return {f: config.settings_id("v", f) for f in ("webp", "jpeg")}

    plain = ids("size = 250")
    assert ids("width = 250\nheight = 250") == ids('width = 250\nheight = 250\nfit = "inside"') == plain
    variants = [ids('width = 250\nheight = 250\nfit = "cover"'), ids("width = 250"),
                ids('width = 250\nheight = 250\nfit = "cover"\ngravity = "attention"'),
                ids('width = 250\nheight = 250\nfit = "cover"\ngravity = "focus"'),
                ids('width = 250\nheight = 250\nfit = "cover"\ngravity = "focus"\nfallback = "entropy"'),
                ids("width = 250\nheight = 250\nenlarge = true"), ids("width = 250\nheight = 200")]
    assert len({tuple(v.values()) for v in [plain, *variants]}) == len(variants) + 1


@pytest.mark.parametrize(("spec", "field", "problem"), [
    ("size = 100\nwidth = 100", "size", "not both"),
    ('width = 100\nfit = "cover"', "fit", "width and height"),
    ('size = 100\nfit = "fill"', "fit", "inside, cover"),
    ('size = 100\ngravity = "centre"', "gravity", "cover"),
    ('size = 100\nfit = "cover"\ngravity = "faces"', "gravity", "centre, attention"),
    ('size = 100\nfit = "cover"\nfallback = "centre"', "fallback", "focus"),
    ('size = 100\nfit = "cover"\ngravity = "focus"\nfallback = "focus"', "fallback", "centre, attention"),
    ("width = 0", "width", "between 1 and 16384"),
    ("formats = []", "size", "required"),
    ('size = 100\nenlarge = "yes"', "enlarge", "bool"),
])
def test_bad_geometry_is_a_config_error_naming_the_field(spec, field, problem):
    with pytest.raises(ConfigError) as raised:
        parse_config(f"[variants.v]\n{spec}\n")
    assert f"variants.v.{field}" in str(raised.value) and problem in str(raised.value)


@pytest.mark.parametrize("spec", ['gravity = "attention"', 'gravity = "entropy"',
                                  'gravity = "focus"\nfallback = "attention"'])
def test_pillow_refuses_smart_crops_by_name(spec):
    text = f'backend = "pillow"\n[variants.v]\nsize = 100\nfit = "cover"\n{spec}\n'
    with pytest.raises(ConfigError, match="pillow backend cannot make attention or entropy crops"):
        parse_config(text)
    parse_config(text.replace('"pillow"', '"vips"'))  # the control: vips makes them


# --- pixels ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crops():
    return parse_config(CROPS)


@BACKEND_NAMES
@pytest.mark.parametrize("name", ["square", "card", "tall"])
def test_cover_variants_are_exactly_their_box_for_large_enough_originals(backend, name, crops, sample_photo):
    data = sample_photo.read_bytes()
    width, height = inspect(data).oriented_size
    variant = crops.variant(name)
    result = transform(data, variant, "webp", backend=backend)
    assert decode(result.data).size == (result.width, result.height)
    if width >= variant.shape().width and height >= variant.shape().height:
        assert (result.width, result.height) == (variant.shape().width, variant.shape().height)
    left, top, right, bottom = result.window
    assert 0 <= left < right <= width + 1e-6 and 0 <= top < bottom <= height + 1e-6


@BACKEND_NAMES
def test_a_focal_point_keeps_the_marked_region_in_the_crop_and_centre_does_not(backend, crops):
    data = save(marked(1600, 800, (0.9, 0.1)), "PNG")
    variant = crops.variant("card")._replace(geometry=crops.variant("card").shape()._replace(width=400, height=400))
    focused = transform(data, variant, "webp", backend=backend, focus=(0.9, 0.1))
    centred = transform(data, crops.variant("square"), "webp", backend=backend, focus=(0.9, 0.1))
    unfocused = transform(data, variant, "webp", backend=backend)  # focus gravity, no point: the fallback
    assert (focused.width, focused.height) == (400, 400)
    assert red_pixels(focused.data) > 300  # 20x20 px of the mark at half scale, all of it
    assert red_pixels(centred.data) == 0 and red_pixels(unfocused.data) == 0


@BACKEND_NAMES
@pytest.mark.parametrize("orientation", ["upright_exif6.jpg", "upright_exif8.jpg"])
def test_exif_orientation_is_applied_before_the_crop(backend, orientation, crops):
    upright = marked(600, 400, (0.85, 0.2))
    turned = upright.transpose(Image.Transpose.ROTATE_90 if orientation.endswith("6.jpg")
                               else Image.Transpose.ROTATE_270)
    tags = Image.Exif()
    tags[0x0112] = 6 if orientation.endswith("6.jpg") else 8
    data = save(turned, "JPEG", quality=95, exif=tags.tobytes())
    assert inspect(data).oriented_size == (600, 400)
    variant = crops.variant("tall")
    result = transform(data, variant, "webp", backend=backend, focus=(0.85, 0.2))
    assert (result.width, result.height) == (200, 400)  # a portrait cut of the upright landscape
    assert red_pixels(result.data) > 100
    assert red_pixels(transform(data, variant, "webp", backend=backend).data) == 0  # centre misses the mark


def test_attention_and_entropy_are_libvips_smartcrop_windows(sample_photos):
    config = parse_config('[variants.a]\nsize = 200\nfit = "cover"\ngravity = "attention"\n'
                          '[variants.e]\nsize = 200\nfit = "cover"\ngravity = "entropy"\n'
                          '[variants.c]\nsize = 200\nfit = "cover"\n')
    import pyvips

    moved = 0
    for path in sample_photos:
        data = path.read_bytes()
        for name, interesting in (("a", "attention"), ("e", "entropy")):
            result = transform(data, config.variant(name), "png")
            p = config.variant(name).plan(*inspect(data).oriented_size)
            # the independent reference: libvips' own smartcrop of the same resized pixels
            resized = pyvips.Image.new_from_buffer(transform(data, config.variant(name)._replace(
                geometry=None, size=max(p.resized)), "png").data, "")
            expected = resized.smartcrop(200, 200, interesting=interesting, premultiplied=False)
            assert (round(result.window[0] * p.resized[0] / p.source[0]), round(
                result.window[1] * p.resized[1] / p.source[1])) == (-expected.xoffset, -expected.yoffset)
        moved += transform(data, config.variant("a"), "png").window != transform(data, config.variant("c"),
                                                                               "png").window
    assert moved  # attention is not centre under another name


@BACKEND_NAMES
def test_a_small_original_is_cut_to_the_aspect_and_not_enlarged_unless_asked(backend):
    config = parse_config('[variants.c]\nwidth = 800\nheight = 400\nfit = "cover"\n'
                          '[variants.big]\nwidth = 800\nheight = 400\nfit = "cover"\nenlarge = true\n')
    data = save(marked(500, 500, (0.5, 0.5)), "PNG")
    assert transform(data, config.variant("c"), "webp", backend=backend)[3:5] == (500, 250)
    assert transform(data, config.variant("big"), "webp", backend=backend)[3:5] == (800, 400)


@BACKEND_NAMES
def test_batches_make_the_bytes_a_miss_makes(backend, crops, sample_photos):
    """`resizer variants` (render_variants) and `resizer warm` (render_each) store what the edge would."""
    requests = [(v, "webp") for v in crops.variants.values()]
    for path in sample_photos[:3]:
        data = path.read_bytes()
        alone = [transform(data, v, f, backend=backend, focus=(0.2, 0.7)).data for v, f in requests]
        assert [r.data for r in render_each(data, requests, backend=backend, focus=(0.2, 0.7))] == alone
        batch = render_variants(data, requests, backend=backend, focus=(0.2, 0.7))
        assert [r.data for r in batch][:3] == alone[:3]  # crops are made alone; `wide` cascades


@BACKEND_NAMES
def test_size_variants_make_the_bytes_the_old_steps_make(backend, config, sample_photos):
    """No change for configs without the new keys: each output equals the steps as they were before geometry
    (shrink-on-load for the box, orient, sRGB, resize to the old rule, flatten, encode) run by hand."""
    be = get_backend(backend)
    for path in sample_photos[:4]:
        data = path.read_bytes()
        info = be.probe(data, inspect(data).format)
        for variant in config.variants.values():
            for fmt in formats_written_for("jpeg")[:1] + ("webp",):
                settings = variant.encoder(fmt)
                if settings.per_image or settings.search:
                    continue
                image = be.to_srgb(be.orient(be.load(data, info, shrink_on_load(info, [variant])),
                                             info.orientation))
                size = old_fit_inside(*info.oriented_size, variant.size)
                if be.size(image) != size:
                    image = be.resize(image, *size)
                image = be.materialize(image)
                if fmt == "jpeg" and be.has_alpha(image):
                    image = be.flatten(image)
                by_hand = be.encode(image, fmt, settings)
                made = transform(data, variant, fmt, backend=backend).data
                assert hashlib.sha256(made).digest() == hashlib.sha256(by_hand).digest(), (path.name, variant.name)


def test_cover_images_decode_to_their_size_in_every_format(crops, photo):
    data = save(photo, "JPEG", quality=95)
    for fmt in ("jpeg", "png", "webp", "avif"):
        result = transform(data, crops.variant("square"), fmt)
        assert Image.open(io.BytesIO(result.data)).size == (300, 300)
