"""The two backends behind `resizer.image.backends.base.Backend`: header probing, shrink-on-load, colour conversion,
exact resizing, and the mapping of the backend-neutral encoder settings to each library's own parameters."""


import numpy as np
import pytest
from conftest import decode, save
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin

from resizer.config import BACKENDS, EncoderSettings
from resizer.image.backends import Backend, get_backend, pillow, vips

BACKEND_NAMES = pytest.mark.parametrize("name", BACKENDS)



def fmt_of(file_name: str) -> str:
    return {"jpg": "jpeg"}.get(file_name.rpartition(".")[2], file_name.rpartition(".")[2])


def prepared(backend: Backend, data: bytes, fmt: str, shrink: int = 1):
    """probe -> load -> orient -> to_srgb, as the pipeline runs them."""
    info = backend.probe(data, fmt)
    image = backend.orient(backend.load(data, info, shrink), info.orientation)
    return info, backend.to_srgb(image)


def test_get_backend_imports_each_backend_once():
    for name in BACKENDS:
        backend = get_backend(name)
        assert isinstance(backend, Backend) and backend.name == name
        assert get_backend(name) is backend
    with pytest.raises(ValueError, match="unknown backend 'imagemagick'"):
        get_backend("imagemagick")


# name -> (width, height, orientation, has_icc, has_alpha, frames, bit_depth) as generated in conftest
EXPECTED_HEADERS = {
    "upright_exif6.jpg": (400, 600, 6, False, False, 1, 8),
    "upright_exif8.jpg": (400, 600, 8, False, False, 1, 8),
    "upright_p3.jpg": (600, 400, 1, True, False, 1, 8),
    "upright_p3.png": (600, 400, 1, True, False, 1, 8),
    "upright_rgb16.png": (600, 400, 1, False, False, 1, 16),
    "cmyk.jpg": (600, 400, 1, False, False, 1, 8),
    "grey.jpg": (600, 400, 1, False, False, 1, 8),
    "grey.png": (600, 400, 1, False, False, 1, 8),
    "grey16.png": (600, 400, 1, False, False, 1, 16),
    "grey_alpha.png": (600, 400, 1, False, True, 1, 8),
    "grey_alpha16.png": (600, 400, 1, False, True, 1, 16),
    "rgba.png": (600, 400, 1, False, True, 1, 8),
    "rgba.webp": (600, 400, 1, False, True, 1, 8),
    "palette_transparent.png": (600, 400, 1, False, True, 1, 8),
    "animated.gif": (120, 90, 1, False, True, 3, 8),
    "animated.webp": (120, 90, 1, False, False, 3, 8),
}


@BACKEND_NAMES
@pytest.mark.parametrize("image_name", EXPECTED_HEADERS)
def test_probe_reads_the_header(name, image_name, generated_images):
    data = generated_images[image_name]
    info = get_backend(name).probe(data, fmt_of(image_name))
    got = info.width, info.height, info.orientation, info.has_icc, info.has_alpha, info.frames, info.bit_depth
    assert got == EXPECTED_HEADERS[image_name]
    upright = (info.height, info.width) if info.orientation >= 5 else (info.width, info.height)
    assert info.oriented_size == upright


@BACKEND_NAMES
@pytest.mark.parametrize("image_name", EXPECTED_HEADERS)
def test_to_srgb_gives_8_bit_rgb_with_alpha_just_when_the_header_said_so(name, image_name, generated_images):
    backend = get_backend(name)
    info, image = prepared(backend, generated_images[image_name], fmt_of(image_name))
    assert backend.has_alpha(image) == info.has_alpha
    out = decode(backend.encode(image, "png", EncoderSettings(effort=1)))
    assert out.mode == ("RGBA" if info.has_alpha else "RGB")
    assert out.size == info.oriented_size


@BACKEND_NAMES
@pytest.mark.parametrize("shrink", [1, 2, 4, 8])
def test_jpeg_shrink_on_load_divides_each_side(name, shrink, photo):
    data = save(photo.crop((0, 0, 597, 389)), "JPEG")  # sides that are not multiples of 8
    backend = get_backend(name)
    info = backend.probe(data, "jpeg")
    width, height = backend.size(backend.load(data, info, shrink))
    # libjpeg rounds up (Pillow), libvips rounds down; either way within a pixel of side / shrink
    assert abs(width - 597 / shrink) < 1 and abs(height - 389 / shrink) < 1


@BACKEND_NAMES
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(src=st.tuples(st.integers(1, 300), st.integers(1, 300)), dst=st.tuples(st.integers(1, 300),
                                                                             st.integers(1, 300)),
       alpha=st.booleans())
def test_resize_gives_exactly_the_requested_size(name, src, dst, alpha):
    backend = get_backend(name)
    rng = np.random.default_rng(src[0] * 301 + src[1])
    pixels = rng.integers(0, 256, (src[1], src[0], 4 if alpha else 3))
    data = save(Image.fromarray(pixels.astype(np.uint8)), "PNG", compress_level=0)
    _, image = prepared(backend, data, "png")
    resized = backend.resize(image, *dst)
    assert backend.size(resized) == dst
    assert decode(backend.encode(resized, "png", EncoderSettings(effort=0))).size == dst


@BACKEND_NAMES
def test_resize_keeps_alpha_and_does_not_bleed_transparent_colour(name):
    # Opaque grey next to fully transparent red: premultiplied resampling must not pull red into the grey.
    pixels = np.zeros((64, 64, 4), np.uint8)
    pixels[:, :32] = (255, 0, 0, 0)
    pixels[:, 32:] = (128, 128, 128, 255)
    backend = get_backend(name)
    _, image = prepared(backend, save(Image.fromarray(pixels), "PNG"), "png")
    out = np.asarray(decode(backend.encode(backend.resize(image, 16, 16), "png", EncoderSettings())))
    visible = out[out[..., 3] > 0]
    assert np.abs(visible[:, 0].astype(int) - visible[:, 1]).max() <= 2  # still grey wherever it shows


@BACKEND_NAMES
def test_flatten_composites_on_white(name):
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., :3] = (0, 0, 255)
    pixels[..., 3] = np.repeat([0, 128, 255, 255], 2)[None, :]
    backend = get_backend(name)
    _, image = prepared(backend, save(Image.fromarray(pixels), "PNG"), "png")
    flat = backend.flatten(image)
    assert not backend.has_alpha(flat)
    out = np.asarray(decode(backend.encode(flat, "png", EncoderSettings())))
    assert out.shape == (8, 8, 3)
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent -> white
    assert out[0, 3].tolist() == [127, 127, 255]  # half -> half way to white (255 * 127/255, 128 blue + 127)
    assert out[0, 7].tolist() == [0, 0, 255]  # opaque -> unchanged


def av1_config(avif: bytes) -> dict[str, int]:
    """Chroma subsampling and bit depth from the AV1 codec configuration box (ISO/IEC 23000-22, av1C)."""
    flags = avif[avif.index(b"av1C") + 6]
    return {"subsampling_x": flags >> 3 & 1, "subsampling_y": flags >> 2 & 1, "high_bitdepth": flags >> 6 & 1}


@pytest.fixture(scope="module")
def photo_images(photo):
    """`photo` prepared by each backend and materialized: encoded many times over."""
    data = save(photo, "PNG")
    backends = [get_backend(name) for name in BACKENDS]
    return {b.name: b.materialize(prepared(b, data, "png")[1]) for b in backends}


@BACKEND_NAMES
def test_jpeg_settings_map_to_the_library(name, photo_images):
    backend, image = get_backend(name), photo_images[name]

    def jpeg(**settings):
        return backend.encode(image, "jpeg", EncoderSettings(**settings))

    assert decode(jpeg(progressive=True)).info.get("progressive") == 1
    assert "progressive" not in decode(jpeg(progressive=False)).info
    assert JpegImagePlugin.get_sampling(decode(jpeg(quality=80, subsampling="4:2:0"))) == 2
    assert JpegImagePlugin.get_sampling(decode(jpeg(quality=80, subsampling="4:4:4"))) == 0
    assert len(jpeg(quality=30)) < len(jpeg(quality=60)) < len(jpeg(quality=90))


@BACKEND_NAMES
def test_png_webp_avif_settings_map_to_the_library(name, photo_images):
    backend, image = get_backend(name), photo_images[name]

    def size(fmt, **settings):
        return len(backend.encode(image, fmt, EncoderSettings(**settings)))

    assert size("png", effort=0) > size("png", effort=9)  # zlib level 0 stores, 9 compresses hardest
    assert size("webp", quality=30) < size("webp", quality=90)
    assert size("webp", quality=80, effort=0) != size("webp", quality=80, effort=6)  # method/effort reached
    assert size("avif", quality=30, effort=0) < size("avif", quality=80, effort=0)
    # AVIF: 8-bit always; 4:2:0 subsamples both chroma axes, 4:4:4 neither
    assert av1_config(backend.encode(image, "avif", EncoderSettings(effort=0, subsampling="4:2:0"))) == {
        "subsampling_x": 1, "subsampling_y": 1, "high_bitdepth": 0}
    assert av1_config(backend.encode(image, "avif", EncoderSettings(effort=0, subsampling="4:4:4"))) == {
        "subsampling_x": 0, "subsampling_y": 0, "high_bitdepth": 0}


def close_to(data: bytes, image: np.ndarray, mean_error: float) -> bool:
    """Decoded `data` is within `mean_error` levels of `image` on average (RGB)."""
    return float(np.abs(np.asarray(decode(data).convert("RGB"), np.float64) - image[..., :3]).mean()) < mean_error


def test_vips_writes_mozjpeg_and_sharp_yuv_with_libvips(photo_images):
    backend, image = get_backend("vips"), photo_images["vips"]
    pixels = np.ndarray((image.height, image.width, image.bands), np.uint8, image.write_to_memory())
    today = EncoderSettings(quality=80, subsampling="4:2:0", progressive=True)
    plain, moz = (backend.encode(image, "jpeg", today._replace(mozjpeg=on)) for on in (False, True))
    assert plain == backend.encode(image, "jpeg", today)  # off: Pillow's encoder, today's bytes
    assert len(moz) < 0.95 * len(plain)  # trellis quantisation
    # mozjpeg's table 3 (ImageMagick's), not libjpeg's Annex K table that Pillow scales
    assert decode(moz).quantization[0] != decode(plain).quantization[0]
    assert decode(moz).info.get("progressive") == 1
    assert JpegImagePlugin.get_sampling(decode(moz)) == 2
    assert close_to(moz, pixels, 4)
    webp = EncoderSettings(quality=80, effort=4)
    sharp = backend.encode(image, "webp", webp._replace(sharp_yuv=True))
    assert sharp != backend.encode(image, "webp", webp) and close_to(sharp, pixels, 4)


def test_vips_png_palette_keeps_colours_and_alpha(photo_images):
    backend, image = get_backend("vips"), photo_images["vips"]
    lossless = backend.encode(image, "png", EncoderSettings(effort=6))
    full, sixteen = (decode(backend.encode(image, "png", EncoderSettings(effort=6, palette=True, colours=c)))
                     for c in (256, 16))
    assert full.mode == sixteen.mode == "P"
    assert len(sixteen.getcolors(256)) <= 16 < len(full.getcolors(256))
    assert len(backend.encode(image, "png", EncoderSettings(effort=6, palette=True))) < len(lossless) / 2
    half = image.bandjoin((image[0] > 128).ifthenelse(255, 0))  # opaque where red is bright, clear elsewhere
    alpha = np.asarray(decode(backend.encode(half, "png", EncoderSettings(palette=True))).convert("RGBA"))[..., 3]
    assert np.array_equal(alpha > 127, np.ndarray((image.height, image.width, 3), np.uint8,
                                                  image.write_to_memory())[..., 0] > 128)


@pytest.mark.parametrize("setting", ["mozjpeg", "sharp_yuv", "palette"])
def test_pillow_refuses_what_it_cannot_write(setting, photo_images):
    fmt = {"mozjpeg": "jpeg", "sharp_yuv": "webp", "palette": "png"}[setting]
    with pytest.raises(ValueError, match=setting):
        get_backend("pillow").encode(photo_images["pillow"], fmt, EncoderSettings(**{setting: True}))


@BACKEND_NAMES
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_encoders_write_no_metadata(name, fmt, sample_photos):
    # hubble_deep_field.jpg carries EXIF, XMP and an ICC profile
    data = next(p for p in sample_photos if p.name == "hubble_deep_field.jpg").read_bytes()
    backend = get_backend(name)
    assert backend.probe(data, "jpeg").has_icc
    _, image = prepared(backend, data, "jpeg", shrink=4)
    out = decode(backend.encode(image, fmt, EncoderSettings(effort=0 if fmt != "jpeg" else None)))
    assert out.format == fmt.upper()
    assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"} & set(out.info)
    assert not out.getexif()


@pytest.mark.parametrize("module", [pillow, vips], ids=["pillow", "vips"])
def test_srgb_profiles_are_told_apart_from_wide_gamut_ones(module, sample_photos, p3_profile):
    photos = {p.name: p for p in sample_photos}
    assert module.is_srgb_profile(Image.open(photos["astronaut.png"]).info["icc_profile"])  # sRGB IEC61966-2.1
    assert not module.is_srgb_profile(Image.open(photos["rocket.jpg"]).info["icc_profile"])  # Adobe RGB (1998)
    assert not module.is_srgb_profile(p3_profile)


@pytest.mark.parametrize("module", [pillow, vips], ids=["pillow", "vips"])
def test_every_corpus_profile_is_srgb_in_all_but_name(module, corpus_images):
    # The corpus carries "sRGB IEC61966-2.1" and the compact "c2" (see inventory.csv, column icc).
    profiles = {Image.open(p).info.get("icc_profile") for p in corpus_images} - {None}
    assert len(profiles) >= 2
    assert all(module.is_srgb_profile(icc) for icc in profiles)
