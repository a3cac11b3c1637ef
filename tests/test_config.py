"""The variants config loader: defaults, overrides, and errors that name the file, the field and the problem."""

import pytest

from resizer.config import BACKENDS, DEFAULT_CONFIG_PATH, EncoderSettings, load_config, parse_config
from resizer.errors import ConfigError


def test_defaults_match_the_product():
    config = load_config()
    assert {name: v.size for name, v in config.variants.items()} == {"sm": 100, "md": 250, "lg": 700, "xl": 1200}
    assert list(config.variants) == ["sm", "md", "lg", "xl"]
    assert config.variant("md").formats == ("avif", "webp")
    assert config.backend in BACKENDS
    assert config.derived_prefix == "_variants"
    assert config.variant("sm").encoder("jpeg") == EncoderSettings(quality=80, subsampling="4:2:0", progressive=True)
    assert config.source == str(DEFAULT_CONFIG_PATH)


def test_variant_encoder_overrides_merge_over_globals():
    config = parse_config(
        """
        [encoders.webp]
        quality = 70
        effort = 5
        [variants.sm]
        size = 64
        formats = ["webp"]
        [variants.sm.encoders.webp]
        quality = 55
        [variants.big]
        size = 2000
        """
    )
    assert config.variant("sm").encoder("webp") == EncoderSettings(quality=55, effort=5)
    assert config.variant("big").encoder("webp") == EncoderSettings(quality=70, effort=5)
    assert config.variant("big").formats == ("avif", "webp")


def test_with_bucket_and_digest():
    config = load_config()
    assert config.with_bucket("photos").bucket == "photos"
    assert config.digest == load_config().digest
    assert config.digest != parse_config(DEFAULT_CONFIG_PATH.read_text() + "\n# changed\n").digest


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("backend = 'magick'\n[variants.sm]\nsize = 1", "backend", "must be one of"),
        ("derived_prefix = 'a/b'\n[variants.sm]\nsize = 1", "derived_prefix", "one path segment"),
        ("derived_prefix = '..'\n[variants.sm]\nsize = 1", "derived_prefix", "one path segment"),
        ("colour = 1\n[variants.sm]\nsize = 1", "colour", "unknown field"),
        ("[variants]", "variants", "at least one variant"),
        ("[variants.sm]\nformats = ['webp']", "variants.sm.size", "is required"),
        ("[variants.sm]\nsize = '100'", "variants.sm.size", "must be an integer"),
        ("[variants.sm]\nsize = true", "variants.sm.size", "must be an integer"),
        ("[variants.sm]\nsize = 0", "variants.sm.size", "between 1 and 16384"),
        ("[variants.sm]\nsize = 10\nformats = ['gif']", "variants.sm.formats", "not an output format"),
        ("[variants.sm]\nsize = 10\nformats = ['webp', 'webp']", "variants.sm.formats", "twice"),
        ("[variants.s-m]\nsize = 10", "variants.s-m", "variant name"),
        ("[variants.sm]\nsize = 10\n[variants.sm.encoders.webp]\nquality = 101", "variants.sm.encoders.webp.quality",
         "between 1 and 100"),
        ("[encoders.avif]\neffort = 10\n[variants.sm]\nsize = 1", "encoders.avif.effort", "between 0 and 9"),
        ("[encoders.webp]\nsubsampling = '4:2:0'\n[variants.sm]\nsize = 1", "encoders.webp.subsampling",
         "unknown field"),
        ("[encoders.jpeg]\nsubsampling = '4:1:1'\n[variants.sm]\nsize = 1", "encoders.jpeg.subsampling", "4:2:0"),
        ("[encoders.bmp]\n[variants.sm]\nsize = 1", "encoders.bmp", "unknown field"),
        ("[limits]\nmax_key_bytes = 2048\n[variants.sm]\nsize = 1", "limits.max_key_bytes", "1024"),
        ("[limits]\nmax_source_pixels = 0\n[variants.sm]\nsize = 1", "limits.max_source_pixels", "at least 1"),
        ("[variants.sm\nsize = 1", "(syntax)", ""),
    ],
)
def test_invalid_config_names_file_field_and_problem(tmp_path, text, field, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.source == str(path)
    assert error.value.field == field
    assert problem in error.value.problem
    assert str(path) in str(error.value) and field in str(error.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


# The packaged config's settings ids before the encoder settings of issue "Encoders" existed: objects stored under
# them stay valid, so a new optional setting must leave them alone.
PACKAGED_IDS = {("sm", "jpeg"): "d810b21790", ("sm", "png"): "e35239849f", ("sm", "webp"): "9bdba4bd2d",
                ("sm", "avif"): "0251b6f1cf", ("md", "jpeg"): "0b2b9baeca", ("md", "png"): "800ff4e3e2",
                ("md", "webp"): "9eb04cea04", ("md", "avif"): "3b6ac524f6", ("lg", "jpeg"): "189b2fbf78",
                ("lg", "png"): "8a9e03408c", ("lg", "webp"): "3b0e078d35", ("lg", "avif"): "034825d631",
                ("xl", "jpeg"): "d312cb6564", ("xl", "png"): "690a5ab0cc", ("xl", "webp"): "2234a36196",
                ("xl", "avif"): "7187ba5849"}


def test_todays_config_keeps_its_settings_ids():
    assert dict(load_config().ids) == PACKAGED_IDS


def test_encoder_switches_are_in_the_settings_id_only_where_they_change_bytes():
    base = DEFAULT_CONFIG_PATH.read_text()

    def ids(extra: str) -> dict:
        return dict(parse_config(base + extra).ids)

    off = ids("\n[variants.lg.encoders.jpeg]\nmozjpeg = false\n[variants.lg.encoders.webp]\nsharp_yuv = false\n")
    assert off == PACKAGED_IDS  # false writes today's bytes: same keys
    on = ids("\n[variants.lg.encoders.jpeg]\nmozjpeg = true\n")
    # lg's JPEG changes, and lg's AVIF with it (an AVIF under 16 px is written as JPEG); nothing else
    assert {k for k in on if on[k] != PACKAGED_IDS[k]} == {("lg", "jpeg"), ("lg", "avif")}
    palette = dict(parse_config(base.replace("[encoders.png]\n", "[encoders.png]\npalette = true\ncolours = 256\n"
                                             "quality = 70\ndither = 0.5\n")).ids)
    assert {k for k in palette if palette[k] != PACKAGED_IDS[k]} == {(v, f) for v in ("sm", "md", "lg", "xl")
                                                                       for f in ("png", "avif")}


def test_new_encoder_settings_parse_and_merge():
    config = parse_config("""
        [encoders.png]
        palette = true
        colours = 16
        [variants.a]
        size = 100
        [variants.a.encoders.png]
        quality = 60
        dither = 0.25
        [variants.a.encoders.jpeg]
        mozjpeg = true
        subsampling = "4:4:4"
        [variants.a.encoders.webp]
        sharp_yuv = true
        [variants.b]
        size = 200
        [variants.b.encoders.png]
        palette = false
        """)
    a, b = config.variant("a"), config.variant("b")
    assert a.encoder("png") == EncoderSettings(quality=60, palette=True, colours=16, dither=0.25)
    assert a.encoder("jpeg").sweepable() == {"subsampling": "4:4:4", "mozjpeg": True}
    assert a.encoder("webp").sharp_yuv is True
    assert b.encoder("png") == EncoderSettings(palette=False)  # the defaults' palette settings go with it


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("backend = 'pillow'\n[variants.sm]\nsize = 1\n[variants.sm.encoders.jpeg]\nmozjpeg = true",
         "variants.sm.encoders.jpeg.mozjpeg", "the pillow backend cannot write mozjpeg"),
        ("backend = 'pillow'\n[encoders.webp]\nsharp_yuv = true\n[variants.sm]\nsize = 1",
         "variants.sm.encoders.webp.sharp_yuv", "the pillow backend cannot write WebP's sharp YUV"),
        ("backend = 'pillow'\n[encoders.png]\npalette = true\n[variants.sm]\nsize = 1",
         "variants.sm.encoders.png.palette", "the pillow backend cannot write PNG palettes"),
        ("[encoders.png]\nquality = 70\n[variants.sm]\nsize = 1", "encoders.png.quality", "palette = true"),
        ("[encoders.png]\npalette = true\ncolours = 100\n[variants.sm]\nsize = 1", "encoders.png.colours",
         "2, 4, 16, 256"),
        ("[encoders.png]\npalette = true\ndither = 1.5\n[variants.sm]\nsize = 1", "encoders.png.dither",
         "between 0 and 1"),
        ("[encoders.jpeg]\nmozjpeg = 1\n[variants.sm]\nsize = 1", "encoders.jpeg.mozjpeg", "must be a bool"),
        ("[encoders.avif]\nsharp_yuv = true\n[variants.sm]\nsize = 1", "encoders.avif.sharp_yuv", "unknown field"),
    ],
)
def test_encoder_settings_a_backend_or_format_lacks_are_refused(text, field, problem):
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert error.value.field == field
    assert problem in error.value.problem
