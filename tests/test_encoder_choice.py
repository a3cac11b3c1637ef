"""The encoder settings chooser on a synthetic sweep with a known answer, with negative controls for each of its
conditions (margin, miss time, target, cross-validation), and the config it writes."""

import numpy as np
import pandas as pd
import pytest

from resizer.config import DEFAULT_CONFIG_PATH, parse_config
from resizer.edge.runtime import MB_PER_VCPU
from resizer_bench import choose, cost
from resizer_bench.choose import Target
from resizer_bench.encoder_choice import (
    EncoderTarget,
    bytes_at_target,
    choose_encoder,
    parse_settings,
    settings_changes,
)

CONFIG = DEFAULT_CONFIG_PATH.read_text()
# one full vCPU and no S3 time: a miss's wait is its transform, so the ratios below are plain arithmetic
ONE_CPU = cost.Traffic(origin_memory_mb=MB_PER_VCPU)
TARGET = EncoderTarget(s3_ms=0.0)
TODAY = "subsampling=4:2:0 effort=2"
FULL = "subsampling=4:4:4 effort=2"
QUALITIES = (40, 50, 60, 70, 80)


def sweep(images=20, *, ratio=0.8, encode_ms=120.0, score_shift=0.0, variant="lg") -> pd.DataFrame:
    """AVIF rows of two sets for `images` images: the score of image i at quality q is 40 + q / 2 + i / 4 for
    both sets (+ `score_shift` for the new one), bytes 100 q (+ i) for today's set and `ratio` x that for the new
    one; a miss is 100 ms of decode + resize plus the encode (100 ms today, `encode_ms` with the new set)."""
    rows = []
    for i in range(images):
        for settings, factor, shift, ms in ((TODAY, 1.0, 0.0, 100.0), (FULL, ratio, score_shift, encode_ms)):
            for q in QUALITIES:
                rows.append(dict(file=f"img{i:02d}", backend="vips", variant=variant, format="avif", quality=q,
                                 settings=settings, current=settings == TODAY, baseline=False,
                                 bytes=factor * (100 * q + i), bpp=1.0, s2_equiv=40 + q / 2 + i / 4 + shift,
                                 decode_ms=60.0, resize_ms=40.0, encode_ms=ms))
    return pd.DataFrame(rows).astype({"quality": "Int64"})


def test_bytes_at_target_interpolate_between_swept_qualities():
    curve = pd.DataFrame(dict(quality=[50, 60, 70], p=[65.0, 69.0, 73.0], bytes=[1000.0, 1400.0, 2000.0]))
    assert bytes_at_target(curve, 71.0) == pytest.approx(1700.0)  # halfway from 69 to 73
    assert bytes_at_target(curve, 60.0) == 1000.0  # the lowest quality already passes
    assert np.isnan(bytes_at_target(curve, 80.0))


def test_the_smaller_set_ships_when_it_wins_is_fast_pays_and_holds_under_cv():
    table = choose_encoder(sweep(), "lg", TARGET, traffic=ONE_CPU)
    chosen = table[table.chosen].iloc[0]
    assert chosen.settings == FULL
    # p10 over images i = 0..19 is 40 + q/2 + 0.475: q = 60 is the cheapest reaching 70
    assert chosen.quality == 60 and chosen.p10 == pytest.approx(70.475)
    today = table[table.current].iloc[0]
    assert chosen.bytes_at_target / today.bytes_at_target == pytest.approx(0.8)
    assert chosen.miss_ratio == pytest.approx(220 / 200)
    assert chosen.net_usd > 0
    assert "20.0% fewer bytes" in chosen.reason and "CV by image" in chosen.reason
    assert list(table.columns[:5]) == ["variant", "format", "settings", "current", "quality"]


@pytest.mark.parametrize(("frame", "why"), [
    (sweep(ratio=0.99, encode_ms=100.0), "saves 1.0% < margin 3%"),  # no clear margin (as fast: it pays)
    (sweep(ratio=0.99), "does not pay"),  # 1% of ~6 kB saved per request < 20 ms more per miss made
    (sweep(encode_ms=400.0), "too slow: miss x2.50 > 1.3"),  # (100 + 400) / 200
    (sweep(score_shift=-30.0), "target not reached"),
])
def test_the_input_set_stays_when_a_condition_fails(frame, why):
    table = choose_encoder(frame, "lg", TARGET, traffic=ONE_CPU)
    assert table[table.chosen].iloc[0].settings == TODAY
    assert why in table[~table.current].iloc[0].reason


def test_the_wait_counts_the_cpu_share_and_the_s3_round_trips():
    traffic = cost.Traffic(origin_memory_mb=1024)
    table = choose_encoder(sweep(encode_ms=150.0), "lg", EncoderTarget(s3_ms=60.0), traffic=traffic)
    factor = MB_PER_VCPU / 1024
    assert table[~table.current].miss_ratio.iloc[0] == pytest.approx((250 * factor + 60) / (200 * factor + 60))
    # today's transform from the speed table when it has the case
    table = choose_encoder(sweep(encode_ms=150.0), "lg", TARGET, traffic=ONE_CPU, today_miss_ms=500.0)
    assert table[~table.current].miss_ratio.iloc[0] == pytest.approx(550 / 500)


def test_no_cross_validation_no_change():
    table = choose_encoder(sweep(images=6), "lg", EncoderTarget())
    chosen = table[table.chosen].iloc[0]
    assert chosen.settings == TODAY
    assert "not cross-validated" in chosen.reason


def test_a_set_that_wins_only_on_the_images_it_was_chosen_on_does_not_ship():
    # The new set is 25% cheaper but two images lose 12 points with it. On all 20 images those two push its p10
    # up to a quality where it still reaches 70 and saves 22%; held out, the training folds without them pick a
    # lower quality, and the fold that holds them is served below the target: test p10 69.3 vs 70.5.
    frame = sweep(ratio=0.75)
    frame.loc[frame.file.isin(["img00", "img01"]) & ~frame.current, "s2_equiv"] -= 12.0
    table = choose_encoder(frame, "lg", EncoderTarget())
    chosen = table[table.chosen].iloc[0]
    assert chosen.settings == TODAY
    assert f"{FULL} did not hold" in chosen.reason and "test p10 69.3 vs 70.5" in chosen.reason
    # control: without the two the same set ships
    assert choose_encoder(sweep(ratio=0.75), "lg", EncoderTarget()).query("chosen").settings.iloc[0] == FULL


def test_settings_text_round_trips_into_config_changes():
    assert parse_settings("subsampling=4:4:4 progressive=true mozjpeg=true effort=6 dither=0.5") == {
        "subsampling": "4:4:4", "progressive": True, "mozjpeg": True, "effort": 6, "dither": 0.5}
    assert settings_changes("subsampling=4:4:4 progressive=true mozjpeg=true", "subsampling=4:2:0 progressive=true") \
        == {"subsampling": "4:4:4", "mozjpeg": True}
    assert settings_changes("subsampling=4:2:0 progressive=true", "subsampling=4:2:0 progressive=true mozjpeg=true") \
        == {"mozjpeg": False}


def test_the_written_config_ships_the_chosen_set():
    frame = sweep()
    frame.attrs["coverage"] = [dict(variant="lg", larger=20)]
    choice = choose.choose(frame, CONFIG, target=Target(min_images=5))
    lg = choice.variants["lg"]
    assert lg.settings == {"avif": FULL} and lg.changes == {"avif": {"subsampling": "4:4:4"}}
    assert lg.qualities["avif"] == 60
    assert choose.chosen_rows(frame, choice, "lg", "avif").settings.unique().tolist() == [FULL]
    written = parse_config(choose.config_toml(CONFIG, choice))
    assert written.variant("lg").encoder("avif").subsampling == "4:4:4"
    assert written.variant("lg").encoder("avif").quality == 60
    assert written.variant("md").encoder("avif").subsampling == "4:2:0"  # only the tuned variant changes
    table = choice.encoder_table()
    assert table.chosen.sum() == 1 and set(table.settings) == {TODAY, FULL}


def test_a_png_palette_is_chosen_against_lossless_and_written_with_its_quality():
    """PNG originals: lossless is one point (no quality); a palette at quality q scores 50 + q / 4 + i / 4 at 30 %
    of lossless's bytes, so q = 80 is its cheapest quality reaching p10 70."""
    rows = []
    for i in range(20):
        rows.append(dict(file=f"img{i:02d}", backend="vips", variant="lg", format="png", quality=pd.NA,
                         settings="effort=6", current=True, baseline=True, bytes=100_000.0 + i, bpp=8.0,
                         s2_equiv=95.0, decode_ms=60.0, resize_ms=40.0, encode_ms=50.0))
        for q in (60, 80, 95):
            rows.append(dict(file=f"img{i:02d}", backend="vips", variant="lg", format="png", quality=q,
                             settings="effort=6 palette=true", current=False, baseline=False,
                             bytes=300.0 * q + i, bpp=2.0, s2_equiv=50 + q / 4 + i / 4, decode_ms=60.0,
                             resize_ms=40.0, encode_ms=70.0))
    frame = pd.DataFrame(rows).astype({"quality": "Int64"})
    table = choose_encoder(frame, "lg", TARGET, traffic=ONE_CPU)
    assert table[table.current].quality.isna().all()
    chosen = table[table.chosen].iloc[0]
    assert chosen.settings == "effort=6 palette=true" and chosen.quality == 80
    frame.attrs["coverage"] = [dict(variant="lg", larger=20)]
    choice = choose.choose(frame, CONFIG, target=Target(min_images=5))
    assert choice.variants["lg"].changes == {"png": {"palette": True, "quality": 80}}
    png = parse_config(choose.config_toml(CONFIG, choice)).variant("lg").encoder("png")
    assert (png.palette, png.quality, png.effort) == (True, 80, 6)
