"""The chooser's per-image decision on synthetic ladders whose answer is known: of the edge rule and the
offline search, one that wins and pays is enabled and written into a config the pipeline applies; negative
controls (images that all need the same quality, a score too slow for the miss or too dear, too few images, the
pillow backend) keep the fixed quality and say which condition failed. Plus the report-only studies (format by
image, bytes per variant)."""

import re

import numpy as np
import pandas as pd
import pytest

from resizer.config import DEFAULT_CONFIG_PATH, PerImageQuality, QualitySearch, parse_config
from resizer.edge.runtime import MB_PER_VCPU
from resizer.image.pipeline import transform
from resizer_bench import choose, cost
from resizer_bench import perimage as P
from resizer_bench import perimage_choose as PC

CONFIG = DEFAULT_CONFIG_PATH.read_text()
LADDER = tuple(range(20, 96, 3))
FAST = dict(miss_ms=50.0, score_ms=2.0, encode_ms=5.0)  # a cheap score: the rule is fast enough and pays
SLOW = dict(miss_ms=20.0, score_ms=130.0, encode_ms=8.0)  # today's edge score on a small variant


def ladder(images=30, spread=30.0, variant="sm", fmt="avif", seed=0) -> pd.DataFrame:
    """Image i needs quality (40 + d_i) / 0.8 to reach 70: s2 = 30 + 0.8 q - d_i, d_i uniform in [0, spread];
    bytes grow exponentially with quality; the edge's score is SSIMULACRA2 plus a little noise."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, spread, images)
    base = rng.uniform(150, 250, images)
    rows = []
    for i in range(images):
        for q in LADDER:
            s2 = 30 + 0.8 * q - d[i]
            rows.append(dict(file=f"img{i:02d}", variant=variant, format=fmt, quality=q,
                             bytes=base[i] * np.exp(q / 25), s2_equiv=s2, s2_edge=s2 + rng.normal(0, 0.3)))
    return pd.DataFrame(rows)


def timing(frame: pd.DataFrame, ms: dict) -> pd.DataFrame:
    keys = frame[["variant", "format"]].drop_duplicates()
    return pd.DataFrame([dict(file="x", variant=r.variant, format=r.format, **ms) for r in keys.itertuples()])


def rows(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(the edge rule's row, the offline search's row) of a one-pair table."""
    by_rule = table.set_index("rule")
    return by_rule.loc[PC.RULE], by_rule.loc[PC.SEARCH]


def test_of_two_rules_that_win_and_pay_the_one_saving_more_ships_and_the_pipeline_applies_it(sample_photos):
    frame = ladder()
    table, cv = PC.study(frame, timing(frame, FAST))
    edge, search = rows(table)
    for row in (edge, search):
        assert row.cv == "yes" and row.folds == 5 and row.images == 30 and row.p10 >= 70
        assert row.saving > 0.15 and row.p10_ceiling_saving >= row.saving - 0.02
        assert row.wins and row.pays and row.fast and row.net_usd > 0, row.reason
    # the exact search finds more of the headroom than one probe and a check, so it is the one that ships
    assert search.saving > edge.saving and search.decision == "search" and search.wait_ratio == 1.0
    assert edge.decision == "fixed" and edge.reason.startswith(f"passes, but {PC.SEARCH} saves more")
    # no image is in the training and the test folds of one fit
    for (_, fold), part in cv.groupby(["rule", "fold"]):
        assert not set(part.file) & set(cv[(cv.rule == part.rule.iloc[0]) & (cv.fold != fold)].file)

    rules = PC.fit_rules(frame, table)
    assert set(rules) == {("sm", "avif")} and set(rules["sm", "avif"]) == {"search"}
    config = written(rules)
    parsed = config.variant("sm").encoder("avif").search
    low, high, step = parsed.ladder
    assert isinstance(parsed, QualitySearch) and step == 3 and 20 <= low < high <= 95 and (low - 20) % 3 == 0
    assert config.variant("sm").encoder("webp").search is None and config.variant("sm").encoder("avif").per_image \
        is None
    photo = sample_photos[0].read_bytes()
    searched = transform(photo, config.variant("sm"), "avif", search=True)
    assert searched.quality in parsed.qualities() and not searched.provisional
    assert transform(photo, config.variant("sm"), "avif").provisional  # the edge's answer


def written(rules: dict):
    choice = choose.choose(pd.DataFrame(columns=["file", "variant", "backend", "format", "quality"]), CONFIG)
    return parse_config(choose.config_toml(CONFIG, choice, per_image=rules))


def test_an_edge_rule_that_ships_is_written_as_a_per_image_table_the_pipeline_applies(sample_photos):
    frame = ladder()
    table = PC.study(frame, timing(frame, FAST))[0]
    table["decision"] = np.where(table.rule == PC.RULE, "per-image", "fixed")  # as if only the edge rule passed
    rules = PC.fit_rules(frame, table)
    rule = rules["sm", "avif"]["per_image"]
    assert rule["ladder"] == [20, 95, 3] and rule["scores"] == sorted(set(rule["scores"]))
    parsed = written(rules).variant("sm").encoder("avif").per_image
    assert isinstance(parsed, PerImageQuality) and parsed.probe == rule["probe"] and parsed.ladder == (20, 95, 3)
    result = transform(sample_photos[0].read_bytes(), written(rules).variant("sm"), "avif")
    assert result.quality is not None and (result.quality - 20) % 3 == 0


def test_pick_ships_at_most_one_rule_per_pair():
    edge = dict(rule=PC.RULE, decision="per-image", saving=0.10, reason="")
    search = dict(rule=PC.SEARCH, decision="search", saving=0.10, reason="")
    assert [r["decision"] for r in PC._pick([dict(edge), dict(search)])] == ["per-image", "fixed"]  # tie: the edge
    assert [r["decision"] for r in PC._pick([dict(edge), dict(search, saving=0.12)])] == ["fixed", "search"]
    assert [r["decision"] for r in PC._pick([dict(edge, decision="fixed"), dict(search)])] == ["fixed", "search"]


def test_negative_control_images_that_need_the_same_quality_keep_the_fixed_one():
    frame = ladder(spread=0.5)
    table = PC.study(frame, timing(frame, FAST))[0]
    for row in rows(table):
        assert row.cv == "yes" and not row.wins and row.decision == "fixed"
        assert row.reason.startswith("does not win") and row.saving < 0.05
    assert PC.fit_rules(frame, table) == {}


def test_a_score_too_slow_for_the_miss_keeps_the_edge_rule_out_but_not_the_offline_search():
    frame = ladder()
    edge, search = rows(PC.study(frame, timing(frame, SLOW))[0])
    assert edge.wins and not edge.fast and edge.decision == "fixed"
    assert "too slow" in edge.reason and edge.wait_ratio > 1.5 and edge.miss_ratio > 6
    assert "does not win" not in edge.reason
    # offline the viewer does not wait: only the price counts (here the probes cost more than the bytes save)
    assert search.fast and "too slow" not in search.reason and search.wait_ratio == 1.0
    assert search.decision == "fixed" and search.reason.startswith("does not pay")
    cheap = dict(SLOW, score_ms=2.0)
    assert rows(PC.study(frame, timing(frame, cheap))[0])[1].decision == "search"


def test_a_rule_that_does_not_pay_says_from_how_many_requests_per_output_it_would():
    frame = ladder()
    search = rows(PC.study(frame, timing(frame, SLOW))[0])[1]
    needed = float(re.search(r"pays from ~([\d,]+) requests per output made \(this traffic: 20\)",
                             search.reason).group(1).replace(",", ""))
    assert needed > 20
    for factor, pays in ((0.9, False), (1.1, True)):  # the same library, each output requested that often
        traffic = cost.Traffic(hit_ratio=1 - 1 / (factor * needed * 0.5), stored_share=0.5)
        assert rows(PC.study(frame, timing(frame, SLOW), traffic=traffic)[0])[1].pays == pays, factor


def test_too_few_images_for_two_folds_keep_the_fixed_quality_with_the_lower_bound_of_the_cost():
    frame = ladder(images=9)
    table, cv = PC.study(frame, timing(frame, SLOW), target=PC.PerImageTarget(min_fold=5))
    assert cv.empty
    for row in rows(table):
        assert row.decision == "fixed" and row.cv.startswith("no: 9 images, fewer than 2 folds of 5")
        assert row.added_ms == pytest.approx(130.0) and "too few images" in row.reason
    assert "too slow" in rows(table)[0].reason
    assert PC.study(frame, timing(frame, SLOW), target=PC.PerImageTarget(min_fold=4))[0].iloc[0].cv == "yes"


def test_the_pillow_backend_cannot_run_a_rule():
    frame = ladder()
    for row in rows(PC.study(frame, timing(frame, FAST), backend="pillow")[0]):
        assert row.wins and row.decision == "fixed" and "libvips only" in row.reason


def test_rule_value_weighs_compute_on_misses_against_egress_on_every_request():
    traffic = cost.Traffic(variant_mix={"sm": 1.0}, hit_ratio=0.9, stored_share=0.5)
    v = PC.rule_value(traffic, "sm", miss_ms=20.0, added_ms=0.0, bytes_saved=1000.0)
    assert v["compute_usd"] == 0 and v["egress_usd"] == pytest.approx(1e7 * 1000 / cost.GIB * 0.085)
    slow = PC.rule_value(traffic, "sm", miss_ms=20.0, added_ms=200.0, bytes_saved=0.0)
    assert slow["net_usd"] < 0 and slow["egress_usd"] == 0
    # offline (warm's searches): every output made (1e7 x 0.1 x 0.5), the added CPU on one vCPU, regular Lambda
    offline = PC.rule_value(traffic, "sm", miss_ms=20.0, added_ms=1000.0, bytes_saved=0.0, offline=True)
    assert offline["compute_usd"] == pytest.approx(5e5 * 1.0 * MB_PER_VCPU / 1024 * 0.0000166667)
    edge = PC.rule_value(traffic, "sm", miss_ms=20.0, added_ms=1000.0, bytes_saved=0.0)
    assert edge["compute_usd"] > 2 * offline["compute_usd"]  # Lambda@Edge's price, and a slower CPU share


def test_edge_rule_needs_an_even_ladder_and_keeps_the_highest_quality_of_tied_scores():
    params = dict(probe_quality=50, tau=71.23456, knots_score=[60.0, 60.0, 70.0], knots_quality=[80.0, 77.0, 50.0])
    assert PC.edge_rule(params, [40, 50, 60]) == dict(probe=50, threshold=71.235, scores=[60.0, 70.0],
                                                       qualities=[80.0, 50.0], ladder=[40, 60, 10])
    with pytest.raises(ValueError, match="evenly spaced"):
        PC.edge_rule(params, [40, 50, 65])


def _quality_table() -> pd.DataFrame:
    """Two variants x avif/webp at one quality each; webp is the smaller for images 0 and 1 only."""
    rows = []
    for i in range(4):
        for variant, box, scale in (("sm", 100, 1.0), ("md", 250, 5.0)):
            for fmt, q, size in (("avif", 60, 1000 + 400 * (i < 2)), ("webp", 80, 1200)):
                rows.append(dict(file=f"img{i}", backend="vips", variant=variant, box=box, format=fmt, quality=q,
                                 bytes=size * scale, width=box, height=box * 2 // 3, s2_equiv=72.0 + i))
    return pd.DataFrame(rows)


def _choice():
    vcs = {v: choose.VariantChoice(v, 4, True, "chosen", ("avif", "webp"), {"avif": 60, "webp": 80})
           for v in ("sm", "md")}
    return choose.Choice("vips", "", vcs)


def test_format_by_image_measures_what_the_smaller_format_per_image_would_save():
    table = PC.format_by_image(_quality_table(), _choice()).set_index("variant")
    assert table.loc["sm", "other_smaller"] == 0.5  # images 0 and 1: webp 1200 < avif 1400
    assert table.loc["sm", "saving"] == pytest.approx(1 - (2 * 1200 + 2 * 1000) / (2 * 1400 + 2 * 1000))


def test_variant_bytes_gives_the_byte_step_between_variants():
    table = PC.variant_bytes(_quality_table(), _choice()).set_index("variant")
    assert list(table.index) == ["sm", "md"] and np.isnan(table.loc["sm", "byte_step"])
    assert table.loc["md", "byte_step"] == pytest.approx(5.0) and table.loc["md", "box_step"] == 2.5
    assert table.loc["md", "pixel_step"] == pytest.approx((250 * 166) / (100 * 66))
    fig = PC.plot_variant_bytes(_quality_table(), _choice(), table.reset_index())
    assert fig.axes


def test_the_plot_of_chosen_against_needed_quality_has_a_panel_per_variant_and_format():
    frame = pd.concat([ladder(), ladder(fmt="webp", seed=1)])
    _, cv = PC.study(frame, timing(frame, FAST))
    assert len(PC.plot_chosen_vs_needed(cv).axes) == 2
    assert set(P.summarize(cv, frame).rule) == {"fixed", PC.RULE, PC.SEARCH}


def test_the_table_has_every_column_whether_or_not_it_cross_validated():
    frame = ladder(images=4)
    table = PC.study(frame, timing(frame, SLOW))[0]
    assert list(table.columns) == PC.COLUMNS and table.p10.isna().all() and table.saving.isna().all()


def test_even_byte_boxes_reads_a_known_curve_back():
    """bytes = box^2: even byte steps between 100 and 1200 px are a geometric ladder of boxes (ratio 12^(1/3))."""
    from resizer.config import parse_config
    from resizer_bench.perimage_choose import box_suggestion, even_byte_boxes

    boxes = [100, 250, 700, 1200]
    table = pd.DataFrame(dict(variant=["sm", "md", "lg", "xl"], box=boxes, bytes_median=[b**2 for b in boxes]))
    expected = [10 * round(100 * 12 ** (i / 3) / 10) for i in range(4)]
    assert even_byte_boxes(table) == expected == [100, 230, 520, 1200]
    even = table.assign(box=expected, bytes_median=[b**2 for b in expected])
    assert even_byte_boxes(even) == expected  # already even: nothing moves
    assert even_byte_boxes(table.iloc[:2]) == []  # the control: two boxes have no step to even out
    assert even_byte_boxes(table.assign(bytes_median=[4, 3, 2, 1])) == []  # falling bytes: no curve to read
    config = parse_config("".join(f"[variants.{v}]\nsize = {b}\n" for v, b in zip(table.variant, boxes, strict=True)))
    text = box_suggestion(table, config)
    assert "100, 230, 520, 1200 px" in text and "sm->md 6.2x" in text
