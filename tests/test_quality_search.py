"""Per-image quality searched offline (config.QualitySearch): parsed and part of the settings id; offline callers
(`resizer warm`, `resizer variants`) serve the lowest ladder quality whose edge score reaches the threshold —
checked against every ladder quality encoded and scored here, fed to the workbench's own bisection (what the
chooser's cross-validation simulated), with an unreachable and a trivial threshold as controls; the edge answers a
miss provisionally (the fixed quality, not stored, an hour's max-age) until warm stores the searched bytes."""

import numpy as np
import pytest

from resizer import cli
from resizer.config import ConfigError, QualitySearch, load_config, parse_config
from resizer.edge.origin import IMMUTABLE, PROVISIONAL
from resizer.image.pipeline import transform
from resizer.image.quality_probe import fast_score
from resizer.keys import derived_key
from resizer.store.origins import LocalOrigin
from resizer_bench import perimage

PACKAGED = load_config()
SEARCH_TOML = """
[variants.md.encoders.webp.search]
threshold = 72.0
ladder = [30, 90, 6]
"""
WITH_SEARCH = parse_config(PACKAGED.text + SEARCH_TOML, "<md webp search>")


def with_threshold(threshold: float):
    return parse_config(PACKAGED.text + SEARCH_TOML.replace("72.0", str(threshold)), "<threshold>")


def test_the_search_is_parsed_and_is_part_of_the_settings_id():
    assert WITH_SEARCH.variant("md").encoder("webp").search == QualitySearch(72.0, (30, 90, 6))
    assert QualitySearch(72.0, (30, 90, 6)).qualities() == (30, 36, 42, 48, 54, 60, 66, 72, 78, 84, 90)
    changed = {pair for pair in PACKAGED.ids if PACKAGED.ids[pair] != WITH_SEARCH.ids[pair]}
    assert changed == {("md", "webp")}


@pytest.mark.parametrize(("old", "new", "message"), [
    ("ladder = [30, 90, 6]", "ladder = [90, 30, 6]", "ladder"),
    ("threshold = 72.0", "threshold = 'high'", "threshold"),
    ("threshold = 72.0", "threshold = nan", "threshold"),
    ("threshold = 72.0", "threshold = 72.0\nprobe = 3", "probe"),
    ("threshold = 72.0\n", "", "threshold"),
])
def test_a_broken_search_names_its_field(old, new, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(PACKAGED.text + SEARCH_TOML.replace(old, new))


def test_a_search_and_a_per_image_rule_on_one_encoder_are_refused_as_is_pillow():
    rule = ("\n[variants.md.encoders.webp.per_image]\nprobe = 80\nthreshold = 70.0\nscores = [60.0, 80.0]\n"
            "qualities = [90.0, 50.0]\nladder = [20, 95, 5]\n")
    with pytest.raises(ConfigError, match="keep one"):
        parse_config(PACKAGED.text + SEARCH_TOML + rule)
    with pytest.raises(ConfigError, match="vips backend"):
        parse_config(PACKAGED.text.replace('backend = "vips"', 'backend = "pillow"') + SEARCH_TOML)


def ladder_scores(data: bytes, config) -> tuple[tuple[int, ...], np.ndarray, dict[int, bytes]]:
    """Every ladder quality encoded (the pipeline at a fixed quality) and scored against the pixels the encoder
    got (a lossless encode of the same steps), independently of the search."""
    import pyvips

    variant = config.variant("md")
    search = variant.encoder("webp").search
    reference = pyvips.Image.new_from_buffer(transform(data, variant, "png").data, "")
    encoded = {}
    for q in search.qualities():
        fixed = variant._replace(encoders={**variant.encoders,
                                           "webp": variant.encoder("webp")._replace(quality=q, search=None)})
        encoded[q] = transform(data, fixed, "webp").data
    scores = np.array([fast_score("vips", reference, encoded[q]) for q in search.qualities()])
    return search.qualities(), scores, encoded


def test_offline_the_served_quality_is_the_bisection_the_workbench_simulates(real_photos):
    photo = next(p for p in real_photos if p.suffix.lower() in (".jpg", ".jpeg")).read_bytes()
    qualities, scores, encoded = ladder_scores(photo, WITH_SEARCH)
    for threshold in (float(np.median(scores)), float(scores[2]) + 0.01, 101.0, 0.0):
        config = with_threshold(threshold)
        result = transform(photo, config.variant("md"), "webp", search=True)
        index, _, _ = perimage._bisect(scores, threshold, 0, len(qualities) - 1, None)
        assert result.quality == qualities[index] and result.data == encoded[result.quality], threshold
        assert not result.provisional and "choose_quality" in result.timings
    # the controls: nothing reaches 101, so the top (served unscored); everything reaches 0, so the bottom
    assert transform(photo, with_threshold(101.0).variant("md"), "webp", search=True).quality == qualities[-1]
    assert transform(photo, with_threshold(0.0).variant("md"), "webp", search=True).quality == qualities[0]


def test_the_edge_answers_provisionally_until_warm_stores_the_searched_bytes(tmp_path, real_photos, serve, capsys,
                                                                              libvips_threads):
    from cf_events import log_lines

    photo = next(p for p in real_photos if p.suffix.lower() in (".jpg", ".jpeg")).read_bytes()
    (tmp_path / "o" / "images").mkdir(parents=True)
    (tmp_path / "o" / "images" / "photo.jpg").write_bytes(photo)
    origin = LocalOrigin(tmp_path / "o", tmp_path / "d", WITH_SEARCH.derived_prefix)
    key = derived_key(WITH_SEARCH, "md", "webp", "images/photo.jpg")

    status, headers, body = serve(origin, WITH_SEARCH)("/images/photo-md.jpg", Accept="image/webp")
    fixed = transform(photo, PACKAGED.variant("md"), "webp")
    assert (status, headers["cache-control"], body) == (200, PROVISIONAL, fixed.data)
    assert origin.head(key) is None  # nothing stored under the search's id
    record = next(line for line in log_lines(capsys) if line.get("event") == "origin-response")
    assert (record["outcome"], record["stored"]) == ("provisional", False)

    config_file = tmp_path / "search.toml"
    config_file.write_text(WITH_SEARCH.text, encoding="utf-8")
    assert cli.main(["warm", "--origin", str(tmp_path / "o"), "--derived", str(tmp_path / "d"), "--config",
                     str(config_file), "--formats", "webp", "--jobs", "1"]) == 0
    searched = transform(photo, WITH_SEARCH.variant("md"), "webp", search=True)
    assert searched.quality in WITH_SEARCH.variant("md").encoder("webp").search.qualities()
    assert origin.get(key) == searched.data != fixed.data and origin.head(key).cache_control == IMMUTABLE

    # a fresh edge (this one's cache keeps the provisional answer for its hour) serves the stored, searched bytes
    status, headers, body = serve(origin, WITH_SEARCH)("/images/photo-md.jpg", Accept="image/webp")
    assert (status, headers["cache-control"], body) == (200, IMMUTABLE, searched.data)


def test_resizer_variants_searches(tmp_path, real_photos, capsys):
    photo = next(p for p in real_photos if p.suffix.lower() in (".jpg", ".jpeg"))
    config_file = tmp_path / "search.toml"
    config_file.write_text(WITH_SEARCH.text, encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["variants", str(photo), "--config", str(config_file), "--accept", "image/webp", "--out",
                     str(out), "--jobs", "1"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.split()[1:2] == ["md"])
    searched = transform(photo.read_bytes(), WITH_SEARCH.variant("md"), "webp", search=True)
    assert f"quality {searched.quality}" in row


def test_a_provisional_answer_too_big_to_generate_is_searched_stored_and_redirected(edge_handlers, bucket, s3_client,
                                                                                   capsys):
    from cf_events import log_lines, origin_response
    from conftest import NOISE_PNG

    # a one-rung ladder: the search is the encode at q100 (no score), too big for a generated response
    config = parse_config(PACKAGED.text + "\n[variants.xl.encoders.webp]\nquality = 100\n"
                          "search = {threshold = 0.0, ladder = [100, 100, 1]}\n").with_bucket(bucket)
    s3_client.put_object(Bucket=bucket, Key="images/noise.png", Body=NOISE_PNG)
    key = derived_key(config, "xl", "webp", "images/noise.png")
    result = edge_handlers(config)[1](origin_response("/" + key, 404, bucket), None)
    assert result["status"] == "302"
    searched = transform(NOISE_PNG, config.variant("xl"), "webp", search=True)
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == searched.data
    record = log_lines(capsys)[0]
    assert (record["outcome"], record["stored"], record["quality"]) == ("redirect", True, 100)
