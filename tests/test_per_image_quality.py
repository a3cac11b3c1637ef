"""Per-image quality at the edge (config.PerImageQuality, pipeline step `choose_quality`): the rule's arithmetic,
the config's checks, and on real photos: the quality the step serves is the one the rule's own definition gives
(probe, score with resizer.image.quality_probe, map, verify), the bytes are exactly an encode at that quality, the
handler logs it and `resizer serve` shows it; configs without a rule are unchanged."""

import io

import pytest
from PIL import Image

from resizer.config import ConfigError, PerImageQuality, load_config, parse_config
from resizer.image.pipeline import transform
from resizer.image.quality_probe import fast_score
from resizer.keys import derived_key
from resizer.store.origins import LocalOrigin

PACKAGED = load_config()
RULE = PerImageQuality(probe=80, threshold=70.0, scores=(60.0, 70.0, 80.0, 90.0), qualities=(95.0, 80.0, 60.0, 40.0),
                       ladder=(20, 95, 5))
RULE_TOML = """
[variants.md.encoders.webp.per_image]
probe = 80
threshold = 70.0
scores = [60.0, 70.0, 80.0, 90.0]
qualities = [95.0, 80.0, 60.0, 40.0]
ladder = [20, 95, 5]
"""
WITH_RULE = parse_config(PACKAGED.text + RULE_TOML, "<md webp per image>")


@pytest.mark.parametrize(("score", "quality"), [
    (50.0, 95), (60.0, 95), (65.0, 90), (70.0, 80), (75.0, 70), (82.0, 55), (88.0, 45), (99.0, 40)])
def test_the_map_reads_qualities_off_the_knots_and_snaps_to_the_ladder(score, quality):
    assert RULE.predicted(score) == quality


def test_the_rule_is_parsed_and_is_part_of_the_settings_id():
    assert WITH_RULE.variant("md").encoder("webp").per_image == RULE
    changed = {pair for pair in PACKAGED.ids if PACKAGED.ids[pair] != WITH_RULE.ids[pair]}
    assert changed == {("md", "webp")}
    assert WITH_RULE.variant("md").encoder("avif").per_image is None


@pytest.mark.parametrize(("edit", "field"), [
    ("scores = [60.0, 70.0, 80.0, 90.0]", "scores = [70.0, 60.0, 80.0, 90.0]"),  # not ascending
    ("qualities = [95.0, 80.0, 60.0, 40.0]", "qualities = [95.0]"),  # not as long as the scores
    ("ladder = [20, 95, 5]", "ladder = [95, 20, 5]"),
    ("probe = 80", "probe = 0"),
    ("threshold = 70.0", "threshold = 'high'"),
])
def test_a_broken_rule_names_its_field(edit, field):
    with pytest.raises(ConfigError, match="per_image"):
        parse_config(PACKAGED.text + RULE_TOML.replace(edit, field))


def test_the_pillow_backend_refuses_a_rule():
    with pytest.raises(ConfigError, match="vips backend"):
        parse_config(PACKAGED.text.replace('backend = "vips"', 'backend = "pillow"') + RULE_TOML)


def expected_quality(data: bytes) -> int:
    """The rule's definition, computed here independently of the pipeline step: probe, map, verify."""
    import pyvips

    variant = WITH_RULE.variant("md")
    plain = variant.encoder("webp")._replace(per_image=None)

    def encoded_at(q: int) -> tuple[bytes, object]:
        out = transform(data, variant._replace(encoders={**variant.encoders, "webp": plain._replace(quality=q)}),
                        "webp")
        return out.data, out

    probe, out = encoded_at(RULE.probe)
    # the reference: the rendered pixels the encoder got, re-made from a lossless encode of the same step chain
    lossless = transform(data, variant._replace(encoders={**variant.encoders, "png": variant.encoder("png")}),
                         "png").data
    reference = pyvips.Image.new_from_buffer(lossless, "")
    predicted = RULE.predicted(fast_score("vips", reference, probe))
    if predicted < RULE.probe:
        lower, _ = encoded_at(predicted)
        return predicted if fast_score("vips", reference, lower) >= RULE.threshold else RULE.probe
    return predicted


def test_the_served_quality_is_the_rules_and_the_bytes_an_encode_at_it(real_photos):
    served = []
    for photo in real_photos[:4]:
        data = photo.read_bytes()
        result = transform(data, WITH_RULE.variant("md"), "webp")
        assert result.quality == expected_quality(data)
        at_quality = transform(data, PACKAGED.variant("md")._replace(encoders={
            **PACKAGED.variant("md").encoders,
            "webp": PACKAGED.variant("md").encoder("webp")._replace(quality=result.quality)}), "webp")
        assert result.data == at_quality.data
        assert "choose_quality" in result.timings and Image.open(io.BytesIO(result.data)).format == "WEBP"
        served.append(result.quality)
    assert transform(real_photos[0].read_bytes(), PACKAGED.variant("md"), "webp").quality is None


def test_the_handler_logs_the_quality_and_serve_shows_it(tmp_path, real_photos, serve, capsys):
    from cf_events import log_lines

    (tmp_path / "o" / "images").mkdir(parents=True)
    photo = next(p for p in real_photos if p.suffix.lower() in (".jpg", ".jpeg"))
    (tmp_path / "o" / "images" / "photo.jpg").write_bytes(photo.read_bytes())
    origin = LocalOrigin(tmp_path / "o", tmp_path / "d", WITH_RULE.derived_prefix)
    get = serve(origin, WITH_RULE)
    status, headers, body = get("/images/photo-md.jpg", Accept="image/webp")
    assert status == 200
    record = next(line for line in log_lines(capsys) if line.get("event") == "origin-response")
    assert record["quality"] == expected_quality(photo.read_bytes())
    assert "choose_quality" in record["timings"]["transform"]
    assert 'choose_quality;dur=' in headers["server-timing"] and f'desc="q{record["quality"]}"' in \
        headers["server-timing"]
    assert origin.get(derived_key(WITH_RULE, "md", "webp", "images/photo.jpg")) == body
