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
