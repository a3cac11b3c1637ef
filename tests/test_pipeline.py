"""The transform pipeline end to end on both backends: refusals and limits, corrupt input, output formats and
sizes, EXIF orientation, colour management, alpha, animation, and backend parity over the corpus."""

import csv
import io
import random
import zlib

import numpy as np
import pytest
from conftest import decode, save
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps
from skimage.metrics import structural_similarity

from resizer.config import BACKENDS, Limits, Variant
from resizer.errors import CorruptImage, ResizerError, TooLarge, UnsupportedType
from resizer.image.backends import get_backend
from resizer.image.backends.base import SourceInfo
from resizer.image.formats import FORMATS, OUTPUT_FORMATS
from resizer.image.pipeline import SOURCE_STEPS, VARIANT_STEPS, inspect, render_variants, shrink_on_load, transform
from resizer.image.sizing import fit_inside

BACKEND_NAMES = pytest.mark.parametrize("backend", BACKENDS)
PIXELS_ONLY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])



def rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b).mean())


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An independent reference: Pillow's plain LANCZOS, no pipeline involved."""
    return image.resize(size, Image.Resampling.LANCZOS)


# --- refusals, limits, corrupt input ------------------------------------------------------------------------

REFUSED = {
    "svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
    "bmp": b"BM" + bytes(60),
    "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40),
    "pdf": b"%PDF-1.7\n" + bytes(40),
    "text": b"hello, this is not an image at all",
    "empty": b"",
}
SNIFFED_AS = {"text": "unknown", "empty": "unknown"}  # the others are recognised, and refused by name
STEP_NAMES = {step.__name__ for step in (*SOURCE_STEPS, *VARIANT_STEPS)}


@BACKEND_NAMES
@pytest.mark.parametrize("kind", REFUSED)
def test_refused_and_unknown_types_are_415(backend, kind, config):
    with pytest.raises(UnsupportedType, match=f"^source format {SNIFFED_AS.get(kind, kind)}$"):
        transform(REFUSED[kind], config.variant("sm"), "webp", backend=backend)
    with pytest.raises(UnsupportedType):
        inspect(REFUSED[kind], backend=backend)


@BACKEND_NAMES
def test_byte_limit_is_413(backend, generated_images, fast_config):
    data = generated_images["grey.jpg"]
    with pytest.raises(TooLarge, match=f"^{len(data)} bytes > {len(data) - 1}$"):  # the byte check, not pixels
        transform(data, fast_config.variant("sm"), "jpeg", backend=backend,
                  limits=Limits(max_source_bytes=len(data) - 1))
    result = transform(data, fast_config.variant("sm"), "jpeg", backend=backend,
                       limits=Limits(max_source_bytes=len(data)))
    assert result.format == "jpeg"


def png_without_pixels(width: int, height: int) -> bytes:
    """A valid PNG header promising width×height, then the start of the pixel data and the end of the file."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    stream = zlib.compressobj()
    first_rows = stream.compress(bytes(2 * (1 + 3 * width))) + stream.flush(zlib.Z_SYNC_FLUSH)  # not finished
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", first_rows)


@BACKEND_NAMES
def test_pixel_limit_is_checked_from_the_header_before_decoding(backend, config):
    with pytest.raises(TooLarge):  # 400 Mpx promised: refused although the pixels are not even there
        transform(png_without_pixels(20_000, 20_000), config.variant("sm"), "jpeg", backend=backend)
    with pytest.raises(CorruptImage):  # within the limit: decoding is attempted, and fails
        transform(png_without_pixels(200, 200), config.variant("sm"), "jpeg", backend=backend)


@BACKEND_NAMES
def test_only_the_first_max_frames_count_towards_the_pixel_limit(backend, generated_images, fast_config):
    data, sm = generated_images["animated.gif"], fast_config.variant("sm")  # 3 frames of 120×90
    limit = 120 * 90 * 2
    result = transform(data, sm, "png", backend=backend, limits=Limits(max_source_pixels=limit, max_frames=1))
    assert result.format == "png"
    with pytest.raises(TooLarge):
        transform(data, sm, "png", backend=backend, limits=Limits(max_source_pixels=limit, max_frames=3))


def corrupt_cases(generated_images, photo) -> dict[str, bytes]:
    progressive = save(photo, "JPEG", progressive=True)
    noise = random.Random(7).randbytes(4000)
    cases = {f"truncated {name}": generated_images[name][: len(generated_images[name]) * 2 // 3]
             for name in ("grey.jpg", "cmyk.jpg", "rgba.png", "upright_rgb16.png", "rgba.webp")}
    cases["truncated progressive jpeg"] = progressive[: len(progressive) * 2 // 3]
    cases["truncated avif"] = save(photo, "AVIF", speed=9)[:3000]
    for fmt, magic in {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n", "gif": b"GIF89a",
                       "webp": b"RIFF\x00\x10\x00\x00WEBP", "tiff": b"II*\x00"}.items():
        cases[f"{fmt} magic then noise"] = magic + noise
    return cases


CORRUPT = ["truncated grey.jpg", "truncated cmyk.jpg", "truncated rgba.png", "truncated upright_rgb16.png",
           "truncated rgba.webp", "truncated progressive jpeg", "truncated avif", "jpeg magic then noise",
           "png magic then noise", "gif magic then noise", "webp magic then noise", "tiff magic then noise"]


@BACKEND_NAMES
@pytest.mark.parametrize("case", CORRUPT)
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's TIFF plugin warns about the damage it skips
def test_corrupt_or_truncated_images_are_422(backend, case, generated_images, photo, config):
    data = corrupt_cases(generated_images, photo)[case]
    with pytest.raises(CorruptImage) as err:
        transform(data, config.variant("sm"), "jpeg", backend=backend)
    # the log's detail: the step that failed and the decoder's own words
    step, _, detail = str(err.value).partition(": ")
    assert step in STEP_NAMES and detail == str(err.value.__cause__), str(err.value)


@pytest.fixture(scope="module")
def fuzz_seeds(photo) -> list[bytes]:
    small = photo.resize((64, 43))
    return [save(small, fmt, **params) for fmt, params in
            [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("WEBP", {}), ("GIF", {}),
             ("TIFF", {}), ("AVIF", {"speed": 9})]]


@BACKEND_NAMES
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's TIFF plugin warns about the damage it skips
@settings(PIXELS_ONLY, max_examples=60)
@given(data=st.data())
def test_damaged_bytes_raise_nothing_but_resizer_errors(backend, data, fuzz_seeds, fast_config):
    original = bytearray(data.draw(st.sampled_from(fuzz_seeds)))
    for _ in range(data.draw(st.integers(1, 8))):
        original[data.draw(st.integers(0, len(original) - 1))] = data.draw(st.integers(0, 255))
    damaged = bytes(original[: data.draw(st.integers(1, len(original)))])
    try:
        result = transform(damaged, fast_config.variant("sm"), "webp", backend=backend)
    except ResizerError:
        return
    assert decode(result.data).size == (result.width, result.height)


@BACKEND_NAMES
@pytest.mark.parametrize("fmt", ["jpeg", "webp", "png"])
def test_a_tiff_with_five_samples_per_pixel_is_422_not_a_crash(backend, fmt, fast_config):
    # Found by fuzzing: a damaged header can claim hundreds of samples per pixel; no encoder takes more than RGBA.
    import pyvips

    five = pyvips.Image.new_from_array(np.full((40, 60, 5), 128, dtype=np.uint8)).copy(interpretation="srgb")
    with pytest.raises(CorruptImage):
        transform(five.tiffsave_buffer(), fast_config.variant("sm"), fmt, backend=backend)


# --- outputs ------------------------------------------------------------------------------------------------

STEP_NAMES = [step.__name__ for step in SOURCE_STEPS + VARIANT_STEPS]


@BACKEND_NAMES
def test_every_variant_and_format_decodes_as_promised(backend, sample_photo, fast_config):
    data = sample_photo.read_bytes()
    requests = [(variant, fmt) for variant in fast_config.variants.values() for fmt in OUTPUT_FORMATS]
    results = render_variants(data, requests, backend=backend)
    upright = ImageOps.exif_transpose(Image.open(sample_photo)).size
    for (variant, fmt), result in zip(requests, results, strict=True):
        assert (result.format, result.media_type) == (fmt, FORMATS[fmt].media_type)
        assert (result.width, result.height) == fit_inside(*upright, variant.size)
        out = decode(result.data)
        assert (out.format, out.size) == (fmt.upper(), (result.width, result.height))
        assert list(result.timings) == STEP_NAMES


@BACKEND_NAMES
def test_render_variants_decodes_once_at_the_largest_size(backend, generated_images, fast_config):
    class CountingLoads(type(get_backend(backend))):
        def load(self, data, info, shrink):
            self.shrinks.append(shrink)
            return super().load(data, info, shrink)

    counting = CountingLoads()
    counting.shrinks = []
    data = save(Image.open(io.BytesIO(generated_images["grey.jpg"])).resize((3000, 2000)), "JPEG")
    requests = [(fast_config.variant(name), fmt) for name in ("sm", "md", "lg") for fmt in ("jpeg", "webp")]
    results = render_variants(data, requests, backend=counting)
    assert counting.shrinks == [shrink_on_load(inspect(data), [fast_config.variant("lg")])] == [2]
    for (variant, fmt), result in zip(requests, results, strict=True):
        alone = transform(data, variant, fmt, backend=backend)
        assert (result.format, result.width, result.height) == (alone.format, alone.width, alone.height)
    assert render_variants(data, [], backend=backend) == []
    with pytest.raises(ValueError, match="not an output format"):
        render_variants(data, [(fast_config.variant("sm"), "gif")], backend=backend)


@pytest.mark.parametrize("count", [1, 4])
def test_nothing_holds_the_decode_once_the_encoder_runs(count, photo, fast_config):
    """What keeps peak memory down (benchmarks/memory.py): the pipeline drops every reference to the decoded image
    before an encoder allocates, for one variant and for a cascade of several. Watched on Pillow's images (pyvips
    images take no weak references; libvips frees a decoder when its last reference goes, as measured there)."""
    import gc
    import weakref

    class Watching(type(get_backend("pillow"))):
        def load(self, data, info, shrink):
            image = super().load(data, info, shrink)
            self.decoded = weakref.ref(image)
            return image

        def encode(self, image, fmt, settings):
            gc.collect()
            self.alive_at_encode.append(self.decoded() is not None)
            return super().encode(image, fmt, settings)

    watching = Watching()
    watching.alive_at_encode = []
    requests = [(v, "webp") for v in list(fast_config.variants.values())[-count:]]
    big = save(photo.resize((2400, 1600)), "JPEG")  # larger than every variant: each one is a resize
    render_variants(big, requests, backend=watching)
    assert watching.alive_at_encode == [False] * count


def test_shrink_on_load_leaves_at_least_a_factor_of_two_to_the_resize(fast_config):
    def factor(fmt, width, height, box, orientation=1):
        return shrink_on_load(SourceInfo(fmt, width, height, orientation, False, False, 1, "RGB", 3, 8),
                              [fast_config.variant("sm")._replace(size=box)])

    # 4000×3000 into box 250 is 250×188: 15.96× on the short side, so 8 would leave less than 2 -> 4
    assert [factor("jpeg", 4000, 3000, box) for box in (100, 200, 250, 500, 700, 1000, 1200, 4000)] == [
        8, 8, 4, 4, 2, 2, 1, 1]
    assert factor("jpeg", 3000, 4000, 200, orientation=6) == 8
    assert factor("png", 4000, 3000, 100) == factor("webp", 4000, 3000, 100) == 1


@BACKEND_NAMES
@settings(PIXELS_ONLY, max_examples=20)
@given(width=st.integers(1, 900), height=st.integers(1, 900), box=st.integers(1, 300))
def test_output_size_is_fit_inside_whatever_the_shrink_on_load(backend, width, height, box, fast_config):
    gradient = np.add.outer(np.arange(height) * 7 % 256, np.arange(width) * 3 % 256) % 256
    data = save(Image.fromarray(gradient.astype(np.uint8)), "JPEG", quality=70)
    variant = Variant("t", box, ("webp",), fast_config.variant("sm").encoders)
    result = transform(data, variant, "jpeg", backend=backend)
    assert (result.width, result.height) == fit_inside(width, height, box)
    assert decode(result.data).size == fit_inside(width, height, box)


# --- orientation, colour, alpha, animation ------------------------------------------------------------------

@BACKEND_NAMES
@pytest.mark.parametrize("name", ["upright_exif6.jpg", "upright_exif8.jpg"])
def test_exif_orientation_comes_out_upright(backend, name, generated_images, photo, fast_config):
    result = transform(generated_images[name], fast_config.variant("md"), "png", backend=backend)
    out = rgb(decode(result.data))
    reference = resized(photo, (result.width, result.height))
    assert (result.width, result.height) == (250, 167)  # photo is landscape; stored portrait
    assert ssim(out, rgb(reference)) > 0.95
    assert ssim(out, rgb(reference.transpose(Image.Transpose.ROTATE_180))) < 0.5


UNDO = {  # EXIF orientation -> how to store an upright image so that the orientation shows it upright again
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@BACKEND_NAMES
@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_eight_exif_orientations(backend, orientation, photo, fast_config):
    upright = photo.resize((150, 100))
    stored = upright.transpose(UNDO[orientation]) if orientation in UNDO else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    result = transform(save(stored, "PNG", exif=exif), fast_config.variant("sm"), "png", backend=backend)
    out = rgb(decode(result.data))
    assert (result.width, result.height) == (100, 67)
    candidates = [upright] + [upright.transpose(op) for op in UNDO.values()]
    diffs = [mean_diff(out, rgb(resized(c, (100, 67)))) for c in candidates if c.size == upright.size]
    assert diffs[0] < 3 and all(d > 3 * diffs[0] for d in diffs[1:]), diffs


def corpus_inventory(corpus_dir) -> dict[str, dict[str, str]]:
    with open(corpus_dir / "inventory.csv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


@BACKEND_NAMES
def test_corpus_photos_with_exif_orientation_come_out_upright(backend, corpus_dir, fast_config):
    inventory = corpus_inventory(corpus_dir)
    rotated = [name for name, row in inventory.items() if row["exif_orientation"] in ("6", "8")]
    assert len(rotated) >= 2
    for name in rotated:
        path = corpus_dir / name
        result = transform(path.read_bytes(), fast_config.variant("md"), "png", backend=backend)
        out = rgb(decode(result.data))
        stored = Image.open(path)
        assert (result.height, result.width) == fit_inside(*stored.size, 250)  # stored sideways: transposed
        reference = resized(ImageOps.exif_transpose(stored), (result.width, result.height))
        right = ssim(out, rgb(reference))
        wrong = ssim(out, rgb(reference.transpose(Image.Transpose.ROTATE_180)))
        assert right > 0.95 and wrong < right - 0.3, (name, right, wrong)


@BACKEND_NAMES
@pytest.mark.parametrize("name", ["upright_p3.jpg", "upright_p3.png"])
def test_wide_gamut_profiles_are_converted_to_srgb(backend, name, generated_images, photo, fast_config):
    data = generated_images[name]
    result = transform(data, fast_config.variant("md"), "png", backend=backend)
    out = decode(result.data)
    assert "icc_profile" not in out.info
    size = (result.width, result.height)
    converted = mean_diff(rgb(out), rgb(resized(photo, size)))
    as_stored = mean_diff(rgb(out), rgb(resized(Image.open(io.BytesIO(data)), size)))  # profile ignored
    assert converted < 3 and converted < as_stored / 2, (converted, as_stored)


@BACKEND_NAMES
def test_adobe_rgb_photo_matches_an_independent_conversion(backend, sample_photos, fast_config):
    path = next(p for p in sample_photos if p.name == "rocket.jpg")  # carries an Adobe RGB (1998) profile
    original = Image.open(path)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(original.info["icc_profile"]))
    srgb = ImageCms.profileToProfile(original, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    result = transform(path.read_bytes(), fast_config.variant("md"), "png", backend=backend)
    out = rgb(decode(result.data))
    size = (result.width, result.height)
    converted = mean_diff(out, rgb(resized(srgb, size)))
    as_stored = mean_diff(out, rgb(resized(original, size)))
    assert converted < 1.5 and converted < as_stored / 2, (converted, as_stored)


@BACKEND_NAMES
@pytest.mark.parametrize("name", ["rgba.png", "rgba.webp", "grey_alpha.png", "grey_alpha16.png"])
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_alpha_is_kept_where_the_format_has_it_and_flattened_on_white_otherwise(
        backend, name, fmt, generated_images, fast_config):
    result = transform(generated_images[name], fast_config.variant("md"), fmt, backend=backend)
    out = np.asarray(decode(result.data))
    clear = out[:, : result.width // 4 - 8]  # the source's fully transparent left quarter
    opaque = out[:, -3:]  # its right edge: alpha near 255
    if FORMATS[fmt].has_alpha:
        assert out.shape[2] == 4
        assert clear[..., 3].max() <= 8 and opaque[..., 3].min() >= 240
    else:
        assert out.shape[2] == 3
        assert clear.min() >= 247  # white
        assert opaque.mean() < 200  # the photo, not white


@BACKEND_NAMES
def test_palette_transparency_becomes_alpha(backend, generated_images, fast_config):
    result = transform(generated_images["palette_transparent.png"], fast_config.variant("md"), "png",
                       backend=backend)
    alpha = np.asarray(decode(result.data))[..., 3]
    assert alpha.min() == 0 and alpha.max() == 255


@BACKEND_NAMES
@pytest.mark.parametrize("name", ["animated.gif", "animated.webp"])
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_animations_render_their_first_frame(backend, name, fmt, generated_images, fast_config):
    result = transform(generated_images[name], fast_config.variant("sm"), fmt, backend=backend)
    red, green, blue = rgb(decode(result.data)).reshape(-1, 3).mean(axis=0)
    assert (result.width, result.height) == (100, 75)
    assert red > 235 and green < 20 and blue < 20


# name -> what it must look like once rendered: the photo itself, or another generated original's rendering
AWKWARD = {
    "upright_rgb16.png": ("photo", 1.0),
    "cmyk.jpg": ("photo", 3.0),
    "grey16.png": ("grey.png", 1.0),
    "grey.jpg": ("grey.png", 2.0),
    "grey_alpha16.png": ("grey_alpha.png", 1.0),
}


@BACKEND_NAMES
@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_sources_look_like_what_they_encode(backend, name, generated_images, photo, fast_config):
    md = fast_config.variant("md")
    result = transform(generated_images[name], md, "png", backend=backend)
    reference_name, tolerance = AWKWARD[name]
    if reference_name == "photo":
        reference = resized(photo, (result.width, result.height))
    else:
        reference = decode(transform(generated_images[reference_name], md, "png", backend=backend).data)
    assert mean_diff(np.asarray(decode(result.data)), np.asarray(reference)) < tolerance


@BACKEND_NAMES
@pytest.mark.parametrize("size, mode, written", [
    ((20, 10), "RGB", "jpeg"), ((40, 15), "RGBA", "png"), ((15, 15), "RGB", "jpeg"),
    ((16, 16), "RGB", "avif"), ((16, 16), "RGBA", "avif")])
def test_avif_under_16_px_falls_back_to_png_or_jpeg(backend, size, mode, written, photo, fast_config):
    data = save(photo.resize(size).convert(mode), "PNG")
    result = transform(data, fast_config.variant("sm"), "avif", backend=backend)
    assert (result.format, result.media_type) == (written, FORMATS[written].media_type)
    out = decode(result.data)
    assert (out.format, out.size) == (written.upper(), size)


# --- inspect ------------------------------------------------------------------------------------------------

@BACKEND_NAMES
def test_inspect_agrees_with_the_corpus_inventory(backend, corpus_image, corpus_dir):
    row = corpus_inventory(corpus_dir)[corpus_image.name]
    info = inspect(corpus_image.read_bytes(), backend=backend)
    assert (info.format, info.width, info.height) == (
        row["format"].lower(), int(row["width"]), int(row["height"]))
    assert info.orientation == int(row["exif_orientation"] or 1)
    assert info.has_icc == (row["icc"] == "icc")
    assert (info.has_alpha, info.frames, info.bit_depth) == (False, 1, 8)


@BACKEND_NAMES
def test_inspect_reports_corrupt_headers(backend):
    with pytest.raises(CorruptImage):
        inspect(b"\x89PNG\r\n\x1a\n" + bytes(40), backend=backend)


# --- backend parity -----------------------------------------------------------------------------------------

def visible(image: Image.Image) -> np.ndarray:
    """What shows over mid-grey, plus the alpha channel (colours under alpha 0 are undefined)."""
    if image.mode != "RGBA":
        return rgb(image)
    shown = Image.alpha_composite(Image.new("RGBA", image.size, (128, 128, 128, 255)), image)
    return np.dstack([rgb(shown), np.asarray(image)[..., 3]])


def assert_backends_agree(data: bytes, config) -> None:
    """Both backends, every variant as PNG, from one decode each: identical sizes, SSIM >= 0.98."""
    requests = [(variant, "png") for variant in config.variants.values()]
    by_backend = [render_variants(data, requests, backend=name) for name in BACKENDS]
    for (variant, _), results in zip(requests, zip(*by_backend, strict=True), strict=True):
        sizes = {(r.width, r.height) for r in results}
        assert len(sizes) == 1, (variant.name, sizes)
        images = [decode(r.data) for r in results]
        assert {i.size for i in images} == sizes and len({i.mode for i in images}) == 1
        score = ssim(*map(visible, images))
        assert score >= 0.98, (variant.name, score)


def test_backends_agree_on_every_corpus_image(corpus_image, fast_config):
    assert_backends_agree(corpus_image.read_bytes(), fast_config)


def test_backends_agree_on_the_sample_photos(sample_photo, fast_config):
    assert_backends_agree(sample_photo.read_bytes(), fast_config)


@pytest.mark.parametrize("name", ["upright_exif6.jpg", "upright_p3.png", "upright_rgb16.png", "cmyk.jpg",
                                  "grey16.png", "grey_alpha.png", "palette_transparent.png", "rgba.webp",
                                  "animated.gif"])
def test_backends_agree_on_awkward_sources(name, generated_images, fast_config):
    assert_backends_agree(generated_images[name], fast_config)
